"""Layers (Linear, Flatten, Dropout, Identity, Sequential) and activations, as modules and as
functions of ``nerve.nn.functional``, against NumPy formulas and finite differences."""

from __future__ import annotations

import math
import re
from collections import OrderedDict

import numpy as np
import pytest
from conftest import away_from_zero, distinct, smooth

import nerve
from nerve import nn
from nerve.nn import functional as F


def f32(a) -> nerve.Tensor:
    return nerve.tensor(np.asarray(a, np.float32), requires_grad=True)


# --- Linear ----------------------------------------------------------------------------------
def test_linear_shapes_pytorch_layout():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert layer(nerve.zeros(7, 5)).shape == (7, 3)
    assert layer(nerve.zeros(2, 4, 5)).shape == (2, 4, 3)


@pytest.mark.parametrize("layer", [nn.Linear(3, 4), nn.Conv2d(2, 3, 2), nn.LSTM(2, 3)],
                         ids=["Linear", "Conv2d", "LSTM"])
def test_weights_are_row_major_so_a_view_edits_them_as_in_pytorch(layer):
    """PyTorch's weights are contiguous: ``w.view(-1)``, ``reshape`` and ``flatten`` share
    their memory, and pruning code writes through them. nerve's weights are laid out the same,
    so the same code edits the weight instead of a copy. (A column-major Linear weight made
    the products 3-5% faster and was dropped for this.)"""
    for p in layer.parameters():
        assert p.is_contiguous()
        with nerve.no_grad():
            p.view(-1)[0] = 5.0
            p.reshape(-1)[-1] = 7.0
            p.flatten()[1] = 9.0
        flat = p.detach().numpy().reshape(-1)
        assert (flat[0], flat[-1], flat[1]) == (5.0, 7.0, 9.0)
    opt = nerve.optim.Adam(layer.parameters(), lr=0.1)
    for p in layer.parameters():
        p.grad = nerve.zeros_like(p)
    opt.step()  # the flat buffers keep the layout
    assert all(p.is_contiguous() for p in layer.parameters())


def test_linear_forward_is_affine():
    layer = nn.Linear(4, 2)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    expected = x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(nerve.tensor(x)).detach().numpy(), expected, rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("fan_in", [3, 400])
def test_linear_default_init_bounds(fan_in):
    nerve.manual_seed(0)
    layer = nn.Linear(fan_in, 500)
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight.detach().numpy(), layer.bias.detach().numpy()):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound  # fills the interval, not a narrower one
    w = layer.weight.detach().numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert abs(w.mean()) < 0.03 * bound


def test_linear_seeded_init_repeats():
    nerve.manual_seed(5)
    a = nn.Linear(3, 4)
    nerve.manual_seed(5)
    b = nn.Linear(3, 4)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())


def test_linear_reset_parameters_redraws():
    layer = nn.Linear(3, 4)
    before = layer.weight.detach().numpy().copy()
    layer.reset_parameters()
    assert not np.array_equal(before, layer.weight.detach().numpy())


def test_linear_no_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and list(layer.state_dict()) == ["weight"]
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(layer(nerve.tensor(x)).detach().numpy(),
                               x @ layer.weight.detach().numpy().T)


def test_linear_dtype_float64():
    layer = nn.Linear(3, 2, dtype="float64")
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64


@pytest.mark.parametrize("shape", [(2, 3), (5,), (2, 4, 5)])
def test_linear_feature_mismatch_raises(shape):
    layer = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=re.escape(f"Linear(4, 2): expected input of shape "
                                                   f"(N, 4), received {shape}")):
        layer(nerve.zeros(*shape))


@pytest.mark.parametrize("args, error, message", [
    ((0, 3), ValueError, "a positive integer. Received: in_features=0"),
    ((3, -1), ValueError, "a positive integer. Received: out_features=-1"),
    ((2.5, 3), TypeError, "an integer. Received: in_features=2.5"),
    ((True, 3), TypeError, "an integer. Received: in_features=True"),
    ((3, "4"), TypeError, "an integer. Received: out_features='4'")])
