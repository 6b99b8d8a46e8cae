"""The benchmark registry, the timer and the report (machine, versions, threads, table)."""

from __future__ import annotations

import datetime
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

SETTLE_SECONDS = 0.2  # pause before each block of samples (see run_case)
# A case is marked disturbed when its samples' spread or the other processes' load exceed these.
# On a quiet 2-core VM the spread is 10-50% anyway; a busy machine gives 100% and more.
NOISY_SPREAD = 0.5
NOISY_LOAD = 0.2  # cores


@dataclass
class Pair:
    """One workload written twice: ``nerve()`` and ``torch()`` each run it once on the same data.

    ``check`` (optional) returns pairs (nerve array, torch array) to compare after one run of
    each, so that a case is known to do the same work in both libraries.
    """

    nerve: Callable[[], object]
    torch: Callable[[], object]
    check: Callable[[], Sequence[tuple]] | None = None


@dataclass
class Case:
    name: str
    description: str
    setup: Callable[[], Pair]


@dataclass
class Result:
    name: str
    description: str
    nerve_ms: float  # median time per call
    torch_ms: float
    ratio: float  # nerve_ms / torch_ms
    number: int  # calls per timed sample
    repeat: int  # timed samples per library
    outside_load: float | None  # cores busy with other processes while timing (None: unknown)
    nerve_samples_ms: list[float] = field(default_factory=list)
    torch_samples_ms: list[float] = field(default_factory=list)

    @property
    def spread(self) -> float:
        """The larger interquartile range / median of the two libraries' samples."""
        return max(_relative_iqr(self.nerve_samples_ms), _relative_iqr(self.torch_samples_ms))

    @property
    def disturbed(self) -> bool:
        return self.spread > NOISY_SPREAD or (self.outside_load or 0.0) > NOISY_LOAD

    def as_dict(self) -> dict:
        return asdict(self) | {"spread": self.spread}


CASES: dict[str, Case] = {}


def case(name: str, description: str = ""):
    """Register ``setup() -> Pair`` as the benchmark ``name``."""

    def register(setup: Callable[[], Pair]) -> Callable[[], Pair]:
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        CASES[name] = Case(name, description or (setup.__doc__ or "").strip(), setup)
        return setup

    return register


# --- timing -----------------------------------------------------------------------------------
def _relative_iqr(samples: Sequence[float]) -> float:
    if len(samples) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def _sample(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, timed over ``number`` calls in a row."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _settle() -> None:
    """Let the other library's idle BLAS/OpenMP threads stop spinning (they do for ~0.1 s)."""
    gc.collect()
    time.sleep(SETTLE_SECONDS)


def _calls_per_sample(pair: Pair, seconds: float) -> int:
    """Pick how many calls make one sample of about ``seconds`` for the slower library."""
    per_call = 0.0
    for fn in (pair.nerve, pair.torch):
        _settle()
        number = 1
        while (t := _sample(fn, number) * number) < 0.01 and number < 1_000_000:
            number *= 4
        per_call = max(per_call, min(t / number, *(_sample(fn, number) for _ in range(2))))
    return max(1, round(seconds / per_call))


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (including steal), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def check_pair(pair: Pair, name: str) -> None:
    """Raise if the two libraries' results differ (after one run of each)."""
    if pair.check is None:
        return
    for i, (ours, theirs) in enumerate(pair.check()):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=1e-3, atol=1e-4):
            worst = np.max(np.abs(ours - theirs)) if ours.shape == theirs.shape else "shape"
            raise RuntimeError(f"{name}: nerve and torch disagree on result {i} "
                               f"(shapes {ours.shape} and {theirs.shape}, max diff {worst})")


