"""A stand-in GPU for tests on a machine without one: an array module with CuPy's API that is
NumPy underneath, with an array type of its own, as strict as CuPy about mixing devices.

``FakeCudaArray`` is an ndarray subclass; ``fake`` (a module object) makes such arrays as
CuPy's functions make CuPy's. Like CuPy, and unlike a NumPy subclass left to itself:
- a function or ufunc given a host array (a plain ndarray, even 0-d) raises TypeError; only
  ``asarray``/``array`` take host data (the copy to the "GPU"), and ``get()`` copies back;
- reductions and indexing give 0-d arrays, never NumPy scalars;
- ``asarray`` and ``array`` copy host data, so host and device never share memory;
- a fresh result owns its memory (``base`` None), as CuPy's do.

Register it with ``nerve.cuda._use_backend(fake, FakeCudaArray)`` (the ``fake_gpu`` fixture
of ``tests/test_devices.py`` does, and takes it away again). Not caught: ``np.asarray`` on a
fake array, which a NumPy subclass cannot refuse (CuPy raises there).
"""

from __future__ import annotations

import contextlib
import types
from typing import NamedTuple

import numpy as np


class _Device:
    """``cupy.cuda.Device``: a context manager naming GPU ``id`` (only 0 here)."""

    def __init__(self, id: int | None = None):
        self.id = 0 if id is None else int(id)
        if self.id != 0:
            raise RuntimeError(f"fake GPU: no device {self.id} (one GPU: 0)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self) -> None:
        pass


def _is_host(x) -> bool:
    return isinstance(x, np.ndarray) and not isinstance(x, FakeCudaArray)


def _refuse_host(values, where: str) -> None:
    for v in values:
        if isinstance(v, (list, tuple)):
            _refuse_host(v, where)
        elif _is_host(v):
            raise TypeError(f"fake GPU: {where} got a host array (numpy.ndarray, shape "
                            f"{v.shape}); move it with asarray() first, as CuPy asks")


def _plain(x):
    """``x`` with every fake array as a plain ndarray view (the same memory)."""
    if isinstance(x, FakeCudaArray):
        return x.view(np.ndarray)
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_plain(v) for v in x)
    return x


def _wrap(x, outs=()):
    """NumPy's result as the fake GPU's: arrays and scalars as fake arrays (0-d for scalars);
    an ``out=`` array given comes back as the very object given."""
    for plain, given in outs:
        if x is plain or (isinstance(x, np.ndarray) and x.base is plain.base is not None
                          and x.__array_interface__ == plain.__array_interface__):
            return given
    if isinstance(x, FakeCudaArray):
        return x
    if isinstance(x, np.ndarray):
        return _owning(x) if x.base is None else x.view(FakeCudaArray)
    if isinstance(x, np.generic):
        return _owning(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v, outs) for v in x)
    if isinstance(x, list):
        return [_wrap(v, outs) for v in x]
    return x


def _owning(x: np.ndarray) -> FakeCudaArray:
    """A fresh result as a fake array that owns its memory, as CuPy's results do (a view
    would hide it from the optimizer's flat buffers, which move only arrays no one else
    holds): a copy, in C order unless ``x`` is Fortran-ordered."""
    order = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
    out = FakeCudaArray(x.shape, x.dtype, order=order)
    np.copyto(out.view(np.ndarray), x)
    return out


def _outs(kwargs: dict) -> tuple:
    out = kwargs.get("out")
    if out is None:
        return ()
    given = out if isinstance(out, tuple) else (out,)
    _refuse_host(given, "out=")
    plain = tuple(_plain(o) for o in given)
    kwargs["out"] = plain if isinstance(out, tuple) else plain[0]
    return tuple(zip(plain, given))


class _CupyFlags(NamedTuple):
    c_contiguous: bool
    f_contiguous: bool
    owndata: bool


