"""Batch norm, layer norm and channel dropout: gradients against finite differences (float64,
channels-last strides included), parity with PyTorch (outputs, gradients, running statistics,
state_dict keys and values both ways), save/load and summary, and the errors for bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import smooth

import nerve
from nerve import io, nn
from nerve.autograd import Tensor
from nerve.nn import functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def channels_last(shape, seed=0, dtype=np.float64):
    """An NCHW array whose memory is NHWC (the layout the conv layers may hand over)."""
    n, c, h, w = shape
    a = np.random.default_rng(seed).standard_normal((n, h, w, c)).astype(dtype)
    out = a.transpose(0, 3, 1, 2)
    assert not out.flags.c_contiguous and out.strides[1] == a.itemsize
    return out


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def close(got, expected, what, rtol=1e-5, atol=1e-5):
    got = got._data if isinstance(got, Tensor) else np.asarray(got)
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)


def t64(a):
    return Tensor(np.ascontiguousarray(a), dtype=nerve.float64)


# --- gradients against finite differences (float64) ------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (3, 2, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batch_norm(record_op, shape, affine, training):
    c = shape[1]
    x = t64(smooth(shape, seed=1) + 0.05 * np.arange(np.prod(shape)).reshape(shape) % 0.3)
    w, b = t64(smooth((c,), seed=2) + 1.1), t64(smooth((c,), seed=3))
    rm, rv = np.linspace(-0.5, 0.5, c), np.linspace(0.5, 2.0, c)
    if affine:
        fn = lambda x, w, b: F.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training)  # noqa: E731
        assert nerve.gradcheck(fn, [x, w, b])
    else:
        fn = lambda x: F.batch_norm(x, rm.copy(), rv.copy(), training=training)  # noqa: E731
        assert nerve.gradcheck(fn, [x])
    record_op("gradcheck", "batch_norm")


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batch_norm_channels_last_input(record_op, training):
    nhwc = t64(channels_last((3, 2, 3, 2), seed=4).transpose(0, 2, 3, 1))  # contiguous NHWC
    w, b = t64([0.7, 1.3]), t64([0.2, -0.4])
    rm, rv = np.array([0.1, -0.2]), np.array([0.8, 1.5])

    def fn(x, w, b):
        nchw = x.permute(0, 3, 1, 2)  # a strided view reaches the operation
        assert not nchw._data.flags.c_contiguous
        return F.batch_norm(nchw, rm.copy(), rv.copy(), w, b, training=training)

    assert nerve.gradcheck(fn, [nhwc, w, b])
    # weight only, no bias (the node's third input absent)
    assert nerve.gradcheck(lambda x, w: F.batch_norm(x.permute(0, 3, 1, 2), None, None, w,
                                                     training=True), [nhwc, w])
    record_op("gradcheck", "batch_norm")


@pytest.mark.parametrize("norm_shape", [(4,), (3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_layer_norm(record_op, norm_shape, affine):
    x = t64(smooth((2, 3, 4), seed=5) + np.arange(24).reshape(2, 3, 4) * 0.01)
    if affine:
        w, b = t64(smooth(norm_shape, seed=6) + 1.1), t64(smooth(norm_shape, seed=7))
        fn = lambda x, w, b: F.layer_norm(x, norm_shape, w, b)  # noqa: E731
        assert nerve.gradcheck(fn, [x, w, b])
    else:
        assert nerve.gradcheck(lambda x: F.layer_norm(x, norm_shape), [x])
    record_op("gradcheck", "layer_norm")


def test_gradcheck_layer_norm_channels_last_input(record_op):
    nhwc = t64(channels_last((2, 3, 2, 3), seed=8).transpose(0, 2, 3, 1))
    w, b = t64(smooth((2, 3), seed=9) + 1.1), t64(smooth((2, 3), seed=10))

    def fn(x, w, b):  # normalised over (H, W) of a channels-last NCHW array
        return F.layer_norm(x.permute(0, 3, 1, 2), (2, 3), w, b)

    assert nerve.gradcheck(fn, [nhwc, w, b])
    assert nerve.gradcheck(lambda x, w: F.layer_norm(x.permute(0, 3, 1, 2), (2, 3), w), [nhwc, w])
    record_op("gradcheck", "layer_norm")


# --- dtype and memory layout -------------------------------------------------------------------
def test_float32_stays_float32_and_channels_last_layout_is_kept():
    x = Tensor(channels_last((4, 3, 5, 6), dtype=np.float32), requires_grad=True)
    bn, ln = nn.BatchNorm2d(3), nn.LayerNorm((5, 6))
    for layer in (bn, ln):
        for training in (True, False):
            layer.train(training)
            y = layer(x)
            assert y.dtype == nerve.float32
            assert y._data.strides == x._data.strides, (type(layer).__name__, training)
            y.backward(Tensor(np.ones(y.shape, np.float32)))
            assert x.grad.dtype == nerve.float32 and layer.weight.grad.dtype == nerve.float32
            x.grad = None
    assert bn.running_mean.dtype == nerve.float32 and bn.running_var.dtype == nerve.float32


def test_batch_norm_normalises_each_channel_with_the_biased_variance():
    x = channels_last((8, 3, 4, 5), seed=3) * 3 + 2
    y = F.batch_norm(Tensor(x, dtype=nerve.float64), None, None, training=True, eps=1e-12)
    np.testing.assert_allclose(y._data.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y._data.var(axis=(0, 2, 3)), 1, rtol=1e-9)


# --- parity with PyTorch -----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 7), (3, 4, 5, 6), "channels_last"])
@pytest.mark.parametrize("affine", [True, False])
def test_parity_functional_batch_norm(record_op, torch, shape, affine):
    data = (channels_last((3, 4, 5, 6), seed=1, dtype=np.float32) if shape == "channels_last"
            else rand(shape, seed=1))
    c = data.shape[1]
    g = rand(data.shape, seed=2)
    wb = [rand((c,), seed=3) + 1, rand((c,), seed=4)] if affine else [None, None]
    rm, rv = rand((c,), seed=5), np.abs(rand((c,), seed=6)) + 0.5
    for training in (True, False):
        x, xt = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        ps = [None if a is None else Tensor(a, requires_grad=True) for a in wb]
        pt = [None if a is None else torch.tensor(a, requires_grad=True) for a in wb]
        ours_rm, ours_rv = rm.copy(), rv.copy()
        ref_rm, ref_rv = torch.tensor(rm), torch.tensor(rv)
        y = F.batch_norm(x, ours_rm, ours_rv, *ps, training=training, momentum=0.3, eps=1e-3)
        yt = torch.nn.functional.batch_norm(xt, ref_rm, ref_rv, *pt, training=training,
                                            momentum=0.3, eps=1e-3)
        y.backward(Tensor(g))
        yt.backward(torch.tensor(g))
        close(y, yt, f"output, training={training}")
        close(x.grad, xt.grad, f"input gradient, training={training}")
        for p, q, name in zip(ps, pt, ("weight", "bias")):
            if p is not None:
                close(p.grad, q.grad, f"{name} gradient, training={training}", atol=1e-4)
        close(ours_rm, ref_rm, "running_mean")
        close(ours_rv, ref_rv, "running_var")
        assert training or np.array_equal(ours_rm, rm)  # eval leaves them alone
        assert not training or not np.array_equal(ours_rm, rm)
    record_op("parity", "batch_norm")


@pytest.mark.parametrize("norm_shape", [(7,), (5, 7)])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_parity_functional_layer_norm(record_op, torch, norm_shape, affine):
    data, g = rand((3, 4, 5, 7), seed=1), rand((3, 4, 5, 7), seed=2)
    x, xt = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    arrays = [rand(norm_shape, seed=3) + 1, rand(norm_shape, seed=4)]
    arrays = arrays if affine == "both" else arrays[:1] if affine == "weight" else []
    ps = [Tensor(a, requires_grad=True) for a in arrays]
    pt = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = F.layer_norm(x, norm_shape, *ps, eps=1e-4)
    yt = torch.nn.functional.layer_norm(xt, norm_shape, *pt, eps=1e-4)
    y.backward(Tensor(g))
    yt.backward(torch.tensor(g))
    close(y, yt, "output")
    close(x.grad, xt.grad, "input gradient")
    for p, q in zip(ps, pt):
        close(p.grad, q.grad, "parameter gradient", atol=1e-4)
    record_op("parity", "layer_norm")


def _bn_pair(torch, kind, n, **kwargs):
    ours = getattr(nn, kind)(n, **kwargs)
    ref = getattr(torch.nn, kind)(n, **kwargs)
    torch.manual_seed(0)
    if ref.weight is not None:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            if ref.bias is not None:
                ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return ours, ref


@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (8, 4)), ("BatchNorm1d", (5, 4, 3)),
                                        ("BatchNorm2d", (3, 4, 5, 6)),
                                        ("BatchNorm2d", "channels_last")])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}, {"bias": False},
                                    {"momentum": 0.5, "eps": 1e-3}])
def test_parity_batch_norm_layers_over_training_steps_then_eval(record_op, torch, kind, shape,
                                                                kwargs):
    ours, ref = _bn_pair(torch, kind, 4, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)
    for step in range(4):
        data = (channels_last((3, 4, 5, 6), seed=step, dtype=np.float32) * (step + 1) + step
                if shape == "channels_last" else rand(shape, seed=step) * (step + 1) + step)
        g = rand(data.shape, seed=10 + step)
        x, xt = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        y, yt = ours(x), ref(xt)
        y.backward(Tensor(g))
        yt.backward(torch.tensor(g))
        close(y, yt, f"output, step {step}")
        close(x.grad, xt.grad, f"input gradient, step {step}", atol=1e-4)
        for name, p in ours.named_parameters():
            close(p.grad, dict(ref.named_parameters())[name].grad, f"{name}.grad", atol=1e-4)
            p.grad = None
        ref.zero_grad()
        for k, v in ref.state_dict().items():
            close(ours.state_dict()[k], v, f"{k} after step {step}", rtol=1e-5, atol=1e-6)
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked) == 4
        assert ours.num_batches_tracked.dtype == nerve.int64
    ours.eval()
    ref.eval()
    data = rand(data.shape, seed=99) * 2 + 1
    x, xt = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, yt = ours(x), ref(xt)
    y.backward(Tensor(g))
    yt.backward(torch.tensor(g))
    close(y, yt, "eval output")
    close(x.grad, xt.grad, "eval input gradient", atol=1e-4)
    for name, p in ours.named_parameters():
        close(p.grad, dict(ref.named_parameters())[name].grad, f"eval {name}.grad", atol=1e-4)
    with nerve.no_grad():  # Sequential's array path gives the same
        close(nn.Sequential(ours)(Tensor(data)), yt, "eval output on the array path")
    record_op("parity", f"nn.{kind}")


def test_momentum_none_is_the_cumulative_average_of_the_batches():
    bn = nn.BatchNorm1d(3, momentum=None)
    batches = [rand((6, 3), seed=s, dtype=np.float64) * (s + 1) for s in range(5)]
    bn.double()
    for b in batches:
        bn(Tensor(b, dtype=nerve.float64))
    np.testing.assert_allclose(bn.running_mean._data, np.mean([b.mean(0) for b in batches], 0))
    np.testing.assert_allclose(bn.running_var._data,
                               np.mean([b.var(0, ddof=1) for b in batches], 0))
    assert int(bn.num_batches_tracked) == 5


@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False},
                                    {"eps": 1e-3}])
@pytest.mark.parametrize("norm_shape", [6, (5, 6)])
def test_parity_layer_norm_layer(record_op, torch, kwargs, norm_shape):
    ours, ref = nn.LayerNorm(norm_shape, **kwargs), torch.nn.LayerNorm(norm_shape, **kwargs)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(0.5, 1.5)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)
    data, g = rand((4, 5, 6), seed=1) * 3 + 1, rand((4, 5, 6), seed=2)
    x, xt = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, yt = ours(x), ref(xt)
    y.backward(Tensor(g))
    yt.backward(torch.tensor(g))
    close(y, yt, "output")
    close(x.grad, xt.grad, "input gradient")
    for name, p in ours.named_parameters():
        close(p.grad, dict(ref.named_parameters())[name].grad, f"{name}.grad", atol=1e-4)
    ours.eval()
    with nerve.no_grad():
        close(nn.Sequential(ours)(Tensor(data)), yt, "eval output on the array path")
    record_op("parity", "nn.LayerNorm")


def test_training_with_sgd_matches_pytorch(record_op, torch):
    """Parameters written through the optimizer's flat gradient array (grad homes)."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4),
                              torch.nn.LayerNorm(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.ReLU(),
                         nn.Linear(4, 2))
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    opt = nerve.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        data, target = rand((8, 5), seed=step), rand((8, 2), seed=20 + step)
        loss = F.mse_loss(ours(Tensor(data)), Tensor(target))
        loss_t = torch.nn.functional.mse_loss(ref(torch.tensor(data)), torch.tensor(target))
        opt.zero_grad()
        opt_t.zero_grad()
        loss.backward()
        loss_t.backward()
        opt.step()
        opt_t.step()
        close(loss, loss_t, f"loss at step {step}")
    for k, v in ref.state_dict().items():
        close(ours.state_dict()[k], v, k, atol=1e-5)
    record_op("parity", "nn.BatchNorm1d")


