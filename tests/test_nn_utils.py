"""nn.utils: gradient clipping (against torch) and flat parameter vectors."""

import math

import numpy as np
import pytest

import nerve
from nerve.nn.parameter import Parameter
from nerve.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)


def params_with_grads(scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (), (2, 2, 2)]
    params = [Parameter(rng.normal(size=s).astype(np.float32)) for s in shapes]
    for p in params:
        p.grad = np.asarray(scale * rng.normal(size=p.shape), dtype=np.float32)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    params = params_with_grads()
    tparams = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    for t, p in zip(tparams, params):
        t.grad = torch.tensor(p.grad.numpy())
    old = [p.grad.numpy() for p in params]
    copies = [g.copy() for g in old]
    total = clip_grad_norm_(params, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert total.dtype == np.float32
    for p, t in zip(params, tparams):
        assert isinstance(p.grad, nerve.Tensor) and p.grad.shape == p.shape
        np.testing.assert_allclose(p.grad.numpy(), t.grad.detach().numpy(), rtol=1e-5, atol=1e-7)
    for g, c in zip(old, copies):
        np.testing.assert_array_equal(g, c)  # the old arrays were not changed in place


def test_clip_grad_norm_skips_missing_grads_and_handles_none():
    a, b = Parameter(np.ones(2, np.float32)), Parameter(np.ones(2, np.float32))
    a.grad = np.array([3.0, 4.0], np.float32)
    assert clip_grad_norm_([a, b], 1.0).item() == pytest.approx(5.0)
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert clip_grad_norm_([b], 1.0).item() == 0.0
    assert clip_grad_norm_(a, 10.0).item() == pytest.approx(1.0, rel=1e-5)  # a single tensor


def test_clip_grad_norm_nonfinite():
    a = Parameter(np.ones(2, np.float32))
    a.grad = np.array([np.inf, 1.0], np.float32)
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("kwargs, arg", [({"max_norm": -1.0}, "max_norm"),
                                         ({"max_norm": 1.0, "norm_type": 0}, "norm_type")])
def test_clip_grad_norm_invalid_argument_raises(kwargs, arg):
    with pytest.raises(ValueError, match=f"clip_grad_norm_: expected {arg} .*Received: {arg}="):
        clip_grad_norm_(params_with_grads(), **kwargs)


def test_clip_grad_value_clips_into_a_new_array():
    params = params_with_grads(scale=3.0)
    old = [p.grad.numpy().copy() for p in params]
    shared = params[0].grad.numpy()
    clip_grad_value_(params, 1.5)
    for p, g in zip(params, old):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.5, 1.5))
        assert isinstance(p.grad, nerve.Tensor)
    np.testing.assert_array_equal(shared, old[0])
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(params, -1)


def test_parameters_to_vector_round_trip():
    params = params_with_grads()
    arrays = [p.detach().numpy() for p in params]
    vec = parameters_to_vector(params)
    assert vec.shape == (12 + 4 + 1 + 8,)
    vector_to_parameters(vec * 2, params)
    for p, a in zip(params, arrays):
        assert p.detach().numpy() is a  # copied in place: optimizers keep their references
    np.testing.assert_array_equal(parameters_to_vector(params).detach().numpy(),
                                  vec.detach().numpy() * 2)
    with pytest.raises(ValueError, match="25 elements"):
        vector_to_parameters(np.zeros(24, np.float32), params)
