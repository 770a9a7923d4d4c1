"""`python -m src.eval ckpt_path=<run|checkpoint|latest> [split=test|val] [thresholds=tuned|0.5]`:
score a trained run's checkpoint again, on its own data, exactly as its training run did.

Every task gets its own scores (what training logged); multi-label runs are also scored at the
run's tuned per-label thresholds (``thresholds.json``) with the calibration error. Writes
``eval.json`` into this command's own run folder (``logs/eval/runs/<time>/``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from src.config import build_datamodule
from src.data.token_cache import file_sha256
from src.errors import TextlabError
from src.evaluation.calibration import per_label_ece
from src.evaluation.predictions import evaluate_predictions, inference_trainer, predict_split
from src.evaluation.thresholds import read_thresholds
from src.runs.folder import RUN_INFO_FILE, read_json_file, write_json
from src.runs.lifecycle import Run, run_job
from src.runs.loading import load_run, resolve_checkpoint
from src.tasks.output import threshold_option

log = logging.getLogger(__name__)
SPLITS = ("val", "test")
COLUMNS = ("precision", "recall", "f1", "auc")


def evaluate_checkpoint(
    ckpt_path: str | Path,
    thresholds: Any = "tuned",
    split: str = "test",
    default: float = 0.5,
    ece_bins: int = 15,
) -> dict[str, Any]:
    """Rebuild a run's model and data from its folder and score one split."""
    if split not in SPLITS:
        raise TextlabError(f"split must be one of {list(SPLITS)}, got {split!r}")
    fixed = threshold_option(thresholds)
    run = load_run(ckpt_path)
    model, label_names = run.model, list(run.model.label_names)
    datamodule = build_datamodule(run.cfg.data)
    datamodule.prepare_data()
    warn_if_data_changed(run.run_dir, datamodule.data_files())
    datamodule.setup("fit" if split == "val" else "test")
    loader = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    trainer_cfg = run.cfg.get("trainer", {})
    accelerator, precision = trainer_cfg.get("accelerator"), trainer_cfg.get("precision")
    report: dict[str, Any] = {
        "checkpoint": str(ckpt_path),
        "split": split,
        "task": model.task.name,
        "data_files": [str(path) for path in datamodule.data_files()],
    }
    if not model.task.per_label_thresholds:
        trainer = inference_trainer(accelerator, precision)
        scores = trainer.test(model, dataloaders=loader, verbose=False)[0]
        prefix = "test/"
        report["rows"] = len(loader.dataset)
        report["scores"] = {"default": {k[len(prefix) :]: v for k, v in scores.items()}}
        return report
    tuned = read_thresholds(run.run_dir, label_names) if fixed is None else None
    threshold = default if fixed is None else fixed
    predictions = predict_split(model, loader, accelerator, precision)
    if predictions is None:
        raise TextlabError(f"the {split} split has no labelled rows to score ({ckpt_path})")
    report.update(
        rows=len(predictions.targets),
        thresholds=tuned if tuned is not None else dict.fromkeys(label_names, fixed),
        default_threshold=threshold,
        scores=evaluate_predictions(predictions, label_names, tuned, threshold),
        ece=per_label_ece(predictions.probs, predictions.targets, label_names, ece_bins),
    )
    return report


def warn_if_data_changed(run_dir: Path, data_files: list[Path]) -> list[str]:
    """Warn when a data file's content differs from what the run was trained and scored on
    (``run_info.json``): the scores then describe other data. Returns the changed files."""
    recorded = (read_json_file(run_dir / RUN_INFO_FILE) or {}).get("data_files", {})
    changed = [
        str(path)
        for path in data_files
        if str(path) in recorded and recorded[str(path)] != file_sha256(path)
    ]
    if changed:
        log.warning(
            "data files changed since the run was trained (sha256 differs from %s): %s; the "
            "scores below are for the current files",
            run_dir / RUN_INFO_FILE,
            ", ".join(changed),
        )
    return changed


def _cell(value: float | None) -> str:
    return f"{value:>10.4f}" if isinstance(value, float) and value == value else f"{'-':>10}"


def format_evaluation(report: dict[str, Any], label_names: list[str]) -> str:
    """A plain-text report: per threshold set, rows = labels + macro + micro, columns =
    P / R / F1 / AUC (multi-label), or the task's scores one per line."""
    lines = [f"{report['split']} split, {report['rows']} rows, checkpoint {report['checkpoint']}"]
    if "thresholds" not in report:
        for name, value in sorted(report["scores"]["default"].items()):
            lines.append(f"{name:<28}{_cell(float(value))}")
        return "\n".join(lines)
    for threshold_set, scores in report["scores"].items():
        if threshold_set == "default":
            title = f"thresholds: {report.get('default_threshold', 0.5)} for every label"
        else:
            title = "thresholds: tuned per label on validation (thresholds.json)"
        lines += ["", title, f"{'':<16}" + "".join(f"{m:>10}" for m in COLUMNS)]
        for name in label_names:
            lines.append(f"{name:<16}" + "".join(_cell(scores.get(f"{m}/{name}")) for m in COLUMNS))
        for average in ("macro", "micro"):
            row = "".join(_cell(scores.get(f"{m}_{average}")) for m in COLUMNS)
            lines.append(f"{average:<16}{row}")
    ece = report.get("ece", {})
    lines += ["", "ECE " + ", ".join(f"{k}={v:.4f}" for k, v in ece.items() if v == v)]
    return "\n".join(lines)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The ``src.eval`` job: its own run folder holds config, run_info, eval.json and
    metrics.json (the default scores as ``<split>/<metric>``)."""
    with Run(cfg) as run:
        ckpt = resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.log_dir)
        report = evaluate_checkpoint(ckpt, cfg.thresholds, cfg.split, ece_bins=cfg.ece_bins)
        run.record_start([Path(p) for p in report["data_files"]], loggers=False)
        write_json(run.dir / "eval.json", report)
        label_names = list(report.get("thresholds") or [])
        print(format_evaluation(report, label_names), flush=True)
        print(f"written: {run.dir / 'eval.json'}", flush=True)
        default = report["scores"]["default"]
        metrics = {f"{cfg.split}/{k}": v for k, v in default.items() if isinstance(v, float)}
        return run.finish(metrics, checkpoint=str(ckpt))


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    run_job(evaluate, cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()
