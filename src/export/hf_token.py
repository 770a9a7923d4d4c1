"""Rebuild a token tagger from a ``format=hf`` export (encoder folder + ``head.safetensors``)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel

from src.export.hf import HEAD_FILE
from src.inference.export_folder import EXPORT_CONFIG, read_json
from src.models.token_tagger import TokenTagger


def load_hf_tagger(export_dir: str | Path) -> TokenTagger:
    """The exported ``TokenTagger`` in eval mode (no Hydra config or checkpoint needed)."""
    export_dir = Path(export_dir)
    config = read_json(export_dir / EXPORT_CONFIG)
    encoder = AutoModel.from_pretrained(export_dir)
    model = TokenTagger(
        encoder, config["label_names"], scheme=config["scheme"], dropout=config["dropout"]
    )
    model.head.load_state_dict(load_file(str(export_dir / HEAD_FILE)))
    return model.eval().requires_grad_(False).to(torch.float32)
