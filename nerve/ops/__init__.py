"""Floor 3: the differentiable operations, as functions and as Tensor methods.

Each operation is a :class:`nerve.Function` defined beside its backward rule in one of
``arithmetic``, ``elementwise``, ``reduce`` and ``shape``; this module gives them their public
names and attaches the Tensor methods and operators (``+``, ``@``, ``x.sum()``, ...).
Comparisons and ``argmax`` are declared non-differentiable: their results never require
gradients. ``step`` is differentiable with a gradient of zero (see :class:`~.elementwise.Step`).
"""

from __future__ import annotations

import numpy as np

from nerve.function import Function, as_array, non_differentiable
from nerve.ops import arithmetic as _ar
from nerve.ops import elementwise as _el
from nerve.ops import reduce as _rd
from nerve.ops import shape as _sh
from nerve.ops._util import coerce, normalize_axis, pick_axis, unbroadcast
from nerve.tensor import Tensor

__all__ = [
    "Function", "unbroadcast", "add", "sub", "mul", "div", "pow", "neg", "matmul", "linear",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softplus", "leaky_relu", "clip",
    "maximum", "minimum", "where", "step", "sum", "mean", "max", "min", "var", "softmax",
    "log_softmax", "argmax", "argmin", "reshape", "transpose", "permute", "flatten", "squeeze",
    "unsqueeze", "concatenate", "cat", "stack", "pad",
]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _operands(a, b, name):
    """Make two operands ready for a binary op; the non-tensor one follows the tensor's dtype."""
    if isinstance(a, Tensor):
        a2, b2 = a, coerce(b, a)
    elif isinstance(b, Tensor):
        a2, b2 = coerce(a, b), b
    else:
        a2 = _t(a)
        b2 = coerce(b, a2)
    if a2 is NotImplemented or b2 is NotImplemented:
        raise TypeError(f"{name}: unsupported operand types {type(a).__name__} and "
                        f"{type(b).__name__} (expected Tensors, numbers or ndarrays)")
    return a2, b2


def _binary(fn, name):
    def op(a, b):
        return fn.apply(*_operands(a, b, name))

    op.__name__ = name
    op.__doc__ = f"Element-wise {name} with broadcasting."
    return op


add = _binary(_ar.Add, "add")
sub = _binary(_ar.Sub, "sub")
mul = _binary(_ar.Mul, "mul")
div = _binary(_ar.Div, "div")
pow = _binary(_ar.Pow, "pow")
maximum = _binary(_el.Maximum, "maximum")
minimum = _binary(_el.Minimum, "minimum")


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batches, broadcast batch dims)."""
    return _ar.MatMul.apply(*_operands(a, b, "matmul"))


def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight.T + bias`` as one node; ``weight`` is (out_features, in_features)."""
    weight, x = _operands(weight, x, "linear")
    if bias is None:
        return _ar.Linear.apply(x, weight)
    return _ar.Linear.apply(x, weight, _operands(weight, bias, "linear")[1])


def neg(x) -> Tensor:
    return _ar.Neg.apply(_t(x))


def exp(x) -> Tensor:
    return _el.Exp.apply(_t(x))


def log(x) -> Tensor:
    return _el.Log.apply(_t(x))


def sqrt(x) -> Tensor:
    return _el.Sqrt.apply(_t(x))


def abs(x) -> Tensor:
    return _el.Abs.apply(_t(x))


def tanh(x) -> Tensor:
    return _el.Tanh.apply(_t(x))


def sigmoid(x) -> Tensor:
    """1 / (1 + e^-x), the sigmoid neuron's activation, between 0 and 1."""
    return _el.Sigmoid.apply(_t(x))


def relu(x) -> Tensor:
    """max(0, x), the rectified linear unit."""
    return _el.ReLU.apply(_t(x))


def softplus(x) -> Tensor:
    """log(1 + e^x), a smooth ReLU."""
    return _el.Softplus.apply(_t(x))


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _el.LeakyReLU.apply(_t(x), float(negative_slope))


def clip(x, min=None, max=None) -> Tensor:
    """Limit x to [min, max] (PyTorch's ``clamp``); the bounds get no gradient."""
    x = _t(x)
    lo, hi = (b if b is None else coerce(as_array(b) if isinstance(b, Tensor) else b, x)
              for b in (min, max))
    if lo is NotImplemented or hi is NotImplemented:
        raise TypeError(f"clip: min and max must be numbers, ndarrays or Tensors, got "
                        f"{type(min).__name__} and {type(max).__name__}")
    return _el.Clip.apply(x, lo, hi)


def where(cond, a, b) -> Tensor:
    """Element-wise ``a if cond else b``; cond is a boolean tensor or array."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    return _el.Where.apply(cond, *_operands(a, b, "where"))


def step(x, threshold: float = 0.0) -> Tensor:
    """The perceptron's activation: 1 where x > threshold, else 0. Its gradient is zero."""
    return _el.Step.apply(_t(x), threshold)


