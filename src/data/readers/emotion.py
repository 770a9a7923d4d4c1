"""dair-ai emotion files (CARER, Saravia et al. 2018): one ``text;label_name`` per line.

The first line may be the header ``text;label_name``. The label is what follows the LAST
``;`` (a text may hold one). Every line is checked: a line without ``;``, an empty text or
a label outside the known classes stops with one line naming the file and line number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.data.readers.csv_rows import MAX_FIELD_CHARS
from src.data.readers.files import path_problem, read_data_bytes
from src.errors import TextlabError, excerpt

#: Hugging Face ``dair-ai/emotion`` class order (label id i = EMOTION_LABELS[i])
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
HEADER = "text;label_name"


def emotion_file(data_dir: str | Path, name: str) -> Path:
    """``data_dir/name``, or a clear error saying where the research-only data is expected."""
    path = Path(data_dir).expanduser() / name
    problem = path_problem(path)
    if problem:
        raise TextlabError(
            f"emotion file {path} {problem}; the data set is research-only and not shipped: "
            "set TEXTLAB_DATA_DIR (or paths.external_data_dir, or data.data_dir) to the folder "
            "holding emotion/train.txt, val.txt and test.txt"
        )
    return path


def read_emotion_file(
    path: str | Path, label_names: list[str] = EMOTION_LABELS
) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, int64 class ids [N] (index into ``label_names``) and row ids ``<file>:<line>``."""
    path = Path(path)
    try:
        lines = read_data_bytes(path).decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    index = {name: i for i, name in enumerate(label_names)}
    texts, labels, ids = [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or (number == 1 and line.strip() == HEADER):
            continue
        text, sep, label = line.rpartition(";")
        if not sep:
            raise TextlabError(
                f"{path}: line {number} has no ';' ({excerpt(line)}); expected 'text;label'"
            )
        label = label.strip()
        if not text.strip():
            raise TextlabError(f"{path}: line {number} has an empty text; fill it in or drop it")
        if label not in index:
            raise TextlabError(
                f"{path}: line {number} has unknown label {excerpt(label)}; expected one of "
                f"{', '.join(label_names)}"
            )
        texts.append(text[:MAX_FIELD_CHARS])  # (a line is at most 1 MiB: read_data_bytes)
        labels.append(index[label])
        ids.append(f"{path.stem}:{number}")
    if not texts:
        raise TextlabError(f"{path}: no 'text;label' lines found")
    return texts, np.asarray(labels, dtype=np.int64), ids
