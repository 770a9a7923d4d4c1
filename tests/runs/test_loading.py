"""Run folders written by earlier versions still open: their moved ``_target_`` names are
upgraded before the safety check."""

from __future__ import annotations

from omegaconf import OmegaConf

from src.runs.loading import check_run_config, upgrade_targets


def test_old_task_and_token_targets_are_upgraded(tmp_path) -> None:
    cfg = OmegaConf.create(
        {
            "data": {
                "_target_": "src.data.tagging.TokenDataModule",
                "file_format": "vua",
                "task": {"_target_": "src.tasks.token.TokenTask", "scheme": "binary"},
            },
            "model": {"_target_": "src.models.module.TokenTagger"},
        }
    )
    assert upgrade_targets(cfg) == 2
    assert cfg.data._target_ == "src.data.datasets.VuaDataModule"
    assert cfg.data.task._target_ == "src.tasks.token.task.TokenTask"
    check_run_config(cfg, tmp_path / "config.yaml")  # today's names pass the check
    multilabel = OmegaConf.create(
        {"data": {"task": {"_target_": "src.tasks.multilabel.MultilabelTask"}}}
    )
    assert upgrade_targets(multilabel) == 1
    assert multilabel.data.task._target_ == "src.tasks.multilabel.task.MultilabelTask"
    assert upgrade_targets(multilabel) == 0  # already current
