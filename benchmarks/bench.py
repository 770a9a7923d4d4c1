"""`make bench`: every comparison in one run -> benchmarks/results/bench.{json,md}.

Each configuration runs in its own subprocess (``--one CASE CONFIG``), so its peak RSS is its
own and no case warms another's caches or allocator; the parent only collects and reports.

    python -m benchmarks.bench                      # the full run (about 13 minutes here)
    python -m benchmarks.bench --peer full --peer-seeds 1,2,3   # the peer case on the real job
    python -m benchmarks.bench --backbone tiny_bert --train-steps 2 --peer off --out /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    BenchSettings,
    add_settings_flags,
    peak_rss_mb,
    settings_from_args,
)

RESULT_PREFIX = "BENCH_RESULT "


LOOPS = ("bare", "lightning")
#: every case but the training loops, in order (``plan`` puts the loops after tokenization)
PLAN: list[tuple[str, str]] = [
    ("tokenization", "cold"),
    ("tokenization", "cached"),
    ("padding", "pad_to_max_length"),
    ("padding", "dynamic"),
    ("padding", "dynamic_bucketed"),
    ("export", "onnx"),
    ("inference", "eager_fp32"),
    ("inference", "eager_bf16"),
    ("inference", "onnx_fp32"),
    ("inference", "onnx_int8"),
]


def plan(settings: BenchSettings) -> list[tuple[str, str]]:
    """Every (case, configuration) run, in order; the two training loops alternate."""
    loops = [("loop", loop) for _ in range(settings.loop_repeats) for loop in LOOPS]
    return [*PLAN[:2], *loops, *PLAN[2:]]


def run_one(case: str, config: str, settings: BenchSettings) -> dict[str, Any]:
    """One configuration, in this process."""
    from benchmarks import inference, tokenization, training

    start = time.perf_counter()
    if case == "loop":
        result = training.loop_case(settings, config)
    elif case == "padding":
        result = training.padding_case(settings, config)
    elif case == "tokenization":
        result = tokenization.tokenization_case(settings, config)
    elif case == "export":
        result = inference.export_case(settings)
    elif case == "inference":
        result = inference.inference_case(settings, config)
    else:
        raise ValueError(f"unknown benchmark case {case!r}")
    return {**result, "peak_rss_mb": peak_rss_mb(), "wall_s": time.perf_counter() - start}


def _in_subprocess(case: str, config: str, settings: BenchSettings) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench",
        "--one",
        case,
        config,
        "--settings",
        json.dumps(settings.to_dict()),
    ]
    # idle OpenMP threads sleep instead of spinning: what the service and src.predict set
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if case == "inference" else None
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{case}/{config} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def _best(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A repeated configuration (the two loops, run alternately) keeps its faster run; the
    machine is shared, so the slower run is the one more disturbed by other work. A training
    loop also keeps every run's step times and its ``step_min_samples_per_s``."""
    if "samples_per_s" not in new:
        return new
    if previous is None:
        faster, repeats, step_runs = new, [], []
    else:
        faster = new if new["samples_per_s"] > previous["samples_per_s"] else previous
        repeats, step_runs = previous["repeats"], previous.get("step_runs", [])
    merged = {**faster, "repeats": [*repeats, new["samples_per_s"]]}
    if "step_seconds" in new:
        runs = [*step_runs, new["step_seconds"]]
        merged.update(step_runs=runs, **step_min_throughput(runs, new["batch_size"]))
        merged.pop("step_seconds", None)
    return merged


def step_min_throughput(runs: list[list[float]], batch_size: int) -> dict[str, float]:
    """Samples/s from the fastest time of each step over the runs of one loop.

    Every run of either loop trains on the same batches in the same order, so step ``i``
    costs the same work in all of them; other work on a shared machine only ever adds time,
    so the minimum over runs is the least disturbed measurement of each step. Summed over the
    steps, it compares the two loops on equal terms, where one disturbed stretch of a 20-step
    run would otherwise decide the ratio.

    Example:
        >>> step_min_throughput([[2.0, 3.0], [2.5, 2.0]], batch_size=8)
        {'step_min_samples_per_s': 4.0}
    """
    steps = min(len(r) for r in runs)
    fastest = [min(r[i] for r in runs) for i in range(steps)]
    return {"step_min_samples_per_s": batch_size * steps / sum(fastest)}


def run_peer_case(settings: BenchSettings) -> dict[str, Any] | None:
    """Case 6: the whole default job in textlab, the Hugging Face Trainer and a bare loop
    (``benchmarks.peer``; every system in its own process either way); None when off."""
    if settings.peer == "off":
        return None
    if settings.peer not in ("quick", "full"):
        raise SystemExit(f"--peer must be quick, full or off, got {settings.peer!r}")
    from benchmarks.peer import PeerSettings, run_peer

    print(f"[bench] peer ({settings.peer}) ...", flush=True)
    return run_peer(
        PeerSettings(
            backbone=settings.backbone,
            data=settings.data,
            quick=settings.peer == "quick",
            seeds=settings.peer_seeds,
            batch_size=settings.batch_size,
            precision=settings.precision,
            threads=settings.threads,
            work_dir=str(Path(settings.work_dir) / "peer"),
        )
    )


def run_all(settings: BenchSettings, out_dir: Path, isolate: bool = True) -> dict[str, Any]:
    """Run the plan, write ``bench.json`` and ``bench.md`` into out_dir, return the report."""
    from benchmarks.common import machine
    from benchmarks.report import comparisons, markdown

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for case, config in plan(settings):
        print(f"[bench] {case} / {config} ...", flush=True)
        run = _in_subprocess if isolate else run_one
        result = run(case, config, settings)
        print(f"[bench]   {json.dumps(result, default=str)}", flush=True)
        done = results.setdefault(case, {})
        done[config] = _best(done.get(config), result)
    peer_report = run_peer_case(settings)
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": settings.to_dict(),
        "isolated_processes": isolate,
        "load_average": [load_before, os.getloadavg()[0]],
        "wall_s": time.perf_counter() - start,
        "results": {k: v for k, v in results.items() if k != "export"},
        "onnx_export": results.get("export", {}).get("onnx"),
        "comparisons": comparisons(results),
    }
    if peer_report is not None:
        report["peer"] = peer_report
        report["comparisons"]["peer"] = peer_report["ratios"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out_dir / "bench.md").write_text(markdown(report))
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("CASE", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    add_settings_flags(parser, BenchSettings)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.one:
        settings = BenchSettings(**json.loads(args.settings))
        case, config = args.one
        print(RESULT_PREFIX + json.dumps(run_one(case, config, settings)), flush=True)
        return
    settings = settings_from_args(args, BenchSettings)
    report = run_all(settings, Path(args.out))
    print(json.dumps(report["comparisons"], indent=2), flush=True)


if __name__ == "__main__":
    main()
