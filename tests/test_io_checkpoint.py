"""nerve.io checkpoints: optimizer state and extra state stored as arrays + JSON, exact resume."""


import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import nerve
from nerve import io, nn
from nerve.io.state import flatten_state, unflatten_state


def mlp(seed=0):
    nerve.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def assert_state_equal(a, b, where="state"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_state_equal(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_state_equal(x, y, f"{where}/{i}")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def assert_same_state_dict(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        x, y = np.asarray(sa[k]), np.asarray(sb[k])
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), k


def torch_like_state():
    return {
        "state": {
            0: {"step": np.array(3.0, np.float32), "exp_avg": np.arange(6.0).reshape(2, 3),
                "exp_avg_sq": np.ones((2, 3), np.float32)},
            1: {"step": np.int64(3), "exp_avg": np.zeros(0), "max": np.float32(0.5)},
        },
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                          "nesterov": None, "params": [0, 1], "name": "all"}],
    }


class FakeOptimizer:
    def __init__(self, state=None):
        self.loaded = None
        self.state = state

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.loaded = state


# --- flatten_state / unflatten_state ------------------------------------------------------
def test_flatten_state_puts_arrays_in_tensors_and_the_rest_in_json():
    import json

    arrays, skeleton = flatten_state(torch_like_state(), "optimizer")
    assert sorted(arrays) == ["optimizer/state/0/exp_avg", "optimizer/state/0/exp_avg_sq",
                              "optimizer/state/0/step", "optimizer/state/1/exp_avg"]
    assert json.loads(json.dumps(skeleton)) == skeleton
    assert skeleton["param_groups"][0]["betas"] == {"__tuple__": [0.9, 0.999]}


def test_unflatten_state_restores_types():
    back = unflatten_state(*flatten_state(torch_like_state()))
    expected = torch_like_state()
    expected["state"][1]["step"], expected["state"][1]["max"] = 3, 0.5  # numpy scalars -> Python
    assert_state_equal(expected, back)
    assert back["state"][0]["step"].shape == ()


@pytest.mark.parametrize("obj", [
    {"__tuple__": [1, 2]}, {"__array__": "x"}, {0: "int", "0": "str", None: 1, (1, "a"): 2.5},
    [float("nan"), float("inf"), -float("inf"), 2**100, -0.0, True, None, "é"],
    ((), [], {}, ((1,),)), np.arange(3), {"a/b": np.zeros(2), "a": {"b": np.ones(2)}},
])
def test_state_round_trips(obj):
    arrays, skeleton = flatten_state(obj, "extra")
    assert_state_equal(obj, unflatten_state(arrays, skeleton))


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
arrays = st.builds(lambda shape, dt: np.arange(int(np.prod(shape)), dtype=dt).reshape(shape),
                   st.lists(st.integers(0, 3), max_size=3), st.sampled_from(["f4", "f8", "i8"]))
