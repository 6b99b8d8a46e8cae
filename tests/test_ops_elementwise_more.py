"""The element-wise operations added after the first families: log2, log10, exp2, rsqrt,
reciprocal, square, trunc, frac, sinh, cosh, asin, acos, atan, atan2, erfc, logit, xlogy, hypot,
lerp, isnan, isinf, isfinite, nan_to_num, clamp_min and clamp_max (and the arc- aliases).

Each one: a float64 finite-difference check with ``nerve.gradcheck``, and values and input
gradients against PyTorch in float32 and float64 on the same inputs, over shapes with a scalar
and empty dimensions, broadcasting for the binary ones, and PyTorch's own values at zeros,
boundaries, infinities and NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import away_from_zero, off_grid, positive, smooth

import nerve

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
SHAPES = [(), (4,), (3, 4), (2, 1, 3), (0,), (2, 0, 3)]
PAIRS = [((), ()), ((4,), (4,)), ((1, 4), (3, 1)), ((2, 3, 4), (4,)), ((3, 4), ()),
         ((), (3, 4)), ((0, 3), (1, 3)), ((2, 1, 3), (4, 1))]
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def unit(shape, seed=0, dtype=np.float64):
    """Values in [-0.8, 0.8] (asin, acos)."""
    return (smooth(shape, seed) * 0.4).astype(dtype)


def probability(shape, seed=0, dtype=np.float64):
    """Values in [0.05, 0.95] (logit)."""
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=shape).astype(dtype)


def check(record_op, name, fn, *arrays) -> None:
    """gradcheck ``fn`` on float64 tensors; record ``name`` once it passes."""
    assert nerve.gradcheck(fn, [nerve.tensor(a, dtype=nerve.float64) for a in arrays])
    record_op("gradcheck", name)


def parity(record_op, name, nerve_fn, torch_fn, *arrays, upstream=None, rtol=None, atol=None):
    """Values, dtypes and input gradients of ``nerve_fn`` and ``torch_fn`` on the same arrays
    (NaN where PyTorch has NaN); ``upstream`` by default a fixed random one."""
    xs = [nerve.tensor(a, dtype=a.dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = nerve_fn(*xs), torch_fn(*ts)
    f32 = out.dtype == np.float32
    rtol = rtol if rtol is not None else 2e-5 if f32 else 1e-12
    atol = atol if atol is not None else 1e-6 if f32 else 1e-12
    assert out.shape == tuple(ref.shape)
    assert str(ref.dtype) == f"torch.{out.dtype}"
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    if upstream is None:
        upstream = np.random.default_rng(1).standard_normal(out.shape)
    upstream = np.broadcast_to(np.asarray(upstream, out.dtype), out.shape).copy()
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape, x.dtype) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape, x.dtype) if x.grad is None else x.grad
        assert got.dtype == x.dtype, f"input {i}: grad dtype {got.dtype}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"input {i}")
    if name is not None:
        record_op("parity", name)


def same(fn):
    """One expression for both libraries: ``fn(module, *tensors)``."""
    return (lambda *xs: fn(nerve, *xs)), (lambda *xs: fn(torch, *xs))


# --- unary -------------------------------------------------------------------------------------
UNARY = {
    "log2": (lambda m, x: m.log2(x), positive),
    "log10": (lambda m, x: m.log10(x), positive),
    "exp2": (lambda m, x: m.exp2(x), smooth),
    "rsqrt": (lambda m, x: m.rsqrt(x), positive),
    "reciprocal": (lambda m, x: m.reciprocal(x), away_from_zero),
    "square": (lambda m, x: m.square(x), smooth),
    "trunc": (lambda m, x: m.trunc(x) + x, off_grid),
    "frac": (lambda m, x: m.frac(x * 3), off_grid),
    "sinh": (lambda m, x: m.sinh(x), smooth),
    "cosh": (lambda m, x: m.cosh(x), smooth),
    "asin": (lambda m, x: m.asin(x), unit),
    "acos": (lambda m, x: m.acos(x), unit),
    "atan": (lambda m, x: m.atan(x), smooth),
    "erfc": (lambda m, x: m.erfc(x), smooth),
    "logit": (lambda m, x: m.logit(x), probability),
    "logit-eps": (lambda m, x: m.logit(x, eps=0.2), probability),
    "nan_to_num": (lambda m, x: m.nan_to_num(x), smooth),
    "clamp_min": (lambda m, x: m.clamp_min(x, 0.0), off_grid),
    "clamp_max": (lambda m, x: m.clamp_max(x, -0.4), smooth),
    "arcsin": (lambda m, x: m.arcsin(x), unit),
    "arccos": (lambda m, x: m.arccos(x), unit),
    "arctan": (lambda m, x: m.arctan(x), smooth),
}


def _name(case: str) -> str:
    return case.split("-")[0]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", UNARY)
def test_unary_gradcheck(record_op, op, shape):
    fn, make = UNARY[op]
    check(record_op, _name(op), lambda x: fn(nerve, x), make(shape, seed=3))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", UNARY)
def test_unary_parity(record_op, op, shape, dtype):
    fn, make = UNARY[op]
    parity(record_op, _name(op), *same(fn), make(shape, seed=4, dtype=dtype))


@pytest.mark.parametrize("op", ["log2", "log10", "exp2", "rsqrt", "reciprocal", "square",
                                "trunc", "frac", "sinh", "cosh", "asin", "acos", "atan", "erfc",
                                "logit", "nan_to_num", "arcsin", "arccos", "arctan"])
def test_methods_are_the_functions(op):
    x = nerve.tensor([0.25, 0.5, 0.75])
    np.testing.assert_array_equal(getattr(x, op)().numpy(), getattr(nerve, op)(x).numpy())
    assert getattr(nerve.Tensor, op) is getattr(nerve, op)


# PyTorch's values and gradients at the boundaries: (expression, inputs, upstream gradient).
EDGES = {
    "asin": (lambda m, x: m.asin(x), [[-1.0, 1.0, 1.5, -1.5, 0.0]], None),
    "acos": (lambda m, x: m.acos(x), [[-1.0, 1.0, 1.5, -1.5, 0.0]], None),
    "rsqrt": (lambda m, x: m.rsqrt(x), [[0.0, -0.0, -1.0, INF, NAN]], None),
    "reciprocal": (lambda m, x: m.reciprocal(x), [[0.0, -0.0, INF, -INF]], None),
    "log2": (lambda m, x: m.log2(x), [[0.0, -1.0, INF]], None),
    "log10": (lambda m, x: m.log10(x), [[0.0, -1.0, INF]], None),
    "exp2": (lambda m, x: m.exp2(x), [[-INF, INF, 1100.0, -1100.0]], None),
    "erfc": (lambda m, x: m.erfc(x), [[0.0, 30.0, -30.0, INF, -INF, NAN, 5.0]], None),
    "sinh": (lambda m, x: m.sinh(x), [[INF, -INF, 0.0]], None),
    "cosh": (lambda m, x: m.cosh(x), [[INF, -INF, 0.0]], None),
    "atan": (lambda m, x: m.atan(x), [[INF, -INF, 0.0]], None),
    "frac": (lambda m, x: m.frac(x), [[-1.5, 2.5, INF, -0.0, 3.0, NAN]], None),
    "trunc": (lambda m, x: m.trunc(x), [[-1.5, 2.5, -0.5, INF]], None),
    "square": (lambda m, x: m.square(x), [[0.0, INF, -3.0]], None),
    "logit": (lambda m, x: m.logit(x), [[0.0, 1.0, -0.5, 1.5, 0.5, -0.0, 0.0, 1.0]],
              [1, -1, 1, 1, 1, 1, 0, 0]),
    "logit-eps": (lambda m, x: m.logit(x, 0.1), [[0.0, 1.0, 0.05, 0.1, 0.9, 0.5, 0.95]], None),
    "logit-eps0": (lambda m, x: m.logit(x, 0.0), [[0.0, 1.0, -0.1, 1.1, 0.5]], None),
    "logit-eps-crossed": (lambda m, x: m.logit(x, 0.6), [[0.0, 0.5, 0.4, 0.6, 1.0]], None),
    "logit-eps-negative": (lambda m, x: m.logit(x, -1.0), [[-0.5, 0.0, 0.3, 1.0, 1.5]], None),
    "atan2": (lambda m, a, b: m.atan2(a, b),
              [[0.0, 0.0, -0.0, 1.0, 0.0, -1.0, INF], [0.0, -0.0, 0.0, 0.0, -1.0, -0.0, INF]],
              None),
    "hypot": (lambda m, a, b: m.hypot(a, b), [[0.0, 3.0, INF, -0.0], [0.0, -4.0, 1.0, 2.0]],
              None),
    "xlogy": (lambda m, a, b: m.xlogy(a, b),
              [[0.0, 0.0, 0.0, 2.0, 0.0, 1.0, -1.0, 0.0, 3.0],
               [0.0, NAN, -1.0, 0.0, 2.0, NAN, INF, INF, -2.0]], None),
    "xlogy-zero-upstream": (lambda m, a, b: m.xlogy(a, b),
                            [[0.0, 0.0, 2.0, 0.0], [0.0, NAN, 0.0, 2.0]], 0),
    "nan_to_num": (lambda m, x: m.nan_to_num(x), [[NAN, INF, -INF, 1.0, -0.0]], None),
    "nan_to_num-values": (lambda m, x: m.nan_to_num(x, 1.0, 2.0, -2.0),
                          [[NAN, INF, -INF, 1.0]], None),
    "nan_to_num-nan-none": (lambda m, x: m.nan_to_num(x, None, posinf=7.0),
                            [[NAN, INF, -INF, 1.0]], None),
    "clamp_min-tie": (lambda m, x: m.clamp_min(x, 0.0), [[-2.0, 0.0, 1.0, NAN]], None),
    "clamp_max-tie": (lambda m, x: m.clamp_max(x, 0.0), [[-2.0, 0.0, 1.0, NAN]], None),
    "lerp-ends": (lambda m, a, b, w: m.lerp(a, b, w),
                  [[1.0, 2.0, 0.0, -1.0], [3.0, 5.0, 0.0, INF], [0.0, 1.0, 0.5, 0.25]], None),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", EDGES)
def test_boundaries_as_pytorch(record_op, case, dtype):
    fn, values, upstream = EDGES[case]
    with np.errstate(all="ignore"):
        parity(record_op, _name(case), *same(fn), *[np.array(v, dtype) for v in values],
               upstream=1 if upstream is None else upstream)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_boundary_gradients_are_the_documented_values(dtype):
    """The values themselves, not only PyTorch's: inf at |x| = 1 for asin, -inf for acos and
    for rsqrt at 0, 0 for atan2 at the origin, NaN for hypot there."""
    def grad(fn, *values):
        xs = [nerve.tensor(np.array(v, dtype), requires_grad=True) for v in values]
        with np.errstate(all="ignore"):
            fn(*xs).sum().backward()
        return [x.grad.tolist() for x in xs]

    assert grad(nerve.asin, [1.0, -1.0]) == [[INF, INF]]
    assert grad(nerve.acos, [1.0, -1.0]) == [[-INF, -INF]]
    assert grad(nerve.rsqrt, [0.0]) == [[-INF]]
    assert grad(nerve.atan2, [0.0], [0.0]) == [[0.0], [0.0]]
    assert all(math.isnan(v[0]) for v in grad(nerve.hypot, [0.0], [0.0]))
    assert grad(nerve.logit, [0.0, 1.0]) == [[INF, INF]]
    assert grad(lambda x: nerve.logit(x, 0.25), [0.0, 1.0, 0.5]) == [[0.0, 0.0, 4.0]]
    assert all(math.isnan(v) for v in grad(nerve.logit, [-0.5, 1.5])[0])
    assert grad(lambda x: nerve.nan_to_num(x), [NAN, INF, 2.0]) == [[0.0, 0.0, 1.0]]


# --- binary ------------------------------------------------------------------------------------
BINARY = {
    "atan2": (lambda m, a, b: m.atan2(a, b), smooth, off_grid),
    "arctan2": (lambda m, a, b: m.arctan2(a, b), off_grid, smooth),
    "hypot": (lambda m, a, b: m.hypot(a, b), smooth, off_grid),
    "xlogy": (lambda m, a, b: m.xlogy(a, b), smooth, positive),
    "atan2-method": (lambda m, a, b: a.atan2(b), smooth, off_grid),
    "hypot-method": (lambda m, a, b: a.hypot(b), off_grid, smooth),
    "xlogy-method": (lambda m, a, b: a.xlogy(b), smooth, positive),
}


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_gradcheck(record_op, op, shapes):
    fn, make_a, make_b = BINARY[op]
    check(record_op, _name(op), lambda a, b: fn(nerve, a, b), make_a(shapes[0], seed=2),
          make_b(shapes[1], seed=3))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_parity(record_op, op, shapes, dtype):
    fn, make_a, make_b = BINARY[op]
    parity(record_op, _name(op), *same(fn), make_a(shapes[0], seed=2, dtype=dtype),
           make_b(shapes[1], seed=3, dtype=dtype))


def _t(m, value, like):
    """A number for nerve; for torch, a 0-d tensor of like's dtype where torch wants one."""
    return value if m is nerve else torch.tensor(value, dtype=like.dtype)


