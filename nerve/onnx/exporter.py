"""``export``: trace the forward pass, convert each operation, check and write the file."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper

from nerve.autograd import Tensor, enable_grad
from nerve.checks import ShortRepr, as_tensor, check_bool, check_int, message
from nerve.files import atomic_write_bytes
from nerve.function import _TensorFunctionNode
from nerve.nn.module import Module, kept_modes
from nerve.onnx import converters, trace
from nerve.onnx.graph import Graph, OnnxExportError, Value, batch_axis

WHO = "nerve.onnx.export"
OPSETS = range(13, 22)  # opset 13 (Squeeze/Unsqueeze axes as inputs) to 21


def export(model, path, example_input, opset: int = 17, dynamic_batch: bool = True,
           input_names=None, output_names=None) -> onnx.ModelProto:
    """Write ``model`` as an ONNX file at ``path`` and return the ``onnx.ModelProto``.

    The model is traced, as ``torch.onnx.export`` does: its forward runs on ``example_input``
    (a Tensor or an array, or a tuple of them for a model of several inputs) in eval mode, and
    every operation it runs becomes ONNX nodes; a custom Module's forward (indexing, reshapes,
    concatenation, arithmetic with tensors and numbers, matmul, reductions between layers) is
    exported as it ran. Parameters and buffers become initializers named by their
    ``state_dict`` names. The model's training mode is restored afterwards.

    With ``dynamic_batch=True`` axis 0 of every input is the symbolic dimension ``"batch"``:
    the forward is traced a second time with one more sample, the axis of each value that grew
    with it is its batch axis (reshapes take -1 there), and a value computed outside nerve's
    operations that changed between the two runs is refused. The second trace also runs on
    changed data (every input rolled by one along every axis, floating ones then as
    ``x * 1.5 + 0.25``; integers keep their values, so indices stay valid), and with
    ``dynamic_batch=False`` such a check trace runs at the same batch size: a number or an
    index taken from the data (``.item()``, ``argsort``) is refused rather than written as a
    constant. A third trace runs on the floating inputs moved to another range
    (``x * -6 + 3``) and is checked the same way, so that a mask made in NumPy from the input
    that the first two left alike is refused too. Python control flow is recorded as it ran
    (the branches taken for the example input); a forward that branches on the data is
    refused.

    ``input_names`` and ``output_names`` name the graph's inputs and outputs (by default
    ``input`` / ``output``, numbered when there are several; nested output tuples, as an
    LSTM's ``(output, (h_n, c_n))``, are flattened in order). ``path`` None writes no file.
    The file is written atomically and passes ``onnx.checker.check_model(full_check=True)``.

    Layers: Linear, Conv1d/2d, ConvTranspose1d/2d, MaxPool1d/2d, AvgPool1d/2d,
    AdaptiveAvgPool1d/2d, BatchNorm1d/2d (running statistics), LayerNorm (opset >= 17), Dropout
    (identity), Flatten, Embedding, RNN/LSTM/GRU (any layers, directions, batch_first), the
    activations and Softmax / LogSoftmax, and what is written with nerve's operations
    (MultiheadAttention, the Transformer encoder, PixelShuffle, the pads). Not yet:
    Upsample / interpolate, AdaptiveMaxPool, Unfold / Fold. Raises :class:`OnnxExportError`
    (a ValueError) naming the operation or layer and the module where one cannot be exported:
    a loss, in-place assignment, a boolean mask index, a PackedSequence, a custom
    ``nerve.Function``, a value computed outside nerve's operations that depends on the input.
    """
    if not isinstance(model, Module):
        raise TypeError(message(WHO, "a nerve.nn.Module as model", "model", ShortRepr(model)))
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(message(WHO, "a path (str or os.PathLike) or None", "path",
                                ShortRepr(path)))
    opset = check_int(opset, "opset", WHO)
    if opset not in OPSETS:
        raise ValueError(message(WHO, f"an opset from {OPSETS[0]} to {OPSETS[-1]}", "opset",
                                 opset))
    dynamic = check_bool(dynamic_batch, "dynamic_batch", WHO)
    arrays = _example(example_input, model)
    if dynamic and any(a.ndim == 0 for a in arrays):
        raise ValueError(message(WHO, "inputs with a batch axis (axis 0) for dynamic_batch="
                                 "True", "example_input shapes", [a.shape for a in arrays]))
    in_names = _names(input_names, len(arrays), "input", "input_names")

    with kept_modes(model):
        model.eval()
        first = _trace(model, arrays)
        second = _check_trace(model, arrays, dynamic)
        spread = _spread_trace(model, arrays)
    out_names = _names(output_names, len(first[2]), "output", "output_names")
    proto = _Exporter(model, opset, first, second, in_names, out_names, dynamic).build()
    if spread is not None:  # the same checks against data of another range; graph unused
        _Exporter(model, opset, first, spread, in_names, out_names, dynamic=False).build()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # noqa: BLE001 - any failure here is the exporter's own
        raise OnnxExportError(f"{WHO}: the ONNX graph made for this model does not pass "
                              f"onnx.checker ({type(e).__name__}: {e}); please report it") \
            from e
    if path is not None:
        atomic_write_bytes(path, proto.SerializeToString())
    return proto


def _example(example_input, model) -> list:
    """The example input(s) as arrays (a tuple: one per model argument). A floating array
    (not a Tensor) keeps its dtype where the model's floating parameters all have it (a
    float64 array for a ``.double()`` model); else it is made float32, as ``nerve.tensor``
    makes it."""
    kept = {p._data.dtype for p in model.parameters() if p._data.dtype.kind == "f"}
    items = example_input if isinstance(example_input, tuple) else (example_input,)
    if not items:
        raise ValueError(message(WHO, "at least one example input", "example_input", ()))
    arrays = []
    for x in items:
        if isinstance(x, (str, bytes, dict)) or x is None:
            raise TypeError(message(WHO, "a Tensor or an array (or a tuple of them) as "
                                    "example_input", "example_input", ShortRepr(x)))
        arr = as_tensor(x)._data
        if not isinstance(x, Tensor) and len(kept) == 1 and getattr(x, "dtype", None) in kept \
                and x.dtype != arr.dtype:
            arr = Tensor(x, dtype=x.dtype)._data
        if arr.dtype.kind not in "biuf":
            raise TypeError(message(WHO, "numbers as example_input", "example_input.dtype",
                                    arr.dtype))
        arrays.append(arr)
    return arrays


def _changed(a):
    """The example with every sample changed, for the check trace (so that a number or an
    index taken from the data, as by ``.item()`` or ``argsort``, changes too and is refused):
    rolled by one along every axis (a new order: integers stay the example's own values,
    valid indices for an Embedding), and floating-point values then become ``a * 1.5 + 0.25``
    (new values)."""
    for axis in range(a.ndim):
        a = np.roll(a, 1, axis=axis)
    return (a * 1.5 + 0.25).astype(a.dtype) if a.dtype.kind == "f" else a


def _spread(a):
    """The example's floating values moved to another range, ``a * -6 + 3`` (signs flipped,
    magnitudes grown), for a third trace: a mask made outside nerve's operations that the
    example and its changed copy happened to leave alike (every value below a threshold of 3,
    say) differs here, and is refused rather than written as a constant."""
    return (a * -6.0 + 3.0).astype(a.dtype) if a.dtype.kind == "f" else a


def _spread_trace(model, arrays: list):
    """The trace on :func:`_spread` data, or None where no input is floating (nothing to
    spread) or the forward refuses such values (then only the other check applies)."""
    if not any(a.dtype.kind == "f" for a in arrays):
        return None
    try:
        return _trace(model, [_spread(a) for a in arrays])
    except OnnxExportError:
        raise
    except Exception:  # noqa: BLE001 - a model may refuse values of another range
        return None


def _grown(a):
    """The example with one more sample (a copy of the first), changed as by ``_changed``."""
    return _changed(np.concatenate([a, a[:1]]))


def _check_trace(model, arrays: list, dynamic: bool) -> tuple:
    """The second trace, whose constants must be the first's: at one more sample (the batch
    axis of each value is the one that grew) with ``dynamic``, else at the same batch size;
    on changed data either way."""
    try:
        if not dynamic:
            return _trace(model, [_changed(a) for a in arrays])
        return _trace(model, [_grown(a) for a in arrays])
    except OnnxExportError:
        raise
    except Exception as e:  # noqa: BLE001 - the model refused the changed inputs
        if not dynamic:
            raise OnnxExportError(
                f"{WHO}: the forward pass failed when traced again on other data (the inputs "
                "rolled by one along every axis, floating ones then as x * 1.5 + 0.25), which "
                "checks that nothing taken from the data is written as a constant: "
                f"{type(e).__name__}: {e}") from e
        shapes = [a.shape for a in arrays]
        raise OnnxExportError(
            f"{WHO}: the forward pass failed when traced at another batch size, with one more "
            f"sample along axis 0 of every input (shapes {shapes}): {type(e).__name__}: {e}. "
            "With dynamic_batch=True the batch must be axis 0 of every input; export with "
            "dynamic_batch=False") from e


def _names(names, n: int, default: str, arg: str) -> list[str]:
    if names is None:
        return [default] if n == 1 else [f"{default}_{i}" for i in range(n)]
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or \
            not all(isinstance(s, str) and s for s in names):
        raise TypeError(message(WHO, "a list of non-empty str", arg, ShortRepr(names)))
    if len(names) != n or len(set(names)) != n:
        raise ValueError(message(WHO, f"{n} distinct names (the model has {n} {default}s)",
                                 arg, list(names)))
    return list(names)


def _trace(model, arrays: list) -> tuple:
    """One traced forward pass: (tracer, input tensors, output tensors, output sources)."""
    inputs = [Tensor(a, dtype=a.dtype, requires_grad=a.dtype.kind == "f") for a in arrays]
    with enable_grad():  # recorded: in-place changes get nodes of their own
        tracer, out = trace.run(model, inputs)
    if tracer.reads:
        raise OnnxExportError(
            f"{WHO}: the forward pass read a value computed from its input into Python "
            f"({', '.join(sorted(set(tracer.reads)))}): a branch or a number taken from the "
            "data would be frozen into the file as the example's. Compute it with tensor "
            "operations (nerve.where, clamp, ...) instead")
    outputs = []
    _flatten(out, outputs)
    return tracer, inputs, outputs, [tracer.source(t) for t in outputs]


def _flatten(out, into: list) -> None:
    if isinstance(out, Tensor):
        into.append(out)
    elif isinstance(out, (tuple, list)):
        for o in out:
            _flatten(o, into)
    else:
        raise OnnxExportError(f"{WHO}: expected the forward pass to return Tensors (or tuples "
                              f"of them). Received: {type(out).__name__}")


def _reachable(tracer, sources: list) -> list:
    """The calls the outputs depend on, in the order they ran."""
    needed, stack = set(), list(sources)
    while stack:
        s = stack.pop()
        if s is None:
            continue
        if s[0] == "call" and id(s[1]) not in needed:
            needed.add(id(s[1]))
            stack.extend(s[1].sources)
            stack.extend(s[1].option_sources.values())
        elif s[0] == "tuple":
            stack.extend(s[1])
    return [c for c in tracer.calls if id(c) in needed]


class _Exporter:
    def __init__(self, model, opset, first, second, in_names, out_names, dynamic=True):
        self.graph = Graph(opset)
        self.dynamic = dynamic  # else ``second`` is the check trace on other data, same batch
        self.again = ("when traced at another batch size" if dynamic else
                      "when traced again on other data")
        self.first_label = "at one batch size" if dynamic else "on the example"
        self.advice = "; export with dynamic_batch=False" if dynamic else ""
        self.graph.names.update(in_names + out_names)
        self.modules = dict(model.named_modules())
        self.state = {}
        self.state_ids = {}
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            self.state.setdefault(name, t)
            self.state_ids.setdefault(id(t), name)
        taken = set(self.state) & set(in_names + out_names)
        if taken:
            raise ValueError(message(WHO, "input and output names that are not names of the "
                                     "model's parameters or buffers", "names", sorted(taken)))
        self.graph.names.update(self.state)
        self.params: dict[str, Value] = {}
        self.values: dict[int, list] = {}
        self.first, self.second = first, second
        self.in_names, self.out_names = in_names, out_names
        ins2 = second[1] if second else [None] * len(first[1])
        self.inputs = [Value(self.graph, name, t.shape, None if t2 is None else t2.shape,
                             t.dtype, f"input {name}")
                       for name, t, t2 in zip(in_names, first[1], ins2)]
        self.batch_sizes = None
        if second and dynamic:
            self.graph.batch_source = in_names[0]
            self.batch_sizes = (first[1][0].shape[0], second[1][0].shape[0])

    # --- values ----------------------------------------------------------------------------
    def where(self, call) -> str:
        """The start of a message about ``call``: what it is and the module it ran in."""
        module = self.modules.get(call.path)
        place = (f" in module '{call.path}' ({type(module).__name__})" if call.path else
                 " in the model's forward")
        return f"{WHO}: cannot export {call.label}{place}: "

    def param(self, name: str) -> Value:
        if name not in self.params:
            t = self.state[name]
            self.params[name] = Value(self.graph, self.graph.initializer(name, t._data, True),
                                      t.shape, t.shape, t.dtype, name)
        return self.params[name]

    def param_value(self, t) -> Value:
        name = self.state_ids.get(id(t))
        if name is not None:
            return self.param(name)
        arr = t._data
        return Value(self.graph, self.graph.const(arr), arr.shape, arr.shape, arr.dtype, "")

    def fill_value(self, value, shape, shape2, dtype, ctx) -> Value:
        """A value every element of which is ``value``, of the batch's size when it has a
        batch axis (made when used: Expand of the number to the shape)."""
        graph = self.graph
        b = batch_axis(shape, shape2, "a constant")
        self.batch_sized(shape, shape2, b, ctx, "a constant fill (ones, zeros, full)")

        def make():
            if b is None:
                return graph.const(np.full(shape, value, dtype))
            return graph.one("Expand", [graph.const(np.asarray(value, dtype)),
                                        graph.shape_of(shape, b)], scope="fill")

        return Value(graph, None, shape, shape2, dtype, "a constant", fill=value, make=make)

    def batch_sized(self, shape, shape2, b, ctx, what: str) -> None:
        """Fail unless axis ``b`` (the axis that grew between the traces, if any) is exactly
        the input's batch size in both traces: only then can its length be read from the
        input (a length such as ``2 * x.shape[0]`` would take the batch's size)."""
        if b is None:
            return
        n1, n2 = self.batch_sizes
        if (shape[b], shape2[b]) != (n1, n2):
            ctx.fail(f"{what} of shape {tuple(shape)} has an axis ({b}) that grows with the "
                     f"batch but is not the batch size ({shape[b]} at batch size {n1}, "
                     f"{shape2[b]} at {n2}), so its length cannot be written from the input's: "
                     "export with dynamic_batch=False")

    def value(self, src, src2, dtype, ctx, what: str) -> Value | None:
        """The ONNX value of an argument from its sources in the two traces."""
        if src is None:
            return None
        kind = src[0]
        if self.second is not None and (src2 is None or src2[0] != kind):
            ctx.fail(f"its {what} comes from a different place {self.again} (the forward "
                     f"depends on the data{' or the batch size' if self.dynamic else ''})"
                     f"{self.advice}")
        if kind == "input":
            if self.second is not None and src2[1] != src[1]:
                ctx.fail(f"its {what} is another input {self.again}")
            return self.inputs[src[1]]
        if kind == "param":
            return self.param(src[1])
        if kind == "call":
            if self.second is not None and (self.order[id(src2[1])], src2[2]) != (
                    self.order[id(src[1])], src[2]):
                ctx.fail(f"its {what} comes from another operation {self.again}"
                         f"{self.advice}")
            return self.values[id(src[1])][src[2]]
        if kind == "scalar":
            v = src[1]
            if self.second is not None and not (v == src2[1] or v != v and src2[1] != src2[1]):
                ctx.fail(self._number_changes(what, v, src2[1]))
            dt = np.dtype(dtype) if dtype is not None else np.asarray(v).dtype
            return Value(self.graph, self.graph.const(np.asarray(v, dtype=dt)), (), (), dt,
                         what)
        if kind == "const":
            return self.constant(src[1], None if src2 is None else src2[1], ctx, what)
        ctx.fail(f"its {what} ({ShortRepr(src[1])}) has no ONNX form")

    def constant(self, a, a2, ctx, what: str) -> Value:
        graph = self.graph
        uniform = a.size > 0 and a.dtype.kind in "biuf" and bool((a == a.flat[0]).all())
        if a2 is None or (a.shape == a2.shape and np.array_equal(a, a2, equal_nan=True)):
            if uniform:
                return self.fill_value(a.flat[0], a.shape, a.shape, a.dtype, ctx)
            return Value(graph, None, a.shape, a.shape, a.dtype, what,
                         make=lambda: graph.const(a))
        if a.shape != a2.shape and uniform and a2.size and bool((a2 == a.flat[0]).all()):
            return self.fill_value(a.flat[0], a.shape, a2.shape, a.dtype, ctx)
        how = (f"shape {a.shape} at one batch size, {a2.shape} at the next" if
               a.shape != a2.shape else f"other values {self.again}")
        ctx.fail(f"its {what} is a value computed outside nerve's operations (NumPy, .numpy(), "
                 ".item(), .detach(), an integer conversion, a random draw) that changes with "
                 f"the input ({how}): compute it with operations on tensors")

    def _number_changes(self, what: str, v, v2) -> str:
        """Why a number (an argument) that differs between the traces is refused."""
        if self.dynamic and all(isinstance(n, int) and not isinstance(n, bool) for n in (v, v2)):
            (n1, n2) = self.batch_sizes
            if v * n2 == v2 * n1 or v2 - v == n2 - n1:  # a multiple of the batch, or plus k
                return (f"its {what} is a number that follows the batch size (as x.shape[0] or "
                        f"len(x) does: {v} at batch size {n1}, {v2} at {n2}), which would be a "
                        "constant in the file: export with dynamic_batch=False")
        return (f"its {what} is a number taken from the data (.item(), float(), int(): {v} "
                f"{self.first_label}, {v2} {self.again}), which would be a constant in the "
                "file: compute it with operations on tensors")

    # --- the graph --------------------------------------------------------------------------
    def build(self) -> onnx.ModelProto:
        tracer, _, outputs, out_srcs = self.first
        calls = _reachable(tracer, out_srcs)
        partners = [None] * len(calls)
        if self.second is not None:
            tracer2, _, outputs2, out_srcs2 = self.second
            partners = _reachable(tracer2, out_srcs2)
            _check_same(self, calls, partners, len(outputs), len(outputs2))
            self.order = {id(c): i for i, c in enumerate(calls)}
            self.order.update((id(c), i) for i, c in enumerate(partners))
        for call, partner in zip(calls, partners):
            self.values[id(call)] = self._convert(call, partner)
        graph = self.graph
        out_info = []
        for i, (name, src) in enumerate(zip(self.out_names, out_srcs)):
            src2 = self.second[3][i] if self.second is not None else None
            v = self.value(src, src2, None, _OutputCtx(self, name), "value")
            graph.nodes.append(helper.make_node("Identity", [v.name], [name],
                                                name=graph.fresh(f"{name}/Identity")))
            out_info.append(graph.value_info(name, v.dtype, v.shape, v.batch))
        in_info = [graph.value_info(v.name, v.dtype, v.shape, v.batch) for v in self.inputs]
        g = helper.make_graph(graph.nodes, "nerve", in_info, out_info, graph.initializers)
        opsets = [helper.make_opsetid("", graph.opset)]
        from nerve import __version__

        return helper.make_model(g, opset_imports=opsets, producer_name="nerve",
                                 producer_version=__version__,
                                 ir_version=helper.find_min_ir_version_for(opsets))

    def _convert(self, call, partner) -> list:
        if call.module is not None:
            fn = converters.MODULE_CONVERTERS[call.kind]
        else:
            fn = converters.CONVERTERS.get(call.kind)
        if fn is None:
            raise OnnxExportError(self.where(call) + _why_refused(call))
        ctx = converters.Ctx(self, call, partner)
        if partner is not None and not self.dynamic:
            for t, t2 in zip(call.outputs, partner.outputs):
                if t._data.shape != t2._data.shape:
                    ctx.fail(f"its output has shape {t._data.shape} on the example and "
                             f"{t2._data.shape} {self.again} (a shape that depends on the "
                             "data): compute it from the shapes only")
        outs = fn(ctx)
        values = []
        for i, o in enumerate(outs):
            if isinstance(o, Value):
                values.append(o)
                continue
            t = call.outputs[i]._data
            t2 = partner.outputs[i]._data.shape if partner is not None else None
            values.append(Value(self.graph, o, t.shape, t2, t.dtype, f"the output of "
                                f"{call.label}"))
        return values


class _OutputCtx:
    """What ``_Exporter.value`` needs to report a problem with a model output."""

    def __init__(self, ex, name):
        self.ex, self.name = ex, name

    def fail(self, why: str):
        raise OnnxExportError(f"{WHO}: cannot export the output {self.name}: {why}")


def _why_refused(call) -> str:
    kind = call.kind
    if kind in converters.REFUSED:
        return converters.REFUSED[kind]
    if kind is _TensorFunctionNode:
        fn = call.options.get("fn")
        return (f"the custom operation {getattr(fn, '__name__', fn)} (a nerve.autograd."
                "Function) has no ONNX form; write its forward with nerve's operations")
    if kind.__module__.startswith("nerve."):
        return (f"{kind.__module__}.{kind.__name__} has no ONNX converter yet (nerve.onnx's "
                "docstring lists the operations and layers it exports)")
    return (f"{kind.__module__}.{kind.__name__} has no ONNX converter (only nerve's own "
            "operations and layers are exported)")


def _check_same(ex, calls, partners, n_out, n_out2) -> None:
    """The two traces ran the same operations (the batch size and the data changed nothing
    else)."""
    if n_out != n_out2 or len(calls) != len(partners):
        why = "the batch size or the data" if ex.dynamic else "the data"
        raise OnnxExportError(f"{WHO}: the forward pass ran different operations {ex.again} "
                              f"(it branches on {why}){ex.advice}")
    for a, b in zip(calls, partners):
        if a.kind is not b.kind:
            raise OnnxExportError(ex.where(a) + f"the forward pass ran {b.label} there "
                                  f"{ex.again}{ex.advice}")
