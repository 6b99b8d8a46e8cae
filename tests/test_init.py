"""nerve.nn.init: PyTorch's formulas for bounds and standard deviations, checked statistically on
large seeded tensors (loose tolerances), plus calculate_gain and the argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import init
from nerve.nn.parameter import Parameter


def big(shape=(400, 500), seed=0) -> Parameter:
    nerve.manual_seed(seed)
    return Parameter(np.zeros(shape))


def test_init_normal_standard_by_default():
    w = init.normal_(big()).detach().numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    assert abs((np.abs(w) < 1).mean() - 0.6827) < 0.01  # a normal's shape, not a uniform's


def test_init_normal_mean_and_std():
    w = init.normal_(big(), mean=2.0, std=0.5).detach().numpy()
    assert abs(w.mean() - 2) < 0.01 and abs(w.std() - 0.5) < 0.01


@pytest.mark.parametrize("fill, value", [(init.zeros_, 0.0), (init.ones_, 1.0),
                                         (lambda t: init.constant_(t, 0.25), 0.25)])
def test_init_constant_fills(fill, value):
    t = init.normal_(big((3, 4)))
    fill(t)
    np.testing.assert_array_equal(t.detach().numpy(), np.full((3, 4), value, np.float32))


def test_init_uniform_bounds():
    w = init.uniform_(big(), -2.0, 3.0).detach().numpy()
    assert w.min() >= -2 and w.max() <= 3
    assert abs(w.mean() - 0.5) < 0.02 and abs(w.std() - 5 / math.sqrt(12)) < 0.02


def test_init_in_place_keeps_array_and_dtype():
    t = big((30, 20))
    array = t.detach().numpy()
    for fill in (init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.zeros_):
        assert fill(t) is t
        assert t.detach().numpy() is array and t.dtype == np.float32


def test_init_seeded_repeats():
    a = init.xavier_normal_(big((10, 10), seed=3)).detach().numpy().copy()
    b = init.xavier_normal_(big((10, 10), seed=3)).detach().numpy()
    np.testing.assert_array_equal(a, b)


def check_uniform(w: np.ndarray, bound: float) -> None:
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound


def check_normal(w: np.ndarray, std: float) -> None:
    assert abs(w.mean()) < 0.03 * std
    assert abs(w.std() - std) < 0.02 * std


# shape, fan_in, fan_out (convolution weights multiply by the kernel size)
SHAPES = [((400, 500), 500, 400), ((128, 16, 3, 3), 144, 1152), ((128, 32, 5), 160, 640)]


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
@pytest.mark.parametrize("shape, fan_in, fan_out", SHAPES)
def test_init_xavier_uniform_bound(shape, fan_in, fan_out, gain):
    w = init.xavier_uniform_(big(shape), gain=gain).detach().numpy()
    check_uniform(w, gain * math.sqrt(6 / (fan_in + fan_out)))


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
@pytest.mark.parametrize("shape, fan_in, fan_out", SHAPES)
def test_init_xavier_normal_std(shape, fan_in, fan_out, gain):
    w = init.xavier_normal_(big(shape), gain=gain).detach().numpy()
    check_normal(w, gain * math.sqrt(2 / (fan_in + fan_out)))


KAIMING = [  # keyword arguments, expected gain, which fan
    ({}, math.sqrt(2.0), "in"),  # a=0 with leaky_relu is ReLU's gain
    ({"nonlinearity": "relu"}, math.sqrt(2.0), "in"),
    ({"a": math.sqrt(5)}, math.sqrt(1 / 3), "in"),  # Linear's default: U(+-1/sqrt(fan_in))
    ({"a": 0.2, "mode": "fan_out"}, math.sqrt(2 / 1.04), "out"),
    ({"nonlinearity": "tanh", "mode": "fan_out"}, 5 / 3, "out"),
]


@pytest.mark.parametrize("kwargs, gain, fan", KAIMING)
@pytest.mark.parametrize("shape, fan_in, fan_out", SHAPES)
def test_init_kaiming_uniform_bound(shape, fan_in, fan_out, kwargs, gain, fan):
    w = init.kaiming_uniform_(big(shape), **kwargs).detach().numpy()
    check_uniform(w, gain * math.sqrt(3 / (fan_in if fan == "in" else fan_out)))


@pytest.mark.parametrize("kwargs, gain, fan", KAIMING)
@pytest.mark.parametrize("shape, fan_in, fan_out", SHAPES)
def test_init_kaiming_normal_std(shape, fan_in, fan_out, kwargs, gain, fan):
    w = init.kaiming_normal_(big(shape), **kwargs).detach().numpy()
    check_normal(w, gain / math.sqrt(fan_in if fan == "in" else fan_out))


@pytest.mark.parametrize("fill", [init.xavier_uniform_, init.xavier_normal_,
                                  init.kaiming_uniform_, init.kaiming_normal_])
def test_init_fans_need_two_dims(fill):
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        fill(big((5,)))


@pytest.mark.parametrize("fill", [init.kaiming_uniform_, init.kaiming_normal_])
def test_init_kaiming_bad_mode_raises(fill):
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        fill(big((3, 3)), mode="fan_avg")


GAINS = [("linear", None, 1.0), ("identity", None, 1.0), ("sigmoid", None, 1.0),
         ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
         ("conv_transpose2d", None, 1.0), ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
         ("selu", None, 0.75), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
         ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", 0, math.sqrt(2))]


@pytest.mark.parametrize("name, param, gain", GAINS)
def test_init_calculate_gain(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain, rel=1e-12)


@pytest.mark.parametrize("name, param, gain", [g for g in GAINS if g[0] != "identity"])
def test_init_calculate_gain_matches_torch(name, param, gain):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-7)


def test_init_calculate_gain_unknown_raises():
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'; valid: .*'relu'"):
        init.calculate_gain("swish")


def test_init_seed_scheme_for_a_linear_layer():
    """The seed's scheme: standard-normal weights and zero biases."""
    nerve.manual_seed(0)
    layer = nn.Linear(300, 400)
    init.normal_(layer.weight)
    init.zeros_(layer.bias)
    assert abs(layer.weight.detach().numpy().std() - 1) < 0.01
    assert not layer.bias.detach().numpy().any()
