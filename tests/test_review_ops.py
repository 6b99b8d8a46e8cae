"""Silent differences from PyTorch found by a review of the operations, each checked against
torch: tensor bounds of clamp get their gradients, an empty dim reduces every dimension, the
bitwise and logical operators of masks (& | ^ ~) exist, and an integer to a negative power says
so. (The gradient sweeps are in test_ops_gradcheck.py and test_ops_parity.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def _pair(values, dtype="float64", requires_grad=False):
    """The same values as a nerve tensor and a torch tensor."""
    return (nerve.tensor(values, dtype=getattr(nerve, dtype), requires_grad=requires_grad),
            torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=requires_grad))


def _same(ours, theirs) -> None:
    """Equal values, shape and dtype (NaN equal to NaN)."""
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(np.asarray(ours.tolist()), np.asarray(theirs.tolist()))


def _grad(t):
    return None if t.grad is None else np.asarray(t.grad.tolist())


# --- clamp with tensor bounds -------------------------------------------------------------------
CLAMP = {  # x, lo, hi (None: absent): ties at both bounds, lo > hi, lo == hi, NaN, broadcasting
    "ties": ([-2.0, -1.0, 0.0, 1.0, 2.0], [-1.0] * 5, [1.0] * 5),
    "lo-above-hi": ([-2.0, -1.0, 0.0, 1.0, 2.0], [1.0] * 5, [-1.0] * 5),
    "lo-equals-hi": ([-2.0, 0.0, 2.0], [0.0] * 3, [0.0] * 3),
    "nan-x": ([-2.0, float("nan"), 2.0], [-1.0] * 3, [1.0] * 3),
    "nan-bounds": ([-2.0, 0.0, 2.0, 0.5], [float("nan"), 0.0, -1.0, 0.0],
                   [1.0, float("nan"), 1.0, 1.0]),
    "min-only": ([-2.0, -1.0, 0.0, 1.0, 2.0], [-1.0, 1.0, 0.0, 0.0, 3.0], None),
    "max-only": ([-2.0, -1.0, 0.0, 1.0, 2.0], None, [-1.0, 1.0, 0.0, 0.0, 3.0]),
    "broadcast": ([[-2.0, -1.0, 0.0], [1.0, 2.0, 3.0]], [-1.0], [[1.0], [2.0]]),
    "broadcast-x": ([[-2.0, 0.5, 2.0]], [[0.0], [1.0]], None),
}


@pytest.mark.parametrize("case", CLAMP)
@pytest.mark.parametrize("form", ["function", "method", "clip"])
def test_clamp_tensor_bounds_values_and_gradients_match_torch(case, form):
    x_values, lo_values, hi_values = CLAMP[case]
    x, tx = _pair(x_values, requires_grad=True)
    lo, tlo = _pair(lo_values, requires_grad=True) if lo_values is not None else (None, None)
    hi, thi = _pair(hi_values, requires_grad=True) if hi_values is not None else (None, None)
    out = {"function": lambda: nerve.clamp(x, lo, hi), "method": lambda: x.clamp(min=lo, max=hi),
           "clip": lambda: x.clip(lo, hi)}[form]()
    ref = torch.clamp(tx, tlo, thi)
    _same(out, ref)
    upstream = np.arange(1.0, out.numel() + 1).reshape(out.shape)
    out.backward(nerve.tensor(upstream, dtype=nerve.float64))
    ref.backward(torch.tensor(upstream))
    for ours, theirs in ((x, tx), (lo, tlo), (hi, thi)):
        if ours is not None:
            np.testing.assert_array_equal(_grad(ours), _grad(theirs))


def test_learnable_bounds_train():
    """The review's case: bounds that require grad got none, so they never trained."""
    x = nerve.tensor([-2.0, 0.0, 2.0])
    lo = nerve.tensor([-1.0, -1.0, -1.0], requires_grad=True)
    hi = nerve.tensor([1.0, 1.0, 1.0], requires_grad=True)
    x.clamp(lo, hi).sum().backward()
    np.testing.assert_array_equal(lo.grad, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(hi.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("x_dtype,lo_dtype,lo_shape", [
    ("float32", "float64", (3,)), ("float32", "float64", ()), ("int64", "float32", (3,)),
    ("int64", "int32", (3,)), ("int32", "int64", ()), ("float64", "float32", ())])
def test_clamp_tensor_bounds_follow_torch_type_promotion(x_dtype, lo_dtype, lo_shape):
    x, tx = _pair([-2, 0, 2], x_dtype)
    lo, tlo = _pair(np.full(lo_shape, -1).tolist(), lo_dtype)
    _same(nerve.clamp(x, lo), torch.clamp(tx, tlo))
    _same(x.clamp(max=lo), tx.clamp(max=tlo))


def test_clamp_float64_bound_gives_the_float32_input_its_gradient():
    x = nerve.tensor([-2.0, 0.5, 2.0], requires_grad=True)
    lo = nerve.tensor(-1.0, dtype=nerve.float64, requires_grad=True)  # 0-d: x's dtype
    hi = nerve.tensor([1.0, 1.0, 1.0], dtype=nerve.float64, requires_grad=True)
    out = x.clamp(lo, hi)
    assert out.dtype == np.float64  # as torch: a dimensioned float64 bound promotes
    out.sum().backward()
    assert x.grad.dtype == np.float32 and lo.grad.dtype == hi.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])
    assert lo.grad == 1.0 and hi.grad.tolist() == [0.0, 0.0, 1.0]


