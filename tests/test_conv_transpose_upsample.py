"""Transposed convolution, interpolation (Upsample), adaptive max pooling, the pixel shuffles and
Fold/Unfold: values and gradients against PyTorch (float64 tight, float32), finite
differences, layers given a copied state_dict, save/load, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def distinct(shape, seed=0):
    """Values at least 0.05 apart: no ties, so a maximum is smooth for finite differences."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.05 - n * 0.025).reshape(shape)


def ours(x, grad=True):
    dtype = nerve.float64 if x.dtype == np.float64 else nerve.float32
    return nerve.tensor(x, dtype=dtype, requires_grad=grad)


def theirs(x, grad=True):
    return torch.tensor(x, requires_grad=grad)


def same(a, b, dtype=np.float64):
    """nerve's tensor (or array) equals torch's: shape, and values to the dtype's tolerance."""
    a = a.detach().numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy()
    assert a.shape == b.shape
    tol = TOL[dtype]
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def compare(fn_ours, fn_theirs, arrays, dtype=np.float64, seed=9):
    """Run both on the same inputs; compare the outputs and every input's gradient for one
    random output gradient."""
    xs = [ours(a) for a in arrays]
    ts = [theirs(a) for a in arrays]
    y, ty = fn_ours(*xs), fn_theirs(*ts)
    assert y.dtype == xs[0].dtype  # no silent change of dtype
    same(y, ty, dtype)
    g = data(tuple(ty.shape), seed, dtype)
    y.backward(ours(g, False))
    ty.backward(theirs(g, False))
    for x, t in zip(xs, ts):
        same(x.grad, t.grad, dtype)


