"""token_scores against hand-computed spans, seqeval and sklearn; truncated words are scored."""

from __future__ import annotations

import pytest
import torch
from seqeval.metrics import classification_report, f1_score
from sklearn.metrics import f1_score as sk_f1

from src.data.alignment import IGNORE
from src.errors import TextlabError
from src.tasks.token.metrics import WordTagCollector, token_scores, word_predictions

TRUE = [
    ["B-person", "I-person", "O", "B-location", "O"],
    ["O", "B-group", "I-group", "I-group"],
    ["B-product", "O"],
]
PRED = [
    ["B-person", "I-person", "O", "B-person", "O"],  # person right; location -> wrong type
    ["O", "B-group", "I-group", "O"],  # group cut short -> wrong span
    ["I-product", "O"],  # I- without B- still opens a span (conlleval-style default mode)
]


def test_bio_scores_match_hand_computed_spans() -> None:
    # true spans: person(0-1), location(3), group(1-3), product(0) = 4
    # predicted: person(0-1) ok, person(3) wrong, group(1-2) wrong, product(0) ok = 4
    scores = token_scores(TRUE, PRED, "bio")
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["precision/person"] == pytest.approx(1 / 2)
    assert scores["recall/person"] == pytest.approx(1.0)
    assert scores["f1/person"] == pytest.approx(2 / 3)
    assert scores["f1/location"] == 0.0 and scores["f1/group"] == 0.0
    assert scores["f1/product"] == 1.0


def test_bio_scores_equal_seqeval() -> None:
    scores = token_scores(TRUE, PRED, "bio")
    assert scores["f1"] == pytest.approx(f1_score(TRUE, PRED))
    report = classification_report(TRUE, PRED, output_dict=True)
    for kind in ("person", "location", "group", "product"):
        assert scores[f"f1/{kind}"] == pytest.approx(report[kind]["f1-score"])
        assert scores[f"recall/{kind}"] == pytest.approx(report[kind]["recall"])


def test_binary_scores_equal_sklearn_positive_class() -> None:
    true = [["0", "1", "1", "0"], ["1", "0"]]
    pred = [["1", "1", "0", "0"], ["1", "0"]]
    scores = token_scores(true, pred, "binary")
    flat_t, flat_p = sum(true, []), sum(pred, [])
    assert scores["f1"] == pytest.approx(sk_f1(flat_t, flat_p, pos_label="1"))
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(4 / 6)


def test_bad_scheme_and_lengths() -> None:
    with pytest.raises(TextlabError, match="data.scheme must be one of"):
        token_scores(TRUE, PRED, "iob2")
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        token_scores([["O", "O"]], [["O"]], "bio")


def test_words_cut_off_are_predicted_as_default_and_scored() -> None:
    """A sentence of 4 words of which only the first 2 got positions: the gold entity on the
    cut-off words must count as missed (recall 1/2), not vanish from the score."""
    labels = ["O", "B-person", "I-person"]
    # positions: [CLS] w0 w1 [SEP] (w2, w3 cut off)
    logits = torch.zeros(1, 4, 3)
    logits[0, 1, 1] = 5.0  # w0 -> B-person
    logits[0, 2, 2] = 5.0  # w1 -> I-person
    logits[0, 0, 1] = logits[0, 3, 1] = 9.0  # special tokens must be ignored
    batch = {
        "word_index": torch.tensor([[-1, 0, 1, -1]]),
        # 4 words (person, O, person) and one padding slot
        "word_labels": torch.tensor([[1, 2, 0, 1, IGNORE]]),
    }
    gold, pred = word_predictions(logits, batch["word_index"], batch["word_labels"])
    assert gold == [[1, 2, 0, 1]] and pred == [[1, 2, 0, 0]]
    collector = WordTagCollector(labels, "bio")
    collector.update(logits, batch)
    scores = collector.compute()
    assert scores["recall"] == pytest.approx(0.5) and scores["precision"] == 1.0
    assert collector.compute() == {}  # reset after compute
