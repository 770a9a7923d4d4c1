"""`python -m src.onnx_predict export_dir=<export or run> text="..."`: ``src.predict`` limited to
onnxruntime (no torch import on this path; tested), one JSON line per text."""

import hydra
from omegaconf import DictConfig

from src.deploy.cli import predict_command
from src.errors import report_user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="onnx_predict")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        message = predict_command(cfg, onnx_only=True)
    print(message, flush=True)


if __name__ == "__main__":
    main()
