"""The array module, the default dtype and the seeded random generator.

Every operation takes its array module from its inputs with :func:`array_module`: NumPy for
NumPy arrays (a GPU backend registers CuPy for CuPy arrays with :func:`register_array_module`),
so operation code never names NumPy for arithmetic. The few places where NumPy and CuPy differ
get one helper here (:func:`scatter_add`, :func:`erf`, :func:`erfc`), as do devices:
:class:`device`, where an array lives (:func:`device_of`), copies between devices
(:func:`to_device`, :func:`to_host`) and the check that an operation's inputs share one device
(:func:`same_device`); ``nerve.cuda`` loads CuPy.

Everything random in nerve draws from :func:`rng`, so ``nerve.manual_seed(n)`` makes a run
repeatable; :func:`use_generator` lends a private generator to a block (``fit(seed=...)``) and
leaves the global one untouched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from nerve import jit

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_default_dtype = float32
_rng = np.random.default_rng()

# array type -> its module (changed in place only); ARRAY_TYPES, the same types as a tuple
ARRAY_MODULES: dict[type, ModuleType] = {np.ndarray: np}
ARRAY_TYPES: tuple[type, ...] = (np.ndarray,)


def array_module(x=None) -> ModuleType:
    """Return the array module of the array ``x`` (NumPy for anything that is not a
    registered array type, and for None: the default module, where new arrays are made)."""
    return ARRAY_MODULES.get(type(x), np)


def register_array_module(array_type: type, module: ModuleType | None) -> None:
    """Let arrays of ``array_type`` compute with ``module`` (the GPU backend registers CuPy);
    None takes the type away again (tests of a stand-in GPU)."""
    global ARRAY_TYPES
    if module is None:
        ARRAY_MODULES.pop(array_type, None)
    else:
        ARRAY_MODULES[array_type] = module
    ARRAY_TYPES = tuple(ARRAY_MODULES)


def is_array(x) -> bool:
    """Return True for an array of a registered array module (an ndarray on the CPU)."""
    return isinstance(x, ARRAY_TYPES)


def ensure_array(x):
    """Return ``x`` if it is an array, else it as an array of the default module (NumPy
    reductions and 0-d arithmetic return scalars, which operations must not hand on)."""
    return x if type(x) in ARRAY_MODULES else array_module(x).asarray(x)


def real_scalar(x):
    """Return ``x`` as a Python number if it is a real scalar (a Python or NumPy number, a
    bool), else None. A NumPy scalar becomes a Python one, so that it takes an array's dtype."""
    if isinstance(x, np.generic):  # before float: np.float64 is a float
        return x.item() if x.dtype.kind in "biuf" else None
    return x if isinstance(x, (int, float)) else None


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that arrays of ``shapes`` broadcast to (shape arithmetic, on the host)."""
    return np.broadcast_shapes(*shapes)


def errstate(**kwargs):
    """A block in which floating-point warnings are handled as asked (``divide="ignore"``);
    NumPy's setting, which CuPy does not need (it does not warn)."""
    return np.errstate(**kwargs)


def can_cast(from_dtype, to_dtype) -> bool:
    """Whether values of ``from_dtype`` may be written into an array of ``to_dtype`` in place
    (within a kind or up it: float64 into float32 yes, float into int no), as PyTorch allows."""
    return bool(np.can_cast(from_dtype, to_dtype, casting="same_kind"))


_ZEROS: dict = {}  # (type, shape, dtype, strides) -> zeros that no one writes to


