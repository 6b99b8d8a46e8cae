"""Silent differences from PyTorch found by the review of the new tensor functions and
nerve.linalg, each checked against torch: histc's bins at their edges, PyTorch's promotion when
tensors are joined (cat, stack, hstack..., block_diag, diff's prepend), diff(n=0), a tensor
atol of matrix_rank and pinv, logaddexp's gradient at infinity, cov's squeeze and weight dtype,
random_'s bounds, repeat_interleave with one count, integer matrix powers, empty searchsorted,
norms and cond of empty matrices, sgn(NaN), integer addmm with a float alpha."""

from __future__ import annotations

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")


def _same(ours, theirs, tol=0.0) -> None:
    """Equal values, shape and dtype (NaN equal to NaN)."""
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (ours.dtype,
                                                                          theirs.dtype)
    np.testing.assert_allclose(np.asarray(ours.tolist(), dtype=float),
                               np.asarray(theirs.tolist(), dtype=float), rtol=tol, atol=tol)


def _both(fn, *args):
    """fn(nerve, *args) and fn(torch, *args) (loop values passed as args, not closed over)."""
    return fn(nerve, *args), fn(torch, *args)


# --- H1: histc puts a value on an edge into PyTorch's bin ---------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_histc_values_on_bin_edges(dtype, record_op):
    rng = np.random.default_rng(0)
    cases = [([0.2, 0.4, 0.6, 0.8], 5, 0, 1), (np.arange(256) / 255, 10, 0, 1)]
    for _ in range(60):
        lo = rng.uniform(-5, 5)
        hi, bins = lo + rng.uniform(0.01, 10), int(rng.integers(1, 40))
        values = np.concatenate([np.linspace(lo, hi, bins + 1), rng.uniform(lo - 1, hi + 1, 30)])
        cases.append((values, bins, lo, hi))
    cases.append(([1.0, 2.0, 3.0, 3.0], 4, 0, 0))  # the data's range
    for values, bins, lo, hi in cases:
        _same(*_both(lambda m, v, b, lo, hi: m.histc(m.tensor(np.asarray(v), dtype=getattr(
            m, dtype)), b, lo, hi), values, bins, lo, hi))
    record_op("parity", "histc")


# --- H2, H3: joining int and float tensors gives PyTorch's dtype --------------------------------
JOINS = {
    "cat": lambda m, a, b: m.cat([a, b]),
    "cat_dim1": lambda m, a, b: m.cat([a.reshape(1, -1), b.reshape(1, -1)], 1),
    "stack": lambda m, a, b: m.stack([a, b]),
    "hstack": lambda m, a, b: m.hstack([a, b]),
    "vstack": lambda m, a, b: m.vstack([a, b]),
    "row_stack": lambda m, a, b: m.row_stack([a, b]),
    "dstack": lambda m, a, b: m.dstack([a, b]),
    "column_stack": lambda m, a, b: m.column_stack([a, b]),
    "block_diag": lambda m, a, b: m.block_diag(a.reshape(1, -1), b.reshape(-1, 1)),
    "diff_prepend": lambda m, a, b: m.diff(a, prepend=b),
    "diff_append": lambda m, a, b: m.diff(a, append=b),
}
PAIRS = [("int64", "float32"), ("float32", "int64"), ("int64", "float16"), ("int32", "float64"),
         ("bool", "float32"), ("uint8", "int8"), ("bool", "int16"), ("float32", "float64"),
         ("float16", "float32")]


@pytest.mark.parametrize("name", sorted(JOINS))
@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
def test_joins_promote_as_pytorch(name, pair, record_op):
    da, db = pair
    n, t = _both(lambda m: JOINS[name](m, m.tensor([1, 0]).to(getattr(m, da)),
                                       m.tensor([1, 2]).to(getattr(m, db))))
    _same(n, t)
    record_op("parity", name)


