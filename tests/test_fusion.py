"""A Sequential's ReLU followed by max pooling runs as one node (the maximum of relu(x) is relu
of the maximum, so the ReLU never makes a pass over the larger input): the same outputs and
gradients as the two layers one after the other, bit for bit, with the compiled kernel and
with NumPy's passes, and never where a user could tell the difference (hooks, an in-place
ReLU, a forward of one's own)."""

import numpy as np
import pytest

import nerve
from nerve import jit, nn
from nerve.ops.fused import pool

POOLS = [dict(kernel_size=2), dict(kernel_size=3, padding=1), dict(kernel_size=(2, 3)),
         dict(kernel_size=2, dilation=2, stride=4),
         dict(kernel_size=3, stride=2)]  # the last: windows overlap, so NumPy's passes


def _run(layers, x, fused: bool):
    """Output and input gradient through ``layers``: as one Sequential (fused) or layer by
    layer (the reference: each module called on its own)."""
    leaf = nerve.tensor(x, dtype=x.dtype, requires_grad=True)
    if fused:
        y = nn.Sequential(*layers)(leaf)
    else:
        y = leaf
        for m in layers:
            y = m(y)
    weights = nerve.tensor(np.random.default_rng(2).normal(size=y.shape), dtype=x.dtype)
    (y * weights).sum().backward()
    return y, leaf.grad.numpy()


def _same(a, b):
    """Equal bit for bit, NaN where NaN, -0 and +0 counted as one (the kernel gives PyTorch's
    +0 where NumPy's product of a gradient and a mask gives -0)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    a, b = np.where(np.isnan(a), 0, a) + 0.0, np.where(np.isnan(b), 0, b) + 0.0
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def _inputs(dtype, shape=(3, 4, 9, 11)):
    """Small integers (ties inside windows, and windows of zeros and negatives only), laid out
    channels-last as a convolution's output is (the kernel's layout)."""
    x = np.random.default_rng(0).integers(-3, 3, size=shape).astype(dtype)
    x[0, 0, ..., :3] = -1  # windows with no positive value: no gradient through them
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, 3, 1, 2) if x.ndim == 4 \
        else x


@pytest.mark.parametrize("on", [True, False], ids=["kernel", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", POOLS, ids=str)
def test_relu_then_max_pool_in_a_sequential_gives_the_two_layers_bits(monkeypatch, kwargs,
                                                                      dtype, on):
    monkeypatch.setattr(jit, "MIN_SIZE", 0)
    jit.enable(on)
    try:
        x = _inputs(dtype)
        layers = [nn.ReLU(), nn.MaxPool2d(**kwargs)]
        y, gx = _run(layers, x, fused=True)
        assert y.grad_fn.options.get("relu") is True  # one node: the ReLU's was taken in
        y0, gx0 = _run(layers, x, fused=False)
        assert y0.grad_fn.options.get("relu") is None
    finally:
        jit._state["on"] = None
    _same(y.detach().numpy(), y0.detach().numpy())
    _same(gx, gx0)
    assert y.dtype == y0.dtype and gx.dtype == x.dtype
    assert np.all(gx[0, 0, :, :2] == 0)  # the all-negative columns


@pytest.mark.parametrize("odd", [np.nan, -np.inf, np.inf])
def test_fused_relu_pool_keeps_the_layers_rules_for_nan_and_infinities(monkeypatch, odd):
    """NaN and -inf leave the kernel (NumPy's passes, the ReLU applied first): a NaN passes
    the ReLU and is the window's maximum, -inf becomes 0."""
    monkeypatch.setattr(jit, "MIN_SIZE", 0)
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype("float32")
    x[1, 2, 3, 1] = odd
    x[0, 1, :2, :2] = -np.inf
    layers = [nn.ReLU(), nn.MaxPool2d(2)]
    y, gx = _run(layers, x, fused=True)
    y0, gx0 = _run(layers, x, fused=False)
    _same(y.detach().numpy(), y0.detach().numpy())
    _same(gx, gx0)
    assert np.isnan(y.detach().numpy()).any() == (odd != odd)


def test_fused_relu_pool_in_1d_and_a_cnn_against_the_layers():
    x = _inputs("float32", (2, 3, 13))
    y, gx = _run([nn.ReLU(), nn.MaxPool1d(2)], x, fused=True)
    y0, gx0 = _run([nn.ReLU(), nn.MaxPool1d(2)], x, fused=False)
    assert y.grad_fn.options.get("relu") is True
    _same(y.detach().numpy(), y0.detach().numpy())
    _same(gx, gx0)
    nerve.manual_seed(0)
    cnn = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
           nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(24, 3)]
    x = np.random.default_rng(1).normal(size=(5, 1, 12, 12)).astype("float32")
    (y, gx), (y0, gx0) = _run(cnn, x, fused=True), _run(cnn, x, fused=False)
    _same(y.detach().numpy(), y0.detach().numpy())
    _same(gx, gx0)


