"""A ``format=hf`` export that plain transformers loads: where the model is one of transformers'
own sequence classifiers, its weights are written as that class.

[CLS] -> Linear -> tanh -> Linear over a BERT encoder is exactly ``BertForSequenceClassification``
(BERT's pooler is ``dense`` + tanh on the first token, then ``classifier``; dropout does nothing
at inference), so ``AutoModelForSequenceClassification.from_pretrained(folder)`` gives the same
logits. DistilBERT's own classifier is ``pre_classifier`` + ReLU, not tanh, and the other poolers
(mean, max, attention, ...) have no stock class: those exports load with the project's loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from src.tasks.formats import output_format


def problem_type(model: Any) -> str | None:
    """transformers' ``problem_type`` for this model's task (its output format says)."""
    return output_format(model.task.name).hf_problem_type


STOCK_CLASS = "BertForSequenceClassification"
PROJECT_LOADER = "src.deploy.references.load_predictor(folder)"


def stock_class(model: Any) -> str | None:
    """The transformers class this model is, or None: a BERT encoder with the [CLS] pooler
    under the tanh head, classifying whole texts (multi-label or multi-class)."""
    encoder_type = getattr(getattr(model.encoder, "config", None), "model_type", None)
    pooling = model.hparams.get("pooling") if hasattr(model, "hparams") else None
    head = getattr(getattr(model, "head", None), "net", None)
    if encoder_type != "bert" or pooling != "cls" or problem_type(model) is None:
        return None
    return STOCK_CLASS if isinstance(head, nn.Sequential) and len(head) == 5 else None


def why_not_stock(model: Any) -> str:
    """Why an export is not a stock transformers class (for its card and console line)."""
    encoder_type = getattr(getattr(model.encoder, "config", None), "model_type", "?")
    pooling = model.hparams.get("pooling")
    if problem_type(model) is None:
        return f"a {model.task.name} model's head has no stock transformers class"
    if encoder_type == "distilbert":
        return "DistilBERT's own classifier (pre_classifier + ReLU) is not this model's tanh head"
    if pooling != "cls":
        return f"the {pooling} pooler has no stock transformers class"
    return f"a {encoder_type} encoder has no stock class with this head"


def save_stock(model: Any, out_dir: Path, label_names: list[str]) -> None:
    """Write ``config.json`` and ``model.safetensors`` as ``BertForSequenceClassification``:
    the encoder as ``bert``, the head's first Linear as BERT's pooler, its second as the
    classifier."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig.from_dict(model.encoder.config.to_dict())
    config.architectures = [STOCK_CLASS]
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.problem_type = problem_type(model)  # type: ignore[assignment]
    stock = BertForSequenceClassification(config).eval()
    encoder_state = {
        k: v for k, v in model.encoder.state_dict().items() if not k.startswith("pooler.")
    }
    missing, unexpected = stock.bert.load_state_dict(encoder_state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("pooler.")]:
        raise RuntimeError(f"encoder does not map onto {STOCK_CLASS}: {missing} {unexpected}")
    projection, classifier = model.head.net[1], model.head.net[4]
    stock.bert.pooler.dense.load_state_dict(projection.state_dict())
    stock.classifier.load_state_dict(classifier.state_dict())
    stock.save_pretrained(out_dir, safe_serialization=True)
