"""Convolution and pooling: finite differences in float64, PyTorch parity (functions, layers
given a copied state_dict, a whole CNN on MNIST), tied maxima, bad input, save/load."""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def distinct(shape, seed=0):
    """Values at least 0.05 apart: no ties, so max pooling is smooth for finite differences."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.05 - n * 0.025).reshape(shape)


def t64(x, grad=True):
    return nerve.tensor(x, dtype=nerve.float64, requires_grad=grad)


# --- finite differences -------------------------------------------------------------------------
# (N, C, H, W), out channels, kernel, stride, padding, dilation, groups, bias
CONV2D = [
    ((2, 2, 5, 6), 3, (3, 3), 1, 0, 1, 1, True),
    ((2, 2, 6, 5), 3, (3, 3), 2, 1, 1, 1, True),
    ((1, 4, 7, 7), 4, (3, 3), 1, "same", 1, 2, False),
    ((1, 4, 6, 8), 2, (2, 3), 1, "same", 2, 2, True),
    ((2, 2, 7, 6), 3, (3, 2), (2, 1), (1, 0), (2, 1), 1, False),
    ((1, 2, 5, 5), 2, (1, 1), 2, 0, 1, 1, True),
    ((1, 1, 4, 4), 1, (3, 3), 1, "valid", 1, 1, True),
    ((2, 3, 8, 7), 4, (5, 3), 1, 2, 1, 1, True),
]


@pytest.mark.parametrize("shape,out,kernel,stride,padding,dilation,groups,bias", CONV2D)
def test_conv2d_gradcheck(record_op, shape, out, kernel, stride, padding, dilation, groups,
                          bias):
    x = t64(data(shape))
    w = t64(data((out, shape[1] // groups, *kernel), 1))
    args = [x, w] + ([t64(data(out, 2))] if bias else [])

    def fn(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)

    assert nerve.gradcheck(fn, args)
    record_op("gradcheck", "conv2d")


@pytest.mark.parametrize("length,stride,padding,dilation,groups", [
    (9, 1, 0, 1, 1), (10, 2, 1, 1, 2), (8, 1, "same", 2, 1), (7, 3, 2, 1, 1)])
def test_conv1d_gradcheck(record_op, length, stride, padding, dilation, groups):
    x, w, b = t64(data((2, 4, length))), t64(data((2, 4 // groups, 3), 1)), t64(data(2, 2))
    assert nerve.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups),
                           [x, w, b])
    record_op("gradcheck", "conv1d")


POOLS = [  # function, input shape, keyword arguments
    ("max_pool2d", (2, 2, 6, 6), dict(kernel_size=2)),
    ("max_pool2d", (1, 2, 7, 5), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (1, 2, 7, 8), dict(kernel_size=(2, 3), stride=1, dilation=(2, 1))),
    ("max_pool2d", (1, 2, 7, 7), dict(kernel_size=2, ceil_mode=True)),
    ("max_pool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (2, 2, 6, 6), dict(kernel_size=2)),
    ("avg_pool2d", (1, 2, 7, 5), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (1, 2, 7, 5), dict(kernel_size=3, stride=2, padding=1,
                                       count_include_pad=False, ceil_mode=True)),
    ("avg_pool1d", (2, 3, 9), dict(kernel_size=2, stride=1)),
    ("adaptive_avg_pool2d", (2, 2, 7, 5), dict(output_size=(3, 2))),
    ("adaptive_avg_pool1d", (2, 2, 7), dict(output_size=3)),
]


@pytest.mark.parametrize("name,shape,kwargs", POOLS)
def test_pool_gradcheck(record_op, name, shape, kwargs):
    fn = getattr(F, name)
    assert nerve.gradcheck(lambda x: fn(x, **kwargs), [t64(distinct(shape))])
    record_op("gradcheck", name)


# --- PyTorch parity: the functions ----------------------------------------------------------------

def _both(fn_ours, fn_torch, *arrays, upstream_seed=5):
    """Run both on the same float64 arrays; return (ours, theirs) outputs and input gradients."""
    ours = [t64(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn_ours(*ours), fn_torch(*theirs)
    g = data(tuple(ty.shape), upstream_seed)
    y.backward(nerve.tensor(g, dtype=nerve.float64))
    ty.backward(torch.tensor(g))
    return ([y.detach().numpy()] + [t.grad.numpy() for t in ours],
            [ty.detach().numpy()] + [t.grad.numpy() for t in theirs])


@pytest.mark.parametrize("shape,out,kernel,stride,padding,dilation,groups,bias", CONV2D)
def test_conv2d_parity(record_op, shape, out, kernel, stride, padding, dilation, groups, bias):
    arrays = [data(shape), data((out, shape[1] // groups, *kernel), 1)]
    if bias:
        arrays.append(data(out, 2))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours, theirs = _both(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), *arrays)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    record_op("parity", "conv2d")


def test_conv1d_parity(record_op):
    kw = dict(stride=2, padding=2, dilation=2, groups=2)
    ours, theirs = _both(lambda *a: F.conv1d(*a, **kw), lambda *a: TF.conv1d(*a, **kw),
                         data((3, 4, 17)), data((6, 2, 3), 1), data(6, 2))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    record_op("parity", "conv1d")


@pytest.mark.parametrize("name,shape,kwargs", POOLS + [
    ("max_pool2d", (2, 3, 10, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", (2, 3, 10, 7), dict(kernel_size=3, stride=2, padding=1, divisor_override=4)),
    ("adaptive_avg_pool2d", (2, 3, 10, 7), dict(output_size=(None, 4))),
    ("adaptive_avg_pool2d", (2, 3, 10, 7), dict(output_size=1)),
])
def test_pool_parity_with_ties(record_op, name, shape, kwargs):
    """On integers in [-2, 2] most windows hold tied maxima: the gradient goes where PyTorch's
    goes (the first maximum of the window, row by row)."""
    x = np.random.default_rng(3).integers(-2, 3, shape).astype(np.float64)
    ours, theirs = _both(lambda a: getattr(F, name)(a, **kwargs),
                         lambda a: getattr(TF, name)(a, **kwargs), x)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    record_op("parity", name)


def test_max_pool_sends_a_tie_to_the_first_maximum():
    x = t64(np.array([[[[1.0, 3.0], [3.0, 3.0]]]]))
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.numpy().tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


# --- the layers -------------------------------------------------------------------------------

def twins(ours, theirs):
    """Copy torch's initial weights into nerve's layer."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _layer_parity(ours, theirs, x, rtol=1e-5, atol=1e-5):
    xn, xt = nerve.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xn), theirs(xt)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = data(tuple(ty.shape), 9, np.float32)
    y.backward(nerve.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    theirs_p = dict(theirs.named_parameters())
    assert [k for k, _ in ours.named_parameters()] == list(theirs_p)
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_p[k].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=k)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 8, 3),
    lambda m: m.Conv2d(4, 6, (3, 2), stride=2, padding=1, bias=False),
    lambda m: m.Conv2d(4, 4, 3, padding="same", dilation=2, groups=2),
    lambda m: m.Conv1d(4, 6, 5, stride=2, padding=2),
    lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool2d(3, stride=2, padding=1),
    lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    lambda m: m.AdaptiveAvgPool2d((2, 3)),
    lambda m: m.MaxPool1d(2),
    lambda m: m.AvgPool1d(3),
    lambda m: m.AdaptiveAvgPool1d(3),
])
def test_layer_parity(record_op, make):
    torch.manual_seed(0)
    ours, theirs = twins(make(nn), make(torch.nn))
    assert repr(ours) == repr(theirs)
    shape = (2, 4, 9) if "1d" in type(ours).__name__ else (2, 4, 9, 8)
    if isinstance(ours, nn.Conv2d) and ours.in_channels == 3:
        shape = (2, 3, 9, 8)
    _layer_parity(ours, theirs, data(shape, 4, np.float32))
    record_op("parity", type(ours).__name__)