def test_clamp_number_bounds_keep_their_path_and_an_array_bound_may_broadcast_x():
    x = nerve.tensor([[-2.0, 0.5, 2.0]], requires_grad=True)
    assert type(x.clamp(-1.0, 1.0).grad_fn).__name__ == "ClipFunction"
    out = nerve.clamp(x, min=np.array([[0.0], [1.0]]))  # failed in backward before
    out.sum().backward()
    tx = torch.tensor([[-2.0, 0.5, 2.0]], requires_grad=True)
    torch.clamp(tx, min=torch.tensor([[0.0], [1.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_clamp_tensor_bound_in_place_and_mixed_with_a_number():
    a = nerve.tensor([-2.0, 0.5, 2.0], requires_grad=True)
    lo = nerve.tensor([0.0, 0.0, 0.0], requires_grad=True)
    b = a * 1
    b.clamp_(lo, 1.0)  # torch refuses a tensor with a number; nerve takes the number as is
    b.sum().backward()
    np.testing.assert_array_equal(b.detach().numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(lo.grad, [1.0, 0.0, 0.0])


def test_clamp_tensor_bounds_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"clamp: shapes \(2,\) and \(3,\) do not broadcast"):
        nerve.clamp(nerve.ones(2), nerve.ones(3))


# --- an empty dim reduces every dimension ---------------------------------------------------------
_X = np.arange(6.0).reshape(2, 3) ** 1.5
EMPTY_DIM = {
    "sum-method": lambda m, x: x.sum(dim=()),
    "sum-list-keepdim": lambda m, x: m.sum(x, [], keepdim=True),
    "sum-function": lambda m, x: m.sum(x, dim=()),
    "sum-positional": lambda m, x: x.sum(()),
    "mean": lambda m, x: x.mean(dim=()),
    "mean-keepdim": lambda m, x: m.mean(x, dim=[], keepdim=True),
    "amax": lambda m, x: m.amax(x, ()),
    "amin-keepdim": lambda m, x: x.amin(dim=(), keepdim=True),
    "var": lambda m, x: x.var(dim=()),
    "var-keepdim": lambda m, x: m.var(x, (), keepdim=True, correction=0),
    "std": lambda m, x: x.std(dim=()),
    "std-list-keepdim": lambda m, x: m.std(x, dim=[], keepdim=True),
}


@pytest.mark.parametrize("case", EMPTY_DIM)
def test_empty_dim_reduces_every_dimension_as_torch(case):
    fn = EMPTY_DIM[case]
    x, tx = _pair(_X.tolist(), requires_grad=True)
    out, ref = fn(nerve, x), fn(torch, tx)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    # torch's var and std with dim=() have the value of dim=None but a gradient for n = 1
    # (inf with correction=1): the gradient is checked against dim=None there
    tx.grad = None
    (_all_dims(case, tx) if case.startswith(("var", "std")) else fn(torch, tx)).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


def _all_dims(case, tx):
    """torch's var/std over every dimension, with the case's keepdim and correction."""
    keep = "keepdim" in case
    if case.startswith("var"):
        return torch.var(tx, dim=None, keepdim=keep, correction=0 if keep else 1)
    return torch.std(tx, dim=None, keepdim=keep)


def test_empty_dim_on_a_0d_tensor():
    x, tx = _pair(2.5)
    for fn in (lambda m, t: m.sum(t, ()), lambda m, t: t.amax(dim=(), keepdim=True)):
        _same(fn(nerve, x), fn(torch, tx))


@pytest.mark.parametrize("fn", [lambda x: x.argmax(dim=()), lambda x: x.argmin(dim=(0, 1)),
                                lambda x: nerve.softmax(x, dim=()), lambda x: x.max(dim=())],
                         ids=["argmax", "argmin-tuple", "softmax", "max"])
def test_one_dimension_operations_refuse_an_empty_dim_as_torch(fn):
    with pytest.raises(TypeError, match=r"dim"):
        fn(nerve.ones(2, 3))


def test_any_and_all_with_an_empty_dim_reduce_nothing_as_torch():
    x, tx = _pair([[0.0, 1.0], [2.0, 0.0]])
    _same(x.any(dim=()), tx.any(dim=()))
    _same(nerve.all(x, dim=()), torch.all(tx, dim=()))


def test_numpy_functions_keep_numpy_empty_axis():
    """np.sum(t, axis=()) is NumPy's: no axis reduced (nerve.sum(t, ()) follows PyTorch)."""
    x = nerve.tensor(_X)
    np.testing.assert_array_equal(np.sum(x, axis=()), np.sum(_X.astype(np.float32), axis=()))
    np.testing.assert_array_equal(np.std(x, ()), np.zeros((2, 3)))
    assert isinstance(np.sum(x, axis=1), nerve.Tensor)


# --- bitwise and logical operations -------------------------------------------------------------
_B1 = [True, False, True, False]
_B2 = [True, True, False, False]
_I1 = [0, 5, -3, 12]
_I2 = [7, 3, 6, -1]
OPERANDS = {  # (a, a dtype, b, b dtype); a dtype None: a Python number
    "bool-bool": (_B1, "bool", _B2, "bool"),
    "int-int": (_I1, "int64", _I2, "int64"),
    "int32-int64": (_I1, "int32", _I2, "int64"),
    "uint8-int8": ([0, 5, 3, 12], "uint8", _I2, "int8"),
    "bool-int32": (_B1, "bool", _I2, "int32"),
    "int8-bool": (_I1, "int8", _B2, "bool"),
    "0d-int-int8": (5, "int64", _I2, "int8"),
    "bool-0d-int": (_B1, "bool", 3, "int64"),
    "bool-broadcast": ([[True], [False]], "bool", _B2, "bool"),
}
BINARY = {
    "and": (lambda a, b: a & b, "bitwise_and"),
    "or": (lambda a, b: a | b, "bitwise_or"),
    "xor": (lambda a, b: a ^ b, "bitwise_xor"),
}


def _tensors(values, dtype):
    return (nerve.tensor(values, dtype=getattr(nerve, dtype)),
            torch.tensor(values, dtype=getattr(torch, dtype)))


@pytest.mark.parametrize("operands", OPERANDS)
@pytest.mark.parametrize("op", BINARY)
def test_bitwise_operators_match_torch(op, operands):
    a_values, a_dtype, b_values, b_dtype = OPERANDS[operands]
    (a, ta), (b, tb) = _tensors(a_values, a_dtype), _tensors(b_values, b_dtype)
    operator, name = BINARY[op]
    _same(operator(a, b), operator(ta, tb))
    _same(operator(b, a), operator(tb, ta))
    _same(getattr(nerve, name)(a, b), getattr(torch, name)(ta, tb))
    _same(getattr(a, name)(b), getattr(ta, name)(tb))


@pytest.mark.parametrize("dtype, scalar", [  # (a negative Python int does not fit uint8)
    (d, s) for d in ("bool", "int64", "int32", "uint8") for s in (True, False, 1, 6, -2)
    if not (d == "uint8" and s == -2)])
@pytest.mark.parametrize("op", BINARY)
def test_bitwise_operators_with_python_numbers_match_torch(op, dtype, scalar):
    a, ta = _tensors(_I1 if dtype != "bool" else _B1, dtype) if dtype != "uint8" else \
        _tensors([0, 5, 3, 12], dtype)
    operator, _ = BINARY[op]
    _same(operator(a, scalar), operator(ta, scalar))
    _same(operator(scalar, a), operator(scalar, ta))  # the reflected form


@pytest.mark.parametrize("values,dtype", [(_B1, "bool"), (_I1, "int64"), ([0, 5, 250], "uint8"),
                                          (_I1, "int8")])
def test_invert_is_logical_not_on_bools_and_bitwise_not_on_integers(values, dtype):
    a, ta = _tensors(values, dtype)
    _same(~a, ~ta)
    _same(nerve.bitwise_not(a), torch.bitwise_not(ta))
    _same(a.bitwise_not(), ta.bitwise_not())


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("dtypes", [("bool", "bool"), ("float32", "int64"), ("int32", "bool"),
                                    ("float64", "float64")])
def test_logical_functions_match_torch(name, dtypes):
    (a, ta), (b, tb) = _tensors([0, 1, 2, 0], dtypes[0]), _tensors([0, 0, 3, 1], dtypes[1])
    _same(getattr(nerve, name)(a, b), getattr(torch, name)(ta, tb))
    _same(getattr(a, name)(b), getattr(ta, name)(tb))


@pytest.mark.parametrize("dtype", ["bool", "float32", "int64"])
def test_logical_not_matches_torch(dtype):
    a, ta = _tensors([0, 1, 2, 0], dtype)
    _same(nerve.logical_not(a), torch.logical_not(ta))
    _same(a.logical_not(), ta.logical_not())


def test_masks_combine_as_in_pytorch():
    x_values = [[-1.0, 0.5, 2.0], [0.3, -0.2, 0.9]]
    y_values = [[0.0, 1.5, 0.2], [2.0, 0.1, -1.0]]
    (x, tx), (y, ty) = _tensors(x_values, "float32"), _tensors(y_values, "float32")
    mask, tmask = (x > 0) & (y < 1), (tx > 0) & (ty < 1)
    _same(mask, tmask)
    _same(~mask | (x < 0), ~tmask | (tx < 0))
    _same(x[mask], tx[tmask])
    mask &= x < 1  # in place: the same tensor, as torch
    tmask &= tx < 1
    _same(mask, tmask)


@pytest.mark.parametrize("fn", [
    lambda m, a, f: a & f, lambda m, a, f: f | a, lambda m, a, f: a ^ 1.5, lambda m, a, f: ~f,
    lambda m, a, f: m.bitwise_and(a, f), lambda m, a, f: 2.0 & a,
    lambda m, a, f: a.bitwise_or(f),
], ids=["and", "or-reflected", "xor-float-number", "invert", "function", "float-number-left",
        "method"])
def test_bitwise_operations_refuse_floats_as_torch(fn):
    a = nerve.tensor([True, False])
    f = nerve.tensor([1.0, 0.0])
    with pytest.raises(TypeError, match="expected bool or integer operands"):
        fn(nerve, a, f)
    with pytest.raises((RuntimeError, TypeError)):  # torch refuses too
        fn(torch, torch.tensor([True, False]), torch.tensor([1.0, 0.0]))


def test_bitwise_operations_refuse_other_types_and_shapes():
    a = nerve.tensor([True, False])
    with pytest.raises(TypeError, match="str"):
        a & "x"
    with pytest.raises(ValueError, match=r"bitwise_or: shapes \(2,\) and \(3,\)"):
        a | nerve.tensor([True, False, True])
    with pytest.raises(RuntimeError, match="dtype int64"):  # an int result into a bool mask
        a |= nerve.tensor([1, 2])


def test_bitwise_results_carry_no_gradient():
    x = nerve.tensor([0.5, -1.0], requires_grad=True)
    mask = (x > 0) & (x < 1)
    assert not mask.requires_grad and mask.grad_fn is None


def test_numpy_ufuncs_on_masks_give_tensors():
    a = nerve.tensor([True, False, True])
    out = np.array([True, True, False]) & a
    assert isinstance(out, nerve.Tensor) and out.tolist() == [True, False, False]
    assert np.logical_not(a).tolist() == [False, True, False]


# --- an integer to a negative power ---------------------------------------------------------------
@pytest.mark.parametrize("fn", [lambda m, x: x ** -1, lambda m, x: m.pow(x, -2)],
                         ids=["operator", "function"])
def test_integer_to_a_negative_power_says_so_as_torch(fn):
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        fn(torch, torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers are not "
                                         "allowed.*int64") as info:
        fn(nerve, nerve.tensor([2, 3]))
    assert "broadcast" not in str(info.value)


def test_shapes_that_do_not_broadcast_still_say_so():
    with pytest.raises(ValueError, match=r"pow: shapes \(2,\) and \(3,\) do not broadcast"):
        nerve.tensor([2.0, 3.0]) ** nerve.tensor([1.0, 2.0, 3.0])


def test_an_in_place_operation_given_a_tensor_by_keyword_is_recorded():
    """clamp_(min=t) with t requiring grad ran unrecorded (only positional arguments were
    looked at): t silently got no gradient."""
    results = []
    for m in (nerve, torch):
        x = m.tensor([0.0, 1.0, 2.0], dtype=m.float64, requires_grad=True)
        lo = m.tensor([0.5, 0.5, 0.5], dtype=m.float64, requires_grad=True)
        y = x * 1.0
        y.clamp_(min=lo)
        (y * y).sum().backward()
        results.append((x.grad.numpy(), lo.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
