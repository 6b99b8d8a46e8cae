"""The MNIST MLP and CNN epochs written by hand in NumPy: floors for issues 9 and 10.

No autograd, no modules, no checks: the three products of the forward, a softmax
cross-entropy written out, the five products and the bias sums of the backward, the ReLU masks
in place, and Adam as one compiled pass over flat buffers (nerve's own kernel; NumPy's passes
when numba is absent). The batch is gathered with ``np.take`` from one permutation per epoch.
Whatever nerve adds to this (graph, modules, checks, the loader) is the framework's cost; what
this case itself takes is what NumPy's BLAS and memory leave for any design. Its ratio to
PyTorch is the best a NumPy library can show for issue 9's targets.

The CNN's floor (:class:`FloorCNN`) is the same idea for issue 10's network, with nerve's own
kernels: the floor of nerve's design rather than of every design.

Each floor's ``step`` is checked equal to nerve's own training step in
tests/test_benchmarks.py, so a floor does the same arithmetic as the epoch it bounds.
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


class _Floor:
    """A network's parameters as views into one flat float32 buffer (their gradients into
    another), Adam over the buffers as nerve's Adam, and an epoch of ``step`` calls on batches
    gathered with ``np.take`` from one permutation. A subclass names its ``state_dict`` keys
    (``NAMES``), may keep matrices transposed (``TRANSPOSED``), and writes ``step``."""

    NAMES: list[str] = []
    TRANSPOSED = False  # matrices kept as (in, out): the products need no transpose

    def __init__(self, state_dict: dict):
        arrays = [np.asarray(state_dict[n], np.float32) for n in self.NAMES]
        arrays = [a.T if self.TRANSPOSED and a.ndim == 2 else a for a in arrays]
        sizes = [a.size for a in arrays]
        self.p, self.g = (np.zeros(sum(sizes), np.float32) for _ in range(2))
        self.m, self.v = np.zeros_like(self.p), np.zeros_like(self.p)
        offsets = np.cumsum([0, *sizes])
        self.params = [self.p[o:o + a.size].reshape(a.shape) for o, a in zip(offsets, arrays)]
        self.grads = [self.g[o:o + a.size].reshape(a.shape) for o, a in zip(offsets, arrays)]
        for view, a in zip(self.params, arrays):
            view[...] = a
        self.t = 0

    def state_dict(self) -> dict:
        return {n: (p.T if self.TRANSPOSED and p.ndim == 2 else p).copy()
                for n, p in zip(self.NAMES, self.params)}

    def step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        raise NotImplementedError

    def epoch(self, x: np.ndarray, y: np.ndarray, rng) -> None:
        perm = rng.permutation(len(x))
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            self.step(np.take(x, idx, axis=0), np.take(y, idx))

    def _adam(self) -> None:
        """Adam over the flat buffers (p, g, m, v, t of ``self``), as nerve's Adam."""
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


class FloorMLP(_Floor):
    """The MLP 784-256-128-10 with Adam; weights kept as ``(in, out)`` views."""

    NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    TRANSPOSED = True

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


def _floor_pair(floor_class, data, models, **torch_adam) -> Pair:
    """The floor's epoch against PyTorch's, on the same data from the same weights."""
    x, y = data()
    nm, tm = models()
    floor, rng = floor_class(nm.state_dict()), np.random.default_rng(0)
    topt = torch.optim.Adam(tm.parameters(), lr=LR, **torch_adam)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    return Pair(lambda: floor.epoch(x, y, rng), lambda: _torch_epoch(tm, topt, X, Y))


@case("mlp_epoch_numpy_floor", "the MLP epoch hand-written in NumPy (no framework): the floor of "
      "any NumPy design, against PyTorch's default Adam")
def mlp_epoch_numpy_floor() -> Pair:
    return _floor_pair(FloorMLP, _data, _models)


@case("mlp_epoch_numpy_floor_fused", "the same floor against PyTorch's Adam(fused=True)")
def mlp_epoch_numpy_floor_fused() -> Pair:
    return _floor_pair(FloorMLP, _data, _models, fused=True)


