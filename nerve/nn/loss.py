"""Loss modules: MSELoss, SSRLoss (the seed's sum of squared residuals), CrossEntropyLoss,
NLLLoss, BCELoss, BCEWithLogitsLoss, L1Loss. Each is ``loss(input, target) -> Tensor``."""

from __future__ import annotations

from nerve.nn import functional as F
from nerve.nn.module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error: mean((input - target)^2)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class SSRLoss(Module):
    """Sum of squared residuals: sum((observed - predicted)^2), the seed's loss."""

    def forward(self, input, target):
        return F.ssr_loss(input, target)


class L1Loss(_Loss):
    """Mean absolute error: mean(|input - target|)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of softmax(logits): -log(predicted probability of the true class).

    Takes raw logits (N, C, ...) and class indices (N, ...) or class probabilities shaped
    like the logits; computed in one stable node (log-sum-exp).
    """

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities at class indices."""

    def forward(self, input, target):
        return F.nll_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: -(y log p + (1 - y) log(1 - p))."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(logits), fused for stability."""

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)
