"""Readers for the official Kaggle Jigsaw CSV format (train.csv, test.csv, test_labels.csv).

They validate everything a run depends on before any model is built, so bad input stops
with one clear TextlabError instead of a pandas or torch traceback mid-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src.data.readers.csv_rows import (
    check_ids,
    check_texts,
    parse_labels,
    read_csv_file,
    require_columns,
    row_ref,
)
from src.data.readers.files import locate_data_file
from src.errors import TextlabError

JIGSAW_LABELS: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)
TRAIN_LABEL_VALUES: tuple[int, ...] = (0, 1)
TEST_LABEL_VALUES: tuple[int, ...] = (-1, 0, 1)  # -1: not scored by the competition


def resolve_data_file(data_dir: str | Path, name: str) -> Path:
    """Find `name` in `data_dir`, else `name.gz`, so Kaggle CSVs and the shipped .gz both work
    (both there with different content is refused)."""
    return locate_data_file(
        data_dir,
        name,
        "Data file",
        "Set data.data_dir=/path/to/kaggle/files (the folder with the Kaggle train.csv, "
        "test.csv and test_labels.csv)",
    )


def read_labelled_csv(
    path: str | Path,
    text_column: str,
    label_columns: Sequence[str],
    id_column: str | None = "id",
    allowed_labels: Sequence[int] = TRAIN_LABEL_VALUES,
) -> pd.DataFrame:
    """Read a CSV with one text column and 0/1 label columns (Kaggle train.csv layout).

    Returns a frame with the id column (when given), the text column and int64 label
    columns, in file order.
    """
    path = Path(path)
    frame = read_csv_file(path)
    require_columns(frame, path, [text_column], "text", "data.text_column")
    require_columns(frame, path, label_columns, "label", "data.label_columns")
    keep = [text_column]
    if id_column is not None:
        require_columns(frame, path, [id_column], "id", "data.id_column")
        check_ids(frame, path, id_column)
        keep.insert(0, id_column)
    check_texts(frame, path, text_column, id_column)
    labels = parse_labels(frame, path, label_columns, allowed_labels, id_column)
    out = frame[keep].reset_index(drop=True)
    out[list(label_columns)] = labels
    return out


def read_jigsaw_test(
    texts_path: str | Path,
    labels_path: str | Path,
    text_column: str,
    label_columns: Sequence[str],
    id_column: str = "id",
) -> pd.DataFrame:
    """Join Kaggle test.csv with test_labels.csv on the id; labels are -1 (unscored), 0 or 1.

    Rows keep the order of the texts file. Every test id must have a labels row.
    """
    texts_path, labels_path = Path(texts_path), Path(labels_path)
    texts = read_csv_file(texts_path)
    require_columns(texts, texts_path, [id_column], "id", "data.id_column")
    require_columns(texts, texts_path, [text_column], "text", "data.text_column")
    check_ids(texts, texts_path, id_column)
    check_texts(texts, texts_path, text_column, id_column)

    labels = read_csv_file(labels_path)
    require_columns(labels, labels_path, [id_column], "id", "data.id_column")
    require_columns(labels, labels_path, label_columns, "label", "data.label_columns")
    check_ids(labels, labels_path, id_column)
    values = parse_labels(labels, labels_path, label_columns, TEST_LABEL_VALUES, id_column)

    unlabelled = np.flatnonzero(~texts[id_column].isin(labels[id_column]).to_numpy())
    if len(unlabelled):
        raise TextlabError(
            f"{labels_path}: no labels for {len(unlabelled)} id(s) of {texts_path}, first at "
            f"{row_ref(texts, unlabelled[0], id_column)}; every test id needs a row in the "
            "labels file (use the matching test.csv / test_labels.csv pair)."
        )
    label_frame = labels[[id_column]].copy()
    label_frame[list(label_columns)] = values
    joined = texts[[id_column, text_column]].merge(
        label_frame, on=id_column, how="left", validate="one_to_one"
    )
    return joined.reset_index(drop=True)
