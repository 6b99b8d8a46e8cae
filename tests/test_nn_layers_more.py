"""GroupNorm, InstanceNorm1d/2d, PReLU, ParameterList and ParameterDict: parity with PyTorch
(outputs, input and parameter gradients, running statistics over training steps, eval outputs,
state_dict keys, through copied state_dicts), gradients against finite differences, float32
accuracy on a large mean, save/load, and the errors for bad input."""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import nerve
from nerve import io, nn
from nerve.autograd import Tensor
from nerve.nn.activation import prelu
from nerve.nn.normalization import group_norm, instance_norm


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rand(shape, seed=0, dtype=np.float64, loc=0.0, scale=1.0):
    return (loc + scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def close(got, expected, what, dtype=np.float64):
    """``got`` (ours, of ``dtype``) against ``expected`` (PyTorch's, computed in float64 on the
    same values: PyTorch's own float32 results are further from it than ours on inputs with
    two values a group)."""
    got = got._data if isinstance(got, Tensor) else np.asarray(got)
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {np.dtype(dtype)}"
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)


def t64(a) -> Tensor:
    return Tensor(a, dtype=nerve.float64)


def copy_state(ours, ref, dtype=np.float64):
    """Randomise the (float64) reference's floating parameters with values of ``dtype``, then
    copy its whole state into ours."""
    import torch

    with torch.no_grad():
        for i, p in enumerate(ref.parameters()):
            p.copy_(torch.tensor(rand(tuple(p.shape), seed=100 + i, scale=0.5, loc=1.0,
                                      dtype=dtype).astype(np.float64)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def step(ours, ref, x, seed, dtype, what):
    """One forward and backward of both with the same input and upstream gradient (of
    ``dtype``; the reference in float64); compare the outputs, the input gradients and every
    parameter gradient."""
    import torch

    g = rand(x.shape, seed=seed, dtype=dtype)
    xo = Tensor(x, dtype=x.dtype, requires_grad=True)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yo, yt = ours(xo), ref(xt)
    close(yo, yt, f"{what}: output", dtype)
    for p in ours.parameters():
        p.grad = None
    ref.zero_grad()
    yo.backward(Tensor(g, dtype=g.dtype))
    yt.backward(torch.tensor(g.astype(np.float64)))
    close(xo.grad, xt.grad, f"{what}: input gradient", dtype)
    named = dict(ref.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(named)
    for name, p in ours.named_parameters():
        close(p.grad, named[name].grad, f"{what}: gradient of {name}", dtype)


def same_state(ours, ref, what, dtype):
    state = ref.state_dict()
    assert list(ours.state_dict()) == list(state), what
    for k, v in ours.state_dict().items():
        if v.dtype.kind == "f":
            close(v, state[k], f"{what}: {k}", dtype)
        else:
            assert int(v) == int(state[k]), f"{what}: {k}"


# --- GroupNorm ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,groups", [((4, 6), 3), ((3, 6, 5), 2), ((2, 6, 4, 3), 1),
                                          ((2, 6, 4, 3), 6), ((2, 4, 2, 3, 2), 2)])
@pytest.mark.parametrize("options", [{}, {"affine": False}, {"bias": False}, {"eps": 0.1}])
def test_group_norm_matches_torch(torch, record_op, dtype, shape, groups, options):
    c = shape[1]
    ours = nn.GroupNorm(groups, c, dtype=nerve.float64 if dtype == np.float64 else None,
                        **options)
    ref = torch.nn.GroupNorm(groups, c, dtype=torch.float64, **options)
    copy_state(ours, ref, dtype)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)
    for i in range(2):
        step(ours, ref, rand(shape, seed=i, dtype=dtype, loc=i), 10 + i, dtype, f"train {i}")
    ours.eval()
    ref.eval()
    step(ours, ref, rand(shape, seed=5, dtype=dtype), 15, dtype, "eval")
    record_op("parity", "GroupNorm")


