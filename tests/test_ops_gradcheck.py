"""Every differentiable operation against central finite differences, in float64, over a sweep of
shapes: scalar, vector, matrix, (1, n) with (m, 1), 3-D and 4-D; every axis and keepdims for
reductions. Inputs keep away from kinks (see the makers in conftest.py)."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from conftest import away_from_zero, distinct, off_grid, positive, smooth

import nerve

SHAPES = [(), (4,), (3, 4), (2, 3, 2), (2, 1, 3, 2)]
PAIRS = [((), ()), ((4,), (4,)), ((3, 4), (3, 4)), ((1, 4), (3, 1)), ((3, 1), (1, 4)),
         ((2, 3, 4), (4,)), ((3, 4), ()), ((), (3, 4)), ((2, 1, 3, 2), (4, 1, 2))]


def t64(a) -> nerve.Tensor:
    return nerve.tensor(a, dtype=nerve.float64)


def check(record_op, name, fn, *arrays) -> None:
    """gradcheck ``fn`` on float64 tensors made from ``arrays``; record ``name`` once it passes."""
    assert nerve.gradcheck(fn, [t64(a) for a in arrays])
    record_op("gradcheck", name)


def reduction_axes(ndim: int) -> list:
    """None, () (every axis, as PyTorch), every axis, -1, and a tuple of two axes when there
    are two."""
    axes = [None, (), -1, *range(ndim)] if ndim else [None, (), 0, -1]
    if ndim >= 2:
        axes.append((0, ndim - 1))
    return axes


def sweep(shapes, axes_of=reduction_axes):
    return [(s, a, k) for s in shapes for a in axes_of(len(s)) for k in (False, True)]


# --- arithmetic --------------------------------------------------------------------------------
BINARY = {
    "add": (operator.add, smooth, off_grid),
    "sub": (operator.sub, smooth, off_grid),
    "mul": (operator.mul, smooth, off_grid),
    "div": (operator.truediv, smooth, away_from_zero),
    "pow": (operator.pow, positive, smooth),
    "maximum": (nerve.maximum, smooth, off_grid),
    "minimum": (nerve.minimum, smooth, off_grid),
}


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcast(record_op, op, shapes):
    fn, make_a, make_b = BINARY[op]
    check(record_op, op, fn, make_a(shapes[0], seed=2), make_b(shapes[1], seed=3))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_function_form(record_op, op):
    _, make_a, make_b = BINARY[op]
    check(record_op, op, getattr(nerve, op), make_a((3, 1), seed=4), make_b((4,), seed=5))


_C = off_grid((3, 4), seed=7)   # a constant ndarray operand
_P = positive((3, 4), seed=7)   # a positive one, for a base of pow
# (op, fn of x, maker of x): Python scalars and ndarrays on either side of each operator.
CONSTANT_CASES = {
    "add-scalar-right": ("add", lambda x: x + 1.5, smooth),
    "add-scalar-left": ("add", lambda x: 1.5 + x, smooth),
    "add-array-right": ("add", lambda x: x + _C, smooth),
    "add-array-left": ("add", lambda x: _C + x, smooth),
    "sub-scalar-right": ("sub", lambda x: x - 1.5, smooth),
    "sub-scalar-left": ("sub", lambda x: 1.5 - x, smooth),
    "sub-array-right": ("sub", lambda x: x - _C, smooth),
    "sub-array-left": ("sub", lambda x: _C - x, smooth),
    "mul-scalar-right": ("mul", lambda x: x * 1.5, smooth),
    "mul-scalar-left": ("mul", lambda x: 1.5 * x, smooth),
    "mul-array-right": ("mul", lambda x: x * _C, smooth),
    "mul-array-left": ("mul", lambda x: _C * x, smooth),
    "div-scalar-right": ("div", lambda x: x / 1.5, smooth),
    "div-scalar-left": ("div", lambda x: 1.5 / x, away_from_zero),
    "div-array-right": ("div", lambda x: x / _P, smooth),
    "div-array-left": ("div", lambda x: _C / x, away_from_zero),
    "pow-scalar-right": ("pow", lambda x: x ** 2.5, positive),
    "pow-int-right-negative-base": ("pow", lambda x: x ** 3, smooth),
    "pow-scalar-left": ("pow", lambda x: 1.7 ** x, smooth),
    "pow-array-right": ("pow", lambda x: x ** _C, positive),
    "pow-array-left": ("pow", lambda x: _P ** x, smooth),
    "maximum-scalar": ("maximum", lambda x: nerve.maximum(x, 0.1), smooth),
    "minimum-scalar-left": ("minimum", lambda x: nerve.minimum(0.1, x), smooth),
    "maximum-array-left": ("maximum", lambda x: nerve.maximum(_C, x), smooth),
    "add-function-scalar-left": ("add", lambda x: nerve.add(2.0, x), smooth),
    "mul-function-array-left": ("mul", lambda x: nerve.mul(_C, x), smooth),
}


@pytest.mark.parametrize("case", CONSTANT_CASES)
def test_binary_constant_operand(record_op, case):
    op, fn, make = CONSTANT_CASES[case]
    check(record_op, op, fn, make((3, 4), seed=8))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("fn", [operator.neg, nerve.neg], ids=["operator", "function"])
def test_neg_shapes(record_op, fn, shape):
    check(record_op, "neg", fn, smooth(shape))


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                 ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((1, 4), (4, 1))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_shapes(record_op, shapes):
    check(record_op, "matmul", operator.matmul, smooth(shapes[0], 1), off_grid(shapes[1], 2))


@pytest.mark.parametrize("side", ["right", "left"])
def test_matmul_array_operand(record_op, side):
    w = off_grid((4, 4), seed=3)
    fn = (lambda x: x @ w) if side == "right" else (lambda x: w @ x)
    check(record_op, "matmul", fn, smooth((4, 4)))


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_shapes(record_op, x_shape, bias):
    arrays = [smooth(x_shape, 1), off_grid((5, 4), 2)] + ([smooth((5,), 3)] if bias else [])
    check(record_op, "linear", nerve.linear, *arrays)


# --- element-wise functions --------------------------------------------------------------------
UNARY = {
    "exp": (nerve.exp, smooth),
    "expm1": (nerve.expm1, smooth),
    "log1p": (nerve.log1p, positive),
    "erf": (nerve.erf, smooth),
    "log": (nerve.log, positive),
    "sqrt": (nerve.sqrt, positive),
    "abs": (nerve.abs, away_from_zero),
    "tanh": (nerve.tanh, smooth),
    "sigmoid": (nerve.sigmoid, smooth),
    "relu": (nerve.relu, away_from_zero),
    "softplus": (nerve.softplus, smooth),
    "leaky_relu": (nerve.leaky_relu, away_from_zero),
    "step": (nerve.step, away_from_zero),
    "clip": (lambda x: nerve.clip(x, -0.9, 1.1), smooth),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", UNARY)
def test_unary_shapes(record_op, op, shape):
    fn, make = UNARY[op]
    check(record_op, op, fn, make(shape))


UNARY_VARIANTS = {
    "leaky_relu-slope": ("leaky_relu", lambda x: nerve.leaky_relu(x, 0.2), away_from_zero),
    "step-threshold": ("step", lambda x: nerve.step(x, 0.4), off_grid),
    "clip-min-only": ("clip", lambda x: nerve.clip(x, min=-0.3), smooth),
    "clip-max-only": ("clip", lambda x: nerve.clip(x, max=0.5), smooth),
    "clip-method": ("clip", lambda x: x.clamp(-0.5, 0.3), smooth),
    "abs-operator": ("abs", lambda x: abs(x), away_from_zero),
    "exp-method": ("exp", lambda x: x.exp(), smooth),
    "sigmoid-large": ("sigmoid", lambda x: nerve.sigmoid(x * 10), smooth),
}


@pytest.mark.parametrize("case", UNARY_VARIANTS)
def test_unary_variant(record_op, case):
    op, fn, make = UNARY_VARIANTS[case]
    check(record_op, op, fn, make((3, 4)))


def _above(shape, seed: int = 2) -> np.ndarray:
    """Values on the odd tenths plus 0.05: never tied with smooth or off_grid values."""
    return off_grid(shape, seed) + 0.05


# (x shape, lo shape or None, hi shape or None): tensor bounds get gradients (lo > hi included)
CLAMP_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (1, 4), (3, 1)), ((2, 3, 4), (4,), ()),
                ((4,), (3, 4), (3, 1)), ((3, 4), (3, 4), None), ((3, 4), None, (4,))]


@pytest.mark.parametrize("shapes", CLAMP_SHAPES, ids=str)
def test_clamp_tensor_bounds(record_op, shapes):
    x_shape, lo_shape, hi_shape = shapes
    arrays = [smooth(x_shape)] + [make(s) for make, s in ((off_grid, lo_shape),
                                                         (_above, hi_shape)) if s is not None]

    def fn(x, *bounds):
        lo = bounds[0] if lo_shape is not None else None
        hi = bounds[-1] if hi_shape is not None else None
        return x.clamp(lo, hi)

    check(record_op, "clip", fn, *arrays)
    check(record_op, "clip", lambda x, lo: nerve.clamp(x, lo, 0.45), *arrays[:2])  # mixed


@pytest.mark.parametrize("fn", [lambda x: nerve.step(x), lambda x: nerve.step(x, 0.5)])
def test_step_gradient_zero(fn):
    x = nerve.tensor(smooth((3, 4)), requires_grad=True)
    fn(x).sum().backward()
    assert x.grad.shape == (3, 4) and not x.grad.any()


WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 4), (1, 4), (3, 1)), ((2, 3, 4), (4,), ()),
                ((4,), (4,), (4,))]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_broadcast(record_op, shapes):
    cond = np.random.default_rng(0).random(shapes[0]) > 0.5
    check(record_op, "where", lambda a, b: nerve.where(cond, a, b),
          smooth(shapes[1], 1), off_grid(shapes[2], 2))


@pytest.mark.parametrize("side", ["scalar-right", "scalar-left", "tensor-cond"])
def test_where_constant_operand(record_op, side):
    cond = np.array([[True, False, True, False]] * 3)
    fn = {"scalar-right": lambda a: nerve.where(cond, a, 0.5),
          "scalar-left": lambda a: nerve.where(cond, -1.0, a),
          "tensor-cond": lambda a: nerve.where(a > 0.4, a, a * a)}[side]
    check(record_op, "where", fn, off_grid((3, 4)))


# --- reductions --------------------------------------------------------------------------------
REDUCE = {"sum": (nerve.sum, smooth), "mean": (nerve.mean, smooth),
          "amax": (nerve.amax, distinct), "amin": (nerve.amin, distinct)}


@pytest.mark.parametrize("shape,axis,keepdims", sweep(SHAPES), ids=str)
@pytest.mark.parametrize("op", REDUCE)
def test_reduce_axis(record_op, op, shape, axis, keepdims):
    fn, make = REDUCE[op]
    check(record_op, op, lambda x: fn(x, axis=axis, keepdims=keepdims), make(shape))


def _var_cases():
    cases = []
    for shape, axis, keepdims in sweep(SHAPES):
        n = np.ones(shape).sum(axis=axis if len(shape) and axis != () else None)
        for correction in (0, 1):
            if np.min(n) > correction:  # n <= correction gives nan, checked elsewhere
                cases.append((shape, axis, keepdims, correction))
    return cases


@pytest.mark.parametrize("shape,axis,keepdims,correction", _var_cases(), ids=str)
def test_var_axis(record_op, shape, axis, keepdims, correction):
    check(record_op, "var", lambda x: nerve.var(x, axis, keepdim=keepdims,
                                                correction=correction), smooth(shape))


@pytest.mark.parametrize("form", ["method", "dim-keepdim"])
def test_reduce_torch_spelling(record_op, form):
    fn = {"method": lambda x: x.sum(1) + x.mean(0, keepdims=True).max() - x.min(),
          "dim-keepdim": lambda x: nerve.sum(x, dim=-1, keepdim=True) * nerve.var(x, dim=1,
                                                                                 keepdim=True)}
    check(record_op, "sum", fn[form], distinct((3, 4)))


def test_var_too_few_elements_is_nan():
    x = nerve.tensor([1.5], requires_grad=True)
    v = nerve.var(x)
    v.backward()
    assert np.isnan(v.item()) and np.isnan(x.grad).all()


def test_max_tie_shares_gradient():
    x = nerve.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    nerve.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("fn", [nerve.max, nerve.min])
@pytest.mark.parametrize("shape,axis", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_a_dimension_give_values_and_indices(record_op, fn, shape, axis, keepdim):
    x = distinct(shape)
    values, indices = fn(nerve.tensor(x), axis, keepdim)
    pick = np.argmax if fn is nerve.max else np.argmin
    expected = np.expand_dims(pick(x, axis), axis)
    np.testing.assert_array_equal(indices.numpy(), expected if keepdim else expected.squeeze(axis))
    np.testing.assert_allclose(values.numpy(), np.take_along_axis(x, expected, axis).squeeze(
        () if keepdim else axis), rtol=1e-6)
    check(record_op, fn.__name__, lambda t: fn(t, dim=axis, keepdim=keepdim).values, x)


def test_max_with_a_dimension_sends_a_tie_gradient_to_its_index_as_torch():
    x = nerve.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    values, indices = nerve.max(x, 1)
    values.sum().backward()
    assert indices.tolist() == [1]
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0]])


# --- softmax -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,axis", [(s, a) for s in SHAPES[1:] for a in [-1, *range(len(s))]],
                         ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_axis(record_op, op, shape, axis):
    check(record_op, op, lambda x: getattr(nerve, op)(x, axis=axis), smooth(shape))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_large_logits_gradcheck(record_op, op):
    fn = lambda x: getattr(nerve, op)(x + np.array([1e4, 0.0, -1e4]))  # noqa: E731
    check(record_op, op, fn, smooth((2, 3)))


@pytest.mark.parametrize("dtype", [nerve.float32, nerve.float64])
def test_softmax_large_logits_values(dtype):
    x = nerve.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], dtype=dtype)
    p, lp = nerve.softmax(x).detach().numpy(), nerve.log_softmax(x).detach().numpy()
    assert np.isfinite(p).all() and np.isfinite(lp).all()
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-7)
    np.testing.assert_allclose(lp, [[0.0, -1e4, -2e4], [-np.log(2), -np.log(2), -1e4 - np.log(2)]],
                               rtol=1e-6)


def test_softmax_large_logits_backward_finite():
    x = nerve.tensor([[1e4, 0.0, -1e4]], requires_grad=True)
    (nerve.log_softmax(x)[0, 1] + nerve.softmax(x)[0, 0]).backward()
    assert np.isfinite(x.grad).all()
    np.testing.assert_allclose(x.grad, [[-1.0, 1.0, 0.0]], atol=1e-6)


# --- moving elements ---------------------------------------------------------------------------
SHAPE_CASES = {
    "reshape-flat": ("reshape", lambda x: x.reshape(-1), (2, 3, 2)),
    "reshape-tuple": ("reshape", lambda x: nerve.reshape(x, (3, 4)), (2, 3, 2)),
    "reshape-args": ("reshape", lambda x: x.reshape(2, 1, 6), (3, 4)),
    "reshape-scalar": ("reshape", lambda x: x.reshape(1, 1), ()),
    "view": ("reshape", lambda x: x.view(4, 3), (3, 4)),
    "transpose-default": ("transpose", lambda x: nerve.transpose(x), (2, 3, 4)),
    "transpose-dims": ("transpose", lambda x: x.transpose(0, 2), (2, 3, 4)),
    "transpose-T": ("transpose", lambda x: x.T, (3, 4)),
    "transpose-T-4d": ("transpose", lambda x: x.T, (2, 1, 3, 2)),
    "permute-args": ("permute", lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    "permute-tuple": ("permute", lambda x: nerve.permute(x, (1, 3, 0, 2)), (2, 1, 3, 2)),
    "permute-negative": ("permute", lambda x: nerve.permute(x, (-1, 0, 1)), (2, 3, 4)),
    "flatten-all": ("flatten", lambda x: nerve.flatten(x), (2, 3, 4)),
    "flatten-start": ("flatten", lambda x: x.flatten(1), (2, 1, 3, 2)),
    "flatten-middle": ("flatten", lambda x: nerve.flatten(x, 1, 2), (2, 1, 3, 2)),
    "flatten-scalar": ("flatten", lambda x: nerve.flatten(x), ()),
    "squeeze-all": ("squeeze", lambda x: nerve.squeeze(x), (2, 1, 3, 1)),
    "squeeze-axis": ("squeeze", lambda x: x.squeeze(1), (2, 1, 3, 1)),
    "squeeze-negative": ("squeeze", lambda x: nerve.squeeze(x, dim=-1), (2, 1, 3, 1)),
    "squeeze-not-one": ("squeeze", lambda x: nerve.squeeze(x, 0), (2, 1, 3)),
    "unsqueeze-0": ("unsqueeze", lambda x: nerve.unsqueeze(x, 0), (3, 4)),
    "unsqueeze-middle": ("unsqueeze", lambda x: x.unsqueeze(1), (3, 4)),
    "unsqueeze-end": ("unsqueeze", lambda x: nerve.unsqueeze(x, -1), (3, 4)),
    "unsqueeze-scalar": ("unsqueeze", lambda x: nerve.unsqueeze(x, 0), ()),
    "pad-int": ("pad", lambda x: nerve.pad(x, 1), (3, 4)),
    "pad-pair": ("pad", lambda x: nerve.pad(x, (1, 2)), (2, 3, 2)),
    "pad-per-axis": ("pad", lambda x: x.pad(((0, 1), (2, 0)), value=-1.0), (3, 4)),
    "pad-vector": ("pad", lambda x: nerve.pad(x, [(2, 3)]), (4,)),
    "pad-4d": ("pad", lambda x: nerve.pad(x, ((0, 0), (0, 0), (1, 1), (2, 1))), (2, 1, 3, 2)),
}


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_shape_op(record_op, case):
    op, fn, shape = SHAPE_CASES[case]
    check(record_op, op, fn, smooth(shape))


_MASK = np.random.default_rng(3).random((3, 4)) > 0.4
INDEX_CASES = {
    "int": lambda x: x[1],
    "negative-int": lambda x: x[-1, 2],
    "slice": lambda x: x[1:3],
    "slice-step": lambda x: x[::2, ::-1],
    "slice-negative-step": lambda x: x[:, 3:0:-2],
    "ellipsis-newaxis": lambda x: x[..., None, 1],
    "int-array-repeats": lambda x: x[np.array([0, 2, 0, 0])],
    "list-repeats": lambda x: x[[1, 1, 2]],
    "int-arrays-pair": lambda x: x[np.array([0, 0, 2]), np.array([1, 1, 3])],
    "slice-and-int-array": lambda x: x[1:, [3, 0, 3]],
    "tensor-index": lambda x: x[nerve.tensor([2, 2, 0])],
    "bool-mask": lambda x: x[_MASK],
    "bool-row-mask": lambda x: x[np.array([True, False, True])],
    "bool-tensor-mask": lambda x: x[x > 0.1],
}


@pytest.mark.parametrize("case", INDEX_CASES)
def test_getitem_index(record_op, case):
    check(record_op, "getitem", INDEX_CASES[case], smooth((3, 4)))


def test_getitem_repeats_add_up():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


JOIN_CASES = {
    "concatenate-axis0": ("concatenate", lambda *xs: nerve.concatenate(xs),
                          [(2, 3), (1, 3), (3, 3)]),
    "concatenate-axis1": ("concatenate", lambda *xs: nerve.concatenate(xs, axis=1),
                          [(2, 3), (2, 1)]),
    "concatenate-negative": ("concatenate", lambda *xs: nerve.cat(xs, dim=-1),
                             [(2, 1, 2), (2, 1, 3)]),
    "concatenate-vectors": ("concatenate", lambda *xs: nerve.cat(list(xs)), [(3,), (2,)]),
    "stack-axis0": ("stack", lambda *xs: nerve.stack(xs), [(2, 3), (2, 3), (2, 3)]),
    "stack-axis1": ("stack", lambda *xs: nerve.stack(xs, axis=1), [(2, 3), (2, 3)]),
    "stack-last": ("stack", lambda *xs: nerve.stack(xs, dim=-1), [(2, 1, 2), (2, 1, 2)]),
    "stack-scalars": ("stack", lambda *xs: nerve.stack(xs), [(), (), ()]),
}


@pytest.mark.parametrize("case", JOIN_CASES)
def test_join(record_op, case):
    op, fn, shapes = JOIN_CASES[case]
    check(record_op, op, fn, *[smooth(s, seed=i) for i, s in enumerate(shapes)])


def test_join_same_tensor_twice(record_op):
    check(record_op, "concatenate", lambda x: nerve.concatenate([x, x * 2.0, x]), smooth((2, 3)))


# --- user-defined operations -------------------------------------------------------------------
class Cube(nerve.Function):
    def forward(ctx, x):
        ctx.x = x
        return x ** 3

    def backward(ctx, grad):
        return 3 * ctx.x ** 2 * grad


class SinCos(nerve.Function):
    """Two outputs from one input, written with @staticmethod as in PyTorch."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x), np.cos(x)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * np.cos(x) - g_cos * np.sin(x)