class FakeCudaArray(np.ndarray):
    """An array on the fake GPU (NumPy's memory, CuPy's manners)."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse_host(inputs, f"numpy.{ufunc.__name__}.{method}")
        outs = _outs(kwargs)
        result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
        return None if method == "at" else _wrap(result, outs)

    def __array_function__(self, func, types, args, kwargs):
        _refuse_host(args, f"numpy.{func.__name__}")
        _refuse_host(tuple(kwargs.values()), f"numpy.{func.__name__}")
        kwargs = dict(kwargs)
        outs = _outs(kwargs)
        return _wrap(_writable(func, func(*_plain(args), **_plain_dict(kwargs))), outs)

    def __getitem__(self, index):
        return _wrap(super().__getitem__(_plain(index)))

    def __setitem__(self, index, value):
        _refuse_host((value,), "__setitem__")
        super().__setitem__(_plain(index), _plain(value))

    def get(self) -> np.ndarray:
        """A copy in host memory (CuPy's ``get()``)."""
        return np.array(self.view(np.ndarray), copy=True)

    @property
    def device(self) -> _Device:
        return _Device(0)

    @property
    def flags(self):
        """CuPy's flags: c_contiguous, f_contiguous and owndata alone (no writeable, no
        aligned), so that code reading NumPy's other flags fails here as on a GPU."""
        flags = np.ndarray.flags.__get__(self)
        return _CupyFlags(flags.c_contiguous, flags.f_contiguous, flags.owndata)

    def __repr__(self) -> str:
        return f"fake_cuda({np.array2string(self.view(np.ndarray), separator=', ')})"


def _plain_dict(kwargs: dict) -> dict:
    return {k: _plain(v) for k, v in kwargs.items()}


def _strict(name: str, fn):
    """NumPy's function ``fn`` as the fake GPU's: refuses host arrays, gives fake arrays."""

    def call(*args, **kwargs):
        _refuse_host(args, f"fake.{name}")
        _refuse_host(tuple(kwargs.values()), f"fake.{name}")
        outs = _outs(kwargs)
        return _wrap(_writable(fn, fn(*_plain(args), **_plain_dict(kwargs))), outs)

    call.__name__ = name
    return call


def _writable(fn, result):
    """CuPy has no read-only arrays: its diagonal is a view to write through (NumPy's is
    read-only)."""
    if fn is np.diagonal and result.base is not None and result.base.flags.writeable:
        result.flags.writeable = True
    return result


def _from_host(name: str, fn):
    """``asarray``/``array``: host data is copied to the fake GPU; a fake array is kept
    (``asarray``) or copied (``array``)."""

    def call(obj, *args, **kwargs):
        if name == "asarray" and isinstance(obj, FakeCudaArray) and not args and (
                kwargs.get("dtype") in (None, obj.dtype)):
            return obj
        kwargs.pop("copy", None)
        return _owning(np.array(_plain(obj), *args, copy=True, **kwargs))

    call.__name__ = name
    return call


class _Ufunc:
    """A NumPy ufunc called strictly; its methods (``reduce``, ``at``) go through the fake
    arrays' ``__array_ufunc__``, which is strict too."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        _refuse_host(args, f"fake.{self.__name__}")
        outs = _outs(kwargs)
        return _wrap(self._ufunc(*_plain(args), **kwargs), outs)

    def __getattr__(self, name):
        return getattr(self._ufunc, name)


class _Generator:
    """``cupy.random.default_rng(seed)``: NumPy's generator, drawing fake arrays."""

    def __init__(self, seed=None):
        self._gen = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return _wrap(np.asarray(self._gen.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64):
        return _wrap(np.asarray(self._gen.standard_normal(size, dtype=dtype)))

    def integers(self, low, high=None, size=None):
        return _wrap(np.asarray(self._gen.integers(low, high, size)))


class _FakeCupy(types.ModuleType):
    """The module: NumPy's names, strict, with CuPy's extras (``cuda``, ``random``)."""

    ndarray = FakeCudaArray

    def __init__(self):
        super().__init__("fake_cupy")
        self.device_count = 1
        self.cuda = types.SimpleNamespace(
            Device=_Device,
            runtime=types.SimpleNamespace(
                getDeviceCount=lambda: self.device_count,
                getDeviceProperties=lambda i: {"name": b"Fake GPU (NumPy underneath)"}))
        self.random = types.SimpleNamespace(default_rng=_Generator)
        self.errstate = np.errstate
        self.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
            as_strided=_strict("as_strided", np.lib.stride_tricks.as_strided)))
        self.asarray = _from_host("asarray", np.asarray)
        self.array = _from_host("array", np.array)

    def __getattr__(self, name):
        value = getattr(np, name)
        if isinstance(value, np.ufunc):
            wrapped = _Ufunc(value)
        elif callable(value) and not isinstance(value, type):
            wrapped = _strict(name, value)
        else:
            return value  # dtypes, scalar types, constants
        setattr(self, name, wrapped)
        return wrapped


fake = _FakeCupy()


@contextlib.contextmanager
def fake_gpu_registered():
    """A block in which nerve's GPU is the fake one (``device="cuda"`` works)."""
    import nerve.cuda

    nerve.cuda._use_backend(fake, FakeCudaArray)
    try:
        yield fake
    finally:
        nerve.cuda._use_backend(None)
