"""`python -m src.onnx_predict export_dir=<export or run> text="..."`: predict with onnxruntime
only, one JSON line per text (the schema of ``src.tasks.formats``, the same as ``src.predict``
and ``src.serve``), for every task.

No torch import on this path (tested): the export folder's tokenizer.json runs on the Rust
``tokenizers`` library and the model on onnxruntime (``src.deploy.predictors``).
``export_dir``: an ONNX export folder, or a run (folder, ``latest``, ``latest:<task_name>``)
whose ``export/onnx`` it uses. Texts: ``text=``, ``input_file=`` (``-``: stdin), or piped to
stdin; ``context_lines=N``: a tagger trained with context reads the N lines before each text.
"""

import json
from dataclasses import dataclass
from typing import ClassVar

import hydra
from omegaconf import DictConfig

from src.config import Rule, at_least, one_of, validated
from src.deploy.backends import AUTO, ONNX_FP32, ONNX_INT8
from src.deploy.folder import export_folders
from src.deploy.predictors import contexts_from_lines, texts_of
from src.deploy.references import load_predictor
from src.errors import report_user_errors

ONNX_BACKENDS = (ONNX_FP32, ONNX_INT8)


@dataclass
class OnnxPredictSchema:
    batch_size: int = 32
    backend: str = AUTO
    context_lines: int = 0
    rules: ClassVar[dict[str, Rule]] = {
        "batch_size": at_least(1),
        "context_lines": at_least(0),
        "backend": one_of(AUTO, *ONNX_BACKENDS),
    }


@hydra.main(version_base="1.3", config_path="../conf", config_name="onnx_predict")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        settings = validated(cfg, OnnxPredictSchema)
        export_folders(cfg.get("export_dir"), cfg.paths.log_dir)  # before reading stdin
        texts = texts_of(cfg.get("text"), cfg.get("input_file"), cfg.get("texts"))
        predictor = load_predictor(
            cfg.get("export_dir"),
            settings.backend,
            settings.batch_size,
            cfg.thresholds,
            log_dir=cfg.paths.log_dir,
            allowed=ONNX_BACKENDS,
        )
        results = predictor.predict(texts, contexts_from_lines(texts, settings.context_lines))
    for result in results:
        print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
