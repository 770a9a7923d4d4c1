"""`python -m src.serve export_dir=<export> [host=127.0.0.1 port=8000 variant=int8 ...]`: the
HTTP prediction service over an export folder (``src.deploy.service``)."""

from __future__ import annotations

import hydra
import uvicorn
from omegaconf import DictConfig

from src.deploy.service import create_app
from src.errors import TextlabError, report_user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        if not cfg.get("export_dir"):
            raise TextlabError("export_dir is required: export_dir=<run>/export/onnx")
        app = create_app(
            cfg.export_dir,
            max_texts=cfg.max_texts,
            max_body_bytes=cfg.max_body_bytes,
            batch_size=cfg.batch_size,
            variant=cfg.variant,
        )
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")


if __name__ == "__main__":
    main()
