"""`python -m src.aim_view [sweep=<multirun folder>] [repo=DIR|http://host:port]`: save a Params
explorer view in Aim (a bookmark). With ``sweep=``: that sweep's runs, its swept values as axes,
the data set's primary metric first, coloured by the first swept value. Without: the view the
config describes, by default the pooling comparison (the runs tagged ``pooling_hypothesis``,
coloured by pooling). Open it in the UI (``python -m src.aim_ui``) under Bookmarks, or at the
address printed.
"""

from __future__ import annotations

from typing import Any, cast

import hydra
from omegaconf import DictConfig, OmegaConf

from src.errors import report_user_errors
from src.tracking.launch import UI as DEFAULT_UI
from src.tracking.views import save_params_view, sweep_view


@hydra.main(version_base="1.3", config_path="../conf", config_name="aim_view")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        metrics: list[Any] = cast(list[Any], OmegaConf.to_container(cfg.metrics, resolve=True))
        if cfg.get("sweep"):
            spec = sweep_view(cfg.sweep, extra_metrics=list(cfg.sweep_metrics))
            name, query, params = spec.name, spec.query, spec.params
            metrics, group_by, description = spec.metrics, spec.group_by, spec.description
        else:
            name, query, params = cfg.name, cfg.query or "", list(cfg.params)
            group_by, description = list(cfg.group_by), cfg.description
        view = save_params_view(cfg.repo, name, query, params, metrics, group_by, description)
    repo = str(cfg.repo)
    ui = repo.rstrip("/") if repo.startswith(("http://", "https://")) else DEFAULT_UI
    print(f'saved the Aim view "{view.name}": {ui}{view.path}', flush=True)
    if ui == DEFAULT_UI:
        print("  (start the UI with: python -m src.aim_ui; or open Bookmarks in it)", flush=True)


if __name__ == "__main__":
    main()
