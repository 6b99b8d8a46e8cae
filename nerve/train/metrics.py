"""Metrics: accuracy, top-k accuracy, confusion matrix, MSE, MAE and R^2, and the two rules
that fit, evaluate and predict share: which metrics a loss calls for (``default_metrics``) and
what a model's outputs are, logits or probabilities (``output_kind``), which decides where a
single output splits two classes (``decision_threshold``) and what ``predict_proba`` returns.

Each metric is a plain function on arrays (or tensors), and has a running form (``update`` per
batch, ``result`` per epoch) that ``fit`` uses so an epoch's figure covers all of its samples.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from nerve.checks import ShortRepr, as_array, message
from nerve.nn import functional as F
from nerve.nn import loss as losses
from nerve.nn.activation import LogSoftmax, Sigmoid, Softmax
from nerve.nn.container import Sequential

CLASSIFICATION_LOSSES = (losses.CrossEntropyLoss, losses.NLLLoss, losses.BCELoss,
                         losses.BCEWithLogitsLoss, losses.MultiMarginLoss)
REGRESSION_LOSSES = (losses.MSELoss, losses.L1Loss, losses.SSRLoss, losses.SmoothL1Loss,
                     losses.HuberLoss)
BINARY_LOSSES = (losses.BCELoss, losses.BCEWithLogitsLoss)
_BINARY_FUNCTIONS = (F.binary_cross_entropy, F.binary_cross_entropy_with_logits)
_CLASSIFICATION_FUNCTIONS = (F.cross_entropy, F.nll_loss, F.binary_cross_entropy,
                             F.binary_cross_entropy_with_logits, F.multi_margin_loss)
_REGRESSION_FUNCTIONS = (F.mse_loss, F.l1_loss, F.ssr_loss, F.smooth_l1_loss, F.huber_loss)

LOGITS, PROBABILITIES, LOG_PROBABILITIES = "logits", "probabilities", "log_probabilities"
OUTPUT_KINDS = (LOGITS, PROBABILITIES, LOG_PROBABILITIES)
# where one output decides class 1: a logit above 0, a probability above 0.5
THRESHOLDS = {LOGITS: 0.0, PROBABILITIES: 0.5, LOG_PROBABILITIES: math.log(0.5)}
_LOSS_OUTPUTS = (
    ((losses.CrossEntropyLoss, losses.BCEWithLogitsLoss, losses.MultiMarginLoss), LOGITS),
    ((losses.BCELoss,), PROBABILITIES),
    ((losses.NLLLoss,), LOG_PROBABILITIES),
    (REGRESSION_LOSSES, PROBABILITIES),  # the outputs are trained to equal the 0/1 targets
)
_FUNCTION_OUTPUTS = {F.cross_entropy: LOGITS, F.binary_cross_entropy_with_logits: LOGITS,
                     F.multi_margin_loss: LOGITS,
                     F.binary_cross_entropy: PROBABILITIES, F.nll_loss: LOG_PROBABILITIES,
                     **dict.fromkeys(_REGRESSION_FUNCTIONS, PROBABILITIES)}


def default_metrics(loss_fn=None, targets=None) -> tuple[str, ...]:
    """The metrics that ``metrics="auto"`` stands for: accuracy for a classification loss
    (cross-entropy, NLL, binary cross-entropy, multi-class margin, as a Module or its
    function), none for nerve's other losses (regression, multi-label, margins, likelihoods:
    their integer targets are no class indices); for no loss or a function of the user's,
    accuracy when the targets are class indices (integers), else none."""
    if isinstance(loss_fn, CLASSIFICATION_LOSSES) or loss_fn in _CLASSIFICATION_FUNCTIONS:
        return ("accuracy",)
    if isinstance(loss_fn, REGRESSION_LOSSES) or loss_fn in _REGRESSION_FUNCTIONS:
        return ()
    if isinstance(loss_fn, (losses._Loss, losses.SSRLoss)) or \
            getattr(loss_fn, "__module__", None) == F.__name__:
        return ()  # nerve's other losses (multi-label, margins, likelihoods): no accuracy
    if targets is not None and as_array(targets).dtype.kind in "biu":
        return ("accuracy",)
    return ()


def last_layer(model):
    """The module that produces a model's output: the last layer of nested ``Sequential``s,
    else the model itself."""
    while isinstance(model, Sequential) and len(model):
        model = model[-1]
    return model


def loss_outputs(loss_fn) -> str | None:
    """What a loss takes the outputs for: ``"logits"`` (cross-entropy, BCE with logits),
    ``"probabilities"`` (BCE; a regression loss, whose outputs are trained to equal the
    targets), ``"log_probabilities"`` (NLL), or None for a loss nerve does not know."""
    for kinds, kind in _LOSS_OUTPUTS:
        if isinstance(loss_fn, kinds):
            return kind
    try:
        return _FUNCTION_OUTPUTS.get(loss_fn)
    except TypeError:  # an unhashable callable
        return None


def layer_outputs(model) -> str | None:
    """What a model's last layer makes of its outputs: probabilities (Sigmoid, Softmax),
    log-probabilities (LogSoftmax), or None (anything else: nothing says)."""
    layer = last_layer(model)
    if isinstance(layer, LogSoftmax):
        return LOG_PROBABILITIES
    return PROBABILITIES if isinstance(layer, (Sigmoid, Softmax)) else None


def output_kind(loss_fn=None, model=None) -> str | None:
    """What the model's outputs are, from what is known, never from their values: the loss
    given; else the loss that ``fit`` last trained the model with (``model.output_kind_``);
    else the model's last layer (Sigmoid/Softmax, LogSoftmax); else None."""
    kind = loss_outputs(loss_fn)
    if kind is None and model is not None:
        kind = getattr(model, "output_kind_", None) or layer_outputs(model)
    return kind