def test_fused_relu_pool_against_finite_differences():
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten()).to(dtype="float64")
    x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 2, 6, 6)), dtype="float64",
                     requires_grad=True)
    pooled = model(x).grad_fn.inputs[0]  # the Flatten's input
    assert pooled.grad_fn.options.get("relu") is True
    assert pooled.grad_fn.inputs[0].grad_fn.name().startswith("Conv")  # no ReLU node between
    assert nerve.gradcheck(model, (x,))


def test_no_fusion_where_a_user_could_tell():
    """A hook on either layer (it sees the ReLU's output), a global hook, an in-place ReLU,
    a forward of one's own on the instance or in a subclass: the layers run one by one."""
    x = nerve.tensor(_inputs("float32"), requires_grad=True)

    def fused(model):
        return model(x).grad_fn.options.get("relu") is True

    assert fused(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)))
    seen = []
    relu = nn.ReLU()
    relu.register_forward_hook(lambda m, a, out: seen.append(out.detach().numpy().min()))
    assert not fused(nn.Sequential(relu, nn.MaxPool2d(2)))
    assert seen == [0.0]  # the hook saw the ReLU's output
    hooked = nn.MaxPool2d(2)
    hooked.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().numpy().min()))
    assert not fused(nn.Sequential(nn.ReLU(), hooked))
    assert seen[-1] == 0.0
    handle = nn.register_module_forward_hook(lambda m, a, out: None)
    try:
        assert not fused(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)))
    finally:
        handle.remove()
    inplace = nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2))
    assert inplace(x * 1).grad_fn.options.get("relu") is None

    class Pool(nn.MaxPool2d):
        def forward(self, x):
            return super().forward(x) * 2

    class Relu(nn.ReLU):
        pass

    model = nn.Sequential(nn.ReLU(), Pool(2))
    assert not fused(model)
    np.testing.assert_array_equal(model(x).detach().numpy(),
                                  2 * nn.MaxPool2d(2)(x.relu()).detach().numpy())
    assert not fused(nn.Sequential(Relu(), nn.MaxPool2d(2)))
    own = nn.MaxPool2d(2)
    own.forward = lambda t: nn.functional.max_pool2d(t, 2) + 1
    assert not fused(nn.Sequential(nn.ReLU(), own))
    np.testing.assert_array_equal(nn.Sequential(nn.ReLU(), own)(x).detach().numpy(),
                                  nn.MaxPool2d(2)(x.relu()).detach().numpy() + 1)


def test_a_relu_before_other_layers_or_last_is_applied():
    x = nerve.tensor(np.random.default_rng(0).normal(size=(4, 5)).astype("float32"))
    nerve.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.Linear(5, 3), nn.Tanh(), nn.ReLU())
    y = model(x)
    assert y.grad_fn.name().startswith("ReLU")
    w, b = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
    np.testing.assert_array_equal(
        y.detach().numpy(), np.maximum(np.tanh(np.maximum(x.numpy(), 0) @ w.T + b), 0))


# --- a Linear then a ReLU ----------------------------------------------------------------------
def _mlp_run(layers, x, fused):
    params = [p for m in layers for p in m.parameters()]
    for p in params:
        p.grad = None
    y, gx = _run(layers, x, fused)
    return [y.detach().numpy(), gx] + [p.grad.numpy() for p in params]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5), (1, 5)], ids=str)
def test_linear_then_relu_in_a_sequential_gives_the_two_layers_bits(dtype, shape):
    nerve.manual_seed(0)
    layers = [nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(),
              nn.Linear(8, 2)]
    for m in layers:
        m.to(dtype=dtype)
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    x[0, ..., :] = -np.abs(x[0, ..., :])  # rows whose pre-activations are mostly negative
    nodes = nn.Sequential(*layers)(nerve.tensor(x, dtype=dtype)).grad_fn.inputs[0].grad_fn
    assert nodes.options.get("relu") is True  # the second Linear took its ReLU in
    for a, b in zip(_mlp_run(layers, x, fused=True), _mlp_run(layers, x, fused=False)):
        _same(a, b)


