"""Inference speed of every backend on the same batches, and which one to serve.

    python -m benchmarks.inference                 # MiniLM, 12 batches of 32 Jigsaw test rows
    python -m benchmarks.inference --run <run folder> --rounds 5

Backends: PyTorch eager fp32 and bf16 autocast (from the run's ``format=hf`` export), ONNX
fp32 as ``python -m src.export`` writes it, the same graph after onnxruntime's transformer
optimizer (fused Attention, SkipLayerNorm, BiasGelu: measured, not exported), and ONNX int8
(``quantize=true``). All run through the predictors the tools use (``src.deploy``), with the
same thread count, on the same padded batches of real Jigsaw test rows, in interleaved rounds
(best round kept: other work on a shared machine only slows a round down). Also: single-text
latency (the service's lone requests), each backend's largest probability change from
PyTorch fp32, its served throughput as a share of its batch throughput, and how far a text's
probabilities move with the other texts of its request (``BATCH_TOLERANCE``).

Writes ``benchmarks/results/inference.{json,md}`` and the record ``backend=auto`` reads
(``.cache/inference_backends.json``: this machine's figures; ``src.deploy.backends``). Without
``--run`` it builds a run of the backbone (pretrained encoder, untrained head: the same speed as
a trained one) under ``--work-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the serving tools run torch

import numpy as np

from benchmarks.common import ROOT, BenchSettings, compose_train_config, use_threads
from src.deploy.backends import (
    BATCH_TOLERANCE,
    MEASURED_FILE,
    ONNX_FP32,
    ONNX_INT8,
    PROB_TOLERANCE,
    PYTORCH_BF16,
    PYTORCH_FP32,
)
from src.deploy.folder import EXPORT_CONFIG, ONNX_FILE, open_export_folder
from src.deploy.predictors import OnnxPredictor, Predictor
from src.runs.provenance import machine

#: measured, but not a backend the tools serve (the export ships the unfused graph)
ONNX_OPTIMIZED = "onnx-fp32-optimized"
BACKENDS = (PYTORCH_FP32, PYTORCH_BF16, ONNX_FP32, ONNX_OPTIMIZED, ONNX_INT8)
#: ``make bench``'s variant names -> backends
VARIANTS = {
    "eager_fp32": PYTORCH_FP32,
    "eager_bf16": PYTORCH_BF16,
    "onnx_fp32": ONNX_FP32,
    "onnx_fp32_optimized": ONNX_OPTIMIZED,
    "onnx_int8": ONNX_INT8,
}
WARMUP_BATCHES = 2
SINGLE_TEXTS = 24


@dataclass
class InferenceSettings:
    backbone: str = "minilm"
    data: str = "jigsaw"
    threads: int = 2
    batch_size: int = 32
    max_length: int = 128
    batches: int = 12
    rounds: int = 3
    run: str = ""
    #: a trained multi-label run: also score each backend on this many of its scored test
    #: rows (0: off; the untrained default run has nothing to score)
    quality_rows: int = 0
    work_dir: str = str(ROOT / ".cache" / "bench")
    out: str = str(ROOT / "benchmarks" / "results")
    record: str = str(MEASURED_FILE)
    #: also serve at these caps of padded tokens per model call (comma-separated, e.g.
    #: "256,1024,4096"): how each backend's served speed depends on the size of its calls
    call_tokens: str = ""


# -- the run and its exports --------------------------------------------------------------------
def build_run(settings: InferenceSettings) -> Path:
    """A run folder of the backbone (pretrained encoder, untrained head) with its checkpoint."""
    import torch

    from src.config import build, build_datamodule
    from src.runs.provenance import write_resolved_config

    bench = BenchSettings(
        backbone=settings.backbone, data=settings.data, work_dir=settings.work_dir
    )
    cfg = compose_train_config(
        bench, f"data.max_length={settings.max_length}", "logger=none", "data.max_test_rows=64"
    )
    run_dir = Path(settings.work_dir) / f"inference-run-{settings.backbone}-{settings.max_length}"
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    model = build(cfg.model, label_names=datamodule.label_names)
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    hyper = {"label_names": list(model.label_names)}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hyper}, ckpt)
    write_resolved_config(cfg, run_dir)
    return run_dir


def ensure_exports(run_dir: Path) -> tuple[Path, Path]:
    """The run's ``export/onnx`` (with int8) and ``export/hf``, exported if missing."""
    from src.deploy.exporter import export_run

    onnx, hf = run_dir / "export" / "onnx", run_dir / "export" / "hf"
    config = onnx / EXPORT_CONFIG
    if not config.is_file() or "int8" not in json.loads(config.read_text())["model_files"]:
        export_run(run_dir, "onnx", onnx, quantize=True, eval_max_rows=64)
    if not (hf / EXPORT_CONFIG).is_file():
        export_run(run_dir, "hf", hf)
    return onnx, hf