def test_conv_init_matches_pytorchs_bounds():
    layer = nn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 9)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert w.shape == (32, 16, 3, 3) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and w.dtype == np.float32


def _cnn(lib):
    m = lib.nn
    return m.Sequential(m.Conv2d(1, 16, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                        m.Conv2d(16, 32, 3, padding=1), m.ReLU(), m.MaxPool2d(2), m.Flatten(),
                        m.Linear(1568, 128), m.ReLU(), m.Linear(128, 10))


def _mnist_batch(n=64):
    from pathlib import Path

    from nerve.data import mnist_t10k_split
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
    if folder.is_dir():
        (x, y), _ = mnist_t10k_split(folder)
        return x[:n].reshape(n, 1, 28, 28), y[:n]
    rng = np.random.default_rng(0)  # the package works without the data folder
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def test_whole_cnn_matches_pytorch_on_mnist(record_op):
    torch.manual_seed(0)
    ours, theirs = twins(_cnn(nerve), _cnn(torch))
    x, y = _mnist_batch()
    loss = F.cross_entropy(ours(nerve.tensor(x)), nerve.tensor(y))
    tloss = TF.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    loss.backward()
    tloss.backward()
    theirs_p = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_p[k].grad.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=k)
    record_op("parity", "cnn")


def test_training_steps_match_pytorch_with_flat_adam():
    """Three Adam steps: the conv layers write their gradients into the optimizer's flat
    arrays; the weights after them are PyTorch's."""
    torch.manual_seed(0)
    ours, theirs = twins(_cnn(nerve), _cnn(torch))
    opt, topt = nerve.optim.Adam(ours.parameters(), 1e-3), torch.optim.Adam(
        theirs.parameters(), 1e-3)
    x, y = _mnist_batch(32)
    for _ in range(3):
        loss = F.cross_entropy(ours(nerve.tensor(x)), nerve.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = TF.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
    assert opt.flat
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)