def zeros_as(x):
    """Read-only zeros shaped and laid out as ``x`` (channels-last after a convolution), kept
    from call to call. ReLU's max against them is 2x faster than against the scalar 0 and 4x
    faster than against zeros in another layout, and a fresh array each step would cost a page
    fault per 4 KB. Never write to them."""
    key = (type(x), x.shape, x.dtype, x.strides)
    zeros = _ZEROS.get(key)
    if zeros is None:
        if len(_ZEROS) >= 8:
            _ZEROS.clear()
        zeros = _ZEROS[key] = array_module(x).zeros_like(x)
    return zeros


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` where repeated positions in ``index`` add up, in place."""
    xp = array_module(target)
    if xp.__name__ != "cupy":
        xp.add.at(target, index, values)
    else:  # CuPy spells it in cupyx
        import cupyx

        cupyx.scatter_add(target, index, values)


# --- devices ------------------------------------------------------------------------------
class device:
    """Where a tensor's data lives, in PyTorch's spelling: ``nerve.device("cpu")``,
    ``nerve.device("cuda")`` (GPU 0), ``nerve.device("cuda", 1)``, ``nerve.device("cuda:1")``.

    Naming a device checks nothing; using one (``tensor(..., device="cuda")``, ``to``) loads the
    GPU backend (CuPy) and raises a clear error where it is missing.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a device name such as 'cpu' or 'cuda'. Received: "
                            f"{spec!r}")
        kind, _, number = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:<index>'. Received: "
                             f"{spec!r}")
        if number:
            if not number.isdigit() or index is not None:
                raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:<index>'. Received: "
                                 f"{spec!r}" + (f", index={index!r}" if index is not None else ""))
            index = int(number)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                                  or index < 0 or kind == "cpu" and index != 0):
            raise ValueError(f"device: expected a GPU index >= 0 (and none for 'cpu'). "
                             f"Received: {spec!r}, index={index!r}")
        self.type, self.index = kind, index

    def __eq__(self, other) -> bool:
        try:
            other = device(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else
                                               f", index={self.index}") + ")"


def erf(x):
    """The error function of a floating array (NumPy has none): the C library's, that is
    Python's ``math.erf``, in float64 then rounded to x's dtype, through a compiled loop where
    numba is installed (:mod:`nerve.jit`; about 30x faster), else one value at a time; CuPy's
    own on a GPU."""
    return _special(x, "erf", _erf_kernel)


def erfc(x):
    """The complementary error function 1 - erf(x), without that difference's rounding for
    large x: as :func:`erf`, Python's ``math.erfc``."""
    return _special(x, "erfc", _erfc_kernel)


def _special(x, name: str, kernel):
    """``math.<name>`` of each value of ``x`` (see :func:`erf`), or CuPy's ``<name>``."""
    if array_module(x) is not np:
        import cupyx.scipy.special

        return getattr(cupyx.scipy.special, name)(x)
    x = x if x.flags.c_contiguous else x.copy()  # (ascontiguousarray makes a 0-d array 1-D)
    if jit.usable(x, min_size=0):
        out = np.empty_like(x)
        kernel(x.reshape(-1), out.reshape(-1))
        return out
    return np.asarray(np.frompyfunc(getattr(math, name), 1, 1)(x), dtype=x.dtype)


@jit.kernel
def _erf_kernel(x, out):
    for i in range(x.size):
        out[i] = math.erf(np.float64(x[i]))  # the double one (numba would take erff)


@jit.kernel
def _erfc_kernel(x, out):
    for i in range(x.size):
        out[i] = math.erfc(np.float64(x[i]))


def device_of(array) -> str:
    """The name of the device that holds ``array``: 'cpu' for a NumPy array, 'cuda:<index>'
    for a GPU array (CuPy's ``array.device.id``)."""
    if ARRAY_MODULES.get(type(array), np) is np:
        return "cpu"
    return f"cuda:{getattr(array.device, 'id', 0)}"


def check_device(spec, who: str) -> device:
    """Return ``spec`` as a device that nerve can use now, with its index (``cuda:0``), or
    raise naming it: ImportError without CuPy (which package to install), RuntimeError
    without a GPU or for an index beyond the GPUs there are."""
    dev = device(spec)
    if dev.type == "cpu":
        return dev
    from nerve import cuda  # the same floor; loaded on first use, so `import nerve` stays light

    count = cuda.require(who)
    index = cuda.current_device() if dev.index is None else dev.index
    if index >= count:
        raise RuntimeError(f"{who}: expected a GPU index below {count} (the GPUs visible). "
                           f"Received: device={str(dev)!r}")
    return device("cuda", index)


def device_module(dev) -> ModuleType:
    """The array module of a device checked by ``check_device`` (NumPy for None, the CPU)."""
    if dev is None or dev.type == "cpu":
        return np
    from nerve import cuda

    return cuda.module()


def use_device(dev):
    """A block in which new arrays are made on ``dev`` (a checked device; nothing for the CPU)."""
    if dev is None or dev.type == "cpu":
        return contextlib.nullcontext()
    return device_module(dev).cuda.Device(dev.index)


def to_host(array):
    """``array`` as a NumPy array: itself on the CPU, a copy from a GPU (CuPy's ``get()``)."""
    return array if ARRAY_MODULES.get(type(array), np) is np else array.get()


def host_only(array):
    """``array`` if it lies on the CPU; a GPU's array refuses, as PyTorch's ``numpy()`` does."""
    if ARRAY_MODULES.get(type(array), np) is not np:
        raise TypeError(f"can't convert {device_of(array)} device type tensor to numpy. Use "
                        "Tensor.cpu() to copy the tensor to host memory first.")
    return array


def to_device(array, dev):
    """A copy of ``array`` on ``dev`` (a checked device), from any device."""
    if dev.type == "cpu":
        return array.copy() if device_of(array) == "cpu" else array.get()
    xp = device_module(dev)
    with xp.cuda.Device(dev.index):
        return xp.array(array, copy=True)  # host -> GPU, or GPU -> GPU


def on_device_of(array, like):
    """``array`` on the device of the array ``like``: itself when it is there already, else a
    copy (loading weights or optimizer state into a model on a GPU)."""
    where = device_of(like)
    return array if device_of(array) == where else to_device(array, device(where))


def same_device(arrays, who) -> None:
    """Raise RuntimeError when ``arrays`` (an operation's inputs; numbers are skipped) lie on
    two devices, naming both as PyTorch does: nerve never copies between devices silently.
    Returns at once while NumPy is the only array module (the hot path, ``Function.apply``,
    tests that itself before calling)."""
    if len(ARRAY_MODULES) == 1:
        return
    kinds = {type(a) for a in arrays} & ARRAY_MODULES.keys()
    if len(kinds) > 1:
        found = list(dict.fromkeys(device_of(a) for a in arrays if type(a) in kinds))
        name = getattr(who, "__name__", who)
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least "
                           f"two devices, {found[0]} and {found[1]}! (in {name})")


# --- dtypes -------------------------------------------------------------------------------
def get_default_dtype() -> np.dtype:
    """Return the dtype that floating-point data becomes when none is asked for (float32)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating-point dtype: float32 (the default) or float64."""
    global _default_dtype
    dt = to_dtype(dtype)
    if dt not in (float32, float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64. Received: "
                        f"dtype={dtype!r}")
    _default_dtype = dt


def to_dtype(dtype) -> np.dtype | None:
    """Normalise a user's dtype (None, a string, a NumPy dtype or type) to ``np.dtype``."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"expected a NumPy dtype or its name. Received: dtype={dtype!r}") from None


def float_dtype(dtype=None, who: str = "") -> np.dtype:
    """Return ``dtype`` as a floating dtype, or the default dtype when it is None; raise
    TypeError, naming ``who``, for any other dtype (int64 would truncate data silently)."""
    try:
        dt = to_dtype(dtype) or _default_dtype
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise TypeError(f"{who}: " * bool(who) + "expected a floating-point dtype (float32, "
                        f"float64) or None. Received: dtype={dtype!r}")
    return dt


# --- the random generator -----------------------------------------------------------------
def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"expected a non-negative integer as seed. Received: seed={seed!r}")
    return int(seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the one generator that everything random in nerve draws from on the CPU, and every
    GPU's generator with the same seed (as ``torch.manual_seed`` does); return the CPU's."""
    global _rng
    _rng = np.random.default_rng(_check_seed(seed))
    seed_devices(seed)
    return _rng


# Each GPU draws from a generator of its own, made on first use: seeded by the seed given for
# it (nerve.cuda.manual_seed), else the seed given for all (nerve.manual_seed,
# nerve.cuda.manual_seed_all), else from the generator lent by use_generator, else at random.
_device_rngs: dict = {}  # "cuda:0" -> its generator
_device_seeds: dict = {}  # "cuda:0" -> the seed for its next generator
_all_seed: list = [None]  # the seed for every GPU's next generator (None: none given)


def seed_devices(seed: int, name: str | None = None) -> None:
    """Seed the generator of the GPU ``name`` ("cuda:1"), or of every GPU when None, with
    ``seed``; it is made on its first draw (no GPU needed here)."""
    seed = _check_seed(seed)
    if name is None:
        _all_seed[0] = seed
        _device_seeds.clear()
        _device_rngs.clear()
    else:
        _device_seeds[name] = seed
        _device_rngs.pop(name, None)


def rng(dev=None):
    """Return the random generator of a device (None or the CPU: the current one, replaced by
    ``manual_seed``, lent by ``use_generator``; a GPU: that GPU's, with NumPy's method names)."""
    if dev is None:
        return _rng
    name = str(dev)
    if name == "cpu":
        return _rng
    gen = _device_rngs.get(name)
    if gen is None:
        from nerve import cuda

        seed = _device_seeds.pop(name, _all_seed[0])
        if _lent and seed is None:
            seed = int(_rng.integers(2**63))
        gen = _device_rngs[name] = cuda.Generator(device(name), seed)
    return gen


_lent: list = []  # the generators lent by use_generator, innermost last


def generator(*entropy: int) -> np.random.Generator:
    """Return a new generator seeded by several ints (``generator(seed, epoch)``)."""
    return np.random.default_rng([_check_seed(e) for e in entropy])


@contextlib.contextmanager
def use_generator(gen: np.random.Generator | None) -> Iterator[None]:
    """Make ``gen`` the generator that everything random draws from inside the block (a GPU
    draws from generators seeded from it), then put the previous ones back (None: leave things
    as they are)."""
    global _rng
    if gen is None:
        yield
        return
    previous, _rng = _rng, gen
    saved = dict(_device_rngs), dict(_device_seeds), _all_seed[0]
    _device_rngs.clear()
    _device_seeds.clear()
    _all_seed[0] = None
    _lent.append(gen)
    try:
        yield
    finally:
        _rng = previous
        _lent.pop()
        _device_rngs.clear()
        _device_rngs.update(saved[0])
        _device_seeds.clear()
        _device_seeds.update(saved[1])
        _all_seed[0] = saved[2]
