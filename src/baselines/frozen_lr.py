"""Frozen-encoder features ([CLS] or mean-pooled; first sub-token per word for token tasks)
+ standardised logistic regression. The encoder is never trained."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from src.baselines import settings
from src.baselines.feature_cache import cached_array, inputs_fingerprint, weights_fingerprint
from src.baselines.frozen_features import sentence_vectors, word_vectors
from src.models.encoder import resolve_model_path
from src.models.poolers import POOLERS
from src.utils.instantiate import build

log = logging.getLogger(__name__)


class FrozenFeatures:
    """Encoder vectors for texts (pooled) or words (first sub-token), cached on disk."""

    def __init__(self, owner: FrozenEncoderLR, task: str) -> None:
        self.owner = owner
        self.task = task
        self.cache_hits: list[bool] = []
        self.truncated_words = 0

    def fit_transform(self, inputs: list[Any]) -> np.ndarray:
        return self.transform(inputs)

    def transform(self, inputs: list[Any]) -> np.ndarray:
        owner = self.owner
        encoder, tokenizer = owner.load()
        kind = "word_first_subtoken" if self.task == "token" else f"sentence_{owner.pooling}"
        key = {
            "kind": kind,
            "backbone": owner.backbone_path,
            "weights": owner.fingerprint,
            "tokenizer": type(tokenizer).__name__,
            "max_length": owner.max_length,
            "bf16": owner.bf16,
            "rows": inputs_fingerprint(inputs),
        }

        def compute() -> np.ndarray:
            if self.task == "token":
                args = (encoder, tokenizer, inputs, owner.max_length, owner.batch_size, owner.bf16)
                return word_vectors(*args)[0]
            return sentence_vectors(
                encoder,
                tokenizer,
                inputs,
                owner.max_length,
                owner.pooling,
                owner.batch_size,
                owner.bf16,
            )

        features, hit = cached_array(owner.cache_dir, key, compute)
        self.cache_hits.append(hit)
        if self.task == "token":
            self.truncated_words += int(self.missing_words(features).sum())
        return features

    @staticmethod
    def missing_words(features: np.ndarray) -> np.ndarray:
        """Words without a sub-token (cut off by max_length, or empty after tokenisation):
        their vector is all zeros."""
        return ~features.any(axis=1)


class FrozenEncoderLR:
    """Features of the backbone as it was pretrained, then logistic regression on them."""

    name = "frozen_lr"

    def __init__(
        self,
        backbone: DictConfig,
        max_length: int,
        pooling: str = "cls",
        C: float = 1.0,
        max_iter: int = 1000,
        batch_size: int = 64,
        bf16: bool = True,
        cache_dir: str | None = None,
        device: str = "auto",
    ) -> None:
        self.pooling = settings.choice(pooling, "pooling", sorted(POOLERS))
        self.C = settings.positive_number(C, "C")
        self.max_iter = settings.positive_int(max_iter, "max_iter")
        self.batch_size = settings.positive_int(batch_size, "batch_size")
        self.max_length = settings.positive_int(max_length, "max_length (data.max_length)")
        self.bf16 = bool(bf16)
        self.cache_dir = cache_dir
        self.device = settings.choice(device, "device", ["auto", "cpu", "cuda"])
        self.backbone = backbone
        self.backbone_path = str(backbone.get("name_or_path", backbone.get("name", "")))
        self._loaded: tuple[Any, Any] | None = None
        self.fingerprint: str | None = None

    def load(self) -> tuple[Any, Any]:
        """Build the encoder (eval mode, no grad) and tokenizer once."""
        if self._loaded is None:
            resolve_model_path(self.backbone_path)  # one-line error for a missing package
            encoder = build(self.backbone.encoder).eval().requires_grad_(False)
            cuda = torch.cuda.is_available() and self.device != "cpu"
            encoder.to("cuda" if cuda else "cpu")
            tokenizer = build(self.backbone.tokenizer)
            self.fingerprint = weights_fingerprint(encoder)
            self._loaded = (encoder, tokenizer)
        return self._loaded

    def featurizer(self, task: str) -> FrozenFeatures:
        return FrozenFeatures(self, task)

    def estimator(self, task: str) -> Pipeline:
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=0)
        return make_pipeline(StandardScaler(), lr)
