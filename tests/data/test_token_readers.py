"""Readers of token data on real excerpts: VUA (CRLF, latin-1 bytes) and WNUT-17 (TAB breaks)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from src.data.context import attach_context
from src.data.readers.conll import read_conll
from src.data.readers.tagged import TaggedSentence
from src.data.readers.vua import read_vua_split
from src.errors import TextlabError
from tests.conftest import ROOT

# Three rows of VUA_seq_formatted_train.csv as stored: CRLF line ends; the third holds the
# legacy single-byte sequence (not valid UTF-8) that breaks a plain utf-8 read.
VUA_EXCERPT = (
    b"txt_id,sen_ix,sentence,label_seq,pos_seq,labeled_sentence,genre\r\n"
    b'a1k-fragment02,41,Ca n\'t fail to be entertaining .,"[0, 0, 0, 0, 0, 0, 0]",'
    b"\"['VERB', 'ADV', 'VERB', 'PART', 'VERB', 'ADJ', 'PUNCT']\","
    b"Ca n't fail to be entertaining .,news\r\n"
    b'fet-fragment01,70,"He also quoted Mallarm\x92\x91\xce\xa9 "" I think that there should be'
    b" only allusion\",\"[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\",\"['PRON', 'ADV', 'VERB', "
    b"'PROPN', 'PUNCT', 'PRON', 'VERB', 'ADP', 'ADV', 'VERB', 'VERB', 'ADV', 'NOUN']\","
    b'"He also quoted Mallarm\xcc\xa9 "" I think that there should be only allusion",fiction\r\n'
    b"fef-fragment03,665,Equation 3.21 ) is known as Amp\xcc\xce\xe5\xc2re 's law .,"
    b"\"[0, 0, 0, 0, 0, 0, 0, 0, 1, 0]\",\"['NOUN', 'NUM', 'PUNCT', 'VERB', 'VERB', 'ADP', "
    b"'NOUN', 'PART', 'NOUN', 'PUNCT']\",Equation 3.21 ) is known as Amp\xcc\xacre 's M_law .,"
    b"academic\r\n"
)

# The first lines of wnut17train.conll: sentence breaks are a single TAB ("\t\n").
WNUT_EXCERPT = (
    "@paulwalk\tO\nIt\tO\n's\tO\nthe\tO\nview\tO\nfrom\tO\nwhere\tO\nI\tO\n'm\tO\nliving\tO\n"
    "for\tO\ntwo\tO\nweeks\tO\n.\tO\nEmpire\tB-location\nState\tI-location\n"
    "Building\tI-location\n=\tO\nESB\tB-location\n.\tO\nPretty\tO\nbad\tO\nstorm\tO\n"
    "here\tO\nlast\tO\nevening\tO\n.\tO\n\t\nFrom\tO\nGreen\tO\n\nIt\tO\n"
)


def test_vua_excerpt_crlf_and_latin1(tmp_path: Path) -> None:
    path = tmp_path / "vua.csv.gz"
    path.write_bytes(gzip.compress(VUA_EXCERPT))
    rows = read_vua_split(path)
    assert [len(r.words) for r in rows] == [7, 13, 10]
    assert rows[0] == TaggedSentence(
        ["Ca", "n't", "fail", "to", "be", "entertaining", "."],
        ["0"] * 7,
        document="a1k-fragment02",
        order=(41, ""),
    )
    assert rows[1].words[3] == "Mallarm\x92\x91\xce\xa9"  # latin-1, one word, not split
    assert rows[1].words[4] == '"'  # the CSV-escaped quote is a word of its own
    assert rows[2].tags == ["0"] * 8 + ["1", "0"] and rows[2].words[8] == "law"
    assert not any(w.endswith("\r") for r in rows for w in r.words)  # CRLF fully stripped


def test_vua_test_file_double_encoded_quote_is_repaired(tmp_path: Path) -> None:
    """A real VUA test row: valid UTF-8, but `sentence` has the curly quote encoded twice."""
    path = tmp_path / "test.csv"
    path.write_bytes(
        VUA_EXCERPT.split(b"\r\n")[0] + b"\r\n"
        b'ccw-fragment04,2034,\xc3\xa2\xc2\x80\xc2\x98 Want some ?,"[0, 0, 0, 0]",'
        b"\"['NOUN', 'VERB', 'DET', 'PUNCT']\",\xe2\x80\x98 Want some ?,fiction\r\n"
    )
    (row,) = read_vua_split(path)
    assert row.words == ["\u2018", "Want", "some", "?"]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (b'x,1,a b c,"[0, 1]",p,a b c,news', r"line 3: 2 labels for 3 words"),
        (b'x,1,a b,"[0, 2]",p,a b,news', r"line 3: label_seq must be a list of 0/1"),
        (b'x,1,a b,"[0, 1",p,a b,news', r"line 3: label_seq '\[0, 1' is not a list"),
        (b"x,1,a b,p,a b,news", r"line 3 has 6 fields, the header 7"),
        (b'x,one,a b,"[0, 1]",p,a b,news', r"line 3: sen_ix 'one' is not a sentence number"),
    ],
)
def test_vua_malformed_lines_name_file_and_line(tmp_path: Path, bad_row: bytes, message: str):
    path = tmp_path / "bad.csv"
    lines = VUA_EXCERPT.split(b"\r\n")
    path.write_bytes(b"\r\n".join([*lines[:2], bad_row]) + b"\r\n")
    with pytest.raises(TextlabError, match=rf"bad.csv: {message}"):
        read_vua_split(path)


def test_vua_missing_columns_and_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("txt_id,text\nx,a b\n")
    with pytest.raises(TextlabError, match=r"missing column\(s\) \['sentence', 'label_seq'\]"):
        read_vua_split(path)
    with pytest.raises(TextlabError, match="VUA file .*nope.csv not found"):
        read_vua_split(tmp_path / "nope.csv")


def test_context_is_the_sentences_before_in_the_same_text_over_all_splits(tmp_path: Path) -> None:
    """Validation sentences are scattered among training ones of the same texts (Gao et al.'s
    split): a sentence's context comes from whichever split holds the sentence before it."""

    def row(document: str, order: tuple[int, str], word: str) -> TaggedSentence:
        return TaggedSentence([word], ["0"], document=document, order=order)

    train = [row("a", (3, ""), "a3"), row("a", (1, ""), "a1"), row("b", (1, ""), "b1")]
    val = [row("a", (2, ""), "a2"), row("a", (3, "a"), "a3a")]
    test = [row("c", (7, ""), "c7")]
    attach_context({"train": train, "val": val, "test": test}, 2, tmp_path / "train.csv")
    assert [r.context for r in train] == [["a1", "a2"], [], []]
    assert [r.context for r in val] == [["a1"], ["a2", "a3"]]  # 3a comes after 3
    assert test[0].context == []  # the first sentence of its text
    attach_context({"train": train, "val": val, "test": test}, 1, tmp_path / "train.csv")
    assert train[0].context == ["a2"]