NUMBER_OPERANDS = {  # a Python number on either side keeps the tensor's dtype
    "atan2-number-right": ("atan2", lambda m, x: m.atan2(x, _t(m, 2.0, x)), smooth),
    "atan2-number-left": ("atan2", lambda m, x: m.atan2(_t(m, -1.5, x), x), off_grid),
    "hypot-number-left": ("hypot", lambda m, x: m.hypot(_t(m, 1.5, x), x), smooth),
    "xlogy-number-right": ("xlogy", lambda m, x: m.xlogy(x, 3.0), smooth),
    "xlogy-number-left": ("xlogy", lambda m, x: m.xlogy(2.0, x), positive),
    "xlogy-zero-left": ("xlogy", lambda m, x: m.xlogy(0.0, x), positive),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", NUMBER_OPERANDS)
def test_number_operands(record_op, case, dtype):
    op, fn, make = NUMBER_OPERANDS[case]
    parity(record_op, op, *same(fn), make((3, 4), seed=5, dtype=dtype))
    check(record_op, op, lambda x: fn(nerve, x), make((3, 4), seed=5))


def test_binary_type_promotion_and_bad_shapes():
    i = nerve.tensor([1, 2, 3])
    for op in ("atan2", "hypot", "xlogy"):
        assert getattr(nerve, op)(i, i).dtype == nerve.float32  # int operands: default float
        assert getattr(nerve, op)(nerve.tensor([1.0]), nerve.tensor([2.0], dtype=nerve.float64)
                                  ).dtype == nerve.float64
        with pytest.raises(ValueError, match=rf"{op}: shapes \(3,\) and \(2,\)"):
            getattr(nerve, op)(nerve.tensor([1.0, 2.0, 3.0]), nerve.tensor([1.0, 2.0]))
        with pytest.raises(TypeError, match=op):
            getattr(nerve, op)(i, "a")
    assert nerve.xlogy(nerve.tensor([1.0], dtype=nerve.float32), 2.0).dtype == nerve.float32


# --- lerp --------------------------------------------------------------------------------------
LERP_SHAPES = [((), (), ()), ((4,), (4,), (4,)), ((3, 4), (4,), (3, 1)), ((2, 1, 3), (4, 1), ()),
               ((0, 3), (1, 3), (3,)), ((3, 1), (1, 4), (1, 1, 1))]


def lerp_weight(shape, seed=0, dtype=np.float64):
    """Weights on both sides of 1/2 (PyTorch's two formulas), some outside [0, 1]."""
    return (np.random.default_rng(seed).uniform(-0.5, 1.5, size=shape)).astype(dtype)


@pytest.mark.parametrize("shapes", LERP_SHAPES, ids=str)
def test_lerp_tensor_weight(record_op, shapes):
    arrays = [smooth(shapes[0], 1), off_grid(shapes[1], 2), lerp_weight(shapes[2], 3)]
    check(record_op, "lerp", nerve.lerp, *arrays)
    for dtype in DTYPES:
        parity(record_op, "lerp", *same(lambda m, a, b, w: m.lerp(a, b, w)),
               *[a.astype(dtype) for a in arrays])
        parity(record_op, "lerp", *same(lambda m, a, b, w: a.lerp(b, w)),
               *[a.astype(dtype) for a in arrays])


@pytest.mark.parametrize("weight", [0.25, 0.75, 0.5, -1.0, 2.0, 0])
def test_lerp_number_weight(record_op, weight):
    arrays = [smooth((3, 4), 1), off_grid((4,), 2)]
    check(record_op, "lerp", lambda a, b: nerve.lerp(a, b, weight), *arrays)
    for dtype in DTYPES:
        parity(record_op, "lerp", *same(lambda m, a, b: m.lerp(a, b, weight)),
               *[a.astype(dtype) for a in arrays])


def test_lerp_dtypes_and_errors():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    w = nerve.tensor(0.5, dtype=nerve.float64, requires_grad=True)
    y = nerve.lerp(x, nerve.tensor([3.0, 4.0]), w)  # a float64 0-d weight: x's dtype, as torch
    assert y.dtype == nerve.float32
    y.sum().backward()
    assert w.grad.dtype == np.float64 and w.grad.tolist() == 4.0
    assert nerve.lerp(x, np.array([3.0, 5.0]), 0.5).tolist() == [2.0, 3.5]  # an array end
    with pytest.raises(TypeError, match="lerp: expected a number, an array or a Tensor"):
        nerve.lerp(x, x, "half")
    with pytest.raises(ValueError, match=r"lerp: shapes \(2,\) and \(2,\) and \(3,\)"):
        nerve.lerp(x, x, nerve.tensor([0.1, 0.2, 0.3]))


# --- non-differentiable, dtypes, errors --------------------------------------------------------
@pytest.mark.parametrize("op", ["isnan", "isinf", "isfinite"])
def test_classification_is_boolean_and_not_differentiable(op):
    values = [NAN, INF, -INF, 0.0, -1.5]
    for dtype in DTYPES:
        x = nerve.tensor(np.array(values, dtype), requires_grad=True)
        out = getattr(nerve, op)(x)
        ref = getattr(torch, op)(torch.tensor(np.array(values, dtype)))
        assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
        assert out.tolist() == ref.tolist()
        assert getattr(x, op)().tolist() == ref.tolist()
    ints = nerve.tensor([1, 2])
    assert getattr(nerve, op)(ints).tolist() == getattr(torch, op)(torch.tensor([1, 2])).tolist()
    assert getattr(nerve, op)(nerve.tensor(NAN)).shape == ()
    assert getattr(nerve, op)(nerve.zeros((2, 0))).shape == (2, 0)


def test_integer_inputs_as_pytorch():
    i, b = [1, 2, -3], [True, False]
    for op in ("log2", "log10", "exp2", "rsqrt", "reciprocal", "sinh", "cosh", "asin", "acos",
               "atan", "erfc", "logit"):
        with np.errstate(all="ignore"):
            got = getattr(nerve, op)(nerve.tensor(i))
        ref = getattr(torch, op)(torch.tensor(i))
        assert got.dtype == nerve.float32, op  # the default float dtype, not NumPy's float64
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, err_msg=op)
    assert nerve.square(nerve.tensor(i)).dtype == nerve.int64
    assert nerve.square(nerve.tensor(i)).tolist() == [1, 4, 9]
    assert nerve.square(nerve.tensor(b)).dtype == nerve.int64  # torch: bools square to int64
    assert nerve.trunc(nerve.tensor(i)).dtype == nerve.int64
    assert nerve.nan_to_num(nerve.tensor(i)).tolist() == i
    assert nerve.nan_to_num(nerve.tensor(b)).dtype == np.bool_
    assert nerve.clamp_min(nerve.tensor(i), 0).tolist() == [1, 2, 0]
    assert nerve.clamp_max(nerve.tensor(i), 1).tolist() == [1, 1, -3]
    with pytest.raises(TypeError, match="frac: expected a floating-point tensor"):
        nerve.frac(nerve.tensor(i))


