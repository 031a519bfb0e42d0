"""Plain data across the grading boundary: values as a JSON tree plus raw byte buffers.

During grading, test cells run in a trusted process and students' code in its own kernel
(see :mod:`lenet_kit.runner`). Everything that crosses between them is *data*, written by
:func:`dump` and rebuilt by :func:`load`, never unpickled, never an object of the sender's:

============================  ==============================================================
value                         on the wire (JSON node; ``i`` indexes the byte buffers)
============================  ==============================================================
None, bool, int, float, str   themselves (JSON keeps ``1`` and ``1.0`` apart)
list, tuple, set, frozenset   ``["list", [...]]``, ``["tuple", [...]]``, ...
dict                          ``["dict", [[key, value], ...]]`` (keys: data that can be hashed)
bytes, complex                ``["bytes", i]``, ``["complex", re, im]``
numpy.ndarray                 ``["array", dtype, shape, i]``: booleans and numbers only
numpy scalar (np.float32 ..)  ``["scalar", dtype, i]``
torch.Tensor, nn.Parameter    ``["tensor", dtype, shape, i, device, requires_grad]``
torch.device, torch.dtype     ``["device", "cuda:0"]``, ``["tdtype", "float32"]``
numpy.dtype, slice, ...       ``["npdtype", "<f4"]``, ``["slice", a, b, c]``, ``["ellipsis"]``
np.random.Generator           ``["npgen", bit_generator, state]`` (its state: a dict of ints)
torch.Generator               ``["tgen", device, i]`` (``get_state()`` bytes)
anything else                 ``["ref", id, info]``: a reference to an object kept by the
                              sender (see :class:`Refs`); the receiver gets a stand-in
============================  ==============================================================

The receiver builds only base types (``np.ndarray``, ``torch.Tensor``, ``int``...) from the
dtype, shape and bytes, so no subclass, ``__array_ufunc__`` or ``__eq__`` of the sender survives
the crossing. A value that *claims* to be data but is not plain (an ``ndarray`` subclass, an
``int`` subclass) is refused with :class:`NotPlainData` rather than passed by reference, so a
test always knows whether it holds data or a stand-in. Random generators cross as their state;
like arrays, a generator an argument brings back its new state after the call (the receiver
records every rebuilt array, tensor and generator in :attr:`Loader.leaves`).
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

#: Nesting deeper than this is refused (a student's recursive structure must not hang a test).
MAX_DEPTH = 48
#: Largest JSON header accepted (a list of ten million ints is not a reasonable answer).
MAX_HEADER_BYTES = 64 * 2**20
#: numpy dtype kinds that cross: bool, signed and unsigned integers, floats, complex.
ARRAY_KINDS = "biufc"
#: torch dtypes by name (torch is imported only where a tensor is actually met).
TORCH_DTYPES = (
    "float32", "float64", "float16", "bfloat16", "complex64", "complex128",
    "int8", "int16", "int32", "int64", "uint8", "bool",
)  # fmt: skip
DEVICE = re.compile(r"^(cpu|cuda|mps|xpu|meta)(:\d{1,3})?$")

PLAIN_SCALARS = (type(None), bool, int, float, str)
CONTAINERS = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset", dict: "dict"}
#: Python types that cross as their names (``dtype=float``).
PYTHON_TYPES = {"bool": bool, "int": int, "float": float, "complex": complex, "str": str}
#: Packages whose subclasses of containers cross as the plain container.
LIBRARY_ROOTS = ("collections", "torch", "numpy")
#: Types whose subclasses are refused instead of referenced: they pretend to be data. (A
#: student's dict or list subclass is an object of theirs and crosses by reference.)
DATA_BASES = (np.ndarray, np.generic, bool, int, float, complex, str, bytes)
#: numpy bit generators whose state crosses (a Generator travels as its state, and comes back).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class WireError(ValueError):
    """A message that breaks the format (wrong tag, bad shape, too deep): never a student's fault
    alone, so the message says what was malformed."""


class NotPlainData(TypeError):
    """A value that looks like data but is not plain (a subclass, an object array...)."""


def _torch():
    """torch if it is imported in this process (it is never imported just to check a type)."""
    return sys.modules.get("torch")


def type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    return (
        kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"
    )


def _impostor(value: Any) -> str | None:
    """Why ``value`` is refused, if it subclasses a data type without being one."""
    for base in DATA_BASES:
        if isinstance(value, base) and type(value) is not base:
            if base is np.generic and type(value).__module__ == "numpy":
                return None  # np.float32, np.int64...: numpy's own scalar types
            if base in (int, float, complex) and isinstance(value, np.generic):
                return None  # np.float64 subclasses float, np.complex128 complex
            name = base.__name__ if base is not np.generic else "numpy scalar"
            if base is np.ndarray:
                name = "numpy array (np.ndarray)"
            return (
                f"a {type_name(value)}, a subclass of {name}: return a plain {name} "
                f"(for arrays: np.asarray(value))"
            )
    return None


class Refs:
    """Objects sent by reference: each gets a small integer id, the same id every time."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self._ids: dict[int, int] = {}

    def add(self, obj: Any) -> int:
        key = id(obj)
        if key not in self._ids:
            ref = len(self.objects) + 1
            while ref in self.objects:
                ref += 1
            self._ids[key] = ref
            self.objects[ref] = obj
        return self._ids[key]

    def get(self, ref: int) -> Any:
        try:
            return self.objects[ref]
        except KeyError:
            raise WireError(f"unknown reference {ref!r} (released, or never sent)") from None

    def release(self, refs: list[int]) -> None:
        for ref in refs:
            obj = self.objects.pop(ref, None)
            if obj is not None:
                self._ids.pop(id(obj), None)


