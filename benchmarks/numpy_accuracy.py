"""Test accuracy of the NumPy LeNet-5 trained on the full MNIST training set.

Trains with lenet_ref.numpy_train.train (SGD with momentum, cosine learning rate) on all 60,000
training digits and prints, after every epoch, the test accuracy on the 10,000 test digits and
the seconds the epoch took. Target: >= 98.5% test accuracy within 3 epochs.

    .venv/bin/python benchmarks/numpy_accuracy.py [--variant classic] [--epochs 3]
        [--batch-size 64] [--lr 0.05] [--seed 0] [--threads 1]

OpenBLAS runs with 1 thread unless --threads says otherwise (0: OpenBLAS's default, one per
core). The model's matrix products are small (it computes 64 images at a time), so a second
thread gains little when the machine is idle, and on a loaded machine the threads' busy-waiting
makes an epoch 5-10x slower (measured here: about 25 s with 1 thread, 170-300 s with 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from lenet_kit.data import load_mnist
from lenet_ref.numpy_lenet import LeNet5
from lenet_ref.numpy_train import evaluate, train
from lenet_ref.transforms import lenet_inputs

TARGET = 0.985


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="classic", choices=["classic", "modern"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--scaling", default="lecun", choices=["lecun", "standard"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="show a tqdm bar per epoch")
    parser.add_argument("--threads", type=int, default=1, help="OpenBLAS threads (0: default)")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:

    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    x_train = lenet_inputs(images, scaling=args.scaling, dtype=np.float32)
    x_test = lenet_inputs(test_images, scaling=args.scaling, dtype=np.float32)
    y_train, y_test = labels.astype(np.int64), test_labels.astype(np.int64)
    print(
        f"NumPy LeNet-5 '{args.variant}': {len(x_train):,} training / {len(x_test):,} test "
        f"digits, batch {args.batch_size}, SGD lr {args.lr} (cosine) momentum {args.momentum}, "
        f"weight decay {args.weight_decay}, '{args.scaling}' scaling, seed {args.seed}; "
        f"OpenBLAS threads {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )

    model = LeNet5(args.variant, seed=args.seed, dtype=np.float32)
    test_accs: list[float] = []

    def report(epoch: int, history: dict) -> None:
        start = time.perf_counter()
        acc = evaluate(model, x_test, y_test)
        test_accs.append(acc)
        print(
            f"epoch {epoch}: train loss {history['train_loss'][-1]:.4f}, "
            f"train acc {history['train_acc'][-1]:.2%}, test acc {acc:.2%}, "
            f"{history['seconds'][-1]:.1f} s training + {time.perf_counter() - start:.1f} s test",
            flush=True,
        )

    history = train(
        model,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        seed=args.seed,
        progress=args.progress,
        callback=report,
    )
    best = max(test_accs)
    first = next((i + 1 for i, a in enumerate(test_accs) if a >= TARGET), None)
    print(
        f"final test accuracy {test_accs[-1]:.2%} (best {best:.2%}); "
        f"{sum(history['seconds']):.1f} s of training in total. Target >= {TARGET:.1%} within "
        f"3 epochs: {'MET at epoch ' + str(first) if first and first <= 3 else 'NOT MET'}"
    )


if __name__ == "__main__":
    ARGS = parse_args()
    wanted = str(ARGS.threads) if ARGS.threads else None
    if os.environ.get("OPENBLAS_NUM_THREADS") != wanted:  # only read when OpenBLAS loads
        if wanted is None:
            os.environ.pop("OPENBLAS_NUM_THREADS")
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = wanted
        os.execv(sys.executable, [sys.executable, *sys.argv])
    main(ARGS)
