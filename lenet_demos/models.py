"""Models for the demos: one adapter for any LeNet-5, the playground's models, a trained reference.

:class:`DemoModel` lets every demo read a model the same way, whichever it is: the reference
:class:`lenet_ref.torch_lenet.LeNet5`, a student's own ``torch.nn.Module`` (any layer names, on
any device) mapping (N, 1, 32, 32) to (N, 10) logits, or a NumPy model with ordered ``layers``
(:class:`lenet_ref.numpy_lenet.LeNet5` or a student's class shaped like it).

:func:`reference_model` returns a trained reference model: the checkpoint that ``make demos``
builds in the cache folder when it is there, otherwise one trained for a few seconds on a subset.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lenet_kit.data import course_cache_dir, load_mnist
from lenet_ref import torch_lenet, transforms
from lenet_ref.checkpoints import load_checkpoint, save_checkpoint
from lenet_ref.device import pick_device
from lenet_ref.lecun1998 import LeNet1998
from lenet_ref.torch_lenet import LeNet5, create_model
from lenet_ref.torch_train import SCALINGS, evaluate, to_device, train

#: The activations and poolings the demos offer: those :class:`LeNet5` can be built with.
ACTIVATIONS = tuple(torch_lenet.ACTIVATIONS)
POOLINGS = tuple(torch_lenet.POOLINGS)


def activation_fn(name: str) -> Any:
    """The elementwise function called ``name`` (one of :data:`ACTIVATIONS`), on tensors."""
    if name not in torch_lenet.ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}.")
    return torch_lenet.ACTIVATIONS[name]


def build_model(
    variant: str, activation: str | None = None, pooling: str | None = None, dropout: float = 0.0
) -> LeNet5 | LeNet1998:
    """The playground's model: "lecun1998" as published, else a :class:`LeNet5` with the given
    activation, pooling and dropout (None: the variant's own; "classic" is tanh + average
    pooling, "modern" ReLU + max pooling)."""
    if variant == "lecun1998":
        return create_model(variant)
    return create_model(variant, activation=activation, pooling=pooling, dropout=dropout)


class WithLoss(nn.Module):
    """Gives a model without a ``loss`` method the cross-entropy loss that training needs."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target)


def trainable(model: nn.Module) -> nn.Module:
    """``model`` itself if it has ``loss(logits, y)``, else wrapped in :class:`WithLoss`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"only torch models can be trained here, got {type(model).__name__}.")
    return model if callable(getattr(model, "loss", None)) else WithLoss(model)


@dataclass
class Activation:
    """One stage of a forward pass: ``name`` and ``value`` (C, H, W) maps or (F,) features."""

    name: str
    value: np.ndarray


@dataclass
class ConvWeights:
    """A convolution's kernels (out, in, k, k) and, for partial C3, its (out, in) connections."""

    name: str
    weight: np.ndarray
    mask: np.ndarray | None = None


