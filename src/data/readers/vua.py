"""VUA metaphor sequence split (Gao et al. 2018): one sentence per CSV row, 0/1 per word.

Columns used: ``sentence`` (space-tokenised) and ``label_seq`` (a Python list literal of 0/1,
one per token); ``txt_id`` and ``sen_ix``, where present, place each sentence in its text (for
``data.context_sentences``). The files end lines with CRLF and train/val hold a few latin-1
bytes; every line is decoded as UTF-8 where valid, else latin-1, so no row is lost and token
counts are kept; words of the test file whose UTF-8 was encoded twice (curly quotes, dashes)
are repaired.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from src.data.readers.tagged import TaggedSentence, decode_line, read_bytes, undo_double_utf8
from src.errors import TextlabError, excerpt

REQUIRED = ("sentence", "label_seq")
#: ``sen_ix`` values: a sentence number, sometimes with a letter (``675a``)
SENTENCE_INDEX = re.compile(r"(\d+)(\w*)")


def _order(cell: str, path: Path, line: int) -> tuple[int, str]:
    """``"675a"`` -> ``(675, "a")``: sorts sentences in text order."""
    match = SENTENCE_INDEX.fullmatch(cell.strip())
    if not match:
        raise TextlabError(
            f"{path}: line {line}: sen_ix {excerpt(cell, 20)} is not a sentence number"
        )
    return int(match.group(1)), match.group(2)


def _labels(cell: str, path: Path, line: int, n_words: int) -> list[str]:
    """``"[0, 1, 0]"`` -> ``["0", "1", "0"]`` (plain string parsing: ast is 10x slower)."""
    text = cell.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise TextlabError(
            f"{path}: line {line}: label_seq {excerpt(cell, 40)} is not a list like [0, 1, 0]"
        )
    values = [v.strip() for v in text[1:-1].split(",")] if text[1:-1].strip() else []
    if any(v not in ("0", "1") for v in values):
        raise TextlabError(f"{path}: line {line}: label_seq must be a list of 0/1 values")
    if len(values) != n_words:
        raise TextlabError(
            f"{path}: line {line}: {len(values)} labels for {n_words} words; "
            "label_seq needs one 0/1 per space-separated word of `sentence`"
        )
    return values


def read_vua_split(path: str | Path) -> list[TaggedSentence]:
    """All sentences of one VUA_seq_formatted_*.csv(.gz) file, tags ``"0"``/``"1"``."""
    path = Path(path)
    lines = [decode_line(raw) for raw in read_bytes(path, "VUA").splitlines(keepends=True)]
    reader = csv.reader(lines)
    header: list[str] = next(reader, [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TextlabError(
            f"{path}: missing column(s) {missing} in the header line; "
            "expected the VUA_seq_formatted CSV (txt_id,sen_ix,sentence,label_seq,...)"
        )
    sentence_col, labels_col = header.index("sentence"), header.index("label_seq")
    placed = "txt_id" in header and "sen_ix" in header
    text_col = header.index("txt_id") if placed else 0
    index_col = header.index("sen_ix") if placed else 0
    sentences = []
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise TextlabError(
                f"{path}: line {line} has {len(row)} fields, the header {len(header)}; "
                "check the quoting of that row"
            )
        words = [undo_double_utf8(w) for w in row[sentence_col].split()]
        if not words:
            raise TextlabError(f"{path}: line {line}: empty sentence")
        sentence = TaggedSentence(words, _labels(row[labels_col], path, line, len(words)))
        if placed:
            sentence.document = row[text_col]
            sentence.order = _order(row[index_col], path, line)
        sentences.append(sentence)
    if not sentences:
        raise TextlabError(f"{path}: the file has a header but no sentences")
    return sentences
