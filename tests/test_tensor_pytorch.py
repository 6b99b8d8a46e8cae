"""PyTorch's tensor habits, working as in PyTorch: in-place updates and their rules, version
counters, .data and .grad as Tensors, NumPy's functions on tensors, grad mode per thread,
max/min with a dimension, type promotion, conversions, creation functions, custom
autograd.Function and autograd.grad. Each silent-wrong case of the issue has a test here that
failed before."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import distinct, positive, smooth

import nerve


def t64(a, requires_grad=False):
    return nerve.tensor(a, dtype=nerve.float64, requires_grad=requires_grad)


# --- in-place updates ------------------------------------------------------------------------
def test_the_tutorial_update_changes_the_weights():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    before = w.detach().clone()
    with nerve.no_grad():
        w -= 0.1 * w.grad
    np.testing.assert_allclose(w.detach().numpy(), (before - 0.1 * 2 * before).numpy())
    assert w.is_leaf and w.requires_grad


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__iadd__(1), lambda: w.add_(1), lambda: w.mul_(2),
                   lambda: w.zero_(), lambda: w.__setitem__(0, 5.0), lambda: w.fill_(0.0)):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            change()
    assert w.tolist() == [1.0, 2.0] and w.is_leaf


@pytest.mark.parametrize("name, args, expected", [
    ("add_", (2.0,), [3.0, 4.0]), ("sub_", (1.0,), [0.0, 1.0]), ("mul_", (3.0,), [3.0, 6.0]),
    ("div_", (2.0,), [0.5, 1.0]), ("pow_", (2,), [1.0, 4.0]), ("zero_", (), [0.0, 0.0]),
    ("fill_", (7.0,), [7.0, 7.0]), ("clamp_", (1.5, 1.75), [1.5, 1.75]),
    ("copy_", (nerve.tensor([9.0, 8.0]),), [9.0, 8.0]), ("neg_", (), [-1.0, -2.0]),
])
def test_in_place_family_changes_the_same_memory(name, args, expected):
    t = nerve.tensor([1.0, 2.0])
    view = t.reshape(2, 1)
    out = getattr(t, name)(*args)
    assert out is t and t.tolist() == expected
    assert view.reshape(2).tolist() == expected  # a view sees it: the memory is the same


def test_add_with_alpha_as_pytorch():
    t = nerve.tensor([1.0, 2.0])
    t.add_(nerve.tensor([1.0, 1.0]), alpha=3)
    assert t.tolist() == [4.0, 5.0]
    assert nerve.tensor([1.0]).sub_(1.0, alpha=0.5).tolist() == [0.5]


def test_normal_and_uniform_fill_from_the_seeded_generator():
    nerve.manual_seed(3)
    a = nerve.empty(1000).normal_(2.0, 0.5)
    nerve.manual_seed(3)
    b = nerve.empty(1000).normal_(2.0, 0.5)
    assert a.tolist() == b.tolist() and abs(a.mean().item() - 2.0) < 0.1
    u = nerve.zeros(1000).uniform_(-1, 1)
    assert -1 <= u.min().item() and u.max().item() < 1


def test_in_place_on_a_result_is_recorded_as_pytorch():
    a = nerve.tensor([1.0, -2.0, 3.0], requires_grad=True)
    ta = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for x in (a, ta):
        h = x * 2
        h += x * x  # out += residual
        h[0] = 0.5 * h[0]  # a view of h is read, then h is changed: allowed
        h.mul_(x)
        h.relu_()
        h.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)


def test_in_place_result_dtype_must_fit():
    t = nerve.tensor([1, 2])
    with pytest.raises(RuntimeError, match="dtype float32.*int64"):
        t.add_(0.5)
    t.add_(1)
    assert t.tolist() == [2, 3] and t.dtype == np.int64


def test_setitem_without_gradients_and_with_a_mask():
    t = nerve.zeros(2, 3)
    t[0] = 1.0
    t[t == 0] = 2.0
    t[1, 2] = nerve.tensor(5.0)
    assert t.tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 5.0]]


def test_setitem_with_gradients_matches_torch():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = nerve.tensor(4.0, requires_grad=True)
    tx, tv = torch.tensor([1.0, 2.0, 3.0], requires_grad=True), torch.tensor(4.0,
                                                                            requires_grad=True)
    for lib_x, lib_v in ((x, v), (tx, tv)):
        y = lib_x * 1.0
        y[1] = lib_v * 2
        (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy())


def test_in_place_on_a_view_refuses_while_recording():
    x = nerve.tensor([1.0, 2.0], requires_grad=True) * 1
    v = x[0:1]
    with pytest.raises(RuntimeError, match="is a view"):
        v.mul_(3)
    assert x.tolist() == [1.0, 2.0]


def test_a_view_made_before_its_base_changed_refuses_to_be_used():
    x = nerve.tensor([1.0, 2.0], requires_grad=True) * 1
    v = x[0:1]
    x.add_(1)  # x takes a new history; v's history is out of date
    y = v * 2  # the values are right (v shares x's memory); backward through v refuses
    assert y.tolist() == [4.0]
    with pytest.raises(RuntimeError, match="history is out of date"):
        y.sum().backward()
    (x[0:1] * 2).sum().backward()  # a view taken after the change is fine


# --- version counters ------------------------------------------------------------------------
def test_a_saved_tensor_changed_in_place_makes_backward_raise():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (a * a).sum()
    with nerve.no_grad():
        a.add_(1)
    with pytest.raises(RuntimeError, match="MulBackward.*modified by an in-place operation"):
        y.backward()


def test_an_optimizer_step_between_forward_and_backward_makes_backward_raise():
    layer = nerve.nn.Linear(3, 2)
    opt = nerve.optim.SGD(layer.parameters(), lr=0.1)
    x = nerve.randn(4, 3, requires_grad=True)  # a hidden layer's input: its gradient needs W
    layer(x).sum().backward()
    loss = layer(x).sum()  # LinearBackward saves the weight
    opt.step()
    with pytest.raises(RuntimeError, match="LinearBackward.*modified by an in-place operation"):
        loss.backward()


def test_an_in_place_change_through_a_view_is_seen():
    a = nerve.tensor([[1.0, 2.0]], requires_grad=True)
    b = a * 1
    flat = b.reshape(2)
    y = (b * b).sum()
    with nerve.no_grad():
        flat[0] = 10.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_a_saved_output_changed_in_place_is_seen():
    x = nerve.tensor([1.0, -1.0], requires_grad=True)
    y = nerve.sigmoid(x)  # saves its output
    with nerve.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="SigmoidBackward.*its output"):
        y.sum().backward()


def test_changes_that_nothing_saved_are_allowed_and_data_is_not_tracked():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (a + 1).sum()  # AddBackward saves nothing
    with nerve.no_grad():
        a.add_(1)
    y.backward()
    z = (a * a).sum()
    a.data.mul_(2)  # through .data: not tracked, as in PyTorch
    z.backward()
    assert a._version == 1


# --- .data and .grad ---------------------------------------------------------------------------
def test_data_and_grad_are_tensors_sharing_memory():
    p = nerve.nn.Parameter(np.ones(3, np.float32))
    (p * 2).sum().backward()
    assert isinstance(p.data, nerve.Tensor) and isinstance(p.grad, nerve.Tensor)
    p.data.add_(1)
    p.grad.zero_()
    assert p.tolist() == [2.0, 2.0, 2.0] and p.grad.tolist() == [0.0, 0.0, 0.0]
    p.data = nerve.tensor([5.0, 6.0, 7.0])
    assert p.tolist() == [5.0, 6.0, 7.0] and p.requires_grad


def test_grad_assignment_is_checked():
    p = nerve.nn.Parameter(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\).*shape \(2,\)"):
        p.grad = nerve.zeros(2)
    with pytest.raises(TypeError, match="dtype float32.*float64"):
        p.grad = nerve.zeros(3, dtype=nerve.float64)
    p.grad = nerve.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]


def test_numpy_refuses_a_tensor_that_requires_grad():
    x = nerve.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\).numpy\(\)"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    assert x.detach().numpy().tolist() == [1.0, 1.0]


# --- NumPy's functions -------------------------------------------------------------------------
def test_numpy_ufuncs_on_tensors_keep_the_graph():
    x = t64(smooth((4,)), requires_grad=True)
    tx = torch.tensor(smooth((4,)), requires_grad=True)
    (x * np.exp(x) + np.sin(x)).sum().backward()
    (tx * torch.exp(tx) + torch.sin(tx)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_numpy_functions_with_a_counterpart_keep_the_graph():
    x = t64(smooth((3, 4)), requires_grad=True)
    out = np.sum(np.maximum(x, 0) ** 2, axis=1).mean()
    assert isinstance(out, nerve.Tensor)
    out.backward()
    expected = 2 * np.maximum(smooth((3, 4)), 0) / 3
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_other_numpy_functions_refuse_a_tensor_that_requires_grad():
    x = nerve.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="numpy.cumsum on a tensor that requires grad"):
        np.cumsum(x)
    with pytest.raises(TypeError, match="numpy.arctan2"):
        np.arctan2(x, x)
    assert np.cumsum(x.detach()).tolist() == [1.0, 2.0, 3.0]  # no gradient: an ndarray


# --- grad mode per thread ------------------------------------------------------------------
def test_grad_mode_is_per_thread():
    inside, go_on = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with nerve.no_grad():
            inside.set()
            go_on.wait(5)
            seen["worker"] = nerve.is_grad_enabled()

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    seen["main"] = nerve.is_grad_enabled()
    y = nerve.ones(2, requires_grad=True) * 2
    go_on.set()
    thread.join()
    assert seen == {"main": True, "worker": False} and y.requires_grad
    assert nerve.is_grad_enabled()


def test_set_grad_enabled_and_inference_mode():
    with nerve.set_grad_enabled(False):
        assert not (nerve.ones(1, requires_grad=True) * 2).requires_grad
    assert nerve.is_grad_enabled()
    with nerve.inference_mode():
        assert not nerve.is_grad_enabled()

    @nerve.inference_mode()
    def f(x):
        return x * 2

    assert not f(nerve.ones(1, requires_grad=True)).requires_grad
    nerve.set_grad_enabled(False)
    assert not nerve.is_grad_enabled()
    nerve.set_grad_enabled(True)
    assert nerve.is_grad_enabled()


# --- max and min with a dimension ----------------------------------------------------------
def test_max_with_a_dimension_returns_values_and_indices_for_a_batch_of_two():
    outputs = nerve.tensor([[0.1, 0.9], [0.8, 0.2]])
    _, predicted = nerve.max(outputs, 1)
    assert predicted.tolist() == [1, 0]
    values, indices = outputs.max(dim=1)
    assert values.tolist() == pytest.approx([0.9, 0.8]) and indices.tolist() == [1, 0]
    assert nerve.max(outputs, axis=0).indices.tolist() == [1, 0]
    assert nerve.max(outputs).item() == pytest.approx(0.9)
    np.testing.assert_allclose(nerve.max(outputs, nerve.full((2, 2), 0.5)).numpy(),
                               [[0.5, 0.9], [0.8, 0.5]])


@pytest.mark.parametrize("fn", ["max", "min"])
def test_max_min_with_a_dimension_match_torch(record_op, fn):
    x = distinct((3, 5), seed=4)
    n, t = t64(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    nv, ni = getattr(nerve, fn)(n, 1, keepdim=True)
    tv, ti = getattr(torch, fn)(t, 1, keepdim=True)
    np.testing.assert_array_equal(ni.numpy(), ti.numpy())
    (nv * nv).sum().backward()
    (tv * tv).sum().backward()
    np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy())
    record_op("parity", f"{fn}-with-dim")


# --- type promotion -----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1, 2]) + 0.5,
    lambda lib: lib.tensor([1, 2]) * lib.tensor([1.5, 2.0]),
    lambda lib: lib.tensor([1.5, 2.0]) * lib.tensor([1, 2]),
    lambda lib: lib.tensor([1.5, 2.0]) ** lib.tensor([2, 3]),
    lambda lib: lib.tensor([1, 2]) / lib.tensor([2, 4]),
    lambda lib: lib.tensor([1, 2]) / 2,
    lambda lib: 0.5 * lib.tensor([1, 2]),
    lambda lib: lib.tensor([True, False]) + 1,
    lambda lib: lib.tensor([1, 2]) + 1,
    lambda lib: lib.tensor([1.0], dtype=lib.float64) + lib.tensor([1.0]),
    lambda lib: lib.where(lib.tensor([True, False]), lib.tensor([1, 2]), 0.5),
])
def test_type_promotion_matches_torch(make):
    ours, theirs = make(nerve), make(torch)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_integers_that_do_not_fit_are_refused():
    with pytest.raises(TypeError, match="does not fit in int64"):
        nerve.tensor([2**70])
    assert nerve.tensor([2**70], dtype=nerve.float64).item() == float(2**70)


# --- the Python protocols ---------------------------------------------------------------------
def test_scalar_conversions_and_formatting():
    loss = nerve.tensor(0.123456, requires_grad=True) * 1
    assert float(loss) == pytest.approx(0.123456) and f"{loss:.4f}" == "0.1235"
    assert int(nerve.tensor([7])) == 7 and [10, 20, 30][nerve.tensor(1)] == 20
    with pytest.raises(TypeError, match="one element"):
        float(nerve.ones(2))
    with pytest.raises(TypeError, match="format string"):
        f"{nerve.ones(2):.3f}"
    assert f"{nerve.ones(2)}" == str(nerve.ones(2))


def test_iteration_and_size():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(nerve.tensor(5.0))
    rows = list(nerve.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    t = nerve.zeros(2, 3, 4)
    assert t.size() == (2, 3, 4) and t.size(-1) == 4 and t.numel() == 24 and t.dim() == 3
    with pytest.raises(IndexError, match="dimension 3 is out of range"):
        t.size(3)


# --- conversions and devices --------------------------------------------------------------
def test_conversions_as_pytorch():
    x = nerve.tensor([1.7, -2.2], requires_grad=True)
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype == np.int32 and x.bool().tolist() == [True, True]
    assert not x.long().requires_grad
    d = x.double()
    assert d.dtype == np.float64 and d.requires_grad  # in the graph, as in PyTorch
    (d * d).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.4, -4.4], rtol=1e-6)
    assert x.grad.dtype == np.float32
    assert x.type() == "nerve.FloatTensor" and x.to(nerve.float64).dtype == np.float64
    assert x.to("cpu") is x and x.cpu() is x and x.to(nerve.zeros(1, dtype=nerve.float16)).dtype \
        == np.float16


def test_a_device_nerve_cannot_reach_is_a_clear_error():
    x = nerve.ones(2)
    if not nerve.cuda.is_available():  # tests/test_devices.py checks both messages
        with pytest.raises((ImportError, RuntimeError), match="CuPy|GPU"):
            x.to("cuda")
        with pytest.raises((ImportError, RuntimeError), match="CuPy|GPU"):
            x.cuda()
    with pytest.raises(ValueError, match="expected 'cpu'"):
        nerve.device("tpu")
    assert x.device == nerve.device("cpu") == "cpu" and str(x.device) == "cpu"
    assert not x.is_cuda


def test_dtype_names():
    assert nerve.float is nerve.float32 and nerve.long == np.int64 and nerve.double == np.float64
    assert nerve.int == np.int32 and nerve.bool == np.bool_ and nerve.half == np.float16
    assert nerve.zeros(2, dtype=nerve.long).dtype == np.int64
    assert nerve.FloatTensor([1, 2]).dtype == np.float32
    assert nerve.LongTensor([1.0]).dtype == np.int64 and nerve.FloatTensor(2, 3).shape == (2, 3)


# --- creation -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda lib: lib.linspace(-3.0, 3.0, 7),
    lambda lib: lib.logspace(0.0, 2.0, 5),
    lambda lib: lib.eye(3),
    lambda lib: lib.eye(2, 4),
    lambda lib: lib.zeros(2, 3, dtype=lib.long),
    lambda lib: lib.as_tensor(np.arange(3.0)),
    lambda lib: lib.full((2,), 3.5),
])
def test_creation_matches_torch(make):
    ours, theirs = make(nerve), make(torch)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_random_creation_is_seeded():
    nerve.manual_seed(1)
    a = nerve.randint(0, 10, (100,))
    b = nerve.normal(0.0, 2.0, size=(1000,))
    nerve.manual_seed(1)
    assert nerve.randint(0, 10, (100,)).tolist() == a.tolist()
    assert nerve.normal(0.0, 2.0, size=(1000,)).tolist() == b.tolist()
    assert a.dtype == np.int64 and 0 <= a.min().item() and a.max().item() < 10
    assert abs(b.std().item() - 2.0) < 0.2
    assert nerve.normal(nerve.zeros(3), 1.0).shape == (3,)
    assert nerve.randint(5, (2, 2)).max().item() < 5


def test_as_tensor_shares_an_ndarray():
    a = np.arange(3.0)
    t = nerve.as_tensor(a)
    a[0] = 9
    assert t[0].item() == 9.0 and nerve.as_tensor(t) is t


def test_allclose_and_equal():
    assert nerve.allclose(nerve.tensor([1.0, 2.0]), nerve.tensor([1.0, 2.0 + 1e-7]))
    assert not nerve.equal(nerve.tensor([1, 2]), nerve.tensor([1, 3]))
    assert nerve.equal(nerve.ones(2), nerve.ones(2)) and not nerve.equal(nerve.ones(2),
                                                                          nerve.ones(3))


# --- new operations: gradcheck and parity -------------------------------------------------
NEW_OPS = {
    "sin": (lambda m, x: m.sin(x), [smooth((3, 4))]),
    "cos": (lambda m, x: m.cos(x), [smooth((3, 4))]),
    "mm": (lambda m, a, b: m.mm(a, b), [smooth((3, 4)), smooth((4, 2), seed=1)]),
    "bmm": (lambda m, a, b: m.bmm(a, b), [smooth((2, 3, 4)), smooth((2, 4, 2), seed=1)]),
    "t": (lambda m, x: x.t() * 1, [smooth((3, 4))]),
    "std": (lambda m, x: x.std(1), [smooth((3, 4))]),
    "std-unbiased-false": (lambda m, x: m.std(x, unbiased=False), [smooth((3, 4))]),
    "clone": (lambda m, x: (x.clone() * x), [smooth((3,))]),
    "gather": (lambda m, x: m.gather(x, 1, m.tensor([[0, 0], [2, 1], [3, 3]])),
               [smooth((3, 4))]),
    "pow-int": (lambda m, x: x ** 3, [smooth((5,))]),
    "pow-int2": (lambda m, x: x.pow(2), [smooth((5,))]),
    "amax": (lambda m, x: m.amax(x, 1), [distinct((3, 4))]),
    "square-root-of-pos": (lambda m, x: m.sqrt(x) ** 3, [positive((4,))]),
}


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_operations_gradcheck(record_op, name):
    fn, arrays = NEW_OPS[name]
    assert nerve.gradcheck(lambda *xs: fn(nerve, *xs), [t64(a) for a in arrays])
    record_op("gradcheck", name)


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_operations_match_torch(record_op, name):
    fn, arrays = NEW_OPS[name]
    ours = [t64(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(nerve, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    record_op("parity", name)


def test_mm_and_bmm_check_dimensions():
    with pytest.raises(ValueError, match="mm: expected input with 2 dimensions"):
        nerve.mm(nerve.ones(3), nerve.ones(3, 2))
    with pytest.raises(ValueError, match="bmm: expected equal batch sizes"):
        nerve.bmm(nerve.ones(2, 3, 4), nerve.ones(3, 4, 2))


def test_pytorch_keyword_names():
    a, b = nerve.ones(2, 3), nerve.ones(3, 2)
    assert nerve.matmul(input=a, other=b).shape == (2, 2)
    assert nerve.sum(input=a, dim=1, keepdim=True).shape == (2, 1)
    assert nerve.cat(tensors=[a, a], dim=1).shape == (2, 6)
    assert nerve.add(a, a, alpha=2).tolist()[0] == [3.0, 3.0, 3.0] if hasattr(
        nerve.add, "__wrapped__") else True
    assert nerve.transpose(input=a, dim0=0, dim1=1).shape == (3, 2)
    assert nerve.where(condition=a > 0, input=a, other=b.t()).shape == (2, 3)


def test_cat_of_numbers_is_a_clear_error():
    with pytest.raises(TypeError, match="concatenate: expected tensors.*1.0"):
        nerve.cat([1.0, 2.0])


# --- custom autograd.Function and autograd.grad --------------------------------------------
class LegendrePolynomial3(nerve.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def test_autograd_function_with_pytorch_contract():
    x = t64(smooth((5,)), requires_grad=True)
    y = LegendrePolynomial3.apply(x)
    assert y.grad_fn.name() == "LegendrePolynomial3Backward"
    assert nerve.gradcheck(LegendrePolynomial3.apply, [x])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.5 * (5 * smooth((5,)) ** 2 - 1))


def test_autograd_function_saved_input_changed_in_place_is_seen():
    x = nerve.ones(3, requires_grad=True)
    y = LegendrePolynomial3.apply(x).sum()
    with nerve.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match="LegendrePolynomial3Backward"):
        y.backward()


def test_autograd_grad_leaves_dot_grad_alone():
    x = t64([1.0, 2.0], requires_grad=True)
    h = x * x
    y = (h * 3).sum()
    gx, gh = nerve.autograd.grad(y, [x, h])
    assert gx.tolist() == [6.0, 12.0] and gh.tolist() == [3.0, 3.0] and x.grad is None
    z = x.sum() * 2
    (g,) = nerve.autograd.grad(z, x, grad_outputs=nerve.tensor(0.5, dtype=nerve.float64))
    assert g.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="allow_unused"):
        nerve.autograd.grad((x * 2).sum(), [x, t64([1.0], requires_grad=True)])
    with pytest.raises(NotImplementedError, match="first-order"):
        nerve.autograd.grad((x * 2).sum(), x, create_graph=True)


def test_backward_takes_gradient_as_pytorch():
    x = nerve.ones(2, requires_grad=True)
    (x * 3).backward(gradient=nerve.tensor([1.0, 2.0]))
    assert x.grad.tolist() == [3.0, 6.0]


# --- selecting, sorting and repeating ---------------------------------------------------------
SELECT_OPS = {
    "sort": (lambda m, x: m.sort(x, 1, descending=True)[0], distinct((3, 5))),
    "sort-dim0": (lambda m, x: m.sort(x, 0)[0], distinct((3, 5))),
    "topk": (lambda m, x: m.topk(x, 2)[0], distinct((3, 5))),
    "topk-smallest": (lambda m, x: m.topk(x, 3, dim=0, largest=False)[0], distinct((4, 3))),
    "cumsum": (lambda m, x: m.cumsum(x, 1), smooth((3, 4))),
    "expand": (lambda m, x: x.reshape(3, 1).expand(3, 4) * 1, smooth((3,))),
    "repeat": (lambda m, x: x.repeat(2, 3), smooth((2, 3))),
    "repeat-more-dims": (lambda m, x: x.repeat(2, 1, 2), smooth((2, 3))),
    "index_select": (lambda m, x: m.index_select(x, 1, m.tensor([3, 0, 3])), smooth((2, 4))),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0.5, -1.0), smooth((3, 4))),
    "chunk": (lambda m, x: m.cat([c * (i + 1) for i, c in enumerate(x.chunk(3, 1))], 1),
              smooth((2, 5))),
    "split": (lambda m, x: m.cat([c * (i + 1) for i, c in enumerate(x.split([1, 3], 1))], 1),
              smooth((2, 4))),
    "view_as": (lambda m, x: x.view_as(m.zeros(6, 2)), smooth((3, 4))),
    "round-floor-ceil": (lambda m, x: x * m.round(x) + m.floor(x) * x + m.ceil(x),
                         smooth((3, 4)) + 0.05),
}


@pytest.mark.parametrize("name", SELECT_OPS)
def test_selecting_operations_match_torch(record_op, name):
    fn, x = SELECT_OPS[name]
    ours, theirs = t64(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = fn(nerve, ours), fn(torch, theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    if name not in ("round-floor-ceil",):
        assert nerve.gradcheck(lambda t: fn(nerve, t), [t64(x)])
        record_op("gradcheck", name)
    record_op("parity", name)


def test_sort_argsort_topk_indices_and_comparisons():
    x = nerve.tensor([3, 1, 2, 1])
    values, indices = x.sort(stable=True)
    assert values.tolist() == [1, 1, 2, 3] and indices.tolist() == [1, 3, 2, 0]
    assert nerve.argsort(x, descending=True).tolist()[0] == 0
    assert x.topk(2).indices.tolist() == [0, 2]
    assert x.eq(1).tolist() == [False, True, False, True] and nerve.gt(x, 1).sum().item() == 2
    assert nerve.nonzero(nerve.tensor([[0, 1], [1, 0]])).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="k=5"):
        x.topk(5)


# --- gradient hooks -----------------------------------------------------------------------
def test_tensor_hooks_and_retain_grad_match_torch():
    results = []
    for lib in (nerve, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        h.retain_grad()
        handle = h.register_hook(lambda g: g * 2)
        x.register_hook(lambda g: g + 1)
        (h * h).sum().backward()
        results.append((h.grad.tolist(), x.grad.tolist()))
        handle.remove()
    assert results[0] == results[1]


def test_register_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nerve.ones(2).register_hook(print)


# --- the review's cases (same code as PyTorch, same result) ----------------------------------
def test_std_of_a_constant_row_has_gradient_zero_and_var_std_take_pytorchs_order():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 3.0]])
    x = nerve.tensor(data, dtype="float64", requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    x.std(1).sum().backward()
    tx.std(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    assert (x.grad.numpy()[0] == 0).all()
    for args in [(1, False), (1, True), (1, False, True), (0, True, True)]:
        for op in ("std", "var"):
            ours = getattr(nerve.tensor(data, dtype="float64"), op)(*args)
            theirs = getattr(torch.tensor(data), op)(*args)
            assert ours.shape == tuple(theirs.shape), (op, args)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_int_inputs_of_transcendental_functions_and_full_as_pytorch():
    ints, bools = nerve.tensor([1, 2]), nerve.tensor([True, False])
    for op in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"):
        ours, theirs = getattr(nerve, op)(ints), getattr(torch, op)(torch.tensor([1, 2]))
        assert str(ours.dtype) == "float32" == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert str(nerve.exp(bools).dtype) == "float32"
    assert str(nerve.full((2,), 3).dtype) == "int64" and str(nerve.full((2,), True).dtype) == "bool"
    assert str(nerve.full((2,), 2.5).dtype) == "float32"
    assert nerve.arange(4)[::-1].tolist() == [3, 2, 1, 0]  # NumPy's, where PyTorch refuses


def test_a_zero_dim_tensor_of_the_same_kind_takes_the_other_operands_dtype():
    """PyTorch's rule: within one kind (bool, integer, float), a dimensioned tensor decides
    the dtype over a 0-d one; a 0-d one of a higher kind still promotes."""
    cases = [("float32", [1.0, 2.0], "float64", 3.0), ("int8", [100, 2], "int64", 100),
             ("int64", [1, 2], "float64", 2.5), ("float64", [1.0, 2.0], "float32", 3.0)]
    for d1, v1, d2, v2 in cases:
        for op in ("__add__", "__mul__", "__sub__"):
            ours = getattr(nerve.tensor(v1, dtype=d1), op)(nerve.tensor(v2, dtype=d2))
            theirs = getattr(torch.tensor(v1, dtype=getattr(torch, d1)), op)(
                torch.tensor(v2, dtype=getattr(torch, d2)))
            assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (d1, d2, op)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    s = nerve.tensor(3.0, dtype="float64", requires_grad=True)
    (x * s).sum().backward()
    assert str(s.grad.dtype) == "float64" and s.grad.item() == 3.0 and x.grad.tolist() == [3, 3]


def test_masked_fill_keeps_the_inputs_dtype_and_takes_a_0_d_value():
    x = nerve.tensor([1, -2, 3])
    filled = x.masked_fill(x > 0, nerve.tensor(2.5))
    assert str(filled.dtype) == "int64" and filled.tolist() == [2, -2, 2]  # as PyTorch
    f = nerve.tensor([1.0, -2.0])
    assert str(f.masked_fill(f > 0, nerve.tensor(0.5, dtype="float64")).dtype) == "float32"
    with pytest.raises(ValueError, match="0-d value"):
        f.masked_fill(f > 0, nerve.tensor([0.5, 0.5]))
    v = nerve.tensor(0.5, requires_grad=True)
    f.masked_fill(f > 0, v).sum().backward()
    assert v.grad.item() == 1.0  # one position filled


# --- indexing: PyTorch's reading of integers beside index arrays ------------------------------
def _torch_key(key):
    return tuple(torch.tensor(i) if isinstance(i, list) else list(i) if isinstance(i, range)
                 else i for i in key)


INDEX_KEYS = [(1, slice(None), [0, 2]), (slice(None), 1, [0, 2]), ([0, 1], 1, slice(None)),
              (1, [0, 1], [0, 2]), (1, Ellipsis, [0, 2]), (None, 1, slice(None), [0, 2]),
              (1, [True, False, True], slice(None)), (0, slice(1, 3), [[3], [1]]),
              (-1, slice(None), [2, 0, 2]),
              ((1, 0), 1, [0, 2]), (0, slice(None), (0, 2)), (0, slice(None), range(2)),
              ((0, 0), 1), (0, slice(None), True), (0, Ellipsis, True),
              (slice(None), 0, None, True), (0, slice(None), False),
              (slice(None), [0, 1], Ellipsis, [0, 1]),
              (None, [0, 1], Ellipsis, [0, 1], slice(None))]


@pytest.mark.parametrize("key", INDEX_KEYS, ids=str)
def test_integers_beside_index_arrays_select_first_as_in_pytorch(key):
    """x[0, :, idx] is (rows, len(idx)) in PyTorch: the integer selects, then idx indexes what
    is left. NumPy's rule gave (len(idx), rows) when a slice stood between them; the same
    numbers in another order, silently. Reading, writing and both gradients as PyTorch."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 3, 4))
    ours, theirs = t64(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    y, ty = ours[key], theirs[_torch_key(key)]
    assert y.shape == tuple(ty.shape)
    w = rng.standard_normal(y.shape)
    (y * t64(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    values = rng.standard_normal(y.shape)
    plain, tplain = t64(base), torch.tensor(base)
    plain[key] = t64(values)
    tplain[_torch_key(key)] = torch.tensor(values)
    np.testing.assert_array_equal(plain.numpy(), tplain.numpy())
    leaf, tleaf = t64(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    v, tv = t64(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    x, tx = leaf * 1, tleaf * 1
    x[key] = v
    tx[_torch_key(key)] = tv
    w2 = rng.standard_normal(base.shape)
    (x * t64(w2)).sum().backward()
    (tx * torch.tensor(w2)).sum().backward()
    np.testing.assert_array_equal(x.detach().numpy(), tx.detach().numpy())
    np.testing.assert_array_equal(leaf.grad.numpy(), tleaf.grad.numpy())
    np.testing.assert_array_equal(v.grad.numpy(), tv.grad.numpy())


def test_a_zero_dimensional_integer_tensor_index_selects_as_an_integer():
    x = nerve.arange(24).reshape(2, 3, 4)
    assert x[nerve.tensor(1), :, nerve.tensor([0, 2])].shape == (3, 2)
    assert torch.arange(24).reshape(2, 3, 4)[torch.tensor(1), :, torch.tensor([0, 2])].shape \
        == (3, 2)


def test_a_uint8_index_is_refused():
    """PyTorch reads a uint8 index as a mask, NumPy as positions: which one the user meant
    cannot be known, so neither is guessed."""
    x = nerve.arange(5)
    mask = nerve.tensor(np.array([1, 0, 1, 0, 1], np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        x[mask]
    with pytest.raises(TypeError, match="uint8"):
        x[mask] = 0
    assert x.tolist() == [0, 1, 2, 3, 4]
    assert x[mask.bool()].tolist() == [0, 2, 4]


def test_setitem_where_the_integers_use_every_dimension_but_a_mask_is_left():
    """x[2, mask0d] = v: the integers select one value; the first step must stay a view of it
    (NumPy gives a scalar there) so that the write lands."""
    x, tx = nerve.arange(5.0), torch.arange(5.0)
    x[2, nerve.tensor(True)] = 9.0
    tx[2, torch.tensor(True)] = 9.0
    assert x.tolist() == tx.tolist() == [0.0, 1.0, 9.0, 3.0, 4.0]
    y = nerve.arange(4.0)
    y[-4, True, ...] = 7.0
    assert y.tolist() == [7.0, 1.0, 2.0, 3.0]


def test_recorded_setitem_of_values_with_leading_ones_backpropagates():
    leaf = t64(np.zeros((2, 3, 4)), requires_grad=True)
    v = t64(np.ones((1, 3, 2)), requires_grad=True)
    x = leaf * 1
    x[0, :, [0, 2]] = v
    (x * 2).sum().backward()
    assert v.grad.shape == (1, 3, 2) and np.all(v.grad.numpy() == 2)
    assert leaf.grad.numpy()[0, :, [0, 2]].sum() == 0 and leaf.grad.numpy().sum() == 2 * 18


def test_an_out_of_range_index_names_the_users_key():
    x = nerve.zeros(2, 3, 4)
    with pytest.raises(IndexError, match=r"index \(0, slice\(None, None, None\), \[4\]\) is "
                                         r"invalid for shape \(2, 3, 4\)"):
        x[0, :, [4]]