def test_state_dict_from_torch_and_back(torch):
    tb = torch.nn.BatchNorm2d(3)
    tb(torch.randn(4, 3, 2, 2) * 3 + 1)
    tb(torch.randn(4, 3, 2, 2))
    bn = nn.BatchNorm2d(3)
    bn.load_state_dict(tb.state_dict())  # torch tensors as they are
    assert int(bn.num_batches_tracked) == 2 and bn.num_batches_tracked.dtype == nerve.int64
    close(bn.running_var, tb.running_var, "running_var")
    back = torch.nn.BatchNorm2d(3)
    back.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in bn.state_dict().items()})
    for k, v in tb.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert back.num_batches_tracked.dtype == torch.long


def test_state_dict_keys_and_buffers_like_torch(torch):
    bn = nn.BatchNorm1d(5)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    sd = bn.state_dict()
    assert sd["num_batches_tracked"].shape == () and sd["num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(sd["running_var"], np.ones(5))
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    for kwargs in ({"affine": False}, {"track_running_stats": False}, {"bias": False}):
        assert (list(nn.BatchNorm2d(2, **kwargs).state_dict())
                == list(torch.nn.BatchNorm2d(2, **kwargs).state_dict())), kwargs


def test_int_buffer_refuses_floats_and_survives_dtype_changes():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="num_batches_tracked: expected integers"):
        bn.load_state_dict({**bn.state_dict(), "num_batches_tracked": np.array(1.5)})
    bn.double()
    assert bn.running_mean.dtype == nerve.float64 and bn.num_batches_tracked.dtype == nerve.int64
    bn(Tensor(rand((3, 2), dtype=np.float64), dtype=nerve.float64))
    assert int(bn.num_batches_tracked) == 1


