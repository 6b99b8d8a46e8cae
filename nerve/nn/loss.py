"""Loss modules: MSELoss, SSRLoss (the seed's sum of squared residuals), CrossEntropyLoss,
NLLLoss, BCELoss, BCEWithLogitsLoss, L1Loss, SmoothL1Loss, HuberLoss. Each is
``loss(input, target) -> Tensor``."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_int, check_number, message, numeric_array
from nerve.nn import functional as F
from nerve.nn.module import Module


class _Loss(Module):
    _takes_tensor = True

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A classification loss with per-class weights (a buffer, in ``state_dict`` as PyTorch's)
    and an ``ignore_index``."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        who = type(self).__name__
        if weight is not None:
            w = numeric_array(weight, "weight", who)
            if w.ndim != 1 or not w.size:
                raise ValueError(message(who, "a 1-D tensor of class weights (one per class)",
                                         "weight.shape", w.shape))
            # a float weight keeps its dtype, as PyTorch's tensor (Tensor() alone would round
            # float64 to the default float32); ints become the default float
            weight = Tensor(w, dtype=w.dtype if w.dtype.kind == "f" else
                            backend.get_default_dtype())
        self.register_buffer("weight", weight)
        self.ignore_index = check_int(ignore_index, "ignore_index", who)

    def extra_repr(self) -> str:
        extra = "" if self.ignore_index == -100 else f"ignore_index={self.ignore_index}, "
        return extra + super().extra_repr()


class MSELoss(_Loss):
    """Mean squared error: mean((input - target)^2)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class SSRLoss(Module):
    """Sum of squared residuals: sum((observed - predicted)^2), the seed's loss."""

    _takes_tensor = True
    reduction = "sum"  # what it is (fit adds its batches up), not an option

    def forward(self, input, target):
        return F.ssr_loss(input, target)


class L1Loss(_Loss):
    """Mean absolute error: mean(|input - target|)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of softmax(logits): -log(predicted probability of the true class).

    Takes raw logits (N, C, ...) and class indices (N, ...) or class probabilities shaped
    like the logits; computed in one stable node (log-sum-exp). ``weight`` (one per class),
    ``ignore_index`` and ``label_smoothing`` are PyTorch's; see ``F.cross_entropy``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = check_number(label_smoothing, "label_smoothing",
                                            "CrossEntropyLoss", 0.0, 1.0)

    def forward(self, input, target):
        return F.cross_entropy(input, target, _array(self.weight), ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return super().extra_repr() + smoothing


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at class indices: -w_y input[y]."""

    def forward(self, input, target):
        return F.nll_loss(input, target, _array(self.weight), ignore_index=self.ignore_index,
                          reduction=self.reduction)


def _array(t: Tensor | None):
    return None if t is None else t._data


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: -(y log p + (1 - y) log(1 - p))."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(logits), fused for stability."""

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = input - target."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = check_number(beta, "beta", "SmoothL1Loss", 0.0)

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), for d = input - target."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = check_number(delta, "delta", "HuberLoss", 0.0, low_open=True)

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)
