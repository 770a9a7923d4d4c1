"""`python -m src.aim_ui [repo=DIR] [port=43800]`: browse the Aim repo on loopback.

Ctrl-C or SIGTERM stops the UI and its children (``src.tracking.ui``).
"""

from __future__ import annotations

import signal
import sys

import hydra
from omegaconf import DictConfig

from src.errors import report_user_errors
from src.tracking.ui import start_aim_ui, stop_aim_ui, wait_until_up


@hydra.main(version_base="1.3", config_path="../conf", config_name="aim_ui")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        process = start_aim_ui(cfg.repo, cfg.host, cfg.port)

        def stop_and_exit(*_: object) -> None:
            stop_aim_ui(process)
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop_and_exit)
        try:
            wait_until_up(f"http://{cfg.host}:{cfg.port}/")
            print(f"Aim UI: http://{cfg.host}:{cfg.port}/  (Ctrl-C stops it)", flush=True)
            process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop_aim_ui(process)


if __name__ == "__main__":
    main()
