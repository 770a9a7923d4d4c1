"""The default training job three ways: textlab, the Hugging Face Trainer, a bare PyTorch loop.

Every system trains the same rows (the DataModule's own train / validation hold-out / test
splits of the composed config, so the hold-out and the test rows are identical), with the same
recipe: max_length, batch size, epochs, AdamW at the config's learning rate and weight decay,
linear warm-up (the config's ratio) then linear decay, gradient clipping, bf16 autocast on the
CPU, the best epoch chosen by validation macro AUC and tested. Each system runs in its own
process; its wall time is that process's, start-up included.

- ``textlab``: ``python -m src.train`` with the config (thresholds, calibration, plots and
  statistics included, as ``make train`` runs them), timed inside by ``benchmarks.fit_timer``;
- ``hf_trainer``: ``transformers.Trainer`` over ``AutoModelForSequenceClassification`` of the
  same backbone (``problem_type=multi_label_classification``), ``DataCollatorWithPadding``,
  ``eval_strategy=epoch``, ``metric_for_best_model``, ``load_best_model_at_end``; the Trainer's
  own defaults otherwise (its AdamW, its linear schedule, checkpoints every epoch);
- ``bare``: a plain loop over textlab's model (the same model, prior bias, optimizer groups
  and schedule as ``src.train``), keeping the best epoch's weights in memory.

The test macro AUC of every system is computed by the project's ``multilabel_scores`` on its
test probabilities, so the three are scored alike. Systems alternate within each seed (the
order rotates from seed to seed) and the load average is recorded around every run.

    python -m benchmarks.peer --quick                # one short epoch per system (a few minutes)
    python -m benchmarks.peer                        # the default job (MiniLM, 4 epochs, seq 128)
    python -m benchmarks.peer --seeds 1,2,3,4,5      # several seeds, means and spreads
    python -m benchmarks.peer --rows benchmarks/rows/peer_2026-12-07.jsonl   # re-render rows
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    BenchSettings,
    add_settings_flags,
    compose_train_config,
    peak_rss_mb,
    settings_from_args,
)

SYSTEMS = ("textlab", "hf_trainer", "bare")
RESULT = "PEER_RESULT "
#: what --quick changes: sized for about 3 minutes for all three on an idle 2-core machine
#: (10-11 minutes per seed measured on a busy one: benchmarks/README.md)
QUICK = {"max_length": 64, "epochs": 1, "max_train_rows": 640, "max_test_rows": 320}


@dataclass
class PeerSettings:
    """One peer run; 0 keeps the config's value (``quick``: the values of ``QUICK``)."""

    backbone: str = "minilm"
    data: str = "jigsaw"
    quick: bool = False
    #: comma-separated seeds; each runs every system once
    seeds: str = "42"
    systems: str = ",".join(SYSTEMS)
    max_length: int = 0
    epochs: int = 0
    max_train_rows: int = 0
    max_test_rows: int = 0
    batch_size: int = 32
    precision: str = "bf16-mixed"
    threads: int = 2
    timeout_s: int = 3600
    work_dir: str = str(ROOT / ".cache" / "bench" / "peer")

    def resolved(self) -> PeerSettings:
        """The quick sizes filled in where the settings leave the config's value."""
        if not self.quick:
            return self
        changes: dict[str, Any] = {k: getattr(self, k) or v for k, v in QUICK.items()}
        return replace(self, **changes)

    def overrides(self, seed: int) -> list[str]:
        """The Hydra overrides every system's config gets (besides backbone, data, batch and
        precision, which ``compose_train_config`` sets)."""
        out = [f"seed={seed}"]
        if self.max_length:
            out.append(f"data.max_length={self.max_length}")
        if self.epochs:
            out.append(f"trainer.max_epochs={self.epochs}")
        if self.max_train_rows:
            out.append(f"data.max_train_rows={self.max_train_rows}")
        if self.max_test_rows:
            out.append(f"data.max_test_rows={self.max_test_rows}")
        return out

    def bench(self) -> BenchSettings:
        return BenchSettings(
            backbone=self.backbone,
            data=self.data,
            threads=self.threads,
            batch_size=self.batch_size,
            precision=self.precision,
            work_dir=self.work_dir,
        )