def test_clamp_min_max_tensor_bounds(record_op):
    """Tensor bounds get their gradients (through clip), as torch.clamp_min/clamp_max."""
    x, lo = off_grid((3, 4), 1), smooth((4,), 2)
    check(record_op, "clamp_min", nerve.clamp_min, x, lo)
    check(record_op, "clamp_max", nerve.clamp_max, x, lo)
    for dtype in DTYPES:
        parity(record_op, "clamp_min", *same(lambda m, a, b: m.clamp_min(a, b)),
               x.astype(dtype), lo.astype(dtype))
        parity(record_op, "clamp_max", *same(lambda m, a, b: a.clamp_max(b)),
               x.astype(dtype), lo.astype(dtype))


def test_bad_options():
    x = nerve.tensor([0.5])
    with pytest.raises(TypeError, match="logit: expected a number. Received: eps='a'"):
        nerve.logit(x, "a")
    for key in ("nan", "posinf", "neginf"):
        with pytest.raises(TypeError, match=f"nan_to_num: expected a number. Received: {key}="):
            nerve.nan_to_num(x, **{key: "1"})


def test_erfc_kernel_and_value_by_value_agree():
    """backend.erfc: the compiled loop and Python's math.erfc value by value give the same
    numbers (float64 then rounded), exact far in the tail where 1 - erf(x) is 0."""
    x = np.concatenate([np.linspace(-6, 27, 4001), [0.0, -0.0, INF, -INF, NAN]])
    expected = np.array([math.erfc(v) for v in x])
    was = nerve.jit.enabled()
    try:
        for on in (True, False):
            nerve.jit.enable(on)
            got = nerve.erfc(nerve.tensor(x, dtype=nerve.float64)).numpy()
            np.testing.assert_array_equal(got, expected)
            got32 = nerve.erfc(nerve.tensor(x.astype(np.float32))).numpy()
            assert got32.dtype == np.float32
            np.testing.assert_array_equal(
                got32, np.array([math.erfc(float(v)) for v in x.astype(np.float32)], np.float32))
            assert nerve.erfc(nerve.tensor(x[::-2])).shape == x[::-2].shape  # not contiguous
    finally:
        nerve.jit.enable(was)
    assert nerve.erfc(nerve.tensor(26.0, dtype=nerve.float64)).item() > 0  # 1 - erf(x) is 0
    assert nerve.erfc(nerve.tensor(0.5)).shape == ()


