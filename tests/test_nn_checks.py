"""Nothing silently wrong in nn: arguments checked when a layer is made, Module.to as PyTorch's,
a clear error for a list given to a layer, load_state_dict that fails without changing anything,
summary's batch dimension, and clip_grad_norm_ returning a Tensor."""

import importlib.util
import re

import numpy as np
import pytest

import nerve
from nerve import nn


def mlp():
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def arrays(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# --- layers check their arguments when made ----------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.LeakyReLU("0.2"), TypeError, "LeakyReLU: expected a number. "
                                             "Received: negative_slope='0.2'"),
    (lambda: nn.LeakyReLU(None), TypeError, "Received: negative_slope=None"),
    (lambda: nn.Step("1"), TypeError, "Step: expected a number. Received: threshold='1'"),
    (lambda: nn.Softplus(threshold="20"), TypeError, "Received: threshold='20'"),
    (lambda: nn.Softmax(dim=1.0), TypeError, "Softmax: expected an integer. Received: dim=1.0"),
    (lambda: nn.LogSoftmax(dim="1"), TypeError, "LogSoftmax: expected an integer. "
                                                "Received: dim='1'"),
    (lambda: nn.Flatten(start_dim="1"), TypeError, "Flatten: expected an integer. "
                                                   "Received: start_dim='1'"),
    (lambda: nn.Flatten(end_dim=None), TypeError, "Received: end_dim=None"),
    (lambda: nn.Linear(2, 3, bias="no"), TypeError, "Linear: expected True or False. "
                                                    "Received: bias='no'"),
    (lambda: nn.Linear(2, 3, dtype="int64"), TypeError, "Linear: expected a floating-point "
                                                        "dtype (float32, float64) or None. "
                                                        "Received: dtype='int64'"),
    (lambda: nn.Perceptron(2, threshold="3"), TypeError, "Perceptron: expected a number. "
                                                         "Received: threshold='3'"),
    (lambda: nn.Perceptron(2, bias=[1.0]), TypeError, "Received: bias=[1.0]"),
])
def test_layer_checks_its_arguments_when_made(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_module_train_mode_must_be_a_bool():
    model = mlp()
    with pytest.raises(TypeError, match=re.escape("Sequential.train: expected True or False. "
                                                  "Received: mode='eval'")):
        model.train("eval")
    assert all(m.training for m in model.modules())


def test_leaky_relu_and_step_keep_numbers():
    assert nn.LeakyReLU(np.float32(0.2)).negative_slope == pytest.approx(0.2)
    assert nn.Step(1).threshold == 1.0


@pytest.mark.parametrize("fill, args, error, message", [
    (nn.init.normal_, (0.0, -1.0), ValueError, "normal_: expected std >= 0. Received: std=-1.0"),
    (nn.init.uniform_, (1.0, 0.0), ValueError, "uniform_: expected b >= a=1.0. Received: b=0.0"),
    (nn.init.constant_, ("x",), TypeError, "constant_: expected a number. Received: value='x'"),
])
def test_init_checks_its_arguments_and_changes_nothing(fill, args, error, message):
    t = nn.Parameter(np.ones((2, 2), np.float32))
    with pytest.raises(error, match=re.escape(message)):
        fill(t, *args)
    np.testing.assert_array_equal(t.detach().numpy(), np.ones((2, 2)))


def test_init_refuses_an_array():
    with pytest.raises(TypeError, match=re.escape("zeros_: expected a Tensor (a parameter) to "
                                                  "fill. Received: tensor=array([1., 1.])")):
        nn.init.zeros_(np.ones(2))


def test_init_counts_the_change_in_place():
    t = nn.Parameter(np.ones(3, np.float32))
    y = (t * t).sum()
    nn.init.zeros_(t)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


# --- a list given to a layer -----------------------------------------------------------------
@pytest.mark.parametrize("layer", [nn.Linear(2, 3), nn.ReLU(), nn.Sigmoid(), nn.Tanh(),
                                   nn.LeakyReLU(), nn.Softmax(), nn.LogSoftmax(), nn.Step(),
                                   nn.Softplus(), nn.Flatten(), nn.Dropout(), nn.MSELoss(),
                                   nn.CrossEntropyLoss()])
def test_layer_given_a_list_raises_a_type_error_naming_it(layer):
    name = type(layer).__name__
    with pytest.raises(TypeError, match=re.escape(f"{name}: expected a Tensor as input "
                                                  "(nerve.tensor(...) makes one). "
                                                  "Received: input=[[1.0, 2.0]]")):
        layer([[1.0, 2.0]], np.zeros((1, 2))) if "Loss" in name else layer([[1.0, 2.0]])


def test_sequential_given_a_list_names_its_first_layer():
    with pytest.raises(TypeError, match="^Linear: expected a Tensor as input"):
        mlp()([[1.0, 2.0, 3.0, 4.0]])
    with nerve.no_grad(), pytest.raises(TypeError, match="^Linear: expected a Tensor"):
        mlp()([[1.0, 2.0, 3.0, 4.0]])


def test_layer_error_shortens_a_long_list():
    with pytest.raises(TypeError) as err:
        nn.ReLU()(list(range(10_000)))
    assert len(str(err.value)) < 200


def test_layers_still_take_tensors_and_arrays():
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(mlp()(x).detach().numpy(),
                                  mlp()(nerve.tensor(x)).detach().numpy())


# --- Module.to ----------------------------------------------------------------------------------
def test_module_to_cpu_returns_the_module_unchanged():
    model = mlp()
    before = [p.detach().numpy() for p in model.parameters()]
    assert model.to("cpu") is model and model.cpu() is model
    assert model.to(nerve.device("cpu")) is model and model.to(device="cpu") is model
    assert all(p.detach().numpy() is a for p, a in zip(model.parameters(), before))


@pytest.mark.parametrize("args, kwargs", [
    (("float64",), {}), ((np.float64,), {}), ((nerve.float64,), {}), (("cpu", "float64"), {}),
    ((), {"dtype": nerve.float64}), ((), {"device": "cpu", "dtype": "float64"}),
    ((nerve.zeros(1, dtype="float64"),), {}),
])
def test_module_to_dtype_spellings(args, kwargs):
    model = mlp()
    assert model.to(*args, **kwargs) is model
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}


