"""One sentence of a token-classification data set: its words and one tag per word."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from src.data.readers.files import path_problem, read_data_bytes
from src.errors import TextlabError


@dataclass
class TaggedSentence:
    """``words[i]`` carries ``tags[i]`` (BIO tags such as ``B-person``, or ``0``/``1``).

    ``document`` and ``order`` place the sentence in its source text where the file says so
    (VUA: ``txt_id``, ``sen_ix``); ``context`` holds the unlabelled words the encoder reads
    before the sentence (the sentences before it in its text, ``data.context_sentences``).
    """

    words: list[str]
    tags: list[str]
    document: str | None = None
    order: tuple[int, str] | None = None
    context: list[str] = field(default_factory=list)


def read_bytes(path: str | Path, what: str) -> bytes:
    """The file's bytes, decompressed when it ends in ``.gz`` (read with the bounds of
    ``read_data_bytes``); a clear error when it is missing."""
    path = Path(path)
    problem = path_problem(path)
    if problem:
        raise TextlabError(f"{what} file {path} {problem}; check data.data_dir and the file names")
    return read_data_bytes(path)


def decode_line(line: bytes) -> str:
    """UTF-8 where the line is valid UTF-8, else latin-1 (legacy single-byte lines, e.g. VUA)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def undo_double_utf8(word: str) -> str:
    """A word whose UTF-8 bytes were decoded as latin-1 once too often (VUA test has
    ``â\x80\x98`` for a curly quote) back to its character; any other word unchanged."""
    if not any("\x80" <= ch <= "\xff" for ch in word):
        return word
    try:
        return word.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return word
