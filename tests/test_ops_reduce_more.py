"""prod, cumprod, logsumexp, norm / linalg.vector_norm, var_mean, std_mean, aminmax,
count_nonzero, nansum, nanmean and the integer-division family (floor_divide //, remainder %,
fmod): float64 finite differences, and PyTorch's values and gradients in float32 and float64 on
the same inputs, with zeros, ties, infinities, NaN, empty and negative dims and keepdim."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import away_from_zero, rng, smooth

import nerve

torch = pytest.importorskip("torch")

INF, NAN = float("inf"), float("nan")
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def parity(record_op, name, nerve_fn, torch_fn, *arrays, dtype=np.float32, rtol=None,
           atol=None) -> None:
    """Values (a tensor or a tuple of them), dtypes and input gradients of ``nerve_fn`` and
    ``torch_fn`` on the same ``arrays`` in ``dtype``, with the same upstream gradients; NaN must
    match NaN."""
    rtol = rtol if rtol is not None else 1e-5 if dtype == np.float32 else 1e-10
    atol = atol if atol is not None else 1e-6 if dtype == np.float32 else 1e-12
    arrays = [np.asarray(a, dtype) for a in arrays]
    xs = [nerve.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, refs = nerve_fn(*xs), torch_fn(*ts)
    outs, refs = (outs, refs) if isinstance(outs, tuple) else ((outs,), (refs,))
    assert len(outs) == len(refs)
    loss, ref_loss = 0, 0
    for i, (out, ref) in enumerate(zip(outs, refs)):
        assert out.shape == tuple(ref.shape), f"output {i}"
        assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch.")), f"output {i}"
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"output {i}")
        upstream = rng(i + 1).standard_normal(out.shape).astype(dtype)
        with np.errstate(invalid="ignore"):  # inf - inf in the loss of infinite outputs
            loss = loss + (out * nerve.tensor(upstream, dtype=dtype)).sum()
        ref_loss = ref_loss + (ref * torch.from_numpy(upstream)).sum()
    loss.backward()
    ref_loss.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape, dtype) if t.grad is None else t.grad.detach().numpy()
        got = np.zeros(x.shape, dtype) if x.grad is None else x.grad
        assert got.dtype == dtype, f"input {i}: grad dtype {got.dtype}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"input {i}")
    record_op("parity", name)


def same(fn):
    """One expression for both libraries: ``fn(module, *tensors)`` with nerve and with torch."""
    return (lambda *xs: fn(nerve, *xs)), (lambda *xs: fn(torch, *xs))


def check(record_op, name, fn, *arrays) -> None:
    """gradcheck ``fn`` on float64 tensors; record ``name`` once it passes."""
    assert nerve.gradcheck(fn, [nerve.tensor(a, dtype=nerve.float64) for a in arrays])
    record_op("gradcheck", name)


def signed_distinct(shape, seed=0):
    """|values| 0.1 apart (no ties of |x|), random signs, none near 0."""
    r = rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    return ((r.permutation(n) + 3) * 0.1 * r.choice([-1.0, 1.0], n)).reshape(shape)


ZEROS = np.array([[2.0, 0.0, 3.0, 1.5], [1.0, -2.0, 3.0, 0.5], [0.0, 0.0, 1.0, 2.0],
                  [0.0, 5.0, 0.0, 0.0], [-1.5, 0.5, 2.0, 0.0]])  # 0, 1, 2 and 3 zeros a row


# --- prod ------------------------------------------------------------------------------------
PROD_CASES = {
    "all": (ZEROS, {}), "all-no-zero": (ZEROS[1], {}), "all-one-zero": (ZEROS[0], {}),
    "all-two-zeros": (ZEROS[2], {}), "dim1": (ZEROS, {"dim": 1}),
    "dim0-keepdim": (ZEROS, {"dim": 0, "keepdim": True}), "dim-neg": (ZEROS, {"dim": -1}),
    "3d": (ZEROS[:4].reshape(2, 2, 4), {"dim": 1}), "0d": (np.array(-1.5), {"dim": 0}),
    "empty-dim": (np.zeros((0, 3)), {"dim": 0}), "empty-other": (np.zeros((0, 3)), {"dim": 1}),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", PROD_CASES)
def test_prod_parity(record_op, case, dtype):
    x, kw = PROD_CASES[case]
    parity(record_op, "prod", *same(lambda m, t: m.prod(t, **kw)), x, dtype=dtype)


@pytest.mark.parametrize("case", ["all", "dim1", "dim0-keepdim", "3d"])
def test_prod_gradcheck(record_op, case):
    x, kw = PROD_CASES[case]  # zeros included: the product is smooth there
    check(record_op, "prod", lambda t: t.prod(**kw), x)


def test_prod_gradient_with_zeros_is_exact():
    x = nerve.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 4.0]], requires_grad=True)
    x.prod(1).sum().backward()
    assert np.array_equal(x.grad, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])
    assert np.isfinite(x.grad).all()


def test_prod_dtypes_and_checks():
    assert nerve.tensor([1, 2, 3], dtype=nerve.int32).prod().dtype == np.int64
    assert nerve.tensor([True, False]).prod(0).dtype == np.int64
    assert int(nerve.tensor([2, 3, 4]).prod()) == 24
    x = nerve.tensor([1.0, 0.0, 2.0], requires_grad=True)
    y = x.prod(0, dtype=nerve.float64)
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32 and np.array_equal(x.grad, [0.0, 2.0, 0.0])
    with pytest.raises(TypeError, match="one dimension"):
        nerve.prod(nerve.ones(2, 3), (0, 1))


# --- cumprod ---------------------------------------------------------------------------------
CUMPROD_CASES = {
    "dim1": (ZEROS, 1), "dim0": (ZEROS, 0), "dim-neg": (ZEROS, -1),
    "first": (np.array([0.0, 2.0, 0.0, 3.0]), 0), "last": (np.array([2.0, 3.0, -1.0, 0.0]), 0),
    "no-zero": (np.array([[1.5, -2.0, 0.5], [3.0, 1.0, -1.0]]), 1),
    "3d": (ZEROS[:4].reshape(2, 2, 4), 2), "0d": (np.array(2.5), -1),
    "empty": (np.zeros((0, 3)), 0),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CUMPROD_CASES)
def test_cumprod_parity(record_op, case, dtype):
    x, dim = CUMPROD_CASES[case]
    parity(record_op, "cumprod", *same(lambda m, t: m.cumprod(t, dim)), x, dtype=dtype)


@pytest.mark.parametrize("case", ["dim1", "dim0", "first", "last", "no-zero", "3d", "0d"])
def test_cumprod_gradcheck(record_op, case):
    x, dim = CUMPROD_CASES[case]
    check(record_op, "cumprod", lambda t: t.cumprod(dim), x)


def test_cumprod_dtypes():
    assert nerve.tensor([1, 2, 3], dtype=nerve.int32).cumprod(0).dtype == np.int64
    assert nerve.tensor([1, 2, 3]).cumprod(0).tolist() == [1, 2, 6]
    assert nerve.tensor([1.0, 2.0]).cumprod(0, dtype=nerve.float64).dtype == np.float64
    with pytest.raises(TypeError, match="one dimension"):
        nerve.cumprod(nerve.ones(2, 3), (0, 1))


# --- logsumexp -------------------------------------------------------------------------------
INFS = np.array([[-INF, -INF, -INF], [1.0, 2.0, 3.0], [INF, 1.0, 2.0], [INF, INF, 1.0],
                 [-INF, 0.0, 1.0], [1000.0, 1000.0, -1000.0]])
LSE_CASES = {
    "dim1": (smooth((3, 4), 1), 1), "dim0-keepdim": (smooth((3, 4), 1), 0, True),
    "dims": (smooth((2, 3, 4), 2), (0, 2)), "neg": (smooth((2, 3, 4), 2), -2),
    "all": (smooth((3, 4), 3), ()), "infinities": (INFS, 1), "large": (INFS[5:] * 10, 1),
    "0d": (np.array(0.7), 0), "empty-dim": (np.zeros((0, 3)), 0),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", LSE_CASES)
def test_logsumexp_parity(record_op, case, dtype):
    x, *args = LSE_CASES[case]
    if case == "all":  # torch refuses dim=() here: give it every dim
        parity(record_op, "logsumexp", lambda t: nerve.logsumexp(t, ()),
               lambda t: torch.logsumexp(t, (0, 1)), x, dtype=dtype)
        return
    parity(record_op, "logsumexp", *same(lambda m, t: m.logsumexp(t, *args)), x, dtype=dtype)


@pytest.mark.parametrize("case", ["dim1", "dim0-keepdim", "dims", "neg", "0d"])
def test_logsumexp_gradcheck(record_op, case):
    x, *args = LSE_CASES[case]
    check(record_op, "logsumexp", lambda t: t.logsumexp(*args), x)


def test_logsumexp_edges():
    out = nerve.tensor(INFS).logsumexp(1).numpy()
    assert out[0] == -INF and out[2] == INF and out[3] == INF
    assert np.isclose(out[5], 1000 + np.log(2))
    assert nerve.tensor([1, 2]).logsumexp(0).dtype == np.float32  # int: the default float
    with pytest.raises(TypeError):
        nerve.logsumexp(nerve.ones(3))  # dim is required, as PyTorch


# --- norm ------------------------------------------------------------------------------------
ORDS = [2, "fro", 1, INF, -INF, 0, 0.5, 1.5, 3, 2.5, -1]
NORM_X = np.array([[3.0, -3.0, 1.0, 0.0], [1.0, 2.0, 2.0, -2.0], [0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("dim", [None, 1, -1, 0, (0, 1)], ids=str)
@pytest.mark.parametrize("p", ORDS, ids=str)
def test_norm_parity(record_op, p, dim, dtype):
    """Zeros, all-zero rows, ties of |x| (the inf norms share the gradient as torch does)."""
    kw = {} if dim is None else {"dim": dim}
    parity(record_op, "norm", *same(lambda m, t: t.norm(p, **kw)), NORM_X, dtype=dtype)
    parity(record_op, "norm", *same(lambda m, t: m.norm(t, p, keepdim=True, **kw)), NORM_X,
           dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", ["zeros", "3d", "0d", "empty", "vector"])
def test_vector_norm_parity(record_op, case, dtype):
    x = {"zeros": np.zeros(4), "3d": smooth((2, 3, 2), 4), "0d": np.array(-1.5),
         "empty": np.zeros((0, 3)), "vector": away_from_zero((5,), 3)}[case]
    for ord_ in (2, 1, 3, -INF if case != "empty" else 0):
        parity(record_op, "vector_norm",
               lambda t, o=ord_: nerve.linalg.vector_norm(t, o, keepdim=case == "3d"),
               lambda t, o=ord_: torch.linalg.vector_norm(t, o, keepdim=case == "3d"), x,
               dtype=dtype)
    parity(record_op, "vector_norm", lambda t: nerve.linalg.vector_norm(t, dim=0),
           lambda t: torch.linalg.vector_norm(t, dim=0), x, dtype=dtype)


@pytest.mark.parametrize("p", [2, 1, INF, -INF, 0.5, 1.5, 3, -1])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)], ids=str)
def test_norm_gradcheck(record_op, p, dim):
    check(record_op, "norm", lambda t: t.norm(p, dim, keepdim=dim == 1),
          signed_distinct((2, 3, 2), 5))
    check(record_op, "vector_norm", lambda t: nerve.linalg.vector_norm(t, p, dim),
          signed_distinct((3, 4, 2), 6))


def test_norm_zero_order_and_checks():
    x = nerve.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 0.0]], requires_grad=True)
    y = x.norm(0, 1)
    assert y.tolist() == [2.0, 0.0]
    y.sum().backward()
    assert np.array_equal(x.grad, np.zeros((2, 3)))  # torch: no gradient
    with pytest.raises(TypeError, match="floating-point"):
        nerve.tensor([1, 2]).norm()
    assert nerve.tensor([3, 4]).norm(dtype=nerve.float32).item() == 5.0
    with pytest.raises(ValueError, match="'nuc'"):
        nerve.ones(2, 2).norm("nuc")
    with pytest.raises(ValueError, match="empty"):
        nerve.zeros(0, 3).norm(INF, dim=0)
    assert nerve.zeros(0, 3).norm(INF, dim=1).shape == (0,)
    from nerve.linalg import vector_norm
    assert vector_norm is nerve.linalg.vector_norm


# --- var_mean, std_mean, aminmax ---------------------------------------------------------------
MOMENT_CASES = {
    "all": ((), {}), "dim1": ((1,), {}), "dim-tuple": (((0, 1),), {"keepdim": True}),
    "positional": ((0, False, True), {}), "correction0": ((-1,), {"correction": 0}),
    "constant": ((1,), {}),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["var_mean", "std_mean"])
@pytest.mark.parametrize("case", MOMENT_CASES)
def test_var_std_mean_parity(record_op, case, op, dtype):
    args, kw = MOMENT_CASES[case]
    x = np.ones((3, 4)) if case == "constant" else smooth((3, 4), 2)
    parity(record_op, op, *same(lambda m, t: getattr(m, op)(t, *args, **kw)), x, dtype=dtype)
    out = getattr(nerve, op)(nerve.tensor(x), *args, **kw)
    assert type(out) is tuple and len(out) == 2


@pytest.mark.parametrize("op", ["var_mean", "std_mean"])
def test_var_std_mean_gradcheck(record_op, op):
    def fn(t):
        spread, centre = getattr(nerve, op)(t, 1)
        return spread * 2 + centre

    check(record_op, op, fn, smooth((3, 4), 3))


TIES = np.array([[1.0, 3.0, 3.0], [1.0, 1.0, 0.0], [-2.0, -2.0, -2.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1},
                                {"keepdim": True}], ids=str)
def test_aminmax_parity(record_op, kw, dtype):
    parity(record_op, "aminmax", *same(lambda m, t: tuple(m.aminmax(t, **kw))), TIES,
           dtype=dtype)
    parity(record_op, "aminmax", *same(lambda m, t: tuple(t.aminmax(**kw))), smooth((2, 3), 1),
           dtype=dtype)


def test_aminmax_named_tuple_and_gradcheck(record_op):
    out = nerve.aminmax(nerve.tensor(TIES), dim=1)
    assert out.min.tolist() == [1.0, 0.0, -2.0] and out.max.tolist() == [3.0, 1.0, -2.0]
    assert nerve.aminmax(nerve.tensor([3, 1, 2])).min.dtype == np.int64
    assert nerve.aminmax(nerve.tensor(2.0), dim=0).max.item() == 2.0
    with pytest.raises(TypeError, match="one dimension"):
        nerve.aminmax(nerve.ones(2, 3), dim=(0, 1))
    with pytest.raises(ValueError):
        nerve.aminmax(nerve.zeros(0))
    check(record_op, "aminmax", lambda t: (lambda r: r.min * 2 + r.max)(t.aminmax(dim=0)),
          signed_distinct((3, 4), 2))


# --- count_nonzero, nansum, nanmean --------------------------------------------------------------
WITH_NAN = np.array([[NAN, 1.0, 2.0, 0.0], [NAN, NAN, NAN, NAN], [INF, -1.0, NAN, 0.5]])


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1), ()], ids=str)
def test_count_nonzero(record_op, dim):
    x = np.array([[0.0, 1.0, NAN], [0.0, 0.0, -2.0]])
    out = nerve.count_nonzero(nerve.tensor(x), dim)
    ref = torch.count_nonzero(torch.tensor(x), (0, 1) if dim == () else dim)
    assert out.dtype == np.int64 and out.tolist() == ref.tolist()
    t = nerve.tensor(x, requires_grad=True)
    assert not t.count_nonzero(dim).requires_grad
    record_op("parity", "count_nonzero")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1},
                                {"dim": (0, 1)}], ids=str)
@pytest.mark.parametrize("op", ["nansum", "nanmean"])
def test_nan_reductions_parity(record_op, op, kw, dtype):
    """NaN skipped, no gradient at NaN; an all-NaN row: nansum 0, nanmean NaN (NaN gradient)."""
    parity(record_op, op, *same(lambda m, t: getattr(m, op)(t, **kw)), WITH_NAN, dtype=dtype)
    parity(record_op, op, *same(lambda m, t: getattr(t, op)(**kw)), smooth((3, 4), 5),
           dtype=dtype)


@pytest.mark.parametrize("op", ["nansum", "nanmean"])
def test_nan_reductions_gradcheck_and_dtypes(record_op, op):
    for kw in ({}, {"dim": 1, "keepdim": True}, {"dim": 0}):
        check(record_op, op, lambda t, kw=kw: getattr(t, op)(**kw), smooth((3, 4), 6))
    x = nerve.tensor(WITH_NAN[0], requires_grad=True)
    getattr(x, op)().backward()
    assert x.grad[0] == 0 and np.all(x.grad[1:] > 0)
    if op == "nansum":
        assert nerve.tensor([1, 2], dtype=nerve.int32).nansum().dtype == np.int64
        assert nerve.tensor([True, True]).nansum().item() == 2
    else:
        with pytest.raises(TypeError, match="floating-point"):
            nerve.tensor([1, 2]).nanmean()
    assert getattr(nerve.tensor([1.0, 2.0]), op)(dtype=nerve.float64).dtype == np.float64


# --- floor_divide, remainder, fmod ---------------------------------------------------------------
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 7.0, -7.0, 1e-3, 1e30, INF, -INF, NAN,
                    6.0, -6.0, 0.3, -0.3])
DIVISION = {"floor_divide": lambda m, a, b: a // b, "remainder": lambda m, a, b: a % b,
            "fmod": lambda m, a, b: m.fmod(a, b)}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", DIVISION)
def test_division_special_values(record_op, op, dtype):
    """Every pair of zeros, signs, infinities and NaN, signed zeros included (torch's remainder
    gives -0.0 for -6 % 3, where NumPy's gives 0.0). Not 1e30 by 1e-30: torch's fmod gives NaN
    there (its quotient overflows), nerve the exact remainder (NumPy's fmod)."""
    a, b = (v.ravel().astype(dtype) for v in np.meshgrid(SPECIAL, SPECIAL))
    out = DIVISION[op](nerve, nerve.tensor(a, dtype=dtype), nerve.tensor(b, dtype=dtype)).numpy()
    ref = DIVISION[op](torch, torch.tensor(a), torch.tensor(b)).numpy()
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref)
    assert (np.isnan(ref) | (np.signbit(out) == np.signbit(ref))).all()
    record_op("parity", op)


@pytest.mark.parametrize("op", DIVISION)
def test_division_integers(op):
    a = np.array([7, -7, 7, -7, 0, 5, -1])
    b = np.array([2, 2, -2, -2, 3, 5, 3])
    for x, y in ((a, b), (a.astype(np.int32), b.astype(np.int8)), (a, 2), (-9, b)):
        nx = nerve.tensor(x) if isinstance(x, np.ndarray) else x
        ny = nerve.tensor(y) if isinstance(y, np.ndarray) else y
        tx = torch.tensor(x) if isinstance(x, np.ndarray) or op == "fmod" else x  # torch.fmod
        # takes no number first
        ty = torch.tensor(y) if isinstance(y, np.ndarray) else y
        out, ref = DIVISION[op](nerve, nx, ny), DIVISION[op](torch, tx, ty)
        assert out.tolist() == ref.tolist()
        assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch."))
    ref = DIVISION[op](torch, torch.tensor(a), 2.5)  # int and a Python float: the default float
    out = DIVISION[op](nerve, nerve.tensor(a), 2.5)
    assert out.dtype == np.float32 and np.allclose(out.numpy(), ref.numpy())


@pytest.mark.parametrize("op", DIVISION)
def test_division_refusals(op):
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        DIVISION[op](torch, torch.tensor([5, 3]), torch.tensor([1, 0]))
    for zero in (0, nerve.tensor([1, 0])):
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            DIVISION[op](nerve, nerve.tensor([5, 3]), zero)
    with pytest.raises(TypeError, match="bools"):
        DIVISION[op](nerve, nerve.tensor([True]), nerve.tensor([True]))
    with pytest.raises(ValueError, match="broadcast"):
        DIVISION[op](nerve, nerve.ones(2, 3), nerve.ones(4))


def quotients(shape_a, shape_b, seed):
    """(a, b): a odd quarters, b in {+-1, +-2, +-4}: a / b at least 1/16 from a whole number,
    so no jump of floor or trunc within the finite-difference step."""
    r = rng(seed)
    return ((2 * r.integers(-6, 6, shape_a) + 1) * 0.25,
            r.choice([-4.0, -2.0, -1.0, 1.0, 2.0, 4.0], shape_b))


PAIRS = [((4,), (4,)), ((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (3, 4)), ((), ())]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_remainder_fmod_parity(record_op, op, shapes, dtype):
    a, b = smooth(shapes[0], 1) * 3, away_from_zero(shapes[1], 2)
    parity(record_op, op, *same(DIVISION[op]), a, b, dtype=dtype)
    parity(record_op, op, *same(lambda m, x: getattr(x, op)(1.5)), a, dtype=dtype)
    parity(record_op, op, lambda x: 1.5 % x if op == "remainder" else nerve.fmod(1.5, x),
           lambda x: getattr(torch, op)(torch.full_like(x, 1.5), x), b, dtype=dtype)  # torch:
    # a number first has no gradient ("not implemented"): nerve's is that of the tensor's


@pytest.mark.parametrize("shapes", PAIRS + [((3, 4), (3, 1))], ids=str)
@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_remainder_fmod_gradcheck(record_op, op, shapes):
    check(record_op, op, lambda x, y: DIVISION[op](nerve, x, y), *quotients(*shapes, seed=3))


def test_remainder_fmod_gradients_at_zero_divisor():
    """d/db = -floor(a / b) (remainder) or -trunc(a / b) (fmod): -inf at b = 0, as torch."""
    for op in ("remainder", "fmod"):
        a, b = np.array([3.0, -7.0, 0.0]), np.array([0.0, 2.0, 2.0])
        xs = [nerve.tensor(v, requires_grad=True) for v in (a, b)]
        ts = [torch.tensor(v, requires_grad=True) for v in (a, b)]
        DIVISION[op](nerve, *xs).sum().backward()
        DIVISION[op](torch, *ts).sum().backward()
        for x, t in zip(xs, ts):
            np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_floor_divide_is_not_differentiable_as_in_torch():
    a = nerve.tensor([7.0, -7.0], requires_grad=True)
    t = torch.tensor([7.0, -7.0], requires_grad=True)
    out, ref = a // 2, t // 2
    assert out.requires_grad and ref.requires_grad and out.tolist() == ref.tolist()
    assert nerve.floor_divide(a, nerve.tensor([2.0, -3.0])).tolist() == [3.0, 2.0]
    assert (5 // nerve.tensor([2.0, -2.0])).tolist() == (5 // torch.tensor([2.0, -2.0])).tolist()
    with pytest.raises(RuntimeError, match="not implemented"):
        ref.sum().backward()
    with pytest.raises(RuntimeError, match="not implemented"):
        out.sum().backward()
    b = nerve.tensor([7.0, -7.0], requires_grad=True)
    (b // 2).detach().sum()  # detached: fine
    assert not (b.detach() // 2).requires_grad


def test_division_in_place():
    x = nerve.tensor([7, -7, 9])
    x //= 2
    assert x.tolist() == [3, -4, 4]
    x %= 3
    assert x.tolist() == [0, 2, 1]
    y = nerve.tensor([7.0, -7.0])
    assert y.fmod_(3).tolist() == [1.0, -1.0] and y.tolist() == [1.0, -1.0]
    assert nerve.tensor([7.0, -7.0]).remainder_(3).tolist() == [1.0, 2.0]
    assert nerve.tensor([7.0, -7.0]).floor_divide_(-2).tolist() == [-4.0, 3.0]
    leaf = nerve.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf %= 2
    z = leaf * 3  # recorded: the gradient flows through the in-place remainder
    z %= 4
    z.sum().backward()
    assert leaf.grad.tolist() == [3.0, 3.0]