def test_inference_path_equals_the_graph_path():
    model = _cnn(nerve)
    x = nerve.tensor(_mnist_batch(8)[0])
    with nerve.no_grad():
        fast = model(x).numpy()
    slow = model(x).detach().numpy()
    np.testing.assert_array_equal(fast, slow)


def test_channels_last_output_behaves_as_nchw():
    """The convolution's output is an NCHW view of channels-last memory: indexing, reshaping,
    element-wise ops and a further layer see the NCHW order."""
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = data((2, 2, 5, 4), 0, np.float32)
    y = conv(nerve.tensor(x))
    ref = TF.conv2d(torch.from_numpy(x), torch.from_numpy(conv.weight.detach().numpy()),
                    torch.from_numpy(conv.bias.detach().numpy()), padding=1).detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.reshape(2, -1).detach().numpy(), ref.reshape(2, -1), 1e-5,
                               1e-6)
    np.testing.assert_allclose(y[1, 2].detach().numpy(), ref[1, 2], 1e-5, 1e-6)
    np.testing.assert_allclose(y.flatten(1).detach().numpy(), ref.reshape(2, -1), 1e-5, 1e-6)


# --- bad input ----------------------------------------------------------------------------------

def test_a_3d_input_to_conv2d_names_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 16.*4-D input \(N, C, H, W\).*unsqueeze.*"
                                         r"\(1, 28, 28\)"):
        nn.Conv2d(1, 16, 3)(nerve.zeros(1, 28, 28))


def test_a_channel_count_that_does_not_match():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 4.*\(N, 3, \.\.\.\).*\(2, 1, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(nerve.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"conv1d: .*\(N, 4, \.\.\.\).*\(2, 3, 8\)"):
        F.conv1d(nerve.zeros(2, 3, 8), nerve.zeros(2, 4, 3))


def test_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 4, kernel_size=\(5, 5\).*at least as "
                                         r"large as the kernel.*\(2, 1, 3, 3\)"):
        nn.Conv2d(1, 4, 5)(nerve.zeros(2, 1, 3, 3))
    nn.Conv2d(1, 4, 5, padding=1)(nerve.zeros(2, 1, 3, 3))  # 5x5 padded: fits
    with pytest.raises(ValueError, match="MaxPool2d.*at least as large as the window"):
        nn.MaxPool2d(3)(nerve.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_zero_or_negative_stride(stride):
    with pytest.raises(ValueError, match="Conv2d: expected stride positive"):
        nn.Conv2d(1, 4, 3, stride=stride)
    with pytest.raises(ValueError, match="conv2d: expected stride positive"):
        F.conv2d(nerve.zeros(1, 1, 5, 5), nerve.zeros(1, 1, 3, 3), stride=stride)
    with pytest.raises(ValueError, match="MaxPool2d: expected stride positive"):
        nn.MaxPool2d(2, stride=stride)


def test_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="Conv2d: expected in_channels divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: expected out_channels divisible by groups=2"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="conv2d: expected out_channels divisible by groups=2"):
        F.conv2d(nerve.zeros(1, 4, 5, 5), nerve.zeros(3, 2, 3, 3), groups=2)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="stride 1 with padding='same'"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(TypeError, match="kernel_size"):
        nn.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(TypeError, match="weight's dtype float32"):
        nn.Conv2d(1, 1, 3)(nerve.zeros(1, 1, 5, 5, dtype=nerve.float64))
    with pytest.raises(TypeError, match="floating-point"):
        F.conv2d(nerve.zeros(1, 1, 5, 5, dtype=nerve.int64), nerve.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="padding at most half the kernel"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="return_indices"):
        nn.MaxPool2d(2, return_indices=True)
    with pytest.raises(ValueError, match="4-D input"):
        nn.MaxPool2d(2)(nerve.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="divisor_override"):
        nn.AvgPool2d(2, divisor_override=0)


