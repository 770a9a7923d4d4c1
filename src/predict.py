"""`python -m src.predict ckpt_path=<run>/checkpoints/best.ckpt text="..."` (or
`input_file=texts.txt`, optional `output_file=out.jsonl`): predictions of a trained run for
every task, one JSON object per text (see ``src.inference.checkpoint_predictor``)."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.utils.errors import TextlabError  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


def texts_of(cfg: DictConfig) -> list[str]:
    """``text`` or the lines of ``input_file`` (exactly one of them)."""
    from src.inference.checkpoint_predictor import read_texts

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
        from src.inference.checkpoint_predictor import CheckpointPredictor

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
