"""Print user-fixable errors as one line and exit 2, instead of a deep traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from src.utils.errors import TextlabError


@contextmanager
def report_user_errors() -> Iterator[None]:
    try:
        yield
    except TextlabError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
