"""Problems the user can fix (bad input, bad config, missing files) and how they are shown.

Entry points print a :class:`TextlabError` as one line (``error: ...``) and exit with status 2
instead of a traceback: the message names what is wrong and what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: how much of a user's value (an id, a cell, a line) a message quotes
EXCERPT_CHARS = 60
#: the longest error message shown or recorded (stderr, metrics.json, the results row)
MESSAGE_CHARS = 2000


class TextlabError(Exception):
    """A user-facing error: the message names what is wrong and what to do."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``value`` quoted for a message: its ``repr``, or the start of a long one and its length,
    so a 5 MB id or a line of NUL bytes never floods stderr or a run folder.

    Example:
        >>> excerpt("a" * 100, limit=5)
        "'aaaaa'... (100 characters)"
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def shorten(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` as one line of at most about ``limit`` characters: its start and its end
    (which says what to do), the middle left out.

    Example:
        >>> shorten("bad id 'x" + "x" * 5000 + "'; fix it", limit=40)
        "bad id 'xxxxxxxxxxxxxxxxxx [...] xxxx'; fix it"
    """
    if len(message) <= limit and "\n" not in message and "\r" not in message:
        return message
    # collapse only what can be kept: a 200 MB message costs no more than a short one
    head = " ".join(message[: 2 * limit].split())
    tail = " ".join(message[-2 * limit :].split()) if len(message) > 2 * limit else ""
    if not tail and len(head) <= limit:
        return head
    head, tail = head[: limit * 2 // 3], (tail or head)[-(limit // 3) :]
    return f"{head} [...] {tail}"


def cause_chain_error(error: BaseException | None) -> TextlabError | None:
    """The first TextlabError in ``error``'s cause/context chain (Hydra and Lightning wrap
    the errors raised inside the objects they build or call)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, TextlabError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def report_user_errors() -> Iterator[None]:
    """Print a user error (also one wrapped by a library) as one line and exit 2."""
    try:
        yield
    except Exception as error:
        user_error = cause_chain_error(error)
        if user_error is None:
            raise
        print(f"error: {shorten(str(user_error))}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