# -- what every system shares ------------------------------------------------------------------
def compose(settings: PeerSettings, seed: int, run_dir: Path):
    cfg = compose_train_config(settings.bench(), *settings.overrides(seed))
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    return cfg


def datamodule_of(cfg):
    from src.config import build_datamodule

    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_scores(probs, targets, label_names: list[str]) -> dict[str, float]:
    """The project's macro AUC and F1 at 0.5 (rows with -1 are dropped per label)."""
    from src.tasks.multilabel.metrics import multilabel_scores

    scores = multilabel_scores(probs, targets, label_names)
    return {"auc_macro": scores["auc_macro"], "f1_macro": scores["f1_macro"]}


def recipe(cfg) -> dict[str, Any]:
    """The training recipe of a composed config, as every system reads it."""
    return {
        "max_length": int(cfg.data.max_length),
        "batch_size": int(cfg.data.batch_size),
        "eval_batch_size": int(cfg.data.eval_batch_size),
        "epochs": int(cfg.trainer.max_epochs),
        "lr": float(cfg.model.optimizer.lr),
        "weight_decay": float(cfg.model.weight_decay),
        "warmup_ratio": float(cfg.model.scheduler.warmup_ratio),
        "gradient_clip_val": float(cfg.trainer.gradient_clip_val or 0.0),
        "precision": str(cfg.trainer.precision),
        "attn_implementation": str(cfg.backbone.encoder.attn_implementation),
    }


