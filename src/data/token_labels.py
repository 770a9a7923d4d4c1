"""Tag sets of token data: which tags a scheme allows, and their fixed order."""

from __future__ import annotations

from pathlib import Path

from src.data.readers.tagged import TaggedSentence
from src.utils.errors import TextlabError

BINARY_TAGS = ["0", "1"]
OUTSIDE = "O"


def tag_names(train: list[TaggedSentence], scheme: str, path: Path) -> list[str]:
    """The label names: ``0``/``1`` (binary) or the train file's BIO tags sorted, ``O`` first.

    The first name is the default tag (what a word cut off by max_length is predicted as).
    """
    if scheme == "binary":
        return list(BINARY_TAGS)
    tags = {t for sentence in train for t in sentence.tags}
    bad = sorted(t for t in tags if t != OUTSIDE and not t.startswith(("B-", "I-")))
    if bad:
        raise TextlabError(
            f"{path}: tags {bad[:5]} are not BIO (O, B-<type>, I-<type>); "
            "use data.scheme=binary for 0/1 tags"
        )
    return [OUTSIDE, *sorted(tags - {OUTSIDE})]


def validate_tags(sentences: list[TaggedSentence], names: list[str], path: Path) -> None:
    """Every tag of a split must be one the model can predict (the train file's tag set)."""
    known = set(names)
    for number, sentence in enumerate(sentences, start=1):
        unknown = sorted(set(sentence.tags) - known)
        if unknown:
            raise TextlabError(
                f"{path}: sentence {number} has tags {unknown} that the train file does not "
                f"have (known: {names}); fix the tags or add examples of them to train"
            )
