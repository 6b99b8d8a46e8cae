"""Rosenblatt's perceptron (1958), exactly as the seed tells it."""

from __future__ import annotations

import warnings

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, check_number, check_positive_int
from nerve.nn.module import Module
from nerve.nn.parameter import Parameter
from nerve.ops import step


class ConvergenceWarning(UserWarning):
    """A learning rule stopped at its step limit without converging."""


class Perceptron(Module):
    """One neuron: a weighted sum of the inputs plus a bias, then a step.

    ``y_hat = 1 if w . x + b > 0 else 0``; a threshold t is a bias of -t. Give ``weights``
    (and ``bias`` or ``threshold``) to use a neuron as it is, or ``n_inputs`` and call ``fit``,
    which applies the perceptron learning rule to one sample at a time::

        w += lr * (y - y_hat) * x        b += lr * (y - y_hat)

    until an epoch makes no mistake (``converged_`` is True) or ``max_epochs`` pass. That
    happens for linearly separable data (AND, OR) and never for XOR, for which ``fit`` warns.

    The seed's surfing example: ``Perceptron(weights=[5, 2, 4], threshold=3)`` on inputs
    (1, 0, 1) gives the weighted sum 1*5 + 0*2 + 1*4 - 3 = 6 > 0, so the output is 1: go.

    Shape: (N, n_inputs) -> (N,), or (n_inputs,) -> ()
    """

    def __init__(self, n_inputs: int | None = None, *, weights=None, bias: float = 0.0,
                 threshold: float | None = None, lr: float = 1.0, max_epochs: int = 100):
        super().__init__()
        if weights is None:
            if n_inputs is None:
                raise TypeError("Perceptron needs n_inputs or weights")
            w = [0.0] * check_positive_int(n_inputs, "n_inputs", "Perceptron")
        else:
            w = as_array(weights).astype(backend.float64).reshape(-1)
            if n_inputs is not None and w.size != n_inputs:
                raise ValueError(f"Perceptron: expected n_inputs={n_inputs} weights. "
                                 f"Received: {w.size} weights")
        if threshold is not None:
            bias = -check_number(threshold, "threshold", "Perceptron")
        check_number(bias, "bias", "Perceptron")
        check_number(lr, "lr", "Perceptron", 0.0, low_open=True)
        dtype = backend.get_default_dtype()
        self.weight = Parameter([w], dtype=dtype, requires_grad=False)
        self.bias = Parameter([bias], dtype=dtype, requires_grad=False)
        self.lr = float(lr)
        self.max_epochs = check_positive_int(max_epochs, "max_epochs", "Perceptron")
        self.converged_ = False
        self.errors_: list[int] = []

    @property
    def n_inputs(self) -> int:
        return self.weight.shape[1]

    @property
    def threshold(self) -> float:
        """The value the weighted inputs must exceed to fire: minus the bias."""
        return -float(self.bias._data[0])

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.bias._data[0] = -check_number(value, "threshold", "Perceptron")
        self.bias._bump()

    def _inputs(self, x):
        arr = as_array(x).astype(self.weight.dtype, copy=False)
        if arr.shape[-1:] != (self.n_inputs,) or arr.ndim > 2:
            raise ValueError(f"Perceptron: expected inputs of shape (N, {self.n_inputs}) or "
                             f"({self.n_inputs},), received {arr.shape}")
        return arr

    def weighted_sum(self, x):
        """Return w . x + b for each sample: the number the step compares with 0."""
        z = self._inputs(x) @ self.weight._data[0] + self.bias._data[0]
        return z.item() if getattr(z, "ndim", 0) == 0 else z

    def forward(self, x) -> Tensor:
        return step(Tensor(self.weighted_sum(x), dtype=self.weight.dtype))

    def predict(self, x):
        """Return 1 (fire) or 0 for each sample, as ints."""
        out = self.forward(x)._data.astype(backend.int64)
        return int(out) if out.ndim == 0 else out

    def fit(self, x, y) -> Perceptron:
        """Apply the perceptron learning rule until an epoch has no mistake or max_epochs."""
        xs = self._inputs(x)
        ys = as_array(y).reshape(-1)
        if xs.ndim != 2:
            raise ValueError(f"Perceptron.fit: expected x of shape (N, {self.n_inputs}), "
                             f"received {xs.shape}")
        if len(xs) != len(ys):
            raise ValueError(f"Perceptron.fit: x has {len(xs)} samples but y has {len(ys)}")
        if ys.dtype.kind not in "biuf" or not ((ys == 0) | (ys == 1)).all():
            raise ValueError(f"Perceptron.fit: labels must be 0 or 1, got "
                             f"{backend.array_module(ys).unique(ys)}")
        ys = ys.astype(backend.int64)
        w, b = self.weight._data[0], self.bias._data
        self.errors_, self.converged_ = [], False
        for _ in range(self.max_epochs):
            mistakes = 0
            for xi, yi in zip(xs, ys):  # the rule is sequential: each update sees the last
                err = yi - (xi @ w + b[0] > 0)
                if err:
                    w += self.lr * err * xi
                    b += self.lr * err
                    mistakes += 1
            self.errors_.append(mistakes)
            self.weight._bump()
            self.bias._bump()
            if mistakes == 0:
                self.converged_ = True
                break
        if not self.converged_:
            warnings.warn(f"Perceptron did not converge in {self.max_epochs} epochs: the data "
                          "is not linearly separable (XOR is not)", ConvergenceWarning,
                          stacklevel=2)
        return self

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, lr={self.lr}"
