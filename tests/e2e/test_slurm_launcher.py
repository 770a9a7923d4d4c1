"""hydra/launcher=submitit_slurm + trainer=slurm_ddp: the job shape follows the trainer config.

Builds the sbatch script exactly as the launcher would (same parameter mapping as
``SlurmLauncher.launch``) without a SLURM cluster (``srun`` detection is stubbed), and checks
the lines Lightning relies on: one task per GPU, nodes = trainer.num_nodes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import hydra
import pytest
import submitit
from hydra.core.hydra_config import HydraConfig
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, TINY


def _compose(tmp_path: Path, *overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with warnings.catch_warnings():  # same-name file validated against the plugin's schema
        warnings.simplefilter("ignore", UserWarning)
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose(
                "train",
                overrides=[*TINY, f"hydra.sweep.dir={tmp_path}", *overrides],
                return_hydra_config=True,
            )
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture(autouse=True)
def _no_cluster_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))


def _sbatch(cfg, folder: Path) -> str:
    """The submission script SlurmLauncher.launch would write for this config."""
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=folder, slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    params.pop("submitit_folder")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -m src.train", "uid")


def test_slurm_job_shape_follows_the_trainer(tmp_path: Path) -> None:
    cfg = _compose(
        tmp_path,
        "hydra/launcher=submitit_slurm",
        "trainer=slurm_ddp",
        "trainer.devices=8",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        "trainer.accumulate_grad_batches=4",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (8, 8, 2)
    script = _sbatch(cfg, tmp_path / "submitit")
    for line in (
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --nodes=2",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64GB",
        "export HF_HUB_OFFLINE=1",
    ):
        assert line in script, line
    trainer = cfg.trainer
    assert (trainer.accelerator, trainer.devices, trainer.num_nodes) == ("gpu", 8, 2)
    assert trainer.accumulate_grad_batches == 4
    assert trainer.strategy._target_.endswith("DDPStrategy")
    environment = hydra.utils.instantiate(trainer.plugins[0])
    assert type(environment).__name__ == "SLURMEnvironment" and not environment.auto_requeue


def test_slurm_launcher_defaults_to_one_gpu_task_with_trainer_gpu(tmp_path: Path) -> None:
    """With a single-device trainer config the job is one task on one GPU."""
    cfg = _compose(tmp_path, "hydra/launcher=submitit_slurm", "trainer=gpu")
    assert (cfg.hydra.launcher.tasks_per_node, cfg.hydra.launcher.gpus_per_node) == (1, 1)
    assert "#SBATCH --ntasks-per-node=1" in _sbatch(cfg, tmp_path / "submitit")