def test_functional_batch_norm_updates_the_running_tensors_in_place():
    rm, rv = nerve.zeros(3), nerve.ones(3)
    arrays = rm._data, rv._data
    x = rand((10, 3), seed=1) + 5
    F.batch_norm(Tensor(x), rm, rv, training=True, momentum=0.5)
    assert rm._data is arrays[0] and rv._data is arrays[1]
    np.testing.assert_allclose(rm._data, 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rv._data, 0.5 + 0.5 * x.var(0, ddof=1), rtol=1e-5)


def test_track_running_stats_false_uses_batch_statistics_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    x = rand((6, 2), seed=3) * 4 + 2
    y = bn(Tensor(x))._data
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4,
                               atol=1e-5)


# --- Dropout2d ---------------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    nerve.manual_seed(0)
    p = 0.3
    data = np.abs(rand((40, 50, 3, 4), seed=1)) + 0.5
    x = Tensor(data, requires_grad=True)
    layer = nn.Dropout2d(p)
    y = layer(x)
    zero = (y._data == 0).reshape(40, 50, -1)
    assert np.all(zero.all(axis=2) | ~zero.any(axis=2))  # each channel all zero or none
    kept = np.broadcast_to(~zero[:, :, :1].reshape(40, 50, 1, 1), data.shape)
    np.testing.assert_allclose(y._data[kept], data[kept] / (1 - p), rtol=1e-6)
    assert 0.25 < zero[:, :, 0].mean() < 0.35
    g = rand(data.shape, seed=2)
    y.backward(Tensor(g))
    np.testing.assert_allclose(x.grad._data, np.where(kept, g / (1 - p), 0), rtol=1e-6)
    nerve.manual_seed(0)
    np.testing.assert_array_equal(layer(Tensor(data))._data, y._data)  # the library's generator


