"""CoNLL token files (WNUT-17, CoNLL-2003 style): one ``word<TAB>tag`` per line.

Any whitespace-only line ends a sentence: in WNUT-17's train file most separators are a single
TAB, so treating only empty lines as breaks would glue 3,394 sentences into 1,000. With more
than two columns (CoNLL-2003: word POS chunk NER) the first is the word and the last the tag.
``-DOCSTART-`` lines are skipped.
"""

from __future__ import annotations

from pathlib import Path

from src.data.readers.tagged import TaggedSentence, decode_line, read_bytes
from src.errors import TextlabError, excerpt


def _fields(text: str) -> list[str]:
    return text.split("\t") if "\t" in text else text.split()


def read_conll(path: str | Path) -> list[TaggedSentence]:
    """All sentences of a CoNLL file (plain or .gz); a malformed line raises with its number."""
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    for number, raw in enumerate(read_bytes(path, "CoNLL").splitlines(), start=1):
        text = decode_line(raw).rstrip("\r\n")
        if not text.strip():
            if words:
                sentences.append(TaggedSentence(words, tags))
                words, tags = [], []
            continue
        fields = [f.strip() for f in _fields(text)]
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2 or not fields[0] or not fields[-1]:
            raise TextlabError(
                f"{path}: line {number} is not 'word<TAB>tag' (got {excerpt(text)}); "
                "fix the line or use whitespace-only lines between sentences"
            )
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append(TaggedSentence(words, tags))
    if not sentences:
        raise TextlabError(f"{path}: no sentences found; is it a CoNLL file (word<TAB>tag)?")
    return sentences