def optimized_copy(onnx_dir: Path, work: Path) -> tuple[Path, dict[str, int]]:
    """The export with ``model.onnx`` run through onnxruntime's transformer optimizer; returns
    the folder and the fused operators it counted."""
    from onnxruntime.transformers.optimizer import optimize_model

    folder = open_export_folder(onnx_dir, verify=False)
    encoder_config = json.loads((onnx_dir.parent / "hf" / "config.json").read_text())
    heads = encoder_config.get("num_attention_heads") or encoder_config.get("n_heads", 0)
    hidden = encoder_config.get("hidden_size") or encoder_config.get("dim", 0)
    out = work / "onnx-optimized"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(folder.path, out)
    optimized = optimize_model(
        str(onnx_dir / ONNX_FILE), model_type="bert", num_heads=heads, hidden_size=hidden
    )
    optimized.save_model_to_file(str(out / ONNX_FILE))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    return out, fused


def load_backends(
    onnx_dir: Path, optimized_dir: Path | None, threads: int, batch_size: int, only: list[str]
) -> dict[str, Predictor]:
    """The predictors the tools use, onnxruntime on the same thread count as torch."""
    from src.deploy.torch_predictors import TorchPredictor

    hf = open_export_folder(onnx_dir.parent / "hf")
    onnx = open_export_folder(onnx_dir)
    makers: dict[str, Callable[[], Predictor]] = {
        PYTORCH_FP32: lambda: TorchPredictor.from_export(hf, "fp32", batch_size),
        PYTORCH_BF16: lambda: TorchPredictor.from_export(hf, "bf16", batch_size),
        ONNX_FP32: lambda: OnnxPredictor(onnx, "fp32", batch_size, threads=threads),
        ONNX_INT8: lambda: OnnxPredictor(onnx, "int8", batch_size, threads=threads),
    }
    if optimized_dir is not None:  # made when ONNX_OPTIMIZED is asked for
        makers[ONNX_OPTIMIZED] = lambda: OnnxPredictor(
            open_export_folder(optimized_dir, verify=False), "fp32", batch_size, threads=threads
        )
    return {name: makers[name]() for name in BACKENDS if name in only}


