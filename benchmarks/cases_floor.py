"""The MNIST MLP epoch written by hand in NumPy: the floor of any NumPy design on this machine.

No autograd, no modules, no checks: the three products of the forward, a softmax
cross-entropy written out, the five products and the bias sums of the backward, the ReLU masks
in place, and Adam as one compiled pass over flat buffers (nerve's own kernel; NumPy's passes
when numba is absent). The batch is gathered with ``np.take`` from one permutation per epoch.
Whatever nerve adds to this (graph, modules, checks, the loader) is the framework's cost; what
this case itself takes is what NumPy's BLAS and memory leave for any design. Its ratio to
PyTorch is the best a NumPy library can show for issue 9's targets.

``floor_step`` is checked equal to nerve's own training step in tests/test_benchmarks.py, so
the floor does the same arithmetic as the epoch it bounds.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks.cases_mlp import BATCH, _data, _models, _torch_epoch
from benchmarks.harness import Pair, case
from nerve import jit
from nerve.optim.adam import _adam_kernel

LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


class FloorMLP:
    """The MLP 784-256-128-10 with Adam, as flat NumPy buffers; ``state_dict`` in nerve's names.

    Weights are kept as ``(in, out)`` views (the products need no transpose), all six
    parameters views into one float32 buffer, their gradients into another.
    """

    def __init__(self, state_dict: dict):
        names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
        arrays = [np.asarray(state_dict[n], np.float32) for n in names]
        arrays = [a.T if a.ndim == 2 else a for a in arrays]
        sizes = [a.size for a in arrays]
        self.p, self.g = (np.zeros(sum(sizes), np.float32) for _ in range(2))
        self.m, self.v = np.zeros_like(self.p), np.zeros_like(self.p)
        offsets = np.cumsum([0, *sizes])
        self.params = [self.p[o:o + a.size].reshape(a.shape) for o, a in zip(offsets, arrays)]
        self.grads = [self.g[o:o + a.size].reshape(a.shape) for o, a in zip(offsets, arrays)]
        for view, a in zip(self.params, arrays):
            view[...] = a
        self.names, self.t = names, 0

    def state_dict(self) -> dict:
        return {n: (p.T if p.ndim == 2 else p).copy() for n, p in zip(self.names, self.params)}

    def step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        w1, b1, w2, b2, w3, b3 = self.params
        gw1, gb1, gw2, gb2, gw3, gb3 = self.grads
        h1 = xb @ w1
        h1 += b1
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w2
        h2 += b2
        np.maximum(h2, 0, out=h2)
        z = h2 @ w3
        z += b3
        z -= z.max(axis=1, keepdims=True)  # softmax, then its cross-entropy's gradient
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z[np.arange(len(yb)), yb] -= 1
        z *= 1.0 / len(yb)
        np.dot(h2.T, z, out=gw3)
        z.sum(axis=0, out=gb3)
        d2 = z @ w3.T
        d2 *= h2 > 0
        np.dot(h1.T, d2, out=gw2)
        d2.sum(axis=0, out=gb2)
        d1 = d2 @ w2.T
        d1 *= h1 > 0
        np.dot(xb.T, d1, out=gw1)
        d1.sum(axis=0, out=gb1)
        self._adam()

    def _adam(self) -> None:
        self.t += 1
        c1, c2 = 1 - BETA1**self.t, math.sqrt(1 - BETA2**self.t)
        f = np.float32
        scale, eps = f(c1 / (LR * c2)), f(EPS * c1 / LR)
        if jit.usable(self.p, self.g, self.m, self.v):
            _adam_kernel(self.p, self.g, self.m, self.v, f(1.0), False, f(0.0), f(1 - BETA1),
                         f(BETA2), f(1 - BETA2), scale, eps)
            return
        self.m += (self.g - self.m) * f(1 - BETA1)  # Adam's NumPy passes, as nerve's
        self.v *= f(BETA2)
        self.v += self.g * self.g * f(1 - BETA2)
        self.p -= self.m / (np.sqrt(self.v) * scale + eps)


def _floor_pair(**torch_adam) -> Pair:
    x, y = _data()
    nm, tm = _models()
    floor = FloorMLP(nm.state_dict())
    rng = np.random.default_rng(0)

    def epoch():
        perm = rng.permutation(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            floor.step(np.take(x, idx, axis=0), np.take(y, idx))

    topt = torch.optim.Adam(tm.parameters(), lr=LR, **torch_adam)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    return Pair(epoch, lambda: _torch_epoch(tm, topt, X, Y))


@case("mlp_epoch_numpy_floor", "the MLP epoch hand-written in NumPy (no framework): the floor of "
      "any NumPy design, against PyTorch's default Adam")
def mlp_epoch_numpy_floor() -> Pair:
    return _floor_pair()


@case("mlp_epoch_numpy_floor_fused", "the same floor against PyTorch's Adam(fused=True)")
def mlp_epoch_numpy_floor_fused() -> Pair:
    return _floor_pair(fused=True)
