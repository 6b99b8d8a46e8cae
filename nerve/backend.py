"""The array module, the default dtype and the seeded random generator.

Every operation takes its array module from its inputs with :func:`array_module`: NumPy for
NumPy arrays (a GPU backend registers CuPy for CuPy arrays with :func:`register_array_module`),
so operation code never names NumPy for arithmetic. The few places where NumPy and CuPy differ
get one helper here (:func:`scatter_add`).

Everything random in nerve draws from :func:`rng`, so ``nerve.manual_seed(n)`` makes a run
repeatable; :func:`use_generator` lends a private generator to a block (``fit(seed=...)``) and
leaves the global one untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType

import numpy as np

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


def register_array_module(array_type: type, module: ModuleType) -> None:
    """Let arrays of ``array_type`` compute with ``module`` (the GPU backend registers CuPy)."""
    global ARRAY_TYPES
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
    if xp is np:
        np.add.at(target, index, values)
    else:  # CuPy spells it in cupyx
        import cupyx

        cupyx.scatter_add(target, index, values)


# --- devices ------------------------------------------------------------------------------
class device:
    """Where a tensor's data lives, in PyTorch's spelling: ``nerve.device("cpu")``.

    nerve computes on the CPU; the GPU backend (CuPy) is not built yet, so asking for
    ``"cuda"`` raises a clear error instead of a puzzling one later.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a device name such as 'cpu'. Received: "
                            f"{spec!r}")
        kind, _, number = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' (or 'cuda', once the GPU backend is "
                             f"built). Received: {spec!r}")
        if number:
            if not number.isdigit():
                raise ValueError(f"device: expected 'cpu' or 'cuda:<index>'. Received: {spec!r}")
            index = int(number)
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


def device_of(array) -> str:
    """The name of the device that holds ``array`` ('cpu' for a NumPy array)."""
    return "cpu" if isinstance(array, np.ndarray) else "cuda"


def check_device(spec, who: str) -> device:
    """Return ``spec`` as a device nerve can use now (the CPU), or raise naming it."""
    dev = device(spec)
    if dev.type != "cpu":
        raise RuntimeError(f"{who}: device {str(dev)!r} needs the GPU backend, which nerve does "
                           "not have yet; nerve computes on the CPU ('cpu')")
    return dev


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
    """Seed the one generator that everything random in nerve draws from, and return it."""
    global _rng
    _rng = np.random.default_rng(_check_seed(seed))
    return _rng


def rng() -> np.random.Generator:
    """Return the current random generator (replaced by ``manual_seed``, lent by
    ``use_generator``)."""
    return _rng


def generator(*entropy: int) -> np.random.Generator:
    """Return a new generator seeded by several ints (``generator(seed, epoch)``)."""
    return np.random.default_rng([_check_seed(e) for e in entropy])


@contextlib.contextmanager
def use_generator(gen: np.random.Generator | None) -> Iterator[None]:
    """Make ``gen`` the generator that everything random draws from inside the block, then
    put the previous one back (None: leave things as they are)."""
    global _rng
    if gen is None:
        yield
        return
    previous, _rng = _rng, gen
    try:
        yield
    finally:
        _rng = previous