class WrongCube(Cube):
    def backward(ctx, grad):
        return 2 * ctx.x ** 2 * grad


class ScaledSum(nerve.Function):
    """Two inputs and a non-tensor option; the option gets no gradient slot."""

    def forward(ctx, a, b, scale=1.0):
        ctx.a, ctx.b, ctx.scale = a, b, scale
        return scale * (a * b).sum()

    def backward(ctx, grad):
        return ctx.scale * grad * ctx.b, ctx.scale * grad * ctx.a


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_custom_function_cube(shape):
    assert nerve.gradcheck(Cube.apply, [t64(smooth(shape))])


@pytest.mark.parametrize("use", ["both", "sin-only", "cos-only"])
def test_custom_function_two_outputs(use):
    fn = {"both": lambda x: SinCos.apply(x)[0] * SinCos.apply(x)[1] + SinCos.apply(x)[1],
          "sin-only": lambda x: SinCos.apply(x)[0],
          "cos-only": lambda x: SinCos.apply(x)[1] * 2.0}[use]
    assert nerve.gradcheck(fn, [t64(smooth((3, 4)))])


def test_custom_function_two_inputs_and_option():
    assert nerve.gradcheck(lambda a, b: ScaledSum.apply(a, b, 0.5),
                           [t64(smooth((3,), 1)), t64(off_grid((3,), 2))])