def test_context_needs_placed_sentences(tmp_path: Path) -> None:
    (tmp_path / "t.conll").write_text(WNUT_EXCERPT)
    rows = read_conll(tmp_path / "t.conll")
    with pytest.raises(TextlabError, match="t.conll: data.context_sentences needs .*txt_id"):
        attach_context({"train": rows}, 1, tmp_path / "t.conll")


def test_conll_tab_only_lines_break_sentences(tmp_path: Path) -> None:
    path = tmp_path / "wnut.conll"
    path.write_text(WNUT_EXCERPT)
    rows = read_conll(path)
    assert [len(r.words) for r in rows] == [27, 2, 1]
    assert rows[0].words[14:17] == ["Empire", "State", "Building"]
    assert rows[0].tags[14:17] == ["B-location", "I-location", "I-location"]
    assert rows[1] == TaggedSentence(["From", "Green"], ["O", "O"])


def test_conll_space_columns_and_docstart(tmp_path: Path) -> None:
    path = tmp_path / "conll2003.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path) == [TaggedSentence(["EU", "rejects"], ["B-ORG", "O"])]


def test_conll_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text("a\tO\nb\tO\n\nlonely\n")
    with pytest.raises(TextlabError, match=r"bad.conll: line 4 is not 'word<TAB>tag'"):
        read_conll(path)
    (tmp_path / "empty.conll").write_text("\t\n\n")
    with pytest.raises(TextlabError, match="no sentences found"):
        read_conll(tmp_path / "empty.conll")


def test_shipped_wnut17_matches_its_published_counts() -> None:
    counts = {
        "wnut17train.conll.gz": (3394, 62730, 1975),
        "emerging.dev.conll.gz": (1009, 15733, 836),
        "emerging.test.annotated.gz": (1287, 23394, 1079),
    }
    for name, expected in counts.items():
        rows = read_conll(ROOT / "data" / "wnut17" / name)
        mentions = sum(t.startswith("B-") for r in rows for t in r.tags)
        assert (len(rows), sum(len(r.words) for r in rows), mentions) == expected, name


def test_real_vua_split_counts(external_data_dir: Path) -> None:
    """SOURCE.md's counts: sentences, tokens, metaphor tokens per split."""
    counts = {
        "train": (6323, 116622, 13051),
        "val": (1550, 38628, 4487),
        "test": (2694, 50175, 6243),
    }
    for split, expected in counts.items():
        path = external_data_dir / "vua-metaphor-seq" / f"VUA_seq_formatted_{split}.csv.gz"
        rows = read_vua_split(path)
        metaphors = sum(t == "1" for r in rows for t in r.tags)
        assert (len(rows), sum(len(r.words) for r in rows), metaphors) == expected, split