def test_module_to_converts_gradients_too():
    model = mlp()
    model(nerve.ones(2, 4)).sum().backward()
    model.to(nerve.float64)
    assert all(p.grad.dtype == np.float64 for p in model.parameters())


_NEEDS_NO_GPU = pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                                   reason="CuPy is installed here: no ImportError to check")


@pytest.mark.parametrize("args, kwargs, error, message", [
    pytest.param(("cuda",), {}, ImportError, "Sequential.to: device 'cuda' needs CuPy",
                 marks=_NEEDS_NO_GPU),
    pytest.param((), {"device": "cuda:0"}, ImportError, "device 'cuda' needs CuPy",
                 marks=_NEEDS_NO_GPU),
    (("mps",), {}, TypeError, "Sequential.to: expected a dtype (float32, float64), a device "
                              "('cpu', 'cuda') or a Tensor. Received: dtype='mps'"),
    (("int64",), {}, TypeError, "Sequential.to: expected a floating-point dtype"),
    ((nerve.zeros(1, dtype="int64"),), {}, TypeError, "expected a floating-point dtype"),
    (("float64",), {"dtype": "float32"}, TypeError, "expected one device and one dtype"),
    (("cpu", "cpu"), {}, TypeError, "expected one device and one dtype"),
    (("cpu", "float64", "x"), {}, TypeError, "expected at most a device and a dtype"),
    pytest.param(("float64", "cuda"), {}, ImportError, "needs CuPy", marks=_NEEDS_NO_GPU),
])
def test_module_to_bad_arguments_raise_and_change_nothing(args, kwargs, error, message):
    model = mlp()
    with pytest.raises(error, match=re.escape(message)):
        model.to(*args, **kwargs)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}


@_NEEDS_NO_GPU
def test_module_cuda_raises_clearly():
    with pytest.raises(ImportError, match="pip install cupy-cuda12x"):
        mlp().cuda()