def test_custom_function_backward_values():
    x = nerve.tensor([1.0, -2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn is not None and isinstance(y.grad_fn, Cube)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 12.0])


def test_custom_function_wrong_backward_message():
    x = nerve.tensor([[0.4, -1.0], [2.0, 0.6]], dtype=nerve.float64)
    with pytest.raises(nerve.GradcheckError) as info:
        nerve.gradcheck(lambda a, b: a + WrongCube.apply(b), [x, x * 2])
    message = str(info.value)
    # input 1 (the second), element (0, 0): analytic 2*0.8^2*w, numeric 3*0.8^2*w
    assert "input 1" in message and "element (0, 0)" in message
    w = np.random.default_rng(0).standard_normal((2, 2))[0, 0]
    assert f"{2 * 0.64 * w:.6g}" in message and f"{3 * 0.64 * w:.4g}" in message


def test_gradcheck_leaves_inputs_unchanged():
    x = nerve.tensor([0.5, -1.0], requires_grad=True)
    before = x.detach().numpy().copy()
    assert nerve.gradcheck(lambda a: a * a, [x])
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x.grad is None and x.dtype == np.float32


def test_gradcheck_rejects_non_tensor_output():
    with pytest.raises(TypeError, match="must return a Tensor"):
        nerve.gradcheck(lambda x: x.detach().numpy(), [t64(smooth((2,)))])
