"""Fine-tuning throughput and model FLOPs utilisation (MFU) of a BERT-base-sized classifier.

Runs ``src.train``'s Lightning loop (the real model, trainer config and callbacks) on
fixed-width Jigsaw batches, so every step costs the same FLOPs. The FLOPs of one training step
are counted by torch's ``FlopCounterMode`` (matmuls and attention, forward + backward), not
estimated; MFU = achieved FLOPs/s over the accelerator's dense bf16 peak.

    python -m benchmarks.mfu --trainer a100                   # a lent GPU (bf16-mixed)
    python -m benchmarks.mfu --backbone minilm --steps 10     # this CPU (no peak: no MFU)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (
    ROOT,
    BenchSettings,
    add_settings_flags,
    peak_rss_mb,
    settings_from_args,
    use_threads,
)
from benchmarks.report import machine
from benchmarks.training import first_batches, lightning_loop, model_and_data, pad_to

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


@dataclass
class MfuSettings:
    backbone: str = "bert_base_random"
    trainer: str = "cpu"
    precision: str = "bf16-mixed"
    batch_size: int = 32
    max_length: int = 128
    warmup_steps: int = 5
    steps: int = 30
    #: the accelerator's peak in TFLOP/s; 0 looks the GPU up in PEAK_BF16_TFLOPS
    peak_tflops: float = 0.0
    #: CPU threads for torch (0: leave torch's default)
    threads: int = 0
    work_dir: str = str(ROOT / ".cache" / "bench")


def training_step_flops(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one forward + backward pass on ``batch`` (counted in fp32 on the CPU)."""
    with FlopCounterMode(display=False) as counter:
        logits = model(batch["input_ids"], batch["attention_mask"]).float()
        model.loss_fn(logits, batch["labels"]).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def analytic_step_flops(model: torch.nn.Module, batch_size: int, width: int) -> int:
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


def run(settings: MfuSettings) -> dict[str, Any]:
    if settings.threads:
        use_threads(settings.threads)
    bench = BenchSettings(
        backbone=settings.backbone,
        batch_size=settings.batch_size,
        precision=settings.precision,
        work_dir=settings.work_dir,
    )
    cfg, model, datamodule = model_and_data(
        bench, settings.max_length, f"trainer={settings.trainer}", "logger=none"
    )
    pad_id = datamodule.tokenizer.pad_token_id
    total = settings.warmup_steps + settings.steps
    batches = [pad_to(b, settings.max_length, pad_id) for b in first_batches(datamodule, total)]
    flops = training_step_flops(model, batches[0])
    seconds = lightning_loop(model, batches, settings.warmup_steps, cfg, "none")
    on_gpu = next(model.parameters()).device.type == "cuda"
    device = torch.cuda.get_device_name() if on_gpu else machine()["cpu_model"]
    achieved = flops * settings.steps / seconds / 1e12
    peak = peak_tflops(settings, device) if on_gpu or settings.peak_tflops else None
    return {
        "settings": asdict(settings),
        "device": device,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "samples_per_s": settings.batch_size * settings.steps / seconds,
        "tokens_per_s": settings.batch_size * settings.max_length * settings.steps / seconds,
        "step_gflops": flops / 1e9,
        "analytic_step_gflops": analytic_step_flops(model, settings.batch_size, settings.max_length)
        / 1e9,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "mfu": achieved / peak if peak else None,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else None,
        "peak_rss_mb": peak_rss_mb(),
        "timed_seconds": seconds,
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    mfu = "n/a (no peak)" if report["mfu"] is None else f"{report['mfu']:.1%}"
    return (
        f"Fine-tuning {s['backbone']} ({report['parameters_m']:.1f}M parameters) on "
        f"{report['device']}, {s['precision']}, batch {s['batch_size']} x {s['max_length']} "
        f"tokens, {s['steps']} timed steps after {s['warmup_steps']} warm-up steps.\n\n"
        "| samples/s | tokens/s | GFLOPs/step (counted / analytic) | achieved TFLOP/s | MFU |\n"
        "|---|---|---|---|---|\n"
        f"| {report['samples_per_s']:.1f} | {report['tokens_per_s']:.0f} | "
        f"{report['step_gflops']:.1f} / {report['analytic_step_gflops']:.1f} | "
        f"{report['achieved_tflops']:.2f} | {mfu} |\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    add_settings_flags(parser, MfuSettings)
    args = parser.parse_args(argv)
    settings = settings_from_args(args, MfuSettings)
    report = run(settings)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mfu.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "mfu.md").write_text(markdown(report))
    print(markdown(report), flush=True)


if __name__ == "__main__":
    main()
