"""Speed switches: explicit attention kernel, torch.compile of the encoder, fused AdamW on
CUDA, TF32 and DataLoader workers in the GPU trainer configs."""

from __future__ import annotations

import functools

import hydra
import pytest
import torch

from src.models.module import takes_fused
from src.train import train

LABELS = ["a", "b", "c"]


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert", "minilm"])
@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
def test_attention_kernel_is_the_configured_one(make_cfg, backbone: str, kernel: str) -> None:
    cfg = make_cfg(f"backbone={backbone}", f"backbone.encoder.attn_implementation={kernel}")
    encoder = hydra.utils.instantiate(cfg.backbone.encoder)
    assert encoder.config._attn_implementation == kernel


def test_sdpa_and_eager_agree(make_cfg) -> None:
    """The kernel is a speed choice: both give the same logits (padding masked)."""
    logits = {}
    for kernel in ("sdpa", "eager"):
        torch.manual_seed(0)
        cfg = make_cfg(f"backbone.encoder.attn_implementation={kernel}")
        model = hydra.utils.instantiate(cfg.model, label_names=LABELS).eval()
        ids = torch.randint(1000, 2000, (2, 9))
        mask = torch.tensor([[1] * 9, [1] * 4 + [0] * 5])
        with torch.no_grad():
            logits[kernel] = model(ids, mask)
    torch.testing.assert_close(logits["sdpa"], logits["eager"], atol=1e-5, rtol=1e-5)


def test_fused_adamw_only_for_adam_without_an_explicit_choice() -> None:
    assert takes_fused(functools.partial(torch.optim.AdamW, lr=1e-3))
    assert takes_fused(torch.optim.Adam)
    assert not takes_fused(functools.partial(torch.optim.AdamW, lr=1e-3, fused=False))
    assert not takes_fused(functools.partial(torch.optim.SGD, lr=0.1))


def test_cpu_optimizer_is_not_fused(make_cfg) -> None:
    cfg = make_cfg("trainer.max_epochs=1", "data.max_train_rows=32", "analyses=false")
    summary = train(cfg)
    assert summary["status"] == "success"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fused AdamW runs on CUDA only")
def test_cuda_optimizer_is_fused(make_cfg) -> None:
    cfg = make_cfg("trainer=a100")
    model = hydra.utils.instantiate(cfg.model, label_names=LABELS).cuda()
    model.trainer = type("T", (), {"estimated_stepping_batches": 10})()
    optimizer = model.configure_optimizers()["optimizer"]
    assert optimizer.defaults["fused"] is True


@pytest.mark.parametrize("trainer", ["a100", "gpu"])
def test_gpu_trainers_set_tf32_and_workers(make_cfg, trainer: str) -> None:
    cfg = make_cfg(f"trainer={trainer}", "trainer.max_epochs=7")
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.max_epochs == 7
    assert cfg.float32_matmul_precision == "high" and cfg.data.num_workers == 4
    assert make_cfg("trainer=cpu").float32_matmul_precision == "highest"


@pytest.mark.slow  # the first compilation takes a while on a 2-core CPU
def test_compiled_encoder_trains_and_keeps_checkpoint_keys(make_cfg, tmp_path) -> None:
    cfg = make_cfg(
        "model.compile.enabled=true",
        "trainer.max_epochs=1",
        "data.max_train_rows=64",
        "analyses=false",
    )
    summary = train(cfg)
    state = torch.load(summary["best_checkpoint"], weights_only=True)["state_dict"]
    assert any(k.startswith("encoder.") for k in state)
    assert not any("_orig_mod" in k for k in state)