# --- on a GPU: the stand-in (NumPy underneath, as strict as CuPy), then CuPy where present -----
def _real_cupy():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # no CuPy, or a CuPy without its CUDA libraries or a driver
        return None


@pytest.fixture(params=["stand-in", pytest.param("cuda", marks=pytest.mark.gpu)])
def gpu(request):
    """'stand-in' or 'cuda': nerve's GPU for the test."""
    import nerve.cuda

    if request.param == "stand-in":
        from fake_cuda import fake_gpu_registered

        with fake_gpu_registered():
            yield "stand-in"
        return
    cupy = _real_cupy()
    if cupy is None:
        pytest.skip("GPU test: needs CuPy and an NVIDIA GPU; the same test ran on the stand-in")
    nerve.cuda._use_backend(cupy, cupy.ndarray)
    try:
        yield "cuda"
    finally:
        nerve.cuda._use_backend(None)


DEVICE_CASES = {
    **{op: (fn, (make,)) for op, (fn, make) in UNARY.items()},
    **{op: (fn, (make_a, make_b)) for op, (fn, make_a, make_b) in BINARY.items()},
    **{case: (fn, (make,)) for case, (_, fn, make) in NUMBER_OPERANDS.items()},
    "lerp": (lambda m, a, b, w: m.lerp(a, b, w), (smooth, off_grid, lerp_weight)),
    "lerp-number": (lambda m, a, b: m.lerp(a, b, 0.75), (smooth, off_grid)),
    "clamp_min-tensor": (lambda m, a, b: m.clamp_min(a, b), (off_grid, smooth)),
}


