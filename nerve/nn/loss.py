"""Loss modules: MSELoss, SSRLoss (the seed's sum of squared residuals), CrossEntropyLoss,
NLLLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss, L1Loss, SmoothL1Loss, HuberLoss. Each is
``loss(input, target) -> Tensor``. The margin, embedding and likelihood losses: SoftMarginLoss,
HingeEmbeddingLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, MultiLabelMarginLoss,
PoissonNLLLoss (``loss(input, target)``), MarginRankingLoss and CosineEmbeddingLoss
(``loss(input1, input2, target)``), TripletMarginLoss and TripletMarginWithDistanceLoss
(``loss(anchor, positive, negative)``), GaussianNLLLoss (``loss(input, target, var)``); their
``reduction`` is given by keyword (PyTorch's deprecated size_average and reduce, which come
before it, are not taken). Also the distances that losses are built from, CosineSimilarity and
PairwiseDistance (``module(x1, x2) -> Tensor``)."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import (
    ShortRepr,
    check_bool,
    check_choice,
    check_int,
    check_number,
    message,
    numeric_array,
)
from nerve.nn import functional as F
from nerve.nn.module import Module


class _Loss(Module):
    _takes_tensor = True
    _reductions = F._REDUCTIONS  # the reductions the loss knows

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_choice(reduction, "reduction", type(self).__name__, self._reductions)
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


def _weight_buffer(value, name: str, who: str) -> Tensor | None:
    """A BCE weight (any shape that broadcasts to the input's, checked at each call) as a
    Tensor for ``register_buffer``: a float keeps its dtype, ints and bools become the default
    float (as ``_WeightedLoss``'s class weights)."""
    if value is None:
        return None
    w = numeric_array(value, name, who)
    if not w.size:
        raise ValueError(message(who, f"a non-empty {name} (it broadcasts to the input's shape)",
                                 f"{name}.shape", w.shape))
    return Tensor(w, dtype=w.dtype if w.dtype.kind == "f" else backend.get_default_dtype())


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: -w (y log p + (1 - y) log(1 - p)).

    ``weight`` (w, a buffer in ``state_dict`` as PyTorch's; None: 1) multiplies each element's
    loss and must broadcast to the input's shape; see ``F.binary_cross_entropy``.
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        weight, reduction = F._legacy_reduction(weight, reduction, "BCELoss")
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight", "BCELoss"))

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(logits), fused for stability, as PyTorch's.

    ``pos_weight`` (one value per class along the last dimension, or any shape that broadcasts
    to the input's) weighs the positive term; ``weight`` multiplies each element's loss. Both
    are buffers (``state_dict`` keys ``weight`` and ``pos_weight``, as PyTorch's); see
    ``F.binary_cross_entropy_with_logits`` for the formula.
    """

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        who = "BCEWithLogitsLoss"
        weight, reduction = F._legacy_reduction(weight, reduction, who)
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight", who))
        self.register_buffer("pos_weight", _weight_buffer(pos_weight, "pos_weight", who))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of the model's log-probabilities from a target
    distribution: t (ln t - input) per element (0 where t == 0), or e^t (t - input) with
    ``log_target=True``. ``reduction="batchmean"`` (the sum over the batch size) is the KL
    divergence itself; "mean" (the default, as PyTorch's) divides by every element. See
    ``F.kl_div``.
    """

    _reductions = F._KL_REDUCTIONS

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__(reduction)
        self.log_target = check_bool(log_target, "log_target", "KLDivLoss")

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", log_target=True" if self.log_target else "")


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


# --- distances ------------------------------------------------------------------------------
class CosineSimilarity(Module):
    """The cosine similarity of x1 and x2 along ``dim`` (inputs broadcast together), each norm
    clamped at ``eps`` as PyTorch 2's; see ``F.cosine_similarity``.

    Shape: (*, D, *) and (*, D, *) -> (*, *), D at ``dim``.
    """

    _takes_tensor = True

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = check_int(dim, "dim", "CosineSimilarity")
        self.eps = check_number(eps, "eps", "CosineSimilarity")

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    """The p-norm of x1 - x2 + eps along the last dimension, as PyTorch's; see
    ``F.pairwise_distance``.

    Shape: (N, D) and (N, D) (or (D,)) -> (N,), (N, 1) with ``keepdim=True``.
    """

    _takes_tensor = True

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        who = "PairwiseDistance"
        self.norm = check_number(p, "p", who)
        self.eps = check_number(eps, "eps", who)
        self.keepdim = check_bool(keepdim, "keepdim", who)

    @property
    def p(self) -> float:
        """The order of the norm (PyTorch keeps it as ``norm``)."""
        return self.norm

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"


# --- margin, embedding and likelihood losses -------------------------------------------------
class _OptionsLoss(_Loss):
    """A loss whose options (``_options``, in PyTorch's order) show in its repr before the
    reduction; ``reduction`` is keyword-only (see the module's docstring)."""

    _options: tuple = ()

    def extra_repr(self) -> str:
        return ", ".join([f"{k}={getattr(self, k)!r}" for k in self._options] +
                         [super().extra_repr()])


class MarginRankingLoss(_OptionsLoss):
    """max(0, -y (x1 - x2) + margin): y = 1 asks x1 to rank above x2 by ``margin``, y = -1
    below; see ``F.margin_ranking_loss``."""

    _options = ("margin",)

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = check_number(margin, "margin", "MarginRankingLoss")

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_OptionsLoss):
    """x where y == 1, max(0, margin - x) where y == -1, for distances x of similar (1) and
    dissimilar (-1) pairs; see ``F.hinge_embedding_loss``."""

    _options = ("margin",)

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = check_number(margin, "margin", "HingeEmbeddingLoss")

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_OptionsLoss):
    """ln(1 + e^(-y x)) for labels y = 1 or -1; see ``F.soft_margin_loss``."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_OptionsLoss):
    """The binary cross-entropy of sigmoid(x) per class, averaged over the classes (the last
    dimension). ``weight`` (one per class, or any shape that broadcasts to the input's) is a
    buffer in ``state_dict``, as PyTorch's, used in the input's dtype as the BCE modules'
    weights; see ``F.multilabel_soft_margin_loss``."""

    def __init__(self, weight=None, *, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight",
                                                      "MultiLabelSoftMarginLoss"))

    def forward(self, input, target):
        weight = self.weight  # in the input's dtype, as the BCE modules' weights: a float64
        if weight is not None and isinstance(input, Tensor) and weight.dtype != input.dtype:
            weight = weight.to(input.dtype)  # NumPy weight made a float32 loss float64
        return F.multilabel_soft_margin_loss(input, target, weight, reduction=self.reduction)


class MultiMarginLoss(_OptionsLoss):
    """The multi-class hinge loss (1/C) sum_{j != y} w_y max(0, margin - x_y + x_j)^p of class
    scores (N, C) at class indices (N,); ``weight`` (one per class) is a buffer in
    ``state_dict``, as PyTorch's; see ``F.multi_margin_loss``."""

    _options = ("p", "margin")

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, *,
                 reduction: str = "mean"):
        super().__init__(reduction)
        who = "MultiMarginLoss"
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(message(who, "p = 1 or 2", "p", p))
        self.p = p
        self.margin = check_number(margin, "margin", who)
        if weight is not None:
            w = numeric_array(weight, "weight", who)
            if w.ndim != 1 or not w.size:
                raise ValueError(message(who, "a 1-D tensor of class weights (one per class)",
                                         "weight.shape", w.shape))
        self.register_buffer("weight", _weight_buffer(weight, "weight", who))

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                   reduction=self.reduction)


class MultiLabelMarginLoss(_OptionsLoss):
    """The multi-label hinge loss of class scores (N, C) at targets (N, C) that list each
    sample's classes, padded with -1; see ``F.multilabel_margin_loss``."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class CosineEmbeddingLoss(_OptionsLoss):
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1; see
    ``F.cosine_embedding_loss``."""

    _options = ("margin",)

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = check_number(margin, "margin", "CosineEmbeddingLoss")

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, self.margin,
                                       reduction=self.reduction)


