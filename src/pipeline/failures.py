"""In a sweep, one crashing job is recorded as failed and the others go on."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from src.pipeline.run_folder import write_json
from src.utils.errors import TextlabError
from src.utils.user_errors import report_user_errors

log = logging.getLogger(__name__)


def record_failure(output_dir: str | Path, error: BaseException) -> dict[str, Any]:
    """Write ``metrics.json`` with status ``failed`` and the error, plus the full traceback."""
    output_dir = Path(output_dir)
    message = str(error) if isinstance(error, TextlabError) else f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(error))
    (output_dir / "traceback.txt").parent.mkdir(parents=True, exist_ok=True)
    (output_dir / "traceback.txt").write_text(trace)
    summary = {"status": "failed", "error": message, "metrics": {}}
    write_json(output_dir / "metrics.json", summary)
    log.error("job failed: %s (traceback in %s)", message, output_dir / "traceback.txt")
    return summary


def in_sweep() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(
    job: Callable[[DictConfig], dict[str, Any]], cfg: DictConfig, output_dir: str | Path
) -> dict[str, Any] | None:
    """What every entry point does with its job: in a multirun a failure is recorded in the
    job's folder and ``None`` comes back so the sweep goes on; a single run fails loudly, a
    user error as one line."""
    if in_sweep():
        try:
            return job(cfg)
        except Exception as error:  # noqa: BLE001  (recorded; the sweep goes on)
            record_failure(output_dir, error)
            return None
    with report_user_errors():
        return job(cfg)
