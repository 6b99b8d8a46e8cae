"""Making tensors: from data, filled with a value, or drawn from nerve's seeded generator."""

from __future__ import annotations

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_int, is_int, message


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from data (a number, nested lists, an ndarray or a Tensor; always a copy).

    Floating-point data becomes float32 unless ``dtype`` says otherwise; integer and boolean
    data keep their kind (int64, bool). Only floating-point tensors can require gradients.
    """
    dev = _device(device, "tensor")
    t = Tensor(data, dtype=dtype)  # Tensor() always copies
    if dev is not None and backend.device_of(t._data) != dev:
        t._data = backend.to_device(t._data, dev)
    t.requires_grad = requires_grad
    return t


def _shape(shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not is_int(n) or n < 0:
            raise ValueError(f"expected a shape of non-negative integers. Received: "
                             f"shape={shape!r}")
    return tuple(int(n) for n in shape)


def _device(device, who: str):
    """A ``device=`` argument checked (a GPU needs CuPy and a GPU), or None when not given."""
    return None if device is None else backend.check_device(device, who)


def _on(device, who: str):
    """The array module that makes arrays on ``device`` (None: the CPU), and the device."""
    dev = _device(device, who)
    return backend.device_module(dev), dev


def _made(dev, make):
    """The array ``make()`` returns, made with ``dev`` as the current GPU."""
    with backend.use_device(dev):
        return make()


def _dtype(dtype):
    return backend.to_dtype(dtype) or backend.get_default_dtype()


def _make(data, requires_grad: bool) -> Tensor:
    """Wrap a freshly made array as it is (``Tensor(data)`` would turn float64 into float32)."""
    t = Tensor._wrap(data)
    t.requires_grad = requires_grad
    return t


def _like(t, dtype, device, who: str):
    """The array module, shape, dtype and device of a ``*_like`` result: those of ``t`` (its
    dtype and device) unless ``dtype`` or ``device`` say otherwise."""
    src = t._data if isinstance(t, Tensor) else Tensor(t)._data
    dev = _device(device, who) or backend.device(backend.device_of(src))
    return backend.device_module(dev), src.shape, backend.to_dtype(dtype) or src.dtype, dev


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, dev = _on(device, "zeros")
    return _make(_made(dev, lambda: xp.zeros(_shape(shape), _dtype(dtype))), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, dev = _on(device, "ones")
    return _make(_made(dev, lambda: xp.ones(_shape(shape), _dtype(dtype))), requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; without ``dtype``, the value's kind decides
    as in PyTorch: bool, int64 for an int, the default float dtype for a float."""
    xp, dev = _on(device, "full")
    if dtype is None and (is_int(value) or isinstance(value, (bool, np.bool_))):
        dtype = "int64" if is_int(value) else "bool"
    return _make(_made(dev, lambda: xp.full(_shape((shape,)), value, _dtype(dtype))),
                 requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, shape, dt, dev = _like(t, dtype, device, "zeros_like")
    return _make(_made(dev, lambda: xp.zeros(shape, dt)), requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, shape, dt, dev = _like(t, dtype, device, "ones_like")
    return _make(_made(dev, lambda: xp.ones(shape, dt)), requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) shaped like ``t`` (its dtype unless ``dtype`` says), from the
    generator of its device."""
    _, shape, dt, dev = _like(t, dtype, device, "rand_like")
    return _make(backend.rng(dev).random(shape, dtype=backend.float64).astype(dt), requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard-normal samples shaped like ``t`` (its dtype unless ``dtype`` says)."""
    _, shape, dt, dev = _like(t, dtype, device, "randn_like")
    values = backend.rng(dev).standard_normal(shape, dtype=backend.float64).astype(dt)
    return _make(values, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor shaped like ``t`` filled with ``fill_value``."""
    xp, shape, dt, dev = _like(t, dtype, device, "full_like")
    return _make(_made(dev, lambda: xp.full(shape, fill_value, dt)), requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor shaped like ``t`` whose values are not set."""
    xp, shape, dt, dev = _like(t, dtype, device, "empty_like")
    return _make(_made(dev, lambda: xp.empty(shape, dt)), requires_grad)


# --- Tensor.new_*: a new tensor with this tensor's dtype and device -------------------------
def _size(size: tuple, who: str) -> tuple[int, ...]:
    """A ``new_*`` size given as one tuple (list, ``Size``) or as separate ints, checked."""
    if not size:
        raise TypeError(f"{who}: expected a size (a tuple of ints, or ints). Received: none")
    try:
        return _shape(size)
    except ValueError as err:
        raise ValueError(f"{who}: {err}") from None


def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``size`` (``t.new_zeros(2, 3)`` or ``t.new_zeros((2, 3))``) with this
    tensor's dtype and device unless ``dtype``/``device`` say otherwise (PyTorch's method:
    code that makes a buffer "like" its input keeps working for any dtype and device)."""
    xp, _, dt, dev = _like(self, dtype, device, "new_zeros")
    return _make(_made(dev, lambda: xp.zeros(_size(size, "new_zeros"), dt)), requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Ones of ``size`` with this tensor's dtype and device unless ``dtype``/``device`` say."""
    xp, _, dt, dev = _like(self, dtype, device, "new_ones")
    return _make(_made(dev, lambda: xp.ones(_size(size, "new_ones"), dt)), requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` whose values are not set, with this tensor's dtype and device
    unless ``dtype``/``device`` say otherwise."""
    xp, _, dt, dev = _like(self, dtype, device, "new_empty")
    return _make(_made(dev, lambda: xp.empty(_size(size, "new_empty"), dt)), requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` in this tensor's dtype (not the value's
    kind, unlike ``nerve.full``: an int64 tensor's ``new_full((2,), 1.7)`` holds 1s, as in
    PyTorch) and on its device, unless ``dtype``/``device`` say otherwise."""
    xp, _, dt, dev = _like(self, dtype, device, "new_full")
    value = backend.real_scalar(fill_value.item() if isinstance(fill_value, Tensor) and
                                fill_value.ndim == 0 else fill_value)
    if value is None:
        raise TypeError(f"new_full: expected a number (or a 0-d tensor) as fill_value. "
                        f"Received: fill_value={fill_value!r}")
    shape = _size((size,), "new_full")
    return _make(_made(dev, lambda: xp.full(shape, value, dt)), requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A copy of ``data`` (a number, nested lists, an array or a Tensor, detached) in this
    tensor's dtype, whatever the data's kind (a float tensor's ``new_tensor([1, 2])`` is
    float), and on its device, unless ``dtype``/``device`` say otherwise."""
    _, _, dt, dev = _like(self, dtype, device, "new_tensor")
    return tensor(data, dtype=dt, device=dev, requires_grad=requires_grad)


for _method in (new_zeros, new_ones, new_empty, new_full, new_tensor):
    setattr(Tensor, _method.__name__, _method)  # methods only: PyTorch has no torch.new_zeros


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard-normal samples from nerve's seeded generator."""
    dev = _device(device, "randn")
    data = backend.rng(dev).standard_normal(_shape(shape), dtype=backend.float64)
    return _make(data.astype(_dtype(dtype)), requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from nerve's seeded generator."""
    dev = _device(device, "rand")
    data = backend.rng(dev).random(_shape(shape), dtype=backend.float64).astype(_dtype(dtype))
    return _make(data, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop); floats are float32 unless ``dtype`` says."""
    xp, dev = _on(device, "arange")
    data = _made(dev, lambda: xp.arange(start, stop, step, dtype=backend.to_dtype(dtype)))
    t = _make(data, False) if dtype is not None else Tensor(data)
    t.requires_grad = requires_grad
    return t


def from_numpy(array, requires_grad: bool = False) -> Tensor:
    """Wrap an ndarray without copying: the tensor and the array share memory (any dtype)."""
    if not backend.is_array(array):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    t = Tensor._wrap(array)
    t.requires_grad = requires_grad
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a Tensor without a copy where it can: a Tensor (of the dtype asked) is
    returned as it is, an ndarray is shared (PyTorch's ``as_tensor``); other data is copied."""
    dev = _device(device, "as_tensor")
    dt = backend.to_dtype(dtype)
    if isinstance(data, Tensor):
        t = data if dt is None or data.dtype == dt else data.to(dt)
    elif backend.is_array(data) and (dt is None or data.dtype == dt):
        t = Tensor._wrap(data)
    else:
        t = Tensor(data, dtype=dt)
    return t if dev is None else t.to(dev)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` whose values are whatever the memory held (fill it before use)."""
    xp, dev = _on(device, "empty")
    return _make(_made(dev, lambda: xp.empty(_shape(shape), _dtype(dtype))), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (n x n by default)."""
    xp, dev = _on(device, "eye")
    check_int(n, "n", "eye", minimum=0)
    m = n if m is None else check_int(m, "m", "eye", minimum=0)
    return _make(_made(dev, lambda: xp.eye(n, m, dtype=_dtype(dtype))), requires_grad)


def linspace(start: float, end: float, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` values evenly spaced from ``start`` to ``end``, both included."""
    xp, dev = _on(device, "linspace")
    check_int(steps, "steps", "linspace", minimum=0)
    values = _made(dev, lambda: xp.linspace(start, end, steps, dtype=backend.float64))
    return _make(values.astype(_dtype(dtype)), requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype=None,
             device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` values from ``base**start`` to ``base**end``, evenly spaced in the exponent."""
    xp, dev = _on(device, "logspace")
    check_int(steps, "steps", "logspace", minimum=0)
    values = _made(dev, lambda: xp.logspace(start, end, steps, base=base, dtype=backend.float64))
    return _make(values.astype(_dtype(dtype)), requires_grad)


def randint(low: int, high: int | None = None, size=None, dtype=None, device=None) -> Tensor:
    """Integers drawn uniformly from [low, high) (from [0, low) when ``high`` is left out),
    from nerve's seeded generator: ``randint(0, 10, (3, 4))`` or ``randint(10, (3,))``."""
    dev = _device(device, "randint")
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: expected a size (a tuple of ints). Received: size=None")
    check_int(low, "low", "randint")
    check_int(high, "high", "randint")
    if high <= low:
        raise ValueError(f"randint: expected low < high. Received: low={low}, high={high}")
    values = backend.rng(dev).integers(low, high, _shape((size,)))
    return _make(values.astype(backend.to_dtype(dtype) or backend.int64), False)


def normal(mean=0.0, std=1.0, size=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std^2) from nerve's seeded generator: ``normal(0, 1, size=(3,))``, or
    one sample per element of tensor ``mean`` and/or ``std`` (PyTorch's forms)."""
    dev = _device(device, "normal")
    mean_a = mean._data if isinstance(mean, Tensor) else mean
    std_a = std._data if isinstance(std, Tensor) else std
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if dev is None and like is not None:
        dev = backend.device(backend.device_of(like._data))  # a tensor's mean: its device
    shape = _shape((size,)) if size is not None else None
    if shape is None and isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        raise TypeError("normal: expected a size, or mean/std given as tensors")
    if (backend.ensure_array(std_a) < 0).any():
        raise ValueError(f"normal: expected std >= 0. Received: std={std!r}")
    values = backend.rng(dev).normal(mean_a, std_a, shape)
    dt = backend.to_dtype(dtype) or (like.dtype if like is not None else _dtype(None))
    return _make(backend.device_module(dev).asarray(values).astype(dt), requires_grad)


def _typed(dtype, name: str):
    def make(*args) -> Tensor:
        if args and all(is_int(a) for a in args):
            return empty(*args, dtype=dtype)  # FloatTensor(2, 3): a new 2x3 tensor
        if len(args) != 1:
            raise TypeError(f"{name}: expected data or sizes. Received: {args!r}")
        return Tensor(args[0], dtype=dtype)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"PyTorch's legacy constructor: ``{name}(data)`` is a {dtype} tensor of "
                    f"data, ``{name}(*sizes)`` a new one of that shape (values not set).")
    return make


FloatTensor = _typed("float32", "FloatTensor")
DoubleTensor = _typed("float64", "DoubleTensor")
LongTensor = _typed("int64", "LongTensor")
IntTensor = _typed("int32", "IntTensor")
BoolTensor = _typed("bool", "BoolTensor")


# --- more draws: permutations, categories, coin flips, counts (PyTorch's names) -------------
def _lend(generator, who: str):
    """The draws of one call from ``generator`` (a NumPy Generator, as
    ``nerve.backend.generator(seed)`` makes) instead of nerve's own (None)."""
    if generator is not None and not isinstance(generator, np.random.Generator):  # host-side
        raise TypeError(message(who, "None or a numpy.random.Generator", "generator",
                                generator))
    return backend.use_generator(generator)


def _floating_input(input, who: str) -> Tensor:  # noqa: A002
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input", "input.dtype", str(x.dtype)))
    return x


def randperm(n: int, *, generator=None, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0, ..., n - 1 (int64 unless ``dtype`` says), from nerve's
    seeded generator: the order that sorts n uniform draws."""
    dev = _device(device, "randperm")
    n = check_int(n, "n", "randperm", minimum=0)
    with _lend(generator, "randperm"):
        keys = backend.rng(dev).random(n)
    order = backend.array_module(keys).argsort(keys)
    return _make(order.astype(backend.to_dtype(dtype) or backend.int64), requires_grad)


def multinomial(input, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None) -> Tensor:
    """``num_samples`` category indices per row of ``input`` (1-D or 2-D non-negative weights,
    not necessarily summing to 1): with ``replacement`` independent draws (the inverse of the
    cumulative distribution); without, successive draws without repeats, as PyTorch (the
    order of ``weight / Exponential(1)``; categories of weight 0 come last, lowest first)."""
    p = _floating_input(input, "multinomial")
    if p.ndim not in (1, 2):
        raise ValueError(message("multinomial", "a 1-D or 2-D input", "input.shape", p.shape))
    num = check_int(num_samples, "num_samples", "multinomial")
    cats = p.shape[-1]
    if num <= 0 or (not replacement and num > cats):
        raise ValueError(message("multinomial", f"0 < num_samples{'' if replacement else ' <= '}"
                                 f"{'' if replacement else cats} (the number of categories "
                                 "without replacement)", "num_samples", num_samples))
    rows = p._data.reshape(-1, cats).astype(backend.float64)
    xp = backend.array_module(rows)
    if rows.size and not (xp.isfinite(rows) & (rows >= 0)).all():
        raise ValueError(message("multinomial", "finite weights >= 0 (no inf, NaN or "
                                 "negative)", "input", p))
    sums = rows.sum(1, keepdims=True)
    if rows.shape[0] and (sums <= 0).any():
        raise ValueError(message("multinomial", "a positive sum of weights in every row",
                                 "row sums", sums.reshape(-1)))
    with _lend(generator, "multinomial"):
        u = backend.rng(backend.device_of(rows)).random((rows.shape[0], num if replacement
                                                          else cats))
    if replacement:  # category k where cdf[k - 1] <= u < cdf[k], each row shifted by its index
        shift = xp.arange(rows.shape[0]).reshape(-1, 1)
        cdf = (xp.cumsum(rows / sums, 1) + shift).reshape(-1)
        picks = xp.searchsorted(cdf, (u + shift).reshape(-1), "right").reshape(u.shape) - \
            shift * cats
        last = cats - 1 - xp.argmax(xp.flip(rows > 0, 1), 1).reshape(-1, 1)  # rounding: a
        picks = xp.minimum(picks, last)  # weight-0 category at the end is never picked
    else:
        with backend.errstate(divide="ignore"):
            keys = xp.where(rows > 0, rows / -xp.log1p(-u), 0)
        picks = xp.argsort(-keys, axis=1, kind="stable")[:, :num]
    return _make(picks.reshape(p.shape[:-1] + (num,)).astype(backend.int64), False)


def bernoulli(input, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """1 with probability ``input`` (element-wise, in [0, 1]; or ``p`` for every element), else
    0, in the input's dtype. The result is cut from the graph (PyTorch records a gradient of
    zero)."""
    x = _floating_input(input, "bernoulli")
    return _make(bernoulli_draws(x, x if p is None else p, generator, "bernoulli"), False)


def bernoulli_draws(x: Tensor, p, generator=None, who: str = "bernoulli_"):
    """0/1 draws shaped and typed like ``x``, 1 with probability ``p`` (a number or a tensor
    that broadcasts to ``x``), as an array."""
    probs = p._data if isinstance(p, Tensor) else p
    xp = backend.array_module(x._data)
    probs = xp.asarray(probs, dtype=backend.float64)
    if not ((probs >= 0) & (probs <= 1)).all():
        raise ValueError(message(who, "probabilities in [0, 1]", "p", p))
    with _lend(generator, who):
        u = backend.rng(backend.device_of(x._data)).random(x.shape)
    return (u < probs).astype(x.dtype)


def poisson(input, generator=None) -> Tensor:  # noqa: A002
    """A count drawn from Poisson(rate) per element of ``input`` (rates >= 0), in the input's
    dtype; cut from the graph."""
    x = _floating_input(input, "poisson")
    xp = backend.array_module(x._data)
    if x.numel() and not (x._data >= 0).all():
        raise ValueError(message("poisson", "rates >= 0", "input", x))
    with _lend(generator, "poisson"):
        gen = backend.rng(backend.device_of(x._data))
        if hasattr(gen, "poisson"):
            counts = gen.poisson(x._data.astype(backend.float64))
        else:  # a GPU generator without poisson: drawn on the host, from nerve's CPU generator
            counts = xp.asarray(backend.rng().poisson(backend.to_host(x._data)))
    return _make(xp.asarray(counts).astype(x.dtype), False)


def random_draws(x: Tensor, *args, generator=None, **kwargs):
    """Tensor.random_'s integers, as an array like ``x``: ``random_()`` from [0, 2^mantissa]
    (floats; the dtype's maximum for integers), ``random_(to)`` from [0, to),
    ``random_(from, to)`` from [from, to)."""
    if len(args) > 2 or set(kwargs) - {"from", "to"}:
        raise TypeError(message("random_", "(from=0, to=None)", "arguments", (args, kwargs)))
    bounds = dict(zip(("from", "to") if len(args) == 2 else ("to",), args), **kwargs)
    dt = x.dtype
    top = 2 ** {"float16": 11, "float32": 24, "float64": 53}[dt.name] + 1 if dt.kind == "f" \
        else 2 if dt.kind == "b" else int(backend.array_module(x._data).iinfo(dt).max) + 1
    low, high = bounds.get("from", 0), bounds.get("to")
    high = top if high is None else high
    check_int(low, "from", "random_")
    check_int(high, "to", "random_")
    if low >= high:
        raise ValueError(message("random_", "from < to", "(from, to)", (low, high)))
    xp = backend.array_module(x._data)  # from and to - 1 in the dtype's range, as PyTorch
    info = xp.finfo(dt) if dt.kind == "f" else None if dt.kind == "b" else xp.iinfo(dt)
    least, most = (0, 1) if info is None else (int(info.min), int(info.max))
    for name, v in (("from", low), ("to - 1", high - 1)):
        if not least <= v <= most:
            raise ValueError(message("random_", f"{name} in the range of {dt.name}, [{least}, "
                                     f"{most}]", "(from, to)", (low, high)))
    with _lend(generator, "random_"):
        values = backend.rng(backend.device_of(x._data)).integers(low, high, x.shape)
    return values.astype(dt)


def exponential_draws(x: Tensor, lambd: float = 1.0, *, generator=None):
    """Tensor.exponential_'s draws of Exponential(lambd) (density lambd e^(-lambd v)), as an
    array like ``x`` (floating)."""
    _floating_input(x, "exponential_")
    if not lambd > 0:
        raise ValueError(message("exponential_", "lambd > 0", "lambd", lambd))
    with _lend(generator, "exponential_"):
        u = backend.rng(backend.device_of(x._data)).random(x.shape)
    return (-backend.array_module(u).log1p(-u) / lambd).astype(x.dtype)


def geometric_draws(x: Tensor, p: float, *, generator=None):
    """Tensor.geometric_'s draws: the number of Bernoulli(p) trials up to the first success
    (1, 2, ...), as an array like ``x``."""
    if not 0 < p < 1:
        raise ValueError(message("geometric_", "p in (0, 1)", "p", p))
    with _lend(generator, "geometric_"):
        u = backend.rng(backend.device_of(x._data)).random(x.shape)
    xp = backend.array_module(u)
    trials = xp.ceil(xp.log1p(-u) / xp.log1p(-xp.asarray(p, backend.float64)))
    return xp.maximum(trials, 1).astype(x.dtype)


for _method in (multinomial, bernoulli):
    setattr(Tensor, _method.__name__, _method)
