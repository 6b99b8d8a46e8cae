"""The ONNX graph being built: nodes, initializers, constants, and the values that flow between
them, each with the shapes it had in the traced forward passes (from which the batch axis is
read: the one axis whose length followed the batch size)."""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper


class OnnxExportError(ValueError):
    """A model, a layer or an operation that ``nerve.onnx.export`` cannot write as ONNX. The
    message names the operation (or layer), the module it ran in, and why."""


INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def onnx_type(dtype) -> int:
    """The ONNX element type of a NumPy dtype."""
    try:
        return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except (KeyError, TypeError, ValueError):
        raise OnnxExportError(f"nerve.onnx.export: no ONNX type for the dtype {dtype}") from None


def batch_axis(shape, shape2, what: str):
    """The axis of ``shape`` (traced at one batch size) whose length differs in ``shape2``
    (traced at another): the batch axis, or None when no length followed the batch."""
    if shape2 is None or tuple(shape) == tuple(shape2):
        return None
    differ = [i for i, (a, b) in enumerate(zip(shape, shape2)) if a != b]
    if len(shape) != len(shape2) or len(differ) != 1:
        raise OnnxExportError(
            f"nerve.onnx.export: {what} has shape {tuple(shape)} when traced at one batch size "
            f"and {tuple(shape2)} at the next, so its batch axis cannot be told (a squeeze() "
            "that removes a batch of 1, or shapes computed from the batch): give the dimension "
            "explicitly, or export with dynamic_batch=False")
    return differ[0]


class Value:
    """An ONNX value: its name (made on first use for a lazy constant), its traced shapes and
    dtype, and ``fill`` (a number) when every element is that number."""

    def __init__(self, graph: Graph, name: str | None, shape, shape2, dtype, what: str,
                 fill=None, make=None):
        self.graph, self._name = graph, name
        self.shape, self.shape2 = tuple(shape), None if shape2 is None else tuple(shape2)
        self.dtype = np.dtype(dtype)
        self.batch = batch_axis(self.shape, self.shape2, what)
        self.fill, self._make = fill, make

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self._make()
        return self._name

    @property
    def ndim(self) -> int:
        return len(self.shape)


class Graph:
    """Nodes and initializers in the order they are made, with unique names."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.names: set[str] = set()
        self._consts: dict = {}
        self.batch_source: str | None = None  # a graph input whose axis 0 is the batch
        self._batch_dim: str | None = None

    def fresh(self, base: str) -> str:
        """A name not used yet, ``base`` itself if it is free."""
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def node(self, op: str, inputs, n_out: int = 1, scope: str = "", **attrs) -> list[str]:
        """Add a node; return the names of its outputs."""
        base = f"{scope}/{op}" if scope else op
        name = self.fresh(base)
        outs = [self.fresh(f"{name}_out{i}" if n_out > 1 else f"{name}_out")
                for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs

    def one(self, op: str, inputs, scope: str = "", **attrs) -> str:
        return self.node(op, inputs, 1, scope, **attrs)[0]

    def initializer(self, name: str, array, exact: bool = False) -> str:
        """Add an initializer; ``exact``: under ``name`` itself (a reserved state_dict name)."""
        name = name if exact else self.fresh(name)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def const(self, array, dtype=None) -> str:
        """An initializer holding ``array`` (a number or an array); equal small ones are one."""
        arr = np.asarray(array, dtype=dtype)
        key = None
        if arr.size <= 64:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.initializer("const", arr)
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values) -> str:
        """A 1-D int64 constant (axes, shapes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def batch_dim(self) -> str:
        """A 1-D int64 value holding the batch size: axis 0 of the first input."""
        if self._batch_dim is None:
            shape = self.one("Shape", [self.batch_source], scope="batch")
            self._batch_dim = self.one("Slice", [shape, self.ints([0]), self.ints([1])],
                                       scope="batch")
        return self._batch_dim

    def shape_of(self, shape, batch: int | None) -> str:
        """A 1-D int64 value: ``shape``, with the batch size at axis ``batch``."""
        if batch is None:
            return self.ints(shape)
        parts = []
        if batch:
            parts.append(self.ints(shape[:batch]))
        parts.append(self.batch_dim())
        if batch + 1 < len(shape):
            parts.append(self.ints(shape[batch + 1:]))
        return parts[0] if len(parts) == 1 else self.one("Concat", parts, scope="batch", axis=0)

    def reduce(self, op: str, x: str, axes, keepdims: bool, scope: str) -> str:
        """A reduction over ``axes`` (None: all), axes as an input where the opset says so."""
        keep = int(bool(keepdims))
        if axes is None:
            return self.one(op, [x], scope=scope, keepdims=keep)
        if op == "ReduceSum" or self.opset >= 18:
            return self.one(op, [x, self.ints(axes)], scope=scope, keepdims=keep)
        return self.one(op, [x], scope=scope, keepdims=keep, axes=list(axes))

    def value_info(self, name: str, dtype, shape, batch: int | None):
        dims = ["batch" if i == batch else int(d) for i, d in enumerate(shape)]
        return helper.make_tensor_value_info(name, onnx_type(dtype), dims)