def test_dropout2d_eval_identity_3d_input_and_layout():
    x = Tensor(channels_last((2, 6, 3, 3), dtype=np.float32))
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x
    with nerve.no_grad():
        np.testing.assert_array_equal(nn.Sequential(layer)(x)._data, x._data)
    assert F.dropout2d(x, 0.5, training=False) is x
    layer.train()
    nerve.manual_seed(1)
    y = layer(x)
    assert y._data.strides == x._data.strides
    nerve.manual_seed(2)
    y3 = F.dropout2d(Tensor(np.ones((4, 8, 5), np.float32)), 0.5)._data  # (N, C, L)
    assert np.all(y3.min(axis=2) == y3.max(axis=2)) and set(np.unique(y3)) == {0.0, 2.0}


# --- save, load, summary -----------------------------------------------------------------------
def test_save_load_round_trip_with_normalisation_layers(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6, momentum=None, eps=1e-3),
                          nn.LayerNorm(6, bias=False), nn.ReLU(),
                          nn.BatchNorm1d(6, affine=False), nn.Linear(6, 2))
    images = nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False), nn.Dropout2d(0.2),
                           nn.LayerNorm((4, 4), elementwise_affine=False),
                           nn.BatchNorm2d(3, bias=False, momentum=0.2))
    for _ in range(3):
        model(nerve.randn(8, 4))
        images(nerve.randn(5, 3, 4, 4))
    for m, shape in ((model, (8, 4)), (images, (5, 3, 4, 4))):
        path = tmp_path / "m.safetensors"
        nerve.save(m, path)
        loaded = nerve.load(path)
        assert repr(loaded) == repr(m)
        assert list(loaded.state_dict()) == list(m.state_dict())
        for k, v in m.state_dict().items():
            got = loaded.state_dict()[k]
            assert got.dtype == v.dtype and np.array_equal(got, v), k
        assert io.expected_shapes(io.describe(m)) == {k: v.shape for k, v in
                                                      m.state_dict().items()}
        m.eval()
        loaded.eval()
        x = nerve.randn(*shape)
        np.testing.assert_array_equal(loaded(x)._data, m(x)._data)
    assert int(loaded[3].num_batches_tracked) == 3


