"""``nerve.cuda``: NVIDIA GPUs through CuPy, in PyTorch's spelling.

``is_available()``, ``device_count()``, ``current_device()``, ``manual_seed(n)`` and
``manual_seed_all(n)`` answer without raising, with or without CuPy. CuPy is imported on first
use of a GPU (``nerve.tensor(x, device="cuda")``, ``model.cuda()``), never by ``import nerve``;
it then registers its array type with :mod:`nerve.backend`, and every operation runs on CuPy
arrays through the same code as on NumPy's (each takes its array module from its inputs).

Without CuPy, asking for a GPU raises an ImportError naming the package to install; with CuPy
but no GPU visible, a RuntimeError. ``_use_backend(module, array_type)`` is the one hook that
registers a GPU array module: CuPy's, or in tests a stand-in with CuPy's API.
"""

from __future__ import annotations

from types import ModuleType

from nerve import backend

INSTALL_HINT = ("CuPy is not installed: install the wheel for your CUDA version, "
                "pip install cupy-cuda12x (CUDA 12) or pip install cupy-cuda13x (CUDA 13); "
                'in a checkout of nerve, pip install ".[cuda12]" or ".[cuda13]"')


class _Backend:
    module: ModuleType | None = None  # CuPy (or a stand-in), once registered
    array_type: type | None = None
    count = 0  # the GPUs it sees


def _use_backend(module: ModuleType | None, array_type: type | None = None) -> None:
    """Register ``module`` (CuPy's API: ``asarray``, ``ndarray.get()``, ``cuda.Device``,
    ``cuda.runtime.getDeviceCount()``, ``random.default_rng``) as the GPU array module for
    arrays of ``array_type``; None takes the registered one away again."""
    if _Backend.array_type is not None:
        backend.register_array_module(_Backend.array_type, None)
    _Backend.module, _Backend.array_type, _Backend.count = module, array_type, 0
    backend._device_rngs.clear()  # the generators of the backend before
    if module is not None:
        _Backend.count = int(module.cuda.runtime.getDeviceCount())
        backend.register_array_module(array_type, module)


_KERNELS: dict = {}  # (array module, name) -> its compiled ElementwiseKernel


def elementwise(xp: ModuleType, name: str, in_params: str, out_params: str, operation: str):
    """A CuPy ``ElementwiseKernel`` (CUDA C, compiled on its first call, kept) where ``xp`` is
    CuPy, else None: the caller then runs its array passes. One kernel does in one launch what
    the passes do in a dozen, and on a GPU each launch's cost on the host, not the arithmetic,
    bounds a small model's step."""
    make = getattr(xp, "ElementwiseKernel", None)
    if make is None:  # NumPy, or the tests' stand-in
        return None
    key = (xp, name)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = make(in_params, out_params, operation, name)
    return kernel


def _import_cupy() -> ModuleType | None:
    """CuPy, or None where it is not installed or cannot load its CUDA libraries."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install (OSError, RuntimeError...)
        return None
    return cupy


def _gpu_count(module: ModuleType) -> int:
    try:
        return int(module.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy's CUDARuntimeError without a driver or a GPU
        return 0


def require(who: str = "cuda") -> int:
    """Load the GPU backend (CuPy) on first use and return how many GPUs it sees; raise
    ImportError without CuPy, RuntimeError without a visible GPU."""
    if _Backend.module is None:
        cupy = _import_cupy()
        if cupy is None:
            raise ImportError(f"{who}: device 'cuda' needs CuPy. {INSTALL_HINT}")
        if _gpu_count(cupy) == 0:
            raise RuntimeError(f"{who}: device 'cuda' needs an NVIDIA GPU, and CuPy sees none "
                               "(no GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES)")
        _use_backend(cupy, cupy.ndarray)
    if _Backend.count == 0:
        raise RuntimeError(f"{who}: device 'cuda' needs an NVIDIA GPU, and none is visible")
    return _Backend.count


def module() -> ModuleType:
    """The GPU array module (CuPy), loaded if need be."""
    require()
    return _Backend.module


def is_available() -> bool:
    """True when CuPy imports and sees at least one GPU (never raises)."""
    return device_count() > 0


def device_count() -> int:
    """How many GPUs CuPy sees: 0 without CuPy or without a GPU (never raises)."""
    if _Backend.module is not None:
        return _Backend.count
    cupy = _import_cupy()
    return 0 if cupy is None else _gpu_count(cupy)


def current_device() -> int:
    """The index of the GPU that ``"cuda"`` without an index means (CuPy's current device)."""
    if _Backend.module is None:
        require("current_device")
    return int(_Backend.module.cuda.Device().id)


def get_device_name(device=None) -> str:
    """The GPU's name, as ``nvidia-smi`` shows it ("NVIDIA H100 80GB HBM3")."""
    dev = backend.check_device("cuda" if device is None else
                               f"cuda:{device}" if isinstance(device, int) else device,
                               "get_device_name")
    props = _Backend.module.cuda.runtime.getDeviceProperties(dev.index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait until the current GPU has finished its work (for timing); nothing without one."""
    if _Backend.module is not None:
        _Backend.module.cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the current GPU's generator (a no-op until a GPU is used, as in PyTorch: the seed
    is kept for the generator made on first use). ``nerve.manual_seed`` seeds every device."""
    index = _Backend.module.cuda.Device().id if _Backend.module is not None else 0
    backend.seed_devices(seed, f"cuda:{index}")


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's generator with ``seed`` (kept for the generators made on first use)."""
    backend.seed_devices(seed)


class Generator:
    """A GPU's random generator with the methods nerve draws with, under NumPy's names, over
    CuPy's ``random.default_rng`` (whose ``random``, ``standard_normal`` and ``integers`` take
    the same arguments as NumPy's)."""

    def __init__(self, device: backend.device, seed: int | None):
        self.xp, self.index = module(), device.index
        with self.xp.cuda.Device(self.index):
            self._gen = self.xp.random.default_rng(seed)

    def random(self, size=None, dtype=backend.float64):
        with self.xp.cuda.Device(self.index):
            return self._gen.random(size, dtype=dtype)

    def standard_normal(self, size=None, dtype=backend.float64):
        with self.xp.cuda.Device(self.index):
            return self._gen.standard_normal(size, dtype=dtype)

    def integers(self, low, high=None, size=None):
        with self.xp.cuda.Device(self.index):
            return self._gen.integers(low, high, size)

    def uniform(self, low=0.0, high=1.0, size=None):
        return low + (high - low) * self.random(size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        if size is None:
            size = backend.broadcast_shapes(*(getattr(a, "shape", ()) for a in (loc, scale)))
        return loc + scale * self.standard_normal(size)