def test_an_array_input_is_taken_as_the_weights_dtype():
    layer = nn.Conv2d(1, 2, 3)
    y = layer(np.zeros((1, 1, 5, 5)))  # float64 array, float32 layer: as Linear does
    assert y.dtype == np.float32 and y.shape == (1, 2, 3, 3)


# --- save, load, summary ------------------------------------------------------------------------

def test_save_and_load_a_cnn(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same", bias=False), nn.ReLU(),
                          nn.MaxPool2d(2, ceil_mode=True),
                          nn.AvgPool2d(3, 1, 1, count_include_pad=False),
                          nn.Conv2d(4, 6, (3, 2), stride=(2, 1), groups=2),
                          nn.AdaptiveAvgPool2d((2, None)), nn.Flatten(), nn.Linear(36, 3))
    x = nerve.tensor(data((2, 1, 9, 8), 0, np.float32))
    with nerve.no_grad():
        expected = model(x).numpy()
    nerve.save(model, tmp_path / "cnn.safetensors")
    loaded = nerve.load(tmp_path / "cnn.safetensors")
    assert repr(loaded) == repr(model)
    with nerve.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), expected)


def test_summary_shows_shapes_and_counts():
    lines = []
    info = nn.summary(_cnn(nerve), (1, 28, 28), print_fn=lines.append)
    shapes = [row[2] for row in info["layers"]]
    assert shapes[:6] == [(-1, 16, 28, 28), (-1, 16, 28, 28), (-1, 16, 14, 14),
                          (-1, 32, 14, 14), (-1, 32, 14, 14), (-1, 32, 7, 7)]
    assert [row[3] for row in info["layers"]][:4] == [160, 0, 0, 4640]
    assert info["total_params"] == 160 + 4640 + 1568 * 128 + 128 + 1290


@pytest.mark.parametrize("layers", [
    lambda: [nn.ReLU()], lambda: [nn.Flatten(), nn.ReLU()], lambda: [nn.Identity(), nn.ReLU()],
    lambda: [nn.Dropout(0.5), nn.ReLU()], lambda: [nn.Flatten(0), nn.Identity(), nn.ReLU()]])
def test_inference_relu_never_writes_into_the_callers_array(layers):
    """Under no_grad, Sequential's array chain applies ReLU in place only to arrays it made."""
    model = nn.Sequential(*layers()).eval()
    x = data((3, 4), 0, np.float32)
    before = x.copy()
    with nerve.no_grad():
        y = model(nerve.from_numpy(x)).numpy()  # the tensor shares x's memory
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(y.reshape(x.shape), np.maximum(before, 0))


def test_inference_relu_in_place_after_a_layer_gives_the_graph_result():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.ReLU(),
                          nn.Linear(27, 4), nn.ReLU())
    x = nerve.tensor(data((2, 1, 5, 5), 0, np.float32))
    with nerve.no_grad():
        fast = model(x).numpy()
    np.testing.assert_array_equal(fast, model(x).detach().numpy())


def test_relu_inplace_as_pytorch(record_op):
    """nn.ReLU(inplace=True), a PyTorch habit: it writes into its input, and a CNN with it
    trains as PyTorch's."""
    a = nerve.tensor([-1.0, 2.0])
    with nerve.no_grad():
        nn.Sequential(nn.ReLU(inplace=True))(a)
    assert a.tolist() == [0.0, 2.0]
    torch.manual_seed(0)
    make = lambda m: m.Sequential(m.Conv2d(2, 3, 3), m.ReLU(inplace=True), m.MaxPool2d(2))  # noqa: E731
    ours, theirs = twins(make(nn), make(torch.nn))
    assert repr(ours) == repr(theirs)
    _layer_parity(ours, theirs, data((2, 2, 8, 8), 4, np.float32))
    record_op("parity", "ReLU(inplace=True)")
