"""The output bias starts at the training priors when callbacks.prior_bias_init is on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src.callbacks.prior_bias import PriorBiasInit, output_layer, prior_logits
from src.pipeline.training import train
from src.utils.errors import TextlabError


def test_prior_logits_multilabel_ignores_unscored() -> None:
    labels = np.array([[1, 0], [0, -1], [0, 1], [0, -1]], dtype=float)
    # label 0: 1 of 4 positive; label 1: 1 of 2 scored positive
    np.testing.assert_allclose(prior_logits(labels, "multilabel"), [np.log(1 / 3), 0.0])


def test_prior_logits_multiclass_is_log_prior() -> None:
    np.testing.assert_allclose(
        prior_logits(np.array([0, 0, 0, 2]), "multiclass"), np.log([0.75, 1e-4, 0.25])
    )


CAPTURED: dict[str, object] = {}


class SpyPriorBiasInit(PriorBiasInit):
    """Records the output bias right after the callback ran."""

    def on_fit_start(self, trainer, pl_module) -> None:
        super().on_fit_start(trainer, pl_module)
        CAPTURED["bias"] = output_layer(pl_module).bias.detach().clone().numpy()
        CAPTURED["labels"] = np.asarray(trainer.datamodule.train_dataset.labels)


def test_fresh_fit_starts_at_the_priors_and_resume_keeps_the_checkpoint(make_cfg, tmp_path):
    spy = ["callbacks.prior_bias_init.enabled=true", "evaluation.enabled=false"]
    cfg = make_cfg(*spy, run_dir=tmp_path / "first")
    cfg.callbacks.prior_bias_init._target_ = f"{__name__}.SpyPriorBiasInit"
    train(cfg)
    expected = prior_logits(CAPTURED["labels"], "multilabel")
    np.testing.assert_allclose(CAPTURED["bias"], expected, rtol=1e-5, atol=1e-6)

    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    trained_bias = torch.load(last, weights_only=True)["state_dict"]["head.net.4.bias"].numpy()
    assert not np.allclose(trained_bias, expected)  # one epoch of training moved it
    resumed = make_cfg(*spy, "trainer.max_epochs=2", f"ckpt_path={last}", run_dir=tmp_path / "2")
    resumed.callbacks.prior_bias_init._target_ = f"{__name__}.SpyPriorBiasInit"
    train(resumed)
    np.testing.assert_allclose(CAPTURED["bias"], trained_bias)


def test_refuses_a_model_without_a_sequence_head() -> None:
    class Tagger(torch.nn.Module):
        task = "token"

    class FakeTrainer:
        ckpt_path = None

    with pytest.raises(TextlabError, match="prior_bias_init"):
        PriorBiasInit().on_fit_start(FakeTrainer(), Tagger())