def test_group_norm_float32_large_mean(torch):
    """A spread of 0.01 on a mean of 1e4 in float32: E[x^2] - E[x]^2 would lose it all (the
    squares are 1e8, float32 keeps 7 digits); the mean of squared deviations keeps it."""
    x = rand((3, 4, 50), seed=3, dtype=np.float32, loc=1e4, scale=0.01)
    exact = torch.nn.functional.group_norm(torch.tensor(x, dtype=torch.float64), 2).numpy()
    got = nn.GroupNorm(2, 4, affine=False)(nerve.tensor(x))._data
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, exact, atol=2e-2)
    got = group_norm(nerve.tensor(x), 4)._data  # one channel a group: instance norm
    exact = torch.nn.functional.group_norm(torch.tensor(x, dtype=torch.float64), 4).numpy()
    np.testing.assert_allclose(got, exact, atol=2e-2)


def test_group_norm_functional_and_gradcheck(torch, record_op):
    x = rand((3, 6, 4), seed=1)
    w, b = rand((6,), seed=2), rand((6,), seed=3)
    got = group_norm(t64(x), 3, t64(w), t64(b), eps=1e-3)
    close(got, torch.nn.functional.group_norm(torch.tensor(x), 3, torch.tensor(w),
                                              torch.tensor(b), eps=1e-3), "group_norm")
    assert nerve.gradcheck(lambda x, w, b: group_norm(x, 2, w, b), [t64(x), t64(w), t64(b)])
    assert nerve.gradcheck(lambda x: group_norm(x, 3), [t64(x)])
    record_op("gradcheck", "group_norm")
    record_op("parity", "group_norm")


def test_group_norm_empty_batch(torch):
    y = nn.GroupNorm(2, 4)(nerve.zeros(0, 4, 3))
    assert y.shape == tuple(torch.nn.GroupNorm(2, 4)(torch.zeros(0, 4, 3)).shape)


