"""Poolers, the tanh head, optimizer groups and the classifier over BERT and DistilBERT."""

from __future__ import annotations

import hydra
import pytest
import torch

from src.models.heads import TanhProjectionHead
from src.models.optim import decay_groups, linear_warmup_decay
from src.models.poolers import ClsPooler, MeanPooler, build_pooler
from src.utils.errors import TextlabError

LABELS = ["a", "b", "c"]


def test_mean_pooler_ignores_padding() -> None:
    hidden = torch.randn(1, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    padded_garbage = hidden.clone()
    padded_garbage[:, 3:] = 1e6
    expected = hidden[0, :3].mean(dim=0)
    torch.testing.assert_close(MeanPooler()(hidden, mask)[0], expected)
    torch.testing.assert_close(MeanPooler()(padded_garbage, mask)[0], expected)


def test_cls_pooler_takes_first_token() -> None:
    hidden = torch.randn(2, 4, 3)
    torch.testing.assert_close(ClsPooler()(hidden, torch.ones(2, 4)), hidden[:, 0])


def test_unknown_pooling_is_a_clear_error() -> None:
    with pytest.raises(TextlabError, match="model.pooling 'max'"):
        build_pooler("max")


def test_head_shape_and_structure() -> None:
    head = TanhProjectionHead(hidden_size=8, num_labels=6, dropout=0.1)
    assert head(torch.randn(5, 8)).shape == (5, 6)
    kinds = [type(layer).__name__ for layer in head.net]
    assert kinds == ["Dropout", "Linear", "Tanh", "Dropout", "Linear"]


def test_no_weight_decay_on_bias_and_layernorm() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = decay_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 3  # linear bias, layernorm weight and bias


def test_linear_warmup_then_decay() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_warmup_decay(optimizer, num_training_steps=10, warmup_ratio=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < lrs[1] < lrs[2]  # warm-up
    assert lrs[2] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:], strict=False))  # decay
    assert lrs[-1] == pytest.approx(0.125)


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert"])
@pytest.mark.parametrize("model", ["cls_pooler", "avg_pooler"])
def test_classifier_forward_and_loss(make_cfg, backbone: str, model: str) -> None:
    cfg = make_cfg(f"backbone={backbone}", f"model={model}")
    module = hydra.utils.instantiate(cfg.model, label_names=LABELS)
    assert module.hparams.pooling == ("mean" if model == "avg_pooler" else "cls")
    batch = {
        "input_ids": torch.randint(1000, 2000, (4, 7)),
        "attention_mask": torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4, [1] * 7]),
        "labels": torch.tensor([[1.0, 0, -1], [0, 1, 0], [0, 0, 1], [1, 1, 1]]),
    }
    assert module(batch["input_ids"], batch["attention_mask"]).shape == (4, 3)
    logits, loss = module._logits_and_loss(batch)
    scored = batch["labels"] >= 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[scored], batch["labels"][scored]
    )
    torch.testing.assert_close(loss, expected)


def test_pretrained_encoder_trains_with_dropout(make_cfg) -> None:
    cfg = make_cfg("backbone=minilm")
    module = hydra.utils.instantiate(cfg.model, label_names=LABELS)
    assert all(m.training for m in module.modules())
