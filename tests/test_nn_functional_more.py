"""PyTorch's normalize, cosine_similarity (and nn.CosineSimilarity), pairwise_distance (and
nn.PairwiseDistance), pad in its four modes, kl_div (and nn.KLDivLoss), and the weights of the
binary cross-entropies (BCELoss's weight, BCEWithLogitsLoss's weight and pos_weight): values
and gradients against torch in float64 and float32, the edge cases, the refusals, save/load
and state_dict round trips, and nerve.fit with the new losses."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float64, np.float32]


def parity(ours, theirs, arrays, dtype=np.float64, grads=None, seed=0):
    """Run ``ours`` on nerve tensors and ``theirs`` on torch tensors made from ``arrays`` (all
    requiring grad unless ``grads`` says which), with the same random upstream gradient, and
    compare the values and every input's gradient."""
    grads = [True] * len(arrays) if grads is None else grads
    ns = [nt(a, dtype, requires_grad=g) for a, g in zip(arrays, grads)]
    ts = [torch.tensor(np.asarray(a, dtype), requires_grad=g) for a, g in zip(arrays, grads)]
    y, ty = ours(*ns), theirs(*ts)
    assert y.dtype == np.dtype(dtype) and tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(seed).normal(size=ty.shape).astype(dtype)
    (y * nt(g, dtype)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for n, t, wanted in zip(ns, ts, grads):
        if wanted:
            assert n.grad is not None
            np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    return y


def nt(a, dtype=np.float64, **kwargs) -> nerve.Tensor:
    """A nerve tensor of ``a`` in ``dtype`` (nerve.tensor alone makes floats float32)."""
    return nerve.tensor(np.asarray(a, dtype), dtype=np.dtype(dtype).name, **kwargs)


def normal(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(size=shape) * scale


# --- normalize -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0}, {"p": 3.0}, {"dim": 0}, {"dim": -1},
                                    {"p": float("inf"), "dim": 2}, {"eps": 0.5}])
def test_normalize_matches_torch(dtype, kwargs):
    x = normal((3, 4, 5))
    parity(lambda a: F.normalize(a, **kwargs), lambda a: TF.normalize(a, **kwargs), [x], dtype)


def test_normalize_defaults_make_unit_rows_and_keep_a_zero_row_zero():
    x = normal((4, 3))
    x[2] = 0
    y = parity(F.normalize, TF.normalize, [x])
    norms = np.linalg.norm(y.detach().numpy(), axis=1)
    np.testing.assert_allclose(norms, [1, 1, 0, 1], atol=1e-12)


def test_normalize_refuses_integers_and_a_dim_out_of_range():
    with pytest.raises(TypeError, match="floating-point input"):
        F.normalize(nerve.tensor([[1, 2]]))
    with pytest.raises((IndexError, ValueError)):
        F.normalize(nerve.tensor([1.0, 2.0]))  # dim=1 of a 1-D input, as torch refuses


# --- cosine similarity and pairwise distance ------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim, s1, s2", [(1, (4, 5), (4, 5)), (0, (4, 5), (4, 5)),
                                         (-1, (2, 3, 5), (5,)), (1, (2, 1, 4), (1, 3, 4)),
                                         (0, (1, 3), (2, 3))])
def test_cosine_similarity_matches_torch(dtype, dim, s1, s2):
    parity(lambda a, b: F.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(
        a, b, dim), [normal(s1, 1), normal(s2, 2)], dtype)