def test_group_norm_errors():
    with pytest.raises(ValueError, match=re.escape("GroupNorm: expected num_channels "
                                                   "divisible by num_groups=4")):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="positive integer"):
        nn.GroupNorm(0, 6)
    with pytest.raises(TypeError, match="True or False"):
        nn.GroupNorm(2, 6, affine=1)
    m = nn.GroupNorm(2, 6)
    with pytest.raises(ValueError, match=re.escape(r"an input of shape (N, 6, *)")):
        m(nerve.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=re.escape("input.shape=(6,)")):
        m(nerve.zeros(6))
    with pytest.raises(TypeError, match="the layer's dtype float32"):
        m(nerve.zeros(2, 6, dtype=nerve.float64))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.GroupNorm(2, 2)(nerve.zeros(1, 2))  # PyTorch's check
    with pytest.raises(ValueError, match=re.escape("divisible by num_groups=4")):
        group_norm(nerve.zeros(2, 6), 4)
    with pytest.raises(ValueError, match=re.escape("weight of shape (6,)")):
        group_norm(nerve.zeros(2, 6), 2, nerve.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        group_norm(nerve.tensor([[1, 2], [3, 4]]), 1)


# --- InstanceNorm ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,shape", [("1d", (3, 4, 7)), ("2d", (3, 4, 5, 3))])
@pytest.mark.parametrize("options", [{}, {"affine": True}, {"track_running_stats": True},
                                     {"affine": True, "track_running_stats": True,
                                      "momentum": 0.3},
                                     {"track_running_stats": True, "momentum": None},
                                     {"affine": True, "bias": False, "eps": 0.01}])
def test_instance_norm_matches_torch(torch, record_op, dtype, kind, shape, options):
    cls, ref_cls = ((nn.InstanceNorm1d, torch.nn.InstanceNorm1d) if kind == "1d"
                    else (nn.InstanceNorm2d, torch.nn.InstanceNorm2d))
    ours = cls(4, dtype=nerve.float64 if dtype == np.float64 else None, **options)
    ref = ref_cls(4, dtype=torch.float64, **options)
    copy_state(ours, ref, dtype)
    assert repr(ours) == repr(ref)
    for i in range(3):  # training: each sample's statistics; the running ones updated
        x = rand(shape, seed=i, dtype=dtype, loc=i - 1.0, scale=1.0 + i)
        step(ours, ref, x, 10 + i, dtype, f"train {i}")
        same_state(ours, ref, f"state after step {i}", dtype)
    step(ours, ref, rand(shape[1:], seed=7, dtype=dtype), 17, dtype, "unbatched")
    ours.eval()
    ref.eval()
    step(ours, ref, rand(shape, seed=8, dtype=dtype, loc=0.5), 18, dtype, "eval")
    step(ours, ref, rand(shape[1:], seed=9, dtype=dtype), 19, dtype, "eval unbatched")
    same_state(ours, ref, "state after eval", dtype)
    record_op("parity", f"InstanceNorm{kind}")


def test_instance_norm_running_stats_move(torch):
    """The running statistics do change (a test of them is not comparing two zeros)."""
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    m(nerve.tensor(rand((4, 2, 6), loc=3.0, scale=2.0), dtype=nerve.float32))
    assert np.all(m.running_mean._data > 0.1) and np.all(m.running_var._data > 1.05)
    assert int(m.num_batches_tracked._data) == 0  # as PyTorch's: never counted


def test_instance_norm_functional_and_gradcheck(torch, record_op):
    x, w, b = t64(rand((2, 3, 5), seed=1)), t64(rand((3,), seed=2)), t64(rand((3,), seed=3))
    rm, rv = rand((3,), seed=4), 1.0 + rand((3,), seed=5) ** 2
    t = lambda a: torch.tensor(np.array(a._data if isinstance(a, Tensor) else a))  # noqa: E731
    ours_rm, ours_rv, ref_rm, ref_rv = rm.copy(), rv.copy(), t(rm), t(rv)
    got = instance_norm(x, ours_rm, ours_rv, w, b, momentum=0.2)
    expected = torch.nn.functional.instance_norm(t(x), ref_rm, ref_rv, t(w), t(b),
                                                 momentum=0.2)
    close(got, expected, "instance_norm")
    close(ours_rm, ref_rm, "running_mean")
    close(ours_rv, ref_rv, "running_var")
    got = instance_norm(x, rm, rv, w, b, use_input_stats=False)
    expected = torch.nn.functional.instance_norm(t(x), t(rm), t(rv), t(w), t(b),
                                                 use_input_stats=False)
    close(got, expected, "instance_norm with the running statistics")
    for use in (True, False):
        assert nerve.gradcheck(lambda x, w, b, use=use: instance_norm(
            x, rm.copy(), rv.copy(), w, b, use_input_stats=use), [x, w, b])
    record_op("gradcheck", "instance_norm")
    record_op("parity", "instance_norm")


def test_instance_norm_float32_large_mean(torch):
    x = rand((2, 3, 40), seed=3, dtype=np.float32, loc=1e4, scale=0.01)
    m = nn.InstanceNorm1d(3, track_running_stats=True, momentum=1.0)
    got = m(nerve.tensor(x))._data
    x64 = torch.tensor(x, dtype=torch.float64)
    exact = torch.nn.functional.instance_norm(x64).numpy()
    np.testing.assert_allclose(got, exact, atol=2e-2)
    var = x64.var(dim=2, unbiased=True).mean(0).numpy()
    np.testing.assert_allclose(m.running_var._data, var, rtol=1e-2)


def test_instance_norm_errors():
    m = nn.InstanceNorm1d(3)
    with pytest.raises(ValueError, match=re.escape("(N, 3, L) or (3, L)")):
        m(nerve.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        m(nerve.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        m.eval()(nerve.zeros(2, 3, 1))  # no running statistics: each sample's, as PyTorch
    with pytest.raises(ValueError, match=re.escape("(N, 3, H, W) or (3, H, W)")):
        nn.InstanceNorm2d(3)(nerve.zeros(3, 4))
    for options in ({"affine": True}, {"track_running_stats": True}):
        with pytest.raises(ValueError, match="an input of 3 channels at dim=1"):
            nn.InstanceNorm1d(3, **options)(nerve.zeros(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        y = nn.InstanceNorm1d(3)(nerve.tensor(rand((2, 4, 5)), dtype=nerve.float32))
    assert y.shape == (2, 4, 5)
    with pytest.raises(TypeError, match="the layer's dtype float32"):
        nn.InstanceNorm1d(3, affine=True)(nerve.zeros(2, 3, 4, dtype=nerve.float64))
    with pytest.raises(ValueError, match="running_mean and running_var"):
        instance_norm(nerve.zeros(2, 3, 4), use_input_stats=False)
    with pytest.raises(ValueError, match=re.escape("running_mean of shape (3,)")):
        instance_norm(nerve.zeros(2, 3, 4), nerve.zeros(4))
    with pytest.raises(ValueError, match="momentum"):
        nn.InstanceNorm2d(3, momentum=2.0)


def test_instance_norm_without_warning_when_channels_match():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.InstanceNorm2d(3)(nerve.zeros(2, 3, 2, 2))


# --- PReLU -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,shape", [(1, (7,)), (1, (4, 3)), (1, (2, 3, 5)), (3, (4, 3)),
                                     (3, (2, 3, 5)), (3, (2, 3, 4, 4))])
def test_prelu_matches_torch(torch, record_op, dtype, n, shape):
    ours = nn.PReLU(n, dtype=nerve.float64 if dtype == np.float64 else None)
    ref = torch.nn.PReLU(n, dtype=torch.float64)
    assert repr(ours) == repr(ref)
    same_state(ours, ref, "initial weight", dtype)
    copy_state(ours, ref, dtype)
    x = rand(shape, seed=1, dtype=dtype)
    x.reshape(-1)[::3] = 0.0  # the kink: the slope's side, as PyTorch
    step(ours, ref, x, 2, dtype, "PReLU")
    record_op("parity", "PReLU")


def test_prelu_init_and_functional(torch, record_op):
    m = nn.PReLU(2, init=-0.5)
    assert np.all(m.weight._data == -0.5) and m.init == -0.5
    m.weight._data[:] = 3.0
    m.reset_parameters()
    assert np.all(m.weight._data == -0.5)
    x, w = rand((3, 2, 4), seed=4), np.array([0.1, -0.7])
    close(prelu(t64(x), t64(w)),
          torch.nn.functional.prelu(torch.tensor(x), torch.tensor(w)), "prelu")
    assert nerve.gradcheck(prelu, [t64(x + 0.05), t64(w)])  # (kept off the kink at 0)
    record_op("gradcheck", "prelu")
    record_op("parity", "prelu")


def test_prelu_errors():
    with pytest.raises(ValueError, match="zero-dim"):
        nn.PReLU()(nerve.tensor(1.0))
    with pytest.raises(ValueError, match=re.escape("weight of shape (1,) or (4,)")):
        nn.PReLU(3)(nerve.zeros(2, 4))
    with pytest.raises(ValueError, match=re.escape("weight of shape (1,) or (1,)")):
        nn.PReLU(3)(nerve.zeros(3))  # a 1-D input has one channel, as in PyTorch
    with pytest.raises(TypeError, match="the layer's dtype float32"):
        nn.PReLU()(nerve.zeros(2, dtype=nerve.float64))
    with pytest.raises(TypeError, match="the input's dtype float64"):
        prelu(nerve.zeros(2, dtype=nerve.float64), nerve.ones(1))
    with pytest.raises(ValueError, match="positive integer"):
        nn.PReLU(0)
    with pytest.raises(TypeError, match="a number"):
        nn.PReLU(1, init="0.25")


# --- ParameterList and ParameterDict -----------------------------------------------------------
class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.scales = nn.ParameterList([nn.Parameter(nerve.ones(3)),
                                        nn.Parameter(nerve.zeros(2, 3))])
        self.gains = nn.ParameterDict({"right": nn.Parameter(nerve.ones(3)),
                                       "left": nn.Parameter(nerve.zeros(3))})

    def forward(self, x):
        y = x * self.scales[0] + (x @ self.scales[1].T).sum()
        return (y * self.gains["left"] + self.gains["right"]).sum()


def test_parameter_containers_match_torch_and_train(torch):
    class TorchHolder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            P = torch.nn.Parameter  # noqa: N806
            self.scales = torch.nn.ParameterList([P(torch.ones(3)), P(torch.zeros(2, 3))])
            self.gains = torch.nn.ParameterDict({"right": P(torch.ones(3)),
                                                 "left": P(torch.zeros(3))})

        forward = Holder.forward

    ours, ref = Holder(), TorchHolder()
    assert list(ours.state_dict()) == list(ref.state_dict()) == [
        "scales.0", "scales.1", "gains.left", "gains.right"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    with torch.no_grad():
        for i, p in enumerate(ref.parameters()):
            p.copy_(torch.tensor(rand(tuple(p.shape), seed=i)))
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    opt = nerve.optim.SGD(ours.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    x = rand((4, 3), seed=9, dtype=np.float32)
    for _ in range(3):
        opt.zero_grad()
        ref_opt.zero_grad()
        ours(nerve.tensor(x)).backward()
        ref(torch.tensor(x)).backward()
        opt.step()
        ref_opt.step()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, ref.state_dict()[k].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    assert not np.allclose(ours.state_dict()["gains.left"], 0)


def test_parameter_list_api(torch):
    a, b, c = nn.Parameter(nerve.ones(2)), nn.Parameter(nerve.zeros(3)), nerve.ones(1)
    pl = nn.ParameterList([a, b])
    assert len(pl) == 2 and pl[0] is a and pl[-1] is b and list(pl) == [a, b]
    pl.append(c)
    assert isinstance(pl[2], nn.Parameter) and pl[2].requires_grad and len(pl) == 3
    c._data[0] = 7.0  # the Parameter made from a Tensor shares its memory, as PyTorch's
    assert float(pl[2]._data[0]) == 7.0
    pl.extend([nerve.zeros(4)])
    pl += [nn.Parameter(nerve.ones(5))]
    assert [tuple(p.shape) for p in pl] == [(2,), (3,), (1,), (4,), (5,)]
    assert list(pl.state_dict()) == ["0", "1", "2", "3", "4"]
    d = nn.Parameter(nerve.full((3,), 2.0))
    pl[1] = d
    assert pl[1] is d and list(pl.state_dict()) == ["0", "1", "2", "3", "4"]
    assert [p for p in pl.parameters()] == list(pl)
    part = pl[1:3]
    assert isinstance(part, nn.ParameterList) and list(part) == [pl[1], pl[2]]
    ref = torch.nn.ParameterList([torch.ones(2), torch.zeros(3)])
    assert re.sub("torch", "nerve", repr(ref)).replace("    ", "  ") == repr(
        nn.ParameterList([nerve.ones(2), nerve.zeros(3)]))
    pl.load_state_dict({k: np.full(v.shape, 3.0) for k, v in pl.state_dict().items()})
    assert all(np.all(p._data == 3.0) for p in pl)


def test_parameter_list_errors():
    pl = nn.ParameterList([nerve.ones(2)])
    with pytest.raises(IndexError, match=re.escape("an index in [-1, 0]")):
        pl[1]
    with pytest.raises(TypeError, match="a Parameter or a Tensor"):
        pl.append([1.0, 2.0])
    with pytest.raises(TypeError, match="a Parameter or a Tensor"):
        pl.extend([nerve.ones(1), "w"])
    assert len(pl) == 1  # checked before anything is added
    with pytest.raises(TypeError, match="floating-point"):
        pl.append(nerve.tensor([1, 2]))
    with pytest.raises(TypeError, match="an iterable"):
        nn.ParameterList(nerve.ones(3))
    with pytest.raises(NotImplementedError, match="ParameterList defines no forward"):
        pl(nerve.ones(2))


def test_parameter_dict_api(torch):
    pd = nn.ParameterDict({"b": nerve.ones(2), "a": nerve.zeros(3)})
    ref = torch.nn.ParameterDict({"b": torch.ones(2), "a": torch.zeros(3)})
    assert list(pd) == list(ref) == ["a", "b"]  # a dict's keys sorted, as PyTorch
    assert list(pd.state_dict()) == list(ref.state_dict())
    od = OrderedDict([("z", nerve.ones(1)), ("y", nerve.ones(1))])
    assert list(nn.ParameterDict(od)) == list(torch.nn.ParameterDict(
        OrderedDict([("z", torch.ones(1)), ("y", torch.ones(1))])))
    assert list(nn.ParameterDict([("q", nerve.ones(1)), ("p", nerve.ones(1))])) == ["q", "p"]
    assert "a" in pd and "c" not in pd and len(pd) == 2
    assert isinstance(pd["a"], nn.Parameter) and pd["a"].requires_grad
    p = nn.Parameter(nerve.ones(4))
    pd["c"] = p
    assert pd["c"] is p and list(pd.keys()) == ["a", "b", "c"]
    assert list(pd.values()) == [pd["a"], pd["b"], p]
    assert [k for k, _ in pd.items()] == ["a", "b", "c"]
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    pd.update({"d": nerve.ones(1)})
    assert pd.get("d") is pd["d"] and pd.get("x") is None
    assert pd.pop("d") is not None and "d" not in pd
    del pd["b"]
    assert list(pd) == ["a", "c"] and list(pd.state_dict()) == ["a", "c"]
    assert pd.setdefault("e", nerve.zeros(2)) is pd["e"]
    assert list(reversed(pd)) == ["e", "c", "a"]
    copy = pd.copy()
    assert list(copy) == list(pd) and copy["a"] is pd["a"]
    pd.clear()
    assert len(pd) == 0 and list(pd.state_dict()) == [] and list(pd.parameters()) == []


def test_parameter_dict_errors():
    pd = nn.ParameterDict()
    with pytest.raises(TypeError, match="a str key"):
        pd[1] = nerve.ones(1)
    with pytest.raises(ValueError, match="without '.'"):
        pd["a.b"] = nerve.ones(1)
    with pytest.raises(ValueError, match="not an attribute of ParameterDict"):
        pd["keys"] = nerve.ones(1)
    with pytest.raises(TypeError, match="a Parameter or a Tensor"):
        pd["w"] = 1.0
    with pytest.raises(TypeError, match="a Parameter or a Tensor"):
        pd.update({"a": nerve.ones(1), "b": None})
    assert len(pd) == 0  # checked before anything is added
    with pytest.raises(TypeError, match=re.escape("(key, value) pairs")):
        pd.update([("a", nerve.ones(1), 3)])
    with pytest.raises(KeyError):
        del pd["missing"]


# --- save and load -----------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.GroupNorm(2, 4), nn.PReLU(4),
                          nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                          nn.InstanceNorm2d(4), nn.GroupNorm(1, 4, affine=False), nn.PReLU(),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
                          nn.InstanceNorm1d(3, momentum=None, bias=False, affine=True))
    with nerve.no_grad():
        for p in model.parameters():
            p.copy_(nerve.tensor(rand(tuple(p.shape), seed=p.numel(), dtype=np.float32)))
    x = nerve.tensor(rand((3, 2, 6, 6), seed=1, dtype=np.float32))
    model(x)  # moves the running statistics
    model.eval()
    arch = io.describe(model)
    shapes = io.expected_shapes(arch)
    assert shapes == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    path = tmp_path / "model.safetensors"
    nerve.save(model, path)
    loaded = nerve.load(path)
    assert repr(loaded) == repr(model) and not loaded.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v, err_msg=k)
    np.testing.assert_array_equal(loaded(x)._data, model(x)._data)


def test_save_model_with_parameter_containers(tmp_path):
    """A model of its own class holding them is saved as weights; its architecture cannot be
    written (ParameterList holds tensors, not arguments), so nerve.load names the class and
    load_weights restores them into a model built again."""
    model = Holder()
    with nerve.no_grad():
        for p in model.parameters():
            p.copy_(nerve.tensor(rand(tuple(p.shape), seed=p.numel(), dtype=np.float32)))
    path = tmp_path / "holder.safetensors"
    nerve.save(model, path)
    with pytest.raises(ValueError, match="the saved Holder is not a Sequential"):
        nerve.load(path)
    again = Holder()
    io.load_weights(again, path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v, err_msg=k)
    assert io.describe(nn.ParameterList([nerve.ones(1)])) is None
