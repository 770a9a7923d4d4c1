"""Frozen-encoder baseline (``frozen_lr``): the backbone as it was pretrained, never trained,
gives features (a pooled vector per text; the first sub-token's vector per word for token
tasks), and a standardised logistic regression is fitted on them.

Extraction is batched, no-grad, optionally under bf16 autocast, with texts sorted by length so a
batch pads little; the vectors come back in input order. It takes minutes on CPU, so the vectors
are cached on disk under a key covering all they depend on: the encoder's weights (a hash of its
state dict, so a randomly initialised test encoder never collides with a trained one), the
tokenizer, the exact input rows, the pooling, max_length and bf16.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from src.config import POSITIVE, Rule, at_least, build, one_of, store_schema, validated
from src.errors import TextlabError
from src.models.encoders import resolve_model_path
from src.models.poolers import POOLERS, build_pooler
from src.tasks.base import TOKENS, Task

log = logging.getLogger(__name__)

#: the poolers without learned weights: a frozen encoder's features are never trained
FROZEN_POOLERS = ("cls", "mean", "max", "cls_mean")


# -- the disk cache -----------------------------------------------------------------------
def weights_fingerprint(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def inputs_fingerprint(inputs: list[Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode()).hexdigest()


def cached_array(
    cache_dir: str | Path | None, key_parts: dict[str, Any], compute: Callable[[], np.ndarray]
) -> tuple[np.ndarray, bool]:
    """``compute()``, saved under a hash of ``key_parts``; returns (array, cache hit)."""
    if cache_dir is None:
        return compute(), False
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:32]
    path = Path(cache_dir) / f"{key}.npy"
    if path.is_file():
        return np.load(path), True
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
    return array, False


# -- extraction ---------------------------------------------------------------------------
def _autocast(bf16: bool, device: torch.device) -> contextlib.AbstractContextManager:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _batches(lengths: list[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices grouped into batches of similar length (longest first)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _encode(encoder: Any, encoded: Any, device: torch.device, bf16: bool, **kwargs: Any) -> Any:
    """The encoder's outputs, the last layer in float32 (pooled outside autocast)."""
    inputs = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
    with torch.inference_mode(), _autocast(bf16, device):
        outputs = encoder(**inputs, **kwargs)
    outputs.last_hidden_state = outputs.last_hidden_state.float()
    return outputs