# -- the Hugging Face Trainer --------------------------------------------------------------------
def hf_model(cfg, num_labels: int):
    """``AutoModelForSequenceClassification`` of the config's backbone: from its folder, or
    (a random test backbone such as tiny_bert) from its config."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from src.models.encoders import resolve_model_path

    encoder = dict(cfg.backbone.encoder)
    target = str(encoder.pop("_target_"))
    kernel = encoder.pop("attn_implementation", "sdpa")
    head = {"num_labels": num_labels, "problem_type": "multi_label_classification"}
    if target.endswith("build_random_encoder"):
        config = AutoConfig.for_model(encoder.pop("model_type"), **encoder, **head)
        return AutoModelForSequenceClassification.from_config(config, attn_implementation=kernel)
    folder = resolve_model_path(str(encoder["name_or_path"]))
    return AutoModelForSequenceClassification.from_pretrained(
        folder, attn_implementation=kernel, **head
    )


def hf_rows(dataset) -> list[dict[str, Any]]:
    """A TokenizedDataset as the rows ``DataCollatorWithPadding`` pads."""
    return [
        {"input_ids": list(ids), "labels": [float(x) for x in labels]}
        for ids, labels in zip(dataset.input_ids, dataset.labels, strict=True)
    ]


def ensure_accelerate() -> None:
    """The Trainer needs ``accelerate`` (the ``bench`` dependency group): install the locked
    version (``make bench-env``) when it is missing."""
    if importlib.util.find_spec("accelerate") is not None:
        return
    print("[peer] accelerate is missing: make bench-env", flush=True)
    done = subprocess.run(
        ["make", "-s", "bench-env", f"PY={sys.executable}"], cwd=ROOT, check=False
    )
    importlib.invalidate_caches()
    if done.returncode != 0 or importlib.util.find_spec("accelerate") is None:
        raise SystemExit(
            "the Hugging Face Trainer needs the accelerate package and `make bench-env` could "
            "not install it; run `make bench-env` (or leave hf_trainer out of --systems)"
        )


def hf_trainer_case(settings: PeerSettings, seed: int, run_dir: Path) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    cfg = compose(settings, seed, run_dir)
    datamodule = datamodule_of(cfg)
    names = datamodule.label_names
    sizes = recipe(cfg)
    set_seed(seed)
    model = hf_model(cfg, len(names))
    train, val, test = (hf_rows(datamodule.dataset(s)) for s in ("train", "val", "test"))

    class EpochTimer(TrainerCallback):
        """Seconds of the training batches: each epoch from its start to its end, before the
        Trainer evaluates and saves (``on_epoch_end`` comes first)."""

        def __init__(self) -> None:
            self.seconds, self.started = 0.0, 0.0

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self.started

    def compute_metrics(prediction) -> dict[str, float]:
        probs = torch.sigmoid(torch.as_tensor(prediction.predictions).float()).numpy()
        return test_scores(probs, np.asarray(prediction.label_ids), names)

    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=sizes["batch_size"],
        per_device_eval_batch_size=sizes["eval_batch_size"],
        num_train_epochs=sizes["epochs"],
        learning_rate=sizes["lr"],
        weight_decay=sizes["weight_decay"],
        lr_scheduler_type="linear",
        warmup_steps=sizes["warmup_ratio"],  # a float below 1: a ratio of the steps
        max_grad_norm=sizes["gradient_clip_val"],
        bf16=sizes["precision"].startswith("bf16"),
        use_cpu=not torch.cuda.is_available(),
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="auc_macro",
        greater_is_better=True,
        logging_strategy="epoch",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
    )
    timer = EpochTimer()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=DataCollatorWithPadding(datamodule.tokenizer),
        compute_metrics=compute_metrics,
        callbacks=[timer],
    )
    trainer.train()
    best_val = trainer.state.best_metric
    # the best epoch's weights (load_best_model_at_end); a list of rows is a map-style dataset
    output = trainer.predict(test)  # type: ignore[arg-type]
    probs = torch.sigmoid(torch.as_tensor(output.predictions).float()).numpy()
    test_score = test_scores(probs, datamodule.dataset("test").labels, names)
    best = trainer.state.best_model_checkpoint
    best_epoch = None
    for entry in trainer.state.log_history:
        if best and entry.get("eval_auc_macro") == best_val:
            best_epoch = int(round(entry["epoch"]))
    samples = len(train) * sizes["epochs"]
    return {
        "train_samples_per_s": samples / timer.seconds if timer.seconds else None,
        "train_seconds": timer.seconds,
        "val_auc_macro": best_val,
        "best_epoch": best_epoch,
        "test_auc_macro": test_score["auc_macro"],
        "test_f1_macro": test_score["f1_macro"],
        "recipe": sizes,
        "rows": {"train": len(train), "val": len(val), "test": len(test)},
    }


# -- the bare loop ---------------------------------------------------------------------------------
def bare_case(settings: PeerSettings, seed: int, run_dir: Path) -> dict[str, Any]:
    """textlab's model and recipe in a plain PyTorch loop: no Lightning, no callbacks, no
    files; the best epoch's weights are kept in memory and tested."""
    import lightning.pytorch as L
    import torch

    from src.config import build
    from src.models.module import decay_groups, linear_warmup_decay, set_prior_bias

    cfg = compose(settings, seed, run_dir)
    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = datamodule_of(cfg)
    names = datamodule.label_names
    sizes = recipe(cfg)
    model = build(cfg.model, label_names=names)
    if cfg.callbacks.get("prior_bias_init", {}).get("enabled", False):
        set_prior_bias(model, datamodule.dataset("train").labels)
    optimizer = torch.optim.AdamW(decay_groups(model, sizes["weight_decay"]), lr=sizes["lr"])
    loader = datamodule.train_dataloader()
    steps = len(loader) * sizes["epochs"]
    scheduler = linear_warmup_decay(optimizer, steps, warmup_ratio=sizes["warmup_ratio"])
    bf16 = sizes["precision"].startswith("bf16")
    clip = sizes["gradient_clip_val"]

    def predict(split_loader) -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        logits, targets = [], []
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for batch in split_loader:
                logits.append(model(batch["input_ids"], batch["attention_mask"]).float())
                targets.append(batch["labels"])
        return torch.sigmoid(torch.cat(logits)), torch.cat(targets)

    seconds, samples = 0.0, 0
    best_val, best_epoch, best_state = float("-inf"), 0, None
    for epoch in range(sizes["epochs"]):
        model.train()
        start = time.perf_counter()
        for batch in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(batch["input_ids"], batch["attention_mask"]).float()
                loss = model.loss_fn(logits, batch["labels"])
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            samples += len(batch["labels"])
        seconds += time.perf_counter() - start
        val = test_scores(*predict(datamodule.val_dataloader()), names)["auc_macro"]
        if val > best_val:
            best_val, best_epoch = val, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    test_score = test_scores(*predict(datamodule.test_dataloader()), names)
    return {
        "train_samples_per_s": samples / seconds if seconds else None,
        "train_seconds": seconds,
        "val_auc_macro": best_val,
        "best_epoch": best_epoch,
        "test_auc_macro": test_score["auc_macro"],
        "test_f1_macro": test_score["f1_macro"],
        "recipe": sizes,
    }


