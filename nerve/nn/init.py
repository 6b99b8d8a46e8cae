"""Weight initialisation, in place, from nerve's seeded generator.

The seed's scheme is :func:`normal_` for weights (a standard normal) and :func:`zeros_` for
biases. Layers default to PyTorch's schemes (``Linear``: ``kaiming_uniform_`` with
``a=sqrt(5)``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias), so
that a model behaves like its PyTorch twin; ``xavier_*`` suit sigmoid and tanh networks,
``kaiming_*`` ReLU networks.
"""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, check_number, message

_LINEAR = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d")
_GAINS = {**dict.fromkeys(_LINEAR, 1.0), "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for an activation (PyTorch's table)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; valid: "
                         f"{sorted([*_GAINS, 'leaky_relu'])}")
    return _GAINS[nonlinearity]


def _fans(t: Tensor) -> tuple[int, int]:
    shape = _tensor(t, "init")._data.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fill(t: Tensor, values) -> Tensor:
    t._data[...] = values  # in place: an optimizer holding ``t`` keeps working
    t._bump()
    return t


def _tensor(t, who: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(message(who, "a Tensor (a parameter) to fill", "tensor", ShortRepr(t)))
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    a, b = check_number(a, "a", "uniform_"), check_number(b, "b", "uniform_")
    if a > b:
        raise ValueError(message("uniform_", f"b >= a={a}", "b", b))
    t = _tensor(t, "uniform_")
    return _fill(t, backend.rng(backend.device_of(t._data)).uniform(a, b, t._data.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2); the defaults give the seed's standard normal."""
    mean, std = check_number(mean, "mean", "normal_"), check_number(std, "std", "normal_", 0.0)
    t = _tensor(t, "normal_")
    return _fill(t, backend.rng(backend.device_of(t._data)).normal(mean, std, t._data.shape))


def zeros_(t: Tensor) -> Tensor:
    """Fill with zeros (the seed: biases start at 0)."""
    return _fill(_tensor(t, "zeros_"), 0)


def ones_(t: Tensor) -> Tensor:
    return _fill(_tensor(t, "ones_"), 1)


def constant_(t: Tensor, value: float) -> Tensor:
    return _fill(_tensor(t, "constant_"), check_number(value, "value", "constant_"))


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio)."""
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(t)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al.)."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al.)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))


def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b] (bounds in the values' units, as PyTorch's).

    Exact rejection sampling, refused draws drawn again: from N(mean, std^2) itself while
    [a, b] holds at least a quarter of its mass; else (a narrow interval, or one far in a tail,
    where that would take up to millions of rounds) from Robert's (1995) proposals, uniform
    over [a, b] or exponential from the bound nearer the mean, which keep over 60% of their
    draws wherever [a, b] lies. std must be > 0 (PyTorch's divides by it and raises
    ZeroDivisionError at 0) and the mean finite.
    """
    who = "trunc_normal_"
    mean = check_number(mean, "mean", who, -math.inf, math.inf, low_open=True, high_open=True)
    std = check_number(std, "std", who, 0.0, math.inf, low_open=True, high_open=True)
    a, b = check_number(a, "a", who), check_number(b, "b", who)
    if not a < b:
        raise ValueError(message(who, "bounds a < b", "(a, b)", (a, b)))
    t = _tensor(t, who)
    xp, gen = backend.array_module(t._data), backend.rng(backend.device_of(t._data))
    # in units of std (beyond 1e10 every value lies within 1e-10 std of the bound anyway),
    # mirrored if need be so that hi > 0: lo >= 0 is then a one-sided tail
    lo, hi = (min(max((v - mean) / std, -1e10), 1e10) for v in (a, b))
    flip = hi <= 0
    if flip:
        lo, hi = -hi, -lo
    mass = (math.erfc(lo / math.sqrt(2)) - math.erfc(hi / math.sqrt(2))) / 2
    rate = (lo + math.hypot(lo, 2)) / 2  # the exponential's best rate (Robert)
    if mass >= 0.25:
        def draw(n):
            z = gen.standard_normal(n)
            return z, (z >= lo) & (z <= hi)
    elif lo <= 0 or hi - lo < math.exp((rate - lo) ** 2 / 2) / rate:  # uniform keeps more
        low = max(lo, 0.0)  # where the density peaks in [lo, hi]

        def draw(n):
            z = gen.uniform(lo, hi, n)
            return z, gen.random(n) < xp.exp((low - z) * (low + z) / 2)
    else:
        def draw(n):
            z = lo - xp.log1p(-gen.random(n)) / rate
            return z, (z <= hi) & (gen.random(n) < xp.exp(-((z - rate) ** 2) / 2))
    z, kept = draw(t._data.size)
    while not kept.all():  # each round keeps at least a quarter of the rest: a few rounds
        redo = ~kept
        z[redo], kept[redo] = draw(int(redo.sum()))
    values = mean + std * (-z if flip else z)  # clipped as PyTorch's: it may round past a bound
    return _fill(t, xp.clip(values, a, b).reshape(t._data.shape))


def orthogonal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``, the dimensions after the first
    flattened (Saxe et al.; PyTorch's construction: the QR of a normal matrix, signs fixed by
    R's diagonal)."""
    t = _tensor(t, "orthogonal_")
    shape = t._data.shape
    if len(shape) < 2:
        raise ValueError(message("orthogonal_", "a tensor of 2 or more dimensions", "shape",
                                 shape))
    rows, cols = shape[0], math.prod(shape[1:])
    xp = backend.array_module(t._data)
    flat = backend.rng(backend.device_of(t._data)).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q *= xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _fill(t, gain * q.reshape(shape))


def eye_(t: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal, as many as fit)."""
    t = _tensor(t, "eye_")
    if t._data.ndim != 2:
        raise ValueError(message("eye_", "a 2-D tensor", "shape", t._data.shape))
    return _fill(t, backend.array_module(t._data).eye(*t._data.shape))