@torch.inference_mode()
def sentence_vectors(
    encoder: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    pooling: str,
    batch_size: int = 64,
    bf16: bool = False,
) -> np.ndarray:
    """``[N, width]`` float32: each text's vector from a parameter-free pooler
    (:data:`FROZEN_POOLERS`)."""
    pooler = build_pooler(pooling, encoder.config)
    device = next(encoder.parameters()).device
    out = np.zeros((len(texts), pooler.out_size), dtype=np.float32)
    for index in _batches([len(t) for t in texts], batch_size):
        encoded = tokenizer(
            [texts[i] for i in index],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        outputs = _encode(encoder, encoded, device, bf16, **pooler.encoder_kwargs)
        pooled = pooler(outputs, encoded["attention_mask"].to(device))
        out[index] = pooled.float().cpu().numpy()
    return out


@torch.inference_mode()
def word_vectors(
    encoder: Any,
    tokenizer: Any,
    sentences: list[list[str]],
    max_length: int,
    batch_size: int = 64,
    bf16: bool = False,
) -> tuple[np.ndarray, int]:
    """``[total words, hidden]``: each word's first sub-token vector, sentences in order.

    Words without a sub-token (cut off by ``max_length``, or empty after tokenisation) get a
    zero vector; returns how many there were.
    """
    device = next(encoder.parameters()).device
    starts = np.cumsum([0] + [len(words) for words in sentences])
    out = np.zeros((int(starts[-1]), encoder.config.hidden_size), dtype=np.float32)
    truncated = 0
    lengths = [sum(len(w) for w in words) for words in sentences]
    for index in _batches(lengths, batch_size):
        encoded = tokenizer(
            [sentences[i] for i in index],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        hidden = _encode(encoder, encoded, device, bf16).last_hidden_state.cpu().numpy()
        for row, i in enumerate(index):
            first: dict[int, int] = {}
            for position, word in enumerate(encoded.word_ids(row)):
                if word is not None and word not in first:
                    first[word] = position
            truncated += len(sentences[i]) - len(first)
            for word, position in first.items():
                out[starts[i] + word] = hidden[row, position]
    if truncated:
        log.warning("%d words lay beyond max_length=%d: zero vectors", truncated, max_length)
    return out, truncated


# -- the baseline -------------------------------------------------------------------------
class FrozenFeatures:
    """Encoder vectors for texts (pooled) or words (first sub-token), cached on disk."""

    def __init__(self, owner: FrozenEncoderLR, task: Task) -> None:
        self.owner = owner
        self.words = task.output == TOKENS
        self.cache_hits: list[bool] = []
        self.truncated_words = 0

    def fit_transform(self, inputs: list[Any]) -> np.ndarray:
        return self.transform(inputs)

    def transform(self, inputs: list[Any]) -> np.ndarray:
        owner = self.owner
        encoder, tokenizer = owner.load()
        key = {
            "kind": "word_first_subtoken" if self.words else f"sentence_{owner.pooling}",
            "backbone": owner.backbone_path,
            "weights": owner.fingerprint,
            "tokenizer": type(tokenizer).__name__,
            "max_length": owner.max_length,
            "bf16": owner.bf16,
            "rows": inputs_fingerprint(inputs),
        }

        def compute() -> np.ndarray:
            args = (encoder, tokenizer, inputs, owner.max_length)
            if self.words:
                return word_vectors(*args, owner.batch_size, owner.bf16)[0]
            return sentence_vectors(*args, owner.pooling, owner.batch_size, owner.bf16)

        features, hit = cached_array(owner.cache_dir, key, compute)
        self.cache_hits.append(hit)
        if self.words:
            self.truncated_words += int(self.missing_words(features).sum())
        return features

    @staticmethod
    def missing_words(features: np.ndarray) -> np.ndarray:
        """Words without a sub-token (cut off by max_length, or empty after tokenisation):
        their vector is all zeros."""
        return np.logical_not(features.any(axis=1))


def frozen_pooling(value: Any) -> str:
    """A pooler without learned weights (a frozen encoder trains none), in one line if not."""
    if value in POOLERS and value not in FROZEN_POOLERS:
        raise TextlabError(
            f"baseline.pooling={value} has learned weights, which a frozen encoder never "
            f"trains; use one of {list(FROZEN_POOLERS)}"
        )
    if value not in FROZEN_POOLERS:
        raise TextlabError(f"baseline.pooling must be one of {list(FROZEN_POOLERS)}, got {value!r}")
    return str(value)


@dataclass
class FrozenLRSchema:
    """``baseline=frozen_lr``: the settings of :class:`FrozenEncoderLR` (its ``backbone`` is
    the run's, checked with it)."""

    C: float = 1.0
    max_iter: int = 1000
    batch_size: int = 64
    max_length: int = 128
    bf16: bool = True
    device: str = "auto"
    rules: ClassVar[dict[str, Rule]] = {
        "C": POSITIVE,
        "max_iter": at_least(1),
        "batch_size": at_least(1),
        "max_length": at_least(1),
        "device": one_of("auto", "cpu", "cuda"),
    }


store_schema("baseline_frozen_lr", FrozenLRSchema)


class FrozenEncoderLR:
    """Features of the backbone as it was pretrained, then standardised logistic regression."""

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
        self.pooling = frozen_pooling(pooling)
        settings = dict(C=C, max_iter=max_iter, batch_size=batch_size, max_length=max_length)
        checked = validated(
            OmegaConf.create({**settings, "bf16": bf16, "device": device}),
            FrozenLRSchema,
            "baseline",
        )
        self.C, self.max_iter = checked.C, checked.max_iter
        self.batch_size, self.max_length = checked.batch_size, checked.max_length
        self.bf16 = checked.bf16
        self.cache_dir = cache_dir
        self.device = checked.device
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

    def featurizer(self, task: Task) -> FrozenFeatures:
        return FrozenFeatures(self, task)

    def estimator(self, task: Task) -> Pipeline:
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=0)
        return make_pipeline(StandardScaler(), lr)
