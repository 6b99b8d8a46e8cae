"""The remaining activations (Hardswish, Hardsigmoid, Softmin, Softmax2d, GLU, Threshold,
Softshrink, Hardshrink, Tanhshrink, RReLU), the padding layers (Zero/Constant/Reflection/
Replication/CircularPad 1d/2d/3d) and the dropout variants (Dropout1d, Dropout3d, AlphaDropout,
FeatureAlphaDropout), with their functional forms: values and gradients against PyTorch (float64
and float32, exactly at the kinks too), finite differences, in-place behaviour (the input's
memory and version counter), the statistics of the random ones, train/eval, save/load, and the
errors for bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.autograd import Tensor
from nerve.nn import functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rand(shape, seed=0, dtype=np.float64, scale=2.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def close(got, expected, what, dtype=np.float64, tol=None):
    got = got._data if isinstance(got, Tensor) else np.asarray(got)
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {np.dtype(dtype)}"
    if tol is None:
        tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)


def both(torch, fn_ours, fn_torch, x, dtype, what, seed=1, strided=False):
    """Forward and backward of both on the same values and upstream gradient; compare the
    outputs and the input gradients. ``strided``: the input is every other element of a
    larger leaf along the last dimension (not contiguous). PyTorch's hardsigmoid backward
    multiplies by 1.0f / 6.0f, a float32 constant, in float64 too (3e-8 from 1/6): ours
    multiplies by 1/6 (gradcheck below), so its float64 gradient is compared to 1e-7."""
    if strided:
        x = np.repeat(x, 2, axis=-1)
    xo = Tensor(x, dtype=x.dtype, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    xo_in, xt_in = (xo[..., ::2], xt[..., ::2]) if strided else (xo, xt)
    yo, yt = fn_ours(xo_in), fn_torch(xt_in)
    close(yo, yt, f"{what}: output", dtype)
    g = rand(tuple(yt.shape), seed=seed, dtype=dtype)
    yo.backward(Tensor(g, dtype=g.dtype))
    yt.backward(torch.tensor(g))
    coarse = "ardsigmoid" in what and dtype == np.float64
    close(xo.grad, xt.grad, f"{what}: input gradient", dtype, 1e-7 if coarse else None)


# --- activations -----------------------------------------------------------------------------
# (name, f(F, x) written the same for both libraries, the kinks placed in the input)
FUNCTIONAL = [
    ("hardswish", lambda F, x: F.hardswish(x), [-3.0, 3.0, 0.0]),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x), [-3.0, 3.0]),
    ("softshrink", lambda F, x: F.softshrink(x), [-0.5, 0.5, 0.0]),
    ("softshrink", lambda F, x: F.softshrink(x, 1.25), [-1.25, 1.25]),
    ("softshrink", lambda F, x: F.softshrink(x, 0.0), [0.0]),
    ("hardshrink", lambda F, x: F.hardshrink(x), [-0.5, 0.5, 0.0]),
    ("hardshrink", lambda F, x: F.hardshrink(x, lambd=2.0), [-2.0, 2.0]),
    ("hardshrink", lambda F, x: F.hardshrink(x, -1.0), [1.0, -1.0]),
    ("threshold", lambda F, x: F.threshold(x, 0.25, -7.0), [0.25]),
    ("threshold", lambda F, x: F.threshold(x, -1.0, 2.0), [-1.0]),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), [0.0]),
    ("rrelu", lambda F, x: F.rrelu(x), [0.0]),
    ("rrelu", lambda F, x: F.rrelu(x, 0.1, 0.6, False), [0.0]),
    ("softmin", lambda F, x: F.softmin(x, dim=1), []),
    ("softmin", lambda F, x: F.softmin(x, -1), []),
    ("glu", lambda F, x: F.glu(x), []),
    ("glu", lambda F, x: F.glu(x, 1), []),
    ("glu", lambda F, x: F.glu(x, dim=-3), []),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, fn, kinks", FUNCTIONAL)
@pytest.mark.parametrize("strided", [False, True])
def test_functional_matches_torch(torch, record_op, dtype, name, fn, kinks, strided):
    x = rand((4, 6, 8), dtype=dtype)
    x.flat[:len(kinks)] = kinks  # exactly at the kinks: PyTorch's one-sided gradients there
    x.flat[-len(kinks) - 1:-1] = kinks
    both(torch, lambda x: fn(F, x), lambda x: fn(torch.nn.functional, x), x, dtype, name,
         strided=strided)
    record_op("parity", name)


MODULES = [
    ("Hardswish", lambda nn: nn.Hardswish(), [-3.0, 3.0]),
    ("Hardsigmoid", lambda nn: nn.Hardsigmoid(), [-3.0, 3.0]),
    ("Softmin", lambda nn: nn.Softmin(1), []),
    ("Softmax2d", lambda nn: nn.Softmax2d(), []),
    ("GLU", lambda nn: nn.GLU(), []),
    ("GLU", lambda nn: nn.GLU(dim=0), []),
    ("Threshold", lambda nn: nn.Threshold(0.5, 20.0), [0.5]),
    ("Softshrink", lambda nn: nn.Softshrink(), [-0.5, 0.5]),
    ("Softshrink", lambda nn: nn.Softshrink(1.5), [-1.5, 1.5]),
    ("Hardshrink", lambda nn: nn.Hardshrink(), [-0.5, 0.5]),
    ("Hardshrink", lambda nn: nn.Hardshrink(0.75), [-0.75, 0.75]),
    ("Tanhshrink", lambda nn: nn.Tanhshrink(), []),
    ("RReLU", lambda nn: nn.RReLU(0.2, 0.4).eval(), [0.0]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, make, kinks", MODULES)
def test_modules_match_torch(torch, record_op, dtype, name, make, kinks):
    ours, ref = make(nn), make(torch.nn)
    assert repr(ours) == repr(ref)
    for shape in ((2, 4, 6, 8), (4, 6, 8)):  # batched and unbatched for Softmax2d
        x = rand(shape, dtype=dtype, seed=len(shape))
        x.flat[:len(kinks)] = kinks
        both(torch, ours, ref, x, dtype, name)
    record_op("parity", name)


def test_gradients_exactly_at_the_kinks():
    """The one-sided gradients PyTorch gives at each kink, written out."""
    def grad(fn, values):
        x = nerve.tensor(values, dtype=nerve.float64, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.numpy().tolist()

    assert grad(F.hardswish, [-3.0, 3.0, -3.5, 3.5, 0.0]) == [0.0, 1.0, 0.0, 1.0, 0.5]
    assert grad(F.hardsigmoid, [-3.0, 3.0, 0.0]) == [0.0, 0.0, 1 / 6]
    assert grad(F.softshrink, [-0.5, 0.5, 0.6, -0.6]) == [0.0, 0.0, 1.0, 1.0]
    assert grad(F.hardshrink, [-0.5, 0.5, 0.6, -0.6]) == [0.0, 0.0, 1.0, 1.0]
    assert grad(lambda x: F.threshold(x, 1.0, 5.0), [1.0, 1.5, 0.5]) == [0.0, 1.0, 0.0]
    assert grad(F.rrelu, [0.0, 1.0]) == [(1 / 8 + 1 / 3) / 2, 1.0]
    y = F.threshold(nerve.tensor([1.0, 1.5, 0.5]), 1.0, 5.0)
    assert y.numpy().tolist() == [5.0, 1.5, 5.0]


def test_nan_passes_through_as_in_torch(torch):
    x = np.array([np.nan, -np.inf, np.inf, 0.0])
    for name, fn, _ in FUNCTIONAL[:13]:
        got = fn(F, nerve.tensor(x, dtype=nerve.float64)).numpy()
        expected = fn(torch.nn.functional, torch.tensor(x)).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=name)


GRADCHECK = [
    ("hardswish", F.hardswish), ("hardsigmoid", F.hardsigmoid),
    ("softshrink", lambda x: F.softshrink(x, 0.3)), ("hardshrink", F.hardshrink),
    ("threshold", lambda x: F.threshold(x, 0.1, 3.0)), ("tanhshrink", F.tanhshrink),
    ("rrelu", F.rrelu), ("softmin", lambda x: F.softmin(x, 0)), ("glu", lambda x: F.glu(x, 0)),
    ("rrelu", lambda x: (nerve.manual_seed(3), F.rrelu(x, training=True))[1]),
]


@pytest.mark.parametrize("name, fn", GRADCHECK)
def test_gradcheck_away_from_the_kinks(record_op, name, fn):
    x = rand((6, 5), seed=4, scale=3.0)
    for kink in (-3.0, -0.5, -0.3, 0.0, 0.1, 0.3, 0.5, 3.0):  # keep 1e-3 away from each
        near = np.abs(x - kink) < 1e-3
        x[near] += 2e-3
    assert nerve.gradcheck(fn, [Tensor(x, dtype=nerve.float64)])
    record_op("gradcheck", name)


def test_float32_stays_float32_and_empty_inputs(torch):
    x = nerve.zeros(0, 6, 4)
    for name, fn, _ in FUNCTIONAL:
        y = fn(F, x)
        assert y.dtype == nerve.float32, name
        assert y.shape == tuple(fn(torch.nn.functional, torch.zeros(0, 6, 4)).shape), name
    for size_one in (nerve.randn(1, 1, 2), nerve.randn(1, 2, 1)):
        assert F.hardswish(size_one).shape == size_one.shape


# --- in place --------------------------------------------------------------------------------
INPLACE = [
    ("Hardswish", lambda nn, i: nn.Hardswish(inplace=i),
     lambda F, x, i: F.hardswish(x, inplace=i)),
    ("Hardsigmoid", lambda nn, i: nn.Hardsigmoid(inplace=i),
     lambda F, x, i: F.hardsigmoid(x, i)),
    ("Threshold", lambda nn, i: nn.Threshold(0.5, -2.0, inplace=i),
     lambda F, x, i: F.threshold(x, 0.5, -2.0, i)),
    ("RReLU", lambda nn, i: nn.RReLU(0.1, 0.5, inplace=i).eval(),
     lambda F, x, i: F.rrelu(x, 0.1, 0.5, False, i)),
]


@pytest.mark.parametrize("name, module, function", INPLACE)
@pytest.mark.parametrize("form", ["module", "functional"])
def test_inplace_writes_into_the_input_as_torch(torch, record_op, name, module, function, form):
    results = []
    for lib in (nerve, torch):
        x = lib.tensor(np.linspace(-4, 4, 17), dtype=lib.float64, requires_grad=True)
        y = x * 1.0
        before = y._version
        out = module(lib.nn, True)(y) if form == "module" else function(lib.nn.functional, y,
                                                                       True)
        assert out is y, name
        assert y._version > before, f"{name}: the version counter did not move"
        (y * y).sum().backward()
        results.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
    for ours, theirs in zip(*results):  # 1e-7: PyTorch's float32 1/6 (see both())
        np.testing.assert_allclose(ours, theirs, rtol=1e-7 if name == "Hardsigmoid" else 1e-12,
                                   atol=1e-15, err_msg=name)
    # the memory itself changed; not in place by default
    y = nerve.tensor(np.linspace(-4, 4, 17), dtype=nerve.float64)
    memory, copy = y._data, y._data.copy()
    out = module(nn, False)(y)
    assert out is not y and np.array_equal(y._data, copy)
    module(nn, True)(y)
    assert y._data is memory and np.array_equal(memory, out._data)
    record_op("parity", f"{name}(inplace=True)")


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    x = nerve.randn(2, 5, requires_grad=True)
    for fn in (lambda x: F.hardswish(x, inplace=True), lambda x: F.threshold(x, 0, 1, True),
               lambda x: nn.Dropout1d(0.5, inplace=True)(x),
               lambda x: F.alpha_dropout(x, 0.5, True, True),
               lambda x: nn.RReLU(inplace=True)(x)):
        with pytest.raises(RuntimeError, match="leaf"):
            fn(x)
    with nerve.no_grad():
        F.hardsigmoid(x, inplace=True)
    assert float(x.detach().max()) <= 1.0


def test_a_saved_input_changed_in_place_is_refused_by_backward():
    x = nerve.randn(6, requires_grad=True)
    y = x * 1.0
    z = y.exp()  # saves its output... and y's memory is then rewritten
    w = y * y  # saves y
    F.hardswish(y, inplace=True)
    with pytest.raises(RuntimeError):
        (w.sum() + z.sum()).backward()


# --- RReLU's random slopes -------------------------------------------------------------------
def test_rrelu_training_draws_slopes_in_the_bounds():
    x = nerve.tensor(np.linspace(-5, 5, 20001), dtype=nerve.float64, requires_grad=True)
    nerve.manual_seed(0)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    y.sum().backward()
    a, out, g = x.detach().numpy(), y.detach().numpy(), x.grad.numpy()
    neg, pos, zero = a < 0, a > 0, a == 0
    slopes = out[neg] / a[neg]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.003 and slopes.std() > 0.05  # U(0.1, 0.3): sd 0.058
    np.testing.assert_array_equal(out[pos], a[pos])
    np.testing.assert_allclose(g[neg], slopes, rtol=1e-12)  # the gradient is the drawn slope
    assert np.all(g[pos] == 1.0)
    assert zero.sum() == 1 and out[zero] == 0 and 0.1 <= g[zero][0] <= 0.3  # as PyTorch's noise
    nerve.manual_seed(0)
    again = F.rrelu(x.detach(), 0.1, 0.3, training=True)
    np.testing.assert_array_equal(again.numpy(), out)  # nerve's generator, seeded
    assert F.rrelu(nerve.tensor([-1.0, 2.0]), 0.25, 0.25, True).numpy().tolist() == [-0.25, 2.0]


def test_rrelu_module_train_and_eval(torch):
    layer = nn.RReLU(0.1, 0.3)
    x = nerve.tensor(-np.ones(1000), dtype=nerve.float64)
    y = layer(x).numpy()
    assert len(np.unique(y)) > 100  # random slopes while training
    layer.eval()
    np.testing.assert_allclose(layer(x).numpy(), -0.2 * np.ones(1000), rtol=1e-15)
    ref = torch.nn.RReLU(0.1, 0.3).eval()
    np.testing.assert_allclose(layer(x).numpy(), ref(torch.tensor(x.numpy())).numpy())
    layer = nn.RReLU(0.1, 0.3, inplace=True)  # in place while training: the same draws
    nerve.manual_seed(5)
    expected = F.rrelu(x, 0.1, 0.3, True)
    nerve.manual_seed(5)
    z = x.clone()
    assert layer(z) is z
    np.testing.assert_array_equal(z.numpy(), expected.numpy())


# --- padding layers --------------------------------------------------------------------------
PADS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((1, -2),), (3, 5)),
    ("ZeroPad1d", ((0, 3),), (2, 2, 2, 5)),
    ("ZeroPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)), ("ZeroPad2d", (-1,), (3, 4, 4)),
    ("ZeroPad3d", (1,), (1, 2, 3, 4, 5)), ("ZeroPad3d", ((1, 0, -1, 2, 0, 1),), (2, 3, 4, 5)),
    ("ConstantPad1d", (2, 3.5), (2, 3, 5)), ("ConstantPad1d", ((3, -1), -1.5), (3, 5)),
    ("ConstantPad2d", ((1, 0, 2, 1), -1.5), (2, 3, 4, 5)), ("ConstantPad2d", (1, 2), (3, 4, 5)),
    ("ConstantPad3d", (1, 2.0), (1, 2, 3, 4, 5)), ("ConstantPad3d", ((0, 1, 1, 0, 2, 1), 7),
                                                     (2, 3, 4, 5)),
    ("ReflectionPad1d", (2,), (2, 3, 5)), ("ReflectionPad1d", ((3, -1),), (3, 5)),
    ("ReflectionPad2d", ((1, 2, 2, 0),), (2, 3, 4, 5)), ("ReflectionPad2d", (1,), (3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 4, 5)), ("ReflectionPad3d", ((1, 0, 2, 1, 0, 2),),
                                                 (2, 3, 4, 5)),
    ("ReplicationPad1d", (2,), (2, 3, 5)), ("ReplicationPad1d", ((-2, 3),), (3, 5)),
    ("ReplicationPad2d", ((1, 2, 2, 0),), (2, 3, 4, 5)), ("ReplicationPad2d", (3,), (3, 4, 5)),
    ("ReplicationPad3d", (1,), (1, 2, 3, 4, 5)), ("ReplicationPad3d", ((2, 0, 1, 1, 0, 3),),
                                                  (2, 3, 4, 5)),
    ("CircularPad1d", (2,), (2, 3, 5)), ("CircularPad1d", ((0, 5),), (3, 5)),
    ("CircularPad2d", ((1, 2, 2, 0),), (2, 3, 4, 5)), ("CircularPad2d", (1,), (3, 4, 5)),
    ("CircularPad3d", (1,), (1, 2, 3, 4, 5)), ("CircularPad3d", ((2, 0, 1, 1, 0, 3),),
                                               (2, 3, 4, 5)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, args, shape", PADS)
def test_padding_layers_match_torch(torch, record_op, dtype, name, args, shape):
    ours, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(ref) and ours.padding == ref.padding
    x = rand(shape, dtype=dtype, seed=len(shape))
    both(torch, ours, ref, x, dtype, name)
    both(torch, ours, ref, x, dtype, f"{name} (non-contiguous)", strided=True)
    record_op("parity", name)


def test_padding_gradcheck_and_empty_batch(record_op, torch):
    x = Tensor(rand((2, 3, 4, 5)), dtype=nerve.float64)
    for name in ("ReflectionPad2d", "ReplicationPad2d", "CircularPad2d", "ConstantPad2d"):
        layer = getattr(nn, name)(*((1, 2.0) if name == "ConstantPad2d" else (2,)))
        assert nerve.gradcheck(layer, [x])
        record_op("gradcheck", name)
    assert nn.ZeroPad2d(1)(nerve.zeros(0, 3, 4, 4)).shape == (0, 3, 6, 6)
    assert nn.ReplicationPad1d(1)(nerve.zeros(0, 3, 4)).shape == (0, 3, 6)


def test_padding_errors():
    with pytest.raises(ValueError, match=r"a tuple of 4 ints \(left, right, top, bottom\)"):
        nn.ZeroPad2d((1, 2))  # PyTorch would pad one dimension only
    with pytest.raises(TypeError, match="padding"):
        nn.ReflectionPad1d(1.5)
    with pytest.raises(TypeError, match="padding"):
        nn.ConstantPad3d((1, 1, 1, 1, 1, "1"), 0.0)
    with pytest.raises(TypeError, match="value"):
        nn.ConstantPad1d(1, "zero")
    with pytest.raises(ValueError, match="reflect"):
        nn.ReflectionPad1d(5)(nerve.zeros(2, 3, 5))  # widths < the size
    with pytest.raises(ValueError, match="circular"):
        nn.CircularPad1d((-1, 2))(nerve.zeros(2, 3, 5))  # no cropping in circular mode
    with pytest.raises(ValueError, match="input.shape"):
        nn.ReflectionPad2d(1)(nerve.zeros(4, 4))  # 3-D or 4-D
    with pytest.raises(ValueError, match="input.shape"):
        nn.CircularPad1d(1)(nerve.zeros(2, 2, 2, 3))
    with pytest.raises(ValueError, match="pad"):
        nn.ZeroPad2d(1)(nerve.zeros(4))
    with pytest.raises(TypeError, match="Tensor"):
        nn.ZeroPad1d(1)([1.0, 2.0])


# --- dropout variants ------------------------------------------------------------------------
def _channel_constant(y, batched_dims):
    """Each channel of ``y`` (the first ``batched_dims`` dims index the channels) holds a
    single value."""
    flat = y.reshape(int(np.prod(y.shape[:batched_dims])), -1)
    return np.all(flat == flat[:, :1])


@pytest.mark.parametrize("name, shape, channels", [
    ("dropout1d", (100, 60, 3), 2), ("dropout1d", (3000, 4), 1),
    ("dropout3d", (50, 60, 2, 1, 2), 2), ("dropout3d", (3000, 2, 2, 1), 1),
    ("feature_alpha_dropout", (100, 60, 2, 2), 2), ("feature_alpha_dropout", (100, 60), 2)])
def test_channel_dropout_drops_whole_channels(name, shape, channels):
    p = 0.3
    fn = getattr(F, name)
    nerve.manual_seed(0)
    y = fn(nerve.ones(*shape, dtype=nerve.float64), p, True).numpy()
    assert _channel_constant(y, channels)
    kept_value = 1 / (1 - p) if "alpha" not in name else y.max()
    dropped = np.mean(np.abs(y.reshape(-1) - kept_value) > 1e-12)
    assert abs(dropped - p) < 0.02, dropped  # 6,000 draws: sd 0.006
    nerve.manual_seed(0)
    np.testing.assert_array_equal(fn(nerve.ones(*shape, dtype=nerve.float64), p, True).numpy(),
                                  y)


def test_channel_dropout_gradient_is_the_mask():
    x = nerve.tensor(rand((8, 5, 3)), requires_grad=True, dtype=nerve.float64)
    nerve.manual_seed(1)
    y = F.dropout1d(x, 0.5)
    y.backward(nerve.ones(8, 5, 3, dtype=nerve.float64))
    mask = (y.detach().numpy() / x.detach().numpy())
    assert set(np.round(np.unique(mask), 12)) <= {0.0, 2.0}
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-12)
    assert nerve.gradcheck(lambda x: (nerve.manual_seed(2), F.dropout3d(x, 0.4))[1],
                           [Tensor(rand((2, 3, 2, 2, 2)), dtype=nerve.float64)])


def _alpha_constants(p):
    alpha = 1.7580993408473766
    a = 1 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    return a, alpha * a * p, -alpha * a * (1 - p)  # scale, shift of the kept, dropped value


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(torch, record_op, p):
    x = rand((200_000,), seed=3, scale=1.0)  # SELU-normalised: mean 0, variance 1
    nerve.manual_seed(0)
    xo = nerve.tensor(x, requires_grad=True, dtype=nerve.float64)
    y = F.alpha_dropout(xo, p, True)
    out = y.detach().numpy()
    assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.02
    a, shift, dropped_value = _alpha_constants(p)
    dropped = np.abs(out - dropped_value) < 1e-12
    assert abs(dropped.mean() - p) < 0.005
    np.testing.assert_allclose(out[~dropped], a * x[~dropped] + shift, rtol=1e-12, atol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), np.where(dropped, 0.0, a), rtol=1e-12)
    # PyTorch's two values for a zero input, and its statistics
    ref = torch.nn.functional.alpha_dropout(torch.zeros(100_000, dtype=torch.float64), p, True)
    np.testing.assert_allclose(sorted(set(ref.numpy())), [dropped_value, shift], rtol=1e-12)
    ref = torch.nn.functional.alpha_dropout(torch.tensor(x), p, True).numpy()
    assert abs(ref.mean() - out.mean()) < 0.02 and abs(ref.var() - out.var()) < 0.03
    record_op("parity", "alpha_dropout")


def test_feature_alpha_dropout_values_and_gradcheck(record_op):
    x = rand((40, 30, 2, 3), seed=6, scale=1.0)
    nerve.manual_seed(4)
    y = F.feature_alpha_dropout(nerve.tensor(x, dtype=nerve.float64), 0.25, True).numpy()
    a, shift, dropped_value = _alpha_constants(0.25)
    dropped = np.all(np.abs(y - dropped_value) < 1e-12, axis=(2, 3))
    assert 0.2 < dropped.mean() < 0.3
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + shift, rtol=1e-12)
    assert nerve.gradcheck(lambda x: (nerve.manual_seed(2), F.feature_alpha_dropout(x, 0.4,
                                                                                   True))[1],
                           [Tensor(rand((3, 4, 2)), dtype=nerve.float64)])
    assert nerve.gradcheck(lambda x: (nerve.manual_seed(2), F.alpha_dropout(x, 0.4, True))[1],
                           [Tensor(rand((3, 4)), dtype=nerve.float64)])
    record_op("gradcheck", "alpha_dropout")
    record_op("gradcheck", "feature_alpha_dropout")


@pytest.mark.parametrize("name", ["dropout1d", "dropout3d", "alpha_dropout",
                                  "feature_alpha_dropout"])
def test_dropout_edge_cases(torch, name):
    shape = (2, 3, 4) if name == "dropout1d" else (2, 3, 2, 2, 2)
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    x = nerve.tensor(rand(shape), dtype=nerve.float64)
    assert ours(x, 0.5, False) is x  # identity in eval
    assert ours(x, 0.0, True) is x  # p = 0
    if "alpha" in name:
        assert ours(x) is x  # training=False by default, as PyTorch's
    x.numpy()[0, 0, 0] = np.nan
    y = ours(x, 1.0, True)
    expected = theirs(torch.tensor(x.numpy()), 1.0, True).numpy()
    np.testing.assert_array_equal(y.numpy(), expected)  # x * 0: zeros, NaN stays NaN
    empty = nerve.zeros(0, *shape[1:])
    assert ours(empty, 0.5, True).shape == empty.shape
    x = nerve.tensor(rand(shape), requires_grad=True, dtype=nerve.float64)
    ours(x, 1.0, True).sum().backward()
    assert np.all(x.grad.numpy() == 0)


@pytest.mark.parametrize("name", ["dropout1d", "dropout3d", "alpha_dropout",
                                  "feature_alpha_dropout"])
def test_dropout_inplace(name):
    shape = (4, 3, 5) if name == "dropout1d" else (4, 3, 2, 2, 2)
    fn = getattr(F, name)
    base = nerve.tensor(rand(shape), dtype=nerve.float64)
    nerve.manual_seed(7)
    expected = fn(base, 0.4, True).numpy()
    nerve.manual_seed(7)
    x = base.clone()
    memory, before = x._data, x._version
    assert fn(x, 0.4, True, True) is x
    assert x._data is memory and x._version > before
    np.testing.assert_array_equal(memory, expected)
    leaf = nerve.tensor(rand(shape), requires_grad=True, dtype=nerve.float64)  # recorded
    y = leaf * 1.0
    nerve.manual_seed(7)
    fn(y, 0.4, True, True)
    y.sum().backward()
    got = leaf.grad.numpy().copy()
    leaf.grad = None
    nerve.manual_seed(7)
    fn(leaf, 0.4, True).sum().backward()
    np.testing.assert_array_equal(got, leaf.grad.numpy())
    a = _alpha_constants(0.4)[0] if "alpha" in name else 1 / 0.6  # dy/dx where kept
    assert set(np.round(np.unique(got), 9)) == {0.0, round(a, 9)}


DROPOUT_LAYERS = [("Dropout1d", (4, 3, 5)), ("Dropout1d", (3, 5)), ("Dropout3d", (2, 3, 2, 2, 2)),
                  ("Dropout3d", (3, 2, 2, 2)), ("AlphaDropout", (4, 5)),
                  ("FeatureAlphaDropout", (4, 3, 2))]


@pytest.mark.parametrize("name, shape", DROPOUT_LAYERS)
def test_dropout_layers_train_and_eval(torch, name, shape):
    layer, ref = getattr(nn, name)(0.5), getattr(torch.nn, name)(0.5)
    assert repr(layer) == repr(ref)
    assert repr(getattr(nn, name)(0.2, inplace=True)) == repr(getattr(torch.nn, name)(0.2, True))
    x = nerve.tensor(rand(shape), dtype=nerve.float64)
    nerve.manual_seed(0)
    trained = layer(x).numpy()
    assert not np.allclose(trained, x.numpy())
    layer.eval()
    assert np.array_equal(layer(x).numpy(), x.numpy())
    with nerve.no_grad():  # Sequential's array path too
        assert np.array_equal(nn.Sequential(layer)(x).numpy(), x.numpy())
    layer = getattr(nn, name)(0.5, inplace=True)
    nerve.manual_seed(0)
    y = x.clone()
    assert layer(y) is y and np.array_equal(y.numpy(), trained)


def test_dropout_errors():
    x = nerve.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"\(N, C, L\) or \(C, L\)"):
        F.dropout1d(nerve.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"\(N, C, L\) or \(C, L\)"):
        F.dropout1d(nerve.randn(3))
    with pytest.raises(ValueError, match=r"\(N, C, D, H, W\) or \(C, D, H, W\)"):
        F.dropout3d(x)  # PyTorch warns that this will be an error
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(nerve.randn(5), 0.5, True)
    with pytest.raises(ValueError, match="p"):
        F.alpha_dropout(x, 1.5, True)
    with pytest.raises(ValueError, match="p"):
        nn.Dropout3d(-0.1)
    with pytest.raises(TypeError, match="training"):
        F.dropout1d(x, 0.5, "yes")
    with pytest.raises(TypeError, match="inplace"):
        nn.AlphaDropout(0.5, inplace=1)
    with pytest.raises(TypeError, match="floating-point"):
        F.alpha_dropout(nerve.tensor([1, 2, 3]), 0.5, True)


# --- errors of the activations ---------------------------------------------------------------
def test_activation_errors():
    x = nerve.randn(3, 4)
    with pytest.raises(ValueError, match="lambd >= 0"):
        F.softshrink(x, -1.0)
    with pytest.raises(ValueError, match="lambd >= 0"):
        nn.Softshrink(-0.5)
    nn.Hardshrink(-0.5)  # PyTorch takes it (every x kept)
    with pytest.raises(ValueError, match="upper >= lower"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(ValueError, match="upper >= lower"):
        nn.RReLU(0.5, 0.1)
    with pytest.raises(TypeError, match="training"):
        F.rrelu(x, training=1)
    with pytest.raises(ValueError, match="even size along dim=0"):
        F.glu(nerve.randn(3, 4), 0)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.glu(nerve.tensor(1.0))
    with pytest.raises(IndexError, match="dim in"):
        nn.GLU(2)(x)
    with pytest.raises(TypeError, match="dim"):
        nn.GLU(1.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(C, H, W\)"):
        nn.Softmax2d()(x)
    with pytest.raises(TypeError, match="threshold"):
        nn.Threshold("0", 1.0)
    with pytest.raises(TypeError, match="value"):
        F.threshold(x, 0.0, None)
    with pytest.raises(TypeError, match="inplace"):
        nn.Hardswish(inplace="no")
    with pytest.raises(TypeError, match="floating-point"):
        F.hardswish(nerve.tensor([1, 2]))
    with pytest.raises(TypeError, match="Tensor"):
        nn.Hardsigmoid()([1.0, 2.0])


# --- save and load ---------------------------------------------------------------------------
MODELS = [
    ((2, 4, 6), lambda: nn.Sequential(
        nn.ZeroPad1d((1, 2)), nn.ConstantPad1d(1, 2.5), nn.ReflectionPad1d(2),
        nn.ReplicationPad1d((2, 0)), nn.CircularPad1d(1), nn.Hardswish(),
        nn.Hardsigmoid(inplace=True), nn.Threshold(0.6, -1.0, inplace=True), nn.Softshrink(0.1),
        nn.Hardshrink(0.05), nn.Tanhshrink(), nn.RReLU(0.1, 0.2, True), nn.Softmin(1),
        nn.GLU(1), nn.Dropout1d(0.3), nn.AlphaDropout(0.2, inplace=True),
        nn.FeatureAlphaDropout(0.1))),
    ((2, 4, 5, 6), lambda: nn.Sequential(
        nn.ZeroPad2d((1, 0, 2, -1)), nn.ConstantPad2d(1, -3), nn.ReflectionPad2d(1),
        nn.ReplicationPad2d((0, 1, 1, 0)), nn.CircularPad2d(2), nn.Softmax2d())),
    ((1, 2, 3, 4, 5), lambda: nn.Sequential(
        nn.ZeroPad3d(1), nn.ConstantPad3d((1, 0, 0, 1, 1, 0), 0.5), nn.ReflectionPad3d(1),
        nn.ReplicationPad3d(1), nn.CircularPad3d((1, 1, 0, 0, 2, 0)), nn.Dropout3d(0.5))),
]


@pytest.mark.parametrize("shape, make", MODELS)
def test_save_and_load_round_trip(tmp_path, shape, make):
    model = make().eval()
    path = tmp_path / "model.safetensors"
    nerve.save(model, path)
    loaded = nerve.load(path).eval()
    assert repr(loaded) == repr(model)
    x = nerve.tensor(rand(shape, seed=9, scale=1.0), dtype=nerve.float64)
    np.testing.assert_array_equal(loaded(x.clone()).numpy(), model(x.clone()).numpy())
    for a, b in zip(model, loaded):
        assert type(a) is type(b) and vars(a).keys() == vars(b).keys()
        for key in ("padding", "value", "p", "inplace", "lower", "upper", "lambd", "dim",
                    "threshold"):
            assert getattr(a, key, None) == getattr(b, key, None), (type(a).__name__, key)


@pytest.mark.parametrize("name", ["hardswish", "hardsigmoid"])
def test_hard_activations_at_infinities_and_nan_as_pytorch(torch, name):
    """From the review: hardswish's gradient was NaN at +-inf and NaN (0 * inf in the middle
    branch's backward; PyTorch gives 0, 1 and 1), hardsigmoid's 1/6 at NaN (PyTorch 0)."""
    values = [-math.inf, -3.0, -1.0, 0.5, 3.0, 4.0, math.inf, math.nan]
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ref = getattr(torch.nn.functional, name)(t)
    ref.sum().backward()
    x = nerve.tensor(values, dtype=nerve.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the dropped branches
        y = getattr(F, name)(x)
        y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), rtol=1e-12,
                               equal_nan=True)
    # PyTorch's hardsigmoid multiplies by the float32 1/6 even in float64 (3e-8 off)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), equal_nan=True,
                               rtol=1e-7 if name == "hardsigmoid" else 1e-12)
    assert not np.isnan(x.grad.numpy()).any()