def test_cosine_similarity_clamps_each_norm_as_torch_with_zero_and_tiny_vectors():
    """A zero vector: similarity 0 and torch's (large) gradient x2 / (eps ||x2||); a vector
    shorter than eps: torch's gradient, which keeps the norm's derivative (PyTorch clamps the
    norm in place without recording it)."""
    a = np.array([[0.0, 0.0, 0.0], [1e-10, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    y = parity(F.cosine_similarity, TF.cosine_similarity, [a, b])
    assert y.detach().numpy()[[0, 2, 3]].tolist() == [0, 0, 0]
    parity(lambda u, v: F.cosine_similarity(u, v, eps=1e-3),
           lambda u, v: TF.cosine_similarity(u, v, eps=1e-3), [a * 1e3 * 5e-7, b])


def test_cosine_similarity_module_and_its_save_load_round_trip(tmp_path):
    m = nn.CosineSimilarity(dim=0, eps=1e-6)
    x1, x2 = normal((3, 2)), normal((3, 2), 1)
    parity(m, torch.nn.CosineSimilarity(dim=0, eps=1e-6), [x1, x2])
    model = nn.Sequential(nn.Identity(), nn.CosineSimilarity(dim=0, eps=1e-6))
    nerve.save(model, tmp_path / "m.safetensors")
    back = nerve.load(tmp_path / "m.safetensors")
    assert (back[1].dim, back[1].eps) == (0, 1e-6) and repr(back[1]) == repr(model[1])
    assert "CosineSimilarity" in nn.__all__ and "PairwiseDistance" in nn.__all__


def test_cosine_similarity_checks_its_arguments():
    with pytest.raises(ValueError, match="broadcast together"):
        F.cosine_similarity(nerve.tensor(normal((2, 3))), nerve.tensor(normal((2, 4))))
    with pytest.raises(IndexError, match="dim in"):
        F.cosine_similarity(nerve.tensor(normal((2, 3))), nerve.tensor(normal((2, 3))), dim=2)
    with pytest.raises(TypeError, match="an integer"):
        nn.CosineSimilarity(dim=1.5)
    with pytest.raises(TypeError, match="floating-point input"):  # as torch
        F.cosine_similarity(nerve.tensor([[1, 0]]), nerve.tensor([[1, 1]]))
    with pytest.raises(TypeError, match="floating-point input"):
        F.pairwise_distance(nerve.tensor([[1, 0]]), nerve.tensor([[1, 1]]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs, s1, s2", [({}, (4, 5), (4, 5)), ({"p": 1.0}, (4, 5), (5,)),
                                            ({"keepdim": True}, (2, 3, 4), (2, 3, 4)),
                                            ({"p": 3.0, "eps": 0.1}, (4, 5), (1, 5)),
                                            ({"p": float("inf")}, (4, 5), (4, 5)),
                                            ({}, (5,), (5,))])
def test_pairwise_distance_matches_torch(dtype, kwargs, s1, s2):
    parity(lambda a, b: F.pairwise_distance(a, b, **kwargs),
           lambda a, b: TF.pairwise_distance(a, b, **kwargs), [normal(s1, 1), normal(s2, 2)],
           dtype)


def test_pairwise_distance_of_equal_inputs_is_finite_as_torch():
    x = normal((3, 4))
    parity(F.pairwise_distance, TF.pairwise_distance, [x, x.copy()])


def test_pairwise_distance_module_and_its_save_load_round_trip(tmp_path):
    m = nn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True)
    parity(m, torch.nn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True),
           [normal((3, 4)), normal((3, 4), 1)])
    nerve.save(nn.Sequential(m), tmp_path / "m.safetensors")
    back = nerve.load(tmp_path / "m.safetensors")[0]
    assert (back.p, back.norm, back.eps, back.keepdim) == (1.0, 1.0, 1e-3, True)


# --- pad -------------------------------------------------------------------------------------
PAD_CASES = [
    ("constant", (2, 3, 4), (1, 2)), ("constant", (2, 3, 4), (0, 1, 2, 0, 1, 1)),
    ("constant", (2, 3, 4), (-1, 2)), ("constant", (2, 3, 4), (-2, -2, 1, -1)),
    ("constant", (5,), (3, 0)), ("constant", (2, 3, 4), ()),
    ("reflect", (2, 3, 5), (2, 4)), ("reflect", (3, 5), (1, 1)),
    ("reflect", (1, 2, 4, 5), (1, 2, 3, 1)), ("reflect", (1, 2, 3, 4, 5), (1, 1, 2, 2, 1, 0)),
    ("reflect", (2, 3, 5), (-2, 4)), ("reflect", (2, 3, 5), (3, -4)),
    ("replicate", (2, 3, 4), (5, 2)), ("replicate", (2, 4, 3), (1, 0, 4, 2)),
    ("replicate", (1, 1, 3, 4, 2), (2, 1, 0, 3, 1, 1)), ("replicate", (2, 3, 4), (-3, 2)),
    ("replicate", (2, 1, 5), (-1, -1, 2, 2)),
    ("circular", (2, 3, 5), (5, 2)), ("circular", (2, 3, 5), (1, 3, 3, 0)),
    ("circular", (1, 2, 3, 4, 3), (1, 2, 0, 1, 3, 3)), ("circular", (3, 4), (0, 0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode, shape, pad", PAD_CASES)
def test_pad_matches_torch_with_gradients(dtype, mode, shape, pad):
    """Values and gradients, where the gradient of an edge element is the sum over all the
    places it was copied to (replicate's repeated indices)."""
    parity(lambda a: F.pad(a, pad, mode), lambda a: TF.pad(a, pad, mode), [normal(shape)], dtype)


@pytest.mark.parametrize("value", [None, 0.0, 2.5, -1])
def test_pad_constant_value(value):
    parity(lambda a: F.pad(a, (1, 1, 2, 0), value=value),
           lambda a: TF.pad(a, (1, 1, 2, 0), value=value), [normal((2, 3))])


def test_pad_keeps_integers_and_gives_a_new_tensor():
    x = nerve.tensor([[1, 2, 3]])
    for mode in ("constant", "reflect", "replicate", "circular"):
        y = F.pad(x, [1, 1], mode)
        assert y.dtype == x.dtype
        np.testing.assert_array_equal(y.numpy(), TF.pad(torch.tensor([[1, 2, 3]]), [1, 1],
                                                        mode).numpy())
    same = F.pad(nerve.tensor([1.0, 2.0], requires_grad=True), (0, 0))
    same.sum().backward()
    assert same is not None and same.grad_fn is not None


@pytest.mark.parametrize("mode, shape, pad, error, match", [
    ("constant", (2, 3), (1,), ValueError, "even length"),
    ("constant", (2, 3), (1, 1, 1, 1, 1, 1), ValueError, "at most 2"),
    ("constant", (2, 4), (-3, -2), ValueError, "size >= 0"),
    ("constant", (2, 4), (1.0, 1), TypeError, "tuple of ints"),
    ("constant", (2, 4), 1, TypeError, "tuple of ints"),
    ("zeros", (2, 4), (1, 1), ValueError, "one of"),
    ("reflect", (2, 4), (4, 0), ValueError, "widths < the size 4"),
    ("reflect", (2, 4), (-2, -2), ValueError, "at least one element"),
    ("replicate", (2, 4), (-4, 0), ValueError, "at least one element"),
    ("circular", (2, 4), (5, 0), ValueError, "wraps around once"),
    ("circular", (2, 4), (-1, 2), ValueError, "non-negative widths"),
    ("reflect", (4,), (1, 1), ValueError, "pad of length 2: 2-D or 3-D"),
    ("replicate", (1, 2, 3, 4), (1, 1), ValueError, "2-D or 3-D"),
    ("circular", (2, 3, 4), (1, 1, 1, 1, 1, 1), ValueError, "4-D or 5-D"),
    ("replicate", (2, 3, 0), (1, 1), ValueError, "non-empty dimension"),
])
def test_pad_refusals(mode, shape, pad, error, match):
    """Each also fails in torch (circular's negative widths aside: torch's results are
    unreliable there, nerve refuses them)."""
    with pytest.raises(error, match=re.escape(match)):
        F.pad(nerve.tensor(np.zeros(shape)), pad, mode)
    if not (mode == "circular" and min(pad) < 0):
        with pytest.raises((RuntimeError, NotImplementedError, TypeError)):
            TF.pad(torch.zeros(shape), pad, mode)


def test_pad_refuses_a_value_with_a_mode_that_takes_none():
    x = nerve.tensor(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="no value"):
        F.pad(x, (1, 1), "reflect", 1.0)
    F.pad(x, (1, 1), "reflect", 0.0)  # as torch: 0 is no value


def test_pad_of_a_layer_output_passes_gradients_to_the_layer_as_torch():
    nerve.manual_seed(0)
    conv = nn.Conv1d(1, 2, 3)
    tconv = torch.nn.Conv1d(1, 2, 3).double()
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(conv.weight.detach().numpy(), dtype=torch.float64))
        tconv.bias.copy_(torch.tensor(conv.bias.detach().numpy(), dtype=torch.float64))
    conv = conv.double()
    parity(lambda a: F.pad(conv(a), (2, 1), "replicate"),
           lambda a: TF.pad(tconv(a), (2, 1), "replicate"), [normal((4, 1, 6))])
    np.testing.assert_allclose(conv.weight.grad.numpy(), tconv.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(conv.bias.grad.numpy(), tconv.bias.grad.numpy(), rtol=1e-10)


# --- KL divergence ---------------------------------------------------------------------------
def kl_inputs(shape=(4, 5), seed=0, zeros=True):
    rng = np.random.default_rng(seed)
    logq = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    t = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        t[(0,) * (len(shape) - 1)][1] = 0.0  # xlogy: 0 ln 0 = 0
    return logq, t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(dtype, reduction, log_target):
    logq, t = kl_inputs()
    if log_target:
        t = np.log(t + 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about "mean"
        parity(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
               lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
               [logq, t], dtype, grads=[True, False])
        parity(lambda a, b: nn.KLDivLoss(reduction, log_target)(a, b),
               lambda a, b: torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, b),
               [logq, t], dtype, grads=[True, False])


def test_kl_div_default_is_the_mean_over_elements_and_batchmean_the_true_divergence():
    logq, t = kl_inputs(zeros=False)
    per = t * (np.log(t) - logq)
    x = nt(logq)
    assert F.kl_div(x, t).item() == pytest.approx(per.mean(), rel=1e-12)
    assert nn.KLDivLoss()(x, t).item() == pytest.approx(per.mean(), rel=1e-12)
    assert F.kl_div(x, t, reduction="batchmean").item() == pytest.approx(per.sum() / 4, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nerve does not warn about "mean"
        F.kl_div(x, t)


def test_kl_div_gives_the_target_its_gradient_as_torch():
    logq, t = kl_inputs(zeros=False)
    for lt in (False, True):
        tt = np.log(t) if lt else t
        parity(lambda a, b, lt=lt: F.kl_div(a, b, reduction="sum", log_target=lt),
               lambda a, b, lt=lt: TF.kl_div(a, b, reduction="sum", log_target=lt), [logq, tt])


def test_kl_div_spatial_and_zero_dim_inputs():
    logq, t = kl_inputs((2, 3, 4))
    parity(lambda a, b: F.kl_div(a, b, reduction="batchmean"),
           lambda a, b: TF.kl_div(a, b, reduction="batchmean"), [logq, t], grads=[True, False])
    parity(lambda a, b: F.kl_div(a, b, reduction="batchmean"),
           lambda a, b: TF.kl_div(a, b, reduction="batchmean"), [np.array(-1.0),
                                                                 np.array(0.5)],
           grads=[True, False])


def test_kl_div_checks_its_arguments():
    x = nerve.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("('mean', 'batchmean', 'sum', 'none')")):
        F.kl_div(x, np.zeros((2, 3)), reduction="avg")
    with pytest.raises(ValueError, match="batchmean"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match="target has shape"):
        F.kl_div(x, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="True or False"):
        nn.KLDivLoss(log_target=1)
    with pytest.raises(TypeError):
        F.kl_div(x, np.zeros((2, 3)), "sum")  # torch's third is size_average: by keyword here
    assert repr(nn.KLDivLoss("batchmean", True)) == \
        "KLDivLoss(reduction='batchmean', log_target=True)"


def test_fit_trains_with_kl_div_batchmean():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    t = rng.dirichlet(np.ones(4), size=32).astype(np.float32)
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.LogSoftmax(dim=1))
    h = nerve.fit(model, x, t, loss=nn.KLDivLoss(reduction="batchmean"), epochs=5,
                  batch_size=8, verbose=0, metrics=[])
    assert np.isfinite(h["loss"]).all() and h["loss"][-1] < h["loss"][0]


# --- binary cross-entropy weights -------------------------------------------------------------
def logits_and_targets(shape=(4, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * 3, rng.uniform(size=shape).round(1)


WEIGHT_SHAPES = [None, (3,), (4, 1), (4, 3), (1, 1), ()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", WEIGHT_SHAPES)
@pytest.mark.parametrize("pos_weight_shape", [None, (3,), (4, 3), (1,)])
def test_bce_with_logits_weight_and_pos_weight_match_torch(dtype, reduction, weight_shape,
                                                           pos_weight_shape):
    x, t = logits_and_targets()
    rng = np.random.default_rng(1)
    w = None if weight_shape is None else rng.uniform(0.2, 2, weight_shape)
    pw = None if pos_weight_shape is None else rng.uniform(0.2, 4, pos_weight_shape)

    def tensors(lib, d):
        made = [None if a is None else (nt(a, d) if lib is nerve else torch.tensor(
            np.asarray(a, d))) for a in (w, pw)]
        return made

    nw, npw = tensors(nerve, dtype)
    tw, tpw = tensors(torch, dtype)
    parity(lambda a, b: F.binary_cross_entropy_with_logits(a, b, nw, reduction=reduction,
                                                           pos_weight=npw),
           lambda a, b: TF.binary_cross_entropy_with_logits(a, b, tw, reduction=reduction,
                                                            pos_weight=tpw),
           [x, t], dtype, grads=[True, False])
    parity(lambda a, b: nn.BCEWithLogitsLoss(w, reduction, pw)(a, b),
           lambda a, b: torch.nn.BCEWithLogitsLoss(tw, reduction=reduction, pos_weight=tpw)(a, b),
           [x, t], dtype, grads=[True, False])


def test_bce_with_logits_pos_weight_is_stable_for_large_logits():
    x = np.array([[100.0, -100.0, 100.0, -100.0]])
    t = np.array([[1.0, 0.0, 0.0, 1.0]])
    pw = torch.tensor([3.0, 3.0, 3.0, 3.0], dtype=torch.float64)
    y = parity(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=nt(pw.numpy()), reduction="none"),
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=pw, reduction="none"),
        [x, t], grads=[True, False])
    np.testing.assert_allclose(y.detach().numpy(), [[0, 0, 100, 300]], atol=1e-12)


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
def test_bce_weights_that_require_grad_are_refused_as_torch(name):
    """torch: "not differentiable with respect to argument 'weight'"; nerve says so too."""
    x, t = logits_and_targets()
    w = nt(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable"):
        TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t),
                                            **{name: torch.ones(3, requires_grad=True)})
    with pytest.raises(ValueError, match=re.escape(f"{name}.detach()")):
        F.binary_cross_entropy_with_logits(nt(x), t, **{name: w})
    if name == "weight":
        with pytest.raises(ValueError, match=re.escape("weight.detach()")):
            F.binary_cross_entropy(nt(np.full((4, 3), 0.5)), t, w)
    F.binary_cross_entropy_with_logits(nt(x), t, **{name: w.detach()})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_shape", WEIGHT_SHAPES)
def test_bce_weight_matches_torch(dtype, reduction, weight_shape):
    x, t = logits_and_targets()
    p = 1 / (1 + np.exp(-x / 3))
    w = None if weight_shape is None else np.random.default_rng(1).uniform(0.2, 2, weight_shape)
    nw = None if w is None else nt(w, dtype)
    tw = None if w is None else torch.tensor(np.asarray(w, dtype))
    parity(lambda a, b: F.binary_cross_entropy(a, b, nw, reduction=reduction),
           lambda a, b: TF.binary_cross_entropy(a, b, tw, reduction=reduction), [p, t], dtype,
           grads=[True, False])
    parity(lambda a, b: nn.BCELoss(w, reduction)(a, b),
           lambda a, b: torch.nn.BCELoss(tw, reduction=reduction)(a, b), [p, t], dtype,
           grads=[True, False])


def test_bce_weights_are_buffers_with_torch_state_dict_keys_and_round_trip():
    w, pw = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 2.0])
    ours = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)
    theirs = torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(pw))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "pos_weight"]
    assert ours.pos_weight.dtype == np.float64 and list(ours.parameters()) == []
    other = nn.BCEWithLogitsLoss(weight=np.ones(3), pos_weight=np.ones(3))
    other.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(other.pos_weight.numpy(), pw)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict({"weight": np.ones(3), "pos_weight": np.ones(4)})
    assert list(nn.BCEWithLogitsLoss(pos_weight=pw).state_dict()) == ["pos_weight"]
    assert list(nn.BCELoss(weight=w).state_dict()) == ["weight"]
    assert nn.BCELoss().state_dict() == {} and nn.BCELoss().weight is None
    assert nn.BCEWithLogitsLoss(pos_weight=[1, 2]).pos_weight.dtype == np.float32  # ints: float