@pytest.mark.parametrize("name", ["cat", "stack", "hstack", "block_diag", "diff_prepend"])
def test_joins_mixed_gradients(name, record_op):
    """The floating input's gradient (in its own dtype) beside an int one, and beside float64."""
    w = np.linspace(-1.5, 3.0, 9)
    for other in ("int64", "float64"):
        grads = []
        for m in (nerve, torch):
            a = m.tensor([1.5, -2.0], dtype=m.float32, requires_grad=True)
            b = m.tensor([3, 4]).to(getattr(m, other))
            y = JOINS[name](m, a, b)
            (y * m.tensor(w[:y.numel()].reshape(tuple(y.shape)), dtype=y.dtype)).sum().backward()
            assert str(a.grad.dtype).removeprefix("torch.") == "float32"
            grads.append(np.asarray(a.grad.tolist()))
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
    record_op("parity", name)


def test_cartesian_prod_refuses_mixed_dtypes():
    with pytest.raises(RuntimeError):
        torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([0.5]))
    with pytest.raises(TypeError, match="one dtype"):
        nerve.cartesian_prod(nerve.tensor([1, 2]), nerve.tensor([0.5]))
    n, t = _both(lambda m: m.cartesian_prod(m.tensor([1, 2]), m.tensor([3])))
    _same(n, t)


# --- H4: diff(n=0) -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_diff_n0_returns_a_copy(dtype, record_op):
    def fn(m, kw):
        dt = getattr(m, dtype)
        extra = {k: m.tensor(v).to(dt) for k, v in kw.items()}
        return m.diff(m.tensor([1, 0, 2]).to(dt), n=0, **extra)

    for kw in ({}, {"prepend": [5, 0]}, {"append": [7, 1]}, {"prepend": [5, 0], "append": [7]}):
        _same(*_both(fn, kw))
    x = nerve.tensor([1.0, 2.0], dtype=nerve.float64, requires_grad=True)
    y = nerve.diff(x, n=0)
    assert y is not x and y.requires_grad
    (y * nerve.tensor([2.0, 3.0], dtype=nerve.float64)).sum().backward()
    assert x.grad.tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="prepend"):
        nerve.diff(nerve.ones(2), n=0, prepend=nerve.ones(2, 2))
    record_op("parity", "diff")


# --- H5: a tensor atol keeps PyTorch's rtol where it is 0 -----------------------------------------
@pytest.mark.parametrize("atol", [0.0, 1e-30, 0.5])
def test_rank_pinv_tensor_atol(atol, record_op):
    A = [[[1.0, 0.0], [0.0, 1e-20]], [[2.0, 0.0], [0.0, 0.25]]]
    def rank(m, dt, at):
        return m.linalg.matrix_rank(m.tensor(A, dtype=getattr(m, dt)),
                                    atol=m.tensor(at, dtype=getattr(m, dt)))

    def pinv(m, dt, at):
        return m.linalg.pinv(m.tensor(A, dtype=getattr(m, dt)),
                             atol=m.tensor(at, dtype=getattr(m, dt)))

    for dt in ("float64", "float32"):
        for at in (atol, [atol, 0.0], [0.0, atol]):
            _same(*_both(rank, dt, at))
            _same(*_both(pinv, dt, at), tol=1e-6)
        _same(*_both(lambda m, dt: m.linalg.matrix_rank(m.tensor(A, dtype=getattr(m, dt)),
                                                        atol=atol), dt))
    record_op("parity", "linalg.matrix_rank")
    record_op("parity", "linalg.pinv")


# --- H6: logaddexp's gradient with one infinite input ---------------------------------------------
@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logaddexp_gradient_at_infinity(name, dtype, record_op):
    a_vals = [INF, 1.0, -INF, 1.0, INF, -INF, 800.0, -3.0, 2.0, INF]
    b_vals = [1.0, INF, 1.0, -INF, -INF, -INF, -800.0, 5.0, 2.0, INF]
    grads = []
    for m in (nerve, torch):
        a = m.tensor(a_vals, dtype=getattr(m, dtype), requires_grad=True)
        b = m.tensor(b_vals, dtype=getattr(m, dtype), requires_grad=True)
        y = getattr(m, name)(a, b)
        (y.masked_fill(y.isinf(), 0.0) * m.tensor(np.linspace(0.5, 2, 10), dtype=y.dtype)
         ).sum().backward()
        grads.append((np.asarray(a.grad.tolist()), np.asarray(b.grad.tolist())))
    tol = 1e-12 if dtype == "float64" else 1e-6
    for g_n, g_t in zip(*grads):
        np.testing.assert_allclose(g_n, g_t, rtol=tol, atol=tol)
    x = [nerve.tensor(np.random.default_rng(2).standard_normal(5), dtype=nerve.float64,
                      requires_grad=True) for _ in range(2)]
    assert nerve.gradcheck(getattr(nerve, name), x)
    record_op("gradcheck", name)
    record_op("parity", name)


