"""nerve.io: safetensors weights, JSON architecture, checkpoints, PyTorch interop."""

import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import nerve
from nerve import io, nn
from nerve.files import temp_files


def mlp(seed=0, dtype=None):
    nerve.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return model if dtype is None else model.to(dtype)


def every_layer():
    nerve.manual_seed(1)
    inner = nn.Sequential(OrderedDict(hidden=nn.Linear(16, 6, bias=False), act=nn.Tanh()))
    return nn.Sequential(
        nn.Flatten(), nn.Linear(2 * 3 * 4, 16), nn.LeakyReLU(0.2), nn.Dropout(0.25),
        nn.Identity(), nn.Softplus(beta=2.0), nn.Sigmoid(), inner, nn.ReLU(), nn.Softmax(dim=1),
        nn.LogSoftmax(dim=-1), nn.Step(threshold=-1.5),
    )


def outputs(model, x):
    with nerve.no_grad():
        return model(nerve.from_numpy(x)).numpy()  # x in its own dtype (the model's)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        a, b = np.asarray(sa[k]), np.asarray(sb[k])
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), k


# --- weights and architecture -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_weights_bitwise(tmp_path, dtype):
    path = tmp_path / "m.safetensors"
    io.save(mlp(0, dtype), path)
    twin = mlp(1, dtype)
    assert io.load_weights(twin, path) == ([], [])
    assert_same_weights(mlp(0, dtype), twin)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_rebuilds_same_model_and_outputs(tmp_path, dtype):
    model = every_layer().to(dtype).eval()
    io.save(model, tmp_path / "m.safetensors")
    again = io.load(tmp_path / "m.safetensors").eval()
    assert repr(again) == repr(model)
    assert_same_weights(model, again)
    x = np.random.default_rng(0).normal(size=(5, 2, 3, 4)).astype(dtype)
    assert outputs(again, x).tobytes() == outputs(model, x).tobytes()


def test_load_keeps_layer_arguments(tmp_path):
    io.save(every_layer(), tmp_path / "m.safetensors")
    layers = list(io.load(tmp_path / "m.safetensors"))
    assert layers[2].negative_slope == 0.2 and layers[3].p == 0.25
    assert layers[5].beta == 2.0 and layers[-1].threshold == -1.5
    assert layers[7].hidden.bias is None and list(layers[7]._modules) == ["hidden", "act"]


def test_save_architecture_is_plain_json(tmp_path):
    io.save(mlp(), tmp_path / "m.safetensors")
    meta = io.read_metadata(tmp_path / "m.safetensors")
    assert meta["nerve.format_version"] == "1" and meta["format"] == "pt"
    assert io.describe(mlp())["layers"][0] == {
        "type": "Linear", "args": {"in_features": 4, "out_features": 8, "bias": True}}


def test_save_user_metadata_round_trip(tmp_path):
    io.save(mlp(), tmp_path / "m.safetensors", metadata={"author": "ada", "epochs": "3"})
    meta = io.read_metadata(tmp_path / "m.safetensors")
    assert meta["author"] == "ada" and meta["epochs"] == "3"


def test_save_refuses_bad_metadata(tmp_path):
    with pytest.raises(ValueError, match="nerve.kind"):
        io.save(mlp(), tmp_path / "m.safetensors", metadata={"nerve.kind": "x"})
    with pytest.raises(TypeError, match="str to str"):
        io.save(mlp(), tmp_path / "m.safetensors", metadata={"epochs": 3})
    with pytest.raises(TypeError, match="a Module, a state_dict, or dicts and lists"):
        io.save({"f": print}, tmp_path / "m.safetensors")


def test_load_weights_mismatch_names_keys_and_shapes(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(mlp(), path)
    other = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError) as err:
        io.load_weights(other, path)
    msg = str(err.value)
    assert str(path) in msg and "missing keys: ['3.weight', '3.bias']" in msg
    assert "0.weight: expected shape (16, 4), received (8, 4)" in msg
    assert "2.weight: expected shape (2, 16), received (2, 8)" in msg


