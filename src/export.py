"""`python -m src.export ckpt_path=latest format=onnx|hf [quantize=true]`: one self-contained
folder from a run's checkpoint (``src.deploy.exporter``). ``ckpt_path``: ``latest``,
``latest:<task_name>``, a run folder or a checkpoint."""

from __future__ import annotations

import json
from typing import Any

import hydra
from omegaconf import DictConfig

from src.deploy.exporter import export_run
from src.deploy.folder import EXPORT_CONFIG, QUANTIZATION
from src.deploy.model_card import CARD_FILE
from src.errors import report_user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        out_dir = export_run(
            cfg.get("ckpt_path"),
            fmt=cfg.format,
            out_dir=cfg.out_dir,
            quantize=cfg.quantize,
            opset=cfg.opset,
            eval_max_rows=cfg.quantize_eval.max_rows,
            log_dir=cfg.paths.log_dir,
        )
    about = json.loads((out_dir / EXPORT_CONFIG).read_text())
    print(f"exported {cfg.format} to {out_dir}; load with {about.get('load_with')}", flush=True)
    print(f"model card: {out_dir / CARD_FILE}", flush=True)
    if (out_dir / QUANTIZATION).is_file():
        print(quantization_line(json.loads((out_dir / QUANTIZATION).read_text())), flush=True)


def quantization_line(report: dict[str, Any]) -> str:
    """The int8 verdict in one line (the whole report is in quantization.json)."""
    changed, decisions = report.get("label_decisions_changed"), report.get("label_decisions")
    return (
        f"int8 {report.get('verdict', '?').upper()}: {report.get('verdict_reason', '')}; "
        f"{changed} of {decisions} decisions changed over {report.get('rows')} rows "
        f"(details: {QUANTIZATION})"
    )


if __name__ == "__main__":
    main()
