"""LeNet-5 in PyTorch: :class:`LeNet5` ("classic", "modern" or your choice of activation and
pooling) and, through :func:`create_model`, the published network :class:`LeNet1998`.

Every model takes (N, 1, 32, 32) inputs and returns logits (N, 10); ``model.loss(logits, y)``
is its own training criterion and ``logits.argmax(1)`` its prediction. The layer names C1, S2,
C3, S4, C5, F6, OUT follow the paper. The constructor chooses the modules, ``forward`` only
computes. The parameters of :class:`LeNet5` match the NumPy model's
(:mod:`lenet_ref.numpy_lenet`) keys; :func:`numpy_params`, :func:`load_numpy_params`,
:func:`from_numpy` and :func:`to_numpy` exchange them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lenet_ref import numpy_lenet
from lenet_ref.lecun1998 import LeNet1998, squash
from lenet_ref.transforms import check_input_shape

#: Every network :func:`create_model` builds: the two of :class:`LeNet5` and the published one.
VARIANTS = ("classic", "modern", "lecun1998")

#: Layer names in forward order.
LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "OUT")

#: The elementwise activations :class:`LeNet5` can use, by name.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "scaled tanh": squash,
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
}
#: The 2x2 poolings :class:`LeNet5` can use, by name.
POOLINGS: dict[str, type[nn.Module]] = {"average": nn.AvgPool2d, "max": nn.MaxPool2d}
#: Each variant of :class:`LeNet5`: its (activation, pooling).
DEFAULTS = {"classic": ("tanh", "average"), "modern": ("relu", "max")}

#: NumPy parameter keys and shapes, the exchange contract (dense weights are (in, out)).
NUMPY_SHAPES = numpy_lenet.PARAM_SHAPES
_DENSE = ("C5", "F6", "OUT")


def _choice(kind: str, name: str, options: dict[str, Any]) -> str:
    if name not in options:
        raise ValueError(f"{kind} must be one of {tuple(options)}, got {name!r}.")
    return name


class LeNet5(nn.Module):
    """LeNet-5: (N, 1, 32, 32) float images -> (N, 10) logits; 61,706 parameters.

    variant: "classic" (tanh, 2x2 average pooling) or "modern" (ReLU, 2x2 max pooling); the
    output is 10 linear units and :meth:`loss` is softmax cross-entropy.
    activation: a name in :data:`ACTIVATIONS` instead of the variant's; pooling: "average" or
    "max" instead of the variant's; dropout: probability of dropping each C5 and F6 output
    while training (0: none). Parameters keep PyTorch's default initialisation (uniform,
    variance 1/(3 fan_in)), which in our runs reached a given accuracy in fewer steps than LeCun
    or He scaling.

    C5 is a 5x5 convolution over 5x5 maps, i.e. a dense layer on the flattened (16, 5, 5)
    features; it is stored as ``nn.Linear(400, 120)`` (C-order flatten).
    """

    #: Constructor options besides the variant, recorded in checkpoints.
    OPTIONS = ("activation", "pooling", "dropout")

    def __init__(
        self,
        variant: str = "classic",
        *,
        activation: str | None = None,
        pooling: str | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if variant == "lecun1998":
            raise ValueError(
                "LeNet5 builds the 'classic' and 'modern' variants; the published network is "
                "lenet_ref.lecun1998.LeNet1998 (or create_model('lecun1998'))."
            )
        self.variant = _choice("variant", variant, DEFAULTS)
        self.activation = _choice("activation", activation or DEFAULTS[variant][0], ACTIVATIONS)
        self.pooling = _choice("pooling", pooling or DEFAULTS[variant][1], POOLINGS)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        #: The activation function (a plain function, so the children stay the seven layers).
        self.act = ACTIVATIONS[self.activation]
        pool = POOLINGS[self.pooling]
        self.C1 = nn.Conv2d(1, 6, kernel_size=5)
        self.S2 = pool(2)
        self.C3 = nn.Conv2d(6, 16, kernel_size=5)
        self.S4 = pool(2)
        self.C5 = nn.Linear(16 * 5 * 5, 120)
        self.F6 = nn.Linear(120, 84)
        self.OUT = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 32, 32) -> logits (N, 10)."""
        check_input_shape(x.shape, "LeNet5")
        x = self.S2(self.act(self.C1(x)))  # (N, 6, 14, 14)
        x = self.S4(self.act(self.C3(x)))  # (N, 16, 5, 5)
        x = self._drop(self.act(self.C5(torch.flatten(x, 1))))  # (N, 120)
        x = self._drop(self.act(self.F6(x)))  # (N, 84)
        return self.OUT(x)  # (N, 10)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout else x

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy (a scalar) of logits (N, 10) against class indices (N,)."""
        return F.cross_entropy(logits, target)

    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments (besides the variant) that rebuild this model."""
        return {"activation": self.activation, "pooling": self.pooling, "dropout": self.dropout}

    def extra_repr(self) -> str:
        dropout = f", dropout={self.dropout}" if self.dropout else ""
        return (
            f"variant={self.variant!r}, activation={self.activation!r}, "
            f"pooling={self.pooling!r}{dropout}"
        )


def create_model(variant: str = "classic", **options: Any) -> LeNet5 | LeNet1998:
    """A fresh network of one of :data:`VARIANTS`: :class:`LeNet1998` for "lecun1998" (options:
    ``map_j``), else :class:`LeNet5` (options: ``activation``, ``pooling``, ``dropout``)."""
    if variant == "lecun1998":
        return LeNet1998(**options)
    if variant not in DEFAULTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    return LeNet5(variant, **options)


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


def _require_exchangeable(model: nn.Module) -> None:
    if isinstance(model, LeNet1998):
        raise ValueError(
            "the NumPy model has no 'lecun1998' variant (trainable subsampling, partial C3, RBF "
            "output): NumPy exchange supports 'classic' and 'modern' only."
        )
    if not isinstance(model, LeNet5):
        raise TypeError(f"expected a lenet_ref.torch_lenet.LeNet5, got {type(model).__name__}.")
    if (model.activation, model.pooling) != DEFAULTS[model.variant]:
        raise ValueError(
            f"the NumPy model's {model.variant!r} variant uses {DEFAULTS[model.variant]}, but this "
            f"model uses activation {model.activation!r} and pooling {model.pooling!r}."
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
