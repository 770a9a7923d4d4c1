"""`python -m src.export ckpt_path=<run>/checkpoints/best.ckpt format=onnx|hf [quantize=true]`."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.utils.errors import TextlabError  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="../../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        if not cfg.get("ckpt_path"):
            raise TextlabError("ckpt_path is required: ckpt_path=<run>/checkpoints/best.ckpt")
        from src.export.exporter import export_run

        out_dir = export_run(
            cfg.ckpt_path,
            fmt=cfg.format,
            out_dir=cfg.out_dir,
            quantize=cfg.quantize,
            opset=cfg.opset,
            eval_max_rows=cfg.quantize_eval.max_rows,
        )
    print(f"exported {cfg.format} to {out_dir}", flush=True)
    quantization = out_dir / "quantization.json"
    if quantization.is_file():
        print(quantization.read_text(), flush=True)


if __name__ == "__main__":
    main()