def test_load_weights_not_strict_lists_missing_keys(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(nn.Sequential(nn.Linear(4, 8)), path)
    missing, unexpected = io.load_weights(mlp(), path, strict=False)
    assert missing == ["2.weight", "2.bias"] and unexpected == []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


def test_custom_model_is_saved_as_weights_only(tmp_path):
    path = tmp_path / "net.safetensors"
    net = Net()
    io.save(net, path)
    with pytest.raises(ValueError, match=r"weights only.*Net.*load_weights\(model, path\)"):
        io.load(path)
    twin = Net()
    io.load_weights(twin, path)
    assert_same_weights(net, twin)


def test_sequential_with_unregistered_layer_is_weights_only():
    assert io.describe(nn.Sequential(nn.Linear(3, 2), Net())) is None


class Scale(nn.Module):
    def __init__(self, factor: float = 1.0, shape=(1,)):
        super().__init__()
        self.factor, self.shape = factor, tuple(shape)

    def forward(self, x):
        return x * self.factor


io.register_layer(Scale, "factor", "shape")


def test_register_layer_in_one_line(tmp_path):
    io.save(nn.Sequential(nn.Linear(2, 2), Scale(3.0, (2, 1))), tmp_path / "s.safetensors")
    scale = io.load(tmp_path / "s.safetensors")[1]
    assert type(scale) is Scale and scale.factor == 3.0 and scale.shape == (2, 1)
    assert io.layer_config(scale) == {"factor": 3.0, "shape": [2, 1]}
    assert io.registered_layers()["Scale"] is Scale


def test_register_layer_checks_its_arguments():
    with pytest.raises(ValueError, match=r"\['scale'\] are not arguments of Scale"):
        io.register_layer(Scale, "scale")
    with pytest.raises(ValueError, match="'Linear' is taken by nerve.nn.layers.Linear"):
        io.register_layer(Scale, "factor", name="Linear")
    with pytest.raises(TypeError, match="Module subclass"):
        io.register_layer(dict)
    with pytest.raises(TypeError, match="Net is not a registered layer"):
        io.layer_config(Net())


def test_load_perceptron(tmp_path):
    p = nn.Perceptron(weights=[5, 2, 4], threshold=3)
    io.save(p, tmp_path / "p.safetensors")
    q = io.load(tmp_path / "p.safetensors")
    assert q.predict([1, 0, 1]) == 1 and q.weighted_sum([1, 0, 1]) == 6


def test_foreign_file_loads_as_a_state_dict(tmp_path):
    safetensors.numpy.save_file({"0.weight": np.ones((2, 2), np.float32)},
                                tmp_path / "f.safetensors")
    state = io.load(tmp_path / "f.safetensors")
    assert type(state) is OrderedDict and list(state) == ["0.weight"]
    assert isinstance(state["0.weight"], nerve.Tensor) and state["0.weight"].shape == (2, 2)
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    model.load_state_dict(state)
    assert np.asarray(model.state_dict()["0.weight"]).tolist() == [[1, 1], [1, 1]]


def test_nerve_file_without_architecture_points_to_load_weights(tmp_path):
    path = tmp_path / "w.safetensors"
    io.write_tensors(path, {}, {"nerve.format_version": "1", "nerve.kind": "weights"})
    with pytest.raises(ValueError, match="no nerve architecture.*load_weights"):
        io.load(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "v.safetensors"
    io.write_tensors(path, {}, {"nerve.format_version": "2", "nerve.kind": "weights"})
    with pytest.raises(io.FileFormatError, match="version '2'.*upgrade"):
        io.load_weights(mlp(), path)


def test_reference_reader_agrees(tmp_path):
    model = every_layer()
    io.save(model, tmp_path / "m.safetensors")
    ref = safetensors.numpy.load_file(tmp_path / "m.safetensors")
    ours, _ = io.read_tensors(tmp_path / "m.safetensors")
    assert ref.keys() == ours.keys() == model.state_dict().keys()
    for k in ref:
        assert ref[k].dtype == ours[k].dtype and np.array_equal(ref[k], ours[k])


# --- atomic writes ------------------------------------------------------------------------
def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    io.save(mlp(0), path)
    before = path.read_bytes()

    def fail(src, dst):
        assert os.path.basename(src).startswith(".m.safetensors.tmp-")
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        io.save(mlp(1), path)
    assert path.read_bytes() == before and temp_files(path) == []


def test_atomic_write_replaces_and_cleans_dead_writers_temp(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".f.bin.tmp-{dead}-0123abcd"
    live = tmp_path / f".f.bin.tmp-{os.getppid()}-0123abcd"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    io.atomic_write_bytes(tmp_path / "f.bin", b"one")
    io.atomic_write_bytes(tmp_path / "f.bin", b"two")
    assert (tmp_path / "f.bin").read_bytes() == b"two"
    assert not stale.exists() and live.exists()


def test_atomic_write_refuses_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError):
        io.atomic_write_bytes(tmp_path, b"x")


# --- PyTorch interop ----------------------------------------------------------------------
def torch_twin(torch):
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_torch_loads_nerve_file(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    model = mlp(3)
    io.save(model, tmp_path / "m.safetensors")
    twin = torch_twin(torch)
    twin.load_state_dict(st_torch.load_file(tmp_path / "m.safetensors"))
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(outputs(model, x), expected, rtol=1e-6, atol=1e-6)


def test_nerve_loads_torch_file(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    twin = torch_twin(torch)
    st_torch.save_file(twin.state_dict(), tmp_path / "t.safetensors")
    model = mlp(5)
    io.load_weights(model, tmp_path / "t.safetensors")
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(outputs(model, x), expected, rtol=1e-6, atol=1e-6)


def test_load_gives_the_model_back_in_the_mode_it_was_saved_in(tmp_path):
    """As torch.load of a whole model: a model saved after .eval() loads in eval mode (its
    Dropout off, BatchNorm on its running statistics), and one module's own mode is kept."""
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model(nerve.randn(16, 3) * 3 + 2)  # running statistics
    model.eval()
    io.save(model, tmp_path / "eval.safetensors")
    loaded = io.load(tmp_path / "eval.safetensors")
    assert [m.training for m in loaded.modules()] == [False] * 4
    x = nerve.randn(5, 3)
    with nerve.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    model.train()
    model[2].eval()  # only the Dropout
    io.save(model, tmp_path / "mixed.safetensors")
    assert [m.training for m in io.load(tmp_path / "mixed.safetensors").modules()] == \
        [True, True, True, False]