# --- M1, M2: cov of one row is 0-d; float aweights promote ----------------------------------------
def test_cov_one_row_and_weight_dtypes(record_op):
    rows = [[1.0, 2.0, 4.0]]
    for fn in (lambda m: m.cov(m.tensor(rows)), lambda m: m.corrcoef(m.tensor(rows)),
               lambda m: m.cov(m.tensor(rows), correction=0),
               lambda m: m.cov(m.tensor(rows), fweights=m.tensor([1, 2, 1])),
               lambda m: m.cov(m.zeros(0, 3)), lambda m: m.cov(m.tensor([1.0, 3.0]))):
        _same(*_both(fn), tol=1e-6)
    x = [[1.0, 2.0, 4.0], [0.0, 1.0, 1.0]]
    def fn(m, xd, fw, aw):
        kw = {}
        if fw:
            kw["fweights"] = m.tensor([1, 2, 1]).to(getattr(m, fw))
        if aw:
            kw["aweights"] = m.tensor([0.5, 2.0, 1.0], dtype=getattr(m, aw))
        return m.cov(m.tensor(x).to(getattr(m, xd)), **kw)

    for xd, fw, aw in (("float32", None, "float64"), ("float64", None, "float32"),
                       ("float32", "int64", "float64"), ("int64", None, "float64"),
                       ("float32", "int64", None), ("float32", None, "float32")):
        _same(*_both(fn, xd, fw, aw), tol=1e-6)
    grads = []
    for m in (nerve, torch):
        a = m.tensor(x, dtype=m.float32, requires_grad=True)
        w = m.tensor([0.5, 2.0, 1.0], dtype=m.float64, requires_grad=True)
        m.cov(a, aweights=w).sum().backward()
        grads.append((np.asarray(a.grad.tolist()), np.asarray(w.grad.tolist())))
    for g_n, g_t in zip(*grads):
        np.testing.assert_allclose(g_n, g_t, rtol=1e-6)
    record_op("parity", "cov")
    record_op("parity", "corrcoef")


# --- M3: random_ refuses bounds outside the dtype's range -----------------------------------------
@pytest.mark.parametrize("dtype, args", [
    ("int8", (0, 1000)), ("int8", (-129, 0)), ("uint8", (-1, 1)), ("uint8", (0, 257)),
    ("bool", (0, 5)), ("bool", (3,)), ("int32", (2 ** 31 + 1,)), ("int16", (-40000, -30000)),
    ("float16", (0, 70000))])
def test_random_bounds_out_of_range(dtype, args):
    with pytest.raises(RuntimeError, match="out of bounds"):
        torch.zeros(3, dtype=getattr(torch, dtype)).random_(*args)
    with pytest.raises(ValueError, match=f"range of {dtype}"):
        nerve.zeros(3, dtype=getattr(nerve, dtype)).random_(*args)


@pytest.mark.parametrize("dtype, args", [
    ("int8", (-128, 128)), ("uint8", (0, 256)), ("bool", (0, 2)), ("bool", ()), ("int64", ()),
    ("float16", (0, 2 ** 11 + 1)), ("int16", (-5, 5)), ("float32", ())])
