"""LeNet-5 in NumPy: layer objects built on :mod:`lenet_ref.fast_layers`, and the network itself.

Each layer object holds its trainable arrays in ``params`` and, after ``backward``, their
gradients in ``grads`` (same keys). ``forward(x)`` keeps what ``backward(dout)`` needs, as
PyTorch modules do with autograd. Swapping a layer is one line::

    model = LeNet5("classic")
    model.layers["act1"] = ScaledTanh()      # the paper's squashing function after C1
    model.layers["S2"] = MaxPool2D()

Parameter names are a contract with :mod:`lenet_ref.torch_lenet`: "C1.weight" (6, 1, 5, 5),
"C1.bias", "C3.weight" (16, 6, 5, 5), "C3.bias", "C5.weight" (400, 120), "C5.bias",
"F6.weight" (120, 84), "F6.bias", "OUT.weight" (84, 10), "OUT.bias". Dense weights are stored
(in, out), i.e. transposed with respect to ``torch.nn.Linear.weight``.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from lenet_ref import fast_layers as L
from lenet_ref.transforms import INPUT_SHAPE, check_input_shape

VARIANTS = ("classic", "modern")
N_CLASSES = 10
PARAM_SHAPES = {
    "C1.weight": (6, 1, 5, 5),
    "C1.bias": (6,),
    "C3.weight": (16, 6, 5, 5),
    "C3.bias": (16,),
    "C5.weight": (400, 120),
    "C5.bias": (120,),
    "F6.weight": (120, 84),
    "F6.bias": (84,),
    "OUT.weight": (84, 10),
    "OUT.bias": (10,),
}


def init_weight(
    shape: tuple[int, ...], fan_in: int, init: str, rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """Random weights scaled by the fan-in (inputs per output unit).

    init: "lecun" (uniform, variance 1/fan_in: keeps tanh units out of saturation),
    "he" (normal, variance 2/fan_in: for ReLU, which zeroes half its inputs) or
    "lecun98" (uniform in +-2.4/fan_in, as in the 1998 paper).
    """
    if init == "lecun":
        limit = np.sqrt(3.0 / fan_in)
        w = rng.uniform(-limit, limit, size=shape)
    elif init == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    elif init == "lecun98":
        w = rng.uniform(-2.4 / fan_in, 2.4 / fan_in, size=shape)
    else:
        raise ValueError(f"init must be 'lecun', 'he' or 'lecun98', got {init!r}.")
    return w.astype(dtype)


class Layer:
    """Base class: no parameters; subclasses set ``params`` in ``__init__``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _need_cache(self) -> Any:
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward.")
        return self.cache

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output example (no batch axis) for one input example's shape."""
        cache = self.cache  # keep a pending backward intact
        shape = self.forward(np.zeros((1, *input_shape), dtype=np.float64)).shape[1:]
        self.cache = cache
        return tuple(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Conv2D(Layer):
    """Convolution: (N, C, H, W) -> (N, F, OH, OW); params "weight" (F, C, K, K), "bias" (F,).

    ``input_grad=False`` skips the input gradient (``backward`` returns None): right for the
    first layer, whose input is the image.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        pad: int = 0,
        *,
        init: str = "lecun",
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
        input_grad: bool = True,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        fan_in = in_channels * kernel_size * kernel_size
        self.params = {
            "weight": init_weight(shape, fan_in, init, rng, dtype),
            "bias": np.zeros(out_channels, dtype=dtype),
        }
        self.stride, self.pad, self.input_grad = stride, pad, input_grad

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = L.conv2d_forward(
            x, self.params["weight"], self.params["bias"], self.stride, self.pad
        )
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dx, self.grads["weight"], self.grads["bias"] = L.conv2d_backward(
            dout, self._need_cache(), input_grad=self.input_grad
        )
        return dx

    def __repr__(self) -> str:
        f, c, k, _ = self.params["weight"].shape
        extra = (f", stride {self.stride}" if self.stride != 1 else "") + (
            f", pad {self.pad}" if self.pad else ""
        )
        return f"Conv2D({c}->{f}, {k}x{k}{extra})"


class Dense(Layer):
    """Fully connected: (N, D) -> (N, M); params "weight" (D, M), "bias" (M,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "lecun",
        rng: np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.params = {
            "weight": init_weight((in_features, out_features), in_features, init, rng, dtype),
            "bias": np.zeros(out_features, dtype=dtype),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = L.dense_forward(x, self.params["weight"], self.params["bias"])
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, self.grads["weight"], self.grads["bias"] = L.dense_backward(dout, self._need_cache())
        return dx

    def __repr__(self) -> str:
        d, m = self.params["weight"].shape
        return f"Dense({d}->{m})"


class _FunctionLayer(Layer):
    """A parameter-free layer given by a forward/backward function pair of the layer functions."""

    _forward = staticmethod(L.tanh_forward)
    _backward = staticmethod(L.tanh_backward)

    def _options(self) -> tuple:
        """Extra positional arguments of the forward function."""
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self.cache = self._forward(x, *self._options())
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, self._need_cache())


class _Pool(_FunctionLayer):
    _forward = staticmethod(L.avgpool2d_forward)
    _backward = staticmethod(L.avgpool2d_backward)

    def __init__(self, size: int = 2, stride: int = 2) -> None:
        super().__init__()
        self.size, self.stride = size, stride

    def _options(self) -> tuple:
        return (self.size, self.stride)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.size}x{self.size}, stride {self.stride})"


