"""PyTorch's loss options: cross-entropy's weight, ignore_index and label_smoothing, NLL's weight
and ignore_index, one_hot, smooth L1 and Huber; against torch and finite differences."""

import re

import numpy as np
import pytest
from conftest import smooth

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def indices(shape, n_cls, seed=0, ignored=((0, 1),)):
    """Class indices with some positions set to -100 (ignored)."""
    t = np.random.default_rng(seed).integers(0, n_cls, size=shape)
    for pos in ignored:
        t[pos[: t.ndim]] = -100
    return t


def probabilities(shape, seed=0):
    p = np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=1, keepdims=True)


WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])


def both(fn_ours, fn_torch, x, reduction):
    """Values and input gradients of our loss and torch's, in float64."""
    ours = nerve.tensor(x, dtype="float64", requires_grad=True)
    out = fn_ours(ours)
    (out.sum() if reduction == "none" else out).backward()
    ref = torch.tensor(x, requires_grad=True)
    expected = fn_torch(ref)
    (expected.sum() if reduction == "none" else expected).backward()
    return out, expected, ours.grad.numpy(), ref.grad.numpy()


def assert_parity(fn_ours, fn_torch, x, reduction):
    out, expected, grad, ref_grad = both(fn_ours, fn_torch, x, reduction)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-12)


# --- cross-entropy: weight, ignore_index, label_smoothing -------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2)], ids=["2d", "spatial"])
def test_cross_entropy_indices_matches_torch(record_op, shape, smoothing, weight, reduction):
    x = smooth(shape, seed=1)
    t = indices((shape[0],) + shape[2:], 4)
    w = None if weight is None else torch.tensor(weight)
    assert_parity(
        lambda z: F.cross_entropy(z, t, weight, reduction=reduction, label_smoothing=smoothing),
        lambda z: TF.cross_entropy(z, torch.tensor(t), w, reduction=reduction,
                                   label_smoothing=smoothing), x, reduction)
    record_op("parity", f"cross_entropy(weight, ignore_index, label_smoothing, {reduction})")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probabilities_matches_torch(record_op, smoothing, weight, reduction):
    x, p = smooth((3, 4, 2), seed=2), probabilities((3, 4, 2))
    w = None if weight is None else torch.tensor(weight)
    assert_parity(
        lambda z: F.cross_entropy(z, p, weight, reduction=reduction, label_smoothing=smoothing),
        lambda z: TF.cross_entropy(z, torch.tensor(p), w, reduction=reduction,
                                   label_smoothing=smoothing), x, reduction)
    record_op("parity", f"cross_entropy(probabilities, weight, label_smoothing, {reduction})")


def test_cross_entropy_weighted_mean_divides_by_the_weights_of_kept_targets():
    x = smooth((4, 4), seed=3)
    t = np.array([1, -100, 3, 1])
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    kept = [0, 2, 3]
    expected = -sum(WEIGHT[t[i]] * logp[i, t[i]] for i in kept) / WEIGHT[t[kept]].sum()
    out = F.cross_entropy(nerve.tensor(x, dtype="float64"), t, WEIGHT)
    assert out.item() == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_every_target_ignored_gives_nan_as_torch():
    x, t = smooth((2, 3)), np.full(2, -100)
    out = F.cross_entropy(nerve.tensor(x), t)
    assert np.isnan(out.item()) and torch.isnan(TF.cross_entropy(torch.tensor(x),
                                                                 torch.tensor(t)))
    assert F.cross_entropy(nerve.tensor(x), t, reduction="sum").item() == 0.0


def test_cross_entropy_custom_ignore_index():
    x, t = smooth((3, 3), seed=4), np.array([0, 2, 2])
    assert_parity(lambda z: F.cross_entropy(z, t, ignore_index=2),
                  lambda z: TF.cross_entropy(z, torch.tensor(t), ignore_index=2), x, "mean")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["weight", "ignore", "smoothing", "probabilities+weight"])
