"""One converter per operation (a :class:`nerve.Function` class) and per layer traced whole:
each writes the ONNX nodes that compute what the operation computed.

A converter gets a :class:`Ctx` (the call, its arguments as ONNX values, its options and its
output shapes) and returns its outputs (names or :class:`Value` objects). Where ONNX has no
equivalent it calls ``ctx.fail(why)``, which raises :class:`OnnxExportError` naming the
operation and the module it ran in.
"""

from __future__ import annotations

import numpy as np

from nerve import nn
from nerve.onnx import trace
from nerve.onnx.graph import INT64_MAX, INT64_MIN, OnnxExportError, Value, batch_axis, onnx_type
from nerve.ops import arithmetic as ar
from nerve.ops import elementwise as el
from nerve.ops import inplace, reduce, select, shape
from nerve.ops.fused import (
    AdaptiveAvgPoolFunction,
    AvgPoolFunction,
    BatchNormFunction,
    BCEFunction,
    BCEWithLogitsFunction,
    ConvFunction,
    ConvTransposeFunction,
    CrossEntropyFunction,
    LayerNormFunction,
    LinearFunction,
    MaxPoolFunction,
    RecurrentFunction,
)

CONVERTERS: dict = {}
REFUSED: dict = {}  # Function class -> why it cannot be exported


def converts(*classes):
    def add(fn):
        for cls in classes:
            CONVERTERS[cls] = fn
        return fn

    return add


class Ctx:
    """What a converter sees of one call."""

    def __init__(self, ex, call, partner):
        self.ex, self.call, self.partner = ex, call, partner
        self.graph = ex.graph
        self.options = call.options
        self.scope = call.path

    # --- arguments and outputs ---------------------------------------------------------------
    def arg(self, i: int, dtype=None) -> Value | None:
        """Argument ``i`` as a value (None when absent); a number becomes a constant of
        ``dtype`` (by default the first output's)."""
        sources = self.call.sources
        if i >= len(sources) or sources[i] is None:
            return None
        other = self.partner.sources[i] if self.partner is not None else None
        return self.ex.value(sources[i], other, self._dtype(dtype), self, f"argument {i}")

    def option(self, key: str, dtype=None) -> Value | None:
        """An option that held an array or a tensor (an index, running statistics) as a value."""
        src = self.call.option_sources.get(key)
        if src is None:
            return None
        other = self.partner.option_sources.get(key) if self.partner is not None else None
        return self.ex.value(src, other, self._dtype(dtype), self, f"option {key}")

    def _dtype(self, dtype):
        if dtype is not None:
            return np.dtype(dtype)
        outs = self.call.outputs
        return outs[0]._data.dtype if outs else None

    def out_shape(self, i: int = 0):
        return tuple(self.call.outputs[i]._data.shape)

    def out_dtype(self, i: int = 0):
        return self.call.outputs[i]._data.dtype

    def out_batch(self, i: int = 0):
        """The batch axis of output ``i`` (None without one)."""
        if self.partner is None:
            return None
        return batch_axis(self.out_shape(i), self.partner.outputs[i]._data.shape,
                          f"the output of {self.call.label}")

    # --- nodes ---------------------------------------------------------------------------------
    def node(self, op: str, inputs, n_out: int = 1, **attrs) -> list[str]:
        return self.graph.node(op, [v.name if isinstance(v, Value) else v for v in inputs],
                               n_out, self.scope, **attrs)

    def one(self, op: str, inputs, **attrs) -> str:
        return self.node(op, inputs, 1, **attrs)[0]

    def ints(self, values) -> str:
        return self.graph.ints(values)

    def as_out(self, v: Value, i: int = 0):
        """``v`` (an argument) cast to output ``i``'s dtype where it differs: integers into an
        operation that gives floats in nerve (exp, mean, clamp to a float bound, softmax)."""
        dtype = self.out_dtype(i)
        return v if v.dtype == dtype else self.one("Cast", [v], to=onnx_type(dtype))

    def const(self, value, dtype) -> str:
        return self.graph.const(np.asarray(value, dtype=dtype))

    def fail(self, why: str):
        raise OnnxExportError(self.ex.where(self.call) + why)


def _axis(axis, ndim: int) -> int:
    return int(axis) % max(ndim, 1)


