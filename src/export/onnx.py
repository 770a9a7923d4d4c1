"""ONNX format: ``model.onnx`` taking ``input_ids`` and ``attention_mask`` [batch, sequence]
(both axes dynamic) and returning ``logits`` [batch, labels]."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

INPUTS = ["input_ids", "attention_mask"]
OUTPUTS = ["logits"]
ONNX_FILE = "model.onnx"


class LogitsOnly(nn.Module):
    """Fixes the exported signature to (input_ids, attention_mask) -> logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask).float()


def example_inputs(vocab_size: int, batch: int = 2, length: int = 16) -> tuple[torch.Tensor, ...]:
    """A padded example batch: the tracer must see a mask with padding in it."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, min(vocab_size, 2000), (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[-1, length // 2 :] = 0
    return input_ids, attention_mask


def export_onnx(model: nn.Module, out_dir: Path, opset: int = 17) -> dict[str, str]:
    """Trace the model to ``out_dir/model.onnx``; returns the model files entry.

    The TorchScript exporter (``dynamo=False``): torch 2.13's default dynamo exporter needs
    onnxscript. The wrapper is put in eval mode first, since the exporter restores each
    module's mode afterwards (a wrapper left in train mode would switch dropout back on).
    """
    wrapper = LogitsOnly(model).eval()
    vocab_size = model.encoder.config.vocab_size
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    token_level = getattr(model, "task", None) == "token"  # logits [batch, sequence, tags]
    axes["logits"] = {0: "batch", 1: "sequence"} if token_level else {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # transformers' mask helpers warn that shape checks become constants in the trace;
        # for these encoders they are (tested: parity at unseen batch sizes and lengths)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            example_inputs(vocab_size),
            str(out_dir / ONNX_FILE),
            input_names=INPUTS,
            output_names=OUTPUTS,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    model.eval()
    return {"fp32": ONNX_FILE}