class TripletMarginLoss(_OptionsLoss):
    """max(0, margin + d(a, p) - d(a, n)) with the pairwise p-norm distance d; see
    ``F.triplet_margin_loss``."""

    _options = ("margin", "p", "eps", "swap")

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, *, reduction: str = "mean"):
        super().__init__(reduction)
        who = "TripletMarginLoss"
        self.margin = check_number(margin, "margin", who, 0.0, low_open=True)
        self.p = check_number(p, "p", who)
        self.eps = check_number(eps, "eps", who)
        self.swap = check_bool(swap, "swap", who)

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p,
                                     self.eps, self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_OptionsLoss):
    """max(0, margin + d(a, p) - d(a, n)) for any ``distance_function`` d (None: the pairwise
    Euclidean distance); see ``F.triplet_margin_with_distance_loss``."""

    _options = ("margin", "swap")

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):
        super().__init__(reduction)
        who = "TripletMarginWithDistanceLoss"
        if distance_function is not None and not callable(distance_function):
            raise TypeError(message(who, "a function (x1, x2) -> distances or None as "
                                    "distance_function", "distance_function",
                                    ShortRepr(distance_function)))
        self.distance_function = distance_function
        self.margin = check_number(margin, "margin", who, 0.0, low_open=True)
        self.swap = check_bool(swap, "swap", who)

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class PoissonNLLLoss(_OptionsLoss):
    """The Poisson negative log-likelihood e^x - t x of a log-rate x (or x - t ln(x + eps) of a
    rate, ``log_input=False``), with Stirling's term where t > 1 when ``full``; ``eps`` (after
    PyTorch's deprecated size_average) by keyword. See ``F.poisson_nll_loss``."""

    _options = ("log_input", "full", "eps")

    def __init__(self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8,
                 reduction: str = "mean"):
        super().__init__(reduction)
        who = "PoissonNLLLoss"
        self.log_input = check_bool(log_input, "log_input", who)
        self.full = check_bool(full, "full", who)
        self.eps = check_number(eps, "eps", who)

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_OptionsLoss):
    """The Gaussian negative log-likelihood (ln v + (input - target)^2 / v) / 2 for variances
    v = max(var, eps) (the clamp passes the gradient on, as PyTorch's); ``loss(input, target,
    var)``. See ``F.gaussian_nll_loss``."""

    _options = ("full", "eps")

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        who = "GaussianNLLLoss"
        self.full = check_bool(full, "full", who)
        self.eps = check_number(eps, "eps", who)

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)
