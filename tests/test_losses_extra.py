"""PyTorch's margin, embedding and likelihood losses (margin ranking, hinge embedding, soft
margin, multi-label soft margin, multi margin, multi-label margin, cosine embedding, triplet
margin with and without a distance function, Poisson and Gaussian NLL), as functions and
modules: values and gradients against torch in float64 and float32, finite differences, the
hinges, zero vectors, 1-D and empty inputs, dtypes, errors; and cross-entropy's dtype with a
wider probability target."""

import functools
import re
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def signs(*shape, seed=1):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)


def uniform(*shape, seed=2, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


COUNTS = np.array([0.0, 1.0, 2.0, 5.0, 0.5, 3.0])
ML_TARGET = np.array([[3, 0, -1, 1, 4], [1, 2, 3, 4, 0], [-1, 0, 0, 0, 0], [2, 2, -1, 7, 9]])
ML_TARGET[3, 3:] = -1  # after the first -1 nothing is read
CLASS_W = np.array([0.5, 2.0, 1.0, 1.5, 0.25])


def _cos_distance(lib):
    return lambda u, v: 1 - lib.cosine_similarity(u, v)


# name: (nerve function, torch function, arrays, which get gradients) -- each function takes
# the tensors and ``reduction``; float arrays take the test's dtype, integer ones stay int64
CASES = {
    "margin_ranking_loss": (
        lambda a, b, y, r: F.margin_ranking_loss(a, b, y, 0.3, reduction=r),
        lambda a, b, y, r: TF.margin_ranking_loss(a, b, y, 0.3, reduction=r),
        [rnd(6), rnd(6, seed=3), signs(6)], [True, True, True]),
    "margin_ranking_loss(broadcast)": (
        lambda a, b, y, r: F.margin_ranking_loss(a, b, y, reduction=r),
        lambda a, b, y, r: TF.margin_ranking_loss(a, b, y, reduction=r),
        [rnd(3, 1), rnd(1, 4, seed=3), signs(1, 4)], [True, True, True]),
    "hinge_embedding_loss": (
        lambda x, y, r: F.hinge_embedding_loss(x, y, 0.7, reduction=r),
        lambda x, y, r: TF.hinge_embedding_loss(x, y, 0.7, reduction=r),
        [rnd(2, 5), np.array([1.0, -1.0, 0.5, 1.0, -1.0])], [True, False]),
    "soft_margin_loss": (
        lambda x, y, r: F.soft_margin_loss(x, y, reduction=r),
        lambda x, y, r: TF.soft_margin_loss(x, y, reduction=r),
        [rnd(3, 4) * 3, signs(3, 4)], [True, False]),
    "multilabel_soft_margin_loss": (
        lambda x, y, w, r: F.multilabel_soft_margin_loss(x, y, w, reduction=r),
        lambda x, y, w, r: TF.multilabel_soft_margin_loss(x, y, w, reduction=r),
        [rnd(4, 3), uniform(4, 3), uniform(3, seed=5)], [True, True, True]),
    "multilabel_soft_margin_loss(3-D)": (
        lambda x, y, r: F.multilabel_soft_margin_loss(x, y, reduction=r),
        lambda x, y, r: TF.multilabel_soft_margin_loss(x, y, reduction=r),
        [rnd(2, 4, 3), uniform(2, 4, 3)], [True, True]),
    "multi_margin_loss(p=1)": (
        lambda x, t, r: F.multi_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multi_margin_loss(x, t, reduction=r),
        [rnd(4, 5), np.array([0, 4, 2, 2])], [True, False]),
    "multi_margin_loss(p=2, margin, weight)": (
        lambda x, t, r: F.multi_margin_loss(x, t, 2, 0.8, CLASS_W, reduction=r),
        lambda x, t, r: TF.multi_margin_loss(x, t, 2, 0.8, torch.tensor(CLASS_W, dtype=x.dtype),
                                             reduction=r),
        [rnd(4, 5), np.array([0, 4, 2, 2])], [True, False]),
    "multi_margin_loss(1-D)": (
        lambda x, t, r: F.multi_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multi_margin_loss(x, t, reduction=r),
        [rnd(5), np.array([3])], [True, False]),
    "multi_margin_loss(1-D, 0-d target)": (
        lambda x, t, r: F.multi_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multi_margin_loss(x, t, reduction=r),
        [rnd(5), np.array(3)], [True, False]),
    "multilabel_margin_loss": (
        lambda x, t, r: F.multilabel_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multilabel_margin_loss(x, t, reduction=r),
        [rnd(4, 5), ML_TARGET], [True, False]),
    "multilabel_margin_loss(1-D)": (
        lambda x, t, r: F.multilabel_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multilabel_margin_loss(x, t, reduction=r),
        [rnd(5), ML_TARGET[0]], [True, False]),
    "multilabel_margin_loss(0-d)": (
        lambda x, t, r: F.multilabel_margin_loss(x, t, reduction=r),
        lambda x, t, r: TF.multilabel_margin_loss(x, t, reduction=r),
        [rnd(), np.array(0)], [True, False]),
    "cosine_embedding_loss": (
        lambda a, b, y, r: F.cosine_embedding_loss(a, b, y, 0.1, reduction=r),
        lambda a, b, y, r: TF.cosine_embedding_loss(a, b, y, 0.1, reduction=r),
        [rnd(5, 3), rnd(5, 3, seed=3), np.array([1, -1, 1, -1, 0])], [True, True, False]),
    "cosine_embedding_loss(1-D)": (
        lambda a, b, y, r: F.cosine_embedding_loss(a, b, y, -0.5, reduction=r),
        lambda a, b, y, r: TF.cosine_embedding_loss(a, b, y, -0.5, reduction=r),
        [rnd(3), rnd(3, seed=3), np.array(-1)], [True, True, False]),
    "cosine_embedding_loss(broadcast)": (
        lambda a, b, y, r: F.cosine_embedding_loss(a, b, y, reduction=r),
        lambda a, b, y, r: TF.cosine_embedding_loss(a, b, y, reduction=r),
        [rnd(1, 3), rnd(4, 3, seed=3), np.array([1, -1, 1, -1])], [True, True, False]),
    "triplet_margin_loss": (
        lambda a, p, n, r: F.triplet_margin_loss(a, p, n, reduction=r),
        lambda a, p, n, r: TF.triplet_margin_loss(a, p, n, reduction=r),
        [rnd(5, 3), rnd(5, 3, seed=3), rnd(5, 3, seed=4)], [True, True, True]),
    "triplet_margin_loss(p=1, swap, margin)": (
        lambda a, p, n, r: F.triplet_margin_loss(a, p, n, 2.0, 1.0, 1e-3, True, reduction=r),
        lambda a, p, n, r: TF.triplet_margin_loss(a, p, n, 2.0, 1.0, 1e-3, True, reduction=r),
        [rnd(5, 3), rnd(5, 3, seed=3), rnd(5, 3, seed=4)], [True, True, True]),
    "triplet_margin_loss(1-D and 3-D)": (
        lambda a, p, n, r: F.triplet_margin_loss(a, p, n, reduction=r),
        lambda a, p, n, r: TF.triplet_margin_loss(a, p, n, reduction=r),
        [rnd(2, 3, 4), rnd(2, 3, 4, seed=3), rnd(2, 3, 4, seed=4)], [True, True, True]),
    "triplet_margin_with_distance_loss": (
        lambda a, p, n, r: F.triplet_margin_with_distance_loss(a, p, n, swap=True, reduction=r),
        lambda a, p, n, r: TF.triplet_margin_with_distance_loss(a, p, n, swap=True,
                                                                reduction=r),
        [rnd(5, 3), rnd(5, 3, seed=3), rnd(5, 3, seed=4)], [True, True, True]),
    "triplet_margin_with_distance_loss(cosine)": (
        lambda a, p, n, r: F.triplet_margin_with_distance_loss(
            a, p, n, distance_function=_cos_distance(F), margin=0.5, reduction=r),
        lambda a, p, n, r: TF.triplet_margin_with_distance_loss(
            a, p, n, distance_function=_cos_distance(TF), margin=0.5, reduction=r),
        [rnd(5, 3), rnd(5, 3, seed=3), rnd(5, 3, seed=4)], [True, True, True]),
    "poisson_nll_loss": (
        lambda x, t, r: F.poisson_nll_loss(x, t, reduction=r),
        lambda x, t, r: TF.poisson_nll_loss(x, t, reduction=r),
        [rnd(6), COUNTS], [True, True]),
    "poisson_nll_loss(full)": (
        lambda x, t, r: F.poisson_nll_loss(x, t, full=True, reduction=r),
        lambda x, t, r: TF.poisson_nll_loss(x, t, full=True, reduction=r),
        [rnd(5), np.array([1.5, 2.0, 5.0, 0.5, 3.0])], [True, True]),  # t = 0 and 1: below
    "poisson_nll_loss(rates, full, eps)": (
        lambda x, t, r: F.poisson_nll_loss(x, t, False, True, eps=1e-3, reduction=r),
        lambda x, t, r: TF.poisson_nll_loss(x, t, False, True, eps=1e-3, reduction=r),
        [uniform(2, 5, low=0.1, high=3), uniform(2, 5, seed=4, high=4)], [True, True]),
    "gaussian_nll_loss": (
        lambda x, t, v, r: F.gaussian_nll_loss(x, t, v, reduction=r),
        lambda x, t, v, r: TF.gaussian_nll_loss(x, t, v, reduction=r),
        [rnd(3, 2), rnd(3, 2, seed=3), uniform(3, 2, low=0.2, high=2)], [True, True, True]),
    "gaussian_nll_loss(full, one var per row)": (
        lambda x, t, v, r: F.gaussian_nll_loss(x, t, v, True, reduction=r),
        lambda x, t, v, r: TF.gaussian_nll_loss(x, t, v, True, reduction=r),
        [rnd(3, 2), rnd(3, 2, seed=3), uniform(3, low=0.2, high=2)], [True, True, True]),
    "gaussian_nll_loss(var of size 1 in a middle dim)": (
        lambda x, t, v, r: F.gaussian_nll_loss(x, t, v, reduction=r),
        lambda x, t, v, r: TF.gaussian_nll_loss(x, t, v, reduction=r),
        [rnd(4, 3, 2), rnd(4, 3, 2, seed=3), uniform(4, 1, 2, low=0.2, high=2)],
        [True, True, True]),
    "gaussian_nll_loss(number var, broadcast target)": (
        lambda x, t, r: F.gaussian_nll_loss(x, t, 0.3, reduction=r),
        lambda x, t, r: TF.gaussian_nll_loss(x, t, 0.3, reduction=r),
        [rnd(3, 2), rnd(2, seed=3)], [True, True]),
}


def run_both(case, dtype, reduction, contiguous=True):
    """(our output, torch's, our gradients, torch's) of a case on the same values; with
    ``contiguous=False`` our 2-D float inputs are transposed views of transposed leaves."""
    fo, ft, arrays, grads = CASES[case]
    leaves, args, theirs = [], [], []
    for a, g in zip(arrays, grads):
        if a.dtype.kind != "f":
            leaves.append(None)
            args.append(nerve.tensor(a))
            theirs.append(torch.tensor(a))
            continue
        a = a.astype(dtype)
        view = not contiguous and a.ndim == 2
        leaf = nerve.tensor(np.ascontiguousarray(a.T) if view else a, dtype=dtype,
                            requires_grad=g)
        leaves.append(leaf)
        args.append(leaf.T if view else leaf)
        theirs.append(torch.tensor(a, requires_grad=g))
    out, ref = fo(*args, reduction), ft(*theirs, reduction)
    out.sum().backward()
    ref.sum().backward()
    got = [None if not g else leaf.grad.numpy().T if not contiguous and leaf.ndim == 2 else
           leaf.grad.numpy() for leaf, g in zip(leaves, grads)]
    want = [t.grad.numpy() if g else None for t, g in zip(theirs, grads)]
    return out, ref, got, want


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch(record_op, case, reduction, dtype):
    out, ref, got, want = run_both(case, dtype, reduction)
    assert out.shape == tuple(ref.shape)
    assert str(out.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL[dtype])
    for g, w in zip(got, want):
        if w is not None:
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, **TOL[dtype])
    record_op("parity", f"{case}({reduction})")


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][2][0].ndim == 2])
def test_non_contiguous_inputs_match_torch(case):
    out, ref, got, want = run_both(case, "float64", "sum", contiguous=False)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL["float64"])
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, **TOL["float64"])


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(record_op, case):
    fo, _, arrays, grads = CASES[case]
    diff = [nerve.tensor(a, dtype="float64", requires_grad=True)
            for a, g in zip(arrays, grads) if g]
    const = [None if g else nerve.tensor(a) for a, g in zip(arrays, grads)]

    def fn(*xs):
        it = iter(xs)
        return fo(*[next(it) if c is None else c for c in const], "sum")

    assert nerve.gradcheck(fn, diff)
    record_op("gradcheck", case)