# -- textlab ---------------------------------------------------------------------------------------
def textlab_command(settings: PeerSettings, seed: int, run_dir: Path) -> list[str]:
    """``python -m src.train`` with the same config, writing under the work folder."""
    work = Path(settings.work_dir)
    return [
        sys.executable,
        "-m",
        "src.train",
        f"backbone={settings.backbone}",
        f"data={settings.data}",
        f"data.batch_size={settings.batch_size}",
        f"trainer.precision={settings.precision}",
        *settings.overrides(seed),
        f"paths.log_dir={work / 'logs'}",
        f"paths.cache_dir={work / 'cache'}",
        f"paths.aim_repo={work / 'aim'}",
        f"hydra.run.dir={run_dir}",
        "+callbacks.fit_timer._target_=benchmarks.fit_timer.FitTimer",
        "+callbacks.fit_timer.warmup_steps=0",
    ]


def textlab_result(settings: PeerSettings, seed: int, run_dir: Path) -> dict[str, Any]:
    """Figures of a finished ``src.train`` run, from its run folder."""
    import numpy as np
    import torch

    from src.evaluation.predictions import load_predictions

    timing = json.loads((run_dir / "fit_timing.json").read_text())["all"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    arrays = load_predictions(run_dir)
    if arrays is None:
        raise RuntimeError(f"{run_dir}: no predictions.npz")
    names = [str(x) for x in arrays["labels"]]
    scores = test_scores(arrays["test_probs"], arrays["test_targets"].astype(np.float32), names)
    best = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True, mmap=True)
    return {
        "train_samples_per_s": timing["samples_per_s"],
        "train_seconds": timing["seconds"],
        "val_auc_macro": metrics["metrics"].get("val/auc_macro"),
        "best_epoch": int(best["epoch"]) + 1,
        "test_auc_macro": scores["auc_macro"],
        "test_f1_macro": scores["f1_macro"],
    }


# -- running and reporting -------------------------------------------------------------------------
CASES = {"hf_trainer": hf_trainer_case, "bare": bare_case}


