"""Losses as modules and functions: hand-computed values, reductions, numerical stability,
argument checks, and float64 gradchecks away from kinks."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import off_grid, smooth

import nerve
from nerve import nn
from nerve.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]


def f32(a, requires_grad=True) -> nerve.Tensor:
    return nerve.tensor(np.asarray(a, np.float32), requires_grad=requires_grad)


def reduce(x: np.ndarray, reduction: str):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](x)


def log_softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    x = x.astype(np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def probabilities(shape, seed=0) -> np.ndarray:
    """Soft class targets along axis 1."""
    p = np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=1, keepdims=True)


# --- regression losses -----------------------------------------------------------------------
def test_ssr_loss_hand_value():
    observed = [1.4, 1.9, 3.2]
    predicted = f32([0.5, 1.5, 2.5])
    loss = nn.SSRLoss()(predicted, observed)  # residuals 0.9, 0.4, 0.7
    assert loss.shape == () and loss.item() == pytest.approx(0.81 + 0.16 + 0.49, rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(predicted.grad, [-1.8, -0.8, -1.4], rtol=1e-6)  # -2 * residual
    assert F.ssr_loss(predicted, observed).item() == pytest.approx(1.46, rel=1e-6)


def test_ssr_loss_is_sum_reduced_mse():
    x, y = f32(smooth((4, 3))), smooth((4, 3), seed=1)
    assert nn.SSRLoss()(x, y).item() == pytest.approx(
        nn.MSELoss(reduction="sum")(x, y).item(), rel=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_value(reduction):
    x, y = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.5, 2.0], [1.0, 6.0]])
    expected = reduce((x - y) ** 2, reduction)  # 0.25, 0, 4, 1
    for out in (nn.MSELoss(reduction=reduction)(f32(x), y), F.mse_loss(f32(x), y, reduction)):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss_value(reduction):
    x, y = np.array([1.0, -2.0, 3.0]), np.array([0.5, 1.0, 3.25])
    expected = reduce(np.abs(x - y), reduction)
    for out in (nn.L1Loss(reduction=reduction)(f32(x), y), F.l1_loss(f32(x), y, reduction)):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)


def test_mse_loss_accepts_tensor_target():
    assert nn.MSELoss()(f32([1.0, 3.0]), f32([0.0, 1.0], False)).item() == pytest.approx(2.5)


# --- cross-entropy ---------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(reduction):
    logits = smooth((5, 4), seed=2)
    target = np.array([0, 3, 1, 1, 2])
    expected = reduce(-log_softmax(logits)[np.arange(5), target], reduction)
    for out in (nn.CrossEntropyLoss(reduction=reduction)(f32(logits), target),
                F.cross_entropy(f32(logits), nerve.tensor(target), reduction=reduction)):
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(reduction):
    logits, target = smooth((5, 4), seed=2), probabilities((5, 4))
    expected = reduce(-(target * log_softmax(logits)).sum(axis=1), reduction)
    out = nn.CrossEntropyLoss(reduction=reduction)(f32(logits), target.astype(np.float32))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_indices(reduction):
    logits = smooth((2, 3, 4, 2), seed=3)  # (N, C, d1, d2)
    target = np.random.default_rng(0).integers(0, 3, size=(2, 4, 2))
    logp = log_softmax(logits)
    n, d1, d2 = np.indices(target.shape)
    expected = reduce(-logp[n, target, d1, d2], reduction)
    out = F.cross_entropy(f32(logits), target, reduction=reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_probabilities(reduction):
    logits, target = smooth((2, 3, 5), seed=3), probabilities((2, 3, 5))
    expected = reduce(-(target * log_softmax(logits)).sum(axis=1), reduction)
    out = F.cross_entropy(f32(logits), target.astype(np.float32), reduction=reduction)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    logits = f32(smooth((3, 4)))
    target = np.array([2, 0, 3])
    F.cross_entropy(logits, target).backward()
    expected = (np.exp(log_softmax(logits.detach().numpy())) - np.eye(4)[target]) / 3
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("target, loss", [(0, 0.0), (1, 1e4), (2, 2e4)])
def test_cross_entropy_stable_for_huge_logits(target, loss):
    logits = f32([[1e4, 0.0, -1e4]])
    out = nn.CrossEntropyLoss()(logits, [target])
    assert np.isfinite(out.item()) and out.item() == pytest.approx(loss, abs=1e-3)
    out.backward()
    assert np.isfinite(logits.grad).all()
    np.testing.assert_allclose(logits.grad, [[1, 0, 0]] - np.eye(3)[[target]], atol=1e-6)


def test_cross_entropy_stable_probabilities_huge_logits():
    out = F.cross_entropy(f32([[1e4, -1e4]]), np.array([[0.5, 0.5]], np.float32))
    assert out.item() == pytest.approx(1e4, rel=1e-6)


# --- NLL -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_value(reduction):
    logp = log_softmax(smooth((4, 3)))
    target = np.array([2, 0, 1, 1])
    expected = reduce(-logp[np.arange(4), target], reduction)
    for out in (nn.NLLLoss(reduction=reduction)(f32(logp), target),
                F.nll_loss(f32(logp), target, reduction=reduction)):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 4, 3), (2, 4, 2, 5)])
def test_nll_loss_spatial(shape):
    logp = log_softmax(smooth(shape))
    target_shape = (shape[0],) + shape[2:]
    target = np.random.default_rng(1).integers(0, shape[1], size=target_shape)
    idx = np.indices(target_shape)
    picked = logp[(idx[0], target, *idx[1:])]
    out = F.nll_loss(f32(logp), target, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), -picked, rtol=1e-6)
    assert F.nll_loss(f32(logp), target).item() == pytest.approx(-picked.mean(), rel=1e-6)


def test_nll_after_log_softmax_equals_cross_entropy():
    logits, target = smooth((6, 5), seed=4), np.array([0, 4, 2, 2, 1, 3])
    a = nn.NLLLoss()(nn.LogSoftmax(dim=1)(f32(logits)), target).item()
    assert a == pytest.approx(nn.CrossEntropyLoss()(f32(logits), target).item(), rel=1e-6)


# --- binary cross-entropy --------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_loss_value(reduction):
    p, y = np.array([0.9, 0.2, 0.6]), np.array([1.0, 0.0, 0.0])
    expected = reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)
    for out in (nn.BCELoss(reduction=reduction)(f32(p), y),
                F.binary_cross_entropy(f32(p), y, reduction)):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6)


def test_bce_loss_clamps_log_at_minus_100_with_finite_gradient():
    p = f32([0.0, 1.0, 0.0, 1.0])
    out = nn.BCELoss(reduction="none")(p, [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(out.detach().numpy(), [0, 0, 100, 100])
    out.sum().backward()
    assert np.isfinite(p.grad).all()
    np.testing.assert_allclose(p.grad, [0, 0, -1e12, 1e12], rtol=1e-6)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_bce_loss_input_outside_unit_interval_raises(bad):
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*received"):
        nn.BCELoss()(f32([0.5, bad]), [1.0, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_value(reduction):
    x, y = np.array([2.0, -1.0, 0.5, -3.0]), np.array([1.0, 0.0, 0.0, 0.3])
    s = 1 / (1 + np.exp(-x))
    expected = reduce(-(y * np.log(s) + (1 - y) * np.log(1 - s)), reduction)
    for out in (nn.BCEWithLogitsLoss(reduction=reduction)(f32(x), y),
                F.binary_cross_entropy_with_logits(f32(x), y, reduction)):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)


def test_bce_with_logits_stable_for_large_logits():
    x = f32([100.0, -100.0, 100.0, -100.0])
    out = nn.BCEWithLogitsLoss(reduction="none")(x, [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(out.detach().numpy(), [0, 0, 100, 100], atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [0, 0, 1, -1], atol=1e-6)


# --- argument checks -------------------------------------------------------------------------
@pytest.mark.parametrize("label", [3, 7, -1])
def test_cross_entropy_label_out_of_range_raises(label):
    with pytest.raises(ValueError, match=re.escape(
            "cross_entropy: expected class indices in [0, 2] (or ignore_index=-100) for 3 "
            f"classes. Received: target={label}")):
        nn.CrossEntropyLoss()(f32(np.zeros((2, 3))), [0, label])


def test_nll_loss_label_out_of_range_raises():
    with pytest.raises(ValueError, match=re.escape("nll_loss: expected class indices in [0, 3] "
                                                   "(or ignore_index=-100) for 4 classes. "
                                                   "Received: target=4")):
        nn.NLLLoss()(f32(np.zeros((2, 4))), [4, 0])


@pytest.mark.parametrize("target, error, message", [
    (np.array([0, 1, 2]), ValueError, "class indices of shape (2,) for logits of shape (2, 3). "
                                      "Received: target.shape=(3,)"),
    (np.zeros((2, 4), np.float32), ValueError, "a probability target of the logits' shape "
                                               "(2, 3). Received: target.shape=(2, 4)"),
    (np.array([True, False]), TypeError, "class indices (integers) or probabilities (floats) "
                                         "as target. Received: target.dtype=dtype('bool')"),
])
def test_cross_entropy_target_mismatch_raises(target, error, message):
    with pytest.raises(error, match=re.escape(message)):
        F.cross_entropy(f32(np.zeros((2, 3))), target)


def test_cross_entropy_needs_batch_and_class_dims():
    with pytest.raises(ValueError, match=re.escape("cross_entropy: expected an input of shape "
                                                   "(N, C, ...). Received: input.shape=(3,)")):
        F.cross_entropy(f32(np.zeros(3)), [1])


def test_nll_loss_float_target_raises():
    with pytest.raises(TypeError, match=re.escape("nll_loss: expected class indices (integers) "
                                                  "as target. Received: target.dtype=")):
        F.nll_loss(f32(np.zeros((2, 3))), np.zeros((2, 3), np.float32))


LOSSES = {
    "MSELoss": (nn.MSELoss, F.mse_loss), "L1Loss": (nn.L1Loss, F.l1_loss),
    "BCELoss": (nn.BCELoss, F.binary_cross_entropy),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, F.cross_entropy), "NLLLoss": (nn.NLLLoss, F.nll_loss),
}


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss",
                                  "SSRLoss"])
def test_regression_loss_shape_mismatch_raises(name):
    loss = getattr(nn, name)()
    with pytest.raises(ValueError, match=re.escape("input has shape (2, 3) but target has shape "
                                                   "(3, 2)")):
        loss(f32(np.full((2, 3), 0.5)), np.zeros((3, 2)))


@pytest.mark.parametrize("name", LOSSES)
def test_loss_invalid_reduction_raises(name):
    module, fn = LOSSES[name]
    with pytest.raises(ValueError, match=r"expected one of \('mean', 'sum', 'none'\). "
                                         r"Received: reduction='avg'"):
        module(reduction="avg")
    with pytest.raises(ValueError, match="Received: reduction='avg'"):
        fn(f32(np.full((2, 3), 0.5)), np.zeros(2, np.int64), reduction="avg")


@pytest.mark.parametrize("name", LOSSES)
def test_loss_repr(name):
    assert repr(LOSSES[name][0](reduction="sum")) == f"{name}(reduction='sum')"


# --- gradchecks in float64 -------------------------------------------------------------------
def unit(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, size=shape)


def t64(a) -> nerve.Tensor:
    return nerve.tensor(a, dtype="float64")


# name: (loss of one input, input); targets are fixed arrays inside the closures
_IDX = np.array([1, 0, 2, 2])
_IDX_SPATIAL = np.array([[0, 2, 1], [1, 1, 0]])
GRADCHECKS = {
    "mse": (lambda r: lambda x: F.mse_loss(x, off_grid((4, 3)), r), smooth((4, 3))),
    "ssr": (lambda r: lambda x: F.ssr_loss(x, off_grid((4, 3))), smooth((4, 3))),
    "l1": (lambda r: lambda x: F.l1_loss(x, off_grid((4, 3)), r), smooth((4, 3))),
    "cross_entropy": (lambda r: lambda x: F.cross_entropy(x, _IDX, reduction=r),
                      smooth((4, 3))),
    "cross_entropy_probs": (
        lambda r: lambda x: F.cross_entropy(x, probabilities((4, 3)), reduction=r),
        smooth((4, 3))),
    "cross_entropy_spatial": (
        lambda r: lambda x: F.cross_entropy(x, _IDX_SPATIAL, reduction=r), smooth((2, 3, 3))),
    "cross_entropy_spatial_probs": (
        lambda r: lambda x: F.cross_entropy(x, probabilities((2, 3, 3)), reduction=r),
        smooth((2, 3, 3))),
    "nll": (lambda r: lambda x: F.nll_loss(x, _IDX, reduction=r), smooth((4, 3))),
    "nll_spatial": (lambda r: lambda x: F.nll_loss(x, _IDX_SPATIAL, reduction=r),
                    smooth((2, 3, 3))),
    "bce": (lambda r: lambda x: F.binary_cross_entropy(x, unit((4, 3), 1), r), unit((4, 3))),
    "bce_with_logits": (
        lambda r: lambda x: F.binary_cross_entropy_with_logits(x, unit((4, 3), 1), r),
        smooth((4, 3)) * 3),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", GRADCHECKS)
def test_loss_gradcheck(record_op, name, reduction):
    make, x = GRADCHECKS[name]
    assert nerve.gradcheck(make(reduction), [t64(x)])
    record_op("gradcheck", f"loss.{name}")


# --- the review's cases -------------------------------------------------------------------
@pytest.mark.parametrize("loss, kwargs", [
    ("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.1}),
    ("cross_entropy", {"weight": np.array([1.0, 2.0, 3.0])}), ("nll_loss", {}),
    ("nll_loss", {"weight": np.array([1.0, 2.0, 3.0])})])
def test_a_batch_whose_targets_are_all_ignored_gives_nan_and_zero_gradients(loss, kwargs):
    """As PyTorch: the mean over no target is NaN, but the logits get gradients of 0, so one
    padding-only batch does not turn the weights into NaN."""
    x = nerve.tensor([[0.5, 1.0, -1.0], [2.0, 0.0, 1.0]], dtype="float64", requires_grad=True)
    if "weight" in kwargs:
        kwargs = {"weight": nerve.tensor(kwargs["weight"])}
    value = getattr(nn.functional, loss)(x, nerve.tensor([-100, -100]), **kwargs)
    value.backward()
    assert np.isnan(value.item()) and np.array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_fit_goes_through_a_batch_whose_targets_are_all_ignored():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.integers(0, 2, 12)
    y[4:8] = -100  # the second batch of 4: padding only
    nerve.manual_seed(0)
    model = nn.Linear(3, 2)
    h = nerve.fit(model, x, y, loss="cross_entropy", epochs=2, batch_size=4, shuffle=False,
                  verbose=0)
    assert h.stop_reason is None and np.isfinite(h["loss"]).all()
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "cross_entropy"])
def test_a_target_that_requires_grad_is_refused_where_it_would_get_none(loss):
    x = nerve.tensor([[0.2, 0.7], [0.4, 0.1]], requires_grad=True)
    t = nerve.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    with pytest.raises(ValueError, match="target.detach"):
        getattr(nn.functional, loss)(x, t)
    getattr(nn.functional, loss)(x, t.detach())


def test_ignore_index_with_probabilities_as_target_is_refused():
    x = nerve.tensor([[0.2, 0.7], [0.4, 0.1]])
    probs = nerve.tensor([[0.3, 0.7], [1.0, 0.0]])
    with pytest.raises(ValueError, match="ignore_index"):
        nn.CrossEntropyLoss(ignore_index=1)(x, probs)
    nn.CrossEntropyLoss()(x, probs)
