"""LeNet-5 in PyTorch: the "classic", "modern" and published ("lecun1998") variants.

Every variant takes (N, 1, 32, 32) inputs and returns logits (N, 10); ``model.loss(logits, y)``
is the variant's own training criterion and ``logits.argmax(1)`` its prediction. The layer names
C1, S2, C3, S4, C5, F6, OUT follow the paper, and for "classic" and "modern" the parameters match
the NumPy model's (:mod:`lenet_ref.numpy_lenet`) keys; :func:`numpy_params`,
:func:`load_numpy_params`, :func:`from_numpy` and :func:`to_numpy` exchange them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lenet_ref import lecun1998 as L
from lenet_ref import numpy_lenet

VARIANTS = ("classic", "modern", "lecun1998")

#: Layer names in forward order.
LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "OUT")

#: NumPy parameter keys and shapes, the exchange contract (dense weights are (in, out)).
NUMPY_SHAPES = numpy_lenet.PARAM_SHAPES
_DENSE = ("C5", "F6", "OUT")


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    return variant


class LeNet5(nn.Module):
    """LeNet-5: (N, 1, 32, 32) float images -> (N, 10) logits.

    variant:
      - "classic": tanh, 2x2 average pooling, 10 linear outputs (softmax cross-entropy);
      - "modern": ReLU, 2x2 max pooling, otherwise as "classic";
      - "lecun1998": the published network: squash 1.7159 tanh(2a/3), trainable subsampling,
        C3 wired by Table I, Euclidean RBF output with fixed 7x12 codes, MAP loss; the logits are
        the negated RBF penalties -y. Initialised U(+-2.4 / fan_in). 60,000 parameters.
    map_j: the constant j of the MAP loss (lecun1998 only).

    C5 is a 5x5 convolution over 5x5 maps, i.e. a dense layer on the flattened (16, 5, 5)
    features; it is stored as ``nn.Linear(400, 120)`` (C-order flatten).
    """

    def __init__(self, variant: str = "classic", *, map_j: float = L.MAP_J) -> None:
        super().__init__()
        self.variant = _check_variant(variant)
        self.map_j = float(map_j)
        self.C1 = nn.Conv2d(1, 6, kernel_size=5)
        if variant == "lecun1998":
            self.S2 = L.Subsampling(6)
            self.C3 = L.PartialConv2d(6, L.C3_TABLE, kernel_size=5)
            self.S4 = L.Subsampling(16)
        else:
            pool = nn.AvgPool2d if variant == "classic" else nn.MaxPool2d
            self.S2 = pool(2)
            self.C3 = nn.Conv2d(6, 16, kernel_size=5)
            self.S4 = pool(2)
        self.C5 = nn.Linear(16 * 5 * 5, 120)
        self.F6 = nn.Linear(120, 84)
        self.OUT = L.RBFOutput(L.rbf_codes()) if variant == "lecun1998" else nn.Linear(84, 10)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """lecun1998: every weight and bias U(+-2.4 / fan_in), as in the paper.

        classic and modern keep PyTorch's default initialisation (uniform, variance 1/(3 fan_in)),
        which in our runs reached a given accuracy in fewer steps than LeCun or He scaling.
        """
        if self.variant != "lecun1998":
            return
        for layer in (self.C1, self.C5, self.F6):  # S2, C3, S4 initialise themselves
            fan_in = layer.weight[0].numel()
            L.lecun_uniform_(layer.weight, fan_in)
            L.lecun_uniform_(layer.bias, fan_in)

    def act(self, a: torch.Tensor) -> torch.Tensor:
        """The variant's activation (elementwise)."""
        if self.variant == "modern":
            return F.relu(a)
        if self.variant == "classic":
            return torch.tanh(a)
        return L.squash(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 32, 32):
            raise ValueError(
                f"LeNet5 expects images of shape (N, 1, 32, 32), got {tuple(x.shape)}. "
                "Pad 28x28 MNIST digits to 32x32 and add a channel axis, e.g. with "
                "lenet_ref.transforms.lenet_inputs(images)."
            )
        x = self.act(self.C1(x))  # (N, 6, 28, 28)
        x = self.S2(x)  # (N, 6, 14, 14); lecun1998's subsampling squashes itself
        x = self.act(self.C3(x))  # (N, 16, 10, 10)
        x = self.S4(x)  # (N, 16, 5, 5)
        x = self.act(self.C5(torch.flatten(x, 1)))  # (N, 120)
        x = self.act(self.F6(x))  # (N, 84)
        if self.variant == "lecun1998":
            return -self.OUT(x)  # (N, 10): -y, so argmax picks the nearest code
        return self.OUT(x)  # (N, 10)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The variant's criterion (scalar): MAP for lecun1998, cross-entropy otherwise."""
        if self.variant == "lecun1998":
            return L.map_loss(logits, target, self.map_j)
        return F.cross_entropy(logits, target)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


