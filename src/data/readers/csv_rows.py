"""CSV parsing and row checks shared by the CSV readers: each turns a bad file into one
clear TextlabError.

Rows are named as "data row N" (N = 1 for the first row after the header), because comment
text may hold newlines, so the file's line numbers do not match its rows.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.data.readers.files import read_data_bytes
from src.errors import TextlabError, excerpt, shorten

log = logging.getLogger(__name__)

#: a carriage return that does not end a line (``\r\n``): old Mac line ends pasted into a text
BARE_CR = re.compile(rb"\r(?!\n)")
#: the longest cell kept whole: far beyond the longest text any model reads (a few thousand
#: characters at data.max_length=512); longer cells are cut at read time, with a warning
MAX_FIELD_CHARS = 100_000


def _csv_source(path: Path) -> tuple[io.BytesIO, dict[str, str]]:
    """What pandas reads: the (decompressed) bytes, read once with bounds
    (``read_data_bytes``). A bare carriage return in a text (old Mac line ends pasted into a
    comment) would end the row for pandas, so such a file is read with ``\n`` as the only line
    end (its CRLF line ends made LF)."""
    raw = read_data_bytes(path)
    if b"\n" in raw and BARE_CR.search(raw):  # (a file of CR line ends only: pandas reads it)
        return io.BytesIO(raw.replace(b"\r\n", b"\n")), {"lineterminator": "\n"}
    return io.BytesIO(raw), {}


def read_csv_file(path: Path, **read_kwargs) -> pd.DataFrame:
    """Read a CSV (plain or .gz) as strings, so validation sees the cells as written.

    Every cell stays a string ("" for an empty field): "NA" or "null" are real comments,
    not missing values. ``read_kwargs`` go to ``pandas.read_csv`` (e.g. ``sep="\t"``). A bare
    carriage return inside a text stays part of the text (pandas alone would end the row
    there).
    """
    try:
        source, line_ends = _csv_source(path)
        with warnings.catch_warnings():
            # Rows with more fields than the header: pandas would silently drop or shift data.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                source,
                dtype=str,
                keep_default_na=False,
                encoding="utf-8",
                index_col=False,
                **line_ends,
                **read_kwargs,
            )
    except pd.errors.EmptyDataError as err:
        raise TextlabError(f"{path}: the file is empty (no header, no rows).") from err
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8.") from err
    except pd.errors.ParserWarning as err:
        raise TextlabError(
            f"{path}: some row has more fields than the header; check the delimiter (comma) "
            "and that text with commas or newlines is quoted."
        ) from err
    except (
        pd.errors.ParserError,
        OSError,
        EOFError,
        zlib.error,
        ValueError,
    ) as err:
        detail = shorten(str(err), 300)
        raise TextlabError(
            f"{path}: cannot parse as CSV ({type(err).__name__}: {detail}); "
            "check the file is a comma-separated CSV with quoted text (or a valid .gz of one)."
        ) from err
    if frame.empty:
        raise TextlabError(f"{path}: the file has a header but no data rows.")
    cut_long_cells(frame, path)
    return frame


def cut_long_cells(frame: pd.DataFrame, path: Path, limit: int = MAX_FIELD_CHARS) -> None:
    """Cut, in place, every cell longer than ``limit`` characters (a quoted text may run over
    many lines, so the line bound of the file does not bound it), with one warning per column:
    tokenising a text of millions of characters to keep its first few hundred tokens would cost
    gigabytes."""
    for column in frame.columns:
        lengths = frame[column].str.len().to_numpy()
        long = np.flatnonzero(lengths > limit)
        if len(long):
            frame[column] = frame[column].str.slice(0, limit)
            log.warning(
                "%s: %d cell(s) of column %s longer than %s characters (the first at data row "
                "%d, %s characters) were cut to that length; a model reads only the first "
                "data.max_length tokens of a text",
                path,
                len(long),
                excerpt(str(column)),
                f"{limit:,}",
                long[0] + 1,
                f"{int(lengths[long[0]]):,}",
            )


def require_columns(
    frame: pd.DataFrame, path: Path, columns: Sequence[str], what: str, config_key: str
) -> None:
    """Fail when columns are missing, naming them, the config key and the columns found."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(excerpt(str(c)) for c in missing)
        shown = [excerpt(str(c)) for c in frame.columns[:20]]
        more = f" and {frame.shape[1] - 20} more" if frame.shape[1] > 20 else ""
        found = ", ".join(shown) + more
        hint = " (only one column: is the file comma-separated?)" if frame.shape[1] == 1 else ""
        raise TextlabError(
            f"{path}: missing {what} column(s) {names} (set by {config_key}); "
            f"columns found: {found}{hint}."
        )