# --- load_state_dict: checked first, then written ----------------------------------------------
@pytest.mark.parametrize("key, value, error, fragment", [
    ("2.bias", np.array([1 + 2j, 0, 0]), TypeError, "2.bias: expected numbers of dtype float32, "
                                                    "received dtype complex128"),
    ("2.bias", ["a", "b", "c"], TypeError, "2.bias: expected numbers of dtype float32"),
    ("2.bias", object(), TypeError, "2.bias: expected numbers"),
    ("2.bias", np.zeros(4), ValueError, "2.bias: expected shape (3,), received (4,)"),
])
def test_load_state_dict_bad_value_changes_nothing(key, value, error, fragment):
    model = mlp()
    before = arrays(model)
    state = {k: np.full_like(v, 7.0) for k, v in before.items()}  # the others are fine
    state[key] = value
    with pytest.raises(error, match=re.escape(fragment)):
        model.load_state_dict(state)
    after = arrays(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_float_into_an_integer_buffer_raises():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("steps", np.array([3], np.int64))

    m = Counter()
    with pytest.raises(TypeError, match=re.escape("steps: expected integers (dtype int64), "
                                                  "received dtype float64")):
        m.load_state_dict({"steps": np.array([2.5])})
    m.load_state_dict({"steps": np.array([5])})
    assert m.steps.tolist() == [5]


def test_load_state_dict_takes_tensors_and_their_data():
    src, dst = mlp(), mlp()
    for p in src.parameters():
        nn.init.normal_(p)
    dst.load_state_dict({n: p.data for n, p in src.named_parameters()})
    dst.load_state_dict(dict(src.named_parameters()))  # parameters that require grad
    for (_, a), (_, b) in zip(src.named_parameters(), dst.named_parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_counts_the_change_in_place():
    model = mlp()
    w = model[0].weight
    y = (w * w).sum()
    model.load_state_dict({k: v + 1 for k, v in model.state_dict().items()})
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_load_state_dict_strict_must_be_a_bool():
    with pytest.raises(TypeError, match="Received: strict='no'"):
        mlp().load_state_dict({}, strict="no")


# --- summary -------------------------------------------------------------------------------------
def test_summary_shows_the_batch_dimension_as_minus_one_like_torchsummary():
    lines = []
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    info = nn.summary(model, 784, print_fn=lines.append)
    assert [row[2] for row in info["layers"]] == [(-1, 256), (-1, 256), (-1, 10)]
    assert "(-1, 256)" in "\n".join(lines)
    info = nn.summary(model, (784,), print_fn=lines.append, batch_size=16)
    assert [row[2] for row in info["layers"]] == [(16, 256), (16, 256), (16, 10)]


def test_summary_keeps_a_dimension_of_size_one():
    info = nn.summary(nn.Sequential(nn.Linear(3, 1)), 3, print_fn=lambda *a: None)
    assert info["layers"][0][2] == (-1, 1)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"input_shape": "784"}, TypeError, "summary: expected the shape of one sample"),
    ({"input_shape": (0, 4)}, TypeError, "Received: input_shape=(0, 4)"),
    ({"input_shape": 4, "batch_size": 0}, ValueError, "Received: batch_size=0"),
    ({"input_shape": 4, "batch_size": -2}, ValueError, "Received: batch_size=-2"),
])
def test_summary_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.summary(mlp(), print_fn=lambda *a: None, **kwargs)


# --- nn.utils ------------------------------------------------------------------------------------
def test_clip_grad_norm_is_reachable_from_nerve_nn_and_returns_a_tensor_as_torch():
    torch = pytest.importorskip("torch")
    model = mlp()
    model(nerve.ones(2, 4)).sum().backward()
    total = nerve.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    ref_model = torch.nn.Linear(2, 2)
    ref_model(torch.ones(1, 2)).sum().backward()
    ref = torch.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.1)
    assert isinstance(total, nerve.Tensor) and isinstance(ref, torch.Tensor)
    assert total.shape == tuple(ref.shape) == () and total.dtype == np.float32
    assert not total.requires_grad and total.item() > 0.1


def test_clip_grad_norm_without_gradients_returns_a_zero_tensor():
    total = nerve.nn.utils.clip_grad_norm_(mlp().parameters(), 1.0)
    assert isinstance(total, nerve.Tensor) and total.item() == 0.0 and total.shape == ()
