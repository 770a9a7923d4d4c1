"""Log the post-training analysis to Aim: thresholds and temperatures as params, threshold-set
scores and ECE as metrics (context ``subset``/``thresholds``), and every plot as an image."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from src.pipeline.post_training import Analysis


def aim_runs(loggers: Iterable[Any]) -> list[Any]:
    """The Aim runs behind any AimLogger among the loggers."""
    return [lg.experiment for lg in loggers if type(lg).__name__ == "AimLogger"]


def _track_scores(run: Any, scores: dict[str, float], context: dict[str, str]) -> None:
    for name, value in scores.items():
        if value is not None and math.isfinite(value):
            run.track(float(value), name=name, context=context)


def log_analysis_to_aim(loggers: Iterable[Any], analysis: Analysis | None) -> int:
    """Returns how many Aim runs got the analysis."""
    runs = aim_runs(loggers) if analysis is not None else []
    if not runs:
        return 0
    from PIL import Image as PILImage

    from aim import Image

    calibration = analysis.calibration
    for run in runs:
        run["thresholds"] = analysis.tuning.to_json()
        if "temperatures" in calibration:
            run["temperatures"] = calibration["temperatures"]
        for split, sets in analysis.evaluation.items():
            for threshold_set, scores in sets.items():
                _track_scores(run, scores, {"subset": split, "thresholds": threshold_set})
        for key in ("ece_val", "ece_test", "ece_test_scaled"):
            if key in calibration:
                split = "val" if key == "ece_val" else "test"
                scaling = "temperature" if key.endswith("scaled") else "none"
                ece = {f"ece/{label}": v for label, v in calibration[key].items()}
                _track_scores(run, ece, {"subset": split, "calibration": scaling})
        for name, path in analysis.plots.items():
            with PILImage.open(path) as image:
                image.load()
                run.track(Image(image.copy(), caption=name), name=name, context={"kind": "plot"})
    return len(runs)