def test_cross_entropy_options_gradcheck(record_op, case, reduction):
    t = np.array([1, 0, 3, 2])
    kwargs = {"weight": {"weight": WEIGHT}, "ignore": {"ignore_index": 3},
              "smoothing": {"label_smoothing": 0.3, "weight": WEIGHT},
              "probabilities+weight": {"weight": WEIGHT, "label_smoothing": 0.1}}[case]
    if case == "probabilities+weight":
        t = probabilities((4, 4))
    x = nerve.tensor(smooth((4, 4), seed=5), dtype="float64", requires_grad=True)
    assert nerve.gradcheck(lambda z: F.cross_entropy(z, t, reduction=reduction, **kwargs), [x])
    record_op("gradcheck", f"loss.cross_entropy({case})")


def test_cross_entropy_loss_module_matches_torch_and_keeps_weight_as_a_buffer():
    x, t = smooth((5, 4), seed=6), indices(5, 4)
    ours = nn.CrossEntropyLoss(weight=WEIGHT, ignore_index=-100, reduction="sum",
                               label_smoothing=0.1)
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT), reduction="sum",
                                    label_smoothing=0.1)
    assert_parity(lambda z: ours(z, t), lambda z: ref(z, torch.tensor(t)), x, "sum")
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert repr(ours) == "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"


def test_cross_entropy_loss_float32_input_with_float64_weight():
    out = nn.CrossEntropyLoss(weight=WEIGHT)(nerve.tensor(smooth((5, 4))), indices(5, 4))
    assert out.dtype == np.float32


@pytest.mark.parametrize("loss", ["CrossEntropyLoss", "NLLLoss"])
def test_class_weights_keep_their_float_dtype_as_pytorchs(loss):
    """A float64 weight was stored as float32: the float64 loss was off by ~5e-9 relative, and
    .double() could not bring the lost digits back."""
    weight = np.array([1 / 3, 2.0, 0.7, 1.1])
    x, t = smooth((5, 4), seed=6), indices(5, 4)
    ours = getattr(nn, loss)(weight=weight)
    ref = getattr(torch.nn, loss)(weight=torch.tensor(weight))
    assert_parity(lambda z: ours(z, t), lambda z: ref(z, torch.tensor(t)), x, "mean")
    assert np.asarray(ours.state_dict()["weight"]).dtype == np.float64
    assert ref.state_dict()["weight"].dtype == torch.float64
    assert getattr(nn, loss)(weight=weight.astype(np.float32)).weight.dtype == nerve.float32
    assert getattr(nn, loss)(weight=[1, 2, 3, 4]).weight.dtype == nerve.float32  # the default