def _axes(axis, ndim: int):
    """A reduction's ``axis`` option as a sorted list of non-negative axes (None: all)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    return sorted(_axis(a, ndim) for a in axes)


# --- element-wise -------------------------------------------------------------------------------
_UNARY = {el.ExpFunction: "Exp", el.LogFunction: "Log", el.SqrtFunction: "Sqrt",
          el.AbsFunction: "Abs", el.SinFunction: "Sin", el.CosFunction: "Cos",
          el.ErfFunction: "Erf",  # ONNX Runtime has it for float32 alone
          el.TanhFunction: "Tanh", el.SigmoidFunction: "Sigmoid", el.ReLUFunction: "Relu",
          el.SoftplusFunction: "Softplus", ar.NegFunction: "Neg", shape.CloneFunction: "Identity"}


@converts(*_UNARY)
def _unary(c: Ctx):
    x = c.as_out(c.arg(0))
    op, dtype = _UNARY[c.call.kind], c.out_dtype()
    if op == "Softplus" and dtype != np.float32 and dtype != np.float16:
        return [_softplus64(c, x, dtype)]
    if dtype.kind == "f" or op in ("Abs", "Neg", "Identity"):
        return [c.one(op, [x])]
    if op == "Relu":  # ONNX Runtime has no integer Relu
        return [c.one("Max", [x, c.const(0, dtype)])]
    y = c.one(op, [c.one("Cast", [x], to=onnx_type(np.float64))])
    return [c.one("Cast", [y], to=onnx_type(dtype))]


@converts(el.Expm1Function, el.Log1pFunction)
def _expm1_log1p(c: Ctx):
    """ONNX has neither: exp(x) - 1 and log(1 + x), which round near 0 where nerve's do not
    (within the file's float tolerance elsewhere)."""
    x, dtype = c.as_out(c.arg(0)), c.out_dtype()
    one = c.const(1, dtype)
    if c.call.kind is el.Expm1Function:
        return [c.one("Sub", [c.one("Exp", [x]), one])]
    return [c.one("Log", [c.one("Add", [x, one])])]


def _softplus64(c: Ctx, x, dtype):
    """Softplus in float64 (ONNX Runtime has it for float32 alone) as max(x, 0) +
    log(1 + exp(-|x|)), cast back to ``dtype`` (nerve's softplus of integers is integers)."""
    if dtype != np.float64:
        x = c.one("Cast", [x], to=onnx_type(np.float64))
    zero, one = c.const(0.0, np.float64), c.const(1.0, np.float64)
    tail = c.one("Log", [c.one("Add", [one, c.one("Exp", [c.one("Neg", [c.one("Abs", [x])])])])])
    y = c.one("Add", [c.one("Max", [x, zero]), tail])
    return y if dtype == np.float64 else c.one("Cast", [y], to=onnx_type(dtype))


_BINARY = {ar.AddFunction: "Add", ar.SubFunction: "Sub", ar.MulFunction: "Mul",
           ar.DivFunction: "Div", ar.PowFunction: "Pow", el.MaximumFunction: "Max",
           el.MinimumFunction: "Min", ar.MatMulFunction: "MatMul"}


@converts(*_BINARY)
def _binary(c: Ctx):
    a, b = c.arg(0), c.arg(1)
    dtype = c.out_dtype()
    ins = [v if v.dtype == dtype else c.one("Cast", [v], to=onnx_type(dtype)) for v in (a, b)]
    return [c.one(_BINARY[c.call.kind], ins)]


@converts(el.LeakyReLUFunction)
def _leaky_relu(c: Ctx):
    alpha = float(c.options.get("negative_slope", 0.01))
    return [c.one("LeakyRelu", [c.as_out(c.arg(0))], alpha=alpha)]


@converts(el.StepFunction)
def _step(c: Ctx):
    x, dtype = c.arg(0), c.out_dtype()
    if x.dtype != dtype:  # integers compared with a float threshold
        x = c.one("Cast", [x], to=onnx_type(dtype))
    fired = c.one("Greater", [x, c.const(c.options.get("threshold", 0.0), dtype)])
    return [c.one("Cast", [fired], to=onnx_type(c.out_dtype()))]


_ROUNDING = {"rint": "Round", "floor": "Floor", "ceil": "Ceil", "sign": "Sign"}


@converts(el._PiecewiseConstantFunction)
def _rounding(c: Ctx):
    return [c.one(_ROUNDING[c.options["kind"]], [c.arg(0)])]


@converts(el.ClipFunction)
def _clip(c: Ctx):
    x = c.arg(0)
    if x.dtype != c.out_dtype():  # integers clamped to a float bound: floats
        x = Value(c.graph, c.as_out(x), x.shape, x.shape2, c.out_dtype(), "")
    bounds = {}
    for key in ("min", "max"):
        b = c.options.get(key)
        if b is not None:  # a number, or an array (then a value: a constant or of the graph)
            bounds[key] = c.option(key, x.dtype) if key in c.call.option_sources else \
                c.const(b, x.dtype)
    if all(isinstance(v, str) or v.ndim == 0 for v in bounds.values()):
        return [c.one("Clip", [x, bounds.get("min", ""), bounds.get("max", "")])]
    y = x.name
    for key, op in (("min", "Max"), ("max", "Min")):  # bounds of a shape: element-wise
        if key in bounds:
            y = c.one(op, [y, bounds[key]])
    return [y]


@converts(el.ClampFunction)
def _clamp(c: Ctx):  # tensor bounds: arguments 1 and 2 (None where absent)
    y = c.as_out(c.arg(0))
    for i, op in ((1, "Max"), (2, "Min")):
        bound = c.arg(i)
        if bound is not None:
            y = c.one(op, [y, c.as_out(bound)])
    return [y]


@converts(el.WhereFunction)
def _where(c: Ctx):
    cond = c.arg(0)
    if cond.dtype != np.bool_:
        cond = c.one("Cast", [cond], to=onnx_type(np.bool_))
    return [c.one("Where", [cond, c.arg(1), c.arg(2)])]


_LOGICAL = {"and": "And", "or": "Or", "xor": "Xor", "not": "Not"}


@converts(ar.LogicalFunction)
def _logical(c: Ctx):
    """& | ^ ~ and the logical functions: And, Or, Xor, Not on bools (the operands of a logical
    function cast to bool); on integers BitwiseAnd... (opset 18 or later)."""
    op = c.options["op"]
    bools = c.out_dtype() == np.bool_
    if not bools and c.graph.opset < 18:
        c.fail(f"{op} of integers needs opset 18 or later (opset={c.graph.opset})")
    args = [c.arg(i, np.bool_ if bools else None) for i in range(len(c.call.sources))]
    args = [c.one("Cast", [a], to=onnx_type(np.bool_)) if bools and a.dtype != np.bool_ else
            a if bools else c.as_out(a) for a in args]
    return [c.one(("" if bools else "Bitwise") + _LOGICAL[op.split("_")[1]], args)]


_COMPARE = {"__lt__": "Less", "__le__": "LessOrEqual", "__gt__": "Greater",
            "__ge__": "GreaterOrEqual", "__eq__": "Equal", "__ne__": "Equal"}


@converts(shape.CompareFunction)
def _compare(c: Ctx):
    """In the type NumPy compares in: a number that the tensor's integer (or bool) dtype
    cannot hold (``x >= 2.5`` on integers, ``mask == 2``) is not cast to it: the tensor is."""
    a = c.arg(0)
    src = c.call.sources[1]
    dtype = a.dtype
    if src is not None and src[0] == "scalar":
        v = src[1]
        if a.dtype.kind in "biu" and isinstance(v, (float, np.floating)) and \
                not float(v).is_integer():
            dtype = np.dtype(np.float64)
        elif a.dtype.kind == "b" and v not in (0, 1):
            dtype = np.dtype(np.float64 if isinstance(v, (float, np.floating)) else np.int64)
        b = c.arg(1, dtype)
    else:
        b = c.arg(1)
        dtype = np.result_type(a.dtype, b.dtype)
    a, b = (v if v.dtype == dtype else c.one("Cast", [v], to=onnx_type(dtype)) for v in (a, b))
    out = c.one(_COMPARE[c.options["op"]], [a, b])
    return [c.one("Not", [out]) if c.options["op"] == "__ne__" else out]


@converts(shape.CastFunction)
def _cast(c: Ctx):
    return [c.one("Cast", [c.arg(0)], to=onnx_type(c.out_dtype()))]


# --- layers as one node --------------------------------------------------------------------------
@converts(LinearFunction)
def _linear(c: Ctx):
    x, w, b = c.arg(0), c.arg(1), c.arg(2)
    if x.ndim == 2:
        y = c.one("Gemm", [x, w] + ([b] if b is not None else []), transB=1)
    else:
        y = c.one("MatMul", [x, c.one("Transpose", [w], perm=[1, 0])])
        y = y if b is None else c.one("Add", [y, b])
    return [c.one("Relu", [y]) if c.options.get("relu") else y]  # a Linear and its ReLU


def _spatial(x: Value, pads, *pairs):
    """The 2-D options of a convolution or pooling as ONNX attributes for a 1-D or 2-D input
    (a 1-D one is computed by nerve as height 1: its first entries are dropped)."""
    one_d = x.ndim == 3
    top, bottom, left, right = pads
    onnx_pads = [left, right] if one_d else [top, left, bottom, right]
    return onnx_pads, [list(p[1:]) if one_d else list(p) for p in pairs]


@converts(ConvFunction)
def _conv(c: Ctx):
    x, w, b = c.arg(0), c.arg(1), c.arg(2)
    o = c.options
    pads, (strides, dilations) = _spatial(x, o["padding"], o["stride"], o["dilation"])
    ins = [x, w] + ([b] if b is not None else [])
    return [c.one("Conv", ins, strides=strides, pads=pads, dilations=dilations,
                  group=int(o["groups"]), kernel_shape=list(w.shape[2:]))]


@converts(ConvTransposeFunction)
def _conv_transpose(c: Ctx):
    x, w, b = c.arg(0), c.arg(1), c.arg(2)
    o = c.options
    pads, (strides, dilations, extra) = _spatial(x, o["padding"], o["stride"], o["dilation"],
                                                 o["output_padding"])
    ins = [x, w] + ([b] if b is not None else [])
    return [c.one("ConvTranspose", ins, strides=strides, pads=pads, dilations=dilations,
                  group=int(o["groups"]), kernel_shape=list(w.shape[2:]),
                  output_padding=extra)]


@converts(MaxPoolFunction)
def _max_pool(c: Ctx):
    x, o = c.arg(0), c.options
    pads, (kernel, strides, dilations) = _spatial(x, o["pads"], o["kernel"], o["stride"],
                                                  o["dilation"])
    if o.get("relu"):  # max_pool(relu(x)) in one node (a Sequential's ReLU, then MaxPool)
        x = c.one("Relu", [x])
    return [c.one("MaxPool", [x], kernel_shape=kernel, strides=strides, pads=pads,
                  dilations=dilations, ceil_mode=0)]


def _window_counts(in_hw, kernel, stride, pads, out, lo_hi):
    """(Ho, Wo): how many elements of [lo, hi) per axis each window covers."""
    counts = []
    for axis in range(2):
        lo, hi = lo_hi[axis]
        starts = [i * stride[axis] for i in range(out[axis])]
        counts.append([max(0, min(s + kernel[axis], hi) - max(s, lo)) for s in starts])
    return np.outer(counts[0], counts[1])


@converts(AvgPoolFunction)
def _avg_pool(c: Ctx):
    """ONNX's AveragePool divides by the window's size (count_include_pad=1) or by the input
    elements it covers (0); nerve's divisor (PyTorch's: padding counted but not ceil_mode's
    extra positions, or divisor_override) is one of those, or the window sum is rescaled."""
    x, o = c.arg(0), c.options
    kernel, stride, pads, out = o["kernel"], o["stride"], o["pads"], o["out"]
    onnx_pads, (k, s) = _spatial(x, pads, kernel, stride)
    divisor = np.broadcast_to(np.asarray(o["divisor"], dtype=np.float64), tuple(out))
    size = kernel[0] * kernel[1]
    h, w = o["in_hw"]
    top, _, left, _ = pads
    inside = _window_counts((h, w), kernel, stride, pads, out,
                            [(top, top + h), (left, left + w)])
    include = 0 if np.array_equal(divisor, inside) else 1
    y = c.one("AveragePool", [x], kernel_shape=k, strides=s, pads=onnx_pads, ceil_mode=0,
              count_include_pad=include)
    if include and not np.all(divisor == size):
        scale = (size / divisor).astype(x.dtype)
        scale = scale.reshape(scale.shape[1:]) if x.ndim == 3 else scale
        y = c.one("Mul", [y, c.graph.const(scale)])
    return [y]


@converts(AdaptiveAvgPoolFunction)
def _adaptive_avg_pool(c: Ctx):
    """GlobalAveragePool for an output of size 1; an AveragePool where the input size is a
    multiple of the output's; else nerve's own computation, two products with the averaging
    matrices of PyTorch's bins."""
    x = c.arg(0)
    out = tuple(c.options["out"])
    in_hw = tuple(c.options["in_hw"])
    one_d = x.ndim == 3
    if out == (1, 1):
        return [c.one("GlobalAveragePool", [x])]
    if all(n % m == 0 for n, m in zip(in_hw, out)):
        k = [n // m for n, m in zip(in_hw, out)]
        k = k[1:] if one_d else k
        return [c.one("AveragePool", [x], kernel_shape=k, strides=k, ceil_mode=0,
                      count_include_pad=0)]
    from nerve.ops.fused.pool import _bins

    ah, aw = (_bins(np, n, m, x.dtype) for n, m in zip(in_hw, out))
    y = c.one("MatMul", [x, c.graph.const(np.ascontiguousarray(aw.T))])
    if not one_d:
        y = c.one("MatMul", [c.graph.const(ah), y])
    return [y]


@converts(BatchNormFunction)
def _batch_norm(c: Ctx):
    o = c.options
    if o.get("training", False):
        c.fail("batch statistics (training=True) cannot be exported: ONNX runs the model in "
               "inference, with the running statistics (the layer in eval mode)")
    x, w, b = c.arg(0), c.arg(1), c.arg(2)
    n = x.shape[1]
    w = w if w is not None else c.const(np.ones(n), x.dtype)
    b = b if b is not None else c.const(np.zeros(n), x.dtype)
    mean, var = c.option("running_mean"), c.option("running_var")
    return [c.one("BatchNormalization", [x, w, b, mean, var], epsilon=float(o.get("eps", 1e-5)))]


@converts(LayerNormFunction)
def _layer_norm(c: Ctx):
    if c.graph.opset < 17:
        c.fail(f"LayerNormalization needs opset 17 or later (opset={c.graph.opset})")
    x, w, b = c.arg(0), c.arg(1), c.arg(2)
    dims = tuple(c.options.get("normalized_shape", ()))
    w = w if w is not None else c.const(np.ones(dims), x.dtype)
    ins = [x, w] + ([b] if b is not None else [])
    return [c.one("LayerNormalization", ins, axis=-len(dims),
                  epsilon=float(c.options.get("eps", 1e-5)))]


_RNN_OP = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
# nerve's (PyTorch's) gate blocks in ONNX's order: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h
_GATE_ORDER = {"RNN_TANH": [0], "RNN_RELU": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


@converts(RecurrentFunction)
def _recurrent(c: Ctx):
    """One direction of one layer as one ONNX RNN, LSTM or GRU node (time-major), its weights
    put in ONNX's gate order by a Gather on the parameters (which keep their names)."""
    o = c.options
    mode = o["mode"]
    if o.get("lengths") is not None:
        c.fail("a PackedSequence (sequences of different lengths) cannot be exported; pad "
               "the sequences to one length")
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = (c.arg(i) for i in range(7))
    if x.batch == 0:  # the time axis of (T, N, I) grew with the inputs' axis 0
        c.fail("its input is time-major (batch_first=False) and axis 0 of the model's input, "
               "the time axis, is not the batch: pass dynamic_batch=False (or make the layer "
               "batch_first=True with the batch on axis 0)")
    hidden = w_hh.shape[1]
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden)
                           for k in _GATE_ORDER[mode]])

    def gate_rows(v):
        if mode.startswith("RNN"):
            return v
        return c.one("Gather", [v, c.ints(rows)], axis=0)

    def one_dir(v):
        return c.one("Unsqueeze", [v, c.ints([0])])

    ins = [x, one_dir(gate_rows(w_ih)), one_dir(gate_rows(w_hh))]
    if b_ih is not None:
        ins.append(one_dir(c.one("Concat", [gate_rows(b_ih), gate_rows(b_hh)], axis=0)))
    else:
        ins.append("")
    ins.append("")  # sequence_lens: every sequence is whole
    for state in (h0, c0) if mode == "LSTM" else (h0,):
        ins.append("" if state.fill == 0 else one_dir(state))
    while ins[-1] == "":
        ins.pop()
    attrs = {"hidden_size": int(hidden),
             "direction": "reverse" if o.get("reverse", False) else "forward"}
    if mode.startswith("RNN"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"]
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    n_out = 3 if mode == "LSTM" else 2
    outs = c.node(_RNN_OP[mode], ins, n_out, **attrs)
    y = c.one("Squeeze", [outs[0], c.ints([1])])  # (T, 1, N, H) -> (T, N, H)
    return [y] + [c.one("Squeeze", [s, c.ints([0])]) for s in outs[1:]]


# --- shapes and indexing --------------------------------------------------------------------------
@converts(shape.ReshapeFunction)
def _reshape(c: Ctx):
    target = list(c.out_shape())
    b = c.out_batch()
    if b is not None:
        target[b] = -1  # every other length is fixed: -1 is the batch's (times what it holds)
    if 0 in target:
        c.fail(f"a reshape to an empty shape {tuple(target)} cannot be exported")
    return [c.one("Reshape", [c.arg(0), c.ints(target)])]


@converts(shape.PermuteFunction)
def _permute(c: Ctx):
    x = c.arg(0)
    return [c.one("Transpose", [x], perm=[_axis(d, x.ndim) for d in c.options["dims"]])]


@converts(shape.SqueezeFunction)
def _squeeze(c: Ctx):
    x = c.arg(0)
    axes = _axes(c.options.get("axis"), x.ndim)
    axes = [a for a in (range(x.ndim) if axes is None else axes) if x.shape[a] == 1]
    if not axes:
        return [c.one("Identity", [x])]
    return [c.one("Squeeze", [x, c.ints(axes)])]


@converts(shape.UnsqueezeFunction)
def _unsqueeze(c: Ctx):
    x = c.arg(0)
    return [c.one("Unsqueeze", [x, c.ints([_axis(c.options["axis"], x.ndim + 1)])])]


@converts(shape.ConcatenateFunction)
def _concatenate(c: Ctx):
    args = [c.arg(i) for i in range(len(c.call.sources))]
    return [c.one("Concat", args, axis=_axis(c.options.get("axis", 0), args[0].ndim))]


@converts(shape.StackFunction)
def _stack(c: Ctx):
    args = [c.arg(i) for i in range(len(c.call.sources))]
    axis = _axis(c.options.get("axis", 0), args[0].ndim + 1)
    parts = [c.one("Unsqueeze", [a, c.ints([axis])]) for a in args]
    return [c.one("Concat", parts, axis=axis)]


@converts(shape.PadFunction)
def _pad(c: Ctx):
    x = c.arg(0)
    widths = shape._pad_widths(c.options["pad_width"], x.shape)
    pads = [b for b, _ in widths] + [a for _, a in widths]
    value = c.const(c.options.get("value", 0.0), x.dtype)
    return [c.one("Pad", [x, c.ints(pads), value], mode="constant")]


@converts(select.ExpandFunction)
def _expand(c: Ctx):
    x, b = c.arg(0), c.out_batch()
    if b is not None:
        c.ex.batch_sized(c.out_shape(), c.partner.outputs[0]._data.shape, b, c, "its output")
    shape = c.graph.shape_of(c.out_shape(), b)  # the batch's size where it is
    return [c.one("Expand", [x, shape])]


@converts(select.RepeatFunction)
def _repeat(c: Ctx):
    x = c.arg(0)
    repeats = list(c.options["repeats"])
    if c.partner is not None and list(c.partner.options["repeats"]) != repeats:
        c.fail(f"its repeats {tuple(repeats)} are {tuple(c.partner.options['repeats'])} "
               f"{c.ex.again} (a count taken from the batch size would be a constant in the "
               f"file: expand or broadcasting follows it){c.ex.advice}")
    lead = len(repeats) - x.ndim
    y = x.name if not lead else c.one("Unsqueeze", [x, c.ints(range(lead))])
    return [c.one("Tile", [y, c.ints(repeats)])]


@converts(select.CumsumFunction)
def _cumsum(c: Ctx):
    x = c.arg(0)
    if x.ndim == 0:
        return [c.one("Identity", [x])]
    return [c.one("CumSum", [x, c.graph.const(np.int64(_axis(c.options["axis"], x.ndim)))])]


def _consumes(item) -> int:
    """How many axes of the input an index item reads."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, np.ndarray) and item.dtype == np.bool_:
        return item.ndim
    return 1


def _index_items(call, ndim: int) -> list:
    """The index as a list of (item, its source), the Ellipsis spelled out, lists as arrays."""
    index = call.options["index"]
    items = index if isinstance(index, tuple) else (index,)
    src = call.option_sources.get("index")
    if src is None:
        srcs = (None,) * len(items)
    else:
        srcs = src[1] if isinstance(index, tuple) else (src,)
    pairs = []
    for item, s in zip(items, srcs):
        if isinstance(item, list):
            item = np.asarray(item)
            s = ("const", item)
        pairs.append((item, s))
    used = sum(_consumes(it) for it, _ in pairs)
    out = []
    for it, s in pairs:
        out += [(slice(None), None)] * (ndim - used) if it is Ellipsis else [(it, s)]
    return out


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@converts(shape.GetItemFunction)
def _getitem(c: Ctx):
    """Integers (Gather), slices (Slice), None (Unsqueeze) and one integer index array
    (Gather), in NumPy's order."""
    x = c.arg(0)
    if x.fill is not None:  # a constant fill (zeros of the batch's size): still one
        return [_fill(c, x.fill)]
    items = _index_items(c.call, x.ndim)
    others = _index_items(c.partner, x.ndim) if c.partner is not None else [(None, None)] * \
        len(items)
    arrays = [i for i, (it, _) in enumerate(items) if hasattr(it, "ndim") and it.ndim > 0]
    if any(np.asarray(items[i][0]).dtype == np.bool_ for i in arrays):
        c.fail("indexing with a boolean mask gives a shape that depends on the data")
    if len(arrays) > 1:
        c.fail("indexing with more than one index array cannot be exported")
    # (integers beside an index array come as two nodes, integers first: PyTorch's reading)
    y, axis, xa = x.name, 0, 0  # axis: of y (the result so far); xa: of x (the input)
    for (it, src), (it2, src2) in zip(items, others):
        if it is None:
            y = c.one("Unsqueeze", [y, c.ints([axis])])
            axis += 1
            continue
        if isinstance(it, slice) and xa == x.batch and _whole(it, x.shape[xa]) and \
                isinstance(it2, slice) and _whole(it2, x.shape2[xa]):
            axis, xa = axis + 1, xa + 1  # the whole batch, as x[:len(x)]
            continue
        if c.partner is not None and (_is_int(it) or isinstance(it, slice)) and not \
                (type(it) is type(it2) and it == it2 or _is_int(it) and _is_int(it2) and
                 it == it2):
            c.fail(f"its index {it!r} on the example is {it2!r} {c.ex.again} (an index taken "
                   "from the data or the batch size would be a constant in the file)"
                   f"{c.ex.advice}")
        if _is_int(it):
            y = c.one("Gather", [y, c.graph.const(np.int64(it))], axis=axis)
        elif isinstance(it, slice):
            if xa == x.batch:  # ONNX's Slice bounds, as NumPy's on the batch's length
                step = 1 if it.step is None else int(it.step)
                start = it.start if it.start is not None else (0 if step > 0 else INT64_MAX)
                stop = it.stop if it.stop is not None else (INT64_MAX if step > 0 else
                                                            INT64_MIN)
                y = c.one("Slice", [y, c.ints([start]), c.ints([stop]), c.ints([axis]),
                                    c.ints([step])])
            elif not _whole(it, x.shape[xa]):  # NumPy's bounds for the axis's known length
                start, stop, step = it.indices(x.shape[xa])
                if not len(range(start, stop, step)):
                    start, stop, step = 0, 0, 1  # empty (as x[:, -10::-1] of 4 columns)
                elif stop < 0:  # a negative step down to the first element
                    stop = INT64_MIN
                y = c.one("Slice", [y, c.ints([start]), c.ints([stop]), c.ints([axis]),
                                    c.ints([step])])
            axis += 1
        else:  # an integer array (a constant, or a value of the graph)
            v = c.ex.value(src, src2, np.dtype(np.int64), c, "index") if src else None
            if v is None or v.dtype.kind not in "iu":
                c.fail(f"an index of type {type(it).__name__} cannot be exported")
            y = c.one("Gather", [y, v], axis=axis)
            axis += it.ndim
        xa += 1
    return [y]


def _whole(it: slice, dim: int) -> bool:
    """Whether the slice ``it`` keeps an axis of length ``dim`` whole, in order."""
    return it.indices(dim) == (0, dim, 1)


# --- reductions -----------------------------------------------------------------------------------
_REDUCE = {reduce.SumFunction: "ReduceSum", reduce.MeanFunction: "ReduceMean",
           reduce.MaxFunction: "ReduceMax", reduce.MinFunction: "ReduceMin"}


@converts(*_REDUCE)
def _reduce(c: Ctx):
    x = c.arg(0)
    axes = _axes(c.options.get("axis"), x.ndim)
    y = _name(c.as_out(x))
    if x.ndim == 0 or axes == []:
        return [c.one("Identity", [y])]
    return [c.graph.reduce(_REDUCE[c.call.kind], y, axes, c.options.get("keepdims", False),
                           c.scope)]


def _name(v) -> str:
    return v.name if isinstance(v, Value) else v


@converts(reduce.VarFunction, reduce.StdFunction)
def _var(c: Ctx):
    x = c.arg(0)
    axes = _axes(c.options.get("axis"), x.ndim)
    keep = c.options.get("keepdims", False)
    correction = c.options.get("correction", 1)
    every = range(x.ndim) if axes is None else axes
    if correction and x.batch is not None and x.batch in every:
        c.fail("a variance with correction over the batch axis cannot be exported with "
               "dynamic_batch=True")
    n = int(np.prod([x.shape[a] for a in every]))
    xo = _name(c.as_out(x))
    mean = c.graph.reduce("ReduceMean", xo, axes, True, c.scope)
    d = c.one("Sub", [xo, mean])
    var = c.graph.reduce("ReduceMean", c.one("Mul", [d, d]), axes, keep, c.scope)
    if correction:
        var = c.one("Mul", [var, c.const(n / max(n - correction, 0) if n > correction else
                                         np.inf, c.out_dtype())])
    return [c.one("Sqrt", [var]) if c.call.kind is reduce.StdFunction else var]


@converts(reduce.SoftmaxFunction, reduce.LogSoftmaxFunction)
def _softmax(c: Ctx):
    x = c.arg(0)
    op = "Softmax" if c.call.kind is reduce.SoftmaxFunction else "LogSoftmax"
    return [c.one(op, [c.as_out(x)], axis=_axis(c.options.get("axis", -1), x.ndim))]


@converts(reduce.ArgmaxFunction, reduce.ArgminFunction)
def _argmax(c: Ctx):
    x = c.arg(0)
    op = "ArgMax" if c.call.kind is reduce.ArgmaxFunction else "ArgMin"
    axis, keep = c.options.get("axis"), int(bool(c.options.get("keepdims", False)))
    if axis is None:
        if keep:
            c.fail("argmax over all axes with keepdims=True cannot be exported")
        x = c.one("Reshape", [x, c.ints([-1])])
        return [c.one(op, [x], axis=0, keepdims=0)]
    return [c.one(op, [x], axis=_axis(axis, x.ndim), keepdims=keep)]


@converts(reduce.GatherFunction)
def _gather(c: Ctx):
    x = c.arg(0)
    index = c.arg(1, np.int64)
    return [c.one("GatherElements", [x, index], axis=_axis(c.options["axis"], x.ndim))]


# --- layers traced whole ------------------------------------------------------------------------
def _embedding(c: Ctx):
    idx = c.arg(0)
    if idx.dtype.kind not in "iu":
        c.fail(f"expected integer indices. Received: dtype {idx.dtype}")
    if idx.dtype not in (np.int32, np.int64):
        idx = c.one("Cast", [idx], to=onnx_type(np.int64))
    return [c.one("Gather", [c.ex.param_value(c.call.module.weight), idx], axis=0)]


def _softplus(c: Ctx):
    m = c.call.module
    x = c.arg(0)
    z = x.name if m.beta == 1 else c.one("Mul", [x, c.const(m.beta, x.dtype)])
    y = _softplus64(c, z, x.dtype) if x.dtype == np.float64 else c.one("Softplus", [z])
    if m.beta != 1:
        y = c.one("Div", [y, c.const(m.beta, x.dtype)])
    linear = c.one("Greater", [z, c.const(m.threshold, x.dtype)])
    return [c.one("Where", [linear, x, y])]


def _perceptron(c: Ctx):
    m = c.call.module
    x = c.arg(0)
    dtype = m.weight._data.dtype
    if x.dtype != dtype:
        x = c.one("Cast", [x], to=onnx_type(dtype))
    w = c.one("Gather", [c.ex.param_value(m.weight), c.graph.const(np.int64(0))], axis=0)
    b = c.one("Gather", [c.ex.param_value(m.bias), c.graph.const(np.int64(0))], axis=0)
    z = c.one("Add", [c.one("MatMul", [x, w]), b])
    fired = c.one("Greater", [z, c.const(0.0, dtype)])
    return [c.one("Cast", [fired], to=onnx_type(dtype))]


MODULE_CONVERTERS = {nn.Embedding: _embedding, nn.Softplus: _softplus, nn.Perceptron: _perceptron}
trace.MODULES = tuple(MODULE_CONVERTERS)


def _fill(c: Ctx, value):
    """The output as a constant fill of ``value`` (of the batch's shape: made when used)."""
    shape2 = c.partner.outputs[0]._data.shape if c.partner is not None else c.out_shape()
    return c.ex.fill_value(value, c.out_shape(), shape2, c.out_dtype(), c)


# --- refused --------------------------------------------------------------------------------------
for _cls in (CrossEntropyFunction, BCEFunction, BCEWithLogitsFunction):
    REFUSED[_cls] = "a loss has no place in an exported model: export the model without it"
for _cls in (inplace.SetItemFunction, inplace._OverwriteFunction):
    REFUSED[_cls] = ("in-place assignment (t[i] = v, copy_, fill_, zero_) cannot be exported; "
                     "build the tensor out of place (cat, where)")
REFUSED[reduce._TruthFunction] = "any() and all() cannot be exported"
REFUSED[inplace._OutdatedViewFunction] = "a view used after its base changed in place"
