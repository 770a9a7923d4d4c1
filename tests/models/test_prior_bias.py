"""The output bias starts at the training priors when callbacks.prior_bias_init is on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src.callbacks.training import PriorBiasInit
from src.errors import TextlabError
from src.tasks.base import TOKENS
from src.tasks.multiclass.task import MulticlassTask
from src.tasks.multilabel.task import MultilabelTask
from src.tasks.token.task import TokenTask
from src.train import train


def test_prior_logits_multilabel_ignores_unscored() -> None:
    labels = np.array([[1, 0], [0, -1], [0, 1], [0, -1]], dtype=float)
    # label 0: 1 of 4 positive; label 1: 1 of 2 scored positive
    np.testing.assert_allclose(MultilabelTask().prior_logits(labels), [np.log(1 / 3), 0.0])


def test_prior_logits_multiclass_is_log_prior() -> None:
    np.testing.assert_allclose(
        MulticlassTask().prior_logits(np.array([0, 0, 0, 2])), np.log([0.75, 1e-4, 0.25])
    )


CAPTURED: dict[str, object] = {}


class SpyPriorBiasInit(PriorBiasInit):
    """Records the output bias right after the callback ran."""

    def on_fit_start(self, trainer, pl_module) -> None:
        super().on_fit_start(trainer, pl_module)
        CAPTURED["bias"] = pl_module.output_layer().bias.detach().clone().numpy()
        CAPTURED["labels"] = np.asarray(trainer.datamodule.train_dataset.labels)


def test_fresh_fit_starts_at_the_priors_and_resume_keeps_the_checkpoint(make_cfg, tmp_path):
    spy = ["callbacks.prior_bias_init.enabled=true", "analyses=false"]
    cfg = make_cfg(*spy, run_dir=tmp_path / "first")
    cfg.callbacks.prior_bias_init._target_ = f"{__name__}.SpyPriorBiasInit"
    train(cfg)
    expected = MultilabelTask().prior_logits(CAPTURED["labels"])
    np.testing.assert_allclose(CAPTURED["bias"], expected, rtol=1e-5, atol=1e-6)

    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    trained_bias = torch.load(last, weights_only=True)["state_dict"]["head.net.4.bias"].numpy()
    assert not np.allclose(trained_bias, expected)  # one epoch of training moved it
    resumed = make_cfg(*spy, "trainer.max_epochs=2", f"ckpt_path={last}", run_dir=tmp_path / "2")
    resumed.callbacks.prior_bias_init._target_ = f"{__name__}.SpyPriorBiasInit"
    train(resumed)
    np.testing.assert_allclose(CAPTURED["bias"], trained_bias)


def test_a_token_tagger_is_left_as_it_is_and_direct_use_is_refused() -> None:
    """On by default for every task: a tagger has no output layer over labels, so the
    callback leaves it alone; asking a token task for label priors directly is refused."""
    from src.models.module import set_prior_bias

    class Tagger(torch.nn.Module):
        task = TokenTask()

    class FakeTrainer:
        ckpt_path = None

        class datamodule:  # noqa: N801
            class train_dataset:  # noqa: N801
                labels = np.zeros((2, 1))

    assert Tagger.task.output == TOKENS
    PriorBiasInit().on_fit_start(FakeTrainer(), Tagger())  # no error, nothing to set
    with pytest.raises(TextlabError, match="not for the token task"):
        set_prior_bias(Tagger(), np.zeros((2, 1)))