def _on_gpu(t) -> bool:
    return type(t._data) is not np.ndarray


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_on_a_gpu(gpu, case):
    """The same values and gradients on the GPU as on the CPU, through the array module of the
    inputs (CuPy's functions, cupyx's erfc)."""
    fn, makers = DEVICE_CASES[case]
    if gpu == "stand-in" and case == "erfc":
        pytest.skip("erfc on a GPU is cupyx.scipy.special.erfc, which the stand-in lacks")
    arrays = [make((3, 4), seed=i) for i, make in enumerate(makers)]
    upstream = nerve.tensor(np.random.default_rng(9).standard_normal((3, 4)))
    results = []
    for device in ("cpu", "cuda"):
        xs = [nerve.tensor(a, dtype=nerve.float64, requires_grad=True) for a in arrays]
        out = fn(nerve, *[x.to(device) for x in xs])
        assert _on_gpu(out) == (device == "cuda") and out.dtype == nerve.float64
        (out.cpu() * upstream).sum().backward()
        results.append([out.detach().cpu().numpy(), *[x.grad.numpy() for x in xs]])
    for got, expected in zip(results[1], results[0]):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_classification_and_nan_to_num_on_a_gpu(gpu):
    values = np.array([NAN, INF, -INF, 0.0, -1.5])
    x = nerve.tensor(values, dtype=nerve.float64, requires_grad=True)
    for op in ("isnan", "isinf", "isfinite"):
        out = getattr(nerve, op)(x.to("cuda"))
        assert _on_gpu(out) and out.dtype == np.bool_ and not out.requires_grad
        assert out.tolist() == getattr(np, op)(values).tolist()
    out = nerve.nan_to_num(x.to("cuda"), posinf=5.0)
    assert _on_gpu(out) and out.tolist() == [0.0, 5.0, np.finfo(np.float64).min, 0.0, -1.5]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_lerp_refuses_a_weight_of_another_float_dtype_as_torch():
    """A float64 weight with float32 ends was cast down to float32, silently; torch raises."""
    a, b = nerve.zeros(3), nerve.ones(3)
    with pytest.raises(TypeError, match="weight"):
        nerve.lerp(a, b, nerve.tensor([0.5, 0.5, 0.5], dtype=nerve.float64))
    assert nerve.lerp(a, b, nerve.tensor([0.5, 0.5, 0.5])).tolist() == [0.5, 0.5, 0.5]