def test_linear_relu_output_changed_in_place_is_caught_as_the_relu_output_is():
    """The fused node keeps its output for the ReLU's backward, as the ReLU did: an in-place
    change to it before backward is refused, not used."""
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    y = model(nerve.tensor(np.ones((2, 3), "float32")))
    assert y.grad_fn.options.get("relu") is True
    y.mul_(2)
    with pytest.raises(RuntimeError, match="in place|inplace|version"):
        y.sum().backward()


def test_no_linear_relu_fusion_where_a_user_could_tell():
    x = nerve.tensor(np.random.default_rng(0).normal(size=(3, 4)).astype("float32"))

    def fused(model):
        return model(x).grad_fn.options.get("relu") is True

    assert fused(nn.Sequential(nn.Linear(4, 2), nn.ReLU()))
    seen = []
    linear = nn.Linear(4, 2)
    linear.register_forward_hook(lambda m, a, out: seen.append(out.detach().numpy().min()))
    assert not fused(nn.Sequential(linear, nn.ReLU()))
    assert seen and seen[0] < 0  # the hook saw the Linear's own output, before the ReLU
    assert not fused(nn.Sequential(nn.Linear(4, 2), nn.ReLU(inplace=True)))

    class Scaled(nn.Linear):
        def forward(self, t):
            return super().forward(t) * 3

    nerve.manual_seed(0)
    scaled = Scaled(4, 2)
    assert not fused(nn.Sequential(scaled, nn.ReLU()))
    np.testing.assert_allclose(nn.Sequential(scaled, nn.ReLU())(x).detach().numpy(),
                               np.maximum(3 * nn.Linear.forward(scaled, x).detach().numpy(), 0))


def test_onnx_export_of_the_fused_node_keeps_the_relu(tmp_path):
    """Export traces module by module (its global hooks turn the fusion off); a fused node
    reached another way still becomes Relu then MaxPool."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    class Fused(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool._after_relu(x)

    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype("float32")
    path = tmp_path / "fused.onnx"
    nerve.onnx.export(Fused(), path, nerve.tensor(x))
    import onnx
    assert [n.op_type for n in onnx.load(path).graph.node][:2] == ["Relu", "MaxPool"]
    out = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    np.testing.assert_array_equal(out, pool.MaxPoolFunction.compute(
        np.maximum(x, 0), kernel=(2, 2), stride=(2, 2), dilation=(1, 1), pads=(0, 0, 0, 0),
        out=(3, 3)))


@pytest.mark.parametrize("kwargs", POOLS, ids=str)
def test_inference_pools_before_the_relu_with_the_same_values(kwargs):
    """Under no_grad, Sequential's array chain pools first and applies the ReLU in place on the
    smaller output: the same values as the layers one by one, the caller's input untouched."""
    x = _inputs("float32")
    before = x.copy()
    layers = [nn.ReLU(), nn.MaxPool2d(**kwargs), nn.ReLU(), nn.MaxPool2d(1), nn.Flatten(),
              nn.ReLU()]
    with nerve.no_grad():
        y = nn.Sequential(*layers)(nerve.tensor(x)).numpy()
        y0 = nerve.tensor(x)
        for m in layers:
            y0 = m(y0)
    np.testing.assert_array_equal(y, y0.numpy())
    np.testing.assert_array_equal(x, before)
    assert y.min() == 0 and y.max() > 0


