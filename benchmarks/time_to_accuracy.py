"""Time to accuracy: train LeNet-5 on full MNIST and print test accuracy per epoch and wall time.

    .venv/bin/python benchmarks/time_to_accuracy.py --variant modern --seeds 5
    .venv/bin/python benchmarks/time_to_accuracy.py --variant lecun1998 --seeds 1 --epochs 12

Targets (median over seeds of the final test accuracy): modern >= 99.0% within 3 epochs,
classic >= 98.8%, lecun1998 test error <= 1.0% (the paper reports 0.95%, after 20 passes of
stochastic diagonal Levenberg-Marquardt; here Adam with a one-cycle schedule). Runs on whatever
device :func:`lenet_ref.device.pick_device` finds (override with --device or LENET_DEVICE).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lenet_kit.data import load_mnist
from lenet_ref.device import (
    configure_cpu_threads,
    cpu_count,
    describe_device,
    load_average,
    pick_device,
    seed_everything,
)
from lenet_ref.torch_lenet import VARIANTS, LeNet5
from lenet_ref.torch_train import RECIPES, to_device, train

TARGET_ACC = {"modern": 0.990, "classic": 0.988, "lecun1998": 0.990}
PAPER_ERROR = 0.0095


def run_variant(variant: str, seeds: list[int], args: argparse.Namespace, device) -> bool:
    recipe = dict(RECIPES[variant])
    scaling = recipe.pop("scaling")
    for key in ("epochs", "batch_size", "lr"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    print(f"\n== {variant}: scaling={scaling}, " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
    start = time.perf_counter()
    train_data = to_device(*load_mnist("train"), device, scaling)
    test_data = to_device(*load_mnist("test"), device, scaling)
    print(f"data to {device}: {time.perf_counter() - start:.2f} s (60,000 + 10,000 images)")
    print(f"{'seed':>4} {'epoch':>5} {'train loss':>10} {'test acc':>9} {'test err':>9} "
          f"{'epoch s':>8} {'wall s':>8}")  # fmt: skip
    finals, curves, walls = [], [], []
    for seed in seeds:
        seed_everything(seed)
        model = LeNet5(variant)
        wall_start = time.perf_counter()

        def show(event, seed=seed, wall_start=wall_start):
            if event.kind != "epoch":
                return
            r = event.record
            print(f"{seed:>4} {r.epoch:>5} {r.train_loss:>10.4f} {100 * r.test_acc:>8.2f}% "
                  f"{100 * (1 - r.test_acc):>8.2f}% {r.seconds:>8.2f} "
                  f"{time.perf_counter() - wall_start:>8.2f}", flush=True)  # fmt: skip

        history = train(
            model, train_data, **recipe, device=device, seed=seed, test_data=test_data,
            progress=False, callback=show,
        )  # fmt: skip
        walls.append(time.perf_counter() - wall_start)
        curves.append(history.test_acc)
        finals.append(history.test_acc[-1])

    median = statistics.median(finals)
    target = TARGET_ACC[variant]
    per_epoch = [statistics.median(accs) for accs in zip(*curves, strict=True)]
    first = next((e + 1 for e, acc in enumerate(per_epoch) if acc >= target), None)
    print(f"-- {variant}: final test accuracy over {len(seeds)} seed(s): median "
          f"{100 * median:.2f}%, min {100 * min(finals):.2f}%, max {100 * max(finals):.2f}%; "
          f"median wall time {statistics.median(walls):.1f} s")  # fmt: skip
    print("   median test accuracy per epoch: " + " ".join(f"{100 * a:.2f}" for a in per_epoch))
    reached = f"first reached at epoch {first}" if first else "not reached"
    print(f"   target >= {100 * target:.1f}%: {'PASS' if median >= target else 'FAIL'} ({reached})")
    if variant == "lecun1998":
        print(f"   test error {100 * (1 - median):.2f}% vs the paper's {100 * PAPER_ERROR:.2f}% "
              "(paper: 20 passes of SDLM; here Adam + one-cycle)")  # fmt: skip
    return median >= target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=(*VARIANTS, "all"), default="all")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe")
    parser.add_argument("--batch-size", type=int, default=None, dest="batch_size")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best present)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: cores)")
    args = parser.parse_args()

    device = pick_device(args.device)
    threads = configure_cpu_threads(args.threads)
    print(f"torch {torch.__version__}; {describe_device(device)}; {threads} CPU thread(s)")
    print(f"load average at start: {load_average()} (on {cpu_count()} cores)")
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    results = {v: run_variant(v, list(range(args.seeds)), args, device) for v in variants}
    print(f"load average at end: {load_average()}")
    print("\nsummary: " + ", ".join(f"{v} {'PASS' if ok else 'FAIL'}" for v, ok in results.items()))


if __name__ == "__main__":
    main()
