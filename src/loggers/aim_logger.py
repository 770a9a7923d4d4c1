"""Aim logger that keeps one Aim run open across fit, validate and test.

Lightning finalises loggers after every stage; aim's AimLogger then closes its run and the
next stage re-opens it with a forced lock release ("Data corruption may occur"). This one
closes the run once, when the pipeline calls ``close``.
"""

from __future__ import annotations

import contextlib

from aim.pytorch_lightning import AimLogger as _AimLogger


class AimLogger(_AimLogger):
    def finalize(self, status: str = "") -> None:
        """Per-stage finalize: keep the run open (see module docstring)."""

    def close(self, status: str = "success") -> None:
        """Close the Aim run for good; the run's status is stored as a param."""
        if self._run is not None:
            self._run.set("status", status, strict=False)
        super().finalize(status)

    def __del__(self) -> None:
        # at interpreter shutdown there may be nothing left to report to
        with contextlib.suppress(Exception):
            self.close("finished")