class DemoModel:
    """Reads any LeNet-5 the same way: probabilities, activations layer by layer, conv kernels.

    model: a ``torch.nn.Module`` ((N, 1, 32, 32) -> (N, 10) logits; it stays on its own device)
    or a NumPy model with an ordered ``layers`` dict and ``forward``.
    scaling: how the model's inputs were scaled in training ("lecun" or "standard").
    All methods take raw uint8 digits (N, 28, 28), as :func:`lenet_kit.data.load_mnist` gives.
    """

    def __init__(self, model: Any, scaling: str = "lecun", name: str | None = None) -> None:
        if isinstance(model, DemoModel):
            model = model.model
        if isinstance(model, nn.Module):
            self.kind = "torch"
        elif hasattr(model, "layers") and callable(getattr(model, "forward", None)):
            self.kind = "numpy"
        else:
            raise TypeError(
                f"the demos need a LeNet-5: a torch.nn.Module or a NumPy model with ordered "
                f"`layers` and `forward`; got {type(model).__name__}. Pass your trained model "
                "object (for example the one your PyTorch notebook trained)."
            )
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
        self.model = model
        self.scaling = scaling
        self.name = name or type(model).__name__
        self.lock = threading.Lock()  # a playground thread may train this model meanwhile

    @property
    def device(self) -> torch.device:
        if self.kind == "numpy":
            return torch.device("cpu")
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) or (28, 28) -> float32 (N, 1, 32, 32) in the model's scaling."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[-2:] != (28, 28):
            raise ValueError(
                f"expected uint8 digits (N, 28, 28), got {images.dtype} {images.shape}. "
                "Use the raw arrays of lenet_kit.data.load_mnist."
            )
        return transforms.lenet_inputs(images, scaling=self.scaling)

    def logits(self, images: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """uint8 (N, 28, 28) -> logits (N, 10) float64."""
        x = self.inputs(images)
        parts = []
        with self.lock:
            if self.kind == "numpy":
                for s in range(0, len(x), batch_size):
                    parts.append(np.asarray(self.model.forward(x[s : s + batch_size])))
            else:
                was_training = self.model.training
                self.model.eval()
                try:
                    with torch.no_grad():
                        for s in range(0, len(x), batch_size):
                            batch = torch.from_numpy(x[s : s + batch_size]).to(self.device)
                            parts.append(self.model(batch).float().cpu().numpy())
                finally:
                    self.model.train(was_training)
        out = np.concatenate(parts).astype(np.float64)
        if out.ndim != 2 or out.shape[1] != 10:
            raise ValueError(f"the model returned shape {out.shape}; expected (N, 10) logits.")
        return out

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) -> softmax probabilities (N, 10)."""
        z = self.logits(images)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def activations(self, image: np.ndarray) -> list[Activation]:
        """The values flowing between layers for one uint8 digit (28, 28), input first.

        A torch model is observed through forward hooks on its leaf modules; the value after a
        module is what the next module receives when shapes agree (so a functional activation
        between C1 and S2 is included), and runs of equal shapes keep the last (post-activation).
        """
        x = self.inputs(np.asarray(image)[None])
        stages: list[tuple[str, np.ndarray]] = []
        with self.lock:
            if self.kind == "numpy":
                out = x
                for name, layer in self.model.layers.items():
                    out = layer.forward(out)
                    stages.append((name, np.asarray(out)[0]))
            else:
                stages = self._torch_stages(torch.from_numpy(x).to(self.device))
        merged: list[Activation] = [Activation("input", x[0])]
        for name, value in stages:
            if value.ndim not in (1, 3):
                continue
            if merged and merged[-1].name != "input" and merged[-1].value.shape == value.shape:
                merged[-1] = Activation(merged[-1].name, value)
            else:
                merged.append(Activation(name, value))
        return merged

    def _torch_stages(self, x: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        records: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        leaves = [(n, m) for n, m in self.model.named_modules() if not list(m.children()) and n]

        def hook(name: str) -> Any:
            def record(_m: nn.Module, inputs: tuple, output: Any) -> None:
                if inputs and torch.is_tensor(inputs[0]) and torch.is_tensor(output):
                    records.append((name, inputs[0].detach(), output.detach()))

            return record

        handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                final = self.model(x).detach()
        finally:
            self.model.train(was_training)
            for h in handles:
                h.remove()
        stages = []
        for i, (name, _inp, out) in enumerate(records):
            after = out
            if i + 1 < len(records) and records[i + 1][1].shape == out.shape:
                after = records[i + 1][1]  # includes functional ops between the two modules
            stages.append((name, after[0].float().cpu().numpy()))
        if not records or records[-1][2].shape != final.shape:
            stages.append(("output", final[0].float().cpu().numpy()))
        return stages

    def conv_weights(self) -> list[ConvWeights]:
        """The model's convolutions in order (C1 first): kernels (out, in, k, k), C3's mask."""
        found = []
        with self.lock:
            if self.kind == "numpy":
                for name, layer in self.model.layers.items():
                    w = getattr(layer, "params", {}).get("weight")
                    if w is not None and np.ndim(w) == 4:
                        found.append(ConvWeights(name, np.asarray(w, dtype=np.float64)))
                return found
            for name, module in self.model.named_modules():
                if hasattr(module, "dense_weight") and hasattr(module, "connection_mask"):
                    w = module.dense_weight().detach().float().cpu().numpy()
                    mask = module.connection_mask().cpu().numpy()
                    found.append(ConvWeights(name, w.astype(np.float64), mask))
                elif isinstance(module, nn.Conv2d):
                    w = module.weight.detach().float().cpu().numpy()
                    found.append(ConvWeights(name, w.astype(np.float64)))
        return found


def as_demo_model(model: Any, scaling: str = "lecun") -> DemoModel:
    """``model`` wrapped in a :class:`DemoModel` (returned unchanged if it already is one)."""
    if isinstance(model, DemoModel):
        return model
    return DemoModel(model, scaling=scaling)


# --- the trained reference model -----------------------------------------------------------------


def cache_dir() -> Path:
    """Where the demos keep their checkpoint: ``$LENET_DEMOS_CACHE``, else ``demos`` in the
    course's cache folder (:func:`lenet_kit.data.course_cache_dir`, beside the MNIST cache)."""
    if os.environ.get("LENET_DEMOS_CACHE"):
        return Path(os.environ["LENET_DEMOS_CACHE"]).expanduser()
    return course_cache_dir() / "demos"