def test_texts(settings: InferenceSettings, count: int) -> list[str]:
    """The first ``count`` texts of the data set's test split (real Jigsaw comments)."""
    from src.config import build_datamodule

    bench = BenchSettings(
        backbone=settings.backbone, data=settings.data, work_dir=settings.work_dir
    )
    cfg = compose_train_config(bench, f"data.max_length={settings.max_length}", "logger=none")
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    texts = list(datamodule.raw_split("test").texts)
    return (texts * (count // max(1, len(texts)) + 1))[:count]


# -- timing -------------------------------------------------------------------------------------
def time_batches(predictor: Predictor, batches: list[dict[str, np.ndarray]]) -> float:
    """Samples per second over the batches (model calls only, inputs already padded)."""
    start = time.perf_counter()
    rows = 0
    for batch in batches:
        predictor.logits(batch["input_ids"], batch["attention_mask"])
        rows += len(batch["input_ids"])
    return rows / (time.perf_counter() - start)


def served_texts_per_s(predictor: Predictor, texts: list[str], per_request: int = 16) -> float:
    """Texts per second through ``predict`` in requests of ``per_request`` texts: what the
    service does with a request (tokenise, batch by length, run, format)."""
    start = time.perf_counter()
    for i in range(0, len(texts), per_request):
        predictor.predict(texts[i : i + per_request])
    return len(texts) / (time.perf_counter() - start)


def within_tolerance(result: dict[str, Any]) -> bool:
    """A backend's probabilities lay within ``PROB_TOLERANCE`` of fp32's (or were not
    compared): ``backend=auto`` may serve it."""
    return (result["max_abs_prob_diff_vs_fp32"] or 0.0) <= PROB_TOLERANCE


def batch_mate_drift(predictor: Predictor, texts: list[str], per_request: int = 16) -> float:
    """The largest change of a text's probability between its ``per_request``-text request and
    a request of its own: what its batch-mates do to it."""
    together = np.concatenate(
        [
            predictor.predict_probs(texts[i : i + per_request])
            for i in range(0, len(texts), per_request)
        ]
    )
    alone = np.stack([predictor.predict_probs([text])[0] for text in texts])
    return float(np.abs(together - alone).max())


def served_by_call_tokens(
    predictors: dict[str, Predictor], texts: list[str], caps: str, rounds: int
) -> dict[str, dict[str, float]]:
    """backend -> {cap: served texts/s} with model calls of at most ``cap`` padded tokens
    (best of ``rounds``); each predictor's own cap is restored afterwards."""
    tokens = [int(cap) for cap in str(caps).split(",") if cap.strip()]
    out: dict[str, dict[str, float]] = {}
    for name, predictor in predictors.items():
        own = predictor.max_batch_tokens
        try:
            for cap in tokens:
                predictor.max_batch_tokens = cap
                speeds = [served_texts_per_s(predictor, texts) for _ in range(rounds)]
                out.setdefault(name, {})[str(cap)] = max(speeds)
        finally:
            predictor.max_batch_tokens = own
    return out


def single_text_ms(predictor: Predictor, texts: list[str]) -> float:
    """Median milliseconds to predict one text (tokenising and formatting included)."""
    times = []
    for text in texts:
        start = time.perf_counter()
        predictor.predict([text])
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def measure(settings: InferenceSettings, only: list[str] | None = None) -> dict[str, Any]:
    """Time ``only`` these backends (default: all; ``make bench`` measures one per process, so
    that its peak RSS is its own)."""
    use_threads(settings.threads)
    run_dir = Path(settings.run) if settings.run else build_run(settings)
    onnx_dir, _ = ensure_exports(run_dir)
    only = list(only or BACKENDS)
    optimized_dir: Path | None = None
    fused: dict[str, int] = {}
    if ONNX_OPTIMIZED in only:
        optimized_dir, fused = optimized_copy(onnx_dir, Path(settings.work_dir))
    predictors = load_backends(onnx_dir, optimized_dir, settings.threads, settings.batch_size, only)
    encoder = next(iter(predictors.values())).encoder
    count = (WARMUP_BATCHES + settings.batches) * settings.batch_size
    texts = test_texts(settings, count + SINGLE_TEXTS)
    ids = encoder.token_ids(texts[:count])
    batches = [
        encoder.pad(ids[i : i + settings.batch_size]) for i in range(0, count, settings.batch_size)
    ]
    warmup, timed = batches[:WARMUP_BATCHES], batches[WARMUP_BATCHES:]
    singles = texts[count:]

    def probabilities(predictor: Predictor) -> list[np.ndarray]:
        return [
            predictor.output.probabilities(predictor.logits(b["input_ids"], b["attention_mask"]))
            for b in timed[:2]
        ]

    for predictor in predictors.values():
        for batch in warmup:
            predictor.logits(batch["input_ids"], batch["attention_mask"])
    reference = probabilities(predictors[PYTORCH_FP32]) if PYTORCH_FP32 in predictors else None
    drift: dict[str, float | None] = {}
    for name, predictor in predictors.items():
        if reference is None:
            drift[name] = None
            continue
        got = probabilities(predictor)
        drift[name] = float(max(np.abs(p - e).max() for p, e in zip(got, reference, strict=True)))
    mates = {name: batch_mate_drift(predictor, singles) for name, predictor in predictors.items()}

    load_before = os.getloadavg()[0]
    rounds: dict[str, list[float]] = {name: [] for name in predictors}
    served: dict[str, list[float]] = {name: [] for name in predictors}
    latency: dict[str, list[float]] = {name: [] for name in predictors}
    requests = texts[: settings.batches * settings.batch_size]
    for index in range(settings.rounds):
        order = list(predictors) if index % 2 == 0 else list(predictors)[::-1]
        for name in order:
            rounds[name].append(time_batches(predictors[name], timed))
            served[name].append(served_texts_per_s(predictors[name], requests))
            latency[name].append(single_text_ms(predictors[name], singles))
        print(f"[inference] round {index + 1}: " + ", ".join(
            f"{n} {rounds[n][-1]:.1f}/s" for n in predictors
        ), flush=True)  # fmt: skip
    by_call = served_by_call_tokens(predictors, requests, settings.call_tokens, settings.rounds)
    load_after = os.getloadavg()[0]
    scored = quality(predictors, run_dir, settings.quality_rows) if settings.quality_rows else None

    base = max(rounds[PYTORCH_FP32]) if PYTORCH_FP32 in rounds else None
    results: dict[str, dict[str, Any]] = {
        name: {
            "samples_per_s": max(rounds[name]),
            "rounds": [round(r, 2) for r in rounds[name]],
            "served_texts_per_s": max(served[name]),
            "served_vs_batch": max(served[name]) / max(rounds[name]),
            "max_batch_tokens": predictors[name].max_batch_tokens,
            "vs_pytorch_fp32": max(rounds[name]) / base if base else None,
            "single_text_ms": min(latency[name]),
            "max_abs_prob_diff_vs_fp32": drift[name],
            "max_abs_prob_diff_batch_mates": mates[name],
            "served_by_call_tokens": by_call.get(name, {}),
        }
        for name in predictors
    }
    # the servable backends measured here within the tolerance: what `backend=auto` ranks
    servable = {
        n: r["served_texts_per_s"]
        for n, r in results.items()
        if n != ONNX_OPTIMIZED and within_tolerance(r)
    }
    fastest = max(servable, key=servable.__getitem__)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.inference " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "versions": versions(),
        "settings": settings.__dict__,
        "batch_widths": [int(b["input_ids"].shape[1]) for b in timed],
        "load_average": [load_before, load_after],
        "optimizer_fused": fused,
        "results": results,
        "quality": scored,
        "fastest": fastest,
        "use": fastest,
    }


def quality(predictors: dict[str, Predictor], run_dir: Path, rows: int) -> dict[str, Any]:
    """Each backend's macro AUC on the run's scored test rows and how many thresholded label
    decisions differ from PyTorch fp32's (multi-label runs)."""
    from src.config import build
    from src.deploy.exporter import scored_test_rows
    from src.runs.loading import load_run_config, resolve_checkpoint
    from src.tasks.multilabel.metrics import multilabel_scores

    cfg = load_run_config(resolve_checkpoint(run_dir))
    texts, targets = scored_test_rows(cfg.data, build(cfg.backbone.tokenizer), rows)
    reference = predictors[PYTORCH_FP32]
    names, cuts = reference.label_names, np.asarray(reference.labels.thresholds, np.float32)
    probs = {name: predictor.predict_probs(texts) for name, predictor in predictors.items()}
    out: dict[str, Any] = {"rows": len(texts)}
    for name, p in probs.items():
        scores = multilabel_scores(p, targets, names, threshold=list(cuts))
        out[name] = {
            "auc_macro": scores["auc_macro"],
            "decisions_changed_vs_fp32": int(((p >= cuts) != (probs[PYTORCH_FP32] >= cuts)).sum()),
            "decisions": int(p.size),
        }
    return out


def versions() -> dict[str, str]:
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


# -- reporting ----------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"Inference, {report['date']}: `{report['command'].strip()}`",
        "",
        f"{report['machine']['cpu']}, {report['machine']['cores']} cores, {s['threads']} threads; "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        + f"; {s['backbone']}, {s['batches']} timed batches of {s['batch_size']} {s['data']} "
        f"test rows (max_length {s['max_length']}, mean width "
        f"{np.mean(report['batch_widths']):.0f}), best of {s['rounds']} interleaved rounds; "
        f"1-min load average {report['load_average'][0]:.1f} before, "
        f"{report['load_average'][1]:.1f} after.",
        "",
        "| backend | samples/s, batches of 32 | vs PyTorch fp32 | all rounds "
        "| served texts/s, 16-text requests | served / batch | single text ms (p50) "
        "| max abs prob diff vs fp32 | max abs prob diff from batch-mates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        vs_fp32 = r["max_abs_prob_diff_vs_fp32"]
        lines.append(
            f"| {name} | {r['samples_per_s']:.1f} | {r['vs_pytorch_fp32']:.2f}x | "
            f"{', '.join(f'{x:.1f}' for x in r['rounds'])} | {r['served_texts_per_s']:.1f} | "
            f"{r['served_vs_batch']:.2f} | {r['single_text_ms']:.1f} | "
            f"{'-' if vs_fp32 is None else f'{vs_fp32:.1e}'} | "
            f"{r['max_abs_prob_diff_batch_mates']:.1e} |"
        )
    lines += [
        "",
        f"Tolerances (`src.deploy.backends`): {PROB_TOLERANCE} from fp32 (`auto` leaves out a "
        f"backend beyond it), {BATCH_TOLERANCE} from batch-mates.",
    ]
    caps = list(next(iter(report["results"].values())).get("served_by_call_tokens") or {})
    if caps:
        lines += [
            "",
            "Served texts/s (16-text requests) by the padded tokens a model call holds at most "
            "(each backend's own cap: "
            + ", ".join(f"{n} {r['max_batch_tokens']}" for n, r in report["results"].items())
            + "):",
            "",
            "| backend | " + " | ".join(f"{c} tokens" for c in caps) + " |",
            "|---|" + "---|" * len(caps),
        ]
        for name, r in report["results"].items():
            speeds = r["served_by_call_tokens"]
            lines.append(f"| {name} | " + " | ".join(f"{speeds[c]:.1f}" for c in caps) + " |")
    if report.get("quality"):
        q = report["quality"]
        lines += [
            "",
            f"On {q['rows']} scored test rows of the run (its thresholds):",
            "",
            "| backend | macro AUC | thresholded decisions changed vs PyTorch fp32 |",
            "|---|---|---|",
        ]
        for name in report["results"]:
            r = q[name]
            changed = f"{r['decisions_changed_vs_fp32']} of {r['decisions']}"
            lines.append(f"| {name} | {r['auc_macro']:.4f} | {changed} |")
    fused = ", ".join(f"{v} {k}" for k, v in report["optimizer_fused"].items())
    lines += [
        "",
        f"Optimizer fused: {fused or 'nothing'}. Fastest served backend (served texts/s): "
        f"**{report['use']}**, what `backend=auto` picks on this machine.",
    ]
    return "\n".join(lines) + "\n"


def write_record(report: dict[str, Any], path: Path) -> None:
    """What ``backend=auto`` reads: this machine, its servable backends' served texts/s, and
    those whose probabilities lay beyond ``PROB_TOLERANCE`` from fp32's (never chosen)."""
    results = {n: r for n, r in report["results"].items() if n != ONNX_OPTIMIZED}
    record = {
        "machine": report["machine"],
        "date": report["date"],
        "command": report["command"],
        "served_texts_per_s": {n: r["served_texts_per_s"] for n, r in results.items()},
        "outside_tolerance": {
            n: r["max_abs_prob_diff_vs_fp32"] for n, r in results.items() if not within_tolerance(r)
        },
        "fastest": report["use"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


# -- make bench ---------------------------------------------------------------------------------
def _settings_of(bench: BenchSettings) -> InferenceSettings:
    return InferenceSettings(
        backbone=bench.backbone,
        data=bench.data,
        threads=bench.threads,
        batch_size=bench.batch_size,
        max_length=bench.infer_max_length,
        batches=bench.infer_batches,
        rounds=1,
        work_dir=bench.work_dir,
    )


def export_case(settings: BenchSettings) -> dict[str, Any]:
    """``make bench``: build the run and its exports once (not a measurement)."""
    run_dir = build_run(_settings_of(settings))
    onnx_dir, _ = ensure_exports(run_dir)
    sizes = {p.name: round(p.stat().st_size / 2**20, 1) for p in onnx_dir.glob("*.onnx")}
    return {"file_mb": sizes, "run": str(run_dir)}


def inference_case(settings: BenchSettings, variant: str) -> dict[str, Any]:
    """``make bench``: ``all`` (every backend, interleaved) or one variant's samples/s."""
    inference = _settings_of(settings)
    inference.run = str(Path(settings.work_dir) / f"inference-run-{settings.backbone}-"
                        f"{settings.infer_max_length}")  # fmt: skip
    if not (Path(inference.run) / "export" / "hf" / EXPORT_CONFIG).is_file():
        inference.run = ""
    if variant == "all":
        return measure(inference)
    report = measure(inference, [VARIANTS[variant]])
    result = report["results"][VARIANTS[variant]]
    return {**result, "timed_batches": settings.infer_batches}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in InferenceSettings().__dict__.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    settings = InferenceSettings(**vars(parser.parse_args(argv)))
    report = measure(settings)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inference.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "inference.md").write_text(markdown(report))
    if settings.record:
        write_record(report, Path(settings.record))
    print(markdown(report))
    print(f"written: {out / 'inference.md'}, {out / 'inference.json'}, {settings.record}")


if __name__ == "__main__":
    main()