# --- the CNN ----------------------------------------------------------------------------------
class FloorCNN(_Floor):
    """The MNIST CNN of issue 10 (Conv(1->16)-ReLU-MaxPool -> Conv(16->32)-ReLU-MaxPool ->
    Linear(1568, 128)-ReLU -> Linear(128, 10)) with Adam, written by hand: the issue's
    careful design (channels-last inside, im2col with the bias folded into the product, the
    input gradient as one small product per tap and slice adds) with nerve's best kernels
    (its patches, its compiled ReLU + max pooling and their backward, its Adam pass), and no
    graph, no modules, no checks. Parameters in PyTorch's layouts, views into one buffer.
    Needs numba (the pooling kernels)."""

    NAMES = ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight",
             "9.bias"]

    @staticmethod
    def _conv(xh, w, b):
        """Channels-last xh (N, H, W, C), 3x3, padding 1: (output (N*H*W, O), patches)."""
        from nerve.ops.fused import conv, scratch

        n, h, wd, c = xh.shape
        xpad = scratch.take(np, (n, h + 2, wd + 2, c), xh.dtype)
        conv._pad_into(xpad, xh, (1, 1, 1, 1))
        cols = conv._im2col(np, xpad, (3, 3), (1, 1), (1, 1), (h, wd), True)
        scratch.give(xpad)
        wm = np.empty((cols.shape[1], w.shape[0]), w.dtype)
        wm[:-1] = w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])
        wm[-1] = b
        return cols.dot(wm), cols

    @staticmethod
    def _relu_pool(a):
        from nerve.ops.fused import pool

        y, index = pool._max_and_index(a, (2, 2), (2, 2), (1, 1), (a.shape[1] // 2,
                                                                  a.shape[2] // 2), relu=True)
        if y is None:
            raise RuntimeError("the CNN floor needs nerve's compiled kernels (numba)")
        return y, index

    @staticmethod
    def _relu_pool_back(g, index, shape):
        from nerve.ops.fused import pool

        dx = np.empty(shape, g.dtype)
        pool._max_pool_back_kernel(np.ascontiguousarray(g), index, 2, 2, 2, 2, 1, 1, dx)
        return dx

    def step(self, xb: np.ndarray, yb: np.ndarray) -> None:
        from nerve.ops.fused import conv

        w1, b1, w2, b2, wf1, bf1, wf2, bf2 = self.params
        gw1, gb1, gw2, gb2, gwf1, gbf1, gwf2, gbf2 = self.grads
        n = len(xb)
        a1, cols1 = self._conv(xb.transpose(0, 2, 3, 1), w1, b1)  # (N*784, 16)
        p1, i1 = self._relu_pool(a1.reshape(n, 28, 28, 16))  # (N, 14, 14, 16)
        a2, cols2 = self._conv(p1, w2, b2)  # (N*196, 32)
        p2, i2 = self._relu_pool(a2.reshape(n, 14, 14, 32))  # (N, 7, 7, 32)
        flat = p2.transpose(0, 3, 1, 2).reshape(n, 1568)  # PyTorch's Flatten order: a copy
        h = flat.dot(wf1.T)
        h += bf1
        np.maximum(h, 0, out=h)
        z = h.dot(wf2.T)
        z += bf2
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z[np.arange(n), yb] -= 1
        z *= 1.0 / n
        np.dot(z.T, h, out=gwf2)
        z.sum(axis=0, out=gbf2)
        dh = z.dot(wf2)
        dh *= h > 0
        np.dot(dh.T, flat, out=gwf1)
        dh.sum(axis=0, out=gbf1)
        dflat = dh.dot(wf1).reshape(n, 32, 7, 7).transpose(0, 2, 3, 1)
        da2 = self._relu_pool_back(dflat, i2, (n, 14, 14, 32)).reshape(n * 196, 32)
        r2 = cols2.T.dot(da2)  # (145, 32): the weight gradient and, last row, the bias's
        gw2[...] = r2[:-1].reshape(3, 3, 16, 32).transpose(3, 2, 0, 1)
        gb2[...] = r2[-1]
        dxpad = np.zeros((n, 16, 16, 16), np.float32)
        part = np.empty((n * 196, 16), np.float32)
        for t in range(9):
            p, q = divmod(t, 3)
            da2.dot(w2[:, :, p, q], out=part)
            dxpad[:, p:p + 14, q:q + 14] += part.reshape(n, 14, 14, 16)
        da1 = self._relu_pool_back(dxpad[:, 1:15, 1:15], i1, (n, 28, 28, 16))
        r1 = cols1.T.dot(da1.reshape(n * 784, 16))  # (10, 16)
        gw1[...] = r1[:-1].reshape(3, 3, 1, 16).transpose(3, 2, 0, 1)
        gb1[...] = r1[-1]
        for cols in (cols1, cols2):  # the patches' memory, reused next step as nerve does
            conv._give(cols)
        self._adam()


@case("cnn_epoch_numpy_floor", "the CNN epoch hand-written in NumPy with nerve's kernels (no "
      "framework): the floor of nerve's design, against PyTorch's default Adam")
def cnn_epoch_numpy_floor() -> Pair:
    from benchmarks.cases_cnn import images, models

    return _floor_pair(FloorCNN, images, models)