# --- the hinges, ties and zero vectors, as PyTorch's subgradients ------------------------------
def _grads_vs_torch(fo, ft, arrays, grads):
    ours = [nerve.tensor(a, dtype="float64", requires_grad=g) if a.dtype.kind == "f" else
            nerve.tensor(a) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    out, ref = fo(*ours), ft(*theirs)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-12, atol=1e-15)
    for o, t, g in zip(ours, theirs, grads):
        if g:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_margins_exactly_at_the_hinge_give_torchs_gradients(record_op):
    one, zero = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    _grads_vs_torch(lambda a, b, y: F.margin_ranking_loss(a, b, y, 1.0),  # -y(a-b)+1 == 0
                    lambda a, b, y: TF.margin_ranking_loss(a, b, y, 1.0),
                    [one, zero, np.array([1.0, 1.0])], [True, True, True])
    _grads_vs_torch(lambda x, y: F.hinge_embedding_loss(x, y),  # margin - x == 0
                    lambda x, y: TF.hinge_embedding_loss(x, y),
                    [np.array([1.0, 0.0, 2.0]), np.array([-1.0, -1.0, 1.0])], [True, False])
    _grads_vs_torch(lambda x, t: F.multi_margin_loss(x, t),  # margin - x_y + x_j == 0: no grad
                    lambda x, t: TF.multi_margin_loss(x, t),
                    [np.array([[1.0, 0.0, -1.0], [0.5, 0.0, 1.5]]), np.array([0, 2])],
                    [True, False])
    _grads_vs_torch(lambda x, t: F.multi_margin_loss(x, t, p=2),
                    lambda x, t: TF.multi_margin_loss(x, t, p=2),
                    [np.array([[1.0, 0.0, -1.0]]), np.array([0])], [True, False])
    _grads_vs_torch(lambda x, t: F.multilabel_margin_loss(x, t),
                    lambda x, t: TF.multilabel_margin_loss(x, t),
                    [np.array([[1.0, 0.0, -1.0]]), np.array([[0, -1, 2]])], [True, False])
    _grads_vs_torch(lambda a, b, y: F.cosine_embedding_loss(a, b, y, 0.0),  # cos == margin
                    lambda a, b, y: TF.cosine_embedding_loss(a, b, y, 0.0),
                    [np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]),
                     np.array([-1.0, -1.0])], [True, True, False])
    a, p, n = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])
    _grads_vs_torch(lambda a, p, n: F.triplet_margin_loss(a, p, n, eps=0.0),  # 1 + 1 - 2 == 0
                    lambda a, p, n: TF.triplet_margin_loss(a, p, n, eps=0.0),
                    [a, p, n], [True, True, True])
    _grads_vs_torch(lambda a, p, n: F.triplet_margin_loss(a, p, n, 3.0, swap=True),  # tie
                    lambda a, p, n: TF.triplet_margin_loss(a, p, n, 3.0, swap=True),
                    [np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[0.5, 0.0]])],
                    [True, True, True])
    record_op("parity", "margin losses at the hinge")


