"""Metrics: accuracy, top-k accuracy, confusion matrix, MSE, MAE and R^2.

Each is a plain function on arrays (or tensors), and has a running form (``update`` per batch,
``result`` per epoch) that ``fit`` uses so an epoch's figure covers all of its samples.
"""

from __future__ import annotations

import numpy as np

from nerve.autograd import Tensor


def _np(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def predicted_classes(pred, threshold: float = 0.5) -> np.ndarray:
    """Class decisions: argmax over classes, or ``pred > threshold`` for one output."""
    p = _np(pred)
    if p.ndim >= 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    return (p.reshape(len(p), *p.shape[2:]) > threshold).astype(np.int64)


def accuracy(pred, target, threshold: float = 0.5) -> float:
    """Fraction of samples whose decided class equals the target (index or one-hot)."""
    decided, t = predicted_classes(pred, threshold), _np(target)
    if t.ndim == 2 and t.shape[1] > 1:  # probabilities or one-hot
        t = t.argmax(axis=1)
    return float((decided == t.reshape(decided.shape)).mean())


def top_k_accuracy(pred, target, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores."""
    p, t = _np(pred), _np(target).reshape(-1)
    if p.ndim != 2 or not 1 <= k <= p.shape[1]:
        raise ValueError(f"top_k_accuracy: needs scores (N, C) with 1 <= k <= C, got shape "
                         f"{p.shape} and k={k}")
    top = np.argpartition(-p, k - 1, axis=1)[:, :k]
    return float((top == t[:, None]).any(axis=1).mean())


def confusion_matrix(target, pred_classes, num_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of samples of true class i decided as class j."""
    t, p = _np(target).reshape(-1).astype(np.int64), _np(pred_classes).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"confusion_matrix: {len(t)} targets but {len(p)} predictions")
    n = num_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * n + p.astype(np.int64), minlength=n * n).reshape(n, n)


def mean_squared_error(pred, target) -> float:
    return float(np.mean((_np(pred) - _np(target).reshape(_np(pred).shape)) ** 2))


def mean_absolute_error(pred, target) -> float:
    return float(np.mean(np.abs(_np(pred) - _np(target).reshape(_np(pred).shape))))


def r2_score(pred, target) -> float:
    """1 - SS_res / SS_tot: the fraction of the target's variance that the model explains."""
    p, t = _np(pred).astype(np.float64), _np(target).astype(np.float64).reshape(_np(pred).shape)
    ss_tot = ((t - t.mean()) ** 2).sum()
    return float(1 - ((t - p) ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan")


class Metric:
    """A running metric: ``update(pred, target)`` per batch, ``result()`` for the epoch."""

    name = "metric"

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def __init__(self):
        self.reset()

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        n = len(target)
        self.total += self.batch_value(pred, target) * n
        self.count += n

    def batch_value(self, pred, target) -> float:
        raise NotImplementedError

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")


class Accuracy(Metric):
    name = "accuracy"

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__()

    def batch_value(self, pred, target) -> float:
        return accuracy(pred, target, self.threshold)


class TopKAccuracy(Metric):
    def __init__(self, k: int = 5):
        self.k, self.name = k, f"top_{k}_accuracy"
        super().__init__()

    def batch_value(self, pred, target) -> float:
        return top_k_accuracy(pred, target, self.k)


class MSE(Metric):
    name = "mse"

    def batch_value(self, pred, target) -> float:
        return mean_squared_error(pred, target)


class MAE(Metric):
    name = "mae"

    def batch_value(self, pred, target) -> float:
        return mean_absolute_error(pred, target)


class R2(Metric):
    """R^2 over the whole epoch, from running sums (not an average of batch R^2)."""

    name = "r2"

    def reset(self) -> None:
        self.n, self.s, self.s2, self.res = 0, 0.0, 0.0, 0.0

    def update(self, pred, target) -> None:
        p = np.asarray(pred, np.float64)
        t = np.asarray(target, np.float64).reshape(p.shape)
        self.n += t.size
        self.s += t.sum()
        self.s2 += (t * t).sum()
        self.res += ((t - p) ** 2).sum()

    def result(self) -> float:
        ss_tot = self.s2 - self.s * self.s / self.n if self.n else 0.0
        return 1 - self.res / ss_tot if ss_tot > 0 else float("nan")


METRICS = {"accuracy": Accuracy, "acc": Accuracy, "top_5_accuracy": lambda: TopKAccuracy(5),
           "top_k_accuracy": lambda: TopKAccuracy(5), "mse": MSE, "mae": MAE, "r2": R2}


def get_metric(spec) -> Metric:
    """Return a running metric for a name (see ``METRICS``), a Metric, or a function."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        if spec.startswith("top_") and spec.endswith("_accuracy") and spec[4:-9].isdigit():
            return TopKAccuracy(int(spec[4:-9]))
        if spec not in METRICS:
            raise ValueError(f"unknown metric {spec!r}; valid: {sorted(METRICS)} or "
                             "top_<k>_accuracy or a function (pred, target) -> float")
        return METRICS[spec]()
    if callable(spec):
        metric = Metric()
        metric.name = getattr(spec, "__name__", "metric")
        metric.batch_value = lambda p, t: float(spec(p, t))
        return metric
    raise TypeError(f"a metric is a name, a Metric or a function, got {type(spec).__name__}")
