"""The Tensor API, the backward engine (accumulation, freeing, deep graphs), no_grad, seeding,
the dtype rule, and the errors a user meets with bad input."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import nerve


# --- making tensors ----------------------------------------------------------------------------
@pytest.mark.parametrize("data,dtype,expected", [
    (1.5, None, np.float32),
    ([[1.0, 2.0]], None, np.float32),
    (np.ones(3), None, np.float32),          # a float64 array becomes float32 by default
    ([1.0, 2.0], "float64", np.float64),
    ([1.0, 2.0], nerve.float64, np.float64),
    (np.ones(3, np.float32), np.float64, np.float64),
    (3, None, np.int64),
    ([1, 2], None, np.int64),
    (np.arange(3, dtype=np.int32), None, np.int32),
    ([True, False], None, np.bool_),
    ([1, 2], "float32", np.float32),
])
def test_tensor_dtype(data, dtype, expected):
    assert nerve.tensor(data, dtype=dtype).dtype == expected


def test_tensor_copies_data():
    a = np.ones(3, np.float32)
    t = nerve.tensor(a)
    a[0] = 5.0
    assert t.data[0] == 1.0 and nerve.tensor(t).data is not t.data


def test_tensor_attributes():
    t = nerve.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert (t.shape, t.ndim, t.dtype, t.numel(), len(t)) == ((2, 3), 2, np.float32, 6, 2)
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-2) == 2 and t.dim() == 2
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    assert isinstance(t.data, nerve.Tensor) and not t.data.requires_grad
    assert t.detach().numpy() is t.data.numpy()  # the same memory, as in PyTorch
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("data,expected", [(2.5, 2.5), ([[7.0]], 7.0), (3, 3), (True, True)])
def test_tensor_item(data, expected):
    value = nerve.tensor(data).item()
    assert value == expected and type(value) is type(expected)


def test_tensor_item_many_elements_raises():
    with pytest.raises(ValueError, match=r"one element.*\(2,\)"):
        nerve.tensor([1.0, 2.0]).item()


def test_tensor_detach_shares_data_without_graph():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    d = x.detach()
    assert np.shares_memory(d.data, x.data) and not d.requires_grad


def test_tensor_requires_grad_setter():
    t = nerve.tensor([1.0, 2.0])
    t.requires_grad = True
    (t * 3).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 3.0])


@pytest.mark.parametrize("t,expected", [
    (nerve.tensor([1.0, 2.0]), "tensor([1., 2.], dtype=float32)"),
    (nerve.tensor(3), "tensor(3, dtype=int64)"),
    (nerve.tensor([0.5], requires_grad=True), "tensor([0.5], dtype=float32, requires_grad=True)"),
    (nerve.tensor([0.5], requires_grad=True) * 2,
     "tensor([1.], dtype=float32, grad_fn=<MulBackward>)"),
])
def test_tensor_repr(t, expected):
    assert repr(t) == expected


def test_tensor_repr_matrix_readable():
    text = repr(nerve.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=nerve.float64))
    assert text == "tensor([[1., 2.],\n        [3., 4.]], dtype=float64)"


@pytest.mark.parametrize("make,dtype", [
    (lambda: nerve.zeros(2, 3), np.float32),
    (lambda: nerve.ones((2, 3), dtype=nerve.float64), np.float64),
    (lambda: nerve.full((2, 3), 7.0, dtype="float64"), np.float64),
    (lambda: nerve.randn(2, 3, dtype=nerve.float64), np.float64),
    (lambda: nerve.rand(2, 3), np.float32),
    (lambda: nerve.zeros_like(nerve.ones(2, 3, dtype=nerve.float64)), np.float64),
    (lambda: nerve.ones_like(nerve.zeros(2, 3)), np.float32),
    (lambda: nerve.zeros(2, 3, dtype="int64"), np.int64),
])
def test_creation_shape_and_dtype(make, dtype):
    t = make()
    assert t.shape == (2, 3) and t.dtype == dtype


@pytest.mark.parametrize("args,kwargs,expected", [
    ((4,), {}, np.int64), ((0.0, 1.0, 0.25), {}, np.float32),
    ((0.0, 1.0, 0.25), {"dtype": "float64"}, np.float64),
])
def test_arange_dtype(args, kwargs, expected):
    t = nerve.arange(*args, **kwargs)
    assert t.dtype == expected and t.shape == (4,)


def test_manual_seed_repeatable():
    nerve.manual_seed(123)
    a, u = nerve.randn(3, 4), nerve.rand(5)
    nerve.manual_seed(123)
    b, v = nerve.randn(3, 4), nerve.rand(5)
    nerve.manual_seed(124)
    c = nerve.randn(3, 4)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_array_equal(u.detach().numpy(), v.detach().numpy())
    assert not np.array_equal(a.detach().numpy(), c.detach().numpy())


# --- the dtype rule ----------------------------------------------------------------------------
_OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
        nerve.maximum, nerve.minimum]


@pytest.mark.parametrize("other", [2.5, np.float64(2.5), np.full((3,), 2.5),
                                   np.full((2, 3), 2.5, np.float64)], ids=repr)
@pytest.mark.parametrize("op", _OPS, ids=lambda f: f.__name__)
def test_dtype_float32_stays_float32(op, other):
    x = nerve.tensor(np.full((2, 3), 1.5), requires_grad=True)
    for out in (op(x, other), op(other, x)):
        assert out.dtype == np.float32
        out.backward(np.ones(out.shape, np.float32))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [
    lambda x, a: x @ a, lambda x, a: a @ x, lambda x, a: nerve.where(a > 0, x, a),
    lambda x, a: nerve.linear(a, x, a[0]), lambda x, a: nerve.concatenate([x, a]),
    lambda x, a: nerve.clip(x, a[0], a[1] + 1), lambda x, a: nerve.leaky_relu(x, np.float64(0.1)),
])
def test_dtype_float32_stays_float32_other_ops(fn):
    x = nerve.tensor(np.ones((3, 3)), requires_grad=True)
    out = fn(x, np.arange(9.0).reshape(3, 3))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_dtype_float64_kept():
    x = nerve.tensor([1.0, 2.0], dtype=nerve.float64, requires_grad=True)
    out = (x * 2.0 + np.float32(1.0)) @ x
    out.backward()
    assert out.dtype == np.float64 and x.grad.dtype == np.float64


# --- backward ----------------------------------------------------------------------------------
def test_backward_scalar_default_grad():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_backward_with_grad_argument():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(x.grad, [3.0, -6.0])
    assert x.grad.dtype == np.float32


def test_backward_on_leaf():
    x = nerve.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0 and isinstance(x.grad, nerve.Tensor)


def test_backward_scalar_grad_is_a_0d_tensor():
    x = nerve.tensor(2.0, dtype=nerve.float64, requires_grad=True)
    (x * x * x).backward()
    assert isinstance(x.grad, nerve.Tensor) and x.grad.shape == () and x.grad.item() == 12.0


@pytest.mark.parametrize("fn,expected", [
    (lambda x: x * x, [2.0, 4.0]),
    (lambda x: x + x, [2.0, 2.0]),
    (lambda x: x * x + x, [3.0, 5.0]),
    (lambda x: (x + x * 3.0) + x * 5.0, [9.0, 9.0]),       # one gradient array used twice
    (lambda x: (x + x) * (x - x * 2.0), [-4.0, -8.0]),      # = -2x^2
    (lambda x: nerve.stack([x, x]) * 2.0, [4.0, 4.0]),
])
def test_backward_tensor_used_twice_accumulates(fn, expected):
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    fn(x).sum().backward()
    np.testing.assert_allclose(x.grad, expected)


def test_backward_accumulates_across_calls():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None and first is not None


def test_backward_leaves_do_not_share_grad_arrays():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    b = nerve.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_backward_does_not_change_user_grad():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0], np.float32)
    (x + 0.0).backward(g)
    x.grad += 5.0
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_backward_frees_graph():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_backward_retain_graph():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_non_scalar_without_grad_names_shape():
    y = nerve.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()


def test_backward_grad_of_wrong_shape_names_both():
    y = nerve.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        y.backward(np.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="does not require gradients"):
        (nerve.ones(2) * 2).sum().backward()


def test_backward_chain_20000_ops():
    x = nerve.tensor(0.5, dtype=nerve.float64, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 20_000, rtol=1e-9)


def test_backward_chain_20000_ops_mixed_retained():
    x = nerve.tensor([0.5, 1.0], requires_grad=True)
    y = x
    for i in range(10_000):
        y = (y + 1.0) if i % 2 else (y - 1.0) * 1.0
    y = y.sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_backward_only_reaches_requires_grad_inputs():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    c = nerve.tensor([5.0, 6.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_requires_grad_propagates():
    x = nerve.tensor([1.0], requires_grad=True)
    c = nerve.tensor([1.0])
    assert (x + c).requires_grad and not (c + c).requires_grad
    assert (x + c).grad_fn is not None and (c + c).grad_fn is None


# --- no_grad -----------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    with nerve.no_grad():
        y = nerve.exp(x * 2).sum()
        assert not nerve.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and nerve.is_grad_enabled()


@pytest.mark.parametrize("decorator", [nerve.no_grad(), nerve.no_grad], ids=["call", "bare"])
def test_no_grad_decorator(decorator):
    @decorator
    def double(t):
        """Doc stays."""
        return t * 2

    x = nerve.tensor([1.0], requires_grad=True)
    y = double(x)
    assert not y.requires_grad and y.grad_fn is None and double.__doc__ == "Doc stays."
    assert (x * 2).requires_grad


def test_no_grad_restored_after_exception():
    with pytest.raises(ZeroDivisionError), nerve.no_grad():
        raise ZeroDivisionError
    assert nerve.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = nerve.tensor([1.0], requires_grad=True)
    with nerve.no_grad(), nerve.enable_grad():
        assert (x * 2).requires_grad
    assert nerve.is_grad_enabled()


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("a,b", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 2, 3), (2, 4, 5)),
                                 ((5, 3), (3,)), ((4,), (3, 2))], ids=str)
@pytest.mark.parametrize("fn", [operator.matmul, nerve.matmul], ids=["operator", "function"])
def test_matmul_mismatch_names_shapes(fn, a, b):
    if a == (5, 3):
        a, b = (5, 3), (4,)
    with pytest.raises(ValueError) as info:
        fn(nerve.ones(a), nerve.ones(b))
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_matmul_batch_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(3, 4, 5\)"):
        nerve.ones(2, 3, 4) @ nerve.ones(3, 4, 5)


def test_matmul_scalar_operand_raises():
    with pytest.raises(ValueError, match="at least 1-D"):
        nerve.ones(3) @ 2.0


def test_linear_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        nerve.linear(nerve.ones(2, 3), nerve.ones(4, 5))


BAD_OPERANDS = ["abc", [1.0, 2.0], (1.0,), object(), {"a": 1}]


@pytest.mark.parametrize("other", BAD_OPERANDS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.matmul], ids=lambda f: f.__name__)
def test_operator_unsupported_operand_names_type(op, other):
    x = nerve.ones(2)
    for args in ((x, other), (other, x)):
        with pytest.raises(TypeError, match=type(other).__name__):
            op(*args)


@pytest.mark.parametrize("other", BAD_OPERANDS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("fn", ["add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "matmul"])
def test_function_unsupported_operand_names_type(fn, other):
    with pytest.raises(TypeError, match=type(other).__name__):
        getattr(nerve, fn)(nerve.ones(2), other)


@pytest.mark.parametrize("other", BAD_OPERANDS, ids=lambda o: type(o).__name__)
def test_where_unsupported_operand_names_type(other):
    with pytest.raises(TypeError, match=type(other).__name__):
        nerve.where(np.ones(2, bool), nerve.ones(2), other)


@pytest.mark.parametrize("data", ["abc", object(), None, [1.0, None], {"a": 1}],
                         ids=lambda d: type(d).__name__)
def test_tensor_from_unsupported_data_names_type(data):
    with pytest.raises(TypeError, match=type(data).__name__):
        nerve.tensor(data)


@pytest.mark.parametrize("make", [
    lambda: nerve.tensor([1, 2], requires_grad=True),
    lambda: nerve.tensor([True], requires_grad=True),
    lambda: nerve.zeros(2, dtype="int64", requires_grad=True),
    lambda: setattr(nerve.arange(3), "requires_grad", True),
])
def test_requires_grad_integer_raises(make):
    with pytest.raises(TypeError, match="floating-point.*(int64|bool)"):
        make()


@pytest.mark.parametrize("fn", [
    lambda x: nerve.sum(x, axis=3), lambda x: x.mean(axis=-4), lambda x: nerve.max(x, 5),
    lambda x: nerve.amin(x, axis=(0, 3)), lambda x: nerve.var(x, dim=3),
    lambda x: nerve.softmax(x, 3), lambda x: nerve.log_softmax(x, dim=-4),
    lambda x: nerve.argmax(x, 3), lambda x: nerve.squeeze(x, 3),
    lambda x: nerve.transpose(x, 0, 3), lambda x: nerve.flatten(x, 3),
    lambda x: nerve.concatenate([x, x], axis=3),
])
def test_axis_out_of_range_names_axis_and_ndim(fn):
    with pytest.raises(ValueError, match=r"axis -?\d+ is out of range .*ndim=3"):
        fn(nerve.ones(2, 3, 4))


@pytest.mark.parametrize("fn", [
    lambda x: nerve.unsqueeze(x, 5), lambda x: nerve.stack([x, x], axis=-5),
])
def test_axis_out_of_range_new_axis(fn):
    with pytest.raises(ValueError, match=r"axis -?5 is out of range .*ndim=4"):
        fn(nerve.ones(2, 3, 4))


@pytest.mark.parametrize("fn,pattern", [
    (lambda x: x.reshape(5, 5), r"\(2, 3, 4\).*\(5, 5\)"),
    (lambda x: x.permute(0, 1), r"\(0, 1\).*\(2, 3, 4\)"),
    (lambda x: nerve.sum(x, axis=(1, 1)), "repeated axis"),
    (lambda x: nerve.concatenate([x, nerve.ones(3, 3, 4)], axis=2), r"\(2, 3, 4\).*\(3, 3, 4\)"),
    (lambda x: nerve.stack([x, nerve.ones(2, 3)]), r"\(2, 3, 4\).*\(2, 3\)"),
    (lambda x: nerve.pad(x, ((1, 1), (1, 1))), r"\(\(1, 1\), \(1, 1\)\).*\(2, 3, 4\)"),
    (lambda x: nerve.pad(x, -1), "non-negative"),
    (lambda x: nerve.clip(x), "at least one of min and max"),
])
def test_shape_errors_name_values(fn, pattern):
    with pytest.raises(ValueError, match=pattern):
        fn(nerve.ones(2, 3, 4))


@pytest.mark.parametrize("axis", [1.5, "0", (0, 1.0), True], ids=repr)
def test_axis_of_wrong_type_raises(axis):
    with pytest.raises(TypeError, match="axis must be an int") as info:
        nerve.sum(nerve.ones(2, 3), axis=axis)
    assert repr(axis) in str(info.value)


def test_getitem_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        nerve.ones(2, 3)[5]


def test_custom_function_wrong_gradient_shape_raises():
    class Bad(nerve.Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            return g.sum()

    x = nerve.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(\) for an input of shape \(3,\)"):
        Bad.apply(x).sum().backward()


def test_from_numpy_shares_memory_and_keeps_dtype():
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = nerve.from_numpy(arr)
    arr[0, 0] = 42.0
    assert t.data[0, 0] == 42.0 and t.dtype == np.float64 and not t.requires_grad
    g = nerve.from_numpy(np.ones(3, np.float32), requires_grad=True)
    (g * 2).sum().backward()
    assert np.array_equal(g.grad, [2, 2, 2])


def test_from_numpy_rejects_lists_and_int_grad():
    with pytest.raises(TypeError, match="expects an ndarray, got list"):
        nerve.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="floating-point"):
        nerve.from_numpy(np.arange(3), requires_grad=True)