def test_multilabel_margin_targets_counted_as_pytorch():
    # a class listed twice counts twice; nothing after the first -1 is read
    x = nerve.tensor([[0.1, 0.2, 0.4, 0.8]], dtype="float64")
    got = F.multilabel_margin_loss(x, np.array([[3, 3, -1, 1]]), reduction="none")
    np.testing.assert_allclose(got.numpy(), [2 * (0.3 + 0.4 + 0.6) / 4])
    # every class a target, or none: 0
    assert F.multilabel_margin_loss(x, np.array([[0, 1, 2, 3]])).item() == 0
    assert F.multilabel_margin_loss(x, np.array([[-1, 1, 2, 3]])).item() == 0


def test_cosine_embedding_zero_vectors_as_torch(record_op):
    for margin in (-0.5, 0.0):
        _grads_vs_torch(lambda a, b, y, m=margin: F.cosine_embedding_loss(a, b, y, m),
                        lambda a, b, y, m=margin: TF.cosine_embedding_loss(a, b, y, m),
                        [np.zeros((3, 3)), np.array([[0.3, -0.2, 0.5], [0, 0, 0], [1, 2, 3.0]]),
                         np.array([1.0, -1.0, -1.0])], [True, True, False])
    record_op("parity", "cosine_embedding_loss(zero vectors)")


