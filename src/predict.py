"""`python -m src.predict ckpt_path=latest text="..."`: a trained run's predictions for every
task, one JSON line per text (``src.deploy.torch_predictors.CheckpointPredictor``; the schema of
``src.tasks.formats``, the same as ``src.onnx_predict`` and ``src.serve``).

``ckpt_path``: ``latest``, ``latest:<task_name>``, a run folder or a checkpoint. Texts: ``text=``,
``input_file=`` (one per line; ``-`` is stdin), or piped to stdin:
``echo "I don't like you" | python -m src.predict ckpt_path=latest``. ``context_lines=N``: a
tagger trained with context reads the N lines before each text (a document, line by line).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hydra
from omegaconf import DictConfig

from src.config import Rule, at_least, one_of, validated
from src.deploy.backends import AUTO, PRECISIONS, passive_threads
from src.deploy.predictors import contexts_from_lines, texts_of
from src.errors import TextlabError, report_user_errors
from src.runs.loading import resolve_checkpoint


@dataclass
class PredictSchema:
    batch_size: int = 32
    backend: str = AUTO
    context_lines: int = 0
    rules: ClassVar[dict[str, Rule]] = {
        "batch_size": at_least(1),
        "context_lines": at_least(0),
        "backend": one_of(AUTO, *PRECISIONS),
    }


def write_lines(lines: list[str], output_file: Any) -> str:
    """The JSON lines, printed or written to ``output_file``; returns what to print."""
    if not output_file:
        return "\n".join(lines)
    path = Path(str(output_file)).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as err:
        reason = err.strerror or str(err)
        raise TextlabError(f"cannot write output_file {path}: {reason}; choose another") from None
    return f"written: {path} ({len(lines)} predictions)"


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    passive_threads()  # before torch loads
    from src.deploy.torch_predictors import CheckpointPredictor

    with report_user_errors():
        settings = validated(cfg, PredictSchema)
        ckpt = resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.log_dir)
        texts = texts_of(cfg.get("text"), cfg.get("input_file"), cfg.get("texts"))
        predictor = CheckpointPredictor(
            ckpt,
            cfg.thresholds,
            settings.batch_size,
            settings.backend,
            log_dir=cfg.paths.log_dir,
        )
        results = predictor.predict(texts, contexts_from_lines(texts, settings.context_lines))
        lines = [json.dumps(result, ensure_ascii=False) for result in results]
        message = write_lines(lines, cfg.get("output_file"))
    print(message, flush=True)


if __name__ == "__main__":
    main()
