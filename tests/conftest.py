"""Shared test helpers: input makers that keep away from kinks, and the checked-operations tally.

Every gradcheck and parity test records the operation it checked with the ``record_op`` fixture
(only after its assertions pass); the terminal summary then says how many operations were checked
each way.
"""

from __future__ import annotations

import functools
import http.server
import importlib.metadata
import threading
from pathlib import Path

import numpy as np
import pytest

_CHECKED: dict[str, set[str]] = {"gradcheck": set(), "parity": set()}
SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: list  # set per server: the paths asked for

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mnist_server(monkeypatch):
    """(base URL, the list of paths requested so far) of a server on 127.0.0.1 of the shared
    MNIST t10k files (skips where ../shared/data/mnist-t10k is absent)."""
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"shared MNIST t10k files not found at {SHARED_MNIST}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    requests = []
    handler = type("Handler", (_Counting,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(SHARED_MNIST)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


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
