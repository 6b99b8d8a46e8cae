"""find_lr: the learning-rate range test tries lrs in range, suggests one and restores weights."""

import functools

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.autograd import Tensor
from nerve.nn.module import Module
from nerve.nn.parameter import Parameter
from nerve.train import find_lr


class Lin(Module):
    """A linear map without bias: x @ W."""

    def __init__(self, n_in=4, n_out=1, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.normal(size=(n_in, n_out)).astype(np.float32))

    def forward(self, x):
        return x @ self.W


def mse(pred, target):
    return ((pred - target) ** 2).mean()


def regression(n=512, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = x @ rng.normal(size=(4, 1)).astype(np.float32) + 0.01 * rng.normal(size=(n, 1))
    return x, y.astype(np.float32)


def test_find_lr_suggests_an_lr_in_range_and_restores_weights():
    model, (x, y) = Lin(), regression()
    before = model.W.detach().numpy().copy()
    w = model.W.detach().numpy()
    result = find_lr(model, mse, x, y, seed=0)
    assert model.W.detach().numpy() is w  # the same array, restored in place
    np.testing.assert_array_equal(w, before)
    assert model.W.grad is None and model.training
    lrs = np.array(result.lrs)
    assert 1e-7 <= lrs[0] and lrs[-1] <= 10.0 * (1 + 1e-9)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], (1e8) ** (1 / 99), rtol=1e-9)
    assert lrs[0] <= result.suggestion <= lrs[-1]
    assert result["suggestion"] == result.suggestion
    assert len(result.losses) == len(result.raw_losses) == len(result.lrs)
    # plain SGD on this problem diverges above lr ~ 1: the test stops early
    assert result.diverged and len(result.lrs) < 100
    # SGD on this problem converges for lr < 1 (the loss's curvature is about 2): the
    # steepest fall of the loss lies a decade below
    assert 0.01 <= result.suggestion <= 0.5 < result.min_loss_lr


def test_find_lr_suggestion_trains_the_model():
    model, (x, y) = Lin(), regression()
    lr = find_lr(model, mse, x, y, seed=0).suggestion
    opt = optim.SGD(model.parameters(), lr=lr)
    first = None
    for _ in range(50):
        opt.zero_grad()
        loss = mse(model(Tensor(x)), Tensor(y))
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_find_lr_is_repeatable_with_a_seed_and_takes_tensors():
    model, (x, y) = Lin(), regression()
    a = find_lr(model, mse, x, y, seed=3, num_steps=30)
    b = find_lr(model, mse, Tensor(x), Tensor(y), seed=3, num_steps=30)
    assert a.lrs == b.lrs and a.losses == b.losses and a.suggestion == b.suggestion


def test_find_lr_without_seed_follows_manual_seed():
    model, (x, y) = Lin(), regression()
    runs = []
    for _ in range(2):
        nerve.manual_seed(7)
        runs.append(find_lr(model, mse, x, y, num_steps=20).losses)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("optimizer", ["adam", optim.RMSprop,
                                       functools.partial(optim.SGD, momentum=0.9)],
                         ids=["name", "class", "partial"])
def test_find_lr_accepts_optimizer_names_classes_and_factories(optimizer):
    model, (x, y) = Lin(), regression(128)
    before = model.W.detach().numpy().copy()
    result = find_lr(model, mse, x, y, optimizer=optimizer, num_steps=40, batch_size=32,
                           seed=0)
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]
    np.testing.assert_array_equal(model.W.detach().numpy(), before)


def test_find_lr_restores_eval_mode_and_weights_after_an_error():
    model, (x, y) = Lin(), regression(64)
    model.eval()
    before = model.W.detach().numpy().copy()

    def broken_loss(pred, target):
        model.W.detach().numpy()[...] += 1.0  # the sweep has changed the weights
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, broken_loss, x, y)
    np.testing.assert_array_equal(model.W.detach().numpy(), before)
    assert not model.training


@pytest.mark.parametrize("kwargs, message", [
    ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr"),
    ({"start_lr": -1.0}, "start_lr"),
    ({"num_steps": 1}, "num_steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "lbfgs"}, "optimizer"),
])
def test_find_lr_invalid_argument_raises(kwargs, message):
    model, (x, y) = Lin(), regression(64)
    with pytest.raises(ValueError, match=message):
        find_lr(model, mse, x, y, **kwargs)


def test_find_lr_rejects_an_optimizer_instance_and_mismatched_data():
    model, (x, y) = Lin(), regression(64)
    with pytest.raises(TypeError, match="instance"):
        find_lr(model, mse, x, y, optimizer=optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="x has 64 samples, y has 63"):
        find_lr(model, mse, x, y[:-1])


def test_find_lr_lives_on_the_training_floor():
    assert not hasattr(optim, "find_lr")
    assert nerve.train.find_lr is find_lr


def test_find_lr_takes_the_losses_fit_takes():
    (x, y) = regression(128)
    kw = dict(num_steps=30, batch_size=32, seed=2)
    by_name = find_lr(Lin(), "mse", x, y, **kw)
    by_class = find_lr(Lin(), nn.MSELoss, x, y, **kw)
    by_module = find_lr(Lin(), nn.MSELoss(), x, y, **kw)
    assert by_name.losses == by_class.losses == by_module.losses and by_name.suggestion
    with pytest.raises(ValueError, match="loss='msee'"):
        find_lr(Lin(), "msee", x, y)


def test_find_lr_runs_past_one_epoch_and_stops_at_num_steps():
    x, y = regression(64)  # 2 batches of 32 per epoch
    result = find_lr(Lin(), mse, x, y, end_lr=1e-3, num_steps=9, batch_size=32, seed=0)
    assert len(result.lrs) == 9 and not result.diverged
    assert result.lrs[-1] == pytest.approx(1e-3)


def test_find_lr_float64_model_sees_float64_batches():
    x, y = regression(64)
    model = Lin().double()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    find_lr(model, mse, x, y, num_steps=5, seed=0)
    assert set(seen) == {np.dtype(np.float64)} and model.W.dtype == np.float64


def test_seeded_find_lr_leaves_the_global_generator_untouched():
    x, y = regression(64)
    nerve.manual_seed(4)
    expected = nerve.randn(4).detach().numpy()
    nerve.manual_seed(4)
    find_lr(Lin(), mse, x, y, num_steps=20, batch_size=16, seed=1)
    assert np.array_equal(nerve.randn(4).detach().numpy(), expected)


def test_find_lr_non_finite_loss_means_diverged_without_a_warning(recwarn):
    x, y = regression(64)
    result = find_lr(Lin(), mse, x, y, start_lr=1e3, end_lr=1e30, num_steps=50, seed=0,
                     diverge_factor=1e300)
    assert result.diverged and len(result.lrs) < 50
    assert not [w for w in recwarn if "loss is" in str(w.message)]
