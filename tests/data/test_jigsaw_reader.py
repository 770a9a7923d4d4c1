"""Jigsaw readers: the shipped files parse, and every bad input stops with one clear error."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from src.data.readers.jigsaw import (
    JIGSAW_LABELS,
    read_jigsaw_test,
    read_labelled_csv,
    resolve_data_file,
)
from src.errors import TextlabError
from tests.conftest import ROOT

DATA_DIR = ROOT / "data" / "jigsaw"
LABELS = list(JIGSAW_LABELS)
HEADER = '"id","comment_text","toxic","severe_toxic","obscene","threat","insult","identity_hate"'


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def train_csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    return write(tmp_path / "train.csv", "\n".join([header, *rows]) + "\n")


def read_train(path: Path):
    return read_labelled_csv(path, "comment_text", LABELS, "id")


def assert_one_line(err: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# -- the shipped subset ---------------------------------------------------------------------


def test_shipped_train_parses():
    frame = read_train(resolve_data_file(DATA_DIR, "train.csv"))
    assert frame.shape == (2886, 8)
    assert list(frame.columns) == ["id", "comment_text", *LABELS]
    labels = frame[LABELS].to_numpy()
    assert set(np.unique(labels)) <= {0, 1}
    assert labels[:, 0].sum() == 294  # toxic count from SOURCE.md
    assert frame["id"].iloc[0] == "0000997932d777bf"
    assert frame["comment_text"].str.contains("\n").any()  # embedded newlines survive


def test_shipped_test_parses_and_joins():
    frame = read_jigsaw_test(
        resolve_data_file(DATA_DIR, "test.csv"),
        resolve_data_file(DATA_DIR, "test_labels.csv"),
        "comment_text",
        LABELS,
        "id",
    )
    assert frame.shape == (2514, 8)
    labels = frame[LABELS].to_numpy()
    assert set(np.unique(labels)) == {-1, 0, 1}
    assert (labels == -1).all(axis=1).sum() == 1487
    assert labels[(labels != -1).all(axis=1), 0].sum() == 92


# -- resolve_data_file ----------------------------------------------------------------------


def test_resolve_prefers_plain_csv_then_gz(tmp_path):
    gz = tmp_path / "train.csv.gz"
    gz.write_bytes(gzip.compress(b"x"))
    assert resolve_data_file(tmp_path, "train.csv") == gz
    plain = write(tmp_path / "train.csv", "x")  # the same rows as the .gz
    assert resolve_data_file(tmp_path, "train.csv") == plain


def test_resolve_refuses_a_csv_and_gz_pair_that_differ(tmp_path):
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(b"x"))
    write(tmp_path / "train.csv", "y")
    with pytest.raises(TextlabError) as err:
        resolve_data_file(tmp_path, "train.csv")
    assert_one_line(err, "train.csv and train.csv.gz", "different content", "remove or rename")


def test_resolve_missing_file_names_folder_and_config_key(tmp_path):
    with pytest.raises(TextlabError) as err:
        resolve_data_file(tmp_path, "train.csv")
    assert_one_line(err, "train.csv(.gz)", "not found", str(tmp_path), "data.data_dir=")


def test_resolve_missing_folder(tmp_path):
    with pytest.raises(TextlabError) as err:
        resolve_data_file(tmp_path / "nope", "test.csv")
    assert_one_line(err, "does not exist", "nope", "data.data_dir=")


def test_gz_and_plain_give_the_same_rows(tmp_path):
    rows = ['"a","hello\nthere",0,0,0,0,0,0', '"b","bye",1,0,1,0,0,0']
    plain = train_csv(tmp_path, rows)
    gz = tmp_path / "other.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_train(plain).equals(read_train(gz))


# -- malformed files ------------------------------------------------------------------------

GOOD = '"a","fine text",0,0,0,0,0,0'


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("", ["empty"]),
        (HEADER + "\n", ["no data rows"]),
        (HEADER + '\n"a","unclosed,0,0,0,0,0,0\n', ["cannot parse"]),
        (HEADER + '\n"a","x",0,0,0,0,0,0,9\n"b","y",0,0,0,0,0,0,9\n', ["more fields"]),
        (HEADER + f"\n{GOOD}\n" + '"b","x",0,0,0,0,0,0,9\n', ["cannot parse"]),
    ],
    ids=["empty-file", "header-only", "unclosed-quote", "extra-field-everywhere", "extra-field"],
)
def test_malformed_csv(tmp_path, content, fragments):
    path = write(tmp_path / "train.csv", content)
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", *fragments)


def test_not_utf8(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes((HEADER + '\n"a","caf\xe9",0,0,0,0,0,0\n').encode("latin-1"))
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "UTF-8")


@pytest.mark.parametrize("payload", [b"not gzip at all", gzip.compress(b"id,comment_text\n")[:12]])
def test_corrupt_gzip(tmp_path, payload):
    path = tmp_path / "train.csv.gz"
    path.write_bytes(payload)
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv.gz", "cannot parse")


# -- columns --------------------------------------------------------------------------------


def test_missing_text_column(tmp_path):
    path = train_csv(
        tmp_path, ['"a","x",0,0,0,0,0,0'], header=HEADER.replace("comment_text", "text")
    )
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(
        err, "train.csv", "'comment_text'", "data.text_column", "columns found", "'text'"
    )


def test_missing_label_columns(tmp_path):
    header = '"id","comment_text","toxic","severe_toxic","obscene","insult"'
    path = train_csv(tmp_path, ['"a","x",0,0,0,0'], header=header)
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(
        err, "train.csv", "'threat'", "'identity_hate'", "data.label_columns", "'insult'"
    )


def test_missing_id_column(tmp_path):
    path = train_csv(tmp_path, ['"a","x",0,0,0,0,0,0'], header=HEADER.replace('"id"', '"key"'))
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "'id'", "data.id_column", "'key'")


def test_tab_separated_file_reports_columns(tmp_path):
    path = train_csv(tmp_path, ["a\tx\t0\t0\t0\t0\t0\t0"], header=HEADER.replace(",", "\t"))
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "data.text_column", "columns found", "comma-separated")


# -- rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['""', '"   "', ""], ids=["empty-quoted", "blank", "nothing"])
def test_empty_text_names_row_and_id(tmp_path, text):
    # Row 1 spans two lines: the row number must count rows, not lines.
    rows = ['"a","two\nlines",0,0,0,0,0,0', f'"b",{text},0,0,0,0,0,0', GOOD.replace('"a"', '"c"')]
    path = train_csv(tmp_path, rows)
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "empty text", "'comment_text'", "data row 2", "'b'")


def test_text_na_is_a_real_comment(tmp_path):
    frame = read_train(train_csv(tmp_path, ['"a","NA",0,0,0,0,0,0', '"b","null",0,0,0,0,0,0']))
    assert frame["comment_text"].tolist() == ["NA", "null"]


def test_missing_row_fields_are_reported(tmp_path):
    path = train_csv(tmp_path, [GOOD, '"b","short row",1'])
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "missing value", "'severe_toxic'", "data row 2", "'b'")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("2", "'2'"), ("-1", "'-1'"), ("0.5", "'0.5'"), ("yes", "non-numeric")],
)
def test_bad_train_label(tmp_path, value, fragment):
    rows = [GOOD, f'"b","x",0,0,0,{value},0,0']
    path = train_csv(tmp_path, rows)
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", fragment, "'threat'", "data row 2", "'b'")


def test_float_zero_one_labels_are_accepted(tmp_path):
    frame = read_train(train_csv(tmp_path, ['"a","x",1.0,0.0,0,0,0,0']))
    assert frame[LABELS].to_numpy().tolist() == [[1, 0, 0, 0, 0, 0]]
    assert frame[LABELS].to_numpy().dtype == np.int64


def test_duplicate_train_id(tmp_path):
    path = train_csv(tmp_path, [GOOD, GOOD])
    with pytest.raises(TextlabError) as err:
        read_train(path)
    assert_one_line(err, "train.csv", "duplicate id", "data row 2", "'a'")


# -- test files -----------------------------------------------------------------------------

LABEL_HEADER = '"id","toxic","severe_toxic","obscene","threat","insult","identity_hate"'


def make_test_files(tmp_path: Path, label_rows: list[str], text_rows: list[str] | None = None):
    texts = write(
        tmp_path / "test.csv",
        "\n".join(['"id","comment_text"', *(text_rows or ['"a","x"', '"b","y"'])]) + "\n",
    )
    labels = write(tmp_path / "test_labels.csv", "\n".join([LABEL_HEADER, *label_rows]) + "\n")
    return texts, labels


def read_test(texts: Path, labels: Path):
    return read_jigsaw_test(texts, labels, "comment_text", LABELS, "id")


def test_test_join_keeps_text_order_and_minus_one(tmp_path):
    texts, labels = make_test_files(tmp_path, ['"b",0,0,0,0,0,1', '"a",-1,-1,-1,-1,-1,-1'])
    frame = read_test(texts, labels)
    assert frame["id"].tolist() == ["a", "b"]
    assert frame[LABELS].to_numpy().tolist() == [[-1] * 6, [0, 0, 0, 0, 0, 1]]


def test_test_label_out_of_range(tmp_path):
    texts, labels = make_test_files(tmp_path, ['"a",0,0,0,0,0,0', '"b",0,2,0,0,0,0'])
    with pytest.raises(TextlabError) as err:
        read_test(texts, labels)
    assert_one_line(err, "test_labels.csv", "'2'", "'severe_toxic'", "data row 2", "'b'")


def test_test_label_non_numeric(tmp_path):
    texts, labels = make_test_files(tmp_path, ['"a",0,0,0,0,0,0', '"b",0,0,0,0,x,0'])
    with pytest.raises(TextlabError) as err:
        read_test(texts, labels)
    assert_one_line(err, "test_labels.csv", "non-numeric", "'insult'", "'b'")


def test_test_ids_without_labels(tmp_path):
    texts, labels = make_test_files(
        tmp_path, ['"a",0,0,0,0,0,0'], text_rows=['"a","x"', '"b","y"', '"c","z"']
    )
    with pytest.raises(TextlabError) as err:
        read_test(texts, labels)
    assert_one_line(err, "test_labels.csv", "test.csv", "2 id(s)", "data row 2", "'b'")


def test_test_text_problems(tmp_path):
    texts, labels = make_test_files(
        tmp_path, ['"a",0,0,0,0,0,0', '"b",0,0,0,0,0,0'], ['"a","x"', '"b",']
    )
    with pytest.raises(TextlabError) as err:
        read_test(texts, labels)
    assert_one_line(err, "test.csv", "empty text", "data row 2", "'b'")


def test_test_labels_missing_column(tmp_path):
    texts = write(tmp_path / "test.csv", '"id","comment_text"\n"a","x"\n')
    labels = write(tmp_path / "test_labels.csv", '"id","toxic"\n"a",0\n')
    with pytest.raises(TextlabError) as err:
        read_test(texts, labels)
    assert_one_line(err, "test_labels.csv", "'obscene'", "data.label_columns", "columns found")
