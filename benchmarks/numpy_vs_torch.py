"""Training speed of the NumPy LeNet-5 against PyTorch on the CPU, measured in one process.

Both sides train the same LeNet-5 (same variant, same initial weights, float32, SGD with
momentum, batch 256 by default) on the same synthetic MNIST-shaped batches. The sides alternate
round by round (who goes first alternates too), so that load from other processes on the shared
machine hits both; the ratio is the median of the per-round ratios.
Target: NumPy no more than 3x slower than PyTorch CPU.

Also printed: how much slower the taught convolutions of :mod:`lenet_ref.layers` (the loops of
notebook 02, and its vectorized ``tensordot`` version) are than :mod:`lenet_ref.fast_layers`'
(what the NumPy model trains with), and the peak memory that a NumPy training step allocates
(target: a few hundred MB at most).

    .venv/bin/python benchmarks/numpy_vs_torch.py [--variant classic|modern] [--rounds 7]
        [--threads N]   (default: each library's own default, 2 threads on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np
import torch

from lenet_ref import fast_layers, layers
from lenet_ref.numpy_lenet import LeNet5
from lenet_ref.numpy_train import SGD
from lenet_ref.transforms import lenet_inputs

LR, MOMENTUM = 0.01, 0.9


def synthetic_batches(n_batches: int, batch_size: int, seed: int = 0):
    """MNIST-shaped data: uint8 28x28 'digits' (a blob of ink on a blank field), labels 0..9."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n_batches * batch_size, 28, 28), dtype=np.uint8)
    images[:, 4:24, 6:22] = rng.integers(0, 256, size=(len(images), 20, 16), dtype=np.uint8)
    x = lenet_inputs(images, dtype=np.float32).reshape(n_batches, batch_size, 1, 32, 32)
    y = rng.integers(0, 10, size=(n_batches, batch_size))
    return x, y