@pytest.mark.parametrize("kwargs, error, message", [
    ({"weight": np.ones(3)}, ValueError, "expected one weight per class, shape (4,). "
                                         "Received: weight.shape=(3,)"),
    ({"weight": "sum"}, TypeError, "Received: weight='sum'"),
    ({"label_smoothing": 1.5}, ValueError, "expected label_smoothing in [0, 1]. "
                                           "Received: label_smoothing=1.5"),
    ({"label_smoothing": "a"}, TypeError, "Received: label_smoothing='a'"),
    ({"ignore_index": 1.0}, TypeError, "expected an integer. Received: ignore_index=1.0"),
])
def test_cross_entropy_bad_options_raise(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        F.cross_entropy(nerve.tensor(smooth((2, 4))), np.array([0, 1]), **kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"weight": np.ones((2, 2))}, ValueError, "Received: weight.shape=(2, 2)"),
    ({"weight": ["a"]}, TypeError, "Received: weight.dtype="),
    ({"label_smoothing": -0.1}, ValueError, "Received: label_smoothing=-0.1"),
    ({"ignore_index": "x"}, TypeError, "Received: ignore_index='x'"),
])
def test_cross_entropy_loss_checks_its_arguments_when_made(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.CrossEntropyLoss(**kwargs)


def test_cross_entropy_ignored_target_may_be_out_of_range_but_others_not():
    x = nerve.tensor(smooth((2, 3)))
    F.cross_entropy(x, np.array([0, -100]))
    with pytest.raises(ValueError, match=re.escape("Received: target=-5")):
        F.cross_entropy(x, np.array([0, -5]))


# --- NLL: weight and ignore_index -------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
def test_nll_loss_weight_and_ignore_index_match_torch(record_op, weight, reduction):
    x, t = smooth((3, 4, 2), seed=7), indices((3, 2), 4)
    w = None if weight is None else torch.tensor(weight)
    assert_parity(lambda z: nn.NLLLoss(weight=weight, reduction=reduction)(z, t),
                  lambda z: torch.nn.NLLLoss(weight=w, reduction=reduction)(z, torch.tensor(t)),
                  x, reduction)
    record_op("parity", f"NLLLoss(weight, ignore_index, {reduction})")


def test_nll_loss_weight_gradcheck(record_op):
    x = nerve.tensor(smooth((4, 4), seed=8), dtype="float64", requires_grad=True)
    t = np.array([1, -100, 3, 0])
    assert nerve.gradcheck(lambda z: F.nll_loss(z, t, WEIGHT), [x])
    record_op("gradcheck", "loss.nll_loss(weight, ignore_index)")


# --- one_hot ----------------------------------------------------------------------------------
@pytest.mark.parametrize("t, num_classes", [([0, 2, 1], -1), ([[0, 1], [3, 2]], 5), (3, 4),
                                            ([], 3)])
def test_one_hot_matches_torch(record_op, t, num_classes):
    ours = F.one_hot(nerve.tensor(np.array(t, dtype=np.int64)), num_classes)
    ref = TF.one_hot(torch.tensor(t, dtype=torch.int64), num_classes)
    assert ours.dtype == np.int64 and not ours.requires_grad
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    record_op("parity", "one_hot")


@pytest.mark.parametrize("t, num_classes, error, message", [
    ([0, 3], 3, ValueError, "expected class indices in [0, 2]. Received: tensor=3"),
    ([0, -1], -1, ValueError, "Received: tensor=-1"),
    ([0.0, 1.0], -1, TypeError, "expected a tensor of class indices (integers)"),
    ([0, 1], 2.0, TypeError, "Received: num_classes=2.0"),
    ([0, 1], -2, ValueError, "Received: num_classes=-2"),
])
def test_one_hot_bad_input_raises(t, num_classes, error, message):
    with pytest.raises(error, match=re.escape(message)):
        F.one_hot(np.array(t), num_classes)


# --- smooth L1 and Huber ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_loss_matches_torch(record_op, beta, reduction):
    x, y = smooth((4, 3), seed=9), smooth((4, 3), seed=10) + 0.1  # |d| never equals beta
    assert_parity(lambda z: F.smooth_l1_loss(z, y, reduction, beta),
                  lambda z: TF.smooth_l1_loss(z, torch.tensor(y), reduction=reduction, beta=beta),
                  x, reduction)
    assert_parity(lambda z: nn.SmoothL1Loss(reduction, beta)(z, y),
                  lambda z: torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(
                      z, torch.tensor(y)), x, reduction)
    record_op("parity", f"smooth_l1_loss({reduction})")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.5, 2.5])
def test_huber_loss_matches_torch(record_op, delta, reduction):
    x, y = smooth((4, 3), seed=11), smooth((4, 3), seed=12) + 0.1
    assert_parity(lambda z: F.huber_loss(z, y, reduction, delta),
                  lambda z: TF.huber_loss(z, torch.tensor(y), reduction=reduction, delta=delta),
                  x, reduction)
    assert_parity(lambda z: nn.HuberLoss(reduction, delta)(z, y),
                  lambda z: torch.nn.HuberLoss(reduction=reduction, delta=delta)(
                      z, torch.tensor(y)), x, reduction)
    record_op("parity", f"huber_loss({reduction})")


@pytest.mark.parametrize("name", ["smooth_l1_loss", "huber_loss"])
def test_smooth_losses_gradcheck(record_op, name):
    y = smooth((4, 3), seed=13) + 0.1
    x = nerve.tensor(smooth((4, 3), seed=14), dtype="float64", requires_grad=True)
    assert nerve.gradcheck(lambda z: getattr(F, name)(z, y, "mean", 0.7), [x])
    record_op("gradcheck", f"loss.{name}")


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.SmoothL1Loss(beta=-1.0), ValueError, "expected beta >= 0. Received: beta=-1.0"),
    (lambda: nn.HuberLoss(delta=0.0), ValueError, "expected delta > 0. Received: delta=0.0"),
    (lambda: nn.HuberLoss(delta="1"), TypeError, "Received: delta='1'"),
    (lambda: F.huber_loss(nerve.zeros(2), np.zeros(2), "avg"), ValueError,
     "Received: reduction='avg'"),
])
def test_smooth_losses_check_their_arguments(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()