def test_soft_margin_is_stable_where_torch_overflows():
    x = nerve.tensor([-800.0, 800.0], dtype="float64", requires_grad=True)
    loss = F.soft_margin_loss(x, np.array([1.0, -1.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [800.0, 800.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0])  # torch: inf and NaN here


# --- gradients of targets, weights and variances -------------------------------------------
def test_poisson_full_target_gradient_nan_at_zero_as_torch():
    x, t = rnd(4), np.array([0.0, 1.0, 2.0, 5.0])
    ours = nerve.tensor(t, dtype="float64", requires_grad=True)
    theirs = torch.tensor(t, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        F.poisson_nll_loss(nerve.tensor(x, dtype="float64"), ours, full=True).backward()
    TF.poisson_nll_loss(torch.tensor(x), theirs, full=True).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)
    assert np.isnan(ours.grad.numpy()[0])


def test_gaussian_nll_clamp_passes_the_gradient_as_torch(record_op):
    var = np.array([[0.5, 1e-9], [0.0, 1e-6]])
    _grads_vs_torch(lambda x, t, v: F.gaussian_nll_loss(x, t, v, eps=1e-6),
                    lambda x, t, v: TF.gaussian_nll_loss(x, t, v, eps=1e-6),
                    [rnd(2, 2), rnd(2, 2, seed=3), var], [True, True, True])
    v = nerve.tensor(var, dtype="float64", requires_grad=True)
    F.gaussian_nll_loss(nerve.zeros(2, 2, dtype="float64"), nerve.zeros(2, 2, dtype="float64"),
                        v, reduction="sum").backward()
    # the clamped variances get d/dv 0.5 ln v at v = eps, not 0
    np.testing.assert_allclose(v.grad.numpy(), [[1.0, 5e5], [5e5, 5e5]])
    record_op("parity", "gaussian_nll_loss(clamped var)")


def test_targets_that_torch_gives_no_gradient():
    x = nerve.tensor(rnd(3), dtype="float64", requires_grad=True)
    y = nerve.tensor([1.0, -1.0, 1.0], dtype="float64", requires_grad=True)
    F.hinge_embedding_loss(x, y).backward()  # torch leaves the target's grad empty too
    assert y.grad is None and x.grad is not None
    with pytest.raises(ValueError, match="does not require grad"):
        F.soft_margin_loss(x, y)  # torch refuses it
    with pytest.raises(ValueError, match="does not require grad"):
        F.multi_margin_loss(nerve.tensor(rnd(2, 3)), np.array([0, 1]),
                            weight=nerve.ones(3, requires_grad=True))


# --- dtypes ------------------------------------------------------------------------------------
MIXED = {
    "margin_ranking_loss": (lambda m, a, b: m.margin_ranking_loss(a, b, b.sign()), "float64"),
    "hinge_embedding_loss": (lambda m, a, b: m.hinge_embedding_loss(a, b.sign()), "float32"),
    "soft_margin_loss": (lambda m, a, b: m.soft_margin_loss(a, b.sign()), "float32"),
    "multilabel_soft_margin_loss": (lambda m, a, b: m.multilabel_soft_margin_loss(a, b.abs()),
                                    "float64"),
    "cosine_embedding_loss": (
        lambda m, a, b: m.cosine_embedding_loss(a, b, m.ones(3, dtype=b.dtype)), "float64"),
    "triplet_margin_loss": (lambda m, a, b: m.triplet_margin_loss(a, b, b * 2), "float64"),
    "poisson_nll_loss": (lambda m, a, b: m.poisson_nll_loss(a, b.abs(), full=True), "float64"),
    "gaussian_nll_loss": (lambda m, a, b: m.gaussian_nll_loss(a, b, b.abs()), "float64"),
    "gaussian_nll_loss(number var)": (lambda m, a, b: m.gaussian_nll_loss(a, a.detach(), 0.5),
                                      "float32"),
}


@pytest.mark.parametrize("case", list(MIXED))
def test_float32_input_with_float64_tensors_gives_torchs_dtype(record_op, case):
    fn, expected = MIXED[case]

    class NerveF:  # F's functions with the tensor helpers the cases use
        ones = staticmethod(nerve.ones)

        def __getattr__(self, name):
            return getattr(F, name)

    class TorchF:
        ones = staticmethod(torch.ones)

        def __getattr__(self, name):
            return getattr(TF, name)

    a, b = rnd(3, 4), rnd(3, 4, seed=3) + 0.1
    x = nerve.tensor(a, dtype="float32", requires_grad=True)
    out = fn(NerveF(), x, nerve.tensor(b, dtype="float64"))
    xt = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    ref = fn(TorchF(), xt, torch.tensor(b))
    assert str(out.dtype) == expected == str(ref.dtype).removeprefix("torch.")
    out.backward()
    ref.backward()
    assert x.grad.dtype == nerve.float32
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    record_op("parity", f"{case}(float32 with float64)")


def test_cross_entropy_wider_probability_target_gives_its_dtype_as_torch(record_op):
    x, p = rnd(3, 4, 2), uniform(3, 4, 2)
    p /= p.sum(1, keepdims=True)
    for reduction in REDUCTIONS:
        ours = nerve.tensor(x, dtype="float32", requires_grad=True)
        out = F.cross_entropy(ours, nerve.tensor(p, dtype="float64"), reduction=reduction,
                              label_smoothing=0.1)
        theirs = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        ref = TF.cross_entropy(theirs, torch.tensor(p), reduction=reduction,
                               label_smoothing=0.1)
        assert out.dtype == nerve.float64 and ref.dtype == torch.float64
        out.sum().backward()
        ref.sum().backward()
        assert ours.grad.dtype == nerve.float32
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5,
                                   atol=1e-7)
    # an array target is cast to the logits' dtype (nerve's rule for arrays beside tensors)
    assert F.cross_entropy(nerve.tensor(x, dtype="float32"), p).dtype == nerve.float32
    record_op("parity", "cross_entropy(float32 logits, float64 probabilities)")


# --- empty batches ----------------------------------------------------------------------------
EMPTY = {
    "margin_ranking_loss": lambda m, z: m.margin_ranking_loss(z, z, z),
    "hinge_embedding_loss": lambda m, z: m.hinge_embedding_loss(z, z),
    "soft_margin_loss": lambda m, z: m.soft_margin_loss(z, z),
    "multilabel_soft_margin_loss": lambda m, z: m.multilabel_soft_margin_loss(
        z.reshape(0, 3), z.reshape(0, 3)),
    "cosine_embedding_loss": lambda m, z: m.cosine_embedding_loss(
        z.reshape(0, 3), z.reshape(0, 3), z),
    "triplet_margin_loss": lambda m, z: m.triplet_margin_loss(*[z.reshape(0, 3)] * 3),
    "poisson_nll_loss": lambda m, z: m.poisson_nll_loss(z, z, full=True),
    "gaussian_nll_loss": lambda m, z: m.gaussian_nll_loss(*[z.reshape(0, 3)] * 3),
}


@pytest.mark.parametrize("case", list(EMPTY))
def test_empty_batch_as_torch(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing
        for reduction in REDUCTIONS:
            def f(m, z, reduction=reduction):
                return EMPTY[case](_Reducing(m, reduction), z)

            out = f(F, nerve.zeros(0, dtype="float64"))
            ref = f(TF, torch.zeros(0, dtype=torch.float64))
            assert out.shape == tuple(ref.shape)
            np.testing.assert_array_equal(out.numpy(), ref.numpy())  # NaN for the mean


class _Reducing:
    """A module of functions whose calls get ``reduction``."""

    def __init__(self, m, reduction):
        self.m, self.reduction = m, reduction

    def __getattr__(self, name):
        fn = getattr(self.m, name)
        return lambda *a, **k: fn(*a, reduction=self.reduction, **k)


def test_empty_batch_of_the_class_margin_losses_is_nan_not_garbage():
    # torch's mean over no samples returns uninitialised memory here; nerve's is NaN
    x = nerve.zeros(0, 4, dtype="float64", requires_grad=True)
    t = np.zeros(0, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(F.multi_margin_loss(x, t).item())
        assert np.isnan(F.multilabel_margin_loss(x, np.zeros((0, 4), np.int64)).item())
    assert F.multi_margin_loss(x, t, reduction="sum").item() == 0
    assert F.multilabel_margin_loss(x, np.zeros((0, 4), np.int64), reduction="none").shape == (0,)
    F.multi_margin_loss(x, t, reduction="sum").backward()
    assert x.grad.shape == (0, 4)


# --- modules ----------------------------------------------------------------------------------
MODULES = [
    (nn.MarginRankingLoss(0.2, reduction="sum"),
     torch.nn.MarginRankingLoss(0.2, reduction="sum"), [rnd(4), rnd(4, seed=3), signs(4)]),
    (nn.HingeEmbeddingLoss(0.5), torch.nn.HingeEmbeddingLoss(0.5), [rnd(4), signs(4).astype(int)]),
    (nn.SoftMarginLoss(reduction="none"), torch.nn.SoftMarginLoss(reduction="none"),
     [rnd(4), signs(4).astype(int)]),
    (nn.MultiLabelSoftMarginLoss(CLASS_W[:3]),
     torch.nn.MultiLabelSoftMarginLoss(torch.tensor(CLASS_W[:3])), [rnd(2, 3), uniform(2, 3)]),
    (nn.MultiMarginLoss(2, 0.5, CLASS_W), torch.nn.MultiMarginLoss(2, 0.5, torch.tensor(CLASS_W)),
     [rnd(3, 5), np.array([1, 4, 0])]),
    (nn.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss(), [rnd(4, 5), ML_TARGET]),
    (nn.CosineEmbeddingLoss(0.2), torch.nn.CosineEmbeddingLoss(0.2),
     [rnd(3, 4), rnd(3, 4, seed=3), np.array([1, -1, -1])]),
    (nn.TripletMarginLoss(0.5, 1.5, swap=True), torch.nn.TripletMarginLoss(0.5, 1.5, swap=True),
     [rnd(3, 4), rnd(3, 4, seed=3), rnd(3, 4, seed=4)]),
    (nn.TripletMarginWithDistanceLoss(distance_function=_cos_distance(F)),
     torch.nn.TripletMarginWithDistanceLoss(distance_function=_cos_distance(TF)),
     [rnd(3, 4), rnd(3, 4, seed=3), rnd(3, 4, seed=4)]),
    (nn.PoissonNLLLoss(False, True, eps=1e-4), torch.nn.PoissonNLLLoss(False, True, eps=1e-4),
     [uniform(5, low=0.1), COUNTS[1:]]),
    (nn.GaussianNLLLoss(full=True, eps=1e-3), torch.nn.GaussianNLLLoss(full=True, eps=1e-3),
     [rnd(3, 2), rnd(3, 2, seed=3), uniform(3, 1)]),
]


@pytest.mark.parametrize("ours, theirs, arrays", MODULES,
                         ids=[type(m[0]).__name__ for m in MODULES])
def test_modules_match_torch(record_op, ours, theirs, arrays):
    args = [nerve.tensor(a, dtype="float64", requires_grad=True) if a.dtype.kind == "f" else
            nerve.tensor(a) for a in arrays]
    targs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out, ref = ours(*args), theirs(*targs)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL["float64"])
    for a, t in zip(args, targs):
        if t.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), **TOL["float64"])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    record_op("parity", type(ours).__name__)


