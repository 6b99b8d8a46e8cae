"""PyTorch's further tensor functions (random draws, shapes and indexing, math): values and
gradients against PyTorch in float64 and float32, gradcheck, ints, negative dims, empty
tensors and the errors; random draws by their statistics under a fixed seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nerve

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
TORCH = {np.float64: torch.float64, np.float32: torch.float32}


def _tensors(arrays, grad=True):
    ns = [nerve.tensor(a, dtype=a.dtype, requires_grad=grad and a.dtype.kind == "f")
          for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    return ns, ts


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def parity(nfn, tfn, arrays, grad=True, tol=None):
    """nfn(*nerve tensors) and tfn(*torch tensors): equal values, dtypes, shapes and (with
    ``grad``) gradients of every floating input under the same random output weights."""
    dt = next((a.dtype.type for a in arrays if a.dtype.kind == "f"), np.float32)
    tol = tol or TOL.get(dt, TOL[np.float64])
    ns, ts = _tensors(arrays, grad)
    no, to = _flat(nfn(*ns)), _flat(tfn(*ts))
    assert len(no) == len(to)
    for n, t in zip(no, to):
        assert tuple(n.shape) == tuple(t.shape), (n.shape, t.shape)
        assert str(n.dtype) == str(t.dtype).replace("torch.", ""), (n.dtype, t.dtype)
        np.testing.assert_allclose(n.detach().numpy(), t.detach().numpy(), **tol)
    if not grad:
        return
    rng = np.random.default_rng(1)
    loss_n, loss_t = 0, 0
    for n, t in zip(no, to):
        if t.requires_grad:
            w = rng.standard_normal(t.shape)
            loss_n = loss_n + (n * nerve.tensor(w, dtype=n.dtype)).sum()
            loss_t = loss_t + (t * torch.tensor(w, dtype=t.dtype)).sum()
    if not isinstance(loss_t, torch.Tensor):
        return
    loss_n.backward()
    loss_t.backward()
    for n, t in zip(ns, ts):
        if t.requires_grad:
            tg = t.grad if t.grad is not None and not t.grad._is_zerotensor() else \
                torch.zeros_like(t)
            ng = n.grad.detach().numpy() if n.grad is not None else np.zeros(tuple(n.shape))
            np.testing.assert_allclose(ng, tg.numpy(), **tol)


def rnd(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


BOTH = [np.float64, np.float32]


def _cat_first(out):
    return out


# name, f(module, *tensors), input arrays (float64; float32 made from them); differentiable
CASES = [
    ("unbind", lambda m, x: m.unbind(x, -2), [rnd(2, 3, 4)]),
    ("unbind_method", lambda m, x: x.unbind(), [rnd(3, 2)]),
    ("movedim", lambda m, x: m.movedim(x, (0, -1), (2, 0)), [rnd(2, 3, 4, 5)]),
    ("moveaxis", lambda m, x: x.moveaxis(-1, 0), [rnd(2, 3, 4)]),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, -1), [rnd(2, 3, 4)]),
    ("swapdims", lambda m, x: x.swapdims(1, 2), [rnd(2, 3, 4)]),
    ("tile", lambda m, x: m.tile(x, (2,)), [rnd(2, 3)]),
    ("tile_more", lambda m, x: x.tile((2, 1, 3)), [rnd(2, 3)]),
    ("repeat_interleave", lambda m, x: m.repeat_interleave(x, 2), [rnd(2, 3)]),
    ("repeat_interleave_dim", lambda m, x: x.repeat_interleave(
        m.tensor([1, 0, 3]), dim=-1), [rnd(2, 3)]),
    ("repeat_interleave_out", lambda m, x: m.repeat_interleave(
        x, m.tensor([2, 1]), dim=0, output_size=3), [rnd(2, 3)]),
    ("hstack", lambda m, a, b: m.hstack([a, b]), [rnd(2, 3), rnd(2, 1, seed=1)]),
    ("hstack_1d", lambda m, a, b: m.hstack((a, b)), [rnd(3), rnd(2, seed=1)]),
    ("vstack", lambda m, a, b: m.vstack([a, b]), [rnd(3), rnd(2, 3, seed=1)]),
    ("row_stack", lambda m, a, b: m.row_stack([a, b]), [rnd(3), rnd(3, seed=1)]),
    ("dstack", lambda m, a, b: m.dstack([a, b]), [rnd(2, 3), rnd(2, 3, 2, seed=1)]),
    ("column_stack", lambda m, a, b, c: m.column_stack([a, b, c]),
     [rnd(3), rnd(3, 2, seed=1), rnd(3, seed=2)]),
    ("atleast_1d", lambda m, a, b: m.atleast_1d(a, b), [rnd(), rnd(2, seed=1)]),
    ("atleast_2d", lambda m, a, b: m.atleast_2d([a, b]), [rnd(), rnd(2, seed=1)]),
    ("atleast_3d", lambda m, a, b, c: m.atleast_3d(a, b, c),
     [rnd(), rnd(2, seed=1), rnd(2, 3, seed=2)]),
    ("atleast_3d_one", lambda m, a: m.atleast_3d(a), [rnd(4, 3, 2, 1)]),
    ("tensor_split", lambda m, x: m.tensor_split(x, 3, dim=-1), [rnd(2, 7)]),
    ("tensor_split_idx", lambda m, x: x.tensor_split([1, 4, 2, 9]), [rnd(6, 2)]),
    ("tensor_split_neg", lambda m, x: x.tensor_split((-2,), dim=0), [rnd(6, 2)]),
    ("tensor_split_t", lambda m, x: x.tensor_split(m.tensor([1, 3]), 1), [rnd(2, 5)]),
    ("hsplit", lambda m, x: m.hsplit(x, 2), [rnd(3, 4)]),
    ("hsplit_1d", lambda m, x: x.hsplit([1, 3]), [rnd(5)]),
    ("vsplit", lambda m, x: m.vsplit(x, [1]), [rnd(3, 4)]),
    ("dsplit", lambda m, x: x.dsplit(2), [rnd(1, 2, 4)]),
    ("select", lambda m, x: m.select(x, -1, -2), [rnd(2, 3, 4)]),
    ("select_method", lambda m, x: x.select(0, 1), [rnd(2, 3)]),
    ("take", lambda m, x: m.take(x, m.tensor([[0, -1], [5, 5]])), [rnd(2, 3)]),
    ("index_fill", lambda m, x: m.index_fill(x, -1, m.tensor([0, 2, 2]), -1.5), [rnd(2, 3)]),
    ("index_fill_value", lambda m, x, v: x.index_fill(0, m.tensor([1]), v),
     [rnd(3, 2), rnd(seed=1)]),
    ("index_copy", lambda m, x, s: m.index_copy(x, 1, m.tensor([2, 0]), s),
     [rnd(2, 3), rnd(2, 2, seed=1)]),
    ("rot90", lambda m, x: m.rot90(x), [rnd(2, 3)]),
    ("rot90_k", lambda m, x: x.rot90(3, (-1, 0)), [rnd(2, 3, 4)]),
    ("rot90_k2", lambda m, x: x.rot90(-2, [1, 2]), [rnd(2, 3, 4)]),
    ("rot90_k0", lambda m, x: x.rot90(4, [1, 2]), [rnd(2, 3, 4)]),
    ("diff", lambda m, x: m.diff(x), [rnd(2, 5)]),
    ("diff_n", lambda m, x, p, a: x.diff(2, 0, prepend=p, append=a),
     [rnd(4, 3), rnd(1, 3, seed=1), rnd(2, 3, seed=2)]),
    ("diff_big_n", lambda m, x: m.diff(x, n=7), [rnd(2, 5)]),
    ("cartesian_prod", lambda m, a, b, c: m.cartesian_prod(a, b, c),
     [rnd(2), rnd(3, seed=1), rnd(2, seed=2)]),
    ("cartesian_prod_one", lambda m, a: m.cartesian_prod(a), [rnd(3)]),
    ("combinations", lambda m, x: m.combinations(x), [rnd(4)]),
    ("combinations_r", lambda m, x: m.combinations(x, 3, with_replacement=True), [rnd(3)]),
    ("block_diag", lambda m, a, b, c: m.block_diag(a, b, c),
     [rnd(2, 3), rnd(seed=1), rnd(2, seed=2)]),
    ("kron", lambda m, a, b: m.kron(a, b), [rnd(2, 3), rnd(3, 2, seed=1)]),
    ("kron_nd", lambda m, a, b: a.kron(b), [rnd(2), rnd(2, 1, 3, seed=1)]),
    ("vander", lambda m, x: m.vander(x), [np.array([0.0, 1.5, -2.0, 3.0])]),
    ("vander_n", lambda m, x: m.vander(x, 5, increasing=True), [np.array([0.0, 1.5, -2.0])]),
    ("unflatten", lambda m, x: m.unflatten(x, -1, (2, -1)), [rnd(3, 6)]),
    ("unflatten_method", lambda m, x: x.unflatten(0, (1, 3, 1)), [rnd(3, 2)]),
    # math
    ("logaddexp", lambda m, a, b: m.logaddexp(a, b), [rnd(3, 4), rnd(4, seed=1) * 30]),
    ("logaddexp2", lambda m, a, b: a.logaddexp2(b), [rnd(3, 4), rnd(3, 1, seed=1) * 30]),
    ("deg2rad", lambda m, x: m.deg2rad(x), [rnd(3) * 100]),
    ("rad2deg", lambda m, x: x.rad2deg(), [rnd(3)]),
    ("copysign", lambda m, a, b: m.copysign(a, b), [np.array([0.0, -0.0, 2.0, -3.0]),
                                                     np.array([-1.0, 1.0, -0.0, 2.0])]),
    ("copysign_num", lambda m, a: a.copysign(-2.0), [rnd(3)]),
    ("sgn", lambda m, x: m.sgn(x), [np.array([-2.0, 0.0, 3.0])]),
    ("fmax", lambda m, a, b: m.fmax(a, b), [np.array([1.0, 2.0, np.nan, 3.0, np.nan]),
                                             np.array([1.0, np.nan, 2.0, 4.0, np.nan])]),
    ("fmin", lambda m, a, b: a.fmin(b), [np.array([1.0, 2.0, np.nan, 3.0, -1.0]),
                                          np.array([1.0, np.nan, 2.0, 4.0, 2.0])]),
    ("fmax_bcast", lambda m, a, b: m.fmax(a, b), [rnd(3, 1), rnd(4, seed=1)]),
    ("float_power", lambda m, a, b: m.float_power(a, b), [np.abs(rnd(3)) + 0.1,
                                                          rnd(3, seed=1)]),
    ("float_power_num", lambda m, a: a.float_power(2), [rnd(3)]),
    ("true_divide", lambda m, a, b: m.true_divide(a, b), [rnd(3), rnd(3, seed=1) + 3]),
    ("cummax", lambda m, x: m.cummax(x, -1), [np.array([[1.0, 3.0, 3.0, 2.0, 5.0],
                                                        [0.0, -1.0, 0.0, 4.0, 4.0]])]),
    ("cummin", lambda m, x: x.cummin(0), [rnd(4, 3)]),
    ("cummax_nan", lambda m, x: m.cummax(x, 0), [np.array([1.0, np.nan, 2.0, np.nan, 1.0])]),
    ("logcumsumexp", lambda m, x: m.logcumsumexp(x, -1), [rnd(3, 5) * 10]),
    ("logcumsumexp_far", lambda m, x: x.logcumsumexp(0), [np.array([-1000.0, 0.0, 800.0,
                                                                    1.0])]),
    ("cdist", lambda m, a, b: m.cdist(a, b), [rnd(4, 3), rnd(5, 3, seed=1)]),
    ("cdist_zero", lambda m, a, b: m.cdist(a, b), [np.array([[0.0, 1.0], [2.0, 3.0]]),
                                                    np.array([[0.0, 1.0], [1.0, 1.0]])]),
    ("cdist_p1", lambda m, a, b: m.cdist(a, b, p=1.0), [rnd(2, 4, 3), rnd(1, 5, 3, seed=1)]),
    ("cdist_p3", lambda m, a, b: m.cdist(a, b, 3), [rnd(4, 3), rnd(5, 3, seed=1)]),
    ("cdist_pinf", lambda m, a, b: m.cdist(a, b, math.inf), [rnd(4, 3), rnd(5, 3, seed=1)]),
    ("cdist_p0", lambda m, a, b: m.cdist(a, b, 0), [np.array([[0.0, 1.0], [2.0, 3.0]]),
                                                     np.array([[0.0, 1.0], [2.0, 1.0]])]),
    ("cross", lambda m, a, b: m.cross(a, b, dim=-1), [rnd(4, 3), rnd(4, 3, seed=1)]),
    ("cross_default", lambda m, a, b: a.cross(b), [rnd(3, 4), rnd(3, 4, seed=1)]),
    ("cross_bcast", lambda m, a, b: m.cross(a, b, 1), [rnd(2, 3), rnd(1, 3, seed=1)]),
    ("cov", lambda m, x: m.cov(x), [rnd(3, 5)]),
    ("cov_1d", lambda m, x: x.cov(correction=0), [rnd(5)]),
    ("cov_w", lambda m, x, a: m.cov(x, correction=2, fweights=m.tensor([1, 2, 0, 3, 1]),
                                    aweights=a), [rnd(2, 5), np.abs(rnd(5, seed=1))]),
    ("cov_fw", lambda m, x: m.cov(x, fweights=m.tensor([1, 2, 0, 3, 1])), [rnd(2, 5)]),
    ("corrcoef", lambda m, x: m.corrcoef(x), [rnd(3, 6)]),
    ("corrcoef_1d", lambda m, x: x.corrcoef(), [rnd(6)]),
]
QUANTILE = [(q, dim, keep, how) for how in ("linear", "lower", "higher", "midpoint", "nearest")
            for q, dim, keep in ((0.3, None, False), ([0.0, 0.25, 0.5, 1.0], -1, True),
                                 (0.75, 0, False), ([0.1, 0.9], None, True))]


@pytest.mark.parametrize("dtype", BOTH, ids=["f64", "f32"])
@pytest.mark.parametrize("name,f,arrays", CASES, ids=[c[0] for c in CASES])
def test_parity(name, f, arrays, dtype, record_op):
    arrays = [a.astype(dtype) for a in arrays]
    # torch's vander fails its own backward (an in-place cumprod): values only, and gradcheck
    parity(lambda *a: f(nerve, *a), lambda *a: f(torch, *a), arrays,
           grad=not name.startswith("vander"))
    record_op("parity", name.split("_")[0] if name != "float_power" else name)


GRADCHECK = [c for c in CASES if c[0] not in ("fmax", "cummax", "fmin", "cummax_nan", "sgn",
                                              "cdist_zero", "cdist_p0", "copysign")]


@pytest.mark.parametrize("name,f,arrays", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_gradcheck(name, f, arrays, record_op):
    def fn(*xs):
        out = _flat(f(nerve, *xs))
        return nerve.cat([o.reshape(-1) for o in out if o.dtype.kind == "f"])

    assert nerve.gradcheck(fn, [nerve.tensor(a, dtype=np.float64) for a in arrays])
    record_op("gradcheck", name.split("_")[0] if name != "float_power" else name)


@pytest.mark.parametrize("dtype", BOTH, ids=["f64", "f32"])
@pytest.mark.parametrize("q,dim,keep,how", QUANTILE)
@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile(name, q, dim, keep, how, dtype, record_op):
    x = rnd(4, 5, dtype=dtype)
    x[1, 2] = x[3, 4] = np.nan
    x[2, :] = np.nan
    x[0, 1] = x[0, 3]  # a tie
    y = rnd(4, 5, dtype=dtype, seed=3)
    y[1, 2] = y[3, 0] = np.nan  # no row of NaN only
    # the gradient of a NaN result goes to one of the NaNs, which PyTorch's unstable sort picks
    for data, grad in ((rnd(4, 5, dtype=dtype), True), (x, False), (y, name == "nanquantile")):
        def f(m, t):
            qq = m.tensor(q, dtype=t.dtype) if isinstance(q, list) else q
            return getattr(m, name)(t, qq, dim, keep, interpolation=how)

        parity(lambda t: f(nerve, t), lambda t: f(torch, t), [data], grad=grad)
    if dtype == np.float64:
        assert nerve.gradcheck(lambda t: f(nerve, t), [nerve.tensor(rnd(4, 5))])
        record_op("gradcheck", name)
    record_op("parity", name)


I = np.array([[3, -1, 0], [2, 7, 5]])  # ints
NOGRAD = [
    ("isclose", lambda m, a, b: m.isclose(a, b), [np.array([1.0, np.nan, 1e-9, np.inf]),
                                                   np.array([1.0 + 1e-6, np.nan, 0.0, np.inf])]),
    ("isclose_nan", lambda m, a, b: a.isclose(b, rtol=0.1, atol=0, equal_nan=True),
     [np.array([1.0, np.nan, 2.0]), np.array([1.05, np.nan, 3.0])]),
    ("signbit", lambda m, x: m.signbit(x), [np.array([-0.0, 0.0, -1.0, np.inf])]),
    ("signbit_int", lambda m, x: x.signbit(), [I]),
    ("heaviside", lambda m, x, v: m.heaviside(x, v), [np.array([np.nan, 0.0, -1.0, 2.0]),
                                                       np.array([0.5])]),
    ("searchsorted", lambda m, s, v: m.searchsorted(s, v), [np.array([1.0, 3.0, 3.0, 5.0]),
                                                             np.array([[3.0, 0.0], [6.0, 4.0]])]),
    ("searchsorted_right", lambda m, s, v: m.searchsorted(s, v, right=True, out_int32=True),
     [np.array([1.0, 3.0, 3.0, 5.0]), np.array([3.0, 0.0, 6.0])]),
    ("searchsorted_side", lambda m, s, v: m.searchsorted(s, v, side="right"),
     [np.array([[1.0, 3.0, 5.0], [0.0, 2.0, 2.0]]), np.array([[3.0], [2.0]])]),
    ("searchsorted_sorter", lambda m, s, v: m.searchsorted(s, v, sorter=m.tensor([2, 0, 1])),
     [np.array([3.0, 5.0, 1.0]), np.array([3.0, 4.0])]),
    ("searchsorted_scalar", lambda m, s: m.searchsorted(s, 3), [np.array([1, 3, 5])]),
    ("bucketize", lambda m, x, b: m.bucketize(x, b), [np.array([[3.0, 0.0], [6.0, 1.0]]),
                                                       np.array([1.0, 3.0, 5.0])]),
    ("bucketize_right", lambda m, x, b: m.bucketize(x, b, right=True), [I, np.array([0, 3])]),
    ("bincount", lambda m, x: m.bincount(x), [np.array([1, 1, 3, 0, 1])]),
    ("bincount_min", lambda m, x: x.bincount(minlength=7), [np.array([1, 1, 3])]),
    ("bincount_empty", lambda m, x: x.bincount(minlength=2), [np.zeros(0, np.int64)]),
    ("bincount_w32", lambda m, x, w: m.bincount(x, w), [np.array([1, 1, 3]),
                                                        np.array([0.5, 0.25, 2.0], np.float32)]),
    ("bincount_wint", lambda m, x, w: m.bincount(x, w), [np.array([1, 1, 3]),
                                                         np.array([1, 2, 3])]),
    ("histc", lambda m, x: m.histc(x, bins=4, min=0, max=3), [np.array([1.0, 2, 1, 3, -1,
                                                                          3.5, 0])]),
    ("histc_range", lambda m, x: x.histc(7), [rnd(50)]),
    ("histc_f32", lambda m, x: m.histc(x, 5, -1, 1), [rnd(50, dtype=np.float32)]),
    ("histc_const", lambda m, x: m.histc(x, 4), [np.full(3, 2.0)]),
    # integer inputs
    ("deg2rad_int", lambda m, x: m.deg2rad(x), [I]),
    ("copysign_int", lambda m, a: m.copysign(a, -1), [I]),
    ("float_power_int", lambda m, a: m.float_power(a, 2), [I]),
    ("true_divide_int", lambda m, a: a.true_divide(2), [I]),
    ("cummax_int", lambda m, x: m.cummax(x, 1), [I]),
    ("cummin_bool", lambda m, x: m.cummin(x, 0), [np.array([True, False, True])]),
    ("diff_bool", lambda m, x: m.diff(x), [np.array([True, False, False, True])]),
    ("diff_int", lambda m, x: x.diff(dim=0), [I]),
    ("vander_int", lambda m, x: m.vander(x, 3), [np.array([2, -1, 0])]),
    ("kron_int", lambda m, a, b: m.kron(a, b), [I, np.array([1, -2])]),
    ("block_diag_mixed", lambda m, a, b: m.block_diag(a, b), [I, np.array([[0.5]])]),
    ("cov_int", lambda m, x: m.cov(x), [I]),
    ("take_int", lambda m, x: m.take(x, m.tensor([0, 5])), [I]),
    ("repeat_interleave_idx", lambda m, r: m.repeat_interleave(r), [np.array([2, 0, 3])]),
    ("combinations_r0", lambda m, x: m.combinations(x, 0), [np.array([1.0, 2.0])]),
    ("combinations_big_r", lambda m, x: m.combinations(x, 3), [np.array([1.0, 2.0])]),
    # empty tensors, size-1 and non-contiguous inputs
    ("unbind_empty", lambda m, x: m.unbind(x, 1), [np.zeros((0, 2))]),
    ("tile_empty", lambda m, x: m.tile(x, (2, 3)), [np.zeros((0, 2))]),
    ("tensor_split_empty", lambda m, x: m.tensor_split(x, 3), [np.zeros((0, 2))]),
    ("cummax_empty", lambda m, x: m.cummax(x, 0), [np.zeros((0, 2))]),
    ("logcumsumexp_empty", lambda m, x: m.logcumsumexp(x, 0), [np.zeros((0, 2))]),
    ("diff_empty", lambda m, x: m.diff(x, dim=0), [np.zeros((0, 2))]),
    ("cdist_empty", lambda m, a, b: m.cdist(a, b), [np.zeros((0, 3)), rnd(2, 3)]),
    ("hstack_nc", lambda m, a, b: m.hstack([a.t(), b]), [rnd(3, 2), rnd(2, 1, seed=1)]),
    ("cummin_0d", lambda m, x: m.cummin(x, 0), [np.array(2.0)]),
    ("movedim_0d", lambda m, x: m.movedim(x, [], []), [np.array(2.0)]),
]


@pytest.mark.parametrize("name,f,arrays", NOGRAD, ids=[c[0] for c in NOGRAD])
def test_parity_more(name, f, arrays, record_op):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parity(lambda *a: f(nerve, *a), lambda *a: f(torch, *a), arrays,
               grad=not name.startswith(("vander", "isclose", "signbit", "heaviside",
                                         "searchsorted", "bucketize", "histc", "bincount")))
    record_op("parity", name.split("_")[0])


def test_gradients_at_special_points(record_op):
    # logaddexp at equal operands and far apart; copysign at zero; cdist at zero distance
    a = np.array([1.0, -700.0, 3.0, 0.0])
    b = np.array([1.0, 700.0, -2.0, 0.0])
    parity(nerve.logaddexp, torch.logaddexp, [a, b])
    parity(nerve.logaddexp2, torch.logaddexp2, [a, b])
    assert nerve.gradcheck(nerve.logaddexp, [nerve.tensor(a[[0, 2]]), nerve.tensor(b[[0, 2]])])
    for p in (1.0, 2.0, 3.0, math.inf):
        x = np.array([[0.0, 1.0], [2.0, 3.0]])
        parity(lambda u, v, p=p: nerve.cdist(u, v, p), lambda u, v, p=p: torch.cdist(u, v, p),
               [x, x.copy()])
    record_op("parity", "cdist")


def test_inplace_index_fill_and_copy():
    x = nerve.zeros(2, 3)
    assert x.index_fill_(1, nerve.tensor([0, 2]), 4.0) is x
    assert x.tolist() == [[4.0, 0.0, 4.0], [4.0, 0.0, 4.0]]
    x.index_copy_(0, nerve.tensor([1]), nerve.ones(1, 3))
    assert x.tolist() == [[4.0, 0.0, 4.0], [1.0, 1.0, 1.0]]
    leaf = nerve.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.index_fill_(0, nerve.tensor([0]), 1.0)
    h = leaf * 2
    h.index_fill_(0, nerve.tensor([1]), 5.0)
    h.sum().backward()
    assert leaf.grad.tolist() == [2.0, 0.0, 2.0]
    # index_copy: the last of repeated positions wins
    y = nerve.index_copy(nerve.zeros(3), 0, nerve.tensor([1, 1]), nerve.tensor([7.0, 8.0]))
    assert y.tolist() == [0.0, 8.0, 0.0]


def test_linalg_cross_and_return_types():
    a, b = rnd(2, 3), rnd(2, 3, seed=1)
    np.testing.assert_allclose(nerve.linalg.cross(nerve.tensor(a), nerve.tensor(b)).numpy(),
                               torch.linalg.cross(torch.tensor(a), torch.tensor(b)).numpy())
    v, i = nerve.cummax(nerve.tensor([1.0, 3.0, 2.0]), 0)
    assert nerve.cummax(nerve.tensor([1.0]), 0).values.tolist() == [1.0]
    assert i.dtype == nerve.int64 and v.tolist() == [1.0, 3.0, 3.0]
    assert nerve.select is nerve.Tensor.select and callable(nerve.ops.select.index_fill)


ERRORS = [
    (lambda: nerve.unbind(nerve.tensor(1.0)), ValueError, "at least 1 dimension"),
    (lambda: nerve.movedim(nerve.zeros(2, 3), (0, 1), (0,)), ValueError, "as many"),
    (lambda: nerve.movedim(nerve.zeros(2, 3), (0, 0), (0, 1)), ValueError, "repeated"),
    (lambda: nerve.movedim(nerve.zeros(2, 3), 2, 0), ValueError, "out of range"),
    (lambda: nerve.repeat_interleave(nerve.zeros(3), nerve.tensor([1, 2])), ValueError, "counts"),
    (lambda: nerve.repeat_interleave(nerve.zeros(2), nerve.tensor([1, -1])), ValueError, ">= 0"),
    (lambda: nerve.repeat_interleave(nerve.zeros(2), 2, output_size=3), ValueError, "output_size"),
    (lambda: nerve.tensor_split(nerve.zeros(3), 0), ValueError, "positive"),
    (lambda: nerve.tensor_split(nerve.zeros(3), 1.5), TypeError, "an int or a sequence"),
    (lambda: nerve.hsplit(nerve.zeros(2, 3), 2), ValueError, "evenly"),
    (lambda: nerve.vsplit(nerve.zeros(3), 3), ValueError, "at least 2"),
    (lambda: nerve.dsplit(nerve.zeros(2, 3), 1), ValueError, "at least 3"),
    (lambda: nerve.select(nerve.zeros(2, 3), 1, 3), IndexError, "index in"),
    (lambda: nerve.take(nerve.zeros(2, 3), nerve.tensor([6])), IndexError, "indices in"),
    (lambda: nerve.index_fill(nerve.zeros(2), 0, nerve.tensor([[0]]), 1.0), ValueError, "1-D"),
    (lambda: nerve.index_fill(nerve.zeros(2), 0, nerve.tensor([2]), 1.0), IndexError, "indices"),
    (lambda: nerve.index_copy(nerve.zeros(2, 3), 0, nerve.tensor([0]), nerve.zeros(2, 3)),
     ValueError, "source of shape"),
    (lambda: nerve.index_copy(nerve.zeros(2), 0, nerve.tensor([0]),
                              nerve.zeros(1, dtype=nerve.float64)), TypeError, "dtype"),
    (lambda: nerve.rot90(nerve.zeros(2, 3), 1, (0, 0)), ValueError, "different"),
    (lambda: nerve.rot90(nerve.zeros(2), 1), ValueError, "at least 2"),
    (lambda: nerve.diff(nerve.zeros(3), -1), ValueError, ">= 0"),
    (lambda: nerve.diff(nerve.zeros(3, 2), prepend=nerve.zeros(2)), ValueError, "prepend"),
    (lambda: nerve.cartesian_prod(nerve.zeros(2, 2)), ValueError, "1-D"),
    (lambda: nerve.combinations(nerve.zeros(2, 2)), ValueError, "1-D"),
    (lambda: nerve.block_diag(nerve.zeros(1, 1, 1)), ValueError, "at most 2"),
    (lambda: nerve.vander(nerve.zeros(2, 2)), ValueError, "1-D"),
    (lambda: nerve.unflatten(nerve.zeros(2, 6), 1, (4, -1)), ValueError, "product"),
    (lambda: nerve.unflatten(nerve.zeros(2, 6), 1, ()), TypeError, "non-empty"),
    (lambda: nerve.isclose(nerve.zeros(2), nerve.zeros(2, dtype=nerve.float64)), TypeError,
     "dtype"),
    (lambda: nerve.heaviside(nerve.zeros(2), nerve.zeros(1, dtype=nerve.float64)), TypeError,
     "dtype"),
    (lambda: nerve.cross(nerve.zeros(2, 4), nerve.zeros(2, 4), 1), ValueError, "length 3"),
    (lambda: nerve.cross(nerve.zeros(3), nerve.zeros(2, 3)), ValueError, "one number"),
    (lambda: nerve.searchsorted(nerve.zeros(2, 3), nerve.zeros(3, 1)), ValueError, "leading"),
    (lambda: nerve.searchsorted(nerve.zeros(3), 1.0, side="left", right=True), ValueError,
     "agree"),
    (lambda: nerve.bucketize(nerve.zeros(3), nerve.zeros(2, 2)), ValueError, "1-D"),
    (lambda: nerve.bincount(nerve.tensor([-1, 2])), ValueError, "non-negative"),
    (lambda: nerve.bincount(nerve.tensor([1.0])), ValueError, "integers"),
    (lambda: nerve.bincount(nerve.tensor([1]), nerve.zeros(2)), ValueError, "weights"),
    (lambda: nerve.histc(nerve.tensor([1, 2])), TypeError, "floating"),
    (lambda: nerve.histc(nerve.zeros(2), 4, 3, 1), ValueError, "min < max"),
    (lambda: nerve.cdist(nerve.zeros(2, 3), nerve.zeros(2, 2)), ValueError, "one M"),
    (lambda: nerve.cdist(nerve.zeros(2, 3), nerve.zeros(2, 3), -1), ValueError, "p"),
    (lambda: nerve.cdist(nerve.zeros(2, 3), nerve.zeros(2, 3), compute_mode="x"), ValueError,
     "compute_mode"),
    (lambda: nerve.quantile(nerve.zeros(3), 1.5), ValueError, r"\[0, 1\]"),
    (lambda: nerve.quantile(nerve.zeros(3), 0.5, interpolation="cubic"), ValueError,
     "interpolation"),
    (lambda: nerve.quantile(nerve.zeros(0), 0.5), ValueError, "non-empty"),
    (lambda: nerve.quantile(nerve.tensor([1, 2]), 0.5), ValueError, "floating"),
    (lambda: nerve.quantile(nerve.zeros(3), nerve.tensor([0.5], dtype=nerve.float64)),
     ValueError, "dtype"),
    (lambda: nerve.quantile(nerve.zeros(3), [0.5]), TypeError, "q a number"),
    (lambda: nerve.cov(nerve.zeros(2, 2, 2)), ValueError, "at most 2"),
    (lambda: nerve.cov(nerve.zeros(2, 3), fweights=nerve.tensor([1.0, 1.0, 1.0])), ValueError,
     "integers"),
    (lambda: nerve.cov(nerve.zeros(2, 3), aweights=nerve.tensor([1.0, -1.0, 1.0])), ValueError,
     "non-negative"),
    # random
    (lambda: nerve.randperm(-1), ValueError, ">= 0"),
    (lambda: nerve.randperm(3, generator=0), TypeError, "Generator"),
    (lambda: nerve.multinomial(nerve.tensor([1, 2]), 1), TypeError, "floating"),
    (lambda: nerve.multinomial(nerve.ones(2, 2, 2), 1), ValueError, "1-D or 2-D"),
    (lambda: nerve.multinomial(nerve.tensor([1.0, -1.0]), 1), ValueError, "no inf"),
    (lambda: nerve.multinomial(nerve.tensor([1.0, math.inf]), 1), ValueError, "no inf"),
    (lambda: nerve.multinomial(nerve.tensor([1.0, math.nan]), 1), ValueError, "no inf"),
    (lambda: nerve.multinomial(nerve.tensor([[0.0, 0.0], [1.0, 1.0]]), 1), ValueError,
     "positive sum"),
    (lambda: nerve.multinomial(nerve.tensor([1.0, 1.0]), 3), ValueError, "num_samples"),
    (lambda: nerve.multinomial(nerve.tensor([1.0, 1.0]), 0, True), ValueError, "num_samples"),
    (lambda: nerve.bernoulli(nerve.tensor([1.5])), ValueError, r"\[0, 1\]"),
    (lambda: nerve.bernoulli(nerve.tensor([1])), TypeError, "floating"),
    (lambda: nerve.poisson(nerve.tensor([-1.0])), ValueError, "rates"),
    (lambda: nerve.zeros(3).bernoulli_(2.0), ValueError, r"\[0, 1\]"),
    (lambda: nerve.zeros(3).random_(5, 5), ValueError, "from < to"),
    (lambda: nerve.zeros(3).exponential_(0.0), ValueError, "lambd"),
    (lambda: nerve.zeros(3).geometric_(1.0), ValueError, r"\(0, 1\)"),
    (lambda: nerve.zeros(3, dtype=nerve.int64).exponential_(), TypeError, "floating"),
]


@pytest.mark.parametrize("make,error,match", ERRORS)
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --- random draws: reproducible under manual_seed, right by their statistics ------------------
def _repeatable(draw):
    nerve.manual_seed(7)
    a = draw()
    nerve.manual_seed(7)
    b = draw()
    assert np.array_equal(np.asarray(a.tolist()), np.asarray(b.tolist()))
    return a


def test_randperm():
    p = _repeatable(lambda: nerve.randperm(1000))
    assert p.dtype == nerve.int64 and sorted(p.tolist()) == list(range(1000))
    assert nerve.randperm(0).shape == (0,) and nerve.randperm(4, dtype=nerve.float32).dtype \
        == nerve.float32
    firsts = np.array([nerve.randperm(4).tolist() for _ in range(4000)])
    counts = (firsts[:, 0, None] == np.arange(4)).mean(0)  # each value first 1/4 of the time
    assert np.all(np.abs(counts - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 4000))
    g = nerve.randperm(5, generator=nerve.backend.generator(3)).tolist()
    assert g == nerve.randperm(5, generator=nerve.backend.generator(3)).tolist()


def test_multinomial_with_replacement():
    w = nerve.tensor([[1.0, 0.0, 3.0, 0.0], [0.0, 2.0, 2.0, 0.0]])
    s = _repeatable(lambda: nerve.multinomial(w, 20000, replacement=True))
    assert s.shape == (2, 20000) and s.dtype == nerve.int64
    for row, probs in zip(s.numpy(), (np.array([0.25, 0, 0.75, 0]), np.array([0, .5, .5, 0]))):
        freq = np.bincount(row, minlength=4) / row.size
        assert np.all(np.abs(freq - probs) <= 4 * np.sqrt(probs * (1 - probs) / row.size))
    assert w[0].multinomial(3, True).shape == (3,)
    assert nerve.multinomial(nerve.ones(0, 3), 2).shape == (0, 2)


def test_multinomial_without_replacement():
    w = nerve.tensor([1.0, 2.0, 3.0, 4.0])
    s = _repeatable(lambda: nerve.multinomial(w.expand(20000, 4), 2))
    firsts, pairs = s.numpy()[:, 0], s.numpy()
    assert np.all(pairs[:, 0] != pairs[:, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    freq = np.bincount(firsts, minlength=4) / firsts.size
    assert np.all(np.abs(freq - probs) <= 4 * np.sqrt(probs * (1 - probs) / firsts.size))
    # the second draw from what is left: P(second = 0) = sum_j p_j p_0 / (1 - p_j)
    p2 = sum(probs[j] * probs[0] / (1 - probs[j]) for j in range(1, 4))
    assert abs((pairs[:, 1] == 0).mean() - p2) <= 4 * math.sqrt(p2 * (1 - p2) / 20000)
    # weight-0 categories come last, the lowest first (as PyTorch)
    assert nerve.multinomial(nerve.tensor([1.0, 0.0, 0.0]), 2).tolist() == [0, 1]
    assert sorted(nerve.multinomial(nerve.ones(5), 5).tolist()) == list(range(5))


def test_bernoulli_and_poisson():
    p = nerve.tensor([0.0, 0.2, 0.9, 1.0], dtype=nerve.float64).expand(20000, 4)
    b = _repeatable(lambda: nerve.bernoulli(p))
    assert b.dtype == nerve.float64
    mean = b.numpy().mean(0)
    want = np.array([0.0, 0.2, 0.9, 1.0])
    assert np.all(np.abs(mean - want) <= 4 * np.sqrt(want * (1 - want) / 20000) + 1e-12)
    c = nerve.bernoulli(nerve.zeros(20000), 0.3)
    assert abs(c.numpy().mean() - 0.3) < 4 * math.sqrt(0.21 / 20000)
    x = nerve.tensor([0.2, 0.5], requires_grad=True)
    assert not x.bernoulli().requires_grad
    rates = nerve.tensor([0.0, 0.5, 4.0, 30.0]).expand(20000, 4)
    k = _repeatable(lambda: nerve.poisson(rates)).numpy()
    assert k.dtype == np.float32 and np.all(k == np.round(k)) and np.all(k[:, 0] == 0)
    lam = np.array([0.5, 4.0, 30.0])
    assert np.all(np.abs(k[:, 1:].mean(0) - lam) <= 4 * np.sqrt(lam / 20000))
    assert np.all(np.abs(k[:, 1:].var(0) - lam) <= 0.05 * lam)


def test_inplace_random_fills():
    t = nerve.zeros(20000, dtype=nerve.float64)
    assert _repeatable(lambda: t.clone().bernoulli_(0.25)).numpy().mean() == pytest.approx(
        0.25, abs=4 * math.sqrt(0.1875 / 20000))
    mask = nerve.tensor([0.0, 1.0, 1.0])
    assert nerve.zeros(3).bernoulli_(mask).tolist() == [0.0, 1.0, 1.0]
    assert nerve.zeros(3, dtype=nerve.int64).bernoulli_(1.0).tolist() == [1, 1, 1]
    r = _repeatable(lambda: nerve.zeros(20000).random_(3, 7)).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6} and abs(r.mean() - 4.5) < 4 * math.sqrt(1.25 / 2e4)
    assert set(np.unique(nerve.zeros(2000).random_(2).numpy())) == {0, 1}
    assert set(np.unique(nerve.zeros(2000).random_(to=2).numpy())) == {0, 1}
    big = nerve.zeros(2000).random_().numpy()
    assert big.max() <= 2 ** 24 and big.min() >= 0 and big.max() > 2 ** 20
    assert nerve.zeros(3, dtype=nerve.bool).random_().dtype == nerve.bool
    assert nerve.zeros(1000, dtype=nerve.int64).random_().numpy().max() > 2 ** 60
    e = _repeatable(lambda: nerve.zeros(20000, dtype=nerve.float64).exponential_(2.0)).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 4 * 0.5 / math.sqrt(20000)
    g = _repeatable(lambda: nerve.zeros(20000).geometric_(0.25)).numpy()
    assert g.min() >= 1 and np.all(g == np.round(g))
    assert abs(g.mean() - 4.0) < 4 * math.sqrt(0.75 / 0.0625 / 20000)
    assert abs((g == 1).mean() - 0.25) < 4 * math.sqrt(0.1875 / 20000)
    leaf = nerve.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.exponential_()
    x = nerve.zeros(3)
    v = x._version
    assert x.random_(5) is x and x._version > v


def test_gradcheck_more(record_op):
    w = nerve.tensor([0.5, 0.25, 2.0], dtype=nerve.float64)
    assert nerve.gradcheck(lambda v: nerve.bincount(nerve.tensor([1, 1, 3]), v), [w])
    record_op("gradcheck", "bincount")
    assert nerve.combinations(nerve.zeros(0), 2).shape == (0, 2)