def test_linear_bad_sizes_raise(args, error, message):
    with pytest.raises(error, match=re.escape(f"Linear: expected {message}")):
        nn.Linear(*args)


def test_linear_gradcheck(record_op):
    nerve.manual_seed(1)
    layer = nn.Linear(4, 3).double()
    assert nerve.gradcheck(lambda x: layer(x), [nerve.tensor(smooth((2, 4)), dtype="float64")])
    layer.zero_grad()  # gradcheck's backward reached the parameters too
    out = layer(nerve.tensor(smooth((2, 4)), dtype="float64"))
    out.backward(np.ones((2, 3)))
    np.testing.assert_allclose(layer.bias.grad, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(layer.weight.grad, np.ones((3, 2)) @ smooth((2, 4)))
    record_op("gradcheck", "nn.Linear")


def test_linear_repr():
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"


# --- Flatten, Identity -----------------------------------------------------------------------
@pytest.mark.parametrize("start, end, shape", [(1, -1, (2, 60)), (0, -1, (120,)),
                                               (2, 3, (2, 3, 20)), (1, 2, (2, 12, 5))])
def test_flatten_dims(start, end, shape):
    x = f32(np.arange(120).reshape(2, 3, 4, 5))
    out = nn.Flatten(start, end)(x)
    assert out.shape == shape
    np.testing.assert_array_equal(out.detach().numpy().reshape(-1), np.arange(120))
    out.sum().backward()
    assert x.grad.shape == (2, 3, 4, 5)


def test_flatten_default_keeps_batch():
    assert nn.Flatten()(nerve.zeros(4, 1, 28, 28)).shape == (4, 784)


def test_identity_returns_input_and_ignores_arguments():
    x = f32([1.0, 2.0])
    assert nn.Identity(3, k=4)(x) is x


# --- Dropout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_bad_p_raises(p):
    with pytest.raises(ValueError, match=re.escape(f"expected p in [0, 1]. Received: p={p!r}")):
        nn.Dropout(p)


@pytest.mark.parametrize("p", ["0.5", True, None])
def test_dropout_p_of_the_wrong_type_raises(p):
    with pytest.raises(TypeError, match=re.escape(f"expected a number. Received: p={p!r}")):
        nn.Dropout(p)


@pytest.mark.parametrize("p", [-0.5, 1.5])
def test_dropout_functional_bad_p_raises(p):
    with pytest.raises(ValueError, match="expected p in"):
        F.dropout(nerve.ones(3), p)


def test_dropout_eval_is_identity():
    layer = nn.Dropout(0.5).eval()
    x = f32(np.ones((10, 10)))
    np.testing.assert_array_equal(layer(x).detach().numpy(), x.detach().numpy())


def test_dropout_p0_is_identity():
    x = f32(np.arange(6.0))
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).detach().numpy(), x.detach().numpy())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_training_zeroes_and_scales(p):
    nerve.manual_seed(0)
    x = f32(np.ones((200, 500)))
    out = nn.Dropout(p)(x).detach().numpy()
    assert out.dtype == np.float32
    zero = out == 0
    assert abs(zero.mean() - p) < 0.01
    np.testing.assert_allclose(out[~zero], 1 / (1 - p), rtol=1e-6)


def test_dropout_gradient_follows_the_mask():
    nerve.manual_seed(0)
    x = f32(np.ones((50, 40)))
    out = nn.Dropout(0.25)(x)
    out.sum().backward()
    # x is 1: the output is the mask * scale
    np.testing.assert_allclose(x.grad, out.detach().numpy())


def test_dropout_seeded_mask_repeats():
    x = nerve.ones(30, 30)
    nerve.manual_seed(7)
    a = nn.Dropout(0.5)(x).detach().numpy()
    nerve.manual_seed(7)
    b = nn.Dropout(0.5)(x).detach().numpy()
    c = nn.Dropout(0.5)(x).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_follows_module_mode():
    model = nn.Sequential(nn.Dropout(0.9))
    x = nerve.ones(100)
    model.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), np.ones(100))
    model.train()
    assert (model(x).detach().numpy() == 0).any()


