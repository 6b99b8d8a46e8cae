"""The core cases: the fixed cost of one small operation, and one dense layer's forward+backward."""

from __future__ import annotations

import numpy as np
import torch

import nerve
from benchmarks.harness import Pair, case


def _inputs(*shapes, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s, dtype=np.float32) for s in shapes]


def _both(arr: np.ndarray, requires_grad: bool = False):
    """The same float32 data as a nerve tensor and as a torch tensor."""
    return (nerve.tensor(arr, requires_grad=requires_grad),
            torch.tensor(arr, requires_grad=requires_grad))


@case("small_op_overhead", "(a + b).sum().backward(), a and b 1x10 float32")
def small_op_overhead() -> Pair:
    a_np, b_np = _inputs((1, 10), (1, 10))
    na, ta = _both(a_np, requires_grad=True)
    nb, tb = _both(b_np, requires_grad=True)

    def run_nerve():
        na.grad = nb.grad = None
        (na + nb).sum().backward()

    def run_torch():
        ta.grad = tb.grad = None
        (ta + tb).sum().backward()

    return Pair(run_nerve, run_torch, check=lambda: [(na.grad, ta.grad), (nb.grad, tb.grad)])


@case("matmul_relu", "relu(x @ W + b).sum() fwd+bwd, x 64x784, W 784x256, b 256, float32")
def matmul_relu() -> Pair:
    x_np, w_np, b_np = _inputs((64, 784), (784, 256), (256,))
    w_np *= 0.05
    nx, tx = _both(x_np)
    nw, tw = _both(w_np, requires_grad=True)
    nb, tb = _both(b_np, requires_grad=True)

    def run_nerve():
        nw.grad = nb.grad = None
        nerve.relu(nx @ nw + nb).sum().backward()

    def run_torch():
        tw.grad = tb.grad = None
        torch.relu(tx @ tw + tb).sum().backward()

    return Pair(run_nerve, run_torch, check=lambda: [(nw.grad, tw.grad), (nb.grad, tb.grad)])
