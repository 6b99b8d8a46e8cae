"""Functional forms of the layers, activations and losses (``nerve.nn.functional as F``)."""

from __future__ import annotations

import math

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import (
    ShortRepr,
    as_array,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_probability,
    is_int,
    message,
    numeric_array,
)
from nerve.ops import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    linear,
    sigmoid,
    step,
    tanh,
)
from nerve.ops.fused import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    BCEFunction,
    BCEWithLogitsFunction,
    CrossEntropyFunction,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    max_pool1d,
    max_pool2d,
)
from nerve.ops.fused.conv import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    conv_transpose1d,
    conv_transpose2d,
    fold,
    unfold,
)
from nerve.ops.fused.losses import ClampMinPassFunction
from nerve.ops.fused.norm import BatchNormFunction, LayerNormFunction
from nerve.ops.fused.pool import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    adaptive_max_pool1d,
    adaptive_max_pool2d,
)
from nerve.ops.fused.resample import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
)
from nerve.ops.inplace import apply_inplace

_REDUCTIONS = ("mean", "sum", "none")


def relu(input, inplace: bool = False) -> Tensor:  # noqa: A002 - PyTorch's names
    """max(0, x); ``inplace=True`` writes it into ``input`` (PyTorch's flag)."""
    return input.relu_() if check_bool(inplace, "inplace", "relu") else ops.relu(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > 0, else negative_slope * x; ``inplace=True`` writes it into ``input``."""
    if check_bool(inplace, "inplace", "leaky_relu"):
        return apply_inplace(input, ops.leaky_relu, negative_slope)
    return ops.leaky_relu(input, negative_slope)


def softmax(input, dim: int | None = None, dtype=None) -> Tensor:  # noqa: A002
    """Probabilities along ``dim``; ``dtype`` casts the input first, as PyTorch's."""
    return ops.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim: int | None = None, dtype=None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along ``dim``, stably; ``dtype`` casts the input first."""
    return ops.log_softmax(input if dtype is None else input.to(dtype), dim)


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule)."""
    check_number(beta, "beta", "softplus", 0.0, low_open=True)
    z = x * beta if beta != 1 else x
    out = ops.softplus(z) if beta == 1 else ops.softplus(z) / beta
    return ops.where(z > threshold, x, out)  # nerve's comparison: an ONNX export computes it


def silu(x) -> Tensor:
    """x sigmoid(x) (the swish of Ramachandran et al.)."""
    return x * ops.sigmoid(x)


def mish(x) -> Tensor:
    """x tanh(softplus(x)) (Misra), with softplus's threshold of 20 as PyTorch's."""
    return x * ops.tanh(softplus(x))


def gelu(x, approximate: str = "none") -> Tensor:
    """x P(X <= x) for a standard normal X (Hendrycks and Gimpel): x (1 + erf(x / sqrt 2)) / 2,
    or with ``approximate="tanh"`` x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2; both as
    PyTorch writes them."""
    check_choice(approximate, "approximate", "gelu", ("none", "tanh"))
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (ops.tanh(inner) + 1)
    return x * 0.5 * (ops.erf(x * math.sqrt(0.5)) + 1)


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 at and beyond
    the bounds, as PyTorch's (a clamp would pass it at the bounds)."""
    min_val = check_number(min_val, "min_val", "hardtanh")
    max_val = check_number(max_val, "max_val", "hardtanh")
    if not min_val < max_val:
        raise ValueError(message("hardtanh", f"max_val > min_val={min_val}", "max_val", max_val))
    return ops.where(x <= min_val, min_val, ops.where(x >= max_val, max_val, x))


def relu6(x) -> Tensor:
    """min(max(x, 0), 6): hardtanh between 0 and 6."""
    return hardtanh(x, 0.0, 6.0)


def logsigmoid(x) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    return -ops.softplus(-x)


def softsign(x) -> Tensor:
    """x / (1 + |x|)."""
    return x / (ops.abs(x) + 1.0)


def elu(x, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha (e^x - 1) (Clevert et al.). The exponential sees min(x, 0)
    (a clamp, whose gradient is 1 at 0, as PyTorch's there): e^x of a large x would overflow
    to inf on the branch ``where`` drops, and its zero gradient times inf made a NaN."""
    alpha = check_number(alpha, "alpha", "elu")
    return ops.where(x > 0, x, ops.expm1(ops.clamp(x, max=0)) * alpha)


def celu(x, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha (e^(x / alpha) - 1) (Barron)."""
    alpha = check_number(alpha, "alpha", "celu")
    if alpha == 0:
        raise ValueError(message("celu", "alpha != 0", "alpha", alpha))
    return ops.where(x > 0, x, ops.expm1(ops.clamp(x, max=0) / alpha) * alpha)  # as elu's


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x) -> Tensor:
    """scale elu(x, alpha) with Klambauer et al.'s constants (self-normalising)."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


# --- hard, shrinking, thresholded and gated activations (PyTorch's, with its gradients at the
# kinks: each is a ``where`` of branches chosen on the values, so that a kink takes the branch
# whose gradient PyTorch gives there; a NaN input gives NaN, as PyTorch's. The masks are
# nerve's comparisons, not NumPy's on the arrays: an ONNX export computes them from its input
# (a mask made in NumPy was baked into the file from the example input: Hardswish exported
# with inputs inside (-3, 3) was wrong by up to 10 for larger ones)
def hardswish(input, inplace: bool = False) -> Tensor:  # noqa: A002 - PyTorch's names
    """x relu6(x + 3) / 6 (Howard et al.'s MobileNetV3): y = 0 for x <= -3, x (x + 3) / 6
    between, x for x >= 3;  dy/dx = 0, x / 3 + 1/2, 1 (so 0 at -3 and 1 at 3, as PyTorch's).
    ``inplace=True`` writes the result into ``input``."""
    x = _float_input(input, "hardswish")
    if check_bool(inplace, "inplace", "hardswish"):
        return apply_inplace(x, hardswish)
    inside = (x > -3) & (x < 3)  # masks by nerve's comparisons: ONNX computes them too
    xs = ops.where(inside, x, 0.0)  # the middle branch on finite values only: no 0 * inf in
    middle = xs * (xs + 3.0) / 6.0  # its backward at +-inf (PyTorch: 0 and 1) or NaN (1)
    with backend.errstate(invalid="ignore"):  # -inf * 0: NaN, as PyTorch's value
        return ops.where(x <= -3, x * 0.0, ops.where(inside, middle, x))


def hardsigmoid(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6: y = 0 for x <= -3, (x + 3) / 6 between, 1 for x >= 3;  dy/dx = 1/6
    strictly between -3 and 3, 0 elsewhere (also at +-3, as PyTorch's). ``inplace=True``
    writes the result into ``input``."""
    x = _float_input(input, "hardsigmoid")
    if check_bool(inplace, "inplace", "hardsigmoid"):
        return apply_inplace(x, hardsigmoid)
    inside = (x > -3) & (x < 3)  # NaN: outside, so NaN's value with gradient 0 (as PyTorch)
    with backend.errstate(invalid="ignore"):  # inf * 0 on a branch that where drops
        return ops.where(inside, (x + 3.0) / 6.0,
                         ops.where(x >= 3, 1.0, ops.where(x <= -3, 0.0, x * 0.0)))


def softmin(input, dim: int | None = None, dtype=None) -> Tensor:  # noqa: A002
    """softmax(-x) along ``dim`` (the implicit dim of softmax without it); ``dtype`` casts the
    input first, as PyTorch's."""
    x = _float_input(input, "softmin")
    return ops.softmax(-(x if dtype is None else x.to(dtype)), dim)


def glu(input, dim: int = -1) -> Tensor:  # noqa: A002
    """The gated linear unit (Dauphin et al.): a sigmoid(b), for a and b the first and second
    halves of ``input`` along ``dim`` (whose size must be even, and halves)."""
    who = "glu"
    x = _float_input(input, who)
    dim = check_int(dim, "dim", who)
    if x.ndim == 0:
        raise ValueError(message(who, "an input of at least 1 dimension (a scalar has no half)",
                                 "input.shape", ()))
    if not -x.ndim <= dim < x.ndim:
        raise IndexError(message(who, f"dim in [{-x.ndim}, {x.ndim - 1}] for an input of shape "
                                 f"{tuple(x.shape)}", "dim", dim))
    axis = dim % x.ndim
    n = x.shape[axis]
    if n % 2:
        raise ValueError(message(who, f"an even size along dim={dim} (it is halved)",
                                 f"input.shape[{dim}]", n))
    head = (slice(None),) * axis
    return x[head + (slice(0, n // 2),)] * ops.sigmoid(x[head + (slice(n // 2, n),)])


def threshold(input, threshold: float, value: float,  # noqa: A002 - PyTorch's names
              inplace: bool = False) -> Tensor:
    """y = x where x > threshold, else ``value``;  dy/dx = 1 where x > threshold, else 0 (also
    at x = threshold, as PyTorch's). ``inplace=True`` writes the result into ``input``."""
    who = "threshold"
    limit = check_number(threshold, "threshold", who)
    value = check_number(value, "value", who)
    x = _float_input(input, who)
    if check_bool(inplace, "inplace", who):
        return apply_inplace(x, _thresholded, limit, value)
    return ops.where(x <= limit, value, x)


def _thresholded(x, limit, value):
    return threshold(x, limit, value)


_thresholded.__name__ = "threshold"  # its in-place errors say threshold_


def softshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """y = x - lambd for x > lambd, x + lambd for x < -lambd, 0 between (lambd >= 0);  dy/dx = 1
    outside [-lambd, lambd], 0 on it (also at +-lambd, as PyTorch's)."""
    who = "softshrink"
    lambd = check_number(lambd, "lambd", who, 0.0)
    x = _float_input(input, who)
    with backend.errstate(invalid="ignore"):  # inf * 0 on a branch that where drops
        return ops.where(x > lambd, x - lambd, ops.where(x < -lambd, x + lambd, x * 0.0))


def hardshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """y = x outside [-lambd, lambd], 0 on it;  dy/dx = 1 outside, 0 on it (also at +-lambd, as
    PyTorch's; a negative lambd keeps every x, as PyTorch's)."""
    who = "hardshrink"
    lambd = check_number(lambd, "lambd", who)
    x = _float_input(input, who)
    return ops.where((x >= -lambd) & (x <= lambd), 0.0, x)


def tanhshrink(input) -> Tensor:  # noqa: A002
    """y = x - tanh(x);  dy/dx = tanh(x)^2."""
    x = _float_input(input, "tanhshrink")
    return x - ops.tanh(x)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
          training: bool = False, inplace: bool = False) -> Tensor:
    """The randomised leaky ReLU (Xu et al.): y = x where x > 0, else a x;  dy/dx = 1, else a.
    While training each element draws its own slope a from U(lower, upper) (nerve's generator:
    ``nerve.manual_seed``), in eval a = (lower + upper) / 2 (PyTorch's rule; ``training=False``
    is the default, as PyTorch's). ``inplace=True`` writes the result into ``input``."""
    who = "rrelu"
    lower = check_number(lower, "lower", who)
    upper = check_number(upper, "upper", who)
    if lower > upper:
        raise ValueError(message(who, f"upper >= lower={lower} (the slopes' bounds)", "upper",
                                 upper))
    training = check_bool(training, "training", who)
    x = _float_input(input, who)
    if check_bool(inplace, "inplace", who):
        return apply_inplace(x, rrelu, lower, upper, training)
    if not training:
        return ops.leaky_relu(x, (lower + upper) / 2)
    a = x._data
    xp = backend.array_module(a)
    slopes = backend.rng(backend.device_of(a)).uniform(lower, upper, a.shape)
    return x * xp.where(a <= 0, xp.asarray(slopes).astype(a.dtype), xp.ones((), a.dtype))


def _check_reduction(reduction: str, who: str) -> None:
    check_choice(reduction, "reduction", who, _REDUCTIONS)


def _target(target, like: Tensor, who: str) -> Tensor:
    """A regression target as a tensor of the prediction's dtype and shape."""
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=like.dtype)
    if target.shape != like.shape:
        raise ValueError(f"{who}: input has shape {like.shape} but target has shape "
                         f"{target.shape}; they must match")
    return target


def _reduce(x: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    return x.sum() if reduction == "sum" else x


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((input - target)^2)."""
    _check_reduction(reduction, "mse_loss")
    d = input - _target(target, input, "mse_loss")
    return _reduce(d * d, reduction)


def ssr_loss(input: Tensor, target) -> Tensor:
    """Sum of squared residuals, the seed's loss: sum((target - input)^2)."""
    d = input - _target(target, input, "ssr_loss")
    return (d * d).sum()


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|input - target|)."""
    _check_reduction(reduction, "l1_loss")
    return _reduce((input - _target(target, input, "l1_loss")).abs(), reduction)


def binary_cross_entropy(input: Tensor, target, weight=None, *,
                         reduction: str = "mean") -> Tensor:
    """-w (y log p + (1 - y) log(1 - p)) for probabilities p, each log clamped at -100, as
    PyTorch's; ``weight`` (w, 1 without it) multiplies each element's loss and broadcasts to
    the input's shape (one value per column, per sample...). The mean is over the elements, not
    over the weights. A string in ``weight``'s place is taken as the reduction (nerve's earlier
    signature ``(input, target, reduction)``; PyTorch's third argument is the weight)."""
    who = "binary_cross_entropy"
    weight, reduction = _legacy_reduction(weight, reduction, who)
    _check_reduction(reduction, who)
    _no_target_grad(target, who)
    y = _target(target, input, who)
    p = as_array(input)
    if p.size and not (p.min() >= 0 and p.max() <= 1):  # also catches NaN
        bad = p[~((p >= 0) & (p <= 1))][0]
        raise ValueError(f"binary_cross_entropy: expected probabilities in [0, 1] as input "
                         f"(use binary_cross_entropy_with_logits for logits), received {bad}")
    per = BCEFunction.apply(input, y)
    w = _elementwise_weight(weight, "weight", input, who)
    return _reduce(per if w is None else per * w, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, *,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy of sigmoid(x) for logits x, stable for any x, as PyTorch's:

      l = w ((1 - t) x + (1 + (pw - 1) t) (ln(1 + e^-|x|) + max(-x, 0)))

    ``pos_weight`` (pw, 1 without it) weighs the positive term t ln sigmoid(x), one value per
    class along the last dimension (it broadcasts to the input's shape): pw > 1 raises recall,
    pw < 1 precision. ``weight`` (w) multiplies each element's loss (broadcast likewise). Without
    pos_weight the loss is one fused node; with it, that node plus (pw - 1) t softplus(-x). A
    string in ``weight``'s place is taken as the reduction (nerve's earlier signature)."""
    who = "binary_cross_entropy_with_logits"
    weight, reduction = _legacy_reduction(weight, reduction, who)
    _check_reduction(reduction, who)
    _no_target_grad(target, who)
    y = _target(target, input, who)
    per = BCEWithLogitsFunction.apply(input, y)
    pw = _elementwise_weight(pos_weight, "pos_weight", input, who)
    if pw is not None:  # the fused node is (1 - t) x + softplus(-x): add (pw - 1) t softplus(-x)
        per = per + (pw - 1.0) * y * ops.softplus(-input)
    w = _elementwise_weight(weight, "weight", input, who)
    return _reduce(per if w is None else per * w, reduction)


def _legacy_reduction(weight, reduction, who: str):
    """(weight, reduction) from a call that may give the reduction by position where the weight
    now is (nerve's earlier ``(input, target, reduction)``); both at once is refused."""
    if not isinstance(weight, str):
        return weight, reduction
    if reduction != "mean":
        raise TypeError(message(who, "a tensor of weights or None as weight (the reduction is "
                                f"given by keyword: reduction={reduction!r})", "weight", weight))
    return None, weight


def _elementwise_weight(weight, name: str, like: Tensor, who: str) -> Tensor | None:
    """``weight`` (a Tensor, an array or numbers; None stays None) as a Tensor of ``like``'s
    dtype that broadcasts to ``like``'s shape without growing it, as PyTorch casts and
    expands its BCE weights. One that requires grad is refused, as PyTorch does (these losses
    are not differentiable with respect to their weights)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor) and weight.requires_grad:
        raise ValueError(message(who, f"a {name} that does not require grad (the loss gives it "
                                 f"no gradient, as PyTorch's: pass {name}.detach())",
                                 f"{name}.requires_grad", True))
    w = numeric_array(weight, name, who)
    shape = tuple(like.shape)
    try:
        fits = backend.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(message(who, f"a {name} that broadcasts to the input's shape {shape}",
                                 f"{name}.shape", w.shape))
    return Tensor._wrap(w.astype(like.dtype, copy=False))


def _no_target_grad(target, who: str) -> None:
    """Refuse a target that requires grad where the loss gives it none (rather than leave its
    ``.grad`` empty without a word, where PyTorch would fill it)."""
    if isinstance(target, Tensor) and target.requires_grad:
        raise ValueError(message(who, "a target that does not require grad (this loss gives no "
                                 "gradient to its target: pass target.detach())",
                                 "target.requires_grad", True))


def _check_class_target(logits: Tensor, target, who: str, ignore_index: int | None = None):
    """The target of a classification loss as an array: class indices (N, ...) in [0, C) or
    equal to ``ignore_index``, or probabilities shaped like the logits (in their dtype)."""
    _no_target_grad(target, who)
    t = as_array(target)
    n_cls = logits.shape[1]
    if t.dtype.kind in "iu":
        expected = (logits.shape[0],) + logits.shape[2:]
        if t.shape != expected:
            raise ValueError(message(who, f"class indices of shape {expected} for logits of "
                                     f"shape {logits.shape}", "target.shape", t.shape))
        if t.size and not (0 <= t.min() and t.max() < n_cls):  # two reductions, most often
            bad = (t < 0) | (t >= n_cls)
            if ignore_index is not None:
                bad &= t != ignore_index
            if bad.any():
                also = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
                raise ValueError(message(who, f"class indices in [0, {n_cls - 1}]{also} for "
                                         f"{n_cls} classes", "target", int(t[bad][0])))
        return t
    if t.dtype.kind != "f":
        raise TypeError(message(who, "class indices (integers) or probabilities (floats) as "
                                "target", "target.dtype", t.dtype))
    if t.shape != logits.shape:
        raise ValueError(message(who, f"a probability target of the logits' shape "
                                 f"{logits.shape}", "target.shape", t.shape))
    if ignore_index is not None and ignore_index != -100:  # PyTorch refuses it too
        raise ValueError(message(who, "ignore_index left at -100 with probabilities as target "
                                 "(it applies to class indices)", "ignore_index", ignore_index))
    if isinstance(target, Tensor):  # a Tensor's dtype promotes with the logits', as PyTorch's
        return t.astype(backend.array_module(t).result_type(t.dtype, logits.dtype), copy=False)
    return t.astype(logits.dtype, copy=False)  # an array: the logits' dtype (nerve's rule)


def _any_ignored(t, ignore_index: int, n_cls: int) -> bool:
    """Whether some class-index target equals ``ignore_index`` (checked targets: one outside
    [0, C) can only be an ignored one)."""
    if 0 <= ignore_index < n_cls:
        return bool((t == ignore_index).any())
    return bool(t.size) and not (0 <= t.min() and t.max() < n_cls)


def _logits(input, who: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor of shape (N, C, ...) as input", "input",
                                ShortRepr(input)))
    if input.ndim < 2:
        raise ValueError(message(who, "an input of shape (N, C, ...)", "input.shape",
                                 input.shape))
    return input


def _class_weight(weight, n_cls: int, dtype, who: str):
    """The per-class weights as an array of ``dtype`` (None stays None)."""
    if weight is None:
        return None
    if isinstance(weight, str):  # F.cross_entropy(x, t, "sum"): reduction comes later
        raise TypeError(message(who, "a 1-D tensor of class weights or None (give reduction "
                                "by keyword: reduction='sum')", "weight", weight))
    w = numeric_array(weight, "weight", who)
    if w.shape != (n_cls,):
        raise ValueError(message(who, f"one weight per class, shape ({n_cls},)",
                                 "weight.shape", w.shape))
    return w.astype(dtype)


def _sample_weights(t, w, ignore_index: int, dtype):
    """For class-index targets: the targets with ignored ones set to class 0, and each
    position's weight ``w[t]`` (1 without ``w``), 0 where the target is ignored."""
    xp = backend.array_module(t)
    kept = t != ignore_index
    safe = xp.where(kept, t, 0)
    s = kept.astype(dtype) if w is None else w[safe] * kept
    return safe, s


def _weighted_reduce(per: Tensor, total_weight, reduction: str) -> Tensor:
    """Reduce per-position losses that already carry their weights: the mean divides by the
    sum of the weights (PyTorch's weighted mean; NaN when every target is ignored)."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if not float(total_weight):  # every target ignored: NaN, as PyTorch, but gradients of 0
        return per.sum() * 0.0 + math.nan  # (0 / 0 would send NaN back to the logits)
    return per.sum() / float(total_weight)


def cross_entropy(input: Tensor, target, weight=None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of softmax(input) against class indices or probabilities, as PyTorch's.

    Per position, with logits x (N, C, d1, ...), p = softmax over C, eps = label_smoothing:
      class index y:   l = -(1 - eps) w_y log p_y - (eps / C) sum_c w_c log p_c
      probabilities t: l = -sum_c w_c ((1 - eps) t_c + eps / C) log p_c
    ``weight`` (w, one per class; 1 without it) rescales each class; a target equal to
    ``ignore_index`` adds nothing. The mean divides by the sum of w_y over the targets not
    ignored (class indices) or by the number of positions (probabilities). Without weight,
    ignored targets and smoothing this is the seed's "-log(predicted probability of the true
    label)", in one stable node.
    """
    who = "cross_entropy"
    _check_reduction(reduction, who)
    ignore_index = check_int(ignore_index, "ignore_index", who)
    eps = check_number(label_smoothing, "label_smoothing", who, 0.0, 1.0)
    x = _logits(input, who)
    n_cls = x.shape[1]
    w = _class_weight(weight, n_cls, x.dtype, who)
    t = _check_class_target(x, target, who, ignore_index)
    class_axis = (1, n_cls) + (1,) * (x.ndim - 2)  # a per-class array along the class axis
    if t.dtype.kind == "f":
        if eps:
            t = t * (1 - eps) + eps / n_cls
        if w is not None:
            t = t * w.reshape(class_axis)
        return CrossEntropyFunction.apply(x, t, reduction=reduction)
    if w is None and not eps and not _any_ignored(t, ignore_index, n_cls):
        return CrossEntropyFunction.apply(x, t, reduction=reduction)
    safe, s = _sample_weights(t, w, ignore_index, x.dtype)
    if eps:
        dense = _smoothed_target(safe, s, t != ignore_index, w, eps, class_axis, x.dtype)
        per = CrossEntropyFunction.apply(x, dense, reduction="none")
    else:
        per = CrossEntropyFunction.apply(x, safe, reduction="none") * s
    return _weighted_reduce(per, s.sum(), reduction)


def _smoothed_target(safe, s, kept, w, eps: float, class_axis: tuple, dtype):
    """The dense target that label smoothing amounts to: eps/C w_c at every class of a kept
    position, plus (1 - eps) w_y at its class y (``s`` holds w_y, 0 where ignored)."""
    xp = backend.array_module(safe)
    n_cls = class_axis[1]
    per_class = xp.ones(class_axis, dtype) if w is None else w.reshape(class_axis)
    dense = xp.expand_dims(kept.astype(dtype) * (eps / n_cls), 1) * per_class
    rest = xp.indices(safe.shape, sparse=True)
    dense[(rest[0], safe, *rest[1:])] += (1 - eps) * s
    return dense


def nll_loss(input: Tensor, target, weight=None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...).

    Per position l = -w_y input[y] (w = ``weight``, 1 without it; 0 where y equals
    ``ignore_index``); the mean divides by the sum of w_y over the targets not ignored.
    """
    who = "nll_loss"
    _check_reduction(reduction, who)
    ignore_index = check_int(ignore_index, "ignore_index", who)
    x = _logits(input, who)
    t = as_array(target)
    backend.same_device([x._data, t], who)  # an option of the node, not an input
    if t.dtype.kind not in "iu":
        raise TypeError(message(who, "class indices (integers) as target", "target.dtype",
                                t.dtype))
    t = _check_class_target(x, t, who, ignore_index)
    w = _class_weight(weight, x.shape[1], x.dtype, who)
    rest = backend.array_module(t).indices(t.shape, sparse=True)  # sample (and position)
    if w is None and not (t == ignore_index).any():
        return _reduce(-x[(rest[0], t, *rest[1:])], reduction)
    safe, s = _sample_weights(t, w, ignore_index, x.dtype)
    return _weighted_reduce(-x[(rest[0], safe, *rest[1:])] * s, s.sum(), reduction)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Class indices (any shape) as one-hot rows: shape (*, num_classes), int64, as PyTorch's.

    ``num_classes=-1`` takes one more than the largest index.
    """
    who = "one_hot"
    t = as_array(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(message(who, "a tensor of class indices (integers)", "tensor.dtype",
                                t.dtype))
    num_classes = check_int(num_classes, "num_classes", who, minimum=-1)
    if num_classes == -1:
        if t.size == 0:
            raise ValueError(message(who, "num_classes for an empty tensor", "num_classes", -1))
        num_classes = int(t.max()) + 1
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        bad = t[(t < 0) | (t >= num_classes)][0]
        raise ValueError(message(who, f"class indices in [0, {num_classes - 1}]", "tensor",
                                 int(bad)))
    xp = backend.array_module(t)
    return Tensor._wrap((t[..., None] == xp.arange(num_classes)).astype(backend.int64))


def smooth_l1_loss(input: Tensor, target, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = input - target (PyTorch's;
    beta = 0 gives the L1 loss)."""
    who = "smooth_l1_loss"
    _check_reduction(reduction, who)
    beta = check_number(beta, "beta", who, 0.0)
    d = input - _target(target, input, who)
    if beta == 0:
        return _reduce(d.abs(), reduction)
    a = d.abs()
    return _reduce(ops.where(as_array(a) < beta, d * d * (0.5 / beta), a - 0.5 * beta),
                   reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), for d = input - target
    (PyTorch's; smooth_l1_loss times delta when beta = delta)."""
    who = "huber_loss"
    _check_reduction(reduction, who)
    delta = check_number(delta, "delta", who, 0.0, low_open=True)
    d = input - _target(target, input, who)
    a = d.abs()
    return _reduce(ops.where(as_array(a) < delta, d * d * 0.5, (a - 0.5 * delta) * delta),
                   reduction)


_KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def kl_div(input, target, *, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence KL(target || model) for log-probabilities ``input``
    (log q), as PyTorch's: per element

      l = t (ln t - input)               (0 where t == 0: xlogy's convention)
      l = e^t (t - input)                with ``log_target=True`` (the target given as ln t)

    ``reduction="batchmean"`` divides the sum by the batch size (the first dimension; a 0-d
    input: the sum), the true KL divergence per sample; "mean" divides by the number of
    elements, as PyTorch's (which warns that it is not the KL divergence; nerve does not
    warn); "sum" and "none" as in the other losses. The target must have the input's shape;
    a target that requires grad gets its gradient (ln t + 1 - input), NaN where t == 0, as in
    PyTorch.
    """
    who = "kl_div"
    check_choice(reduction, "reduction", who, _KL_REDUCTIONS)
    log_target = check_bool(log_target, "log_target", who)
    x = _float_input(input, who)
    t = _target(target, x, who)
    if log_target:
        per = ops.exp(t) * (t - x)
    else:
        with backend.errstate(divide="ignore", invalid="ignore"):  # ln 0, dropped by xlogy
            per = ops.xlogy(t, t) - t * x
    if reduction == "batchmean":
        total = per.sum()
        return total / x.shape[0] if x.ndim else total
    return _reduce(per, reduction)


# --- margin, embedding and likelihood losses (PyTorch's; ``reduction`` by keyword: PyTorch's
# deprecated size_average and reduce, which come before it, are not taken) -------------------
def _label_target(target, like: Tensor, who: str, name: str = "target") -> Tensor:
    """A target that takes part in the arithmetic: a Tensor as it is (its dtype promotes with
    the input's and it gets its gradient, as PyTorch's), anything else (an array, numbers) a
    Tensor of the input's dtype (nerve's rule for arrays beside tensors)."""
    if isinstance(target, Tensor):
        if target.dtype.kind not in "biuf":
            raise TypeError(message(who, f"numbers as {name}", f"{name}.dtype", target.dtype))
        return target
    return Tensor._wrap(numeric_array(target, name, who).astype(like.dtype))


def _label_array(target, like: Tensor, who: str):
    """A target that only selects (compared with 1 and -1, or a sign given no gradient, as in
    PyTorch's kernels): its array, in the input's dtype."""
    return numeric_array(target, "target", who).astype(like.dtype, copy=False)


def _broadcast_shapes(who: str, **shapes) -> tuple:
    """The common shape of the named shapes; a ValueError names them all when there is none."""
    try:
        return backend.broadcast_shapes(*(tuple(s) for s in shapes.values()))
    except ValueError:
        raise ValueError(message(who, f"{', '.join(shapes)} of shapes that broadcast together",
                                 "shapes", tuple(tuple(s) for s in shapes.values()))) from None


def _same_ndim(who: str, **tensors) -> None:
    """PyTorch's check of the ranking and triplet losses: every input has as many dimensions."""
    dims = {name: len(t.shape) for name, t in tensors.items()}
    if len(set(dims.values())) > 1:
        raise ValueError(message(who, f"{', '.join(dims)} of the same number of dimensions",
                                 "ndims", tuple(dims.values())))


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, *,
                        reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin) per element, as PyTorch's: y = 1 asks x1 to rank above x2
    by ``margin``, y = -1 below. The three inputs have as many dimensions and broadcast
    together; the gradient at the hinge (loss exactly 0) is the slope's, as PyTorch's clamp
    gives, and the target gets its gradient -(x1 - x2) where the loss is positive."""
    who = "margin_ranking_loss"
    _check_reduction(reduction, who)
    margin = check_number(margin, "margin", who)
    x1, x2 = _float_input(input1, who), _float_input(input2, who)
    y = _label_target(target, x1, who)
    _same_ndim(who, input1=x1, input2=x2, target=y)
    _broadcast_shapes(who, input1=x1.shape, input2=x2.shape, target=y.shape)
    return _reduce(ops.clamp(-y * (x1 - x2) + margin, min=0.0), reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, *,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """x where y == 1, max(0, margin - x) where y == -1 (x a distance, y = 1 for similar pairs),
    as PyTorch's: a target that is neither adds both terms. The target broadcasts with the input
    and gets no gradient (it only selects), as in PyTorch."""
    who = "hinge_embedding_loss"
    _check_reduction(reduction, who)
    margin = check_number(margin, "margin", who)
    x = _float_input(input, who)
    y = _label_array(target, x, who)
    _broadcast_shapes(who, input=x.shape, target=y.shape)
    per = ops.where(y != 1, ops.clamp(margin - x, min=0.0), 0.0) + ops.where(y != -1, x, 0.0)
    return _reduce(per, reduction)


def soft_margin_loss(input, target, *, reduction: str = "mean") -> Tensor:  # noqa: A002
    """ln(1 + e^(-y x)) per element (a two-class logistic loss for y = 1 or -1), as PyTorch's,
    computed stably for any y x; in the input's dtype. The target broadcasts with the input; one
    that requires grad is refused, as PyTorch refuses it (the loss gives it no gradient)."""
    who = "soft_margin_loss"
    _check_reduction(reduction, who)
    x = _float_input(input, who)
    _no_target_grad(target, who)
    y = _label_array(target, x, who)
    _broadcast_shapes(who, input=x.shape, target=y.shape)
    return _reduce(ops.softplus(x * -y), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, *,  # noqa: A002
                                reduction: str = "mean") -> Tensor:
    """The binary cross-entropy of sigmoid(x) for each class, averaged over the classes (the
    last dimension), as PyTorch's:

      l = -(1/C) sum_c w_c (y_c ln sigmoid(x_c) + (1 - y_c) ln sigmoid(-x_c))

    then the reduction over the rest (the batch). ``weight`` (w, one per class or any shape that
    broadcasts) multiplies each term. The target and a weight given as Tensors take part as in
    PyTorch: their dtypes promote with the input's and they get their gradients."""
    who = "multilabel_soft_margin_loss"
    _check_reduction(reduction, who)
    x = _float_input(input, who)
    if x.ndim == 0:
        raise ValueError(message(who, "an input of shape (C,) or (N, C)", "input.shape",
                                 x.shape))
    y = _label_target(target, x, who)
    w = None if weight is None else _label_target(weight, x, who, "weight")
    _broadcast_shapes(who, input=x.shape, target=y.shape, **({} if w is None else
                                                           {"weight": w.shape}))
    per = -(y * logsigmoid(x) + (1 - y) * logsigmoid(-x))
    if w is not None:
        per = per * w
    return _reduce(per.sum(-1) / x.shape[-1], reduction)


def _margin_input(input, who: str) -> Tensor:
    """The input of the multi-class margin losses: (C,) or (N, C) (0-d: one class), C > 0."""
    x = _float_input(input, who)
    if x.ndim > 2 or (x.ndim and not x.shape[-1]):
        raise ValueError(message(who, "an input of shape (C,) or (N, C) with C > 0",
                                 "input.shape", x.shape))
    return x


def _index_target(target, who: str):
    _no_target_grad(target, who)
    t = as_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(message(who, "class indices (integers) as target", "target.dtype",
                                t.dtype))
    return t


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight=None, *, reduction: str = "mean") -> Tensor:
    """The multi-class hinge loss of class scores x (N, C) at class indices y (N,), as
    PyTorch's:

      l = (1/C) sum_{j != y} w_y max(0, margin - x_y + x_j)^p,   p = 1 or 2

    ``weight`` (w, one per class; 1 without it) weighs each sample by its class and gets no
    gradient (one that requires grad is refused, as PyTorch refuses it). A term exactly at the
    hinge (margin - x_y + x_j == 0) adds no gradient, as in PyTorch. A 1-D input is one sample
    (its target of shape () or (1,), the unreduced loss of that shape)."""
    who = "multi_margin_loss"
    _check_reduction(reduction, who)
    if isinstance(p, (bool,)) or p not in (1, 2):
        raise ValueError(message(who, "p = 1 or 2", "p", p))
    margin = check_number(margin, "margin", who)
    x = _margin_input(input, who)
    t = _index_target(target, who)
    n_cls = x.shape[-1] if x.ndim else 1
    if x.ndim == 2:
        if t.shape != (x.shape[0],):
            raise ValueError(message(who, f"a target of shape ({x.shape[0]},) for an input of "
                                     f"shape {x.shape}", "target.shape", t.shape))
        out_shape = t.shape
    else:
        if t.ndim > 1 or t.size != 1:
            raise ValueError(message(who, f"a target of shape () or (1,) for an input of shape "
                                     f"{x.shape}", "target.shape", t.shape))
        out_shape = t.shape
    x2, t1 = x.reshape(-1, n_cls), t.reshape(-1)
    if t1.size and not (0 <= t1.min() and t1.max() < n_cls):
        bad = t1[(t1 < 0) | (t1 >= n_cls)][0]
        raise ValueError(message(who, f"class indices in [0, {n_cls - 1}]", "target", int(bad)))
    w = None
    if weight is not None:
        if isinstance(weight, Tensor) and weight.requires_grad:
            raise ValueError(message(who, "a weight that does not require grad (the loss gives "
                                     "it no gradient, as PyTorch's: pass weight.detach())",
                                     "weight.requires_grad", True))
        w = _class_weight(weight, n_cls, x.dtype, who)
    xp = backend.array_module(t1)
    rows = xp.arange(len(t1))
    h = ops.relu(margin - x2[rows, t1].reshape(-1, 1) + x2)
    if p == 2:
        h = h * h
    if w is not None:
        h = h * w[t1].reshape(-1, 1)
    others = xp.arange(n_cls) != t1.reshape(-1, 1)
    per = ops.where(others, h, 0.0).sum(1) / n_cls
    return _reduce(per.reshape(out_shape), reduction)


def multilabel_margin_loss(input, target, *, reduction: str = "mean") -> Tensor:  # noqa: A002
    """The multi-label hinge loss of class scores x (N, C), as PyTorch's: the target (N, C)
    lists each sample's classes, padded with -1 after the last (what follows the first -1 is
    not read, but must still lie in [-1, C)), and

      l = (1/C) sum_{j in targets} sum_{i not a target} max(0, 1 - (x_j - x_i))

    (a class listed twice counts twice). A term exactly at the hinge adds no gradient, as in
    PyTorch. A 1-D input (C,) is one sample, its loss of shape ()."""
    who = "multilabel_margin_loss"
    _check_reduction(reduction, who)
    x = _margin_input(input, who)
    t = _index_target(target, who)
    if t.shape != x.shape:
        raise ValueError(message(who, f"a target of the input's shape {x.shape}",
                                 "target.shape", t.shape))
    n_cls = x.shape[-1] if x.ndim else 1
    if t.size and not (-1 <= t.min() and t.max() < n_cls):
        bad = t[(t < -1) | (t >= n_cls)][0]
        raise ValueError(message(who, f"class indices in [0, {n_cls - 1}], or -1 after the "
                                 "last", "target", int(bad)))
    x2, t2 = x.reshape(-1, n_cls), t.reshape(-1, n_cls)
    xp = backend.array_module(t2)
    listed = xp.cumsum(t2 == -1, axis=1) == 0  # the classes before the first -1
    k = int(listed.sum(1).max()) if t2.size else 0  # the longest list
    listed, safe = listed[:, :k], xp.where(listed, t2, 0)[:, :k]
    rows = xp.arange(len(t2)).reshape(-1, 1)
    is_target = xp.zeros(t2.shape, bool)
    is_target[xp.broadcast_to(rows, safe.shape)[listed], safe[listed]] = True
    n = len(t2)
    z = ops.relu((1 - x2[rows, safe]).reshape(n, k, 1) + x2.reshape(n, 1, n_cls))
    counted = listed.reshape(n, k, 1) & ~is_target.reshape(n, 1, n_cls)
    per = ops.where(counted, z, 0.0).sum((1, 2)) / n_cls
    return _reduce(per.reshape(x.shape[:-1] if x.ndim else ()), reduction)


_COSINE_EPS = 9.999999960041972e-13  # PyTorch's 1e-12, a float32 constant in its kernel


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, *,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1, 0 for any other
    y, as PyTorch's, with its cosine: sum(x1 x2) / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)) (a
    zero vector has cosine 0, and gets PyTorch's large but finite gradient). Inputs (N, D) with
    a target (N,), or (D,) with a target of shape (); x1 and x2 broadcast together. The target
    gets no gradient (it only selects)."""
    who = "cosine_embedding_loss"
    _check_reduction(reduction, who)
    margin = check_number(margin, "margin", who)
    x1, x2 = _float_input(input1, who), _float_input(input2, who)
    y = _label_array(target, x1, who)
    if y.ndim > 1:
        raise ValueError(message(who, "a target of shape (N,) or () (one label per pair)",
                                 "target.shape", y.shape))
    if x1.ndim != y.ndim + 1 or x2.ndim != y.ndim + 1:
        raise ValueError(message(who, f"inputs of {y.ndim + 1} dimensions for a target of shape "
                                 f"{y.shape}", "input shapes", (x1.shape, x2.shape)))
    dim = y.ndim  # the last dimension
    _broadcast_shapes(who, input1=x1.shape, input2=x2.shape)
    cos = (x1 * x2).sum(dim) / ops.sqrt(((x1 * x1).sum(dim) + _COSINE_EPS) *
                                        ((x2 * x2).sum(dim) + _COSINE_EPS))
    _broadcast_shapes(who, cosine=cos.shape, target=y.shape)
    per = ops.where(y == 1, 1 - cos, 0.0) + ops.where(y == -1, ops.clamp(cos - margin, min=0.0),
                                                      0.0)
    return _reduce(per, reduction)


def _positive_margin(margin, who: str) -> float:
    return check_number(margin, "margin", who, 0.0, low_open=True)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, *,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise distance ``||x1 - x2 + eps||_p``
    along the last dimension, as PyTorch's: the anchor is pulled towards the positive and pushed
    from the negative by ``margin`` (> 0). ``swap=True`` takes d(a, n) as min(d(a, n), d(p, n))
    (Balntas et al.'s distance swap; a tie splits the gradient). The three inputs have as many
    dimensions and broadcast together."""
    who = "triplet_margin_loss"
    _check_reduction(reduction, who)
    margin = _positive_margin(margin, who)
    p, eps = check_number(p, "p", who), check_number(eps, "eps", who)
    swap = check_bool(swap, "swap", who)
    a, pos, neg = (_float_input(t, who) for t in (anchor, positive, negative))
    _same_ndim(who, anchor=a, positive=pos, negative=neg)
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _reduce(ops.clamp(margin + d_pos - d_neg, min=0.0), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """``triplet_margin_loss`` with any distance: max(0, margin + d(a, p) - d(a, n)) for
    ``distance_function`` d(x1, x2) -> Tensor (None: ``pairwise_distance``), as PyTorch's;
    ``swap=True`` takes d(a, n) as min(d(a, n), d(p, n))."""
    who = "triplet_margin_with_distance_loss"
    _check_reduction(reduction, who)
    margin = _positive_margin(margin, who)
    swap = check_bool(swap, "swap", who)
    if distance_function is None:
        distance_function = pairwise_distance
    elif not callable(distance_function):
        raise TypeError(message(who, "a function (x1, x2) -> distances or None as "
                                "distance_function", "distance_function",
                                ShortRepr(distance_function)))
    a, pos, neg = (_float_input(t, who) for t in (anchor, positive, negative))
    _same_ndim(who, anchor=a, positive=pos, negative=neg)
    d_pos = distance_function(a, pos)
    d_neg = distance_function(a, neg)
    if swap:
        d_neg = ops.minimum(d_neg, distance_function(pos, neg))
    return _reduce(ops.clamp(margin + d_pos - d_neg, min=0.0), reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, *,  # noqa: A002
                     eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of a target count t under a Poisson distribution, as
    PyTorch's: e^x - t x for a log-rate x (``log_input=True``), or x - t ln(x + eps) for a rate
    x. ``full=True`` adds Stirling's approximation of ln(t!), t ln t - t + ln(2 pi t) / 2, where
    t > 1 (0 elsewhere, as PyTorch; a target that requires grad then gets PyTorch's NaN
    gradient where t == 0). The target broadcasts with the input, and a Tensor target gets its
    gradient and promotes the dtype, as in PyTorch. ``eps`` is PyTorch's (after its deprecated
    size_average), so given by keyword here."""
    who = "poisson_nll_loss"
    _check_reduction(reduction, who)
    log_input = check_bool(log_input, "log_input", who)
    full = check_bool(full, "full", who)
    eps = check_number(eps, "eps", who)
    x = _float_input(input, who)
    t = _label_target(target, x, who)
    _broadcast_shapes(who, input=x.shape, target=t.shape)
    per = ops.exp(x) - t * x if log_input else x - t * ops.log(x + eps)
    if full:
        with backend.errstate(divide="ignore", invalid="ignore"):  # ln of t <= 0: masked
            stirling = t * ops.log(t) - t + 0.5 * ops.log(2 * math.pi * t)
        per = per + ops.where(as_array(t) <= 1, 0.0, stirling)
    return _reduce(per, reduction)


def _gaussian_var(var, x: Tensor, who: str) -> Tensor:
    """The variances as PyTorch's gaussian_nll_loss reads them: a number for every element, the
    input's shape, that shape without its last dimension (one variance per row), or one
    dimension of size 1 where the input's is larger; none negative."""
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(message(who, "a variance >= 0", "var", var))
        return Tensor._wrap(backend.array_module(x._data).full(x.shape, var, dtype=x.dtype))
    v = _label_target(var, x, who, "var")
    if v.dtype.kind not in "f":
        raise TypeError(message(who, "floating-point variances", "var.dtype", v.dtype))
    if (as_array(v) < 0).any():
        raise ValueError(message(who, "variances >= 0", "var (the smallest)",
                                 float(as_array(v).min())))
    shape, vshape = tuple(x.shape), tuple(v.shape)
    if vshape == shape:
        return v
    if vshape == shape[:-1]:
        return v.unsqueeze(-1)
    if len(vshape) == len(shape) and sum(b for a, b in zip(shape, vshape) if a != b) == 1:
        return v
    raise ValueError(message(who, f"var of the input's shape {shape}, of {shape[:-1]}, or with "
                             "one dimension of size 1 where the input's is larger",
                             "var.shape", vshape))


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,  # noqa: A002
                      reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of a target under a Gaussian of mean ``input`` and variance
    ``var``, as PyTorch's:

      l = (ln max(var, eps) + (input - target)^2 / max(var, eps)) / 2   (+ ln(2 pi) / 2, full)

    ``var`` is a number, a Tensor of the input's shape, of that shape without its last
    dimension, or with one dimension of size 1 where the input's is larger (see PyTorch). The
    clamp at ``eps`` passes the gradient on unchanged, as PyTorch's (which clamps a copy under
    no_grad): a variance below eps gets the gradient of the loss at eps. The target broadcasts;
    Tensors get their gradients and promote the dtype, as in PyTorch."""
    who = "gaussian_nll_loss"
    full = check_bool(full, "full", who)
    eps = check_number(eps, "eps", who)
    x = _float_input(input, who)
    t = _label_target(target, x, who)
    v = _gaussian_var(var, x, who)
    _check_reduction(reduction, who)
    v = ClampMinPassFunction.apply(v, min=eps)
    _broadcast_shapes(who, input=x.shape, target=t.shape, var=v.shape)
    per = 0.5 * (ops.log(v) + (x - t) ** 2 / v)
    if full:
        per = per + 0.5 * math.log(2 * math.pi)
    return _reduce(per, reduction)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) while training;
    ``inplace=True`` writes the result into ``x`` (PyTorch's flag)."""
    check_probability(p, "p", "dropout")
    if not training or p == 0:
        return x
    if check_bool(inplace, "inplace", "dropout"):
        return apply_inplace(x, dropout, p, training)
    gen = backend.rng(backend.device_of(x._data))  # the generator of x's device
    if p == 1:  # everything dropped (x * 0, as PyTorch: NaN stays NaN)
        return x * 0.0
    mask = (gen.random(x.shape, dtype=backend.float32) >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """The rows of ``weight`` at the integer indices ``input``: shape (*input.shape, dim).

    The row ``padding_idx`` gets no gradient (its uses are masked out of the backward pass).
    """
    idx = as_array(input)
    backend.same_device([weight._data, idx], "embedding")  # an option of the node
    if idx.dtype.kind not in "iu":
        raise TypeError(message("embedding", "integer indices", "input.dtype", str(idx.dtype)))
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise IndexError(message("embedding", f"indices in [0, {n}) (num_embeddings)", "index",
                                 int(bad)))
    if padding_idx is not None:  # PyTorch's rule: in [-n, n), a negative one from the end
        if not is_int(padding_idx) or not -n <= padding_idx < n:
            raise ValueError(message("embedding", f"padding_idx an integer in [-{n}, {n})",
                                     "padding_idx", padding_idx))
        padding_idx = int(padding_idx) % n
    out = weight[idx]
    if padding_idx is not None and (idx == padding_idx).any():
        keep = (idx != padding_idx)[..., None].astype(weight.dtype)
        out = out * keep + weight[padding_idx].detach() * (1 - keep)
    return out


# --- normalisation and channel dropout ------------------------------------------------------
def _float_input(input, who: str) -> Tensor:
    """The input of a normalisation as a floating-point Tensor (an array is wrapped)."""
    if backend.is_array(input):
        input = Tensor._wrap(input)
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor as input", "input", ShortRepr(input)))
    if input.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input", "input.dtype", str(input.dtype)))
    return input


def _per_feature(value, name: str, shape: tuple, who: str, dtype, in_place: bool = False):
    """``value`` (a Tensor or an array of ``shape``, or None) checked; it must have the input's
    ``dtype``, as PyTorch requires (a float64 weight would otherwise turn a float32 output into
    float64 in eval only, and give a float32 gradient to a float64 weight); with ``in_place``
    (running statistics, updated where they lie) it is returned as its array."""
    if value is None:
        return None
    if not isinstance(value, Tensor) and not backend.is_array(value):
        raise TypeError(message(who, f"a Tensor of shape {shape} or None", name,
                                ShortRepr(value)))
    if tuple(value.shape) != shape:
        raise ValueError(message(who, f"{name} of shape {shape} (one value per feature)",
                                 f"{name}.shape", tuple(value.shape)))
    if value.dtype != dtype:
        raise TypeError(message(who, f"{name} of the input's dtype {dtype} (PyTorch refuses "
                                "mixed dtypes too: convert the input with .to(...) or the "
                                "model with .float()/.double())", f"{name}.dtype",
                                str(value.dtype)))
    return value._data if in_place and isinstance(value, Tensor) else value


def _check_batch_statistics(shape: tuple, who: str) -> None:
    """Refuse a batch with fewer than 2 values per channel (N times the positions) for training
    statistics, as PyTorch does (the unbiased variance would divide by zero)."""
    n = shape[0]
    for d in shape[2:]:
        n *= d
    if n < 2:
        raise ValueError(f"{who}: Expected more than 1 value per channel when training. "
                         f"Received: input.shape={tuple(shape)}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of ``input`` (N, C, ...): (x - mean) / sqrt(var + eps),
    then ``* weight + bias`` (each of shape (C,), None: left out), as PyTorch's.

    ``training=True`` uses the batch's mean and biased variance (over N and every position) and,
    when ``running_mean``/``running_var`` are given, updates them in place:
    r = (1 - momentum) r + momentum s, with the unbiased variance. ``training=False`` uses the
    running statistics. One node (``BatchNormFunction``) with a written-out backward.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       "batch_norm")


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                who: str) -> Tensor:
    x = _float_input(input, who)
    if x.ndim < 2:
        raise ValueError(message(who, "an input of shape (N, C, ...)", "input.shape", x.shape))
    training = check_bool(training, "training", who)
    momentum = check_number(momentum, "momentum", who, 0.0, 1.0)
    eps = check_number(eps, "eps", who, 0.0, low_open=training)  # PyTorch: > 0 to train
    c, dtype = (x.shape[1],), x.dtype
    rm = _per_feature(running_mean, "running_mean", c, who, dtype, in_place=True)
    rv = _per_feature(running_var, "running_var", c, who, dtype, in_place=True)
    if not training and (rm is None or rv is None):
        raise ValueError(message(who, "running_mean and running_var (arrays of shape "
                                 f"{c}) when training=False", "running_mean" if rm is None
                                 else "running_var", None))
    if training:
        _check_batch_statistics(x.shape, who)
    weight = _per_feature(weight, "weight", c, who, dtype)
    bias = _per_feature(bias, "bias", c, who, dtype)
    out = BatchNormFunction.apply(x, weight, bias, running_mean=rm, running_var=rv,
                                  training=training, momentum=momentum, eps=eps)
    if training:
        for t in (running_mean, running_var):
            if isinstance(t, Tensor):
                t._bump()  # changed in place, as PyTorch's version counter sees it
    return out


def _normalized_shape_of(value, who: str) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a sequence of positive ints) as a non-empty tuple."""
    dims = (value,) if is_int(value) else value
    expected = "a positive int or a non-empty sequence of positive ints"
    if not isinstance(dims, (tuple, list)) or not all(is_int(d) for d in dims):
        raise TypeError(message(who, expected, "normalized_shape", ShortRepr(value)))
    if not dims or not all(d > 0 for d in dims):
        raise ValueError(message(who, expected, "normalized_shape", ShortRepr(value)))
    return tuple(int(d) for d in dims)


def _check_normalized_input(shape: tuple, normalized_shape: tuple, who: str) -> None:
    """Raise ValueError unless ``shape`` ends with ``normalized_shape``."""
    k = len(normalized_shape)
    if len(shape) < k or tuple(shape[len(shape) - k:]) != normalized_shape:
        dims = ", ".join(map(str, normalized_shape))
        raise ValueError(message(who, f"an input of shape (*, {dims}) (normalized_shape="
                                 f"{normalized_shape})", "input.shape", tuple(shape)))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over its last ``len(normalized_shape)`` dimensions (which must equal
    ``normalized_shape``): (x - mean) / sqrt(var + eps) with the biased variance, then
    ``* weight + bias`` (each of ``normalized_shape``, None: left out), as PyTorch's. One node
    (``LayerNormFunction``) with a written-out backward."""
    who = "layer_norm"
    x = _float_input(input, who)
    shape = _normalized_shape_of(normalized_shape, who)
    eps = check_number(eps, "eps", who, 0.0)
    _check_normalized_input(x.shape, shape, who)
    weight = _per_feature(weight, "weight", shape, who, x.dtype)
    bias = _per_feature(bias, "bias", shape, who, x.dtype)
    return LayerNormFunction.apply(x, weight, bias, normalized_shape=shape, eps=eps)


def dropout2d(input, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels: each (sample, channel) of ``input`` (N, C, H, W) with probability p,
    scaling the rest by 1/(1-p), while training; identity otherwise. A 3-D input is taken as
    (N, C, L), as PyTorch does today."""
    return _dropout2d(input, p, training, "dropout2d")


def _dropout2d(input, p: float, training: bool, who: str) -> Tensor:
    check_probability(p, "p", who)
    check_bool(training, "training", who)
    x = _float_input(input, who)
    if x.ndim not in (3, 4):
        raise ValueError(message(who, "an input of shape (N, C, H, W) or (N, C, L) (dropout "
                                 "zeroes single elements)", "input.shape", x.shape))
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    gen = backend.rng(backend.device_of(x._data))
    mask = (gen.random(x.shape[:2], dtype=backend.float32) >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask.reshape(x.shape[:2] + (1,) * (x.ndim - 2))


def dropout1d(input, p: float = 0.5, training: bool = True,  # noqa: A002 - PyTorch's names
              inplace: bool = False) -> Tensor:
    """Zero whole channels while training: each (sample, channel) of ``input`` (N, C, L), or
    each channel of an unbatched (C, L), with probability p, scaling the rest by 1/(1-p);
    identity otherwise. ``inplace=True`` writes the result into ``input``."""
    return _random_drop(input, p, training, inplace, dropout1d, (2, 3), "(N, C, L) or (C, L)")


def dropout3d(input, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels while training: each (sample, channel) of ``input`` (N, C, D, H, W),
    or each channel of an unbatched (C, D, H, W), with probability p, scaling the rest by
    1/(1-p); identity otherwise. ``inplace=True`` writes the result into ``input``."""
    return _random_drop(input, p, training, inplace, dropout3d, (4, 5),
                        "(N, C, D, H, W) or (C, D, H, W)")


# SELU's value for x -> -inf, negated (scale * alpha): alpha dropout sets dropped units to it
_ALPHA_DROPOUT = 1.7580993408473766


def alpha_dropout(input, p: float = 0.5, training: bool = False,  # noqa: A002
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalisation (Klambauer et al.): while training each
    element is set with probability p to SELU's saturation -a' (a' = 1.7581), then all are
    scaled and shifted so that inputs of mean 0 and variance 1 keep them, as PyTorch computes:

      a = 1 / sqrt((a'^2 p + 1) (1 - p)),   y = a x + a' a p  where kept,  -a' a (1 - p) where
      dropped;  dy/dx = a where kept, 0 where dropped.

    Identity otherwise (``training=False`` is the default, as PyTorch's); p = 1 gives x * 0.
    ``inplace=True`` writes the result into ``input``."""
    return _random_drop(input, p, training, inplace, alpha_dropout, feature=False, alpha=True)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels: each (sample, channel) of ``input`` (N, C, ...)
    is dropped (set to -a') or kept as a whole; a 2-D input (N, C) drops single elements, as
    PyTorch's. Identity otherwise (``training=False`` is the default, as PyTorch's)."""
    return _random_drop(input, p, training, inplace, feature_alpha_dropout, alpha=True)


def _random_drop(input, p, training, inplace, fn, ndims=None, shapes: str = "",
                 feature: bool = True, alpha: bool = False) -> Tensor:
    """The dropouts above: ``fn`` (the public function) names them and redoes the work in
    place; ``ndims`` the accepted input dimensions (the first one unbatched); ``feature``:
    one draw per channel; ``alpha``: the affine correction of alpha dropout (else 1/(1-p))."""
    who = fn.__name__
    check_probability(p, "p", who)
    training = check_bool(training, "training", who)
    inplace = check_bool(inplace, "inplace", who)
    x = _float_input(input, who)
    if ndims is not None and x.ndim not in ndims:
        raise ValueError(message(who, f"an input of shape {shapes} (channel-wise dropout; "
                                 "dropout zeroes single elements)", "input.shape", x.shape))
    if not training or p == 0 or x._data.size == 0:
        return x  # as PyTorch, before the feature check: a 1-D input passes in eval
    if feature and x.ndim < 2:
        raise ValueError(message(who, "an input of at least 2 dimensions (N, C, ...): it drops "
                                 "whole channels", "input.shape", x.shape))
    if inplace:
        return apply_inplace(x, fn, p, training)
    if p == 1:  # everything dropped (x * 0, as PyTorch: NaN stays NaN)
        return x * 0.0
    shape = x.shape
    if feature:
        batched = 1 if ndims is not None and x.ndim == ndims[0] else 2
        shape = x.shape[:batched] + (1,) * (x.ndim - batched)
    gen = backend.rng(backend.device_of(x._data))
    keep = (gen.random(shape, dtype=backend.float32) >= p).astype(x.dtype)
    if not alpha:
        keep *= 1.0 / (1.0 - p)
        return x * keep
    a = 1.0 / math.sqrt((_ALPHA_DROPOUT ** 2 * p + 1) * (1 - p))
    shift = (keep - 1) * (_ALPHA_DROPOUT * a) + _ALPHA_DROPOUT * a * p  # PyTorch's b
    return x * (keep * a) + shift


# --- distances and padding -------------------------------------------------------------------
def _broadcast_pair(x1, x2, who: str) -> tuple[Tensor, Tensor]:
    """``x1`` and ``x2`` as Tensors of their common broadcast shape (an error names both)."""
    a, b = _float_input(x1, who), _float_input(x2, who)  # torch refuses integers too
    try:
        shape = backend.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise ValueError(message(who, "x1 and x2 of shapes that broadcast together",
                                 "shapes", (tuple(a.shape), tuple(b.shape)))) from None
    return tuple(t if tuple(t.shape) == shape else ops.expand(t, shape) for t in (a, b))


def normalize(input, p: float = 2.0, dim=1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``input`` divided by its p-norm along ``dim``: x / max(||x||_p, eps), as PyTorch's
    (rows of a 2-D input become unit vectors; an all-zero row stays zero rather than NaN)."""
    who = "normalize"
    x = _float_input(input, who)
    eps = check_number(eps, "eps", who)
    return x / ops.clamp(ops.norm(x, p, dim, keepdim=True), min=eps)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (both broadcast to a
    common shape first), as PyTorch 2's: sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)),
    each norm clamped on its own (a zero vector has similarity 0 with anything). As PyTorch,
    the clamp passes the gradient of the norm through unchanged (PyTorch clamps it in place
    without recording the clamp), so a vector shorter than eps gets PyTorch's gradient."""
    who = "cosine_similarity"
    dim = check_int(dim, "dim", who)
    eps = check_number(eps, "eps", who)
    a, b = _broadcast_pair(x1, x2, who)
    if a.ndim == 0 or not -a.ndim <= dim < a.ndim:
        raise IndexError(message(who, f"dim in [{-max(a.ndim, 1)}, {max(a.ndim, 1) - 1}] for "
                                 f"inputs of shape {tuple(a.shape)}", "dim", dim))

    def clamped_norm(t: Tensor) -> Tensor:
        n = ops.norm(t, 2, dim, keepdim=True)
        return n + (ops.clamp(n, min=eps) - n).detach()  # value clamped, gradient of n

    return ((a / clamped_norm(a)) * (b / clamped_norm(b))).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last dimension (of the broadcast shape), as
    PyTorch's: eps keeps the gradient finite where x1 == x2."""
    who = "pairwise_distance"
    eps = check_number(eps, "eps", who)
    keepdim = check_bool(keepdim, "keepdim", who)
    a, b = _broadcast_pair(x1, x2, who)
    return ops.norm(a - b + eps, p, -1 if a.ndim else None, keepdim=keepdim)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """``input`` padded as ``torch.nn.functional.pad``: ``pad`` holds (before, after) pairs
    from the last dimension backwards, (left, right, top, bottom, ...).

    ``mode="constant"`` fills with ``value`` (None: 0) and pads any number of dimensions; a
    negative width crops that side first (PyTorch's rule: the crop must leave a size >= 0).
    "reflect" mirrors about the edge without repeating it (each width < the size),
    "replicate" repeats the edge value, "circular" wraps around (each width <= the size); as in
    PyTorch these pad the last 1, 2 or 3 dimensions of an input with one or two more (a batch
    and a channel dimension, or just the channel), take no ``value`` but 0 or None, and
    "reflect" and "replicate" crop where a width is negative. Circular padding with a negative
    width is refused (PyTorch's results for it are unreliable). Gradients: the constant mode
    passes back the middle; the others gather with index arrays, so that each input element
    gets the sum of the gradients of all the places it was copied to.
    """
    who = "pad"
    if backend.is_array(input):
        input = Tensor._wrap(input)
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor as input", "input", ShortRepr(input)))
    check_choice(mode, "mode", who, _PAD_MODES)
    if not isinstance(pad, (tuple, list)) or not all(is_int(v) for v in pad):
        raise TypeError(message(who, "a tuple of ints as pad", "pad", ShortRepr(pad)))
    if len(pad) % 2:
        raise ValueError(message(who, "a pad of even length ((before, after) pairs)", "pad",
                                 tuple(pad)))
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]  # last dim first
    shape, ndim = tuple(input.shape), input.ndim
    if len(pairs) > ndim:
        raise ValueError(message(who, f"at most {ndim} (before, after) pairs for an input of "
                                 f"shape {shape}", "pad", tuple(pad)))
    if mode == "constant":
        return _pad_constant(input, pairs, 0.0 if value is None else value, who)
    if value is not None and value != 0:
        raise ValueError(message(who, f"no value (None or 0) with mode={mode!r}, which fills "
                                 "from the input", "value", value))
    k = len(pairs)
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise ValueError(message(who, f"for mode={mode!r}, a pad of 2, 4 or 6 values for the "
                                 "last 1, 2 or 3 dimensions of an input with 1 or 2 more "
                                 f"(pad of length {len(pad)}: {k + 1}-D or {k + 2}-D input)",
                                 "input.shape", shape))
    out, xp = input, backend.array_module(input._data)
    for j, (before, after) in enumerate(pairs):
        axis = ndim - 1 - j
        index = _pad_index(mode, shape[axis], before, after, axis, who, xp)
        out = out[(slice(None),) * axis + (index,)]
    return out


def _pad_constant(x: Tensor, pairs: list, value, who: str) -> Tensor:
    """Crop the negative widths, then pad the positive ones with ``value``."""
    ndim, crop, widths = x.ndim, [], []
    for j, (before, after) in enumerate(pairs):
        axis = ndim - 1 - j
        n = x.shape[axis]
        lo, hi = max(-before, 0), n - max(-after, 0)
        if hi < lo:
            raise ValueError(message(who, f"negative widths that leave a size >= 0 (dimension "
                                     f"{axis} has size {n})", "pad", (before, after)))
        crop.append((axis, lo, hi))
        widths.append((axis, max(before, 0), max(after, 0)))
    cropped = any(lo or hi != x.shape[axis] for axis, lo, hi in crop)
    if cropped:
        key = [slice(None)] * ndim
        for axis, lo, hi in crop:
            key[axis] = slice(lo, hi)
        x = x[tuple(key)]
    if not any(b or a for _, b, a in widths):
        return x if cropped else ops.clone(x)  # a new tensor, as PyTorch's
    full = [(0, 0)] * ndim
    for axis, b, a in widths:
        full[axis] = (b, a)
    return ops.pad(x, tuple(full), value)


def _pad_index(mode: str, n: int, before: int, after: int, axis: int, who: str, xp):
    """The positions along one dimension of size ``n`` that make its padded copy: reflect,
    replicate or wrap the positions -before .. n + after - 1."""
    size = n + before + after
    if mode == "circular":
        if before < 0 or after < 0:
            raise ValueError(message(who, "non-negative widths with mode='circular' (cropping "
                                     "is for the other modes)", "pad", (before, after)))
        if max(before, after) > n:
            raise ValueError(message(who, f"widths <= the size {n} of dimension {axis} with "
                                     "mode='circular' (it wraps around once at most)", "pad",
                                     (before, after)))
    elif mode == "reflect" and max(before, after) >= n:
        raise ValueError(message(who, f"widths < the size {n} of dimension {axis} with "
                                 "mode='reflect'", "pad", (before, after)))
    if n == 0 and size:
        raise ValueError(message(who, f"a non-empty dimension {axis} to pad from with "
                                 f"mode={mode!r}", "input size", 0))
    if size < 1 and mode != "circular":
        raise ValueError(message(who, f"widths that leave at least one element of dimension "
                                 f"{axis} (size {n}) with mode={mode!r}", "pad", (before, after)))
    k = xp.arange(-before, n + after)
    if mode == "replicate":
        return xp.clip(k, 0, n - 1)
    if mode == "circular":
        return k % n if n else k
    k = xp.abs(k)  # reflect: mirror below 0, then above n - 1
    return xp.where(k > n - 1, 2 * (n - 1) - k, k)


# The functional forms defined beside their layers (they use this module's helpers), imported
# last so that the modules they live in find every function here.
from nerve.nn.activation import prelu  # noqa: E402, F401 - re-exported
from nerve.nn.normalization import group_norm, instance_norm  # noqa: E402, F401 - re-exported
from nerve.nn.transformer import scaled_dot_product_attention  # noqa: E402, F401
