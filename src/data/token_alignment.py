"""Word labels -> sub-token labels for a fast tokenizer (the Hugging Face ``run_ner`` rule).

The first sub-token of each word carries the word's label; later sub-tokens and special tokens
get ``IGNORE`` (-100, cross-entropy's ignore_index), so every word is scored exactly once.
Words whose first sub-token falls beyond ``max_length`` are cut off: they get no position, and
scoring predicts the default tag for them (``TokenTagger`` does), so F1 is not inflated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IGNORE = -100


@dataclass
class EncodedSentence:
    """One sentence ready for the model.

    ``labels``: per sub-token, the word's label id at first sub-tokens, else -100.
    ``word_index``: per sub-token, the word number at first sub-tokens, else -1.
    ``word_labels``: the label id of every word, truncated ones included.
    """

    input_ids: list[int]
    labels: list[int]
    word_index: list[int]
    word_labels: list[int]

    @property
    def words_cut(self) -> int:
        """Words without a position (beyond max_length, or no sub-token at all)."""
        return len(self.word_labels) - sum(1 for i in self.word_index if i >= 0)


def first_subtoken_labels(
    word_ids: Sequence[int | None], word_labels: Sequence[int]
) -> tuple[list[int], list[int]]:
    """(labels, word_index) per sub-token from the tokenizer's ``word_ids()``.

    Example:
        >>> first_subtoken_labels([None, 0, 0, 1, None], [3, 5])
        ([-100, 3, -100, 5, -100], [-1, 0, -1, 1, -1])
    """
    labels, word_index = [], []
    previous = None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE)
            word_index.append(-1)
        else:
            labels.append(int(word_labels[word]))
            word_index.append(int(word))
        previous = word
    return labels, word_index


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    label_ids: Sequence[Sequence[int]],
    max_length: int,
    batch_size: int = 512,
) -> list[EncodedSentence]:
    """Tokenise pre-split words (``is_split_into_words``), truncate, align the labels."""
    encoded: list[EncodedSentence] = []
    for start in range(0, len(sentences), batch_size):
        words = [list(s) for s in sentences[start : start + batch_size]]
        batch = tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        for row, ids in enumerate(batch["input_ids"]):
            word_labels = [int(x) for x in label_ids[start + row]]
            labels, index = first_subtoken_labels(batch.word_ids(row), word_labels)
            encoded.append(EncodedSentence(list(ids), labels, index, word_labels))
    return encoded