class AvgPool2D(_Pool):
    """Average pooling: (N, C, H, W) -> (N, C, OH, OW); no parameters."""


class MaxPool2D(_Pool):
    """Max pooling: (N, C, H, W) -> (N, C, OH, OW); ties send the gradient to the first max."""

    _forward = staticmethod(L.maxpool2d_forward)
    _backward = staticmethod(L.maxpool2d_backward)


class _Activation(_FunctionLayer):
    """An elementwise activation (any shape)."""


class Tanh(_Activation):
    """tanh, any shape."""


class ScaledTanh(_Activation):
    """The paper's 1.7159 tanh(2x/3), any shape."""

    _forward = staticmethod(L.scaled_tanh_forward)
    _backward = staticmethod(L.scaled_tanh_backward)


class Sigmoid(_Activation):
    """Logistic sigmoid, any shape."""

    _forward = staticmethod(L.sigmoid_forward)
    _backward = staticmethod(L.sigmoid_backward)


class ReLU(_Activation):
    """max(x, 0), any shape."""

    _forward = staticmethod(L.relu_forward)
    _backward = staticmethod(L.relu_backward)


class Flatten(_FunctionLayer):
    """(N, C, H, W) -> (N, C*H*W) in C order, like torch.flatten(x, 1)."""

    _forward = staticmethod(L.flatten_forward)
    _backward = staticmethod(L.flatten_backward)


class ParamDict(dict):
    """``{"C1.weight": array, ...}`` holding the layers' own arrays.

    Assigning a key copies the new values INTO the layer's array (same shape required), so
    ``model.params["C1.bias"] = b`` updates the model and optimizers keep valid references.
    """

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        if key not in self:
            raise KeyError(f"{key!r} is not a parameter; the parameters are {list(self)}.")
        target = dict.__getitem__(self, key)
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(
                f"params[{key!r}] has shape {target.shape}; cannot assign shape {value.shape}."
            )
        target[...] = value


