"""Imbalance and speed options: pos_weight, the balanced sampler, freezing (all off by default)."""

from __future__ import annotations

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from src.config import build, build_datamodule
from src.data.batching import balanced_row_weights, balanced_sampler, expected_label_rates
from src.errors import TextlabError
from src.models.encoders import freeze_encoder
from src.tasks.multilabel.task import MaskedBCEWithLogits, pos_weights_from_labels


def test_pos_weights_equal_prevalence_ratios_and_are_capped() -> None:
    labels = np.zeros((1000, 3))
    labels[:100, 0] = 1  # prevalence 0.1 -> 900/100 = 9
    labels[:4, 1] = 1  # 996/4 = 249 -> capped at 30
    labels[:500, 2] = -1  # unscored entries do not count: 500 negatives, 0 positives -> cap
    weights = pos_weights_from_labels(labels, cap=30.0)
    prevalence = np.array([0.1, 0.004])
    assert weights[0].item() == pytest.approx((1 - prevalence[0]) / prevalence[0])
    assert weights.tolist()[1:] == [30.0, 30.0]


def test_masked_loss_equals_weighted_bce_on_scored_entries() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.1], [-0.5, 0.7]])
    labels = torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]])
    loss_fn = MaskedBCEWithLogits()
    loss_fn.set_pos_weight(torch.tensor([2.0, 5.0]))
    scored = labels >= 0
    weight = torch.tensor([2.0, 5.0]).expand(3, 2)[scored]
    expected = nn.BCEWithLogitsLoss(pos_weight=weight)(logits[scored], labels[scored])
    assert loss_fn(logits, labels).item() == pytest.approx(expected.item())
    assert "pos_weight" not in loss_fn.state_dict()  # checkpoints load with or without it


def test_model_takes_pos_weights_from_the_training_split(make_cfg) -> None:
    cfg = make_cfg("data.task.pos_weight.enabled=true", "data.task.pos_weight.cap=25")
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    model = build(cfg.model, label_names=datamodule.label_names)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    labels = datamodule.train_dataset.labels
    expected = pos_weights_from_labels(labels, 25.0)
    assert torch.equal(model.loss_fn.pos_weight, expected)
    assert (expected > 1).all() and (expected <= 25).all()


def test_pos_weight_is_off_by_default(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.data.task.pos_weight.enabled is False and cfg.data.balanced_sampler.enabled is False
    assert not any(cfg.model.freeze.values())


def test_balanced_sampler_raises_rare_positive_rate_as_configured() -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros((2000, 2))
    labels[rng.choice(2000, 10, replace=False), 0] = 1  # prevalence 0.005
    labels[rng.random(2000) < 0.3, 1] = 1  # common: left alone
    weights = balanced_row_weights(labels, target_rate=0.05, max_weight=20.0)
    rare = labels[:, 0] == 1
    # configured factor: target_rate / prevalence = 10 (below the cap), for the rare rows only
    assert np.allclose(weights[rare], 10.0) and np.allclose(weights[~rare], 1.0)
    expected = expected_label_rates(weights, labels)
    assert expected[0] == pytest.approx(10 * 0.005 / weights.mean())
    sampler = balanced_sampler(labels, 0.05, 20.0, seed=0)
    drawn = np.concatenate([np.fromiter(sampler, dtype=int) for _ in range(10)])
    observed = (labels[drawn] == 1).mean(axis=0)
    assert observed[0] == pytest.approx(expected[0], rel=0.15)
    assert observed[0] > 5 * labels[:, 0].mean()
    assert observed[1] == pytest.approx(expected[1], rel=0.1)
    capped = balanced_row_weights(labels, target_rate=0.05, max_weight=4.0)
    assert np.allclose(capped[rare], 4.0)


def test_datamodule_uses_the_balanced_sampler_when_enabled(make_cfg) -> None:
    # without bucketing (with it, the sampler feeds the bucketing batch sampler: test_bucketing)
    cfg = make_cfg("data.balanced_sampler.enabled=true", "data.bucketing.enabled=false")
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert isinstance(loader.sampler, WeightedRandomSampler)
    assert loader.sampler.num_samples == len(datamodule.train_dataset)


def test_bad_sampler_setting_is_one_line(make_cfg) -> None:
    cfg = make_cfg("data.balanced_sampler.enabled=true", "data.balanced_sampler.target_rate=2")
    with pytest.raises(TextlabError, match="data.balanced_sampler.target_rate must be in"):
        build_datamodule(cfg.data)


def _one_step(model: L.LightningModule, datamodule) -> None:
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)


@pytest.mark.parametrize(
    ("overrides", "frozen_prefixes"),
    [
        (
            ["model.freeze.embeddings=true", "model.freeze.layers=1"],
            ["embeddings", "encoder.layer.0."],
        ),
        (["model.freeze.encoder=true"], [""]),
    ],
)
def test_freezing_leaves_frozen_parameters_unchanged(make_cfg, overrides, frozen_prefixes) -> None:
    cfg = make_cfg(*overrides, "model.optimizer.lr=1e-2")
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    model = build(cfg.model, label_names=datamodule.label_names)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    _one_step(model, datamodule)
    after = dict(model.named_parameters())
    for name, value in before.items():
        encoder_name = name.removeprefix("encoder.")
        frozen = name.startswith("encoder.") and any(
            encoder_name.startswith(p) for p in frozen_prefixes
        )
        assert after[name].requires_grad is not frozen, name
        if frozen:
            assert torch.equal(after[name], value), f"{name} changed although frozen"
    changed = [n for n, v in before.items() if not torch.equal(after[n], v)]
    assert any(n.startswith("head.") for n in changed)
    if frozen_prefixes != [""]:  # layer 1 is trainable
        assert any(n.startswith("encoder.encoder.layer.1.") for n in changed)


def test_freezing_finds_distilbert_layers_and_rejects_too_many(make_cfg) -> None:
    cfg = make_cfg("backbone=tiny_distilbert")
    encoder = build(cfg.backbone.encoder)
    frozen = freeze_encoder(encoder, {"layers": 2})
    assert frozen == sum(p.numel() for p in encoder.transformer.layer.parameters())
    with pytest.raises(TextlabError, match="model.freeze.layers=5 but the encoder has 2 layers"):
        freeze_encoder(build(cfg.backbone.encoder), {"layers": 5})