def run_system(settings: PeerSettings, system: str, seed: int) -> dict[str, Any]:
    """One system on one seed, in its own process; wall time and load around it."""
    run_dir = Path(settings.work_dir) / "runs" / f"{system}_seed{seed}"
    if system == "textlab":
        command = textlab_command(settings, seed, run_dir)
    else:
        command = [
            sys.executable,
            "-m",
            "benchmarks.peer",
            "--one",
            json.dumps([system, seed, str(run_dir)]),
            "--settings",
            json.dumps(asdict(settings)),
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(settings.threads), "PROJECT_ROOT": str(ROOT)}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=settings.timeout_s,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{system} (seed {seed}) failed:\n{done.stderr[-4000:]}")
    if system == "textlab":
        result = textlab_result(settings, seed, run_dir)
    else:
        lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT)]
        if not lines:
            raise RuntimeError(f"{system} (seed {seed}) printed no result:\n{done.stderr[-4000:]}")
        result = json.loads(lines[-1][len(RESULT) :])
    return {
        "system": system,
        "seed": seed,
        "wall_s": wall,
        **result,
        "load_average": [load_before, os.getloadavg()[0]],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per system: mean (and spread over seeds) of wall time, samples/s and test AUC; then
    textlab over each peer."""
    keys = ("wall_s", "train_samples_per_s", "test_auc_macro", "val_auc_macro")
    systems: dict[str, dict[str, Any]] = {}
    for system in dict.fromkeys(r["system"] for r in runs):
        mine = [r for r in runs if r["system"] == system]
        figures: dict[str, Any] = {"runs": len(mine)}
        for key in keys:
            values = [r[key] for r in mine if r.get(key) is not None]
            figures[key] = statistics.fmean(values) if values else None
            figures[f"{key}_median"] = statistics.median(values) if values else None
            figures[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
        figures["best_epochs"] = [r.get("best_epoch") for r in mine]
        systems[system] = figures
    ratios: dict[str, dict[str, Any]] = {}
    ours = systems.get("textlab")
    for peer, theirs in systems.items():
        if peer == "textlab" or ours is None:
            continue
        ratios[f"textlab_vs_{peer}"] = {
            "wall_s": _ratio(ours["wall_s"], theirs["wall_s"]),
            "speedup": _ratio(theirs["wall_s"], ours["wall_s"]),
            "train_samples_per_s": _ratio(
                ours["train_samples_per_s"], theirs["train_samples_per_s"]
            ),
            "test_auc_difference": _difference(ours["test_auc_macro"], theirs["test_auc_macro"]),
            "speedup_per_seed": per_seed_speedups(runs, peer),
        }
    return {"systems": systems, "ratios": ratios}


def per_seed_speedups(runs: list[dict[str, Any]], peer: str) -> dict[str, float]:
    """seed -> the peer's wall time over textlab's in that seed (the two ran back to back, so
    a machine whose speed drifts between sittings still compares within a seed)."""
    wall = {(r["system"], str(r["seed"])): r["wall_s"] for r in runs}
    seeds = dict.fromkeys(str(r["seed"]) for r in runs)
    return {
        seed: wall[(peer, seed)] / wall[("textlab", seed)]
        for seed in seeds
        if (peer, seed) in wall and ("textlab", seed) in wall
    }


def rows_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One traceable row per run: date, commit, machine and command beside its figures."""
    from datetime import UTC, datetime

    from src.runs.provenance import git_commit

    about = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": git_commit(ROOT)[:7],
        "machine": report["machine"],
        "command": "python -m benchmarks.peer " + " ".join(sys.argv[1:]),
    }
    return [{**about, **run} for run in report["runs"]]