def row_ref(frame: pd.DataFrame, position: int, id_column: str | None) -> str:
    """Name a row the way a user can find it: data row number and, when known, its id."""
    ref = f"data row {position + 1}"
    if id_column is not None:
        ref += f" (id {excerpt(frame[id_column].iloc[position])})"
    return ref


def _first_bad(
    frame: pd.DataFrame,
    bad: np.ndarray,
    path: Path,
    id_column: str | None,
    problem: str,
    advice: str,
) -> None:
    """Raise for the first flagged row (and count the rest), or do nothing."""
    positions = np.flatnonzero(bad)
    if len(positions):
        more = f" and {len(positions) - 1} more row(s)" if len(positions) > 1 else ""
        where = row_ref(frame, positions[0], id_column)
        raise TextlabError(f"{path}: {problem} at {where}{more}; {advice}.")


def check_ids(frame: pd.DataFrame, path: Path, id_column: str) -> None:
    """Ids join test texts to test labels and name rows in errors: they must be set and unique."""
    ids = frame[id_column].fillna("").str.strip()
    fix = "every row needs its own id"
    _first_bad(frame, (ids == "").to_numpy(), path, None, f"empty id in column {id_column!r}", fix)
    dup = frame[id_column].duplicated(keep="first").to_numpy()
    _first_bad(frame, dup, path, id_column, f"duplicate id in column {id_column!r}", fix)


def check_texts(frame: pd.DataFrame, path: Path, text_column: str, id_column: str | None) -> None:
    """Empty texts carry nothing to learn from and usually mean a broken export."""
    texts = frame[text_column].fillna("").str.strip()
    _first_bad(
        frame,
        (texts == "").to_numpy(),
        path,
        id_column,
        f"empty text in column {text_column!r}",
        "fill in the text or remove the row",
    )


def parse_labels(
    frame: pd.DataFrame,
    path: Path,
    label_columns: Sequence[str],
    allowed: Sequence[int],
    id_column: str | None,
) -> np.ndarray:
    """Turn label cells into an int64 [rows, labels] array, failing on anything not allowed."""
    allowed_text = ", ".join(str(v) for v in allowed)
    out = np.empty((len(frame), len(label_columns)), dtype=np.int64)
    for j, column in enumerate(label_columns):
        cells = frame[column].fillna("").str.strip()
        _first_bad(
            frame,
            (cells == "").to_numpy(),
            path,
            id_column,
            f"missing value in label column {column!r}",
            f"labels must be one of {allowed_text}",
        )
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
        nan = np.isnan(values)
        if nan.any():
            bad = cells.iloc[int(np.flatnonzero(nan)[0])]
            _first_bad(
                frame,
                nan,
                path,
                id_column,
                f"non-numeric value {excerpt(bad)} in label column {column!r}",
                f"labels must be one of {allowed_text}",
            )
        outside = ~np.isin(values, np.asarray(allowed, dtype=np.float64))
        if outside.any():
            bad = cells.iloc[int(np.flatnonzero(outside)[0])]
            _first_bad(
                frame,
                outside,
                path,
                id_column,
                f"value {excerpt(bad)} in label column {column!r}",
                f"labels must be one of {allowed_text}",
            )
        out[:, j] = values.astype(np.int64)
    return out