def checkpoint_path(variant: str = "classic") -> Path:
    return cache_dir() / f"lenet5-{variant}.pt"


def quick_train(
    variant: str = "classic",
    n_train: int = 8_000,
    epochs: int = 2,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[LeNet5 | LeNet1998, dict[str, Any]]:
    """Train a reference LeNet-5 on the first ``n_train`` MNIST digits (seconds on a CPU).

    ``progress``: show a progress bar per epoch (batches done, loss, accuracy).
    Returns (model in eval mode, info with "variant", "test_acc" on 2,000 test digits measured
    once after training, "source").
    """
    device = pick_device(device)
    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    train_data = to_device(images[:n_train], labels[:n_train], device, scaling="lecun")
    test_data = to_device(test_images[:2000], test_labels[:2000], device, scaling="lecun")
    torch.manual_seed(seed)
    model = create_model(variant)
    train(
        model, train_data, epochs=epochs, batch_size=128, optimizer="adam", lr=4e-3,
        device=device, seed=seed, progress=progress,
    )  # fmt: skip
    model.eval()
    info = {
        "variant": variant,
        "test_acc": evaluate(model, test_data),
        "source": f"trained just now on {n_train:,} digits for {epochs} epochs",
    }
    return model, info


def build_checkpoint(variant: str = "classic", epochs: int = 5) -> Path:
    """Train on all 60,000 digits (a minute or two on 2 CPU cores) and save to the cache,
    with a progress bar per epoch."""
    model, info = quick_train(variant, n_train=60_000, epochs=epochs, progress=True)
    path = checkpoint_path(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"test_acc_2000": info["test_acc"], "scaling": "lecun", "epochs": epochs}
    return save_checkpoint(path, model, epoch=epochs, metrics=metrics)


def reference_model(
    variant: str = "classic", device: str | torch.device | None = None
) -> tuple[DemoModel, str]:
    """A trained reference LeNet-5 for the demos and one line saying where it came from.

    Loads the cached checkpoint (``make demos`` builds it) when present, else trains for a few
    seconds on 8,000 digits. Never takes minutes, so notebooks stay quick to execute headless.
    """
    path = checkpoint_path(variant)
    if path.is_file():
        model, info = load_checkpoint(path, device=pick_device(device))
        acc = info["metrics"].get("test_acc_2000")
        where = f"loaded {path}"
    else:
        model, info = quick_train(variant, device=device)
        acc = info["test_acc"]
        where = info["source"] + " (run `make demos` once to cache a better model)"
    demo = DemoModel(model, scaling="lecun", name=f"reference LeNet-5 ({variant})")
    accuracy = f"{acc:.1%}" if acc is not None else "unknown"
    return demo, f"{demo.name} on {demo.device}: {where}; test accuracy {accuracy}."


def main(argv: list[str] | None = None) -> int:
    """``python -m lenet_demos build``: cache the trained reference checkpoint."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lenet_demos")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--variant", default="classic")
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    args = parser.parse_args(argv)
    path = checkpoint_path(args.variant)
    if path.is_file() and not args.force:
        print(f"demo checkpoint present: {path}")
        return 0
    print(
        f"Training the demos' reference LeNet-5 ({args.variant}) on 60,000 digits, once: "
        f"it is cached in {path.parent}.",
        flush=True,
    )
    print(f"demo checkpoint written: {build_checkpoint(args.variant)}")
    return 0