def report_from_rows(path: str | Path) -> dict[str, Any]:
    """The report of committed per-run rows (one JSON object per line, as every run writes
    them to ``peer_rows.jsonl``), without running anything."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"--rows {path}: no rows")
    first = rows[0]
    settings = PeerSettings(
        seeds=",".join(dict.fromkeys(str(r["seed"]) for r in rows)),
        systems=",".join(dict.fromkeys(r["system"] for r in rows)),
    )
    return {
        "settings": asdict(settings),
        "machine": first.get("machine"),
        "rows": str(path),
        "runs": rows,
        **summarize(rows),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _difference(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def warm_token_cache(settings: PeerSettings, seeds: list[int]) -> None:
    """Tokenise once before any timed run, so every system starts from a warm token cache."""
    for seed in seeds:
        datamodule_of(compose(settings, seed, Path(settings.work_dir) / "warm"))


def run_peer(settings: PeerSettings) -> dict[str, Any]:
    """Every system on every seed (alternating, the order rotated per seed)."""
    settings = settings.resolved()
    seeds = [int(s) for s in str(settings.seeds).split(",") if s.strip()]
    systems = [s.strip() for s in settings.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"--systems: unknown {sorted(unknown)}; choose from {list(SYSTEMS)}")
    if "hf_trainer" in systems:
        ensure_accelerate()
    warm_token_cache(settings, seeds)
    start, load_before = time.perf_counter(), os.getloadavg()
    runs = []
    for number, seed in enumerate(seeds):
        shift = number % len(systems)
        for system in systems[shift:] + systems[:shift]:
            print(f"[peer] {system} seed {seed} ...", flush=True)
            runs.append(run_system(settings, system, seed))
            print(f"[peer]   {json.dumps(runs[-1], default=str)}", flush=True)
    from benchmarks.common import machine

    return {
        "settings": asdict(settings),
        "machine": machine(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.perf_counter() - start,
        "runs": runs,
        **summarize(runs),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any]) -> list[str]:
    """The peer section of bench.md (and of peer.md)."""
    s, systems = report["settings"], report["systems"]
    mode = "quick" if s["quick"] else "full"
    loads = [r["load_average"][0] for r in report["runs"]] + [
        r["load_average"][1] for r in report["runs"]
    ]
    lines = [
        f"## 6. Peer: the same job in textlab, the Hugging Face Trainer and a bare loop ({mode})",
        "",
        f"Backbone {s['backbone']}, data {s['data']}, seeds {s['seeds']}, max_length "
        f"{s['max_length'] or 'config'}, epochs {s['epochs'] or 'config'}, train rows "
        f"{s['max_train_rows'] or 'all'}, test rows {s['max_test_rows'] or 'all'}; "
        f"{s['threads']} threads; 1-minute load average {min(loads):.1f}-{max(loads):.1f} "
        f"around the runs. Wall time: the whole process (start-up, data, fit, test, and for "
        f"textlab its analyses). Means over seeds (± SD with several).",
        "",
        "| system | wall s, mean (median) | train samples/s, mean (median) | test macro AUC | "
        "best val macro AUC | best epoch |",
        "|---|---|---|---|---|---|",
    ]
    for system, f in systems.items():
        sd = f.get("test_auc_macro_sd")
        auc = _fmt(f["test_auc_macro"], 4) + (f" ± {sd:.4f}" if sd is not None else "")
        epochs = ", ".join(_fmt(e) for e in f["best_epochs"])
        wall = f"{_fmt(f['wall_s'], 1)} ({_fmt(f['wall_s_median'], 1)})"
        speed = f"{_fmt(f['train_samples_per_s'])} ({_fmt(f['train_samples_per_s_median'])})"
        lines.append(
            f"| {system} | {wall} | {speed} | {auc} | {_fmt(f['val_auc_macro'], 4)} | {epochs} |"
        )
    lines += ["", "| textlab vs | wall time ratio | speedup | samples/s ratio | test AUC diff |"]
    lines += ["|---|---|---|---|---|"]
    for name, r in report["ratios"].items():
        lines.append(
            f"| {name.removeprefix('textlab_vs_')} | {_fmt(r['wall_s'], 3)} | "
            f"{_fmt(r['speedup'], 2)}x | {_fmt(r['train_samples_per_s'], 3)} | "
            f"{_fmt(r['test_auc_difference'], 4)} |"
        )
    for name, r in report["ratios"].items():
        per_seed = r.get("speedup_per_seed") or {}
        if len(per_seed) > 1:
            lines += [
                "",
                f"Speedup over {name.removeprefix('textlab_vs_')} per seed (its wall time over "
                "textlab's, run back to back): "
                + ", ".join(f"seed {seed} {value:.2f}x" for seed, value in per_seed.items())
                + f"; mean {statistics.fmean(per_seed.values()):.2f}x.",
            ]
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument(
        "--rows", help="re-render the report of committed per-run rows (a .jsonl file)"
    )
    add_settings_flags(parser, PeerSettings)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.one:
        import torch

        system, seed, run_dir = json.loads(args.one)
        settings = PeerSettings(**json.loads(args.settings))
        torch.set_num_threads(settings.threads)
        result = CASES[system](settings, int(seed), Path(run_dir))
        print(RESULT + json.dumps({**result, "peak_rss_mb": peak_rss_mb()}), flush=True)
        return
    if args.rows:
        print("\n".join(markdown(report_from_rows(args.rows))), flush=True)
        return
    settings = settings_from_args(args, PeerSettings)
    report = run_peer(settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "peer.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "peer.md").write_text("\n".join(markdown(report)) + "\n")
    (out / "peer_rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows_of(report)))
    print("\n".join(markdown(report)), flush=True)


if __name__ == "__main__":
    main()