def outputs_probabilities(model) -> bool:
    """Whether the model's outputs are probabilities: its last layer is a Sigmoid or Softmax."""
    return layer_outputs(model) == PROBABILITIES


def decision_threshold(loss_fn=None, model=None) -> float | None:
    """The score above which a single output decides class 1: 0 for logits, 0.5 for
    probabilities, log(0.5) for log-probabilities, as ``output_kind`` tells them apart
    (BCEWithLogitsLoss: 0; BCELoss or a regression loss: 0.5; a model ending in Sigmoid: 0.5);
    None when nothing tells. fit, evaluate and predict_classes all decide here.
    """
    kind = output_kind(loss_fn, model)
    return None if kind is None else THRESHOLDS[kind]


def predicted_classes(pred, threshold: float) -> np.ndarray:
    """Class decisions: argmax over classes, or ``pred > threshold`` for one output."""
    p = as_array(pred)
    if p.ndim >= 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    return (p.reshape(len(p), *p.shape[2:]) > threshold).astype(np.int64)


def accuracy(pred, target, threshold: float = 0.5, multilabel: bool = False,
             ignore_index: int | None = None) -> float:
    """Fraction of samples whose decided class equals the target (index, one-hot or class
    probabilities).

    A single output decides at ``threshold``: 0.5 suits probabilities; pass 0 for logits.
    ``multilabel`` (targets of 0/1 per output, as binary cross-entropy trains them): the
    fraction of outputs decided right, each at ``threshold`` (Keras's binary accuracy).
    ``ignore_index``: class-index targets of that value are left out (the loss's; NaN when
    every target is).
    """
    p, t = as_array(pred), as_array(target)
    if multilabel:
        if t.size != p.size:
            raise ValueError(f"accuracy: multilabel targets need one 0/1 value per output: "
                             f"outputs of shape {p.shape}, targets of shape {t.shape}")
        return float(((p > threshold) == (t.reshape(p.shape) > 0.5)).mean())
    decided = predicted_classes(p, threshold)
    if t.ndim == p.ndim >= 2 and t.shape == p.shape and p.shape[1] > 1:  # one-hot or
        sums = t.sum(axis=1)  # probabilities over the classes (axis 1)
        if not np.allclose(sums, 1, atol=1e-3):
            raise ValueError(message(
                "accuracy", "targets of class indices, one-hot rows or class probabilities "
                "(rows summing to 1); targets with several 1s or none in a row are multilabel: "
                "train with a binary cross-entropy loss or use accuracy(..., multilabel=True)",
                "target row sums", ShortRepr(sums)))
        t = t.argmax(axis=1)
    right = decided == t.reshape(decided.shape)
    if ignore_index is not None and t.dtype.kind in "iu":
        kept = t.reshape(decided.shape) != ignore_index
        if not kept.all():
            return float(right[kept].mean()) if kept.any() else float("nan")
    return float(right.mean())


def top_k_accuracy(pred, target, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores."""
    p, t = as_array(pred), as_array(target).reshape(-1)
    if p.ndim != 2 or not 1 <= k <= p.shape[1]:
        raise ValueError(f"top_k_accuracy: needs scores (N, C) with 1 <= k <= C, got shape "
                         f"{p.shape} and k={k}")
    top = np.argpartition(-p, k - 1, axis=1)[:, :k]
    return float((top == t[:, None]).any(axis=1).mean())


def confusion_matrix(target, pred_classes, num_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of samples of true class i decided as class j."""
    t, p = as_array(target).reshape(-1).astype(np.int64), as_array(pred_classes).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"confusion_matrix: {len(t)} targets but {len(p)} predictions")
    n = num_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    for name, labels in (("target", t), ("pred_classes", p)):
        if len(labels) and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(message("confusion_matrix", f"class indices in [0, {n})",
                                     f"{name} range", (int(labels.min()), int(labels.max()))))
    return np.bincount(t * n + p.astype(np.int64), minlength=n * n).reshape(n, n)


def mean_squared_error(pred, target) -> float:
    p = as_array(pred)
    return float(np.mean((p - as_array(target).reshape(p.shape)) ** 2))


def mean_absolute_error(pred, target) -> float:
    p = as_array(pred)
    return float(np.mean(np.abs(p - as_array(target).reshape(p.shape))))