# --- summary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    layer: str
    output_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class Summary:
    """Per-layer output shapes and trainable parameter counts; ``str()`` gives a table."""

    variant: str
    rows: tuple[SummaryRow, ...]

    @property
    def total(self) -> int:
        return sum(row.params for row in self.rows)

    def __str__(self) -> str:
        lines = [f"LeNet-5 ({self.variant})", f"{'layer':<6} {'output shape':<20} {'params':>8}"]
        lines += [f"{r.layer:<6} {str(r.output_shape):<20} {r.params:>8,}" for r in self.rows]
        lines.append(f"{'total':<6} {'':<20} {self.total:>8,}")
        return "\n".join(lines)


def summary(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 32, 32)) -> Summary:
    """Run a zero input of ``input_shape`` through ``model`` and record every child layer.

    Returns a :class:`Summary`: one row per top-level submodule, in call order, with its output
    shape and its trainable parameter count (measured through forward hooks, not tabulated).
    """
    rows: list[SummaryRow] = []
    handles = []

    def hook(name: str, module: nn.Module) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            params = sum(p.numel() for p in module.parameters() if p.requires_grad)
            rows.append(SummaryRow(name, tuple(output.shape), params))

        return record

    for name, module in model.named_children():
        handles.append(module.register_forward_hook(hook(name, module)))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Summary(getattr(model, "variant", type(model).__name__), tuple(rows))


# --- exchange with the NumPy model -------------------------------------------------------------


def _require_exchangeable(model: LeNet5) -> None:
    if not isinstance(model, LeNet5):
        raise TypeError(f"expected a lenet_ref.torch_lenet.LeNet5, got {type(model).__name__}.")
    if model.variant == "lecun1998":
        raise ValueError(
            "the NumPy model has no 'lecun1998' variant (trainable subsampling, partial C3, RBF "
            "output): NumPy exchange supports 'classic' and 'modern' only."
        )


def numpy_params(model: LeNet5) -> dict[str, np.ndarray]:
    """The model's parameters under the NumPy keys (float64 copies; dense weights as (in, out))."""
    _require_exchangeable(model)
    out = {}
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().to(torch.float64).numpy().copy()
        layer = name.split(".")[0]
        if layer in _DENSE and name.endswith(".weight"):
            array = np.ascontiguousarray(array.T)
        out[name] = array
    return out


def load_numpy_params(model: LeNet5, params: dict[str, np.ndarray]) -> LeNet5:
    """Copy NumPy-layout ``params`` into ``model`` (in place, keeping its dtype and device).

    Raises ``ValueError`` listing every missing, unexpected or mis-shaped key.
    """
    _require_exchangeable(model)
    missing = sorted(set(NUMPY_SHAPES) - set(params))
    unexpected = sorted(set(params) - set(NUMPY_SHAPES))
    misshaped = [
        f"{k}: got {tuple(np.shape(params[k]))}, expected {shape}"
        for k, shape in NUMPY_SHAPES.items()
        if k in params and tuple(np.shape(params[k])) != shape
    ]
    if missing or unexpected or misshaped:
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if misshaped:
            problems.append("wrong shapes: " + "; ".join(misshaped))
        raise ValueError(
            "these parameters do not fit LeNet-5: " + ", ".join(problems) + ". Expected exactly "
            f"the NumPy model's keys and shapes: {NUMPY_SHAPES}."
        )
    state = model.state_dict()
    with torch.no_grad():
        for name, target in state.items():
            array = np.asarray(params[name])
            if name.split(".")[0] in _DENSE and name.endswith(".weight"):
                array = array.T
            target.copy_(torch.as_tensor(np.ascontiguousarray(array)).to(target.dtype))
    return model


def from_numpy(np_model: numpy_lenet.LeNet5, dtype: torch.dtype = torch.float64) -> LeNet5:
    """A torch LeNet5 with the NumPy model's variant and parameters (``dtype``, on the CPU)."""
    model = LeNet5(np_model.variant).to(dtype)
    return load_numpy_params(model, np_model.params)


def to_numpy(model: LeNet5, dtype: np.dtype | type = np.float64) -> numpy_lenet.LeNet5:
    """A NumPy LeNet5 with the torch model's variant and parameters."""
    params = numpy_params(model)
    np_model = numpy_lenet.LeNet5(model.variant, seed=0, dtype=dtype)
    for key, array in params.items():
        np_model.params[key] = array.astype(dtype)
    return np_model