def test_load_refuses_a_file_whose_buffers_do_not_fit(tmp_path):
    model = nn.Sequential(nn.BatchNorm1d(3))
    path = tmp_path / "m.safetensors"
    nerve.save(model, path)
    arch = io.describe(model)
    arch["layers"][0]["args"]["track_running_stats"] = "yes"
    with pytest.raises(ValueError, match="track_running_stats='yes'"):
        io.expected_shapes(arch)
    state = dict(model.state_dict())
    del state["0.num_batches_tracked"]  # an older PyTorch checkpoint: the counter is kept
    assert model.load_state_dict(state).missing_keys == []
    del state["0.running_var"]
    with pytest.raises(ValueError, match="running_var"):
        model.load_state_dict(state)


def test_summary_of_a_model_with_normalisation_layers():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Dropout2d(0.5), nn.LayerNorm((4, 5)),
                          nn.Flatten(), nn.Linear(60, 7), nn.BatchNorm1d(7))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    lines = []
    info = nn.summary(model, (3, 4, 5), print_fn=lines.append)
    assert [(kind, shape, n) for _, kind, shape, n in info["layers"]] == [
        ("BatchNorm2d", (-1, 3, 4, 5), 6), ("Dropout2d", (-1, 3, 4, 5), 0),
        ("LayerNorm", (-1, 3, 4, 5), 40), ("Flatten", (-1, 60), 0), ("Linear", (-1, 7), 427),
        ("BatchNorm1d", (-1, 7), 14)]
    assert info["total_params"] == 487 and model.training
    for k, v in model.state_dict().items():  # summary runs in eval: no statistics tracked
        assert np.array_equal(v, before[k]), k


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layer,shape,match", [
    (lambda: nn.BatchNorm1d(3), (2, 3, 4, 5),
     r"BatchNorm1d\(3\): expected an input of shape \(N, 3\) or \(N, 3, L\)\. "
     r"Received: input\.shape=\(2, 3, 4, 5\)"),
    (lambda: nn.BatchNorm1d(3), (2, 4),
     r"BatchNorm1d\(3\): expected an input of shape \(N, 3\) or \(N, 3, L\)\. "
     r"Received: input\.shape=\(2, 4\)"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4),
     r"BatchNorm2d\(3\): expected an input of shape \(N, 3, H, W\)\. "
     r"Received: input\.shape=\(2, 3, 4\)"),
    (lambda: nn.BatchNorm2d(3), (2, 5, 4, 4),
     r"BatchNorm2d\(3\): expected an input of shape \(N, 3, H, W\)\. "
     r"Received: input\.shape=\(2, 5, 4, 4\)"),
    (lambda: nn.LayerNorm((3, 4)), (2, 4, 3),
     r"LayerNorm\(\(3, 4\)\): expected an input of shape \(\*, 3, 4\) \(normalized_shape="
     r"\(3, 4\)\)\. Received: input\.shape=\(2, 4, 3\)"),
    (lambda: nn.LayerNorm(4), (), r"LayerNorm\(\(4,\)\): .* Received: input\.shape=\(\)"),
])
@pytest.mark.parametrize("training", [True, False])
def test_bad_input_shapes_name_the_layer_and_both_shapes(layer, shape, match, training):
    m = layer().train(training)
    with pytest.raises(ValueError, match=match):
        m(Tensor(np.ones(shape, np.float32)))
    with nerve.no_grad(), pytest.raises(ValueError, match=match):  # the array path too
        nn.Sequential(m)(Tensor(np.ones(shape, np.float32)))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_training_with_one_value_per_channel_is_refused_like_torch(shape):
    bn = (nn.BatchNorm1d(3) if len(shape) < 4 else nn.BatchNorm2d(3))
    x = Tensor(np.ones(shape, np.float32))
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when "
                                         r"training\. Received: input\.shape="
                                         + re.escape(repr(shape))):
        bn(x)
    assert int(bn.num_batches_tracked) == 0  # the refused batch is not counted
    assert bn.eval()(x).shape == shape  # eval takes a single sample
    with pytest.raises(ValueError, match="batch_norm: Expected more than 1 value per channel"):
        F.batch_norm(x, None, None, training=True)


