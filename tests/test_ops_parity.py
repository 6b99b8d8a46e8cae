"""Forward and backward parity with PyTorch (an independent reference) on the same float32 inputs.

Each case gives nerve's expression and PyTorch's; both run forward on the same data, then
backward with the same upstream gradient, and values, shapes, dtypes and input gradients must
agree. Names that differ: clip -> clamp, concatenate -> cat, pad widths
(NumPy's per-axis pairs, first axis first) -> F.pad's flat pairs, last axis first.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import away_from_zero, distinct, off_grid, positive, smooth

import nerve

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(), (4,), (3, 4), (2, 3, 2), (2, 1, 3, 2)]
PAIRS = [((), ()), ((4,), (4,)), ((3, 4), (3, 4)), ((1, 4), (3, 1)), ((3, 1), (1, 4)),
         ((2, 3, 4), (4,)), ((3, 4), ()), ((), (3, 4)), ((2, 1, 3, 2), (4, 1, 2))]


def f32(make, shape, seed=0) -> np.ndarray:
    return make(shape, seed=seed, dtype=np.float32)


def parity(record_op, name, nerve_fn, torch_fn, *arrays, rtol=1e-5, atol=1e-6) -> None:
    """Compare forward values and input gradients of ``nerve_fn`` and ``torch_fn``."""
    xs = [nerve.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = nerve_fn(*xs), torch_fn(*ts)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.float32 and ref.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    upstream = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape, np.float32) if t.grad is None else t.grad.detach().numpy()
        got = np.zeros(x.shape, np.float32) if x.grad is None else x.grad
        assert got.dtype == np.float32, f"input {i}: grad dtype {got.dtype}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"input {i}")
    if name is not None:
        record_op("parity", name)


def same(fn):
    """One expression for both libraries: ``fn(module, *tensors)`` with nerve and with torch."""
    return (lambda *xs: fn(nerve, *xs)), (lambda *xs: fn(torch, *xs))


def const(m, array):
    """A constant operand: a float64 ndarray for nerve (it takes the tensor's dtype), float32
    for torch."""
    return array if m is nerve else torch.tensor(array, dtype=torch.float32)


# --- arithmetic --------------------------------------------------------------------------------
BINARY = {
    "add": (same(lambda m, a, b: a + b), smooth, off_grid),
    "sub": (same(lambda m, a, b: a - b), smooth, off_grid),
    "mul": (same(lambda m, a, b: a * b), smooth, off_grid),
    "div": (same(lambda m, a, b: a / b), smooth, away_from_zero),
    "pow": (same(lambda m, a, b: a ** b), positive, smooth),
    "maximum": (same(lambda m, a, b: m.maximum(a, b)), smooth, off_grid),
    "minimum": (same(lambda m, a, b: m.minimum(a, b)), smooth, off_grid),
}


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcast(record_op, op, shapes):
    (fn, ref), make_a, make_b = BINARY[op]
    parity(record_op, op, fn, ref, f32(make_a, shapes[0], 2), f32(make_b, shapes[1], 3))


_C = off_grid((3, 4), seed=7)  # float64 on purpose: nerve keeps the tensor's float32
_P = positive((3, 4), seed=7)
CONSTANT_CASES = {
    "add-scalar-right": ("add", lambda m, x: x + 1.5, smooth),
    "add-scalar-left": ("add", lambda m, x: 1.5 + x, smooth),
    "add-array-left": ("add", lambda m, x: const(m, _C) + x, smooth),
    "sub-scalar-left": ("sub", lambda m, x: 1.5 - x, smooth),
    "sub-array-right": ("sub", lambda m, x: x - const(m, _C), smooth),
    "mul-scalar-left": ("mul", lambda m, x: 1.5 * x, smooth),
    "mul-array-right": ("mul", lambda m, x: x * const(m, _C), smooth),
    "div-scalar-left": ("div", lambda m, x: 1.5 / x, away_from_zero),
    "div-array-right": ("div", lambda m, x: x / const(m, _P), smooth),
    "div-array-left": ("div", lambda m, x: const(m, _C) / x, away_from_zero),
    "pow-scalar-right": ("pow", lambda m, x: x ** 2.5, positive),
    "pow-int-negative-base": ("pow", lambda m, x: x ** 3, smooth),
    "pow-scalar-left": ("pow", lambda m, x: 1.7 ** x, smooth),
    "pow-array-left": ("pow", lambda m, x: const(m, _P) ** x, smooth),
    "maximum-array": ("maximum", lambda m, x: m.maximum(x, const(m, _C)), smooth),
    "minimum-array-left": ("minimum", lambda m, x: m.minimum(const(m, _C), x), smooth),
}


@pytest.mark.parametrize("case", CONSTANT_CASES)
def test_binary_constant_operand(record_op, case):
    op, fn, make = CONSTANT_CASES[case]
    parity(record_op, op, *same(fn), f32(make, (3, 4), 8))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_neg_shapes(record_op, shape):
    parity(record_op, "neg", *same(lambda m, x: m.neg(x) + -x), f32(smooth, shape))


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                 ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_shapes(record_op, shapes):
    a, b = f32(smooth, shapes[0], 1), f32(off_grid, shapes[1], 2)
    parity(record_op, "matmul", *same(lambda m, x, y: m.matmul(x, y)), a, b, atol=1e-5)


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_shapes(record_op, x_shape, bias):
    arrays = [f32(smooth, x_shape, 1), f32(off_grid, (5, 4), 2)]
    arrays += [f32(smooth, (5,), 3)] if bias else []
    parity(record_op, "linear", nerve.linear, F.linear, *arrays, atol=1e-5)


# --- element-wise functions --------------------------------------------------------------------
UNARY = {
    "exp": (same(lambda m, x: m.exp(x)), smooth),
    "expm1": (same(lambda m, x: m.expm1(x * 1e-5)), smooth),  # near 0, where exp(x) - 1 rounds
    "log1p": (same(lambda m, x: m.log1p(x * 1e-6)), positive),
    "erf": (same(lambda m, x: m.erf(x * 2)), smooth),
    "log": (same(lambda m, x: m.log(x)), positive),
    "sqrt": (same(lambda m, x: m.sqrt(x)), positive),
    "abs": (same(lambda m, x: m.abs(x)), away_from_zero),
    "tanh": (same(lambda m, x: m.tanh(x)), smooth),
    "sigmoid": (same(lambda m, x: m.sigmoid(x * 8.0)), smooth),
    "relu": (same(lambda m, x: m.relu(x)), away_from_zero),
    "softplus": ((nerve.softplus, F.softplus), smooth),
    "leaky_relu": ((nerve.leaky_relu, F.leaky_relu), away_from_zero),
    "leaky_relu-slope": ((lambda x: nerve.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
                         away_from_zero),
    "step": ((lambda x: nerve.step(x, 0.4),
              lambda x: (x > 0.4).to(x.dtype) + 0.0 * x), off_grid),  # gradient zero
    "clip": ((lambda x: nerve.clip(x, -0.9, 1.1), lambda x: torch.clamp(x, -0.9, 1.1)), smooth),
    "clip-min-only": ((lambda x: x.clamp(min=-0.3), lambda x: x.clamp(min=-0.3)), smooth),
    "clip-max-only": ((lambda x: nerve.clip(x, max=0.5), lambda x: torch.clamp(x, max=0.5)),
                      smooth),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", UNARY)
def test_unary_shapes(record_op, case, shape):
    (fn, ref), make = UNARY[case]
    parity(record_op, case.split("-")[0], fn, ref, f32(make, shape))


_TAIL = np.array([-80.0, -30.0, -17.0, -5.0, 0.0, 5.0, 17.0, 25.0, 80.0], np.float32)


@pytest.mark.parametrize("op", ["sigmoid", "softplus"])
def test_tails_relative_precision(record_op, op):
    """Tiny values keep their relative precision (atol=0), and nothing overflows."""
    parity(record_op, op, getattr(nerve, op), getattr(F, op), _TAIL, rtol=1e-5, atol=0)


_KINK = np.array([-1.0, 0.0, 0.0, 1.0, 2.0, 2.0], np.float32)
KINK_CASES = {  # the value chosen for the gradient where the derivative jumps, as in PyTorch
    "abs": same(lambda m, x: m.abs(x)),
    "relu": same(lambda m, x: m.relu(x)),
    "leaky_relu": (nerve.leaky_relu, F.leaky_relu),
    "clip": same(lambda m, x: m.clamp(x, 0.0, 2.0) if m is torch else x.clamp(0.0, 2.0)),
    "maximum": same(lambda m, x: m.maximum(x, x.flip(0) if m is torch else x[::-1])),
    "minimum": same(lambda m, x: m.minimum(x, x * 0.0 + 2.0)),
    "max": (lambda x: nerve.max(x), torch.amax),
    "min": (lambda x: nerve.amin(x.reshape(3, 2), axis=0), lambda x: torch.amin(x.view(3, 2), 0)),
}


@pytest.mark.parametrize("op", KINK_CASES)
def test_gradient_at_kink(record_op, op):
    parity(record_op, op, *KINK_CASES[op], _KINK)


_BOUND = np.array([-1.0, -1.0, 0.0, 0.0, 2.0, 3.0], np.float32)
CLAMP_CASES = {  # tensor bounds get gradients: x where lo <= x <= hi, lo where x < lo (and
    # lo < hi), hi where x > hi (or hi < lo), each summed to its shape; ties as PyTorch's
    "ties": ((_KINK, _KINK * 0.0, _KINK * 0.0 + 2.0), True, True),
    "lo-above-hi": ((_KINK, _BOUND, _BOUND[::-1].copy()), True, True),
    "min-only-ties": ((_KINK, _BOUND), True, False),
    "max-only-ties": ((_KINK, _BOUND), False, True),
    "nan": ((np.array([np.nan, 0.5, 3.0, -2.0], np.float32), np.array([0.0, np.nan, 0.0, 0.0],
             np.float32), np.array([1.0, 1.0, np.nan, 1.0], np.float32)), True, True),
    "broadcast": ((f32(smooth, (3, 4)), f32(off_grid, (1, 4), 1), f32(off_grid, (3, 1), 2)),
                  True, True),
    "broadcast-x": ((f32(smooth, (4,)), f32(off_grid, (3, 4), 1), f32(off_grid, (3, 1), 2)),
                    True, True),
    "0-d-bound": ((f32(smooth, (2, 3)), f32(off_grid, (), 1)), True, False),
}


@pytest.mark.parametrize("case", CLAMP_CASES)
def test_clamp_tensor_bounds(record_op, case):
    arrays, low, high = CLAMP_CASES[case]

    def fn(m):
        def clamp(x, *bounds):
            lo, hi = bounds if low and high else (bounds[0], None) if low else (None, bounds[0])
            return m.clamp(x, min=lo, max=hi) if m is torch else x.clamp(lo, hi)
        return clamp

    parity(record_op, "clip", fn(nerve), fn(torch), *arrays)


@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 2.0])
def test_pow_zero_base(record_op, exponent):
    base = np.array([0.0, 0.0, 1.5, 2.0], np.float32)
    parity(record_op, "pow", *same(lambda m, a, b: a ** b), base, np.full(4, exponent, np.float32))


WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (1, 4), (3, 1)), ((2, 3, 4), (4,), ())]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_broadcast(record_op, shapes):
    cond = np.random.default_rng(0).random(shapes[0]) > 0.5
    parity(record_op, "where", lambda a, b: nerve.where(cond, a, b),
           lambda a, b: torch.where(torch.from_numpy(cond), a, b),
           f32(smooth, shapes[1], 1), f32(off_grid, shapes[2], 2))


def test_where_scalar_operand(record_op):
    parity(record_op, "where", *same(lambda m, a: m.where(a > 0.4, a, -1.5)),
           f32(off_grid, (3, 4)))


# --- reductions --------------------------------------------------------------------------------
def reduction_axes(ndim: int) -> list:  # dim=() (or []) reduces every dim, as None does
    axes = [None, (), -1, *range(ndim)] if ndim else [None, (), 0, -1]
    return axes + [(0, ndim - 1)] if ndim >= 2 else axes


SWEEP = [(s, a, k) for s in SHAPES for a in reduction_axes(len(s)) for k in (False, True)]
REDUCE = {
    "sum": ((nerve.sum, torch.sum), smooth),
    "mean": ((nerve.mean, torch.mean), smooth),
    "max": ((nerve.amax, torch.amax), distinct),
    "min": ((nerve.amin, torch.amin), distinct),
}


def _torch_dim(axis):
    return () if axis is None else axis  # amax/amin reduce every axis for dim=()


@pytest.mark.parametrize("shape,axis,keepdims", SWEEP, ids=str)
@pytest.mark.parametrize("op", REDUCE)
def test_reduce_axis(record_op, op, shape, axis, keepdims):
    (fn, ref), make = REDUCE[op]
    dim = _torch_dim(axis) if op in ("max", "min") else axis
    parity(record_op, op, lambda x: fn(x, axis=axis, keepdims=keepdims),
           lambda x: ref(x, dim=dim, keepdim=keepdims), f32(make, shape), atol=1e-5)


VAR_SWEEP = [(s, a, k, c) for s, a, k in SWEEP for c in (0, 1)
             if np.min(np.ones(s).sum(axis=a if len(s) and a != () else None)) > c]


@pytest.mark.parametrize("shape,axis,keepdims,correction", VAR_SWEEP, ids=str)
def test_var_axis(record_op, shape, axis, keepdims, correction):
    # torch's var(dim=()) has the value of var(dim=None) but a gradient for n = 1 (inf with
    # correction=1; gradcheck confirms nerve's): nerve's dim=() is checked against dim=None
    parity(record_op, "var", lambda x: nerve.var(x, dim=axis, keepdim=keepdims,
                                                 correction=correction),
           lambda x: torch.var(x, dim=None if axis == () else axis, keepdim=keepdims,
                               correction=correction), f32(smooth, shape), atol=1e-5)


SOFTMAX_SWEEP = [(s, a) for s in SHAPES[1:] for a in [-1, *range(len(s))]]


@pytest.mark.parametrize("shape,axis", SOFTMAX_SWEEP, ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_axis(record_op, op, shape, axis):
    parity(record_op, op, *same(lambda m, x: getattr(m, op)(x, dim=axis)), f32(smooth, shape))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_large_logits(record_op, op):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1.0, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    parity(record_op, op, *same(lambda m, x: getattr(m, op)(x, dim=-1)), logits, rtol=1e-6)


# --- moving elements ---------------------------------------------------------------------------
def _torch_pad(widths, ndim):
    """NumPy's per-axis (before, after) pairs as F.pad's flat tuple, last axis first."""
    pairs = np.broadcast_to(np.asarray(widths), (ndim, 2))
    return tuple(int(w) for pair in pairs[::-1] for w in pair)


SHAPE_CASES = {
    "reshape-flat": ("reshape", same(lambda m, x: x.reshape(-1)), (2, 3, 2)),
    "reshape-tuple": ("reshape", same(lambda m, x: m.reshape(x, (3, 4))), (2, 3, 2)),
    "reshape-scalar": ("reshape", same(lambda m, x: x.reshape(1, 1)), ()),
    "transpose-default": ("transpose", (nerve.transpose, lambda x: torch.transpose(x, -2, -1)),
                          (2, 3, 4)),
    "transpose-dims": ("transpose", same(lambda m, x: m.transpose(x, 0, 2)), (2, 3, 4)),
    "transpose-T": ("transpose", same(lambda m, x: x.T), (3, 4)),
    "permute": ("permute", same(lambda m, x: x.permute(2, 0, 1)), (2, 3, 4)),
    "permute-4d": ("permute", same(lambda m, x: m.permute(x, (1, 3, 0, 2))), (2, 1, 3, 2)),
    "flatten-all": ("flatten", same(lambda m, x: m.flatten(x)), (2, 3, 4)),
    "flatten-middle": ("flatten", same(lambda m, x: m.flatten(x, 1, 2)), (2, 1, 3, 2)),
    "flatten-scalar": ("flatten", same(lambda m, x: m.flatten(x)), ()),
    "squeeze-all": ("squeeze", same(lambda m, x: m.squeeze(x)), (2, 1, 3, 1)),
    "squeeze-axis": ("squeeze", same(lambda m, x: x.squeeze(1)), (2, 1, 3, 1)),
    "squeeze-not-one": ("squeeze", same(lambda m, x: m.squeeze(x, 0)), (2, 1, 3)),
    "unsqueeze-0": ("unsqueeze", same(lambda m, x: m.unsqueeze(x, 0)), (3, 4)),
    "unsqueeze-end": ("unsqueeze", same(lambda m, x: x.unsqueeze(-1)), (3, 4)),
    "unsqueeze-scalar": ("unsqueeze", same(lambda m, x: m.unsqueeze(x, 0)), ()),
    "pad-int": ("pad", (lambda x: nerve.pad(x, 1), lambda x: F.pad(x, _torch_pad(1, 2))),
                (3, 4)),
    "pad-pair": ("pad", (lambda x: nerve.pad(x, (1, 2)),
                         lambda x: F.pad(x, _torch_pad((1, 2), 3))), (2, 3, 2)),
    "pad-per-axis-value": ("pad", (lambda x: nerve.pad(x, ((0, 1), (2, 0)), value=-1.0),
                                   lambda x: F.pad(x, _torch_pad(((0, 1), (2, 0)), 2),
                                                   value=-1.0)), (3, 4)),
    "pad-4d": ("pad", (lambda x: nerve.pad(x, ((0, 0), (0, 0), (1, 1), (2, 1))),
                       lambda x: F.pad(x, (2, 1, 1, 1))), (2, 1, 3, 2)),
}


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_shape_op(record_op, case):
    op, (fn, ref), shape = SHAPE_CASES[case]
    parity(record_op, op, fn, ref, f32(smooth, shape))


_MASK = np.random.default_rng(3).random((3, 4)) > 0.4
_ROWS = np.array([0, 2, 0, 0])
INDEX_CASES = {
    "int": same(lambda m, x: x[1]),
    "negative-int": same(lambda m, x: x[-1, 2]),
    "slice": same(lambda m, x: x[1:3]),
    "slice-step-reversed": (lambda x: x[::2, ::-1], lambda x: x[::2].flip(1)),
    "slice-negative-step": (lambda x: x[:, 3:0:-2], lambda x: x.flip(1)[:, 0:3:2]),
    "ellipsis-newaxis": same(lambda m, x: x[..., None, 1]),
    "int-array-repeats": (lambda x: x[_ROWS], lambda x: x[torch.from_numpy(_ROWS)]),
    "list-repeats": same(lambda m, x: x[[1, 1, 2]]),
    "int-arrays-pair": same(lambda m, x: x[[0, 0, 2], [1, 1, 3]]),
    "slice-and-list": same(lambda m, x: x[1:, [3, 0, 3]]),
    "bool-mask": (lambda x: x[_MASK], lambda x: x[torch.from_numpy(_MASK)]),
    "bool-tensor-mask": same(lambda m, x: x[x > 0.1]),
}


@pytest.mark.parametrize("case", INDEX_CASES)
def test_getitem_index(record_op, case):
    parity(record_op, "getitem", *INDEX_CASES[case], f32(smooth, (3, 4)))


JOIN_CASES = {
    "concatenate-axis0": ("concatenate", same(lambda m, *xs: m.cat(xs)), [(2, 3), (1, 3), (3, 3)]),
    "concatenate-axis1": ("concatenate", (lambda *xs: nerve.concatenate(xs, axis=1),
                                          lambda *xs: torch.cat(xs, dim=1)), [(2, 3), (2, 1)]),
    "concatenate-negative": ("concatenate", same(lambda m, *xs: m.cat(xs, dim=-1)),
                             [(2, 1, 2), (2, 1, 3)]),
    "stack-axis0": ("stack", same(lambda m, *xs: m.stack(xs)), [(2, 3), (2, 3), (2, 3)]),
    "stack-last": ("stack", same(lambda m, *xs: m.stack(xs, dim=-1)), [(2, 1, 2), (2, 1, 2)]),
    "stack-scalars": ("stack", same(lambda m, *xs: m.stack(xs)), [(), (), ()]),
}


@pytest.mark.parametrize("case", JOIN_CASES)
def test_join(record_op, case):
    op, (fn, ref), shapes = JOIN_CASES[case]
    parity(record_op, op, fn, ref, *[f32(smooth, s, i) for i, s in enumerate(shapes)])


def test_graph_mixing_ops(record_op):
    """A small network-like expression: gradients through a chain of different ops agree."""

    def net(m, x, w, b):
        h = m.tanh(x @ w.T + b)
        return m.log_softmax(h * h.sum(dim=1, keepdim=True), dim=-1)[:, 1:].mean()

    parity(record_op, None, *same(net), f32(smooth, (5, 4), 1), f32(off_grid, (3, 4), 2),
           f32(smooth, (3,), 3), atol=1e-5)