class LeNet5:
    """LeNet-5 for 32x32 inputs (N, 1, 32, 32) -> logits (N, 10); 61,706 parameters.

    variant "classic": tanh and average pooling; "modern": ReLU and max pooling. Softmax lives in
    the loss (:meth:`loss`). Layers, in order, in the dict ``self.layers``::

        C1 conv 1->6 5x5, act1, S2 pool 2x2/2, C3 conv 6->16 5x5, act3, S4 pool 2x2/2,
        flatten (400), C5 dense 400->120, act5, F6 dense 120->84, act6, OUT dense 84->10

    ``params`` and ``grads`` map "C1.weight"-style names to the layers' own arrays. Weights are
    drawn with ``np.random.default_rng(seed)``, scaled by fan-in ("lecun" for tanh, "he" for
    ReLU; see :func:`init_weight`); biases start at 0. C1 skips the gradient of the image.
    """

    def __init__(self, variant: str = "classic", seed: int = 0, dtype: Any = np.float32) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
        self.variant, self.seed, self.dtype = variant, seed, dtype
        rng = np.random.default_rng(seed)
        if variant == "classic":
            act, pool, init = Tanh, AvgPool2D, "lecun"
        else:
            act, pool, init = ReLU, MaxPool2D, "he"
        kw = {"init": init, "rng": rng, "dtype": dtype}
        self.layers: dict[str, Layer] = {
            "C1": Conv2D(1, 6, 5, input_grad=False, **kw),
            "act1": act(),
            "S2": pool(2, 2),
            "C3": Conv2D(6, 16, 5, **kw),
            "act3": act(),
            "S4": pool(2, 2),
            "flatten": Flatten(),
            "C5": Dense(400, 120, **kw),
            "act5": act(),
            "F6": Dense(120, 84, **kw),
            "act6": act(),
            # Linear output (softmax is in the loss): variance-1/fan_in scaling in both variants.
            "OUT": Dense(84, N_CLASSES, init="lecun", rng=rng, dtype=dtype),
        }
        self.grads: dict[str, np.ndarray] = {}
        self.last_logits: np.ndarray | None = None

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> ParamDict:
        """{"C1.weight": array, ...}: the layers' own arrays (assigning a key writes through)."""
        return ParamDict(
            (f"{name}.{key}", value)
            for name, layer in self.layers.items()
            for key, value in layer.params.items()
        )

    def num_params(self) -> int:
        return sum(int(v.size) for v in self.params.values())

    # -- computation --------------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        check_input_shape(x.shape, "LeNet5")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, 1, 32, 32) -> logits (N, 10)."""
        out = self._check_input(x)
        for layer in self.layers.values():
            out = layer.forward(out)
        return out

    __call__ = forward

    def backward(self, dout: np.ndarray) -> dict[str, np.ndarray]:
        """dout: (N, 10) gradient of the logits -> grads of every parameter (after forward)."""
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
            if dout is None:  # the first layer does not compute the image's gradient
                break
        self.grads = {
            f"{name}.{key}": value
            for name, layer in self.layers.items()
            for key, value in layer.grads.items()
        }
        return self.grads

    #: loss() and predict() run batches larger than this in chunks (loss sums their gradients, so
    #: the result is the whole batch's): each chunk's activations stay in the CPU caches, which
    #: is 1.4x faster for a training batch of 256.
    chunk_size = 64

    def loss(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean softmax cross-entropy of a batch and its gradients.

        x: (N, 1, 32, 32), y: (N,) labels 0..9 -> (loss, grads with the keys of ``params``).
        The batch's logits (N, 10) stay in ``self.last_logits`` (for the training accuracy).
        """
        x = self._check_input(x)
        y = np.asarray(y)
        n = len(x)
        if y.shape != (n,):
            raise ValueError(
                f"LeNet5.loss: y has shape {y.shape} but x holds {n} images; expected ({n},)."
            )
        total, grads, logits = 0.0, {}, []
        for start in range(0, max(n, 1), self.chunk_size):
            stop = start + self.chunk_size
            chunk_logits = self.forward(x[start:stop])
            chunk_loss, dlogits = L.softmax_cross_entropy(chunk_logits, y[start:stop])
            share = len(chunk_logits) / n  # the loss is the mean over the whole batch
            dlogits *= share
            total += chunk_loss * share
            for key, g in self.backward(dlogits).items():
                if key in grads:
                    grads[key] += g
                else:
                    grads[key] = g.copy()
            logits.append(chunk_logits)
        self.last_logits = logits[0] if len(logits) == 1 else np.concatenate(logits)
        for name, layer in self.layers.items():  # the layers show the whole batch's gradients
            for key in layer.grads:
                layer.grads[key] = grads[f"{name}.{key}"]
        self.grads = grads
        return total, grads

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (N, 1, 32, 32) -> predicted labels (N,) int64.

        Runs ``chunk_size`` images at a time: memory stays small for any N, and small chunks are
        the fastest (10,000 images: 3x faster in chunks of 64 than of 1,000).
        """
        x = np.asarray(x)
        self._check_input(x[:1])
        labels = [
            np.argmax(self.forward(x[start : start + self.chunk_size]), axis=1)
            for start in range(0, len(x), self.chunk_size)
        ]
        return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)

    # -- description --------------------------------------------------------------------------
    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per stage: name, what it is, output shape (no batch axis), parameters.

        Activations are folded into the row of the layer they follow.
        """
        rows = [{"name": "input", "layer": "image", "output_shape": INPUT_SHAPE, "params": 0}]
        shape: tuple[int, ...] = INPUT_SHAPE
        for name, layer in self.layers.items():
            shape = layer.output_shape(shape)
            n_params = sum(int(v.size) for v in layer.params.values())
            if isinstance(layer, Flatten):
                continue
            if isinstance(layer, _Activation):
                rows[-1]["layer"] += f" + {type(layer).__name__}"
                continue
            rows.append(
                {"name": name, "layer": repr(layer), "output_shape": shape, "params": n_params}
            )
        return rows

    def summary(self) -> str:
        """A printable table of the layers, output shapes and parameter counts."""

        def fmt(shape: tuple[int, ...]) -> str:
            if len(shape) == 3:
                c, h, w = shape
                return f"{c}@{h}x{w}" if c > 1 else f"{h}x{w}"
            return str(shape[0])

        rows = self.summary_rows()
        lines = [
            f"LeNet5(variant={self.variant!r}, dtype={self.dtype.name})",
            f"{'name':<6} {'layer':<34} {'output':>9} {'params':>8}",
        ]
        for r in rows:
            lines.append(
                f"{r['name']:<6} {r['layer']:<34} {fmt(r['output_shape']):>9} {r['params']:>8,}"
            )
        lines.append(f"{'total':<6} {'':<34} {'':>9} {sum(r['params'] for r in rows):>8,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> str:
        """Write the parameters and the variant to an .npz file; returns the path written."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        np.savez(path, variant=np.array(self.variant), **self.params)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LeNet5:
        """Rebuild a model saved by :meth:`save` (its dtype is the saved arrays' dtype)."""
        path = os.fspath(path)
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive of parameters")
            with data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise ValueError(
                f"LeNet5.load: could not read {path!r} as an .npz file ({err}). Was it written "
                "by LeNet5.save?"
            ) from err
        expected = set(PARAM_SHAPES) | {"variant"}
        if set(arrays) != expected:
            missing = sorted(expected - set(arrays))
            extra = sorted(set(arrays) - expected)
            raise ValueError(
                f"LeNet5.load: {path!r} does not hold a LeNet5: missing keys {missing}, "
                f"unexpected keys {extra}."
            )
        variant = arrays.pop("variant")
        if variant.shape != () or str(variant) not in VARIANTS:
            raise ValueError(
                f"LeNet5.load: {path!r} has variant {variant!r}; expected one of {VARIANTS}."
            )
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
            raise ValueError(
                f"LeNet5.load: {path!r} holds arrays of dtypes {sorted(map(str, dtypes))}; "
                "expected all float32 or all float64."
            )
        model = cls(str(variant), dtype=dtypes.pop())
        params = model.params
        for key, value in arrays.items():
            if value.shape != params[key].shape:
                raise ValueError(
                    f"LeNet5.load: {key} in {path!r} has shape {value.shape}, expected "
                    f"{params[key].shape}."
                )
            params[key][...] = value
        return model
