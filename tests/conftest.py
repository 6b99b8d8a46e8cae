"""Shared test helpers: input makers that keep away from kinks, and the checked-operations tally.

Every gradcheck and parity test records the operation it checked with the ``record_op`` fixture
(only after its assertions pass); the terminal summary then says how many operations were checked
each way.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

_CHECKED: dict[str, set[str]] = {"gradcheck": set(), "parity": set()}


@pytest.fixture
def record_op():
    """Return ``record(kind, op)``: note that ``op`` passed a "gradcheck" or "parity" check."""

    def record(kind: str, op: str) -> None:
        _CHECKED[kind].add(op)

    return record


def pytest_terminal_summary(terminalreporter):
    grad, parity = sorted(_CHECKED["gradcheck"]), sorted(_CHECKED["parity"])
    if not grad and not parity:
        return
    try:  # the installed version, without importing torch (seconds) when no parity test ran
        version = importlib.metadata.version("torch").split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed)"
    tr = terminalreporter
    tr.write_sep("-", "operations checked")
    tr.write_line(f"gradcheck: {len(grad)} operations checked against finite differences")
    tr.write_line(f"parity: {len(parity)} operations checked against PyTorch {version}")
    if tr.config.getoption("verbose") > 0:
        tr.write_line("gradcheck ops: " + ", ".join(grad))
        tr.write_line("parity ops: " + ", ".join(parity))


# --- input makers ------------------------------------------------------------------------------
# Finite differences need smooth points: values stay at least 0.1 away from every kink
# (0 for abs/relu, the bounds of clip, ties for max/min), far beyond the step eps=1e-6.

def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def smooth(shape, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Values in [-2, 2] on an even grid of 0.2 (odd tenths are kept free for thresholds)."""
    return (rng(seed).integers(-10, 11, size=shape) * 0.2 + 0.0).astype(dtype)


def off_grid(shape, seed: int = 1, dtype=np.float64) -> np.ndarray:
    """Values on the odd tenths: never within 0.1 of a :func:`smooth` value."""
    return (rng(seed).integers(-10, 10, size=shape) * 0.2 + 0.1).astype(dtype)


def away_from_zero(shape, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Values with 0.3 <= |x| <= 2 and random signs."""
    r = rng(seed)
    return (r.uniform(0.3, 2.0, size=shape) * r.choice([-1.0, 1.0], size=shape)).astype(dtype)


def positive(shape, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Values in [0.5, 2] (log, sqrt, division, a base of pow)."""
    return rng(seed).uniform(0.5, 2.0, size=shape).astype(dtype)


def distinct(shape, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Values 0.1 apart in random order: no ties for max and min."""
    n = int(np.prod(shape, dtype=np.int64))
    return (rng(seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape).astype(dtype)