def torch_model(np_model: LeNet5) -> tuple[torch.nn.Module, str]:
    """The course's torch LeNet5 with the NumPy model's weights, else an equivalent Sequential."""
    try:
        from lenet_ref import torch_lenet

        return torch_lenet.from_numpy(np_model, dtype=torch.float32), "lenet_ref.torch_lenet"
    except ImportError:
        act = torch.nn.Tanh if np_model.variant == "classic" else torch.nn.ReLU
        pool = torch.nn.AvgPool2d if np_model.variant == "classic" else torch.nn.MaxPool2d
        seq = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5), act(), pool(2),
            torch.nn.Conv2d(6, 16, 5), act(), pool(2), torch.nn.Flatten(),
            torch.nn.Linear(400, 120), act(), torch.nn.Linear(120, 84), act(),
            torch.nn.Linear(84, 10),
        )  # fmt: skip
        return seq, "torch.nn.Sequential (lenet_ref.torch_lenet not importable)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="classic", choices=["classic", "modern"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=8, help="training steps per side per round")
    parser.add_argument("--threads", type=int, default=None, help="threads for BLAS and torch")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    bs, steps = args.batch_size, args.steps
    if args.threads:
        torch.set_num_threads(args.threads)

    xs, ys = synthetic_batches(steps, bs)
    xs_t, ys_t = torch.from_numpy(xs), torch.from_numpy(ys)

    np_model = LeNet5(args.variant, seed=0, dtype=np.float32)
    t_model, t_source = torch_model(np_model)
    np_opt = SGD(np_model.params, lr=LR, momentum=MOMENTUM)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=LR, momentum=MOMENTUM)
    t_loss = torch.nn.CrossEntropyLoss()

    def numpy_steps() -> float:
        start = time.perf_counter()
        for i in range(steps):
            _, grads = np_model.loss(xs[i], ys[i])
            np_opt.step(grads)
        return steps * bs / (time.perf_counter() - start)

    def torch_steps() -> float:
        start = time.perf_counter()
        for i in range(steps):
            t_opt.zero_grad(set_to_none=True)
            t_loss(t_model(xs_t[i]), ys_t[i]).backward()
            t_opt.step()
        return steps * bs / (time.perf_counter() - start)

    print(f"LeNet-5 '{args.variant}', float32, batch {bs}, SGD momentum {MOMENTUM}")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"numpy {np.__version__} (OpenBLAS threads: {blas}), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print(f"PyTorch model: {t_source}")
    numpy_steps(), torch_steps()  # warm-up
    rows = []
    for r in range(args.rounds):
        if r % 2 == 0:
            n_ips = numpy_steps()
            t_ips = torch_steps()
        else:
            t_ips = torch_steps()
            n_ips = numpy_steps()
        rows.append((n_ips, t_ips, t_ips / n_ips))
        print(f"  round {r + 1}: numpy {n_ips:8.0f} img/s   torch {t_ips:8.0f} img/s   "
              f"torch/numpy {t_ips / n_ips:5.2f}")  # fmt: skip
    n_med = statistics.median(r[0] for r in rows)
    t_med = statistics.median(r[1] for r in rows)
    ratio = statistics.median(r[2] for r in rows)
    print(f"median: numpy {n_med:.0f} img/s ({60000 / n_med:.1f} s per 60k epoch), "
          f"torch {t_med:.0f} img/s ({60000 / t_med:.1f} s per 60k epoch)")  # fmt: skip
    # Same start, same batches, same number of steps: both should now have the same loss.
    np_loss = np_model.loss(xs[0], ys[0])[0]
    with torch.no_grad():
        t_loss_now = t_loss(t_model(xs_t[0]), ys_t[0]).item()
    print(f"after {(args.rounds + 1) * steps} steps each: loss on batch 1 numpy {np_loss:.5f}, "
          f"torch {t_loss_now:.5f} (same computation check)")  # fmt: skip
    verdict = "MET" if ratio <= 3 else "NOT MET"
    print(f"NumPy takes {ratio:.2f}x the time PyTorch CPU takes per image (median of per-round "
          f"ratios; target <= 3x: {verdict})")  # fmt: skip

    # The taught convolutions against the fast one on a handful of images: C1 then C3.
    x4 = xs[0, :4].astype(np.float32)
    w1, b1 = np_model.params["C1.weight"], np_model.params["C1.bias"]
    w3, b3 = np_model.params["C3.weight"], np_model.params["C3.bias"]
    h = np.tanh(fast_layers.conv2d_forward(x4, w1, b1)[0])[:, :, ::2, ::2].copy()

    def timed(fn, repeat: int) -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best

    def c1_c3(conv) -> tuple:
        return conv(x4, w1, b1), conv(h, w3, b3)

    t_naive = timed(lambda: c1_c3(layers.conv2d_forward_naive), 2)
    t_taught = timed(lambda: c1_c3(layers.conv2d_forward), 50)
    t_fast = timed(lambda: c1_c3(fast_layers.conv2d_forward), 50)
    print(f"conv forward (C1 + C3, 4 images): loops {t_naive * 1e3:.1f} ms, taught vectorized "
          f"{t_taught * 1e3:.3f} ms, fast {t_fast * 1e3:.3f} ms: the loops are "
          f"{t_naive / t_fast:.0f}x and the taught version {t_taught / t_fast:.1f}x slower than "
          "the fast one")  # fmt: skip

    # Peak memory that one NumPy training step at this batch size allocates (NumPy reports its
    # buffers to tracemalloc), and the whole process's peak resident size (torch included).
    tracemalloc.start()
    _, grads = np_model.loss(xs[0], ys[0])
    np_opt.step(grads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of one NumPy training step at batch {bs}: {peak / 2**20:.0f} MB "
          f"(target: a few hundred MB at most); process peak RSS {rss_mb:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    ARGS = parse_args()
    if ARGS.threads:  # must be set before NumPy loads OpenBLAS: re-run with it in place
        if os.environ.get("OPENBLAS_NUM_THREADS") != str(ARGS.threads):
            os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
            os.execv(sys.executable, [sys.executable, *sys.argv])
    main(ARGS)
