"""Hugging Face format: the encoder as a standard HF folder plus the head in its own file.

``AutoModel.from_pretrained(export_dir)`` loads the fine-tuned encoder on its own (config.json +
model.safetensors); ``head.safetensors`` holds the tanh projection head on top of it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel

from src.inference.export_folder import read_json
from src.models.sequence_classifier import MultilabelClassifier

HEAD_FILE = "head.safetensors"


def save_hf(model: MultilabelClassifier, out_dir: Path) -> dict[str, str]:
    """Write encoder + head; returns the model files for ``export_config.json``."""
    model.encoder.save_pretrained(out_dir, safe_serialization=True)
    head = {k: v.detach().contiguous() for k, v in model.head.state_dict().items()}
    save_file(head, str(out_dir / HEAD_FILE))
    return {"encoder_config": "config.json", "encoder": "model.safetensors", "head": HEAD_FILE}


def load_hf_classifier(export_dir: str | Path) -> MultilabelClassifier:
    """Rebuild the classifier from an HF export, in eval mode (no Hydra config needed)."""
    export_dir = Path(export_dir)
    config = read_json(export_dir / "export_config.json")
    encoder = AutoModel.from_pretrained(export_dir)
    model = MultilabelClassifier(
        encoder, config["label_names"], pooling=config["pooling"], dropout=config["dropout"]
    )
    model.head.load_state_dict(load_file(str(export_dir / HEAD_FILE)))
    return model.eval().requires_grad_(False).to(torch.float32)
