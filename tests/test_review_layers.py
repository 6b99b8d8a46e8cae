"""From the review of the layers, init and nn.utils against PyTorch 2.13: each case here was
silently different (or refused where PyTorch works) before its fix."""

import math

import numpy as np
import pytest
import torch

import nerve
from nerve import nn


def _pair(seed=0):
    nerve.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.tensor(np.asarray(v))
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def test_a_penalty_on_parameters_to_vector_reaches_the_parameters():
    """It was a detached copy: an L2 term built on it gave no gradient."""
    ours, theirs = _pair()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    loss = ours(nerve.tensor(x)).sum() + 0.5 * (nn.utils.parameters_to_vector(
        ours.parameters()) ** 2).sum()
    tloss = theirs(torch.tensor(x)).sum() + 0.5 * (torch.nn.utils.parameters_to_vector(
        theirs.parameters()) ** 2).sum()
    loss.backward()
    tloss.backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_with_a_nan_total_makes_every_gradient_nan_as_pytorch():
    ours, theirs = _pair()
    for model in (ours, theirs):
        for i, p in enumerate(model.parameters()):
            g = np.ones(tuple(p.shape), "float32")
            if i == 1:
                g[0] = np.nan
            p.grad = nerve.tensor(g) if model is ours else torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    assert math.isnan(float(total)) and math.isnan(float(ttotal))
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(q.grad.numpy()))
    assert all(np.isnan(p.grad.numpy()).all() for p in ours.parameters())


@pytest.mark.parametrize("layer", ["Dropout", "Dropout2d"])
def test_dropout_of_one_drops_everything_as_pytorch(layer):
    x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype("float32"),
                     requires_grad=True)
    y = getattr(nn, layer)(p=1.0)(x)
    assert np.all(y.detach().numpy() == 0)
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0)
    with nerve.no_grad():
        out = getattr(nn, layer)(p=1.0).eval()(x)
    assert np.array_equal(out.detach().numpy(), x.detach().numpy())
    ty = getattr(torch.nn, layer)(p=1.0)(torch.tensor(x.detach().numpy()))
    assert torch.all(ty == 0)
    nn.LSTM(2, 3, num_layers=2, dropout=1.0)  # accepted, as in PyTorch


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # PyTorch's, for 2-D
@pytest.mark.parametrize("module", [nn.Softmax, nn.LogSoftmax])
def test_softmax_without_dim_on_three_or_more_dimensions_is_refused(module):
    """PyTorch's implicit dim (0 for 3-D, 1 for 4-D: deprecated) is rarely the classes' axis,
    and nerve took the last: the same code gave other probabilities, silently."""
    x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32"))
    with pytest.raises(ValueError, match="expected dim="):
        module()(x)
    fn = nn.functional.softmax if module is nn.Softmax else nn.functional.log_softmax
    with pytest.raises(ValueError, match="expected dim="):
        fn(x)
    tfn = torch.softmax if module is nn.Softmax else torch.log_softmax
    for d in (0, 1, -1):
        np.testing.assert_allclose(module(dim=d)(x).numpy(), tfn(torch.tensor(x.numpy()), d),
                                   rtol=1e-6, atol=1e-6)
    two = x[0]
    np.testing.assert_allclose(module()(two).numpy(),  # 2-D: the last, as PyTorch's implicit
                               getattr(torch.nn, module.__name__)()(torch.tensor(two.numpy())),
                               rtol=1e-6, atol=1e-6)


def test_batchnorm_loads_a_state_dict_without_its_batch_counter():
    """Older PyTorch checkpoints have no num_batches_tracked; PyTorch keeps its own."""
    bn = nn.BatchNorm1d(3)
    bn(nerve.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype("float32")))
    state = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    fresh = nn.BatchNorm1d(3)
    result = fresh.load_state_dict(state)
    assert result.missing_keys == [] and int(fresh.num_batches_tracked) == 0
    np.testing.assert_array_equal(fresh.running_mean.numpy(), bn.running_mean.numpy())
    t = torch.nn.BatchNorm1d(3)
    assert t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in state.items()}
                             ).missing_keys == []
