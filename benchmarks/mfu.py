"""Fine-tuning throughput and model FLOPs utilisation (MFU): textlab's loop against bare loops.

Every case trains on the same fixed-width Jigsaw batches (every step costs the same FLOPs), in
its own process (compilation caches and GPU memory statistics do not leak between cases):

- ``textlab``: ``src.train``'s Lightning loop (the real model, trainer config and callbacks,
  with the trainer config's attention kernel: eager on the CPU, SDPA on GPUs);
- ``textlab_compile``: the same with ``model.compile.enabled=true``;
- ``bare_eager``: a plain PyTorch loop, eager attention, AdamW as configured;
- ``bare_sdpa``: a plain loop, SDPA attention, fused AdamW on CUDA;
- ``bare_sdpa_compile``: the same with ``torch.compile`` of the encoder.

The FLOPs of one training step are counted by torch's ``FlopCounterMode`` (matmuls and
attention, forward + backward), not estimated; MFU = achieved FLOPs/s over the accelerator's
dense bf16 peak; the ratio compares textlab with the best bare loop of the same run.

    python -m benchmarks.mfu --trainer a100     # bert-base 64x256 and 32x128, MiniLM 32x128
    python -m benchmarks.mfu --trainer cpu --shapes 8x64 --loops textlab,bare_sdpa --steps 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (
    ROOT,
    BenchSettings,
    add_settings_flags,
    machine,
    peak_rss_mb,
    settings_from_args,
    use_threads,
)
from benchmarks.training import bare_loop, first_batches, lightning_loop, model_and_data, pad_to
from src.models.module import EncoderModule

#: dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s; matched
#: against torch.cuda.get_device_name() in this order
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("A10G", 70.0),
    ("L4", 121.0),
)
LOOPS = ("textlab", "textlab_compile", "bare_eager", "bare_sdpa", "bare_sdpa_compile")
RESULT = "MFU_RESULT "


@dataclass
class MfuSettings:
    backbone: str = "bert_base_random"
    trainer: str = "cpu"
    precision: str = "bf16-mixed"
    #: comma-separated batch x width shapes for the backbone
    shapes: str = "64x256,32x128"
    #: also MiniLM at the card's defaults (batch 32, max_length 128)
    minilm: bool = True
    loops: str = ",".join(LOOPS)
    warmup_steps: int = 5
    steps: int = 30
    #: the accelerator's peak in TFLOP/s; 0 looks the GPU up in PEAK_BF16_TFLOPS
    peak_tflops: float = 0.0
    #: CPU threads for torch (0: leave torch's default)
    threads: int = 0
    timeout_s: int = 900
    work_dir: str = str(ROOT / ".cache" / "bench")


def training_step_flops(model: EncoderModule, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one forward + backward pass on ``batch``, counted in fp32 on the CPU on its
    first row and multiplied by its rows: every operation the counter sees (matmuls,
    attention) grows linearly with the rows, and a whole bert-base 64x256 batch would be a
    full fp32 training step on the CPU in every case of a GPU run."""
    rows = len(batch["input_ids"])
    one = {key: value[:1] for key, value in batch.items()}
    with FlopCounterMode(display=False) as counter:
        logits = model(one["input_ids"], one["attention_mask"]).float()
        model.loss_fn(logits, one["labels"]).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops()) * rows


def analytic_step_flops(model: EncoderModule, batch_size: int, width: int) -> int:
    """The textbook count to check the counter against: forward + backward cost 6 FLOPs per
    weight of the encoder layers per token, plus 12·layers·hidden·width² per sequence for the
    attention products; the head runs once per sequence; BERT's own pooler runs forward only
    (we pool ``last_hidden_state``, so it gets no gradient)."""
    config = model.encoder.config
    per_token = per_sequence = forward_only = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if name.startswith("head."):
            per_sequence += module.weight.numel()
        elif ".pooler." in name:
            forward_only += module.weight.numel()
        else:
            per_token += module.weight.numel()
    attention = 12 * config.num_hidden_layers * config.hidden_size * width**2
    per_row = 6 * per_token * width + attention + 6 * per_sequence + 2 * forward_only
    return batch_size * per_row


def peak_tflops(settings: MfuSettings, device_name: str) -> float | None:
    if settings.peak_tflops > 0:
        return settings.peak_tflops
    for name, peak in PEAK_BF16_TFLOPS:
        if name in device_name:
            return peak
    return None


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else machine()["cpu_model"]