def test_bce_weight_shapes_are_checked():
    x, t = logits_and_targets()
    xt = nerve.tensor(x)
    for shape, name in [((5,), "weight"), ((2, 4, 3), "weight"), ((2,), "pos_weight")]:
        kwargs = {name: np.ones(shape)}
        with pytest.raises(ValueError, match=re.escape(f"a {name} that broadcasts to the "
                                                       "input's shape (4, 3)")):
            nn.BCEWithLogitsLoss(**kwargs)(xt, t)
    with pytest.raises(ValueError, match="broadcasts to the input's shape"):
        nn.BCELoss(weight=np.ones((4, 2)))(nerve.tensor(np.full((4, 3), 0.5)), t)
    with pytest.raises(ValueError, match="non-empty pos_weight"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(0))
    with pytest.raises(TypeError, match="numbers"):
        nn.BCELoss(weight=np.array(["a"]))


def test_bce_legacy_positional_reduction_still_works_and_both_at_once_is_refused():
    x, t = logits_and_targets()
    xt = nerve.tensor(x)
    assert F.binary_cross_entropy_with_logits(xt, t, "sum").item() == pytest.approx(
        F.binary_cross_entropy_with_logits(xt, t, reduction="sum").item())
    assert nn.BCELoss("sum").reduction == "sum"
    with pytest.raises(TypeError, match="reduction is given by keyword"):
        F.binary_cross_entropy_with_logits(xt, t, "sum", reduction="none")
    assert repr(nn.BCEWithLogitsLoss(pos_weight=[2.0])) == "BCEWithLogitsLoss(reduction='mean')"


@pytest.mark.parametrize("loss", [nn.BCEWithLogitsLoss(pos_weight=[2.0]),
                                  nn.BCEWithLogitsLoss(weight=[0.5], pos_weight=[3.0]),
                                  nn.BCELoss(weight=[2.0])])
def test_fit_trains_with_weighted_binary_losses(loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:] > 0).astype(np.float32)
    nerve.manual_seed(0)
    layers = [nn.Linear(2, 1)] + ([nn.Sigmoid()] if isinstance(loss, nn.BCELoss) else [])
    model = nn.Sequential(*layers)
    h = nerve.fit(model, x, y, loss=loss, epochs=5, batch_size=8, verbose=0,
                  optimizer=nerve.optim.SGD(model.parameters(), lr=0.5))
    assert np.isfinite(h["loss"]).all() and h["loss"][-1] < h["loss"][0]
    assert "accuracy" in h.history
