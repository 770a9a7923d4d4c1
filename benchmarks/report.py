"""Turn the per-configuration results into ratios against the speed goals, as JSON + markdown."""

from __future__ import annotations

from typing import Any


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _at_least(ratio: float | None, goal: float) -> bool:
    """False, not a TypeError, where a ratio could not be computed (a missing or zero run)."""
    return ratio is not None and ratio >= goal


def comparisons(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The headline ratio of each comparison and whether it meets its goal."""
    out: dict[str, dict[str, Any]] = {}
    loop = results.get("loop", {})
    if {"lightning", "bare"} <= loop.keys():
        # per-step minimum over the runs when both loops have it (benchmarks.bench: the fair
        # figure on a shared machine); else each loop's fastest run
        key = "step_min_samples_per_s"
        if not all(key in loop[k] for k in ("lightning", "bare")):
            key = "samples_per_s"
        ratio = _ratio(loop["lightning"][key], loop["bare"][key])
        best_runs = _ratio(loop["lightning"]["samples_per_s"], loop["bare"]["samples_per_s"])
        out["lightning_vs_bare"] = {
            "ratio": ratio,
            "measure": key,
            "fastest_runs_ratio": best_runs,
            "goal": ">= 0.95",
            "met": _at_least(ratio, 0.95),
        }
    padding = results.get("padding", {})
    if {"pad_to_max_length", "dynamic_bucketed"} <= padding.keys():
        base = padding["pad_to_max_length"]["epoch_s_extrapolated"]
        speedup = {k: _ratio(base, v["epoch_s_extrapolated"]) for k, v in padding.items()}
        out["padding_speedup_vs_pad_to_max"] = {
            **speedup,
            "goal": "dynamic_bucketed >= 2",
            "met": _at_least(speedup["dynamic_bucketed"], 2),
        }
    tokens = results.get("tokenization", {})
    if {"cold", "cached"} <= tokens.keys():
        prep = _ratio(tokens["cached"]["prepare_data_s"], tokens["cold"]["prepare_data_s"])
        step = _ratio(tokens["cached"]["tokenize_s"], tokens["cold"]["tokenize_s"])
        out["cached_vs_cold"] = {
            "prepare_data": prep,
            "tokenize_step": step,
            "goal": "prepare_data < 0.05",
            "met": prep is not None and prep < 0.05,
        }
    infer = results.get("inference", {})
    if "eager_fp32" in infer:
        base = infer["eager_fp32"]["samples_per_s"]
        out["inference_speedup_vs_eager_fp32"] = {
            k: _ratio(v["samples_per_s"], base) for k, v in infer.items()
        }
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The tables of bench.md (and of the README), one per comparison."""
    res, cmp, s, m = (report[k] for k in ("results", "comparisons", "settings", "machine"))
    lines = [
        "# textlab benchmarks",
        "",
        f"Machine: {m['cpu_model']}, nproc {m['nproc']}, torch {m['torch']}, "
        f"{s['threads']} threads, backbone {s['backbone']}, batch {s['batch_size']}, "
        f"training precision {s['precision']}. Load average (1 min) before/after: "
        f"{_fmt(report['load_average'][0])}/{_fmt(report['load_average'][1])}. "
        f"Total wall time {report['wall_s']:.0f} s. Peak RSS: one subprocess per row.",
    ]
    loop = res.get("loop", {})
    if loop:
        c = cmp.get("lightning_vs_bare", {})
        lines += [
            "",
            f"## 1. Training loop ({s['warmup_steps']} warm-up + {s['train_steps']} "
            f"timed steps, max_length {s['train_max_length']}, dynamic padding)",
            "",
        ]
        lines += _table(
            [
                "loop",
                "samples/s, per-step minimum",
                "samples/s (best run)",
                "all runs",
                "peak RSS MB",
            ],
            [
                [
                    k,
                    v.get("step_min_samples_per_s"),
                    v["samples_per_s"],
                    ", ".join(f"{x:.2f}" for x in v["repeats"]),
                    v["peak_rss_mb"],
                ]
                for k, v in loop.items()
            ],
        )
        lines += [
            "",
            f"Lightning / bare = **{_fmt(c.get('ratio'), 3)}** (goal >= 0.95; from "
            f"{c.get('measure')}; fastest whole runs: {_fmt(c.get('fastest_runs_ratio'), 3)}). "
            "Per-step minimum: each step's fastest time over the runs of a loop (all runs train "
            "on the same batches), summed.",
        ]
    pad = res.get("padding", {})
    if pad:
        c = cmp.get("padding_speedup_vs_pad_to_max", {})
        lines += [
            "",
            f"## 2. Padding at max_length {s['padding_max_length']} (epoch time "
            f"extrapolated from {s['padding_batches']} timed batches per strategy)",
            "",
        ]
        lines += _table(
            [
                "strategy",
                "padded tokens",
                "mean width",
                "epoch s (extrap.)",
                "speedup",
                "peak RSS MB",
            ],
            [
                [
                    k,
                    f"{v['padded_fraction']:.1%}",
                    v["mean_batch_width"],
                    v["epoch_s_extrapolated"],
                    c.get(k),
                    v["peak_rss_mb"],
                ]
                for k, v in pad.items()
            ],
        )
        lines += [
            "",
            f"Bucketing vs pad-to-max: **{_fmt(c.get('dynamic_bucketed'))}x** (goal >= 2).",
        ]
    tok = res.get("tokenization", {})
    if tok:
        c = cmp.get("cached_vs_cold", {})
        lines += [
            "",
            f"## 3. Data preparation, Jigsaw train + test files (max_length "
            f"{s['padding_max_length']})",
            "",
        ]
        lines += _table(
            ["token cache", "prepare_data s", "of which tokenise s", "rows", "peak RSS MB"],
            [
                [k, v["prepare_data_s"], v["tokenize_s"], v["rows"], v["peak_rss_mb"]]
                for k, v in tok.items()
            ],
        )
        lines += [
            "",
            f"Cached / cold: prepare_data **{_fmt(c.get('prepare_data'), 3)}** "
            f"(goal < 0.05), token step alone {_fmt(c.get('tokenize_step'), 3)}.",
        ]
    inf = res.get("inference", {})
    if inf:
        c = cmp.get("inference_speedup_vs_eager_fp32", {})
        lines += [
            "",
            f"## 4. Inference ({s['infer_batches']} timed batches of "
            f"{s['batch_size']} Jigsaw test rows, max_length {s['infer_max_length']})",
            "",
        ]
        lines += _table(
            ["variant", "samples/s", "vs eager fp32", "peak RSS MB"],
            [[k, v["samples_per_s"], c.get(k), v["peak_rss_mb"]] for k, v in inf.items()],
        )
    lines += [
        "",
        "## 5. Peak memory",
        "",
        "The peak RSS column of each table above "
        "(`resource.getrusage(RUSAGE_SELF).ru_maxrss` of that configuration's process).",
    ]
    if report.get("peer"):
        from benchmarks.peer import markdown as peer_markdown

        lines += ["", *peer_markdown(report["peer"])]
    return "\n".join(lines) + "\n"