def run_case(c: Case, repeat: int, seconds: float, rounds: int = 3) -> Result:
    """Warm up, then time ``repeat`` samples of each library and take their medians.

    ``seconds`` is the time spent in timed samples; each sample is ``seconds / (2 * repeat)``.
    The samples come in ``rounds`` blocks per library, alternating, so that a drift of the
    clock hits both. Each block starts after a pause and a few untimed calls: both libraries
    keep their BLAS/OpenMP threads spinning for a while after work, and on a small machine one
    library's spinning threads would slow the other one down many times over.
    """
    pair = c.setup()
    pair.nerve()
    pair.torch()
    check_pair(pair, c.name)
    number = _calls_per_sample(pair, seconds / (2 * repeat))
    rounds = min(rounds, repeat)
    samples: dict[str, list[float]] = {"nerve": [], "torch": []}
    busy0, cpu0, wall0 = _machine_busy_seconds(), time.process_time(), time.perf_counter()
    for r in range(rounds):
        block = repeat // rounds + (r < repeat % rounds)
        for lib, times in samples.items():
            fn = getattr(pair, lib)
            _settle()
            _sample(fn, max(1, number // 4))
            times.extend(_sample(fn, number) * 1e3 for _ in range(block))
    busy1, cpu1, wall1 = _machine_busy_seconds(), time.process_time(), time.perf_counter()
    outside = None
    if busy0 is not None and busy1 is not None:
        outside = max(0.0, (busy1 - busy0) - (cpu1 - cpu0)) / (wall1 - wall0)
    ours, theirs = samples["nerve"], samples["torch"]
    n_ms, t_ms = statistics.median(ours), statistics.median(theirs)
    return Result(c.name, c.description, n_ms, t_ms, n_ms / t_ms, number, repeat, outside,
                  ours, theirs)


# --- the machine ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_threads() -> str:
    """NumPy's BLAS and its threads (threadpoolctl if installed, else the environment)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        env = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in keys)
        return f"threadpoolctl not installed; {env}"
    libs = [  # numpy's own BLAS lives in numpy/ or numpy.libs/ (torch brings its own pools)
        f"{i['internal_api']} {i.get('version') or '?'}, {i['num_threads']} threads"
        for i in threadpool_info()
        if "numpy" in i["filepath"]
    ]
    return "; ".join(libs) or "no BLAS found by threadpoolctl"


def environment() -> dict:
    import torch

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "nerve_jit": _jit(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy_blas": blas_threads(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }


def _jit() -> str:
    """Whether nerve's compiled kernels are on (numba's version), or why not."""
    from nerve import jit

    if not jit.enabled():
        return "off (numba not installed, or NERVE_JIT=0)"
    import numba

    return f"on (numba {numba.__version__})"


def format_environment(env: dict) -> str:
    lines = [
        f"date     {env['date']}",
        f"machine  {env['cpu']}, {env['cores']} cores",
        f"versions python {env['python']}, numpy {env['numpy']}, torch {env['torch']}",
        f"kernels  nerve.jit: {env['nerve_jit']}",
        f"threads  torch {env['torch_threads']}; numpy BLAS: {env['numpy_blas']}",
    ]
    if env["openblas_env"]:
        lines.append("env      " + " ".join(f"{k}={v}" for k, v in env["openblas_env"].items()))
    return "\n".join(lines)


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table: medians of nerve and torch (ms per call), ratio, how clean it was."""
    head = ("case", "nerve ms", "torch ms", "nerve/torch", "spread", "outside", "calls x samples")
    rows = [
        (r.name + (" !" if r.disturbed else ""), f"{r.nerve_ms:.4f}", f"{r.torch_ms:.4f}",
         f"{r.ratio:.2f}x", f"{r.spread:.0%}",
         "?" if r.outside_load is None else f"{r.outside_load:.2f}", f"{r.number} x {r.repeat}")
        for r in results
    ]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in rows]
    lines.append("\nms: median per call. spread: interquartile range / median of the samples. "
                 "outside: cores\nused by other processes while timing.")
    if any(r.disturbed for r in results):
        lines.append(f"!: spread above {NOISY_SPREAD:.0%} or outside load above {NOISY_LOAD} "
                     "cores: the machine was busy; rerun the case (--case NAME).")
    return "\n".join(lines)