def test_inference_chain_that_stops_after_the_pooling_still_applies_the_relu():
    """A layer without an array path after the pooling ends the chain; the ReLU held back
    has been applied before it, and an integer input is refused as the layer refuses it."""

    class Double(nn.Module):
        def forward(self, t):
            return t * 2

    x = _inputs("float32")
    with nerve.no_grad():
        y = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), Double(), nn.ReLU())(nerve.tensor(x))
    expected = 2 * np.maximum(x[..., :8, :10], 0).reshape(3, 4, 4, 2, 5, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(y.numpy(), expected)
    with nerve.no_grad(), pytest.raises(TypeError, match="MaxPool2d"):
        nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(nerve.tensor(x.astype("int64")))


def test_onnx_export_of_a_fused_linear_keeps_the_relu(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")

    class Fused(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc._then_relu(x)

    model = Fused()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    path = tmp_path / "fused_linear.onnx"
    nerve.onnx.export(model, path, nerve.tensor(x))
    assert [n.op_type for n in onnx.load(path).graph.node][:2] == ["Gemm", "Relu"]
    out = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    with nerve.no_grad():
        expected = np.maximum(model.fc(nerve.tensor(x)).numpy(), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert out.min() == 0


def test_the_relus_input_changed_in_place_after_the_fused_node_is_not_needed_by_it():
    """The two layers keep relu(x), not x: changing x in place before backward (another
    branch's in-place ReLU) is allowed, and the fused node keeps nothing of x either."""
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype("float32")

    def run(fused):
        leaf = nerve.tensor(x, requires_grad=True)
        h = leaf * 1
        layers = [nn.ReLU(), nn.MaxPool2d(2)]
        y = nn.Sequential(*layers)(h) if fused else layers[1](layers[0](h))
        h.mul_(2)
        y.sum().backward()
        return leaf.grad.numpy()

    _same(run(True), run(False))


def test_no_reordering_where_a_window_covers_only_padding():
    """MaxPool1d(2, stride=1, padding=1, dilation=3) on 2 values: a window holds padding
    alone, whose maximum is -inf; pooling before the ReLU would make it 0."""
    layers = [nn.ReLU(), nn.MaxPool1d(2, stride=1, padding=1, dilation=3)]
    x = nerve.tensor(np.array([[[1.0, 2.0]]], "float32"))
    with nerve.no_grad():
        y = nn.Sequential(*layers)(x).numpy()
        y0 = layers[1](layers[0](x)).numpy()
    np.testing.assert_array_equal(y, y0)
    assert np.isneginf(y).any()


def test_no_fusion_past_a_call_of_ones_own_or_a_forward_patched_on_the_class(monkeypatch):
    x = nerve.tensor(-np.ones((1, 1, 4, 4), "float32"))

    class Counted(nn.MaxPool2d):
        calls = 0

        def __call__(self, *args):
            Counted.calls += 1
            return super().__call__(*args)

    for grad in (True, False):
        with nerve.enable_grad() if grad else nerve.no_grad():
            nn.Sequential(nn.ReLU(), Counted(2))(x)
    assert Counted.calls == 2
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, t: t * 0 + 1)
    for grad in (True, False):
        with nerve.enable_grad() if grad else nerve.no_grad():
            y = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))(x)
        assert np.all(y.detach().numpy() == 1)  # the patched ReLU ran


def test_a_profiler_patching_module_call_sees_every_layer(monkeypatch):
    """A profiler that wraps Module.__call__ itself must see the fused pairs' layers too."""
    seen, real = [], nn.Module.__call__

    def counting(self, *args, **kwargs):
        seen.append(type(self).__name__)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "__call__", counting)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model(nerve.ones(2, 4, requires_grad=True))
    assert seen == ["Sequential", "Linear", "ReLU", "Linear"]


def test_a_global_hook_registered_during_the_forward_sees_the_layers_after_it():
    seen, handles = [], []

    def first(module, args, out):  # the first layer's hook registers a hook for every module
        handles.append(nn.register_module_forward_hook(
            lambda m, a, o: seen.append(type(m).__name__)))

    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 3), nn.ReLU())
    model[0].register_forward_hook(first)
    try:
        model(nerve.ones(2, 4, requires_grad=True))
    finally:
        for h in handles:
            h.remove()
    assert seen[:2] == ["Linear", "ReLU"]


def test_a_global_hook_registered_during_inference_sees_the_layers_in_their_order():
    """Under no_grad the pooling goes before the ReLU that precedes it; a hook for every
    module that arrives during the pass must still see the ReLU first."""
    seen, handles = [], []

    def first(module, args, out):
        handles.append(nn.register_module_forward_hook(
            lambda m, a, o: seen.append(type(m).__name__)))

    model = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (1, 6)), nn.ReLU(), nn.MaxPool1d(2))
    model[0].register_forward_hook(first)
    try:
        with nerve.no_grad():
            model(nerve.ones(2, 4))
    finally:
        for h in handles:
            h.remove()
    assert seen[:3] == ["Unflatten", "ReLU", "MaxPool1d"]