def run_case(settings: MfuSettings, loop: str, backbone: str, batch: int, width: int) -> dict:
    """One loop on one shape, in this process."""
    if settings.threads:
        use_threads(settings.threads)
    bench = BenchSettings(
        backbone=backbone,
        batch_size=batch,
        precision=settings.precision,
        work_dir=settings.work_dir,
    )
    overrides = [f"trainer={settings.trainer}", "logger=none"]
    if loop.startswith("textlab"):  # the trainer config's own attention kernel
        overrides.append(f"model.compile.enabled={loop == 'textlab_compile'}")
    else:
        kernel = "eager" if loop == "bare_eager" else "sdpa"
        overrides.append(f"backbone.encoder.attn_implementation={kernel}")
    cfg, model, datamodule = model_and_data(bench, width, *overrides)
    torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
    pad_id = datamodule.tokenizer.pad_token_id
    total = settings.warmup_steps + settings.steps
    batches = [pad_to(b, width, pad_id) for b in first_batches(datamodule, total)]
    flops = training_step_flops(model, batches[0])
    if loop.startswith("textlab"):
        seconds, device = lightning_loop(model, batches, settings.warmup_steps, cfg, "none")
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if loop == "bare_sdpa_compile":
            model.encoder.compile(dynamic=False)
        fused = device.type == "cuda" and loop != "bare_eager"
        seconds = bare_loop(
            model, batches, settings.warmup_steps, settings.precision, cfg, device, fused
        )
    name = device_name(device)
    achieved = flops * settings.steps / seconds / 1e12
    peak = peak_tflops(settings, name) if device.type == "cuda" or settings.peak_tflops else None
    return {
        "loop": loop,
        "backbone": backbone,
        "shape": f"{batch}x{width}",
        "device": name,
        "samples_per_s": batch * settings.steps / seconds,
        "step_gflops": flops / 1e9,
        "analytic_step_gflops": analytic_step_flops(model, batch, width) / 1e9,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "mfu": achieved / peak if peak else None,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else None,
        "peak_rss_mb": peak_rss_mb(),
        "timed_seconds": seconds,
    }


def cases(settings: MfuSettings) -> list[tuple[str, int, int]]:
    """(backbone, batch, width) of every shape the run measures."""
    shapes = [tuple(int(v) for v in s.split("x")) for s in settings.shapes.split(",") if s]
    out = [(settings.backbone, batch, width) for batch, width in shapes]
    if settings.minilm:
        out.append(("minilm", 32, 128))
    return out


def run_all(settings: MfuSettings) -> dict[str, Any]:
    """Every loop on every shape, each in a child process; then the ratios."""
    results = []
    for backbone, batch, width in cases(settings):
        for loop in settings.loops.split(","):
            command = [
                sys.executable,
                "-m",
                "benchmarks.mfu",
                "--one",
                json.dumps([loop, backbone, batch, width]),
                "--settings",
                json.dumps(asdict(settings)),
            ]
            try:
                done = subprocess.run(
                    command, cwd=ROOT, capture_output=True, text=True, timeout=settings.timeout_s
                )
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT)]
                if not lines:
                    raise RuntimeError(done.stderr.strip().splitlines()[-1:] or ["no result"])
                result = json.loads(lines[-1][len(RESULT) :])
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                result = {"loop": loop, "backbone": backbone, "shape": f"{batch}x{width}"}
                result["error"] = str(err)[:300]
            results.append(result)
            print(json.dumps(result), flush=True)
    return {"settings": asdict(settings), "machine": machine(), "results": add_ratios(results)}


def add_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each loop's samples/s over the best bare loop of the same backbone and shape."""
    for result in results:
        same = [
            r["samples_per_s"]
            for r in results
            if r["loop"].startswith("bare")
            and "samples_per_s" in r
            and (r["backbone"], r["shape"]) == (result["backbone"], result["shape"])
        ]
        if same and "samples_per_s" in result:
            result["ratio_to_best_bare"] = result["samples_per_s"] / max(same)
    return results


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    results = report["results"]
    device = next((r["device"] for r in results if "device" in r), "?")
    lines = [
        f"{device}, {s['trainer']} trainer, {s['precision']}, {s['steps']} timed steps after "
        f"{s['warmup_steps']} warm-up steps; torch {report['machine']['torch']}.",
        "",
        "| backbone | batch x width | loop | samples/s | ratio to best bare | GFLOPs/step "
        "(counted / analytic) | TFLOP/s | MFU | peak GPU memory (GB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['backbone']} | {r['shape']} | {r['loop']} | failed: {r['error']} |")
            continue
        lines.append(
            f"| {r['backbone']} | {r['shape']} | {r['loop']} | {r['samples_per_s']:.1f} | "
            f"{_cell(r.get('ratio_to_best_bare'), '.3f')} | {r['step_gflops']:.1f} / "
            f"{r['analytic_step_gflops']:.1f} | {r['achieved_tflops']:.2f} | "
            f"{_cell(r['mfu'], '.1%')} | {_cell(r['peak_gpu_memory_gb'], '.1f')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    add_settings_flags(parser, MfuSettings)
    args = parser.parse_args(argv)
    if args.one:
        settings = MfuSettings(**json.loads(args.settings))
        loop, backbone, batch, width = json.loads(args.one)
        print(RESULT + json.dumps(run_case(settings, loop, backbone, batch, width)), flush=True)
        return
    settings = settings_from_args(args, MfuSettings)
    report = run_all(settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mfu.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "mfu.md").write_text(markdown(report))
    print(markdown(report), flush=True)


if __name__ == "__main__":
    main()
