"""In a sweep, one crashing job is recorded as failed and the others go on."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from src.pipeline.run_folder import write_json
from src.utils.errors import TextlabError

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
