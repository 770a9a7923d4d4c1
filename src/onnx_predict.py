"""`python -m src.onnx_predict export_dir=<export> text="..."`: predict with onnxruntime only.

No torch import on this path (tested): the export folder's tokenizer.json runs on the Rust
``tokenizers`` library and the model on onnxruntime (``src.deploy.predictors``). Prints one
JSON object per text.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

from src.deploy.folder import open_export_folder
from src.deploy.predictors import OnnxPredictor
from src.errors import TextlabError, report_user_errors


def texts_of(cfg: DictConfig) -> list[str]:
    """``text`` and/or ``texts``: at least one non-empty string."""
    texts = ([cfg.text] if cfg.get("text") is not None else []) + list(cfg.get("texts") or [])
    if not texts:
        raise TextlabError('nothing to predict: pass text="..." or texts=["...","..."]')
    bad = [t for t in texts if not isinstance(t, str) or not t.strip()]
    if bad:
        raise TextlabError(f"texts must be non-empty strings, got {bad!r}")
    return texts


@hydra.main(version_base="1.3", config_path="../conf", config_name="onnx_predict")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        if not cfg.get("export_dir"):
            raise TextlabError("export_dir is required: export_dir=<run>/export/onnx")
        texts = texts_of(cfg)
        folder = open_export_folder(cfg.export_dir)
        if folder.format != "onnx":
            raise TextlabError(f"{folder.path} is a {folder.format} export; use a format=onnx one")
        results = OnnxPredictor(folder, cfg.variant, cfg.batch_size).predict(texts)
    for text, result in zip(texts, results, strict=True):
        print(json.dumps({"text": text, **result}), flush=True)


if __name__ == "__main__":
    main()
