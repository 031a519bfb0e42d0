"""Training throughput of the PyTorch LeNet-5: images/s, NCHW vs channels_last, share of peak.

    .venv/bin/python benchmarks/torch_throughput.py [--device cpu] [--rounds 5]

Measures, in one process with the two memory layouts alternating round by round: training
images/s (batch 256, Adam, data already on the device), inference images/s, the implied seconds
per 60,000-image epoch, and the fraction of this machine's float32 matrix-multiply rate (a
2048 x 2048 product measured in the same run) that LeNet-5 training reaches, at 2.26 MFLOP per
training image. Then one real epoch through ``torch_train.train`` per layout. Target on the CPU:
an epoch in <= 3 s on 2 idle cores. The machine may be shared: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lenet_ref.device import (
    available_devices,
    configure_cpu_threads,
    cpu_count,
    describe_device,
    load_average,
    synchronize,
)
from lenet_ref.torch_lenet import VARIANTS, LeNet5, create_model
from lenet_ref.torch_train import to_device, train

TRAIN_FLOP_PER_IMAGE = 2.26e6
EPOCH = 60_000
BATCH = 256
LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def matmul_flops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Median float32 FLOP/s of an n x n matrix product on ``device``."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


class Bench:
    """One model + optimizer + data set, timed in chunks of ``steps`` training steps."""

    def __init__(self, variant: str, layout: str, device: torch.device, data) -> None:
        self.fmt = LAYOUTS[layout]
        self.device = device
        self.model = create_model(variant).to(device=device, memory_format=self.fmt)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.data = data
        self.gen = torch.Generator(device=device).manual_seed(0)

    def _batches(self, steps: int):
        while True:
            for x, y in self.data.batches(BATCH, self.gen):
                if len(y) == BATCH:
                    yield x.contiguous(memory_format=self.fmt), y
                    steps -= 1
                    if steps == 0:
                        return

    def train_rate(self, steps: int) -> float:
        self.model.train()
        synchronize(self.device)
        start = time.perf_counter()
        for x, y in self._batches(steps):
            loss = self.model.loss(self.model(x), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        synchronize(self.device)
        return steps * BATCH / (time.perf_counter() - start)

    @torch.no_grad()
    def infer_rate(self, steps: int) -> float:
        self.model.eval()
        synchronize(self.device)
        start = time.perf_counter()
        for x, _ in self._batches(steps):
            self.model(x)
        synchronize(self.device)
        return steps * BATCH / (time.perf_counter() - start)


def run_device(device: torch.device, rounds: int, steps: int, full_epoch: bool) -> None:
    print(f"\n== {describe_device(device)}")
    flops = matmul_flops(device)
    floor = EPOCH * TRAIN_FLOP_PER_IMAGE / flops
    print(f"float32 matmul 2048x2048: {flops / 1e9:.0f} GFLOP/s "
          f"(floor for a 60k epoch at 2.26 MFLOP/image: {floor:.2f} s)")  # fmt: skip
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8192, 28, 28), dtype=np.uint8)
    data = to_device(images, rng.integers(0, 10, size=8192), device)
    print(f"{'variant':<10} {'layout':<14} {'train img/s':>12} {'s/60k epoch':>12} "
          f"{'% of matmul':>12} {'infer img/s':>12}")  # fmt: skip
    best_epoch = {}
    for variant in VARIANTS:
        benches = {name: Bench(variant, name, device, data) for name in LAYOUTS}
        for bench in benches.values():  # warm-up
            bench.train_rate(5)
            bench.infer_rate(5)
        train_rates = {name: [] for name in LAYOUTS}
        infer_rates = {name: [] for name in LAYOUTS}
        for r in range(rounds):
            order = list(LAYOUTS) if r % 2 == 0 else list(reversed(LAYOUTS))
            for name in order:
                train_rates[name].append(benches[name].train_rate(steps))
                infer_rates[name].append(benches[name].infer_rate(steps))
        for name in LAYOUTS:
            rate = statistics.median(train_rates[name])
            share = rate * TRAIN_FLOP_PER_IMAGE / flops
            infer = statistics.median(infer_rates[name])
            print(f"{variant:<10} {name:<14} {rate:>12,.0f} {EPOCH / rate:>12.2f} "
                  f"{100 * share:>11.1f}% {infer:>12,.0f}")  # fmt: skip
            best_epoch[(variant, name)] = EPOCH / rate
        ratio = statistics.median(
            c / n for c, n in zip(train_rates["channels_last"], train_rates["NCHW"], strict=True)
        )
        print(f"{'':<10} channels_last / NCHW training speed: {ratio:.2f}x")
    if device.type == "cpu":
        best = min(best_epoch[("modern", n)] for n in LAYOUTS)
        print(f"target (CPU, modern): 60k-image epoch <= 3 s: best layout {best:.2f} s -> "
              f"{'PASS' if best <= 3.0 else 'FAIL'}")  # fmt: skip

    if not full_epoch:
        return
    print("\none real 60,000-image epoch through torch_train.train (modern, batch 256, Adam):")
    images = rng.integers(0, 256, size=(EPOCH, 28, 28), dtype=np.uint8)
    big = to_device(images, rng.integers(0, 10, size=EPOCH), device)
    for name in ("channels_last", "NCHW", "channels_last", "NCHW"):
        model = LeNet5("modern")
        history = train(
            model, big, epochs=1, batch_size=BATCH, device=device, progress=False,
            channels_last=name == "channels_last",
        )  # fmt: skip
        print(f"  {name:<14} {history.seconds[0]:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", action="append", help="repeatable; default: every device")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per layout")
    parser.add_argument("--steps", type=int, default=30, help="training steps per round")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: cores)")
    parser.add_argument("--no-epoch", action="store_true", help="skip the real-epoch timing")
    args = parser.parse_args()
    threads = configure_cpu_threads(args.threads)
    print(f"torch {torch.__version__}, {threads} CPU thread(s), batch {BATCH}")
    print(f"load average at start: {load_average()} (on {cpu_count()} cores)")
    for name in args.device or available_devices():
        run_device(torch.device(name), args.rounds, args.steps, not args.no_epoch)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
