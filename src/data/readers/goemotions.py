"""GoEmotions TSV files (official format: no header; text, comma-separated label ids, id)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data.readers.csv_rows import check_ids, check_texts, read_csv_file
from src.data.readers.files import locate_data_file, read_data_bytes
from src.errors import TextlabError, excerpt

COLUMNS = ["text", "labels", "id"]


def goemotions_file(data_dir: str | Path, name: str) -> Path:
    """``name`` in ``data_dir``, else ``name.gz``; a clear error naming both otherwise."""
    return locate_data_file(
        data_dir,
        name,
        "GoEmotions file",
        "Set data.data_dir to the folder with train.tsv, dev.tsv, test.tsv and emotions.txt "
        "(shipped in data/goemotions)",
    )


def read_label_names(path: Path) -> list[str]:
    """One emotion name per line; line i names label id i."""
    try:
        lines = read_data_bytes(path).decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    names = [line.strip() for line in lines]
    names = [name for name in names if name]
    if not names or len(set(names)) != len(names):
        raise TextlabError(f"{path}: expected one distinct label name per line")
    return names


def read_goemotions_split(path: Path, num_labels: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, a multi-hot [N, num_labels] matrix and ids, validated row by row."""
    frame = read_csv_file(path, sep="\t", header=None, names=COLUMNS)
    if frame.shape[1] != len(COLUMNS) or (frame["id"] == "").all():
        raise TextlabError(f"{path}: expected 3 tab-separated columns (text, label ids, id)")
    check_texts(frame, path, "text", "id")
    check_ids(frame, path, "id")
    labels = np.zeros((len(frame), num_labels), dtype=np.float32)
    for row, cell in enumerate(frame["labels"]):
        try:
            ids = [int(part) for part in cell.split(",")]
        except ValueError:
            ids = [-1]
        if not ids or any(not 0 <= i < num_labels for i in ids):
            raise TextlabError(
                f"{path}: data row {row + 1} (id {excerpt(frame['id'].iloc[row])}) has labels "
                f"{excerpt(cell)}; "
                f"expected comma-separated label ids in 0..{num_labels - 1}"
            )
        labels[row, ids] = 1.0
    return frame["text"].tolist(), labels, frame["id"].tolist()
