"""Poolers, the tanh head, optimizer groups and the classifier over BERT and DistilBERT."""

from __future__ import annotations

from types import SimpleNamespace

import hydra
import pytest
import torch

from src.config import build
from src.errors import TextlabError
from src.models.module import TanhProjectionHead, decay_groups, linear_warmup_decay
from src.models.poolers import POOLERS, build_pooler

LABELS = ["a", "b", "c"]


def outputs(hidden: torch.Tensor, *layers: torch.Tensor) -> SimpleNamespace:
    """What an encoder returns, as far as the poolers look."""
    return SimpleNamespace(last_hidden_state=hidden, hidden_states=(*layers, hidden))


def test_mean_and_max_poolers_ignore_padding() -> None:
    hidden = torch.randn(1, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    garbage = hidden.clone()
    garbage[:, 3:] = 1e6
    config = SimpleNamespace(hidden_size=4)
    mean, maximum = build_pooler("mean", config), build_pooler("max", config)
    for states in (hidden, garbage):
        torch.testing.assert_close(mean(outputs(states), mask)[0], hidden[0, :3].mean(dim=0))
        torch.testing.assert_close(maximum(outputs(states), mask)[0], hidden[0, :3].amax(dim=0))


def test_cls_pooler_takes_first_token() -> None:
    hidden = torch.randn(2, 4, 3)
    pooler = build_pooler("cls", SimpleNamespace(hidden_size=3))
    torch.testing.assert_close(pooler(outputs(hidden), torch.ones(2, 4)), hidden[:, 0])


def test_attention_and_layer_mean_start_as_mean_pooling() -> None:
    """A zero query weighs real tokens equally; equal layer weights average the layers."""
    hidden, lower = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    config = SimpleNamespace(hidden_size=4, num_hidden_layers=2)
    mean = build_pooler("mean", config)(outputs(hidden), mask)
    torch.testing.assert_close(build_pooler("attention", config)(outputs(hidden), mask), mean)
    mixed = build_pooler("layer_mean", config, layers=2)(outputs(hidden, lower), mask)
    torch.testing.assert_close(
        mixed, (mean + build_pooler("mean", config)(outputs(lower), mask)) / 2
    )
    both = build_pooler("cls_mean", config)
    assert both.out_size == 8
    torch.testing.assert_close(both(outputs(hidden), mask), torch.cat([hidden[:, 0], mean], -1))


def test_pooler_errors_are_one_line() -> None:
    config = SimpleNamespace(hidden_size=4, num_hidden_layers=2)
    with pytest.raises(TextlabError, match="model.pooling 'median'; choose one of"):
        build_pooler("median", config)
    with pytest.raises(TextlabError, match="pooling_layers=3 but the encoder has 2 layers"):
        build_pooler("layer_mean", config, layers=3)


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert"])
@pytest.mark.parametrize("pooling", sorted(POOLERS))
def test_padding_never_changes_a_texts_logits(make_cfg, backbone: str, pooling: str) -> None:
    """A text's logits are the same alone and padded inside a batch with a longer text."""
    cfg = make_cfg(f"backbone={backbone}", f"model.pooling={pooling}", "model.pooling_layers=2")
    model = hydra.utils.instantiate(cfg.model, label_names=LABELS).eval()
    with torch.no_grad():  # give the learned poolers non-trivial weights
        for param in model.pooler.parameters():
            param.copy_(torch.randn_like(param))
    short = torch.randint(1000, 2000, (1, 4))
    long = torch.randint(1000, 2000, (1, 9))
    batch = torch.cat([torch.cat([short, torch.zeros(1, 5, dtype=torch.long)], 1), long])
    mask = torch.tensor([[1] * 4 + [0] * 5, [1] * 9])
    with torch.no_grad():
        alone = model(short, torch.ones(1, 4, dtype=torch.long))
        padded = model(batch, mask)[:1]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert"])
def test_token_tagger_layer_mix(make_cfg, backbone: str) -> None:
    """``model.mix_layers``: the tagger starts on the plain average of the last layers' token
    vectors, a word's logits do not depend on the padding around it, and too many layers is
    one line."""
    cfg = make_cfg(f"backbone={backbone}", "data=wnut17", "model=token_tagger")
    cfg.model.mix_layers = 2
    model = hydra.utils.instantiate(cfg.model, label_names=LABELS).eval()
    ids = torch.randint(1000, 2000, (1, 6))
    mask = torch.ones(1, 6, dtype=torch.long)
    with torch.no_grad():
        states = model.encode(ids, mask, output_hidden_states=True).hidden_states
        average = model.head((states[-1] + states[-2]) / 2)
        torch.testing.assert_close(model(ids, mask), average)
        model.layer_logits.copy_(torch.tensor([2.0, -1.0]))
        alone = model(ids, mask)
        longer = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
        padded = model(longer, torch.cat([mask, torch.zeros(1, 5, dtype=torch.long)], 1))
    torch.testing.assert_close(padded[:, :6], alone, atol=1e-5, rtol=1e-5)
    cfg.model.mix_layers = 3
    with pytest.raises(TextlabError, match="model.mix_layers=3 but the encoder has 2 layers"):
        build(cfg.model, label_names=LABELS)


def test_head_shape_and_structure() -> None:
    head = TanhProjectionHead(in_size=8, num_labels=6, dropout=0.1)
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
