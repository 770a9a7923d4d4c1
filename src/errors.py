"""Problems the user can fix (bad input, bad config, missing files) and how they are shown.

Entry points print a :class:`TextlabError` as one line (``error: ...``) and exit with status 2
instead of a traceback: the message names what is wrong and what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class TextlabError(Exception):
    """A user-facing error: the message names what is wrong and what to do."""


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
        print(f"error: {user_error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