def test_module_reprs_and_weight_buffers():
    assert repr(nn.MultiMarginLoss()) == "MultiMarginLoss(p=1, margin=1.0, reduction='mean')"
    assert repr(nn.TripletMarginLoss(swap=True, reduction="sum")) == (
        "TripletMarginLoss(margin=1.0, p=2.0, eps=1e-06, swap=True, reduction='sum')")
    assert repr(nn.SoftMarginLoss()) == "SoftMarginLoss(reduction='mean')"
    w = nn.MultiMarginLoss(weight=np.arange(1, 4.0)).weight
    assert w.dtype == nerve.float64 and not w.requires_grad
    assert nn.MultiLabelSoftMarginLoss().weight is None


def test_fit_takes_the_single_target_losses():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    for loss in (nn.MultiMarginLoss(), nn.MultiLabelSoftMarginLoss()):
        nerve.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        target = y if isinstance(loss, nn.MultiMarginLoss) else \
            np.eye(3, dtype=np.float32)[y]
        h = nerve.fit(model, x, target, loss=loss, epochs=15, batch_size=16, verbose=0,
                      optimizer=functools.partial(nerve.optim.Adam, lr=0.02), seed=0)
        assert h.history["loss"][-1] < 0.5 * h.history["loss"][0], type(loss).__name__
    nerve.manual_seed(0)
    model = nn.Linear(4, 1)
    counts = rng.poisson(np.exp(x[:, :1])).astype(np.float32)
    h = nerve.fit(model, x, counts, loss=nn.PoissonNLLLoss(), epochs=20, batch_size=16,
                  verbose=0, seed=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


# --- errors -----------------------------------------------------------------------------------
def _x(*shape):
    return nerve.tensor(rnd(*shape), dtype="float64")


def test_reduction_is_checked_and_given_by_keyword():
    with pytest.raises(ValueError, match=re.escape("('mean', 'sum', 'none')")):
        F.soft_margin_loss(_x(3), np.ones(3), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.MarginRankingLoss(reduction="batchmean")
    with pytest.raises(TypeError):  # torch's third is size_average: refused, not misread
        F.soft_margin_loss(_x(3), np.ones(3), "sum")
    with pytest.raises(TypeError):
        nn.SoftMarginLoss("sum")
    with pytest.raises(TypeError):
        F.hinge_embedding_loss(_x(3), np.ones(3), 1.0, None, None, "sum")
    with pytest.raises(TypeError):
        nn.MultiMarginLoss(size_average=False)
    with pytest.raises(TypeError):  # eps comes after torch's size_average
        F.poisson_nll_loss(_x(3), np.ones(3), True, False, 1e-8)


def test_bad_arguments_are_refused():
    x = _x(2, 3)
    with pytest.raises(ValueError, match="margin > 0"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match="margin > 0"):
        nn.TripletMarginWithDistanceLoss(margin=-1.0)
    with pytest.raises(TypeError, match="distance_function"):
        F.triplet_margin_with_distance_loss(x, x, x, distance_function="euclidean")
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.triplet_margin_loss(_x(3), x, x)
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.margin_ranking_loss(_x(2), x, np.ones(2))
    with pytest.raises(ValueError, match="broadcast"):
        F.margin_ranking_loss(_x(3), _x(2), np.ones(3))
    with pytest.raises(ValueError, match="p = 1 or 2"):
        F.multi_margin_loss(x, np.array([0, 1]), p=3)
    with pytest.raises(ValueError, match="p = 1 or 2"):
        nn.MultiMarginLoss(p=0)
    with pytest.raises(ValueError, match=re.escape("class indices in [0, 2]")):
        F.multi_margin_loss(x, np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        F.multi_margin_loss(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="target of shape"):
        F.multi_margin_loss(x, np.array([[0], [1]]))
    with pytest.raises(ValueError, match="one weight per class"):
        F.multi_margin_loss(x, np.array([0, 1]), weight=np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        F.multi_margin_loss(_x(2, 3, 4), np.array([0, 1]))
    with pytest.raises(ValueError, match=re.escape("or -1 after the last")):
        F.multilabel_margin_loss(x, np.array([[0, -1, 5], [0, 1, 2]]))
    with pytest.raises(ValueError, match=re.escape("or -1 after the last")):
        F.multilabel_margin_loss(x, np.array([[0, -2, 1], [0, 1, 2]]))
    with pytest.raises(ValueError, match="input's shape"):
        F.multilabel_margin_loss(x, np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"\(N,\) or \(\)"):
        F.cosine_embedding_loss(_x(2, 3, 4), _x(2, 3, 4), np.ones((2, 3)))
    with pytest.raises(ValueError, match="inputs of 2 dimensions"):
        F.cosine_embedding_loss(_x(4), _x(4), np.ones(1))
    with pytest.raises(ValueError, match="broadcast"):
        F.cosine_embedding_loss(x, x, np.ones(3))
    with pytest.raises(ValueError, match=r"\(C,\) or \(N, C\)"):
        F.multilabel_soft_margin_loss(_x(), np.ones(()))
    with pytest.raises(ValueError, match="variance"):
        F.gaussian_nll_loss(x, x, -np.ones((2, 3)))
    with pytest.raises(ValueError, match="variance"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="var.shape"):
        F.gaussian_nll_loss(_x(4, 3, 2), _x(4, 3, 2), np.ones((1, 1, 2)))
    with pytest.raises(TypeError, match="floating-point"):
        F.gaussian_nll_loss(x, x, nerve.ones(2, 3, dtype="int64"))
    with pytest.raises(TypeError, match="True or False"):
        nn.PoissonNLLLoss(full=1)
    with pytest.raises(TypeError, match="floating-point"):
        F.soft_margin_loss(nerve.tensor([1, 2]), np.ones(2))


# --- in fit: the metrics "auto" picks, the losses fit cannot call (from the review) -----------
def test_fit_auto_metrics_with_the_new_losses():
    """metrics="auto" guessed accuracy from the integer targets of multi-label, margin and
    likelihood losses and crashed in the first epoch; the multi-class margin loss is a
    classifier (argmax of its scores)."""
    from nerve.train import metrics

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    cases = [
        (nn.MultiLabelMarginLoss(), np.tile([0, 2, -1], (32, 1)), ()),
        (nn.MultiLabelSoftMarginLoss(), (rng.random((32, 3)) < 0.5).astype(np.int64), ()),
        (nn.PoissonNLLLoss(), rng.integers(0, 5, (32, 3)), ()),
        (nn.SoftMarginLoss(), np.where(rng.random((32, 3)) < 0.5, 1, -1), ()),
        (nn.HingeEmbeddingLoss(), np.where(rng.random((32, 3)) < 0.5, 1, -1), ()),
        (nn.MultiMarginLoss(), rng.integers(0, 3, 32), ("accuracy",)),
    ]
    for loss, y, expected in cases:
        assert metrics.default_metrics(loss, y) == expected, loss
        nerve.manual_seed(0)
        model = nn.Linear(4, 3)
        history = nerve.fit(model, x, y, loss=loss, epochs=2, batch_size=8, verbose=0)
        assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all(), loss
        assert ("accuracy" in history.history) == ("accuracy" in expected), loss
    assert metrics.default_metrics(F.poisson_nll_loss, rng.integers(0, 5, 4)) == ()


@pytest.mark.parametrize("loss", [nn.MarginRankingLoss(), nn.CosineEmbeddingLoss(),
                                  nn.TripletMarginLoss(), nn.TripletMarginWithDistanceLoss(),
                                  nn.GaussianNLLLoss()], ids=lambda m: type(m).__name__)
def test_fit_refuses_a_loss_of_more_than_two_inputs_before_training(loss):
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match=f"fit calls loss.output, target., and "
                       f"{type(loss).__name__} takes more inputs"):
        nerve.fit(nn.Linear(4, 3), x, np.zeros((8, 3), np.float32), loss=loss, epochs=1,
                  verbose=0)
    with pytest.raises(ValueError, match="takes more inputs"):
        nerve.fit(nn.Linear(4, 3), x, np.zeros((8, 3), np.float32), loss=type(loss),
                  epochs=1, verbose=0)


def test_a_numpy_or_list_weight_keeps_a_float32_loss_float32():
    """A float64 NumPy weight made MultiLabelSoftMarginLoss's float32 loss float64 (the
    functional form and BCE's stayed float32): the module uses its weight in the input's dtype,
    as the BCE modules do (a float64 model keeps the float64 weight exactly)."""
    x = nerve.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    y = nerve.tensor((np.arange(12).reshape(4, 3) % 2).astype(np.float32))
    for w in (np.array([1.0, 2.0, 0.5]), [1.0, 2.0, 0.5]):
        loss = nn.MultiLabelSoftMarginLoss(weight=w)(x, y)
        assert loss.dtype == np.float32
        ref = TF.multilabel_soft_margin_loss(torch.tensor(x.detach().numpy()),
                                             torch.tensor(y.numpy()),
                                             weight=torch.tensor(w, dtype=torch.float32))
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    x64 = x.detach().to(nerve.float64)
    loss = nn.MultiLabelSoftMarginLoss(weight=np.array([1.0, 2.0, 1 / 3]))(x64, y.double())
    ref = TF.multilabel_soft_margin_loss(torch.tensor(x64.numpy()),
                                         torch.tensor(y.numpy()).double(),
                                         weight=torch.tensor([1.0, 2.0, 1 / 3],
                                                             dtype=torch.float64))
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-14)


def test_feature_alpha_dropout_passes_a_1d_input_in_eval_as_pytorch():
    x = nerve.tensor([1.0, -2.0, 3.0])
    assert F.feature_alpha_dropout(x, 0.5).tolist() == [1.0, -2.0, 3.0]  # training=False
    assert F.feature_alpha_dropout(x, 0.0, training=True).tolist() == [1.0, -2.0, 3.0]
    layer = nn.FeatureAlphaDropout(0.5).eval()
    assert layer(x).tolist() == [1.0, -2.0, 3.0]
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(x, 0.5, training=True)