def ref_info(obj: Any) -> dict[str, Any]:
    """What a receiver may know of a referenced object without asking: its type and, for a
    function, class or method, its name."""
    mro = [f"{k.__module__}.{k.__qualname__}" for k in type(obj).__mro__]
    info: dict[str, Any] = {"type": type_name(obj), "mro": mro, "callable": callable(obj)}
    if isinstance(obj, type | types.FunctionType | types.MethodType | types.BuiltinFunctionType):
        name = getattr(obj, "__qualname__", None)
        if type(name) is str:
            info["name"] = name[:200]
    return info


# -- dumping -----------------------------------------------------------------------------------
class Dumper:
    """Turn a value into a JSON node and buffers.

    ``refer(obj) -> [tag, ...]`` decides what to send for an object that is not data; None
    refuses such objects (with ``what`` naming the value in the message).
    """

    def __init__(self, refer: Callable[[Any], list] | None = None) -> None:
        self.buffers: list[memoryview] = []
        self.refer = refer

    def buffer(self, data: Any) -> int:
        """Append ``data`` (bytes or an array, sent as its raw bytes) to the buffers."""
        raw = raw_bytes(data) if isinstance(data, np.ndarray) else data
        self.buffers.append(memoryview(raw))
        return len(self.buffers) - 1

    def dump(self, value: Any, what: str = "the value", depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise NotPlainData(f"{what} is nested more than {MAX_DEPTH} levels deep")
        kind = type(value)
        if kind in PLAIN_SCALARS:
            return value
        if kind not in CONTAINERS and kind.__module__.split(".")[0] in LIBRARY_ROOTS:
            # A library's own container (state_dict's OrderedDict, load_state_dict's named
            # tuple) crosses as the plain container it extends.
            kind = next((base for base in CONTAINERS if isinstance(value, base)), kind)
        if kind in CONTAINERS:
            items = dict.items(value) if kind is dict else kind.__iter__(value)
            if kind is dict:
                nodes = [
                    [self.dump(k, f"a key of {what}", depth + 1), self.dump(v, what, depth + 1)]
                    for k, v in items
                ]
            else:
                nodes = [self.dump(v, what, depth + 1) for v in items]
            return [CONTAINERS[kind], nodes]
        if kind is bytes:
            return ["bytes", self.buffer(value)]
        if kind is complex:
            return ["complex", value.real, value.imag]
        if kind is np.ndarray:
            return self._array(value, what)
        if isinstance(value, np.generic) and kind.__module__ == "numpy":
            if value.dtype.kind not in ARRAY_KINDS:
                raise NotPlainData(f"{what} is a numpy {value.dtype} scalar: use a number")
            return ["scalar", value.dtype.str, self.buffer(np.asarray(value))]
        if kind is np.dtype or isinstance(value, np.dtype) and kind.__module__.startswith("numpy"):
            return ["npdtype", value.str]
        if (
            isinstance(value, type)
            and issubclass(value, np.generic)
            and value.__module__ == "numpy"
        ):
            return ["nptype", np.dtype(value).name]  # dtype=np.float32 passes the scalar type
        if isinstance(value, type) and value in PYTHON_TYPES.values():
            return ["pytype", value.__name__]
        if kind is slice:
            parts = [self.dump(p, what, depth + 1) for p in (value.start, value.stop, value.step)]
            return ["slice", *parts]
        if value is Ellipsis:
            return ["ellipsis"]
        if kind is np.random.Generator:
            name = type(value.bit_generator).__name__
            if name not in BIT_GENERATORS:
                raise NotPlainData(f"{what} is a Generator over {name}, which cannot cross")
            return ["npgen", name, self.dump(value.bit_generator.state, what, depth + 1)]
        torch = _torch()
        if torch is not None:
            node = self._torch_value(torch, value, what, depth)
            if node is not None:
                return node
        why = _impostor(value)
        if why is not None:
            raise NotPlainData(f"{what} is {why}")
        if self.refer is None:
            raise NotPlainData(f"{what} is a {type_name(value)}, which cannot be sent as data")
        return self.refer(value)

    def _array(self, value: np.ndarray, what: str) -> list:
        if value.dtype.kind not in ARRAY_KINDS:
            raise NotPlainData(
                f"{what} is a numpy array of dtype {value.dtype}: arrays of booleans and "
                "numbers only"
            )
        # (np.ascontiguousarray would make a 0-d array 1-d.)
        return ["array", value.dtype.str, list(value.shape), self.buffer(value)]

    def _torch_value(self, torch, value: Any, what: str, depth: int) -> list | None:
        kind = type(value)
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            name = str(value.dtype).removeprefix("torch.")
            if name not in TORCH_DTYPES:
                raise NotPlainData(f"{what} is a tensor of dtype {value.dtype}")
            raw = raw_bytes(value)
            device = str(value.device)
            grad = bool(value.requires_grad)
            return ["tensor", name, list(value.shape), self.buffer(raw), device, grad]
        if kind is torch.Generator:
            state = value.get_state().numpy()
            return ["tgen", str(value.device), self.buffer(np.ascontiguousarray(state))]
        if kind is torch.Size:
            return ["tuple", [int(n) for n in value]]
        if kind is torch.device:
            return ["device", str(value)]
        if kind is torch.dtype:
            return ["tdtype", str(value).removeprefix("torch.")]
        if kind.__module__ == "torch.return_types":  # values, indices = x.max(1)
            return ["tuple", [self.dump(v, what, depth + 1) for v in tuple.__iter__(value)]]
        if isinstance(value, torch.Tensor):
            raise NotPlainData(
                f"{what} is a {type_name(value)}, a subclass of torch.Tensor: return a plain tensor"
            )
        return None


def raw_bytes(value: Any) -> np.ndarray:
    """The bytes an array or tensor crosses as: a flat uint8 array (C order, on the CPU)."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value).reshape(-1).view(np.uint8)
    import torch

    plain = value.detach().to("cpu").contiguous().reshape(-1)
    if plain.dtype == torch.bfloat16:
        plain = plain.view(torch.int16)
    return plain.numpy().view(np.uint8)


def dump(value: Any, refer: Callable[[Any], list] | None = None) -> tuple[Any, list[memoryview]]:
    """``(node, buffers)`` for ``value``; see the module docstring for the format."""
    dumper = Dumper(refer)
    return dumper.dump(value), dumper.buffers


def header_bytes(node: Any) -> bytes:
    return json.dumps(node, allow_nan=True).encode()


# -- loading -----------------------------------------------------------------------------------
class Loader:
    """Rebuild values from a node and its buffers, trusting nothing in them.

    ``resolve(tag_node) -> value`` rebuilds ``["ref", ...]`` nodes (a registry lookup on the
    student's side, a stand-in on the trusted side); None refuses them.
    """

    def __init__(self, buffers: list, resolve: Callable[[list], Any] | None = None) -> None:
        self.buffers = [
            memoryview(b).cast("B") if not isinstance(b, memoryview) else b for b in buffers
        ]
        self.resolve = resolve
        #: Every array and tensor rebuilt, with its path from the root (for write-back).
        self.leaves: list[tuple[tuple, Any, memoryview]] = []

    def _buffer(self, index: Any) -> memoryview:
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise WireError(f"buffer index {index!r} out of range ({len(self.buffers)} buffers)")
        buf = self.buffers[index]
        return buf if buf.format == "B" else buf.cast("B")

    def load(self, node: Any, depth: int = 0, path: tuple = ()) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"nesting deeper than {MAX_DEPTH} levels")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not list or not node or type(node[0]) is not str:
            raise WireError(f"malformed node {str(node)[:80]!r}")
        tag, args = node[0], node[1:]
        method = getattr(self, f"_load_{tag}", None)
        if method is None:
            raise WireError(f"unknown tag {tag!r}")
        return method(args, depth, path)

    def _items(self, args, depth, path) -> list:
        if len(args) != 1 or type(args[0]) is not list:
            raise WireError("a container node holds one list")
        return [self.load(v, depth + 1, (*path, i)) for i, v in enumerate(args[0])]

    def _load_list(self, args, depth, path):
        return self._items(args, depth, path)

    def _load_tuple(self, args, depth, path):
        return tuple(self._items(args, depth, path))

    def _load_set(self, args, depth, path):
        return set(self._items(args, depth, path))

    def _load_frozenset(self, args, depth, path):
        return frozenset(self._items(args, depth, path))

    def _load_dict(self, args, depth, path):
        if len(args) != 1 or type(args[0]) is not list:
            raise WireError("a dict node holds one list of pairs")
        out = {}
        for pair in args[0]:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("a dict item is a [key, value] pair")
            key = self.load(pair[0], depth + 1)
            try:
                hash(key)
            except TypeError:
                raise WireError(f"unhashable dict key {key!r}") from None
            out[key] = self.load(pair[1], depth + 1, (*path, key))
        return out

    def _load_bytes(self, args, depth, path):
        return bytes(self._buffer(args[0] if args else None))

    def _load_complex(self, args, depth, path):
        if len(args) != 2 or not all(type(a) in (int, float) for a in args):
            raise WireError("a complex node holds two numbers")
        return complex(*args)

    @staticmethod
    def _dtype(name: Any) -> np.dtype:
        try:
            dtype = np.dtype(name) if type(name) is str else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in ARRAY_KINDS or dtype.fields or dtype.subdtype:
            raise WireError(f"dtype {name!r} is not a plain boolean or number dtype")
        return dtype

    @staticmethod
    def _shape(shape: Any) -> tuple[int, ...]:
        if (
            type(shape) is not list
            or len(shape) > 32
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise WireError(f"bad shape {shape!r}")
        return tuple(shape)

    def _load_array(self, args, depth, path):
        if len(args) != 3:
            raise WireError("an array node holds dtype, shape and a buffer index")
        dtype, shape, buf = self._dtype(args[0]), self._shape(args[1]), self._buffer(args[2])
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != buf.nbytes:
            raise WireError(f"array of shape {shape} {dtype} does not fit {buf.nbytes} bytes")
        view = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
        array = view.astype(dtype.newbyteorder("="), copy=True)
        self.leaves.append((path, array, buf))
        return array

    def _load_scalar(self, args, depth, path):
        if len(args) != 2:
            raise WireError("a scalar node holds dtype and a buffer index")
        dtype, buf = self._dtype(args[0]), self._buffer(args[1])
        if buf.nbytes != dtype.itemsize:
            raise WireError(f"a {dtype} scalar is {dtype.itemsize} bytes, got {buf.nbytes}")
        return np.frombuffer(buf, dtype=dtype)[0].astype(dtype.newbyteorder("="))

    def _load_tensor(self, args, depth, path):
        import torch  # a tensor was sent, so the sender had torch: so must the receiver

        if len(args) != 5 or args[0] not in TORCH_DTYPES or type(args[4]) is not bool:
            raise WireError(f"malformed tensor node {str(args)[:80]}")
        name, shape, buf = args[0], self._shape(args[1]), self._buffer(args[2])
        device = self._device_name(args[3])
        dtype = getattr(torch, name)
        carrier = {"bfloat16": np.int16, "bool": np.bool_}.get(name)
        np_dtype = np.dtype(carrier) if carrier else torch.empty(0, dtype=dtype).numpy().dtype
        count = int(np.prod(shape, dtype=np.int64))
        if count * np_dtype.itemsize != buf.nbytes:
            raise WireError(f"tensor of shape {shape} {name} does not fit {buf.nbytes} bytes")
        array = np.frombuffer(buf, dtype=np_dtype, count=count).reshape(shape).copy()
        tensor = torch.from_numpy(array)
        if name == "bfloat16":
            tensor = tensor.view(torch.bfloat16)
        target = torch.device(device)
        if target.type != "cpu" and _device_available(torch, target):
            tensor = tensor.to(target)
        if args[4] and tensor.is_floating_point():
            tensor.requires_grad_(True)
        self.leaves.append((path, tensor, buf))
        return tensor

    @staticmethod
    def _device_name(name: Any) -> str:
        if type(name) is not str or not DEVICE.match(name):
            raise WireError(f"bad device {name!r}")
        return name

    def _load_device(self, args, depth, path):
        import torch

        return torch.device(self._device_name(args[0] if args else None))

    def _load_tdtype(self, args, depth, path):
        import torch

        if not args or args[0] not in TORCH_DTYPES:
            raise WireError(f"unknown torch dtype {args!r}")
        return getattr(torch, args[0])

    def _load_npdtype(self, args, depth, path):
        return self._dtype(args[0] if args else None)

    def _load_nptype(self, args, depth, path):
        return self._dtype(args[0] if args else None).type

    def _load_pytype(self, args, depth, path):
        if not args or args[0] not in PYTHON_TYPES:
            raise WireError(f"unknown Python type {args!r}")
        return PYTHON_TYPES[args[0]]

    def _load_slice(self, args, depth, path):
        if len(args) != 3 or not all(a is None or type(a) is int for a in args):
            raise WireError("a slice holds three ints or nulls")
        return slice(*args)

    def _load_ellipsis(self, args, depth, path):
        return Ellipsis

    def _load_npgen(self, args, depth, path):
        if len(args) != 2 or args[0] not in BIT_GENERATORS:
            raise WireError(f"malformed generator node {str(args)[:80]}")
        state = self.load(args[1], depth + 1)
        if type(state) is not dict or state.get("bit_generator") != args[0]:
            raise WireError("a generator's state names its bit generator")
        bit_generator = getattr(np.random, args[0])()
        try:
            bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise WireError(f"bad generator state: {exc}") from None
        generator = np.random.Generator(bit_generator)
        self.leaves.append((path, generator, generator_state(generator)))
        return generator

    def _load_tgen(self, args, depth, path):
        import torch

        if len(args) != 2:
            raise WireError("a torch generator node holds a device and a buffer index")
        device = torch.device(self._device_name(args[0]))
        if device.type != "cpu" and not _device_available(torch, device):
            device = torch.device("cpu")
        state = torch.from_numpy(np.frombuffer(self._buffer(args[1]), np.uint8).copy())
        generator = torch.Generator(device=device)
        try:
            generator.set_state(state)
        except RuntimeError as exc:
            raise WireError(f"bad torch generator state: {exc}") from None
        self.leaves.append((path, generator, generator_state(generator)))
        return generator

    def _load_ref(self, args, depth, path):
        if self.resolve is None:
            raise WireError("references are not accepted here")
        return self.resolve(["ref", *args])


def _device_available(torch, device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return False


def generator_state(generator: Any) -> bytes:
    """A generator's state as bytes, to tell whether a call moved it."""
    if isinstance(generator, np.random.Generator):
        return repr(generator.bit_generator.state).encode()
    return bytes(generator.get_state().numpy())


def leaf_changed(leaf: Any, original: Any) -> bool:
    """Whether a rebuilt array, tensor or generator differs from what was received."""
    if isinstance(leaf, np.ndarray) or type(leaf).__name__ in ("Tensor", "Parameter"):
        return not np.array_equal(raw_bytes(leaf), np.frombuffer(original, np.uint8))
    return generator_state(leaf) != original


def load(node: Any, buffers: list, resolve: Callable[[list], Any] | None = None) -> Any:
    """The value a :func:`dump` node stands for (see :class:`Loader`)."""
    return Loader(buffers, resolve).load(node)


def parse_header(raw: bytes) -> Any:
    if len(raw) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(raw)} bytes is larger than {MAX_HEADER_BYTES}")
    return json.loads(raw)
