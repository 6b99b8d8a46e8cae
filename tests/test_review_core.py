"""Fixes from the review of the autograd core, each checked against PyTorch's behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve.function import Function


# --- grad-mode decorators ------------------------------------------------------------------
def test_grad_mode_decorators_keep_their_mode():
    @nerve.inference_mode(False)
    def unchanged():
        return nerve.is_grad_enabled()

    @nerve.no_grad()
    def off():
        return nerve.is_grad_enabled()

    assert unchanged() is True and off() is False and nerve.is_grad_enabled()
    with nerve.no_grad():
        assert unchanged() is False  # inference_mode(False) leaves the mode as it is


def test_set_grad_enabled_as_a_decorator_acts_only_in_the_calls():
    @nerve.set_grad_enabled(False)
    def off():
        return nerve.is_grad_enabled()

    assert nerve.is_grad_enabled()  # restored at decoration, as PyTorch
    assert off() is False and nerve.is_grad_enabled()


# --- hooks, multi-output Functions, the NumPy protocol ---------------------------------------
def test_autograd_grad_applies_leaf_hooks():
    x = nerve.ones(3, requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (gx,) = nerve.autograd.grad((x * 2).sum(), x)
    assert gx.tolist() == [20.0, 20.0, 20.0]


class _ValuesAndCount(Function):
    "y = (2 x, the count of x > 0);  dy/dx = 2 for the first output"

    def forward(ctx, x):
        return 2 * x, (x > 0).sum()

    def backward(ctx, g, g_count):
        return 2 * g


def test_integer_outputs_of_a_multi_output_function_need_no_grad():
    x = nerve.tensor([1.0, -2.0], requires_grad=True)
    y, count = _ValuesAndCount.apply(x)
    assert y.requires_grad and not count.requires_grad and count.item() == 1
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_numpy_array_copy_true_does_not_share_memory():
    t = nerve.tensor([1.0, 2.0])
    a = np.array(t)
    a[0] = 5.0
    assert t.tolist() == [1.0, 2.0]
    assert np.shares_memory(np.asarray(t), t.numpy())  # copy=None still shares


def test_object_array_of_ints_becomes_int64():
    t = nerve.Tensor(np.array([1, 2], dtype=object))
    assert t.dtype == nerve.int64 and t.tolist() == [1, 2]


# --- sorting, gather, index_select -----------------------------------------------------------
def test_descending_sort_puts_nan_first_and_handles_int64_min():
    a = nerve.tensor([1.0, float("nan"), 3.0, 2.0, float("nan")])
    values, indices = nerve.sort(a, descending=True)
    assert indices.tolist() == [1, 4, 2, 3, 0]  # torch 2.13
    assert np.isnan(values.numpy()[:2]).all() and values.tolist()[2:] == [3.0, 2.0, 1.0]
    assert nerve.topk(a, 3).indices.tolist() == [1, 4, 2]
    b = nerve.tensor([-2**63, 5, 0])
    assert nerve.sort(b, descending=True).indices.tolist() == [1, 2, 0]
    ties = nerve.tensor([3, 1, 3, 2, 1])
    assert nerve.sort(ties, descending=True, stable=True).indices.tolist() == [0, 2, 3, 1, 4]
    m = nerve.tensor([[1.0, 3.0, 2.0], [6.0, 4.0, 5.0]])
    assert nerve.argsort(m, 0, descending=True).tolist() == [[1, 1, 1], [0, 0, 0]]


def test_gather_checks_its_index_like_torch():
    x = nerve.arange(12.0).reshape(3, 4)
    smaller = nerve.gather(x, 1, nerve.tensor([[0, 1]]))  # reads x[:1] (torch)
    assert smaller.tolist() == [[0.0, 1.0]]
    with pytest.raises(IndexError, match=r"gather.*\[0, 4\).*-1"):
        nerve.gather(x, 1, nerve.tensor([[-1]]))
    with pytest.raises(IndexError, match=r"gather.*\[0, 4\).*4"):
        nerve.gather(x, 1, nerve.tensor([[4]]))
    with pytest.raises(ValueError, match=r"gather.*\(3, 4\).*\(4, 1\)"):
        nerve.gather(x, 1, nerve.zeros(4, 1, dtype=nerve.int64))


def test_gather_with_a_smaller_index_backpropagates():
    x = nerve.arange(12.0).reshape(3, 4).requires_grad_()
    nerve.gather(x, 1, nerve.tensor([[3], [0]])).sum().backward()
    assert x.grad.tolist() == [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("bad", [-1, 3])
def test_index_select_refuses_out_of_range_indices(bad):
    x = nerve.arange(12.0).reshape(3, 4)
    with pytest.raises(IndexError, match=rf"index_select.*\[0, 3\).*{bad}"):
        nerve.index_select(x, 0, nerve.tensor([0, bad]))


# --- refusals --------------------------------------------------------------------------------
def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="where: expected a boolean condition"):
        nerve.where(nerve.tensor([1, 0]), nerve.ones(2), nerve.zeros(2))


def test_comparison_functions_raise_on_unsupported_operands():
    with pytest.raises(TypeError, match="eq"):
        nerve.eq(nerve.ones(2), object())


def test_split_refuses_negative_sizes():
    with pytest.raises(ValueError, match="split"):
        nerve.ones(4).split([-1, 5])


# --- values ----------------------------------------------------------------------------------
def test_copy_backward_gives_zeros_not_nan():
    z = nerve.zeros(2, requires_grad=True)
    w = z * 1
    w.copy_(nerve.tensor([1.0, 2.0]))
    (w * nerve.tensor([float("inf"), 1.0])).sum().backward()
    assert z.grad.tolist() == [0.0, 0.0]


def test_round_keeps_integer_dtypes():
    for dt in (nerve.int64, nerve.int32, nerve.uint8):
        r = nerve.round(nerve.tensor([1, 0], dtype=dt))
        assert r.dtype == dt and r.tolist() == [1, 0]


def test_python_bool_with_a_bool_tensor_stays_bool():
    t = nerve.tensor([True, False])
    assert (t + True).dtype == nerve.bool and (True * t).dtype == nerve.bool
    assert (t + True).tolist() == [True, True]
    assert (t + 1).dtype == nerve.int64  # a Python int still promotes to int64
