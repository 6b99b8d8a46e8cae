"""Broadcasting and ``unbroadcast``: properties over random shapes (Hypothesis), each checked
against an independent NumPy reference."""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import nerve
from nerve.ops import unbroadcast

FAST = settings(max_examples=40, deadline=None)
PAIR_SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3)


def sum_to_shape(big: np.ndarray, shape: tuple) -> np.ndarray:
    """Reference for unbroadcast: add every element of ``big`` into the position it was copied
    from (the index modulo ``shape``), one element at a time."""
    out = np.zeros(shape, big.dtype)
    offset = big.ndim - len(shape)
    for idx in itertools.product(*map(range, big.shape)):
        src = tuple(0 if n == 1 else i for i, n in zip(idx[offset:], shape))
        out[src] += big[idx]
    return out


def data_for(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@FAST
@given(PAIR_SHAPES)
def test_unbroadcast_matches_reference(shapes):
    (a_shape, _), big = shapes.input_shapes, shapes.result_shape
    g = data_for(big, 0)
    np.testing.assert_allclose(unbroadcast(g, a_shape), sum_to_shape(g, a_shape), rtol=1e-12)


@FAST
@given(PAIR_SHAPES)
def test_unbroadcast_of_broadcast_is_multiplicity(shapes):
    (a_shape, _), big = shapes.input_shapes, shapes.result_shape
    x = data_for(a_shape, 1)
    multiplicity = int(np.prod(big)) // max(int(np.prod(a_shape)), 1)
    got = unbroadcast(np.broadcast_to(x, big), a_shape)
    assert got.shape == a_shape
    np.testing.assert_allclose(got, x * multiplicity, rtol=1e-12)


@FAST
@given(array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
def test_unbroadcast_same_shape_is_identity(shape):
    g = data_for(shape, 2)
    assert unbroadcast(g, shape) is g


@FAST
@given(PAIR_SHAPES, st.sampled_from(["add", "sub", "mul", "div", "maximum"]))
def test_binary_grad_shapes_and_values(shapes, op):
    (a_shape, b_shape), big = shapes.input_shapes, shapes.result_shape
    a_np, b_np = data_for(a_shape, 3), data_for(b_shape, 4) + 5.0  # b away from 0 and from a
    a, b = (nerve.tensor(v, dtype=nerve.float64, requires_grad=True) for v in (a_np, b_np))
    fn = getattr(nerve, op)
    out = fn(a, b)
    np.testing.assert_allclose(out.detach().numpy(), REFERENCE[op](a_np, b_np))
    g = data_for(big, 5)
    out.backward(g)
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    da, db = LOCAL_GRADS[op](np.broadcast_to(a_np, big), np.broadcast_to(b_np, big))
    np.testing.assert_allclose(a.grad, sum_to_shape(g * da, a_shape), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad, sum_to_shape(g * db, b_shape), rtol=1e-10, atol=1e-12)


REFERENCE = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
             "maximum": np.maximum}
LOCAL_GRADS = {  # d(out)/da and d(out)/db element-wise, on the broadcast arrays
    "add": lambda a, b: (np.ones_like(a), np.ones_like(b)),
    "sub": lambda a, b: (np.ones_like(a), -np.ones_like(b)),
    "mul": lambda a, b: (b, a),
    "div": lambda a, b: (1 / b, -a / b ** 2),
    "maximum": lambda a, b: ((a > b) * 1.0, (b > a) * 1.0),
}


@FAST
@given(PAIR_SHAPES)
def test_add_grad_is_sum_over_broadcast_axes(shapes):
    (a_shape, b_shape), big = shapes.input_shapes, shapes.result_shape
    a = nerve.zeros(a_shape, dtype=nerve.float64, requires_grad=True)
    b = nerve.zeros(b_shape, dtype=nerve.float64, requires_grad=True)
    (a + b).sum().backward()
    n = int(np.prod(big))
    np.testing.assert_array_equal(a.grad, np.full(a_shape, n // max(int(np.prod(a_shape)), 1)))
    np.testing.assert_array_equal(b.grad, np.full(b_shape, n // max(int(np.prod(b_shape)), 1)))


@settings(max_examples=15, deadline=None)
@given(mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
def test_where_broadcast_gradcheck(shapes):
    c_shape, a_shape, b_shape = shapes.input_shapes
    cond = data_for(c_shape, 6) > 0
    a, b = (nerve.tensor(data_for(s, i), dtype=nerve.float64) for i, s in ((7, a_shape),
                                                                            (8, b_shape)))
    assert nerve.gradcheck(lambda x, y: nerve.where(cond, x, y), [a, b])


@settings(max_examples=15, deadline=None)
@given(PAIR_SHAPES)
def test_mul_broadcast_gradcheck(shapes):
    a, b = (nerve.tensor(data_for(s, i), dtype=nerve.float64)
            for i, s in enumerate(shapes.input_shapes))
    assert nerve.gradcheck(lambda x, y: x * y + x, [a, b])


@FAST
@given(PAIR_SHAPES, st.sampled_from([operator.add, operator.mul, operator.truediv]))
def test_float32_stays_float32_with_float64_array(shapes, op):
    a = nerve.ones(shapes.input_shapes[0], requires_grad=True)
    b = np.full(shapes.input_shapes[1], 2.0)  # float64
    for out in (op(a, b), op(b, a)):
        assert out.dtype == np.float32 and out.shape == shapes.result_shape
        out.backward(np.ones(out.shape, np.float32))
    assert a.grad.dtype == np.float32 and a.grad.shape == a.shape


NOT_BROADCASTING = [((3,), (4,)), ((2, 3), (3, 2)), ((2, 1, 4), (3, 5)), ((5, 4), (4, 5))]


@pytest.mark.parametrize("shapes", NOT_BROADCASTING, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_shapes_not_broadcasting_message(op, shapes):
    a, b = nerve.ones(shapes[0]), nerve.ones(shapes[1])
    with pytest.raises(ValueError) as info:
        getattr(nerve, op)(a, b)
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)


@pytest.mark.parametrize("shapes", NOT_BROADCASTING, ids=str)
def test_where_shapes_not_broadcasting_message(shapes):
    with pytest.raises(ValueError, match=r"where: shapes .* do not broadcast") as info:
        nerve.where(np.ones(shapes[0], bool), nerve.ones(shapes[0]), nerve.ones(shapes[1]))
    assert str(shapes[1]) in str(info.value)
