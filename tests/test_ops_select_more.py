"""scatter (and scatter_ in place), median, nanmedian and kthvalue: values and gradients against
PyTorch in float32 and float64, finite differences in float64, and the edge cases (ties, NaN,
repeated indices, keepdim, negative dims, 0-d and empty inputs, bad arguments)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import distinct, off_grid, smooth

import nerve

torch = pytest.importorskip("torch")
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
NAN = float("nan")


def const(m, a):
    """A non-differentiable argument (an index): the array for nerve, a tensor for torch."""
    return a if m is nerve or not isinstance(a, np.ndarray) else torch.from_numpy(a)


def both(fn, *arrays, dtype=np.float64, upstream_seed=1):
    """Run ``fn(module, *tensors)`` with nerve and torch on the same inputs, backward with the
    same upstream gradient (through ``values`` for a (values, indices) result); returns
    (nerve output, torch output, nerve grads, torch grads)."""
    arrays = [np.asarray(a, dtype) for a in arrays]
    xs = [nerve.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(nerve, *xs), fn(torch, *ts)
    o, r = (out[0], ref[0]) if isinstance(out, tuple) else (out, ref)
    up = np.random.default_rng(upstream_seed).standard_normal(o.shape).astype(dtype)
    o.backward(up)
    r.backward(torch.from_numpy(up))
    grads = [np.zeros(a.shape, dtype) if x.grad is None else np.asarray(x.grad) for a, x in
             zip(arrays, xs)]
    tgrads = [np.zeros(a.shape, dtype) if t.grad is None else t.grad.numpy() for a, t in
              zip(arrays, ts)]
    return out, ref, grads, tgrads, up


def assert_same(a, b, dtype):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, equal_nan=True, **TOL[dtype])


def parity(record_op, name, fn, *arrays, dtype):
    """Values, dtypes, shapes and every input's gradient equal to PyTorch's."""
    out, ref, grads, tgrads, _ = both(fn, *arrays, dtype=dtype)
    for o, r in zip(out, ref) if isinstance(out, tuple) else [(out, ref)]:
        assert_same(o, r, dtype)
    for i, (g, t) in enumerate(zip(grads, tgrads)):
        assert g.dtype == dtype, f"input {i}"
        np.testing.assert_allclose(g, t, err_msg=f"input {i}", **TOL[dtype])
    record_op("parity", name)


def selected(record_op, name, fn, x, dim, keepdim, dtype):
    """Where the chosen index may differ from PyTorch's (ties, NaN): the values equal PyTorch's,
    the index points at an element equal to the value, and the gradient goes to that index."""
    out, ref, (g,), _, up = both(fn, x, dtype=dtype)
    assert isinstance(out, tuple) and out._fields == ("values", "indices")
    assert_same(out.values, ref.values, dtype)
    idx = out.indices.numpy()
    assert idx.dtype == np.int64 and idx.shape == tuple(ref.indices.shape)
    idx_k = idx if keepdim else np.expand_dims(idx, dim)
    x = np.asarray(x, dtype)
    picked = np.take_along_axis(x, idx_k, dim)
    np.testing.assert_array_equal(picked, out.values.detach().numpy().reshape(picked.shape))
    expected = np.zeros_like(x)
    np.put_along_axis(expected, idx_k, up.reshape(idx_k.shape), dim)
    np.testing.assert_array_equal(g, expected)
    record_op("parity", name)


def every_statistic(record_op, x, dim, keepdim, dtype):
    """median, nanmedian and every kthvalue of ``x`` along ``dim``, checked by ``selected``."""
    cases = [(op, lambda m, t, op=op: getattr(m, op)(t, dim, keepdim))
             for op in ("median", "nanmedian")]
    cases += [("kthvalue", lambda m, t, k=k: m.kthvalue(t, k, dim, keepdim))
              for k in range(1, x.shape[dim] + 1)]
    for name, fn in cases:
        selected(record_op, name, fn, x, dim, keepdim, dtype)


def gradcheck(record_op, name, fn, *arrays):
    assert nerve.gradcheck(fn, [nerve.tensor(a, dtype=nerve.float64) for a in arrays])
    record_op("gradcheck", name)


# --- median, nanmedian, kthvalue along a dim: distinct values, every index as PyTorch's ---------
DIM_CASES = [((5,), 0), ((6,), -1), ((4, 6), 1), ((4, 6), -2), ((2, 3, 4), 0), ((2, 3, 4), 1),
             ((2, 3, 4), -1), ((2, 1, 4), 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", DIM_CASES, ids=str)
@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_median_dim_parity(record_op, op, shape, dim, keepdim, dtype):
    fn = lambda m, x: getattr(m, op)(x, dim, keepdim)  # noqa: E731
    parity(record_op, op, fn, distinct(shape, seed=3), dtype=dtype)
    parity(record_op, op, lambda m, x: getattr(x, op)(dim=dim, keepdim=keepdim),
           distinct(shape, seed=4), dtype=dtype)  # the Tensor method, keywords


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", DIM_CASES, ids=str)
def test_kthvalue_parity(record_op, shape, dim, keepdim, dtype):
    n = shape[dim]
    for k in sorted({1, (n + 1) // 2, n}):
        parity(record_op, "kthvalue", lambda m, x, k=k: m.kthvalue(x, k, dim, keepdim),
               distinct(shape, seed=k), dtype=dtype)
        parity(record_op, "kthvalue", lambda m, x, k=k: x.kthvalue(k, dim=dim, keepdim=keepdim),
               distinct(shape, seed=k + 9), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_kthvalue_default_dim_is_last(record_op, dtype):
    parity(record_op, "kthvalue", lambda m, x: m.kthvalue(x, 2), distinct((3, 5), seed=2),
           dtype=dtype)


# --- ties and NaN: the values as PyTorch, the index at an equal element, the gradient there ---
TIES = [np.array([2.0, 1.0, 2.0, 1.0]), np.array([3.0, 3.0, 3.0]), np.array([0.0, -0.0, 1.0]),
        np.array([[1.0, 2.0, 2.0, 1.0, 0.0], [-1.0, -1.0, 5.0, -1.0, 5.0]]),
        np.round(smooth((2, 4, 5), seed=6)), np.round(smooth((3, 2, 4), seed=7))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", range(len(TIES)))
def test_ties(record_op, case, keepdim, dtype):
    x = TIES[case]
    for dim in range(-x.ndim, x.ndim):
        every_statistic(record_op, x, dim, keepdim, dtype)


NANS = np.array([[3.0, NAN, 1.0, NAN], [NAN, NAN, NAN, NAN], [4.0, 1.0, 2.0, 3.0],
                 [NAN, 2.0, 2.0, 7.0], [5.0, 5.0, NAN, 5.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("keepdim", [False, True])
def test_nan_along_dim(record_op, keepdim, dtype):
    """median is NaN where a slice holds one (the index at a NaN); nanmedian skips them (NaN
    only where all are); kthvalue counts NaN as the largest."""
    for x, dim in ((NANS, 1), (NANS.T.copy(), 0), (NANS.reshape(5, 2, 2), -1)):
        every_statistic(record_op, x, dim, keepdim, dtype)
    values = nerve.median(nerve.tensor(NANS), 1).values.numpy()
    np.testing.assert_array_equal(np.isnan(values), [True, True, False, True, True])


# --- the median of all values: lower median, ties share the gradient, NaN ------------------------
FULL = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 1.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0]),
        np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0]), np.array(7.0), np.array([-0.0, 0.0]),
        distinct((3, 4), seed=1), np.round(smooth((2, 3, 4), seed=2)),
        np.array([3.0, NAN, 3.0, NAN]), np.array([3.0, NAN, 1.0, NAN, 2.0]),
        np.array([NAN, NAN]), np.array([[-1.0, -5.0], [NAN, -2.0]])]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", range(len(FULL)))
@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_median_all_values(record_op, op, case, dtype):
    parity(record_op, op, lambda m, x: getattr(m, op)(x), FULL[case], dtype=dtype)
    parity(record_op, op, lambda m, x: getattr(x, op)(), FULL[case], dtype=dtype)


def test_median_is_the_lower_middle_not_the_mean():
    assert nerve.median(nerve.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.0
    assert nerve.median(nerve.tensor([[4.0, 1.0, 3.0, 2.0]]), 1).values.item() == 2.0
    assert nerve.nanmedian(nerve.tensor([4.0, NAN, 1.0, 3.0, 2.0])).item() == 2.0


@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_integer_input(op):
    a = np.array([[5, -2, 7, 7], [0, 3, 3, -8]])
    t = torch.from_numpy(a)
    assert_same(getattr(nerve, op)(a), getattr(torch, op)(t), np.float64)
    for o, r in zip(getattr(nerve, op)(nerve.tensor(a), 1), getattr(torch, op)(t, 1)):
        np.testing.assert_array_equal(o.numpy(), r.numpy())
        assert o.dtype == np.int64
    o, r = nerve.kthvalue(nerve.tensor(a), 3, 1), torch.kthvalue(t, 3, 1)
    np.testing.assert_array_equal(o.values.numpy(), r.values.numpy())


def test_zero_dim_and_empty_inputs():
    for fn in (lambda m, x: m.median(x, 0), lambda m, x: m.kthvalue(x, 1, -1, True),
               lambda m, x: m.nanmedian(x, -1)):
        o, r = fn(nerve, nerve.tensor(5.0)), fn(torch, torch.tensor(5.0))
        assert o.values.shape == () and o.values.item() == r.values.item() == 5.0
        assert o.indices.shape == () and o.indices.item() == r.indices.item() == 0
    assert np.isnan(nerve.median(nerve.zeros(0)).item())
    assert np.isnan(torch.median(torch.zeros(0)).item())
    o = nerve.median(nerve.zeros(0, 3), 1)  # the reduced dim is not empty: an empty result
    assert o.values.shape == o.indices.shape == (0,) == tuple(torch.median(torch.zeros(0, 3),
                                                                           1).values.shape)
    with pytest.raises(ValueError, match="non-zero size"):
        nerve.median(nerve.zeros(0, 3), 0)
    with pytest.raises(ValueError, match="non-zero size"):
        nerve.nanmedian(nerve.zeros(2, 0), -1)


def test_bad_arguments_of_order_statistics():
    x = nerve.tensor(distinct((3, 4)))
    for k in (0, 5, -1):
        with pytest.raises(ValueError, match=r"k in \[1, 4\]"):
            nerve.kthvalue(x, k)
        with pytest.raises(RuntimeError):
            torch.kthvalue(torch.from_numpy(distinct((3, 4))), k)
    with pytest.raises(ValueError, match=r"k in \[1, 3\]"):
        x.kthvalue(4, 0)
    with pytest.raises(ValueError, match="k in"):
        x.kthvalue(2.0)
    with pytest.raises(ValueError, match="k in"):
        nerve.kthvalue(nerve.tensor(1.0), 2)
    with pytest.raises(ValueError, match="out of range"):
        nerve.median(x, 2)
    with pytest.raises(ValueError, match="out of range"):
        nerve.kthvalue(x, 1, -3)
    with pytest.raises(TypeError, match="one dimension"):
        nerve.median(x, (0, 1))
    with pytest.raises(TypeError, match="one dimension"):
        nerve.kthvalue(x, 1, None)


# --- finite differences ------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", DIM_CASES, ids=str)
def test_gradcheck_order_statistics(record_op, shape, dim):
    x = distinct(shape, seed=5)
    for kd in (False, True):
        gradcheck(record_op, "median", lambda t, kd=kd: nerve.median(t, dim, kd).values, x)
        gradcheck(record_op, "nanmedian", lambda t, kd=kd: t.nanmedian(dim, kd).values, x)
        gradcheck(record_op, "kthvalue", lambda t, kd=kd: nerve.kthvalue(t, 1, dim, kd)[0], x)
        gradcheck(record_op, "kthvalue", lambda t, kd=kd: t.kthvalue(shape[dim], dim, kd)[0], x)
    gradcheck(record_op, "median", nerve.median, x)
    gradcheck(record_op, "nanmedian", nerve.nanmedian, x)


# --- scatter: out of place ---------------------------------------------------------------------
def perm_index(shape, dim, size, seed):
    """An index of ``shape`` whose entries along ``dim`` are distinct places in [0, size)."""
    r = np.random.default_rng(seed)
    idx = np.argsort(r.random(shape[:dim] + (size,) + shape[dim + 1:]), axis=dim)
    return np.take(idx, np.arange(shape[dim]), axis=dim).astype(np.int64)


SCATTER = [((5,), (3,), 0), ((3, 4), (2, 4), 0), ((3, 4), (3, 2), 1), ((3, 4), (2, 3), -1),
           ((3, 5), (2, 2), -2), ((2, 3, 4), (2, 2, 4), 1), ((2, 3, 4), (1, 3, 2), -1),
           ((2, 3, 4), (2, 3, 4), 0), ((3, 4), (0, 4), 0), ((4,), (4,), -1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", SCATTER, ids=str)
def test_scatter_parity(record_op, case, dtype):
    """No place written twice (PyTorch's result is defined): values and both gradients, the
    index smaller (apart from dim) than input; a src larger than the index (PyTorch's backward
    fails there: the values are compared, nerve's src gradient is 0 beyond the index)."""
    xs, ishape, dim = case
    idx = perm_index(ishape, dim % len(xs), xs[dim], seed=len(ishape) + dim)
    fn = lambda m, x, s: m.scatter(x, dim, const(m, idx), s)  # noqa: E731
    parity(record_op, "scatter", fn, off_grid(xs, 1), smooth(ishape, 2), dtype=dtype)
    parity(record_op, "scatter", lambda m, x, s: x.scatter(dim, const(m, idx), src=s),
           off_grid(xs, 3), smooth(ishape, 4), dtype=dtype)
    sshape = tuple(n + 1 for n in ishape)
    big = smooth(sshape, 5).astype(dtype)
    s = nerve.tensor(big, dtype=dtype, requires_grad=True)
    out = nerve.scatter(nerve.tensor(off_grid(xs, 1), dtype=dtype), dim, idx, s)
    assert_same(out, torch.from_numpy(off_grid(xs, 1).astype(dtype)).scatter(
        dim, torch.from_numpy(idx), torch.from_numpy(big)), dtype)
    out.backward(np.ones(xs, dtype))
    part = tuple(slice(n) for n in ishape)
    np.testing.assert_array_equal(s.grad[part], np.ones(ishape))
    assert s.grad.sum() == np.prod(ishape)  # 0 beyond the index
    for value in (2.5, -1, 0):  # a number: positional (as PyTorch) or value=
        parity(record_op, "scatter", lambda m, x, v=value: m.scatter(x, dim, const(m, idx), v),
               off_grid(xs, 5), dtype=dtype)
        parity(record_op, "scatter", lambda m, x, v=value: x.scatter(dim, const(m, idx), value=v),
               off_grid(xs, 6), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_scatter_repeated_indices(record_op, dtype):
    """Several writes to one place: the last (in the index's C order) wins, deterministically;
    the gradients are PyTorch's (which are defined: every src element gets g at its place)."""
    idx = np.array([[0, 1, 0, 2], [0, 0, 0, 2], [2, 1, 1, 2]])
    x, s = off_grid((3, 4), 1), distinct((3, 4), 2)
    out, _, grads, tgrads, _ = both(lambda m, a, b: m.scatter(a, 0, const(m, idx), b), x, s,
                                    dtype=dtype)
    expected = x.astype(dtype)
    out = out.detach()
    for i in range(3):  # the sequential writes, in order
        for j in range(4):
            expected[idx[i, j], j] = s[i, j]
    np.testing.assert_array_equal(out.numpy(), expected)
    for g, t in zip(grads, tgrads):
        np.testing.assert_allclose(g, t, **TOL[dtype])
    flipped = np.flip(np.array([[0, 0, 0, 1]]), axis=1)  # a negatively strided index
    got = nerve.scatter(nerve.zeros(1, 2), 1, flipped, nerve.tensor([[1.0, 2.0, 3.0, 4.0]]))
    np.testing.assert_array_equal(got.numpy(), [[4.0, 1.0]])  # index [1, 0, 0, 0]: last is 4
    record_op("parity", "scatter")


def test_scatter_reduce_and_dtypes():
    idx = np.array([1, 1, 0])
    for src in (np.array([1.0, 2.0, 4.0]), 3.0):
        o = nerve.scatter(nerve.ones(3), 0, idx, nerve.tensor(src) if isinstance(src, np.ndarray)
                          else src, reduce="add")
        with warnings.catch_warnings():  # PyTorch's: reduce= is deprecated
            warnings.simplefilter("ignore")
            r = torch.ones(3).scatter(0, torch.from_numpy(idx), torch.tensor(
                src, dtype=torch.float32) if isinstance(src, np.ndarray) else src, reduce="add")
        assert_same(o, r, np.float32)
    x, s = nerve.zeros(3, requires_grad=True), nerve.tensor([1.0, 2.0, 4.0], requires_grad=True)
    nerve.scatter(x, 0, idx, s, reduce="add").backward(nerve.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(s.grad, [2.0, 2.0, 1.0])  # as scatter_add
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="multiply"):
        nerve.scatter(nerve.ones(3), 0, idx, 2.0, reduce="multiply")
    o = nerve.scatter(nerve.tensor([0, 0, 0]), 0, np.array([1]), 2.5)  # an int input: truncated
    r = torch.tensor([0, 0, 0]).scatter(0, torch.tensor([1]), 2.5)
    np.testing.assert_array_equal(o.numpy(), r.numpy())
    assert o.dtype == np.int64
    o = nerve.scatter(nerve.tensor(1.0), 0, np.array(0), nerve.tensor(3.0))  # 0-d
    assert o.shape == () and o.item() == torch.scatter(torch.tensor(1.0), 0, torch.tensor(0),
                                                       torch.tensor(3.0)).item()


def test_scatter_bad_arguments():
    x, s = nerve.zeros(3, 4), nerve.ones(2, 4)
    with pytest.raises(TypeError, match="src or value"):
        x.scatter(0, np.zeros((2, 4), np.int64))
    with pytest.raises(TypeError, match="src or value"):
        x.scatter(0, np.zeros((2, 4), np.int64), s, value=1.0)
    with pytest.raises(TypeError, match="dtype"):
        x.scatter(0, np.zeros((2, 4), np.int64), nerve.ones(2, 4, dtype=nerve.float64))
    with pytest.raises(TypeError, match="integer index"):
        x.scatter(0, np.zeros((2, 4)), s)
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        x.scatter(0, np.full((2, 4), 3), s)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        x.scatter(1, np.full((2, 4), -1), s)
    with pytest.raises(ValueError, match="no larger than src"):
        x.scatter(0, np.zeros((3, 4), np.int64), s)
    with pytest.raises(ValueError, match="dimensions"):
        x.scatter(0, np.zeros(4, np.int64), 1.0)
    with pytest.raises(ValueError, match="out of range"):
        x.scatter(2, np.zeros((2, 4), np.int64), s)


def test_gradcheck_scatter(record_op):
    for xs, ishape, dim in SCATTER:
        idx = perm_index(ishape, dim % len(xs), xs[dim], seed=3)
        gradcheck(record_op, "scatter", lambda x, s, d=dim, i=idx: nerve.scatter(x, d, i, s),
                  off_grid(xs, 1), smooth(tuple(n + 1 for n in ishape), 2))  # src beyond index
        gradcheck(record_op, "scatter", lambda x, d=dim, i=idx: x.scatter(d, i, 1.5),
                  off_grid(xs, 3))
    # repeated places: the input's gradient (src's is PyTorch's rule, g at every write's place)
    rep = np.array([[0, 1, 0, 2], [0, 0, 0, 2]])
    src = nerve.tensor(distinct((2, 4), 5), dtype=nerve.float64)
    gradcheck(record_op, "scatter", lambda x: nerve.scatter(x, 0, rep, src), off_grid((3, 4), 4))


# --- scatter_ in place, and the one-hot idiom --------------------------------------------------
def test_one_hot_idiom():
    y = np.array([2, 0, 1, 2, 3])
    got = nerve.zeros(5, 4).scatter_(1, nerve.tensor(y).unsqueeze(1), 1.0)
    ref = torch.zeros(5, 4).scatter_(1, torch.from_numpy(y).unsqueeze(1), 1.0)
    assert_same(got, ref, np.float32)
    np.testing.assert_array_equal(got.numpy(), np.eye(4, dtype=np.float32)[y])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("keyword", [False, True])
def test_one_hot_with_a_src_that_requires_grad(record_op, dtype, keyword):
    """scatter_ into a tensor that needs no gradient is recorded when src needs one (src
    given by position or by keyword), and a loss backpropagates to src as in PyTorch."""
    y = np.array([2, 0, 1, 2])

    def fn(m, s, w):
        base = m.zeros((4, 3), dtype=s.dtype)
        idx = (nerve.tensor(y) if m is nerve else torch.from_numpy(y)).unsqueeze(1)
        out = base.scatter_(1, idx, src=s) if keyword else base.scatter_(1, idx, s)
        assert out is base
        return ((out * w).sum(1) ** 2).sum()

    parity(record_op, "scatter_", fn, smooth((4, 1), 1), off_grid((4, 3), 2), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_scatter_inplace_on_a_non_leaf(record_op, dtype):
    """Recorded: the tensor takes the scatter as its history; the old values get g with the
    written places zeroed, src gets g at its places (as PyTorch)."""
    idx = np.array([[1, 0, 2], [0, 2, 1]])

    def fn(m, x, s):
        h = x * 2
        v = h._version
        h.scatter_(0, const(m, idx), s)
        assert h._version == v + 1
        return h * h

    parity(record_op, "scatter_", fn, off_grid((3, 3), 1), smooth((2, 3), 2), dtype=dtype)
    x = nerve.tensor(off_grid((3, 3), 1), requires_grad=True)
    h = x * 2
    h.scatter_(0, idx, 0.5)
    assert h.grad_fn is not None and "Scatter" in h.grad_fn.name()


def test_scatter_inplace_rules():
    idx = np.array([[1, 0]])
    leaf = nerve.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.scatter_(0, idx, 3.0)
    with pytest.raises(RuntimeError, match="leaf"):
        torch.ones(2, 2, requires_grad=True).scatter_(0, torch.from_numpy(idx), 3.0)
    with nerve.no_grad():  # allowed there, in the tensor's own memory
        v, data = leaf._version, leaf._data
        leaf.scatter_(0, idx, 3.0)
    assert leaf._version == v + 1 and leaf._data is data
    np.testing.assert_array_equal(leaf.detach().numpy(), [[1.0, 3.0], [3.0, 1.0]])
    plain = nerve.zeros(2, 2)
    view = plain[0]
    plain.scatter_(1, np.array([[1], [0]]), 7.0)  # no gradient: changes memory, views see it
    np.testing.assert_array_equal(view.numpy(), [0.0, 7.0])
    x = nerve.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # saves its output
    y.scatter_(0, np.array([0]), 2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()
    t = torch.tensor([0.5, 1.0], requires_grad=True).exp()
    t.scatter_(0, torch.tensor([0]), 2.0)
    with pytest.raises(RuntimeError):
        t.sum().backward()


def test_median_with_nan_points_where_pytorch_points():
    """median(x, dim) took the last NaN of a slice (PyTorch the first), and nanmedian of an
    all-NaN slice index 0 (PyTorch the middle one): the gradient landed elsewhere."""
    rows = [[1.0, np.nan, 3.0, np.nan, 0.0], [np.nan] * 5, [2.0, 1.0, 3.0, 0.0, 4.0]]
    for name in ("median", "nanmedian"):
        x = nerve.tensor(rows, dtype=nerve.float64, requires_grad=True)
        tx = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
        ours, theirs = getattr(nerve, name)(x, 1), getattr(torch, name)(tx, 1)
        assert ours.indices.tolist() == theirs.indices.tolist()
        np.testing.assert_array_equal(ours.values.detach().numpy(), theirs.values.detach().numpy())
        ours.values.sum().backward()
        theirs.values.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