def test_random_bounds_at_the_edges(dtype, args):
    torch.zeros(3, dtype=getattr(torch, dtype)).random_(*args)  # accepted by torch
    nerve.manual_seed(0)
    x = nerve.zeros(2000, dtype=getattr(nerve, dtype)).random_(*args)
    lo, hi = (args if len(args) == 2 else (0, args[0]) if args else (0, None))
    values = np.asarray(x.tolist(), dtype=float)
    assert values.min() >= lo and (hi is None or values.max() <= hi - 1)
    if dtype == "bool":
        assert 0.4 < values.mean() < 0.6


# --- M4: repeat_interleave with one count in a 1-D tensor -----------------------------------------
def test_repeat_interleave_one_count(record_op):
    for fn in (lambda m: m.repeat_interleave(m.tensor([1, 2, 3]), m.tensor([2])),
               lambda m: m.repeat_interleave(m.arange(6.0).reshape(2, 3), m.tensor([2]), dim=1),
               lambda m: m.repeat_interleave(m.arange(6.0).reshape(2, 3), m.tensor([3]), dim=-2),
               lambda m: m.repeat_interleave(m.zeros(0), m.tensor([2])),
               lambda m: m.repeat_interleave(m.tensor([4.0]), m.tensor([0]))):
        _same(*_both(fn))
    with pytest.raises(ValueError, match=r"\(1,\) or \(3,\)"):
        nerve.repeat_interleave(nerve.tensor([1, 2, 3]), nerve.tensor([1, 2]))
    with pytest.raises(ValueError):
        nerve.repeat_interleave(nerve.tensor([1, 2, 3]), nerve.tensor([[2]]))
    x = nerve.tensor([1.0, 2.0, 3.0], dtype=nerve.float64, requires_grad=True)
    assert nerve.gradcheck(lambda t: nerve.repeat_interleave(t, nerve.tensor([2])), [x])
    record_op("gradcheck", "repeat_interleave")
    record_op("parity", "repeat_interleave")


# --- M5: matrix_power of integer matrices ---------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_matrix_power_integers(dtype, record_op):
    for n in (0, 1, 2, 5):
        for fn in (lambda m, n: m.linalg.matrix_power(m.tensor([[1, 1], [1, 0]]).to(
                       getattr(m, dtype)), n),
                   lambda m, n: m.matrix_power(m.tensor([[[1, 2], [0, 1]]] * 2).to(
                       getattr(m, dtype)), n)):
            _same(*_both(fn, n))
    with pytest.raises(RuntimeError):
        torch.linalg.matrix_power(torch.tensor([[1, 1], [1, 0]]), -1)
    with pytest.raises(TypeError, match="float32 or float64"):
        nerve.linalg.matrix_power(nerve.tensor([[1, 1], [1, 0]]), -1)
    with pytest.raises(TypeError, match="float16"):
        nerve.linalg.matrix_power(nerve.ones(2, 2, dtype=nerve.float16), 2)
    with pytest.raises(TypeError):
        nerve.linalg.inv(nerve.tensor([[1, 1], [1, 0]]))  # the other functions still refuse
    record_op("parity", "linalg.matrix_power")


# --- M6: searchsorted with empty rows or values --------------------------------------------------
def test_searchsorted_empty_nd(record_op):
    for s, v in (((2, 3), (2, 0)), ((2, 0), (2, 3)), ((2, 0), (2, 0)), ((0, 3), (0, 2)),
                 ((2, 2, 0), (2, 2, 1)), ((3, 0), (3, 4))):
        for right in (False, True):
            _same(*_both(lambda m, s, v, r: m.searchsorted(m.zeros(*s), m.ones(*v), right=r),
                         s, v, right))
    record_op("parity", "searchsorted")


