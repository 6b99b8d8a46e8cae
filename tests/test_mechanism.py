"""The mechanisms that the next layers, the explainer and the exporter build on: operations
registered on one screen, nodes that read unambiguously and keep their options, the graph freed
explicitly, backward observed node by node, the array module taken from the inputs, module
hooks, register_parameter and the inference path of Sequential."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import numpy as np
import pytest

import nerve
from nerve import backend, nn, ops
from nerve.autograd import observe_backward
from nerve.function import Function
from nerve.ops._common import PUBLIC


def _functions():
    """Every Function class defined by the operation modules (every module of nerve.ops)."""
    seen = []
    for info in pkgutil.walk_packages(ops.__path__, "nerve.ops."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, Function) and obj.__module__ ==
                    module.__name__ and not obj.__name__.startswith("_")):
                seen.append(obj)
    return seen


FUNCTIONS = _functions()


# --- one screen per operation ------------------------------------------------------------
def test_every_public_operation_is_a_nerve_function():
    assert len(PUBLIC) >= 40
    for name, fn in PUBLIC.items():
        assert getattr(nerve, name) is fn, name
        assert fn.__doc__, f"{name} has no docstring"


@pytest.mark.parametrize("method", ["exp", "sum", "relu", "reshape", "view", "clamp", "abs",
                                    "__abs__", "__add__", "__radd__", "__truediv__",
                                    "__rmatmul__", "__getitem__", "__lt__", "argmax"])
def test_operations_are_tensor_methods(method):
    assert callable(getattr(nerve.Tensor, method))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_every_function_states_its_formula(fn):
    doc = inspect.getdoc(fn)
    assert doc and "y =" in doc.splitlines()[0] + doc, f"{fn.__name__}: no formula"
    if fn.differentiable:
        assert ";" in doc and "d" in doc.split(";", 1)[1], f"{fn.__name__}: no derivative"
    else:
        assert "not differentiable" in doc


def test_no_function_shares_a_name_with_a_layer():
    layers = {name for name in dir(nn) if inspect.isclass(getattr(nn, name))}
    assert not layers & {f.__name__ for f in FUNCTIONS}
    assert all(f.__name__.endswith("Function") for f in FUNCTIONS)


# --- nodes: names, options, release --------------------------------------------------------
def test_grad_fn_reads_like_pytorch():
    x = nerve.tensor([0.5, -1.0], requires_grad=True)
    y = nerve.sigmoid(x)
    assert y.grad_fn.name() == "SigmoidBackward"
    assert repr(y.grad_fn) == "<SigmoidBackward>"
    assert "grad_fn=<SigmoidBackward>" in repr(y)
    assert nn.Sigmoid()(x).grad_fn.name() == "SigmoidBackward"  # the layer and the op agree


def test_a_user_function_is_named_like_pytorch_names_it():
    class Cube(Function):
        "y = x^3;  dy/dx = 3 x^2"

        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    y = Cube.apply(nerve.tensor([2.0], requires_grad=True))
    assert y.grad_fn.name() == "CubeBackward"


@pytest.mark.parametrize("make, options", [
    (lambda x: nerve.step(x, 0.25), {"threshold": 0.25}),
    (lambda x: x.reshape(3, 2), {"shape": (3, 2)}),
    (lambda x: nerve.pad(x, ((1, 0), (0, 2))), {"pad_width": ((1, 0), (0, 2)), "value": 0.0}),
    (lambda x: nerve.leaky_relu(x, 0.2), {"negative_slope": 0.2}),
    (lambda x: x.sum(axis=1, keepdims=True), {"axis": 1, "keepdims": True}),
    (lambda x: nerve.softmax(x, dim=0), {"axis": 0}),
    (lambda x: x.permute(1, 0), {"dims": (1, 0)}),
    (lambda x: nerve.clip(x, -0.5, 0.5), {"min": -0.5, "max": 0.5}),
])
def test_nodes_keep_their_options_under_fixed_names(make, options):
    y = make(nerve.randn(2, 3, requires_grad=True))
    assert dict(y.grad_fn.options) == options


def test_backward_releases_what_the_graph_holds_but_keeps_the_options():
    x = nerve.randn(4, requires_grad=True)
    y = nerve.leaky_relu(x * 2.0, 0.1).sum()
    nodes = [y.grad_fn, y.grad_fn.inputs[0].grad_fn]
    assert nodes[1].saved_tensors  # the mask leaky_relu's backward needs
    y.backward()
    for node in nodes:
        assert node.inputs is None and node.saved_tensors is None
    assert nodes[1].options == {"negative_slope": 0.1}
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_keeps_the_saved_arrays():
    x = nerve.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.clone()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), (2 * first).numpy())


# --- non-differentiable operations are enforced ------------------------------------------
def test_non_differentiable_operations_never_record():
    x = nerve.randn(3, 4, requires_grad=True)
    for out in (x.argmax(axis=1), nerve.argmin(x), x > 0, x == x):
        assert not out.requires_grad and out.grad_fn is None


def test_a_user_function_declared_non_differentiable_is_not_recorded():
    class Sign(Function):
        "y = sign(x) (not differentiable)"

        differentiable = False

        def forward(ctx, x):
            return np.sign(x)

    y = Sign.apply(nerve.randn(3, requires_grad=True))
    assert not y.requires_grad and y.grad_fn is None


# --- backward observed node by node ------------------------------------------------------
def test_observe_backward_sees_every_node_from_the_loss_to_the_leaves():
    w = nerve.tensor([[0.5, -1.0]], requires_grad=True)
    x = nerve.tensor([[1.0, 2.0]])
    seen = []
    loss = nerve.sigmoid(x @ w.T).sum()
    with observe_backward(lambda node, gout, gin: seen.append((node.name(), gout, gin))):
        loss.backward()
    assert [name for name, _, _ in seen] == ["SumBackward", "SigmoidBackward", "MatMulBackward",
                                             "PermuteBackward"]
    _, gout, gin = seen[1]
    s = 1 / (1 + np.exp(1.5))  # sigmoid(0.5 - 2)
    np.testing.assert_allclose(gout[0], [[1.0]])
    np.testing.assert_allclose(gin[0], [[s * (1 - s)]], rtol=1e-6)
    np.testing.assert_allclose(seen[-1][2][0], w.grad)  # what reaches the leaf
    loss2 = nerve.sigmoid(x @ w.T).sum()
    loss2.backward()  # outside the block: nothing more is observed
    assert len(seen) == 4


def test_observe_backward_needs_a_callable():
    with pytest.raises(TypeError, match="callable"), observe_backward(3):
        pass


# --- the array module comes from the inputs ----------------------------------------------
class _SpyArray(np.ndarray):
    """An array type of a pretend device: it computes with NumPy, through a spy module."""


def _spy_module(calls):
    def wrap(name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def counted(*args, **kwargs):
            calls.append(name)
            return attr(*args, **kwargs)

        return counted

    return types.SimpleNamespace(**{name: wrap(name) for name in dir(np)
                                    if not name.startswith("_")})


def test_operations_take_the_array_module_from_their_inputs(monkeypatch):
    calls = []
    monkeypatch.setitem(backend.ARRAY_MODULES, _SpyArray, _spy_module(calls))
    monkeypatch.setattr(backend, "ARRAY_TYPES", (np.ndarray, _SpyArray))
    data = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    x = nerve.Tensor._wrap(data.view(_SpyArray))
    x.requires_grad = True
    out = (nerve.exp(x) + nerve.tanh(x)).log_softmax(axis=1).sum()
    out.backward()
    assert {"exp", "tanh", "log"} <= set(calls)
    expected = nerve.tensor(data, requires_grad=True)
    (nerve.exp(expected) + nerve.tanh(expected)).log_softmax(axis=1).sum().backward()
    # the pretend device's arrays refuse NumPy's conversion, as a GPU's do: compare the memory
    np.testing.assert_allclose(x.grad._data.view(np.ndarray), expected.grad, rtol=1e-6)


def test_array_module_answers_numpy_for_numpy_and_for_nothing():
    assert backend.array_module(np.ones(2)) is np
    assert backend.array_module() is np
    assert backend.array_module(3.0) is np


# --- module hooks ------------------------------------------------------------------------
def _mlp():
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


@pytest.mark.parametrize("grad", [True, False])
def test_forward_hooks_see_and_replace(grad):
    model = _mlp()
    seen = []
    pre = model[0].register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = model[2].register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    x = nerve.randn(3, 4)
    with nerve.enable_grad() if grad else nerve.no_grad():
        out = model(x)
    zero_in = model[2](model[1](model[0].bias.reshape(1, 8) * nerve.ones(3, 1)))
    np.testing.assert_allclose(out.data, zero_in.data, rtol=1e-6)
    assert seen == [(3, 8), (3, 8)]  # once inside model(x), once in the check above
    pre.remove()
    post.remove()
    assert not model[0]._hooked and not model[2]._hooked
    np.testing.assert_allclose(model(x).data, _mlp()(x).data)


def test_forward_hook_result_replaces_the_output_and_a_handle_is_a_context():
    layer = nn.ReLU()
    with layer.register_forward_hook(lambda m, args, out: out + 1):
        assert layer(nerve.zeros(2)).tolist() == [1.0, 1.0]
    assert layer(nerve.zeros(2)).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("grad", [True, False])
def test_global_hooks_see_every_module(grad):
    model = _mlp()
    names = []
    handle = nn.register_module_forward_hook(lambda m, args, out: names.append(type(m).__name__))
    try:
        with nerve.enable_grad() if grad else nerve.no_grad():
            model(nerve.randn(2, 4))
    finally:
        handle.remove()
    assert names == ["Linear", "ReLU", "Linear", "Sequential"]
    model(nerve.randn(2, 4))
    assert len(names) == 4


def test_hooks_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        nn.ReLU().register_forward_hook("not a function")


def test_summary_watches_with_hooks_and_leaves_none():
    model = _mlp()
    info = nn.summary(model, 4, print_fn=lambda *a: None)
    assert [row[2] for row in info["layers"]] == [(-1, 8), (-1, 8), (-1, 2)]
    assert all(not m._forward_hooks and not m._hooked for m in model.modules())


# --- parameters and buffers ---------------------------------------------------------------
class _Affine(nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(np.ones(3))
        if bias:
            self.bias = nn.Parameter(np.zeros(3))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("count", np.zeros(()))
        self.register_buffer("cache", np.zeros(3), persistent=False)


def test_register_parameter_none_is_an_empty_slot():
    m = _Affine(bias=False)
    assert m.bias is None and "bias" in m._parameters
    assert list(m.state_dict()) == ["weight", "count"]
    m.bias = nn.Parameter(np.ones(3))  # filling the slot registers it
    assert list(m.state_dict()) == ["weight", "bias", "count"]
    with pytest.raises(TypeError, match="Parameter or None"):
        m.bias = nerve.ones(3)


def test_no_name_is_special():
    m = nn.Module()
    m.weight = None  # not a parameter slot: no rule for the names weight and bias any more
    assert "weight" not in m._parameters and m.weight is None
    m.register_parameter("scale", nn.Parameter(np.ones(2)))
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("training", None)
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("w", nerve.ones(2))


def test_non_persistent_buffers_are_not_saved_but_move_with_the_module():
    m = _Affine(bias=True).double()
    assert "cache" not in m.state_dict() and m.cache.dtype == np.float64
    assert [n for n, _ in m.named_buffers()] == ["count", "cache"]


# --- the inference path of Sequential ------------------------------------------------------
def test_sequential_inference_path_equals_the_graph_path():
    nerve.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(16, 8), nn.Sigmoid(), nn.Softplus(), nn.Linear(8, 8),
                          nn.Tanh(), nn.Identity(), nn.Linear(8, 3)).eval()
    x = nerve.randn(5, 3, 4)
    graph = model(x)  # grad enabled: the Tensor path, op by op
    with nerve.no_grad():
        fast = model(x)
    np.testing.assert_array_equal(fast.data, graph.data)
    assert not fast.requires_grad and graph.requires_grad


def test_sequential_inference_path_keeps_dropout_while_training():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    nerve.manual_seed(3)
    with nerve.no_grad():
        out = model(nerve.ones(64, 4)).data
    assert (out == 0).mean() > 0.3  # dropout acts in training mode, as in PyTorch


def test_sequential_inference_path_checks_shapes():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\), received \(2, 5\)"):
        with nerve.no_grad():
            _mlp()(nerve.zeros(2, 5))


def test_a_subclass_with_its_own_forward_loses_the_inherited_array_path():
    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    nerve.manual_seed(0)
    layer = Doubled(3, 2)
    model = nn.Sequential(layer)
    x = nerve.randn(4, 3)
    with nerve.no_grad():
        expected = 2 * nerve.linear(x, layer.weight, layer.bias).data
        np.testing.assert_allclose(model(x).data, expected)
    assert Doubled._forward_array is None and nn.Linear._forward_array is not None