# --- transposed convolution ---------------------------------------------------------------------
# (N, C_in, H, W), out channels, kernel, stride, padding, output_padding, groups, dilation, bias
CONVT2D = [
    ((2, 3, 5, 6), 4, (3, 3), 1, 0, 0, 1, 1, True),
    ((2, 4, 4, 4), 6, (3, 2), 2, 1, 1, 2, 1, True),
    ((1, 2, 5, 4), 3, (2, 3), (2, 3), (0, 1), (1, 2), 1, (1, 2), False),
    ((1, 2, 3, 3), 2, (3, 3), 1, 2, 1, 1, 2, True),  # output_padding < dilation, not stride
    ((2, 4, 6, 5), 4, (4, 4), 2, 1, 0, 4, 1, True),  # depthwise, even kernel
    ((1, 1, 1, 1), 2, (1, 1), 3, 0, 2, 1, 1, True),  # a one-pixel input
    ((1, 3, 7, 2), 2, (5, 1), (3, 1), (2, 0), 0, 1, (2, 1), True),
    ((1, 2, 3, 4), 3, (2, 3), 1, 0, 1, 1, 2, True),  # output_padding beyond the padding
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,out,kernel,stride,padding,op,groups,dilation,bias", CONVT2D)
def test_conv_transpose2d_parity(record_op, dtype, shape, out, kernel, stride, padding, op,
                                 groups, dilation, bias):
    arrays = [data(shape, 0, dtype), data((shape[1], out // groups, *kernel), 1, dtype)]
    if bias:
        arrays.append(data(out, 2, dtype))
    compare(lambda *a: F.conv_transpose2d(*a, stride=stride, padding=padding,
                                          output_padding=op, groups=groups, dilation=dilation),
            lambda *a: TF.conv_transpose2d(*a, stride=stride, padding=padding,
                                           output_padding=op, groups=groups,
                                           dilation=dilation), arrays, dtype)
    record_op("parity", "conv_transpose2d")


@pytest.mark.parametrize("shape,out,kernel,stride,padding,op,groups,dilation,bias",
                         CONVT2D[1:5])
def test_conv_transpose2d_gradcheck(record_op, shape, out, kernel, stride, padding, op,
                                    groups, dilation, bias):
    args = [ours(data(shape)), ours(data((shape[1], out // groups, *kernel), 1))]
    if bias:
        args.append(ours(data(out, 2)))

    def fn(*a):
        return F.conv_transpose2d(*a, stride=stride, padding=padding, output_padding=op,
                                  groups=groups, dilation=dilation)

    assert nerve.gradcheck(fn, args)
    record_op("gradcheck", "conv_transpose2d")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("length,stride,padding,op,groups,dilation", [
    (7, 1, 0, 0, 1, 1), (6, 2, 1, 1, 2, 1), (5, 3, 2, 2, 1, 2), (1, 2, 0, 1, 1, 1)])
def test_conv_transpose1d_parity_and_gradcheck(record_op, dtype, length, stride, padding, op,
                                               groups, dilation):
    arrays = [data((2, 4, length), 0, dtype), data((4, 6 // groups, 3), 1, dtype),
              data(6, 2, dtype)]
    args = dict(stride=stride, padding=padding, output_padding=op, groups=groups,
                dilation=dilation)
    compare(lambda *a: F.conv_transpose1d(*a, **args),
            lambda *a: TF.conv_transpose1d(*a, **args), arrays, dtype)
    record_op("parity", "conv_transpose1d")
    if dtype == np.float64:
        assert nerve.gradcheck(lambda *a: F.conv_transpose1d(*a, **args),
                               [ours(a) for a in arrays])
        record_op("gradcheck", "conv_transpose1d")


def test_conv_transpose_is_the_input_gradient_of_conv():
    """<conv(x), y> = <x, conv_transpose(y)> for the same weight: the definition."""
    x, y, w = data((2, 3, 7, 7)), data((2, 4, 4, 4), 1), data((4, 3, 3, 2), 2)
    conv = F.conv2d(ours(x, False), ours(w, False), stride=2, padding=1).numpy()
    back = F.conv_transpose2d(ours(y, False), ours(w, False), stride=2, padding=1,
                              output_padding=(0, 1)).numpy()
    assert back.shape == x.shape
    assert abs((conv * y).sum() - (x * back).sum()) < 1e-10


def test_conv_transpose_non_contiguous_input_and_empty_batch():
    x = data((2, 3, 6, 5))
    w = data((3, 2, 3, 3), 1)
    compare(lambda a, b: F.conv_transpose2d(a.transpose(2, 3), b, stride=2),
            lambda a, b: TF.conv_transpose2d(a.transpose(2, 3), b, stride=2), [x, w])
    y = F.conv_transpose2d(ours(data((0, 3, 4, 4))), ours(w), stride=2)
    assert y.shape == (0, 2, 9, 9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd", [1, 2])
def test_conv_transpose_layers_match_pytorch(record_op, dtype, nd):
    kw = dict(kernel_size=(3, 2)[:nd] if nd == 2 else 3, stride=2, padding=1,
              output_padding=1, groups=2, dilation=(1, 2)[:nd] if nd == 2 else 2)
    cls, tcls = ((nn.ConvTranspose1d, torch.nn.ConvTranspose1d) if nd == 1 else
                 (nn.ConvTranspose2d, torch.nn.ConvTranspose2d))
    t = tcls(4, 6, **kw).to(torch.float64 if dtype == np.float64 else torch.float32)
    m = cls(4, 6, **kw)
    m = m.double() if dtype == np.float64 else m
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    assert repr(m) == repr(t)
    x = data((2, 4, 5) if nd == 1 else (2, 4, 5, 4), 3, dtype)
    compare(m, t, [x], dtype)
    g = data(tuple(t.weight.shape), 4, dtype)
    assert m.weight.grad is not None and m.bias.grad is not None
    same(m.weight.grad, t.weight.grad, dtype)
    same(m.bias.grad, t.bias.grad, dtype)
    assert g.shape == m.weight.shape
    record_op("parity", cls.__name__)


def test_conv_transpose_output_size():
    t = torch.nn.ConvTranspose2d(2, 4, 3, stride=(2, 3), padding=1).double()
    m = nn.ConvTranspose2d(2, 4, 3, stride=(2, 3), padding=1).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = data((1, 2, 4, 4))
    for size in [(7, 10), (8, 12), [1, 4, 8, 11], (7, 11)]:
        same(m(ours(x), output_size=size), t(theirs(x), output_size=size))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2, 4.*output_size from \(7, 10\) "
                                         r"to \(8, 12\).*Received: output_size=\(9, 10\)"):
        m(ours(x), output_size=(9, 10))
    with pytest.raises(ValueError, match="output_size of 2 or 4 ints"):
        m(ours(x), output_size=(8,))
    m1 = nn.ConvTranspose1d(2, 3, 4, stride=3)
    assert m1(nerve.randn(1, 2, 5), output_size=[16]).shape == (1, 3, 16)
    assert m1(nerve.randn(1, 2, 5), output_size=(18,)).shape == (1, 3, 18)


def test_conv_transpose_init_and_defaults():
    nerve.manual_seed(0)
    m = nn.ConvTranspose2d(6, 8, (3, 2), groups=2)
    assert m.weight.shape == (6, 4, 3, 2) and m.bias.shape == (8,)
    assert (m.stride, m.padding, m.output_padding, m.dilation) == ((1, 1), (0, 0), (0, 0),
                                                                    (1, 1))
    bound = 1 / math.sqrt(4 * 3 * 2)  # PyTorch's fan_in of this weight: out / groups * kh * kw
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound
    assert m.weight.dtype == nerve.float32
    assert nn.ConvTranspose1d(2, 3, 1, bias=False).bias is None
    y = m(nerve.randn(1, 6, 4, 4))
    assert y.shape == (1, 8, 6, 5) and y.dtype == nerve.float32


def test_conv_transpose_errors():
    x, w = ours(data((1, 4, 3, 3))), ours(data((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="output_padding smaller than either stride"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: expected output_padding smaller"):
        nn.ConvTranspose2d(4, 2, 3, stride=1, output_padding=1)
    nn.ConvTranspose2d(4, 2, 3, stride=1, output_padding=1, dilation=2)  # allowed, as PyTorch
    with pytest.raises(ValueError, match=r"input of shape \(N, 4, \.\.\.\).*Received: "
                                         r"input.shape=\(1, 3, 3, 3\)"):
        F.conv_transpose2d(ours(data((1, 3, 3, 3))), w)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 2, kernel_size=\(3, 3\).*"
                                         r"expected input of shape \(N, 4"):
        nn.ConvTranspose2d(4, 2, 3)(nerve.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="add the batch dimension"):
        nn.ConvTranspose2d(4, 2, 3)(nerve.randn(4, 5, 5))
    with pytest.raises(ValueError, match=r"an output of at least one pixel"):
        F.conv_transpose2d(ours(data((1, 4, 1, 1))), w, stride=2, padding=3)
    with pytest.raises(TypeError, match="padding"):
        nn.ConvTranspose2d(4, 2, 3, padding="same")
    with pytest.raises(ValueError, match="padding_mode 'zeros'"):
        nn.ConvTranspose2d(4, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match=r"a bias of shape \(4,\)"):
        F.conv_transpose2d(x, w, ours(data(2)), groups=2)
    with pytest.raises(TypeError, match="one dtype"):
        F.conv_transpose2d(x, nerve.tensor(data((4, 2, 3, 3)), dtype=nerve.float32))
    with pytest.raises(TypeError, match="weight's dtype"):
        nn.ConvTranspose2d(4, 2, 3)(ours(data((1, 4, 3, 3))))


# --- interpolate and Upsample -------------------------------------------------------------------
SIZES = [dict(size=9), dict(size=2), dict(size=1), dict(scale_factor=2), dict(scale_factor=1.7),
         dict(scale_factor=0.6), dict(scale_factor=3.3),
         dict(scale_factor=1.7, recompute_scale_factor=True),
         dict(scale_factor=0.61, recompute_scale_factor=True)]
MODES = [("nearest", None), ("nearest-exact", None), ("area", None), ("linear", False),
         ("linear", True), ("bilinear", False), ("bilinear", True), ("bicubic", False),
         ("bicubic", True)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,align_corners", MODES)
def test_interpolate_parity(record_op, dtype, mode, align_corners):
    shapes = {"linear": [(2, 3, 5), (1, 1, 1)], "bilinear": [(2, 3, 5, 4), (1, 2, 1, 3)],
              "bicubic": [(2, 3, 5, 4), (1, 2, 1, 3)]}.get(mode, [(2, 3, 5), (2, 3, 5, 4)])
    for shape in shapes:
        for kw in SIZES:
            if "size" in kw and len(shape) == 4:
                kw = dict(size=(kw["size"], kw["size"] + 2))
            if "scale_factor" in kw and \
                    any(math.floor(n * kw["scale_factor"]) < 1 for n in shape[2:]):
                continue
            compare(lambda x, kw=kw: F.interpolate(x, mode=mode, align_corners=align_corners,
                                                   **kw),
                    lambda x, kw=kw: TF.interpolate(x, mode=mode, align_corners=align_corners,
                                                    **kw),
                    [data(shape, 1, dtype)], dtype)
    record_op("parity", f"interpolate({mode})")


@pytest.mark.parametrize("mode,align_corners", MODES)
def test_interpolate_gradcheck(record_op, mode, align_corners):
    shape = (1, 2, 4) if mode in ("linear", "nearest", "nearest-exact", "area") else (1, 2, 3, 4)
    for kw in (dict(scale_factor=2.5), dict(size=3)):
        assert nerve.gradcheck(
            lambda x, kw=kw: F.interpolate(x, mode=mode, align_corners=align_corners, **kw),
            [ours(data(shape))])
    record_op("gradcheck", f"interpolate({mode})")


def test_interpolate_scale_factor_rule_differs_from_size():
    """With a scale_factor (not recomputed) the source index uses 1 / scale_factor, not the
    sizes' ratio: 5 * 1.7 gives 8 outputs either way, but different values."""
    x = data((1, 1, 5))
    a = F.interpolate(ours(x, False), scale_factor=1.7, mode="linear").numpy()
    b = F.interpolate(ours(x, False), size=8, mode="linear").numpy()
    c = F.interpolate(ours(x, False), scale_factor=1.7, mode="linear",
                      recompute_scale_factor=True).numpy()
    assert a.shape == b.shape == (1, 1, 8) and not np.allclose(a, b)
    np.testing.assert_array_equal(b, c)
    x = np.arange(2.0).reshape(1, 1, 2)  # PyTorch's nearest index is computed in float32:
    same(F.interpolate(ours(x, False), size=82),  # double would give index 1 at output 41
         TF.interpolate(theirs(x, False), size=82))
    for n, scale in [(5, 2.1), (10, 1.05), (4, 2.0)]:  # double or equal sizes, scale not 2 or 1
        for mode in ("nearest", "nearest-exact"):
            x = np.arange(float(n)).reshape(1, 1, n)
            y = F.interpolate(ours(x, False), scale_factor=scale, mode=mode)
            same(y, TF.interpolate(theirs(x, False), scale_factor=scale, mode=mode))


@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 5, 5), dict(scale_factor=2.1, mode="nearest")),  # 4-D: 5 -> 10 reads d >> 1
    ((1, 2, 4, 4), dict(scale_factor=(1.2, 2.0), mode="nearest")),  # 4 -> 4 is the identity
    ((1, 2, 4, 4), dict(scale_factor=(1.2, 2.0), mode="bilinear")),
    ((1, 2, 4, 6), dict(scale_factor=1.2, mode="bilinear")),  # 4 -> 4, 6 -> 7
    ((1, 2, 4), dict(scale_factor=1.2, mode="linear")),
    ((1, 2, 4, 4), dict(scale_factor=(1.1, 1.7), mode="bilinear", align_corners=True)),
    ((2, 1, 5), dict(scale_factor=2.1, mode="nearest")),  # 3-D: the scale (0 0 0 1 1 ...)
    ((1, 1, 3, 3), dict(scale_factor=1.25, mode="bicubic")),  # the scale
])
def test_interpolate_where_pytorch_takes_the_sizes_despite_a_scale(shape, kw):
    """PyTorch's CPU kernels ignore a scale factor for an axis that keeps its size (linear,
    bilinear; nearest on 4-D inputs) or doubles it (nearest, 4-D): values differed by up to 6
    (a review's sweep of 1,412 cases). Gradients too, where PyTorch's own are consistent."""
    x = distinct(shape)
    same(F.interpolate(ours(x, False), **kw), TF.interpolate(theirs(x, False), **kw))
    if kw["mode"] != "bicubic" and shape[2:] != (5,):  # PyTorch's backward is not the adjoint
        compare(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x])
    assert nerve.gradcheck(lambda t: F.interpolate(t, **kw),
                           [nerve.tensor(data(shape), dtype=nerve.float64)])


def test_interpolate_takes_numpy_scalars_as_pytorch():
    x = data((1, 1, 3, 3))
    for f in (np.int64(2), np.float32(1.5)):
        same(F.interpolate(ours(x, False), scale_factor=f),
             TF.interpolate(theirs(x, False), scale_factor=float(f)))
        assert nn.Upsample(scale_factor=f)(ours(x, False)).shape == \
            TF.interpolate(theirs(x, False), scale_factor=float(f)).shape
    with pytest.raises(ValueError, match="scale_factor"):
        F.interpolate(ours(x, False), scale_factor=True)


def test_interpolate_non_contiguous_empty_and_values():
    x = data((2, 3, 4, 6))
    compare(lambda t: F.interpolate(t.transpose(2, 3), scale_factor=(1.5, 2), mode="bilinear"),
            lambda t: TF.interpolate(t.transpose(2, 3), scale_factor=(1.5, 2),
                                     mode="bilinear"), [x])
    assert F.interpolate(nerve.zeros(0, 2, 3, 3), scale_factor=2).shape == (0, 2, 6, 6)
    y = F.interpolate(nerve.tensor([[[1.0, 2.0]]]), scale_factor=2)
    assert y.tolist() == [[[1.0, 1.0, 2.0, 2.0]]]
    inf = F.interpolate(nerve.tensor([[[1.0, math.inf, 3.0, 4.0]]]), size=8, mode="linear")
    ref = TF.interpolate(torch.tensor([[[1.0, math.inf, 3.0, 4.0]]]), size=8, mode="linear")
    np.testing.assert_array_equal(inf.numpy(), ref.numpy())  # NaN and inf where PyTorch's


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_upsample_layers_match_pytorch(record_op, dtype):
    x = data((2, 3, 4, 5), 2, dtype)
    pairs = [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
             (nn.Upsample(size=(7, 3), mode="bilinear", align_corners=True),
              torch.nn.Upsample(size=(7, 3), mode="bilinear", align_corners=True)),
             (nn.Upsample(scale_factor=(1.5, 0.7), mode="bicubic"),
              torch.nn.Upsample(scale_factor=(1.5, 0.7), mode="bicubic")),
             (nn.UpsamplingNearest2d(size=6), torch.nn.UpsamplingNearest2d(size=6)),
             (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(
                 scale_factor=2))]
    for m, t in pairs:
        assert repr(m) == repr(t)
        compare(m, t, [x], dtype)
    assert nn.UpsamplingBilinear2d(scale_factor=2).align_corners is True
    m = nn.Upsample(scale_factor=3, mode="linear")
    compare(m, torch.nn.Upsample(scale_factor=3, mode="linear"), [data((1, 2, 4), 0, dtype)],
            dtype)
    record_op("parity", "Upsample")


def test_interpolate_errors():
    x = nerve.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners=None with mode 'nearest'"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="'linear' needs a 3-D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(NotImplementedError, match="'bicubic' needs a 4-D input"):
        F.interpolate(nerve.randn(1, 2, 4), scale_factor=2, mode="bicubic")
    with pytest.raises(NotImplementedError, match="trilinear"):
        F.interpolate(x, scale_factor=2, mode="trilinear")
    with pytest.raises(NotImplementedError, match="antialias=True is not implemented"):
        F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="antialias=False with mode 'nearest'"):
        F.interpolate(x, scale_factor=0.5, antialias=True)
    with pytest.raises(NotImplementedError, match="5-D"):
        F.interpolate(nerve.randn(1, 1, 2, 2, 2), scale_factor=2)
    with pytest.raises(ValueError, match="3-D .* or 4-D"):
        F.interpolate(nerve.randn(2, 4), scale_factor=2)
    with pytest.raises(ValueError, match="recompute_scale_factor None or False"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="one of"):
        F.interpolate(x, size=3, mode="cubic")
    with pytest.raises(ValueError, match=r"size an int or 2 ints .*Received: size=\(3,\)"):
        F.interpolate(x, size=(3,))
    with pytest.raises(ValueError, match="output sizes greater than 0"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match="scale_factor a positive number"):
        F.interpolate(x, scale_factor=-2)
    with pytest.raises(ValueError, match=r"Upsample\(size=\(3, 3, 3\), mode='nearest'\): "
                                         r"expected size an int or 2 ints"):
        nn.Upsample(size=(3, 3, 3))(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="one of"):
        nn.Upsample(scale_factor=2, mode="bogus")
    with pytest.raises(ValueError, match="align_corners=None"):
        nn.Upsample(scale_factor=2, align_corners=False)
    with pytest.raises(TypeError, match="floating-point"):
        F.interpolate(nerve.tensor([[[1, 2]]]), scale_factor=2)


# --- adaptive max pooling -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,sizes", [
    ((2, 3, 7, 5), [(3, 2), 1, (10, 3), (None, 2)]),
    ((2, 3, 9), [4, 1, 12]), ((0, 2, 4, 4), [(2, 3)])])
def test_adaptive_max_pool_parity(record_op, dtype, shape, sizes):
    ours_fn = F.adaptive_max_pool1d if len(shape) == 3 else F.adaptive_max_pool2d
    torch_fn = TF.adaptive_max_pool1d if len(shape) == 3 else TF.adaptive_max_pool2d
    rng = np.random.default_rng(0)
    for size in sizes:
        for kind in ("random", "ties", "nan", "-inf"):
            x = data(shape, 1, dtype)
            if kind == "ties":
                x = rng.integers(0, 3, shape).astype(dtype)
            elif kind == "nan":
                x[rng.random(shape) < 0.2] = np.nan
            elif kind == "-inf":
                x[rng.random(shape) < 0.5] = -np.inf
            nx, tx = ours(x), theirs(x)
            (y, i), (ty, ti) = ours_fn(nx, size, True), torch_fn(tx, size, True)
            assert i.dtype == nerve.int64
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
            np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
            g = data(tuple(ty.shape), 2, dtype)
            y.backward(ours(g, False))
            ty.backward(theirs(g, False))
            same(nx.grad, tx.grad, dtype)
            assert isinstance(ours_fn(nx, size), nerve.Tensor)
    record_op("parity", ours_fn.__name__)


def test_adaptive_max_pool_gradcheck_and_layers(record_op):
    assert nerve.gradcheck(lambda x: F.adaptive_max_pool2d(x, (3, 2)),
                           [ours(distinct((2, 2, 7, 5)))])
    assert nerve.gradcheck(lambda x: F.adaptive_max_pool1d(x, 4), [ours(distinct((2, 2, 7)))])
    record_op("gradcheck", "adaptive_max_pool2d")
    record_op("gradcheck", "adaptive_max_pool1d")
    x = data((2, 3, 6, 7))
    for m, t in [(nn.AdaptiveMaxPool2d((2, None)), torch.nn.AdaptiveMaxPool2d((2, None))),
                 (nn.AdaptiveMaxPool2d(3, return_indices=True),
                  torch.nn.AdaptiveMaxPool2d(3, return_indices=True))]:
        assert repr(m) == repr(t)
        y, ty = m(ours(x)), t(theirs(x))
        if isinstance(ty, tuple):
            np.testing.assert_array_equal(y[1].numpy(), ty[1].numpy())
            y, ty = y[0], ty[0]
        same(y, ty)
    m = nn.AdaptiveMaxPool1d(2)
    same(m(ours(data((2, 3, 5)))), torch.nn.AdaptiveMaxPool1d(2)(theirs(data((2, 3, 5)))))
    record_op("parity", "AdaptiveMaxPool2d")


def test_adaptive_max_pool_errors():
    with pytest.raises(ValueError, match=r"AdaptiveMaxPool2d\(output_size=2\): expected a "
                                         r"4-D input"):
        nn.AdaptiveMaxPool2d(2)(nerve.randn(3, 4, 4))
    with pytest.raises(ValueError, match="non-empty"):
        F.adaptive_max_pool2d(nerve.zeros(1, 2, 0, 3), 2)
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveMaxPool1d(0)
    with pytest.raises(TypeError, match="True or False"):
        nn.AdaptiveMaxPool2d(2, return_indices=1)
    with pytest.raises(TypeError, match="floating-point"):
        F.adaptive_max_pool1d(nerve.tensor([[[1, 2, 3]]]), 2)


# --- pixel shuffle ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pixel_shuffle_parity_and_gradcheck(record_op, dtype):
    empty = F.pixel_shuffle(ours(data((0, 4, 2, 2), 0, dtype)), 2)  # PyTorch's backward fails
    assert empty.shape == (0, 1, 4, 4) and empty.dtype == ours(data(1, 0, dtype)).dtype
    for shape, r in [((2, 8, 3, 4), 2), ((2, 3, 18, 2, 3), 3), ((9, 1, 1), 3)]:
        compare(lambda x, r=r: F.pixel_shuffle(x, r), lambda x, r=r: TF.pixel_shuffle(x, r),
                [data(shape, 0, dtype)], dtype)
        up = tuple(shape[:-3]) + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
        compare(lambda x, r=r: F.pixel_unshuffle(x, r),
                lambda x, r=r: TF.pixel_unshuffle(x, r),
                [data(up, 1, dtype)], dtype)
        for m, t in [(nn.PixelShuffle(r), torch.nn.PixelShuffle(r))]:
            assert repr(m) == repr(t)
            same(m(ours(data(shape, 0, dtype))), t(theirs(data(shape, 0, dtype))), dtype)
        m, t = nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r)
        assert repr(m) == repr(t)
        same(m(ours(data(up, 1, dtype))), t(theirs(data(up, 1, dtype))), dtype)
    x = ours(data((1, 8, 2, 3)))
    assert nerve.gradcheck(lambda x: F.pixel_shuffle(x, 2), [x])
    assert nerve.gradcheck(lambda x: F.pixel_unshuffle(x, 2), [ours(data((1, 2, 4, 6)))])
    record_op("parity", "pixel_shuffle")
    record_op("parity", "pixel_unshuffle")
    record_op("gradcheck", "pixel_shuffle")
    record_op("gradcheck", "pixel_unshuffle")


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"PixelShuffle\(upscale_factor=2\): expected channels "
                                         r"divisible by upscale_factor \*\* 2 = 4"):
        nn.PixelShuffle(2)(nerve.randn(1, 6, 2, 2))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        F.pixel_shuffle(nerve.randn(4, 2), 2)
    with pytest.raises(ValueError, match=r"PixelUnshuffle\(downscale_factor=2\): expected "
                                         r"height and width divisible"):
        nn.PixelUnshuffle(2)(nerve.randn(1, 1, 4, 3))
    with pytest.raises(ValueError, match="upscale_factor"):
        nn.PixelShuffle(0)


# --- Fold and Unfold ----------------------------------------------------------------------------
FOLDS = [dict(kernel_size=2), dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
         dict(kernel_size=3, padding=(0, 2), stride=3), dict(kernel_size=1)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", FOLDS)
def test_fold_unfold_parity(record_op, dtype, kw):
    x = data((2, 3, 7, 6), 0, dtype)
    compare(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x], dtype)
    compare(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x[0]], dtype)
    cols = TF.unfold(theirs(x, False), **kw)
    c = data(tuple(cols.shape), 1, dtype)
    compare(lambda t: F.fold(t, (7, 6), **kw), lambda t: TF.fold(t, (7, 6), **kw), [c], dtype)
    compare(lambda t: F.fold(t, (7, 6), **kw), lambda t: TF.fold(t, (7, 6), **kw), [c[1]],
            dtype)
    m, t = nn.Unfold(**kw), torch.nn.Unfold(**kw)
    assert repr(m) == repr(t)
    same(m(ours(x)), t(theirs(x)), dtype)
    m, t = nn.Fold((7, 6), **kw), torch.nn.Fold((7, 6), **kw)
    assert repr(m) == repr(t)
    same(m(ours(c)), t(theirs(c)), dtype)
    record_op("parity", "unfold")
    record_op("parity", "fold")


def test_fold_unfold_gradcheck(record_op):
    kw = FOLDS[1]
    assert nerve.gradcheck(lambda t: F.unfold(t, **kw), [ours(data((1, 2, 5, 4)))])
    n = F.unfold(nerve.zeros(1, 2, 5, 4), **kw).shape
    assert nerve.gradcheck(lambda t: F.fold(t, (5, 4), **kw), [ours(data(n))])
    record_op("gradcheck", "unfold")
    record_op("gradcheck", "fold")


def test_fold_unfold_errors():
    with pytest.raises(ValueError, match=r"Unfold\(kernel_size=2, .*\): expected a 3-D"):
        nn.Unfold(2)(nerve.randn(2, 3))
    with pytest.raises(ValueError, match="at least one sliding block"):
        F.unfold(nerve.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"Fold\(output_size=\(4, 4\).*divisible by the "
                                         r"kernel's size 2 \* 2"):
        nn.Fold((4, 4), 2)(nerve.randn(1, 6, 9))
    with pytest.raises(ValueError, match=r"input.shape\[-1\] == 3 \* 3.*Received: "
                                         r"input.shape=\(1, 8, 8\)"):
        F.fold(nerve.randn(1, 8, 8), (4, 4), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Unfold(0)
    with pytest.raises(TypeError, match="output_size"):
        nn.Fold("4", 2)


# --- save and load ------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    nerve.manual_seed(0)
    model = nn.Sequential(
        nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=True),
        nn.AdaptiveMaxPool2d((3, None)), nn.PixelShuffle(2), nn.PixelUnshuffle(2),
        nn.Unfold(2), nn.Fold((3, 15), 2), nn.UpsamplingNearest2d(size=(4, 4)),
        nn.UpsamplingBilinear2d(scale_factor=2), nn.ConvTranspose2d(4, 2, 1, bias=False))
    seq = nn.Sequential(nn.ConvTranspose1d(2, 4, 3, stride=2), nn.Upsample(size=7, mode="linear"),
                        nn.AdaptiveMaxPool1d(3))
    for m, x in [(model, nerve.randn(2, 2, 5, 5)), (seq, nerve.randn(2, 2, 5))]:
        nerve.save(m, tmp_path / "m.safetensors")
        loaded = nerve.load(tmp_path / "m.safetensors")
        assert repr(loaded) == repr(m)
        np.testing.assert_array_equal(loaded(x).detach().numpy(), m(x).detach().numpy())