def r2_score(pred, target) -> float:
    """1 - SS_res / SS_tot: the fraction of the target's variance that the model explains;
    with several outputs, the mean of each output's R^2 (scikit-learn's ``uniform_average``).
    NaN when an output's target is constant."""
    metric = R2()
    metric.update(pred, target)
    return metric.result()


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
    """Running accuracy; ``threshold=None`` lets fit and evaluate decide it by
    ``decision_threshold`` (alone, it then decides as ``accuracy`` does, at 0.5). When fit or
    evaluate cannot tell logits from probabilities, a single output raises instead of being
    decided at a guessed threshold."""

    name = "accuracy"

    def __init__(self, threshold: float | None = None, multilabel: bool = False,
                 ignore_index: int | None = None):
        self.threshold, self.multilabel, self.ignore_index = threshold, multilabel, ignore_index
        self.undecided = False  # set by make_metrics: nothing tells where one output splits
        super().__init__()

    def update(self, pred, target) -> None:
        t = as_array(target)
        if self.ignore_index is not None and t.dtype.kind in "iu":
            kept = int(np.count_nonzero(t != self.ignore_index))  # the targets that count
            if kept < t.size:  # (all of them, most often: the plain update below)
                if kept:
                    self.total += self.batch_value(pred, target) * kept
                    self.count += kept
                return
        super().update(pred, target)

    def batch_value(self, pred, target) -> float:
        if self.threshold is None:
            if self.undecided and _single_output(pred):
                raise ValueError(message(
                    "accuracy", "a threshold for a single output that nothing says is a logit "
                    "(decide at 0) or a probability (at 0.5): use a loss nerve knows, end the "
                    "model in Sigmoid, or pass metrics=[Accuracy(threshold=...)]",
                    "threshold", None))
            return accuracy(pred, target, multilabel=self.multilabel,
                            ignore_index=self.ignore_index)
        return accuracy(pred, target, self.threshold, self.multilabel, self.ignore_index)


def _single_output(pred) -> bool:
    p = as_array(pred)
    return not (p.ndim >= 2 and p.shape[1] > 1)


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
    """R^2 over the whole epoch (not an average of batch R^2); with several outputs, the mean
    of each output's R^2, as :func:`r2_score`. Each output keeps its count, mean, sum of
    squared deviations from the mean and sum of squared residuals, and a batch is merged in
    by Chan's formula: no large sums that cancel (targets near 1e8 keep their variance)."""

    name = "r2"

    def reset(self) -> None:
        self.n, self.mean, self.m2, self.res = 0, 0.0, 0.0, 0.0

    def update(self, pred, target) -> None:
        p = as_array(pred).astype(np.float64)
        t = as_array(target).astype(np.float64).reshape(p.shape)
        p, t = p.reshape(len(p), -1), t.reshape(len(t), -1)  # one column per output
        if len(t):
            mean = t.mean(axis=0)
            self.merge(len(t), mean, ((t - mean) ** 2).sum(axis=0), ((t - p) ** 2).sum(axis=0))

    def merge(self, n: int, mean, m2, res) -> None:
        """Add the statistics of ``n`` more samples (another batch, another process's)."""
        if not n:
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.n * n / total)
        self.res = self.res + res
        self.n = total

    def result(self) -> float:
        if not self.n or np.any(np.asarray(self.m2) <= 0):
            return float("nan")
        return float(np.mean(1 - np.asarray(self.res) / self.m2))


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
            raise ValueError(message("get_metric", f"a metric name in {sorted(METRICS)} or "
                                     "top_<k>_accuracy", "metric", spec))
        return METRICS[spec]()
    if callable(spec):
        metric = Metric()
        metric.name = getattr(spec, "__name__", "metric")
        metric.batch_value = lambda p, t: float(spec(p, t))
        return metric
    raise TypeError(message("get_metric", "a metric name, a Metric or a function (pred, "
                            "target) -> float", "metric", spec))


def make_metrics(specs, threshold: float | None, multilabel: bool = False,
                 ignore_index: int | None = None) -> list[Metric]:
    """Return fresh running metrics for ``specs`` (a Metric given is copied, so that a run's
    training and validation figures never share state); an accuracy without a threshold of its
    own decides at ``threshold`` (None: a single output raises, as nothing tells where it
    splits; several outputs are decided by their argmax), and with ``multilabel`` (a binary
    cross-entropy loss: each output its own yes or no) each output on its own; targets equal to
    ``ignore_index`` (the loss's) are left out of an accuracy that has none of its own."""
    metrics = [copy.deepcopy(s) if isinstance(s, Metric) else get_metric(s) for s in specs]
    for m in metrics:
        if isinstance(m, Accuracy) and m.threshold is None:
            m.threshold, m.undecided = threshold, threshold is None
        if isinstance(m, Accuracy) and multilabel:
            m.multilabel = True
        if isinstance(m, Accuracy) and m.ignore_index is None:
            m.ignore_index = ignore_index
    return metrics


def binary_loss(loss_fn) -> bool:
    """Whether a loss is binary cross-entropy (each output a separate yes or no)."""
    return isinstance(loss_fn, BINARY_LOSSES) or any(loss_fn is f for f in _BINARY_FUNCTIONS)
