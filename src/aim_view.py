"""`python -m src.aim_view [repo=DIR|http://host:port] [name=...] [query=...]`: save a Params
explorer view in Aim (a bookmark), by default the pooling comparison: the pooling-hypothesis
runs' test AUC and macro-F1, coloured by pooling. Open it in the UI (``python -m src.aim_ui``)
under Bookmarks, or at the address printed.
"""

from __future__ import annotations

from typing import Any, cast

import hydra
from omegaconf import DictConfig, OmegaConf

from src.errors import report_user_errors
from src.tracking.views import save_params_view

DEFAULT_UI = "http://127.0.0.1:43800"


@hydra.main(version_base="1.3", config_path="../conf", config_name="aim_view")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        view = save_params_view(
            cfg.repo,
            cfg.name,
            cfg.query or "",
            list(cfg.params),
            cast(list[Any], OmegaConf.to_container(cfg.metrics, resolve=True)),
            list(cfg.group_by),
            cfg.description,
        )
    repo = str(cfg.repo)
    ui = repo.rstrip("/") if repo.startswith(("http://", "https://")) else DEFAULT_UI
    print(f'saved the Aim view "{view.name}": {ui}{view.path}', flush=True)
    if ui == DEFAULT_UI:
        print("  (start the UI with: python -m src.aim_ui; or open Bookmarks in it)", flush=True)


if __name__ == "__main__":
    main()