keys = st.integers() | st.text(max_size=5) | st.sampled_from(["__tuple__", "__array__"])
states = st.recursive(scalars | arrays, lambda inner: (
    st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(keys, inner, max_size=3)), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(states)
def test_state_round_trips_through_a_file(tmp_path_factory, state):
    path = tmp_path_factory.mktemp("s") / "c.safetensors"
    io.save_checkpoint(path, nn.Sequential(), extra=state)
    assert_state_equal(state, io.load_checkpoint(path, nn.Sequential())["extra"])


def test_flatten_state_refuses_unknown_types():
    with pytest.raises(TypeError, match="optimizer/state/0/fn: a builtin_function"):
        flatten_state({"state": {0: {"fn": len}}}, "optimizer")
    with pytest.raises(TypeError, match="a set"):
        flatten_state({1, 2})


def test_unflatten_state_refuses_bad_skeletons():
    with pytest.raises(ValueError, match="does not hold"):
        unflatten_state({}, {"__array__": "missing"})
    with pytest.raises(ValueError, match="unhashable"):
        unflatten_state({}, {"__items__": [[[1, 2], 3]]})
    with pytest.raises(ValueError, match="must hold a list"):
        unflatten_state({}, {"__tuple__": 3})


# --- checkpoints --------------------------------------------------------------------------
def test_checkpoint_round_trip_with_fake_optimizer(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    gen = np.random.default_rng(7)
    gen.normal(size=3)
    history = {"epoch": [0, 1], "logs": {"loss": [0.5, float("nan")], "val_loss": [0.6, 0.4]}}
    extra = {"history": history, "rng": gen.bit_generator.state,
             "mt": np.random.Generator(np.random.MT19937(3)).bit_generator.state}
    model = mlp(0)
    io.save_checkpoint(path, model, FakeOptimizer(torch_like_state()), epoch=2, extra=extra)
    twin, opt = mlp(1), FakeOptimizer()
    info = io.load_checkpoint(path, twin, opt)
    assert info["epoch"] == 2
    assert_state_equal(extra, info["extra"])
    expected = torch_like_state()
    expected["state"][1]["step"], expected["state"][1]["max"] = 3, 0.5
    assert_state_equal(expected, opt.loaded)
    assert_same_state_dict(model, twin)
    resumed = np.random.default_rng()
    resumed.bit_generator.state = info["extra"]["rng"]
    assert resumed.normal(size=4).tobytes() == gen.normal(size=4).tobytes()


def test_checkpoint_with_nerve_history(tmp_path):
    import nerve.train.history as history_mod

    h = history_mod.History()
    h.append(0, {"loss": np.float32(0.25), "accuracy": 0.5})
    io.save_checkpoint(tmp_path / "c.safetensors", mlp(), epoch=1, extra={"history": h.to_dict()})
    info = io.load_checkpoint(tmp_path / "c.safetensors", mlp(1))
    again = history_mod.History.from_dict(info["extra"]["history"])
    assert again == h and again.epoch == [0]


def test_checkpoint_file_is_plain_safetensors(tmp_path):
    io.save_checkpoint(tmp_path / "c.safetensors", mlp(), FakeOptimizer(torch_like_state()))
    names = set(safetensors.numpy.load_file(tmp_path / "c.safetensors"))
    assert {"model/0.weight", "model/2.bias", "optimizer/state/0/exp_avg"} <= names


def test_checkpoint_weights_load_with_load_weights_and_load(tmp_path):
    path = tmp_path / "c.safetensors"
    model = mlp(0)
    io.save_checkpoint(path, model, epoch=4)
    twin = mlp(1)
    io.load_weights(twin, path)
    rebuilt = io.load(path)
    for other in (twin, rebuilt):
        assert_same_state_dict(model, other)


def test_load_checkpoint_refuses_a_weights_file(tmp_path):
    io.save(mlp(), tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not a nerve checkpoint.*load_weights"):
        io.load_checkpoint(tmp_path / "w.safetensors", mlp())


def test_load_checkpoint_without_optimizer_state(tmp_path):
    io.save_checkpoint(tmp_path / "c.safetensors", mlp(), epoch=None)
    assert io.load_checkpoint(tmp_path / "c.safetensors", mlp()) == {"epoch": None, "extra": None}
    with pytest.raises(ValueError, match="holds no optimizer state.*FakeOptimizer"):
        io.load_checkpoint(tmp_path / "c.safetensors", mlp(), FakeOptimizer())


def test_load_checkpoint_wrong_model_names_keys(tmp_path):
    io.save_checkpoint(tmp_path / "c.safetensors", mlp(), epoch=1)
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"0.weight: expected shape \(4, 3\), received \(5, 3\)"):
        io.load_checkpoint(tmp_path / "c.safetensors", other)


@pytest.mark.parametrize("epoch, error", [(-1, ValueError), (True, TypeError),
                                          (1.5, TypeError), ("3", TypeError)])
def test_save_checkpoint_checks_epoch(tmp_path, epoch, error):
    with pytest.raises(error, match=f"save_checkpoint: expected .*Received: epoch={epoch!r}"):
        io.save_checkpoint(tmp_path / "c.safetensors", mlp(), epoch=epoch)


def test_save_checkpoint_checks_optimizer(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        io.save_checkpoint(tmp_path / "c.safetensors", mlp(), optimizer=object())


# --- with nerve.optim ---------------------------------------------------------------------
def optimizer_class(name):
    from nerve import optim

    return getattr(optim, name)


def train(model, opt, x, y, steps):
    loss_fn = nn.MSELoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(nerve.tensor(x)), nerve.tensor(y)).backward()
        opt.step()


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", {"lr": 0.01, "amsgrad": True}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
])
def test_resume_from_checkpoint_is_exact(tmp_path, name, kwargs):
    cls = optimizer_class(name)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    model = mlp(0)
    opt = cls(model.parameters(), **kwargs)
    train(model, opt, x, y, 3)
    io.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=3)
    train(model, opt, x, y, 3)
    twin = mlp(1)
    twin_opt = cls(twin.parameters(), lr=0.5)
    assert io.load_checkpoint(tmp_path / "c.safetensors", twin, twin_opt)["epoch"] == 3
    assert twin_opt.param_groups[0]["lr"] == kwargs["lr"]
    train(twin, twin_opt, x, y, 3)
    assert_same_state_dict(model, twin)
    assert_state_equal(opt.state_dict(), twin_opt.state_dict())