# --- Sequential ------------------------------------------------------------------------------
def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert model[0] is layers[0] and model[-1] is layers[2]
    assert list(model) == layers
    assert [n for n, _ in model.named_children()] == ["0", "1", "2"]


def test_sequential_slice_keeps_names():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2
    assert [n for n, _ in tail.named_children()] == ["1", "2"] and tail[1] is model[2]


def test_sequential_index_out_of_range_raises():
    with pytest.raises(IndexError):
        nn.Sequential(nn.ReLU())[3]


def test_sequential_forward_chains():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = nerve.tensor(np.array([[1.0, -2.0]], np.float32))
    expected = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).detach().numpy(), expected.detach().numpy())


def test_sequential_append_registers():
    model = nn.Sequential(nn.Linear(2, 3))
    assert model.append(nn.Tanh()).append(nn.Linear(3, 1)) is model
    assert len(model) == 3 and list(model.state_dict()) == ["0.weight", "0.bias", "2.weight",
                                                              "2.bias"]


def test_sequential_ordered_dict_names():
    model = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(model.state_dict()) == ["hidden.weight", "hidden.bias"]
    assert model[1] is model.act


def test_sequential_not_a_module_raises():
    with pytest.raises(TypeError, match=re.escape("Sequential: expected Modules. Received: "
                                                  "modules[1]=3")):
        nn.Sequential(nn.ReLU(), 3)


def test_sequential_append_not_a_module_raises():
    with pytest.raises(TypeError, match=re.escape("Sequential.append: expected Modules. "
                                                  "Received: modules[0]=array([0., 0.])")):
        nn.Sequential().append(np.zeros(2))


# --- activations -----------------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# name: (module, functional form, NumPy reference, input maker away from kinks)
ACTIVATIONS = {
    "Step": (nn.Step(0.3), lambda x: F.step(x, 0.3), lambda x: (x > 0.3) * 1.0, smooth),
    "Sigmoid": (nn.Sigmoid(), F.sigmoid, _sigmoid, smooth),
    "ReLU": (nn.ReLU(), F.relu, lambda x: np.maximum(x, 0), away_from_zero),
    "Softplus": (nn.Softplus(), F.softplus, lambda x: np.log1p(np.exp(x)), smooth),
    "Softplus-beta2": (nn.Softplus(beta=2.0), lambda x: F.softplus(x, beta=2.0),
                       lambda x: np.log1p(np.exp(2 * x)) / 2, smooth),
    "Tanh": (nn.Tanh(), F.tanh, np.tanh, smooth),
    "LeakyReLU": (nn.LeakyReLU(), F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
                  away_from_zero),
    "LeakyReLU-0.2": (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2),
                      lambda x: np.where(x > 0, x, 0.2 * x), away_from_zero),
    "Softmax-dim1": (nn.Softmax(dim=1), lambda x: F.softmax(x, dim=1),
                     lambda x: _softmax(x, 1), smooth),
    "Softmax-dim0": (nn.Softmax(dim=0), lambda x: F.softmax(x, 0), lambda x: _softmax(x, 0),
                     smooth),
    "LogSoftmax-dim1": (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, dim=1),
                        lambda x: np.log(_softmax(x, 1)), smooth),
    "LogSoftmax-last": (nn.LogSoftmax(dim=-1), lambda x: F.log_softmax(x, -1),
                        lambda x: np.log(_softmax(x, -1)), smooth),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_module_and_function_match_formula(name):
    module, fn, ref, make = ACTIVATIONS[name]
    x = make((3, 4, 2), seed=3)
    expected = ref(x)
    for out in (module(f32(x)), fn(f32(x))):
        assert out.shape == x.shape and out.dtype == np.float32
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradcheck(record_op, name):
    module, fn, _, make = ACTIVATIONS[name]
    x = nerve.tensor(make((3, 4), seed=4), dtype="float64")
    assert nerve.gradcheck(module, [x])
    assert nerve.gradcheck(fn, [x])
    record_op("gradcheck", f"nn.{name}")