@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.BatchNorm1d(0), ValueError, "num_features=0"),
    (lambda: nn.BatchNorm2d(-2), ValueError, "num_features=-2"),
    (lambda: nn.BatchNorm2d(3.0), TypeError, "num_features=3.0"),
    (lambda: nn.BatchNorm1d(True), TypeError, "num_features=True"),
    (lambda: nn.BatchNorm1d(3, eps=-1e-5), ValueError, "eps=-1e-05"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, r"momentum in \[0, 1\]"),
    (lambda: nn.BatchNorm2d(3, momentum=-0.1), ValueError, "momentum=-0.1"),
    (lambda: nn.BatchNorm2d(3, momentum="0.1"), TypeError, "momentum='0.1'"),
    (lambda: nn.BatchNorm2d(3, affine="yes"), TypeError, "affine='yes'"),
    (lambda: nn.BatchNorm2d(3, track_running_stats=1), TypeError, "track_running_stats=1"),
    (lambda: nn.BatchNorm2d(3, dtype=nerve.int64), TypeError, "BatchNorm2d"),
    (lambda: nn.LayerNorm(0), ValueError, "normalized_shape=0"),
    (lambda: nn.LayerNorm((3, -1)), ValueError, r"normalized_shape=\(3, -1\)"),
    (lambda: nn.LayerNorm(()), ValueError, r"normalized_shape=\(\)"),
    (lambda: nn.LayerNorm("4"), TypeError, "normalized_shape='4'"),
    (lambda: nn.LayerNorm(4, eps=-1.0), ValueError, "eps=-1.0"),
    (lambda: nn.LayerNorm(4, elementwise_affine=None), TypeError, "elementwise_affine=None"),
    (lambda: nn.Dropout2d(1.5), ValueError, r"Dropout2d: expected p in \[0, 1\]"),
    (lambda: nn.Dropout2d(-0.1), ValueError, "p=-0.1"),
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_functional_arguments():
    x = Tensor(rand((4, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: expected running_mean of shape \(3,\) .*"
                                         r"Received: running_mean\.shape=\(4,\)"):
        F.batch_norm(x, np.zeros(4, np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \(3,\)"):
        F.batch_norm(x, None, None, nerve.ones(2), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var .* when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"eps > 0\. Received: eps=0"):
        F.batch_norm(x, None, None, training=True, eps=0)
    with pytest.raises(ValueError, match=r"momentum in \[0, 1\]"):
        F.batch_norm(x, None, None, training=True, momentum=2.0)
    with pytest.raises(TypeError, match="running_mean of the input's dtype float32"):
        F.batch_norm(x, np.zeros(3, np.int64), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"an input of shape \(N, C, \.\.\.\)"):
        F.batch_norm(Tensor(rand((3,))), None, None, training=True)
    with pytest.raises(TypeError, match=r"batch_norm: expected a floating-point input"):
        F.batch_norm(Tensor(np.ones((4, 3), np.int64)), None, None, training=True)
    with pytest.raises(TypeError, match=r"batch_norm: expected a Tensor as input"):
        F.batch_norm([[1.0, 2.0], [3.0, 4.0]], None, None, training=True)
    with pytest.raises(ValueError, match=r"layer_norm: expected an input of shape \(\*, 4\)"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"layer_norm: expected weight of shape \(3,\)"):
        F.layer_norm(x, (3,), nerve.ones(4))
    with pytest.raises(ValueError, match=r"dropout2d: expected an input of shape \(N, C, H, W\)"
                                         r".*Received: input\.shape=\(4, 3\)"):
        F.dropout2d(x)
    with pytest.raises(ValueError, match=r"dropout2d: expected p in \[0, 1\]"):
        F.dropout2d(Tensor(rand((2, 2, 2, 2))), p=1.5)
    with pytest.raises(TypeError, match=r"BatchNorm1d: expected a Tensor as input"):
        nn.BatchNorm1d(2)([[1.0, 2.0]])


@pytest.mark.parametrize("training", [True, False])
def test_dropout2d_layer_refuses_other_dimensions(training):
    layer = nn.Dropout2d(0.5).train(training)
    for shape in ((4, 3), (2, 3, 4, 5, 6)):
        with pytest.raises(ValueError, match=r"Dropout2d: expected an input of shape "
                                             r"\(N, C, H, W\) or \(N, C, L\).*Received: "
                                             r"input\.shape=" + re.escape(repr(shape))):
            layer(Tensor(np.ones(shape, np.float32)))


def test_refused_training_batch_is_not_counted():
    bn = nn.BatchNorm2d(2, eps=0.0)  # eps = 0 serves eval, not training (PyTorch's rule)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(2\): expected eps > 0"):
        bn(Tensor(rand((3, 2, 2, 2))))
    assert int(bn.num_batches_tracked) == 0
    np.testing.assert_array_equal(bn.running_mean._data, 0)
    bn.eval()
    x = rand((3, 2, 2, 2))
    np.testing.assert_allclose(bn(Tensor(x))._data, x)  # running statistics 0 and 1


# --- regressions (review) ----------------------------------------------------------------------
@pytest.mark.parametrize("mean,std", [(1e5, 1e-2), (1e6, 1.0), (1e4, 1.0)])
def test_float32_statistics_stay_accurate_for_a_large_mean_in_any_layout(mean, std):
    """A float32 sum of x loses the spread to a large mean; NumPy sums a channels-last array's
    channels one value after another, and the outputs were off by up to 6 standard deviations
    (PyTorch's NCHW: 0.02-0.4). The statistics are now taken of deviations from one value."""
    rng = np.random.default_rng(11)
    x64 = rng.standard_normal((16, 3, 32, 32)) * std + mean
    x = x64.astype(np.float32)
    cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    xr = x.astype(np.float64)
    ref = (xr - xr.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        xr.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    for data in (x, cl):
        rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
        out = F.batch_norm(Tensor(data), rm, rv, training=True)
        assert out._data.strides == data.strides
        np.testing.assert_allclose(out._data, ref, atol=1e-3)
        np.testing.assert_allclose(rm, 0.1 * xr.mean(axis=(0, 2, 3)), rtol=1e-6)
        np.testing.assert_allclose(rv, 0.9 + 0.1 * xr.var(axis=(0, 2, 3), ddof=1), rtol=1e-3)
    ref = (xr - xr.mean(axis=(2, 3), keepdims=True)) / np.sqrt(
        xr.var(axis=(2, 3), keepdims=True) + 1e-5)
    for data in (x, cl):
        np.testing.assert_allclose(F.layer_norm(Tensor(data), (32, 32))._data, ref, atol=1e-3)


def test_a_double_model_refuses_a_float32_tensor_like_torch(torch):
    """A float32 input of a .double() BatchNorm gave float32 in training but float64 in eval
    (and a float32 gradient for a float64 LayerNorm weight); PyTorch refuses mixed dtypes."""
    x32 = rand((4, 3))
    for layer in (nn.BatchNorm1d(3).double(), nn.LayerNorm(3).double()):
        for training in (True, False):
            layer.train(training)
            with pytest.raises(TypeError, match=r"expected an input of the layer's dtype "
                                                r"float64"):
                layer(Tensor(x32))
            with pytest.raises(TypeError, match="layer's dtype float64"), nerve.no_grad():
                nn.Sequential(layer)(Tensor(x32))  # the array path refuses it too
            with pytest.raises(RuntimeError, match="dtype"):
                getattr(torch.nn, type(layer).__name__)(3).double().train(training)(
                    torch.tensor(x32))
            out = layer(x32)  # an array is converted to the layer's dtype, as conv does
            assert out.dtype == nerve.float64
    assert nn.BatchNorm1d(3)(rand((4, 3)).astype(np.float64)).dtype == nerve.float32
    assert nn.BatchNorm1d(3, affine=False, track_running_stats=False)(
        Tensor(x32, dtype=nerve.float64)).dtype == nerve.float64  # no state: any dtype


def test_functional_forms_refuse_mixed_dtypes():
    x = Tensor(rand((4, 3)))
    rm, rv = np.zeros(3), np.ones(3)  # NumPy's float64
    for training in (True, False):
        with pytest.raises(TypeError, match=r"batch_norm: expected running_mean of the input's "
                                            r"dtype float32.*Received: running_mean\.dtype="
                                            r"'float64'"):
            F.batch_norm(x, rm, rv, training=training)
    np.testing.assert_array_equal(rm, 0)  # nothing updated
    with pytest.raises(TypeError, match="weight of the input's dtype float32"):
        F.batch_norm(x, None, None, nerve.ones(3, dtype=nerve.float64), training=True)
    with pytest.raises(TypeError, match="bias of the input's dtype float32"):
        F.layer_norm(x, 3, None, nerve.zeros(3, dtype=nerve.float64))
    out = F.batch_norm(x, rm.astype(np.float32), rv.astype(np.float32), training=False)
    assert out.dtype == nerve.float32