def sum(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    return _rd.Sum.apply(_t(x), pick_axis(axis, dim), keepdims or bool(keepdim))


def mean(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    return _rd.Mean.apply(_t(x), pick_axis(axis, dim), keepdims or bool(keepdim))


def max(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    """The largest values along axis (values only; ``argmax`` gives the positions)."""
    return _rd.Max.apply(_t(x), pick_axis(axis, dim), keepdims or bool(keepdim))


def min(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    return _rd.Min.apply(_t(x), pick_axis(axis, dim), keepdims or bool(keepdim))


def var(x, axis=None, keepdims: bool = False, correction: int = 1, *, dim=None,
        keepdim=None) -> Tensor:
    """Variance; ``correction=1`` (the default, as in PyTorch) divides by n - 1, 0 by n."""
    return _rd.Var.apply(_t(x), pick_axis(axis, dim), keepdims or bool(keepdim), correction)


def softmax(x, axis: int | None = None, *, dim=None) -> Tensor:
    """Probabilities along axis (the last by default) that sum to 1, computed stably."""
    return _rd.Softmax.apply(_t(x), pick_axis(axis, dim, -1))


def log_softmax(x, axis: int | None = None, *, dim=None) -> Tensor:
    """log(softmax(x)) along axis (the last by default), computed stably."""
    return _rd.LogSoftmax.apply(_t(x), pick_axis(axis, dim, -1))


@non_differentiable
def argmax(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    """Positions of the largest values: the decision. Not differentiable (no gradient)."""
    arr = as_array(x)
    axis = pick_axis(axis, dim)
    if axis is not None:
        (axis,) = normalize_axis(axis, arr.ndim, "argmax")
    return Tensor(np.argmax(arr, axis=axis, keepdims=keepdims or bool(keepdim)))


@non_differentiable
def argmin(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    arr = as_array(x)
    axis = pick_axis(axis, dim)
    if axis is not None:
        (axis,) = normalize_axis(axis, arr.ndim, "argmin")
    return Tensor(np.argmin(arr, axis=axis, keepdims=keepdims or bool(keepdim)))


def reshape(x, *shape) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return _sh.Reshape.apply(_t(x), shape)


def permute(x, *dims) -> Tensor:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return _sh.Permute.apply(_t(x), dims)


def transpose(x, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dimensions (the last two by default)."""
    x = _t(x)
    d0, d1 = (normalize_axis(d, x.ndim, "transpose")[0] for d in (dim0, dim1))
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _sh.Permute.apply(x, tuple(dims))


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one (PyTorch's ``flatten``)."""
    x = _t(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_axis(start_dim, x.ndim, "flatten")[0]
    e = normalize_axis(end_dim, x.ndim, "flatten")[0]
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


def squeeze(x, axis=None, *, dim=None) -> Tensor:
    return _sh.Squeeze.apply(_t(x), pick_axis(axis, dim))


def unsqueeze(x, axis=None, *, dim=None) -> Tensor:
    axis = pick_axis(axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the axis where the new dimension goes")
    return _sh.Unsqueeze.apply(_t(x), axis)


def concatenate(tensors, axis: int | None = None, *, dim=None) -> Tensor:
    """Join tensors along an existing axis (0 by default)."""
    return _sh.Concatenate.apply(*[_t(t) for t in tensors], axis=pick_axis(axis, dim, 0))


cat = concatenate


def stack(tensors, axis: int | None = None, *, dim=None) -> Tensor:
    """Join tensors of one shape along a new axis (0 by default)."""
    return _sh.Stack.apply(*[_t(t) for t in tensors], axis=pick_axis(axis, dim, 0))


def pad(x, pad_width, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` as in ``numpy.pad`` (per-axis (before, after))."""
    return _sh.Pad.apply(_t(x), pad_width, value)


def _getitem(self, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return _sh.GetItem.apply(self, index)


def _compare(ufunc):
    def method(self, other):
        other = coerce(other, self)
        if other is NotImplemented:
            return NotImplemented
        return Tensor._wrap(ufunc(self.data, as_array(other)))

    return non_differentiable(method)


def _unsupported(other, fn):
    """NotImplemented lets another type answer; a sequence would only give a puzzling error."""
    if isinstance(other, (str, bytes, list, tuple, dict, set)):
        raise TypeError(f"{fn.__name__.lower()}: unsupported operand type {type(other).__name__} "
                        "(expected a Tensor, a number or an ndarray)")
    return NotImplemented


def _reflected(fn):
    def method(self, other):
        c = coerce(other, self)
        if c is NotImplemented:
            return _unsupported(other, fn)
        return fn.apply(c, self)

    return method


def _forward(fn):
    def method(self, other):
        c = coerce(other, self)
        if c is NotImplemented:
            return _unsupported(other, fn)
        return fn.apply(self, c)

    return method


def _attach_methods() -> None:
    T = Tensor
    T.__add__ = T.add = _forward(_ar.Add)
    T.__radd__ = _reflected(_ar.Add)
    T.__sub__ = T.sub = _forward(_ar.Sub)
    T.__rsub__ = _reflected(_ar.Sub)
    T.__mul__ = T.mul = _forward(_ar.Mul)
    T.__rmul__ = _reflected(_ar.Mul)
    T.__truediv__ = T.div = _forward(_ar.Div)
    T.__rtruediv__ = _reflected(_ar.Div)
    T.__pow__ = T.pow = _forward(_ar.Pow)
    T.__rpow__ = _reflected(_ar.Pow)
    T.__matmul__ = T.matmul = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__neg__ = T.neg = neg
    T.__getitem__ = _getitem
    T.__lt__, T.__le__ = _compare(np.less), _compare(np.less_equal)
    T.__gt__, T.__ge__ = _compare(np.greater), _compare(np.greater_equal)
    T.__eq__, T.__ne__ = _compare(np.equal), _compare(np.not_equal)
    for fn in (exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, leaky_relu, clip, maximum,
               minimum, step, sum, mean, max, min, var, softmax, log_softmax, argmax, argmin,
               reshape, permute, transpose, flatten, squeeze, unsqueeze, pad):
        setattr(T, fn.__name__, fn)
    T.__abs__ = abs
    T.clamp = clip
    T.view = reshape
    T.T = property(lambda self: permute(self, tuple(range(self.ndim))[::-1]))


_attach_methods()