def test_step_threshold_and_zero_gradient():
    x = f32([0.2, 0.5, 0.7, -1.0])
    out = nn.Step(threshold=0.5)(x)
    np.testing.assert_array_equal(out.detach().numpy(), [0, 0, 1, 0])  # 1 only strictly above
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))


def test_step_default_threshold_zero():
    np.testing.assert_array_equal(nn.Step()(f32([-0.1, 0.0, 0.1])).detach().numpy(), [0, 0, 1])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_sums_to_one_along_dim(dim):
    x = f32(distinct((3, 5)))
    np.testing.assert_allclose(nn.Softmax(dim)(x).detach().numpy().sum(axis=dim), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim)(x).detach().numpy()).sum(axis=dim), 1.0,
                               rtol=1e-6)


def test_softmax_stable_for_large_logits():
    x = f32([[1e4, 0.0, -1e4]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).detach().numpy(), [[1, 0, 0]])
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).detach().numpy(), [[0, -1e4, -2e4]])


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 20.0), (1.0, 1.0), (0.5, 2.0)])
def test_softplus_linear_above_threshold(beta, threshold):
    x = np.array([-3.0, 0.5, 1.5, 3.0, 50.0], np.float64)
    z = beta * x
    expected = np.where(z > threshold, x, np.log1p(np.exp(np.minimum(z, 30))) / beta)
    t = nerve.tensor(x, dtype="float64", requires_grad=True)
    out = nn.Softplus(beta, threshold)(t)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(t.grad, np.where(z > threshold, 1.0, _sigmoid(z)), rtol=1e-12)


@pytest.mark.parametrize("beta, error", [(0, ValueError), (-1.0, ValueError), ("2", TypeError)])
def test_softplus_bad_beta_raises(beta, error):
    with pytest.raises(error, match=re.escape(f"beta={beta!r}")):
        nn.Softplus(beta)
    with pytest.raises(error, match=re.escape(f"beta={beta!r}")):
        F.softplus(nerve.ones(2), beta=beta)


@pytest.mark.parametrize("module, text", [
    (nn.Step(0.5), "Step(threshold=0.5)"), (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.Softmax(dim=1), "Softmax(dim=1)"), (nn.LogSoftmax(dim=0), "LogSoftmax(dim=0)"),
    (nn.Softplus(2.0), "Softplus(beta=2.0, threshold=20.0)"), (nn.Dropout(0.3), "Dropout(p=0.3)"),
    (nn.Flatten(), "Flatten(start_dim=1, end_dim=-1)"), (nn.Tanh(), "Tanh()")])
def test_layer_repr(module, text):
    assert repr(module) == text


# --- Embedding ------------------------------------------------------------------------------
def test_embedding_gradcheck(record_op):
    nerve.manual_seed(0)
    layer = nn.Embedding(5, 3).double()
    idx = nerve.tensor([[0, 4, 4], [1, 0, 2]])
    assert nerve.gradcheck(lambda w: F.embedding(idx, w), [layer.weight])
    record_op("gradcheck", "nn.Embedding")


@pytest.mark.parametrize("idx, error, text", [
    ([0, 5], IndexError, "indices in [0, 5) (num_embeddings). Received: index=5"),
    ([-1, 0], IndexError, "indices in [0, 5) (num_embeddings). Received: index=-1"),
    ([0.0, 1.0], TypeError, "integer indices. Received: input.dtype='float32'")])
def test_embedding_bad_indices_raise(idx, error, text):
    with pytest.raises(error, match=re.escape(f"embedding: expected {text}")):
        nn.Embedding(5, 3)(nerve.tensor(idx))
