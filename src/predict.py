"""`python -m src.predict ckpt_path=<run>/checkpoints/best.ckpt text="..."` (or
`input_file=texts.txt`, optional `output_file=out.jsonl`): predictions of a trained run for
every task, one JSON object per text (``src.deploy.torch_predictors.CheckpointPredictor``).
``ckpt_path`` may also be a run folder or ``latest``."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.deploy.predictors import read_texts
from src.deploy.torch_predictors import CheckpointPredictor
from src.errors import TextlabError, report_user_errors


def texts_of(cfg: DictConfig) -> list[str]:
    """``text`` or the lines of ``input_file`` (exactly one of them)."""
    text, input_file = cfg.get("text"), cfg.get("input_file")
    if (text is None) == (input_file is None):
        raise TextlabError('pass either text="..." or input_file=<file, one text per line>')
    if input_file is not None:
        return read_texts(input_file)
    if not str(text).strip():
        raise TextlabError("text is empty; pass the text to classify")
    return [str(text)]


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        texts = texts_of(cfg)
        predictor = CheckpointPredictor(cfg.ckpt_path, cfg.thresholds, cfg.batch_size)
        results = predictor.predict(texts)
    lines = [json.dumps(result, ensure_ascii=False) for result in results]
    if cfg.get("output_file"):
        path = Path(cfg.output_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"written: {path} ({len(lines)} predictions)", flush=True)
    else:
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
