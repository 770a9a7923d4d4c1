"""Discourse context for token tagging: the sentences before a sentence in its text
(``attach_context``), and where their sub-tokens go in what the encoder reads
(``context_first``: ``[CLS] context [SEP] sentence [SEP]``). Metaphor often needs the discourse
around a sentence (Dankers et al. 2020). Training (``src.data.tagging``, ``src.data.alignment``)
and inference (``src.deploy.folder``) share this, so a tagger reads context the same way in
both; it imports no torch (the ONNX service runs without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.errors import TextlabError

if TYPE_CHECKING:  # the readers import pandas, which the ONNX service does not load
    from src.data.readers.tagged import TaggedSentence


def attach_context(splits: dict[str, list[TaggedSentence]], sentences: int, path: Path) -> None:
    """Give every sentence the words of the ``sentences`` sentences before it in its text,
    looked up over all splits (their words only: a context never carries labels)."""
    texts: dict[str, list[TaggedSentence]] = {}
    for rows in splits.values():
        for row in rows:
            if row.document is None or row.order is None:
                raise TextlabError(
                    f"{path}: data.context_sentences needs each sentence's text and place in "
                    "it (VUA's txt_id and sen_ix columns); this file has none, set "
                    "data.context_sentences=0"
                )
            texts.setdefault(row.document, []).append(row)
    for rows in texts.values():
        rows.sort(key=lambda r: r.order or (0, ""))  # every row has one (checked above)
        for i, row in enumerate(rows):
            row.context = [w for before in rows[max(0, i - sentences) : i] for w in before.words]


def context_first(
    ids: Sequence[int], context_ids: Sequence[int], max_length: int, *aligned: tuple[list, Any]
) -> tuple[list[int], list[list]]:
    """``[CLS] context [SEP] sentence [SEP]`` from a sentence's ``[CLS] sentence [SEP]`` ids:
    the context's last sub-tokens that fit ``max_length`` go after ``ids[0]``, followed by the
    sentence's closing token (``ids[-1]``) as the separator. Each ``(values, fill)`` of
    ``aligned`` (one value per sub-token: labels, word numbers) gets ``fill`` at the new
    positions. No room left (or no context): everything as it was."""
    room = max_length - len(ids) - 1
    if room <= 0 or not context_ids:
        return list(ids), [list(values) for values, _ in aligned]
    context = list(context_ids[-room:])
    skip = len(context) + 1
    spliced = [[values[0], *[fill] * skip, *values[1:]] for values, fill in aligned]
    return [ids[0], *context, ids[-1], *ids[1:]], spliced