# --- M7: norms, cond and cdist of empty matrices --------------------------------------------------
def test_empty_norm_cond_cdist(record_op):
    for fn in (lambda m: m.linalg.matrix_norm(m.zeros(0, 3), 2),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 3, 0), 2, keepdim=True),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), "nuc"),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), 1),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), INF),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), 2),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), 'fro'),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), 'nuc'),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), 1),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), INF),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), 2),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), 'fro'),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), 'nuc'),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 0, 0), 1),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 0, 0), INF),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 0, 0), 2),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 0, 0), 'fro'),
               lambda m: m.linalg.matrix_norm(m.zeros(2, 0, 0), 'nuc'),
               lambda m: m.linalg.matrix_norm(m.zeros(0, 3), -1),
               lambda m: m.linalg.matrix_norm(m.zeros(3, 0), -INF),
               lambda m: m.linalg.cond(m.zeros(0, 3)),
               lambda m: m.cdist(m.ones(2, 0), m.ones(3, 0), p=INF),
               lambda m: m.cdist(m.ones(2, 2, 0), m.ones(2, 3, 0), p=1.0)):
        _same(*_both(fn))
    for p in (None, 2, -2, "fro", "nuc", 1, -1, INF, -INF):
        _same(*_both(lambda m, p: m.linalg.cond(m.zeros(0, 0), p), p))
        _same(*_both(lambda m, p: m.linalg.cond(m.zeros(2, 0, 0, dtype=m.float64), p), p))
    for shape, o in (((3, 0), -1), ((0, 3), -INF), ((0, 3), -2)):  # the least of none: refused
        with pytest.raises(IndexError):
            torch.linalg.matrix_norm(torch.zeros(*shape), o)
        with pytest.raises(ValueError, match="empty"):
            nerve.linalg.matrix_norm(nerve.zeros(*shape), o)
    with pytest.raises(ValueError, match="p None"):
        nerve.linalg.cond(nerve.zeros(0, 0), "bad")
    with pytest.raises(ValueError):
        nerve.linalg.cond(nerve.zeros(0, 3), "fro")  # square only, as for non-empty matrices
    a = nerve.ones(2, 0, requires_grad=True)
    nerve.cdist(a, nerve.ones(3, 0), p=INF).sum().backward()
    assert a.grad.shape == (2, 0)
    record_op("parity", "linalg.cond")
    record_op("parity", "cdist")


# --- L1, L4, L5 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_sgn_nan_is_zero_and_sign_keeps_nan(dtype, record_op):
    values = [NAN, -2.0, 0.0, -0.0, 3.0, INF, -INF] if dtype != "int64" else [-2, 0, 3]
    _same(*_both(lambda m: m.sgn(m.tensor(values).to(getattr(m, dtype)))))
    _same(*_both(lambda m: m.tensor(values).to(getattr(m, dtype)).sgn()))
    assert nerve.sign(nerve.tensor([NAN])).isnan().all()  # sign is left as it was
    if dtype != "int64":
        x = nerve.tensor([NAN, -2.0, 3.0], dtype=getattr(nerve, dtype), requires_grad=True)
        nerve.sgn(x).sum().backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0]
    record_op("parity", "sgn")


def test_addmm_integers_with_float_scalars(record_op):
    def fn(m, beta, alpha):
        one = m.ones(2, 2, dtype=m.int64)
        return m.addmm(one * 3, one, one, beta=beta, alpha=alpha)

    for beta, alpha in ((1, 0.5), (0.5, 1), (1, 1.7), (1, -1.7), (0.5, 0.5), (2, 3)):
        _same(*_both(fn, beta, alpha))
    _same(*_both(lambda m: m.addmm(m.ones(2, 2), m.ones(2, 2), m.ones(2, 2), alpha=0.5)))
    record_op("parity", "addmm")


def test_norm_of_3d_with_ord_and_no_dim_refused():
    with pytest.raises(RuntimeError):
        torch.linalg.norm(torch.ones(2, 2, 2), "fro")
    for ord in ("fro", "nuc", 2):
        with pytest.raises(ValueError, match="1D or 2D"):
            nerve.linalg.norm(nerve.ones(2, 2, 2), ord)
    _same(*_both(lambda m: m.linalg.norm(m.ones(2, 2), "fro")), tol=1e-6)
    _same(*_both(lambda m: m.linalg.norm(m.ones(2, 2, 2))), tol=1e-6)


def test_matmul_docstring_says_lists_are_refused():
    assert "a list is refused" in nerve.matmul.__doc__
    with pytest.raises(TypeError):
        nerve.matmul(nerve.ones(2, 2), [[1.0, 0.0], [0.0, 1.0]])
