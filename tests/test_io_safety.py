"""Nothing silently wrong in nerve.io: a file that would load wrongly (NaN arguments, complex
weights, a flipped byte, absurd shapes, a small file asking for large layers, a pickle, a
checkpoint of another optimizer or model) is refused with an error that names the key and the
value, before anything is allocated or written."""

import json
import pickle
import re
import struct
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import nerve
from nerve import io, nn, optim
from nerve.io import FileFormatError


def mlp(seed=0):
    nerve.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def snapshot(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = snapshot(model)
    assert list(after) == list(before)
    for k in before:
        assert after[k].dtype == before[k].dtype and after[k].tobytes() == before[k].tobytes(), k


def arch_file(path, arch, arrays=None, kind="weights"):
    meta = {"nerve.format_version": "1", "nerve.kind": kind,
            "nerve.architecture": arch if isinstance(arch, str) else json.dumps(arch)}
    io.write_tensors(path, arrays or {}, meta)
    return path


def raw_file(path, header, data=b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def refused(path, match, error=FileFormatError):
    """Assert every reader refuses ``path`` with ``error`` naming it and ``match``."""
    readers = [io.read_tensors, io.load, lambda p: io.load_weights(mlp(), p),
               lambda p: io.load_checkpoint(p, mlp())]
    for read in readers:
        with pytest.raises(error, match=match) as err:
            read(path)
        assert str(path) in str(err.value)


def rewrite(path, change):
    """Rewrite a nerve file with ``change(arrays, metadata)`` applied (checksums recomputed)."""
    arrays, metadata = io.read_tensors(path)
    change(arrays, metadata)
    io.write_tensors(path, arrays, metadata)


def train_step(model, opt):
    x = nerve.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
    opt.zero_grad()
    (model(x) ** 2).mean().backward()
    opt.step()


# --- 2: NaN and Infinity in an architecture -----------------------------------------------
LINEAR = {"type": "Linear", "args": {"in_features": 3, "out_features": 5}}


@pytest.mark.parametrize("value, token", [(float("nan"), "NaN"), (float("inf"), "Infinity"),
                                          (-float("inf"), "-Infinity")])
def test_architecture_with_non_finite_argument_is_refused(tmp_path, value, token):
    arch = {"type": "Sequential", "layers": [LINEAR, {"type": "LeakyReLU",
                                                      "args": {"negative_slope": value}}]}
    path = arch_file(tmp_path / "a.safetensors", arch, mlp()[0].state_dict())
    assert token in io.read_metadata(path)["nerve.architecture"]  # Python's json wrote it
    with pytest.raises(FileFormatError, match=rf"layers\[1\]\.args\.negative_slope={token}$") as e:
        io.load(path)
    assert "expected finite numbers" in str(e.value) and str(path) in str(e.value)


def test_architecture_number_that_overflows_a_float_is_refused(tmp_path):
    arch = '{"type": "Sequential", "layers": [{"type": "Dropout", "args": {"p": 1e999}}]}'
    with pytest.raises(FileFormatError, match=r"layers\[0\]\.args\.p=1e999"):
        io.load(arch_file(tmp_path / "a.safetensors", arch))


def test_non_finite_value_in_a_list_argument_is_named(tmp_path):
    arch = ('{"type": "Sequential", "layers": [{"type": "Flatten", '
            '"args": {"start_dim": [1, NaN]}}]}')
    with pytest.raises(FileFormatError, match=r"layers\[0\]\.args\.start_dim\[1\]=NaN"):
        io.load(arch_file(tmp_path / "a.safetensors", arch))


def test_save_refuses_an_argument_it_could_not_load(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=r"Softplus\.threshold=inf.*finite"):
        io.save(nn.Sequential(nn.Softplus(threshold=float("inf"))), path)
    assert not path.exists()


def test_nan_in_a_checkpoint_history_still_round_trips(tmp_path):
    io.save_checkpoint(tmp_path / "c.safetensors", mlp(), extra={"loss": [float("nan"), 1.0]})
    loss = io.load_checkpoint(tmp_path / "c.safetensors", mlp())["extra"]["loss"]
    assert np.isnan(loss[0]) and loss[1] == 1.0


# --- 3: dtypes that do not cast safely ----------------------------------------------------
def complex_state():
    state = {k: np.asarray(v) for k, v in mlp().state_dict().items()}
    state["2.weight"] = (state["2.weight"] + 1j).astype(np.complex64)  # safetensors' C64
    return state


def test_load_weights_refuses_complex_into_float(tmp_path):
    path = tmp_path / "c.safetensors"
    io.write_tensors(path, complex_state(), {})
    model = mlp(1)
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"Received: 2\.weight\.dtype='complex64' "
                                        r"\(the model's: float32\)") as err:
        io.load_weights(model, path)
    assert str(path) in str(err.value) and "load_weights" in str(err.value)
    assert_unchanged(model, before)


class Counter(nn.Module):
    """A layer with an integer buffer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("count", np.zeros(3, np.int64))


def test_load_weights_refuses_float_into_int(tmp_path):
    path = tmp_path / "f.safetensors"
    state = {k: np.asarray(v) for k, v in Counter().state_dict().items()}
    state["count"] = np.array([0.5, 1.5, 2.5])
    io.write_tensors(path, state, {})
    model = Counter()
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"count\.dtype='float64' \(the model's: int64\)"):
        io.load_weights(model, path)
    assert_unchanged(model, before)


def test_int_and_float64_weights_still_load_into_float32(tmp_path):
    path = tmp_path / "i.safetensors"
    state = {k: np.round(np.asarray(v) * 10).astype(np.int32) for k, v in
             mlp().state_dict().items()}
    state["0.bias"] = state["0.bias"].astype(np.float64)
    io.write_tensors(path, state, {})
    model = mlp(1)
    io.load_weights(model, path)
    loaded = snapshot(model)
    assert loaded["0.weight"].dtype == np.float32
    assert loaded["0.weight"].tolist() == state["0.weight"].tolist()


def test_load_refuses_complex_weights(tmp_path):
    path = arch_file(tmp_path / "a.safetensors", io.describe(mlp()), complex_state())
    with pytest.raises(FileFormatError, match=r"2\.weight\.dtype='complex64'"):
        io.load(path)


def test_load_checkpoint_refuses_complex_weights(tmp_path):
    path = tmp_path / "c.safetensors"
    io.save_checkpoint(path, mlp(), epoch=1)
    rewrite(path, lambda arrays, _: arrays.update(
        {"model/0.bias": (arrays["model/0.bias"] + 1j).astype(np.complex64)}))
    model = mlp(1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"0\.bias\.dtype='complex"):
        io.load_checkpoint(path, model, opt)
    assert_unchanged(model, before)


# --- 4: checksums -------------------------------------------------------------------------
def data_start(path):
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_every_flipped_data_byte_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(nn.Sequential(nn.Linear(2, 2)), path)
    whole = path.read_bytes()
    start = data_start(path)
    for position in range(start, len(whole)):
        damaged = bytearray(whole)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(FileFormatError, match="does not match its checksum"):
            io.read_tensors(path)
    path.write_bytes(whole)
    io.read_tensors(path)


def test_flipped_byte_is_refused_by_every_reader(tmp_path):
    path = tmp_path / "c.safetensors"
    io.save_checkpoint(path, mlp(), epoch=1)
    header, _ = io.read_header(path)
    damaged = bytearray(path.read_bytes())
    damaged[data_start(path) + header["model/0.weight"].begin + 5] ^= 0x80
    path.write_bytes(bytes(damaged))
    refused(path, r"tensor 'model/0\.weight' does not match its checksum \(nerve\.crc32\)")


def test_changed_dtype_in_the_header_is_refused(tmp_path):
    """F32 -> I32 keeps every size, so only the checksum can tell the floats are read as ints."""
    path = tmp_path / "m.safetensors"
    io.save(nn.Sequential(nn.Linear(2, 2)), path)
    whole = path.read_bytes()
    n = data_start(path)
    path.write_bytes(whole[:n].replace(b'"F32"', b'"I32"', 1) + whole[n:])
    with pytest.raises(FileFormatError, match="does not match its checksum"):
        io.load_weights(nn.Sequential(nn.Linear(2, 2)), path)


def test_checksums_are_stored_per_tensor(tmp_path):
    path = tmp_path / "m.safetensors"
    model = mlp()
    io.save(model, path)
    sums = json.loads(io.read_metadata(path)["nerve.crc32"])
    assert list(sums) == list(model.state_dict())
    assert all(len(s) == 8 and int(s, 16) >= 0 for s in sums.values())


def test_file_without_checksums_loads_as_before(tmp_path):
    path = tmp_path / "m.safetensors"
    model = mlp()
    io.save(model, path)
    arrays, metadata = io.read_tensors(path)
    del metadata["nerve.crc32"], metadata["nerve.crc32_metadata"]
    safetensors.numpy.save_file(arrays, path, metadata=metadata)  # an older nerve, in effect
    assert_unchanged(io.load(path), snapshot(model))


def test_checksum_record_must_name_every_tensor(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(mlp(), path)
    arrays, metadata = io.read_tensors(path)
    sums = json.loads(metadata["nerve.crc32"])
    del sums["0.bias"], metadata["nerve.crc32_metadata"]  # (that one would refuse it first)
    safetensors.numpy.save_file(arrays, path, metadata={**metadata,
                                                         "nerve.crc32": json.dumps(sums)})
    refused(path, r"nerve\.crc32: expected a checksum for each tensor")


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_a_flipped_bit_in_the_metadata_is_refused(tmp_path, kind):
    """The architecture (a Softmax's dim) and a checkpoint's training state (Adam's step, the
    epoch) are metadata: a flipped bit there would load a different model or resume another
    run, so the metadata has a checksum of its own."""
    path = tmp_path / "m.safetensors"
    model = nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1))
    if kind == "model":
        io.save(model, path)
        old, new = b'"dim\\": 1', b'"dim\\": 0'
    else:
        opt = optim.Adam(model.parameters())
        model(nerve.ones(1, 2)).sum().backward()
        opt.step()
        io.save_checkpoint(path, model, opt, epoch=3)
        old, new = b'\\"epoch\\": 3', b'\\"epoch\\": 7'
    whole = path.read_bytes()
    n = data_start(path)
    assert whole[:n].count(old) == 1, whole[:n]
    path.write_bytes(whole[:n].replace(old, new) + whole[n:])
    refused(path, r"the metadata .* does not match its checksum \(nerve\.crc32_metadata\)")


def test_write_tensors_replaces_a_stale_checksum(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(mlp(), path)
    rewrite(path, lambda arrays, _: arrays["0.bias"].fill(7))
    assert (io.read_tensors(path)[0]["0.bias"] == 7).all()


# --- 5: the architecture is checked against the tensors before any layer is built --------
BIG = {"type": "Sequential",
       "layers": [{"type": "Linear", "args": {"in_features": 4000, "out_features": 4000}}] * 12}


@pytest.mark.parametrize("arrays", [{}, {"0.weight": np.zeros((2, 2), np.float32)},
                                    {f"{i}.{k}": np.zeros(1, np.float32) for i in range(12)
                                     for k in ("weight", "bias")}])
def test_small_file_asking_for_large_layers_is_refused_without_allocating(tmp_path, arrays):
    path = arch_file(tmp_path / "big.safetensors", BIG, arrays)
    assert path.stat().st_size < 4000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match=r"do not fit the file's architecture: "
                                                  r"(missing keys|wrong shapes)") as err:
            io.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20, f"{peak / 2**20:.1f} MiB"  # the layers would take 768 MB
    assert str(path) in str(err.value)


def test_wrong_shape_names_both_shapes_before_building(tmp_path):
    arrays = {"0.weight": np.zeros((4000, 3), np.float32), "0.bias": np.zeros(4000, np.float32)}
    arch = {"type": "Sequential", "layers": [
        {"type": "Linear", "args": {"in_features": 3, "out_features": 400_000}}]}
    with pytest.raises(FileFormatError, match=r"0\.weight: expected shape \(400000, 3\), "
                                              r"received \(4000, 3\)"):
        io.load(arch_file(tmp_path / "w.safetensors", arch, arrays))


def test_expected_shapes_agree_with_the_built_models():
    models = [mlp(), nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Dropout(0.1),
                                   nn.Flatten(), nn.Softmax(dim=1)), nn.Perceptron(5)]
    for model in models:
        shapes = {k: np.asarray(v).shape for k, v in model.state_dict().items()}
        assert io.expected_shapes(io.describe(model)) == shapes


class Shift(nn.Module):
    def __init__(self, size: int = 2):
        super().__init__()
        self.size = size
        self.offset = nn.Parameter(np.zeros(size, np.float32))


io.register_layer(Shift, "size")


def test_layer_without_state_shapes_is_built_then_checked(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), Shift(2))
    assert io.expected_shapes(io.describe(model)) is None
    io.save(model, tmp_path / "s.safetensors")
    assert_unchanged(io.load(tmp_path / "s.safetensors"), snapshot(model))
    arch = io.describe(model)
    arch["layers"][1]["args"]["size"] = 3
    path = arch_file(tmp_path / "t.safetensors", arch, model.state_dict())
    with pytest.raises(FileFormatError, match=r"1\.offset: expected shape \(3,\), received \(2,\)"):
        io.load(path)


def test_register_layer_checks_state_shapes():
    with pytest.raises(TypeError, match="state_shapes=3"):
        io.register_layer(Shift, "size", state_shapes=3)


def test_architecture_with_too_many_layers_is_refused(tmp_path):
    arch = {"type": "Sequential", "layers": [{"type": "ReLU"}] * 100_001}
    with pytest.raises(FileFormatError, match="more than 100000 layers"):
        io.load(arch_file(tmp_path / "r.safetensors", arch))


# --- 7: shapes too large for an array -----------------------------------------------------
@pytest.mark.parametrize("shape", [[0, 2**63], [2**64, 0], [0, 2**62, 4], [3, 0, 2**70]])
def test_shape_too_large_for_an_array_is_refused(tmp_path, shape):
    entry = {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}
    path = raw_file(tmp_path / "s.safetensors", {"a": entry})
    refused(path, rf"tensor 'a': shape \[{shape[0]}, .* of F32 is too large for an array")


def test_largest_empty_shape_numpy_allows_is_read(tmp_path):
    shape = [0, (2**63 - 1) // 4]
    path = raw_file(tmp_path / "s.safetensors",
                    {"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    assert io.read_tensors(path)[0]["a"].shape == tuple(shape)


# --- 11: nerve.save / nerve.load of a state_dict, and PyTorch pickles ---------------------
@pytest.mark.parametrize("name", ["model.pt", "weights.bin", "state"])
def test_save_state_dict_under_any_name_and_load_it_back(tmp_path, name):
    model = mlp()
    path = tmp_path / name
    nerve.save(model.state_dict(), path)
    assert set(safetensors.numpy.load_file(path)) == set(model.state_dict())
    assert io.read_metadata(path)["nerve.kind"] == "state_dict"
    state = nerve.load(path)
    assert type(state) is OrderedDict and list(state) == list(model.state_dict())
    assert all(isinstance(v, nerve.Tensor) for v in state.values())
    for k, v in model.state_dict().items():
        assert state[k].numpy().tobytes() == np.asarray(v).tobytes()
    twin = mlp(1)
    twin.load_state_dict(state)
    assert_unchanged(twin, snapshot(model))


def test_save_state_dict_of_tensors_arrays_and_ints(tmp_path):
    state = {"w": nerve.tensor([[1.0, 2.0]]), "b": np.zeros(2, np.float64),
             "steps": np.array(3, np.int64)}
    nerve.save(state, tmp_path / "s.pt")
    back = nerve.load(tmp_path / "s.pt")
    assert list(back) == ["w", "b", "steps"]
    assert back["w"].dtype == np.float32 and back["b"].dtype == np.float64
    assert back["steps"].item() == 3 and back["steps"].dtype == np.int64


def test_load_of_a_model_still_gives_a_module(tmp_path):
    model = mlp()
    nerve.save(model, tmp_path / "m.pt")
    again = nerve.load(tmp_path / "m.pt")
    assert isinstance(again, nn.Sequential)
    assert_unchanged(again, snapshot(model))


@pytest.mark.parametrize("obj, name", [({0: np.zeros(2)}, "name=0"),
                                       ({"f": print}, "obj="), ({1, 2}, "obj={1, 2}"),
                                       ({"w": [1.0, object()]}, "obj=")])
def test_save_refuses_what_it_cannot_store_without_pickling(tmp_path, obj, name):
    with pytest.raises(TypeError, match=r"save: expected .*Received: " + re.escape(name)):
        nerve.save(obj, tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()


def test_save_and_load_a_training_checkpoint_as_pytorch_tutorials_do(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    opt = nerve.optim.Adam(model.parameters())
    model(nerve.ones(1, 3)).sum().backward()
    opt.step()
    nerve.save({"epoch": 5, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "loss": 0.9, "tags": ["a", None]},
               tmp_path / "ckpt.pt")
    back = nerve.load(tmp_path / "ckpt.pt")
    assert back["epoch"] == 5 and back["loss"] == 0.9 and back["tags"] == ["a", None]
    assert isinstance(back["model_state_dict"]["0.weight"], nerve.Tensor)
    twin = nn.Sequential(nn.Linear(3, 2))
    twin.load_state_dict(back["model_state_dict"])
    twin_opt = nerve.optim.Adam(twin.parameters())
    twin_opt.load_state_dict(back["optimizer_state_dict"])
    assert twin_opt.state_dict()["state"][0]["step"] == 1
    np.testing.assert_array_equal(twin[0].weight.detach().numpy(),
                                  model[0].weight.detach().numpy())
    nerve.save([1, 2.5, "x"], tmp_path / "list.pt")
    assert nerve.load(tmp_path / "list.pt") == [1, 2.5, "x"]


PICKLE_HELP = (r"never unpickles.*save_file\(model\.state_dict\(\), \"model\.safetensors\"\)"
               r".*model\.load_state_dict\(nerve\.load\(\"model\.safetensors\"\)\)")


def test_pytorch_zip_pickle_is_explained(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:  # the layout torch.save writes
        z.writestr("model/data.pkl", pickle.dumps({"0.weight": None}))
        z.writestr("model/version", "3\n")
    refused(path, "a PyTorch pickle.*" + PICKLE_HELP)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_legacy_pickle_is_explained(tmp_path, protocol):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"0.weight": [1.0] * 1000}, protocol=protocol))
    refused(path, "a pickle.*" + PICKLE_HELP)


def test_other_zip_file_is_named(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.zeros(2))
    refused(path, "this is a zip file, not a safetensors file")


def test_real_torch_save_is_explained(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    refused(path, "PyTorch pickle.*" + PICKLE_HELP)


def test_unknown_kind_is_refused(tmp_path):
    path = tmp_path / "k.safetensors"
    io.write_tensors(path, {}, {"nerve.kind": "optimizer"})
    with pytest.raises(FileFormatError, match=r"Received: nerve\.kind='optimizer'"):
        io.load(path)


# --- 12: resuming into another optimizer or model changes nothing -------------------------
def opt_snapshot(opt):
    return json.dumps(io.flatten_state(opt.state_dict())[1]), {
        k: v.tobytes() for k, v in io.flatten_state(opt.state_dict())[0].items()}


def adam_checkpoint(path):
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.01)
    train_step(model, opt)
    io.save_checkpoint(path, model, opt, epoch=1)
    return model


def test_checkpoint_records_the_optimizer_class(tmp_path):
    adam_checkpoint(tmp_path / "c.safetensors")
    assert io.read_metadata(tmp_path / "c.safetensors")["nerve.optimizer_class"] == "Adam"


def test_adam_checkpoint_into_sgd_is_refused_before_anything_changes(tmp_path):
    path = tmp_path / "c.safetensors"
    adam_checkpoint(path)
    model = mlp(1)
    sgd = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train_step(model, sgd)
    before, opt_before = snapshot(model), opt_snapshot(sgd)
    with pytest.raises(TypeError, match=r"load_checkpoint: expected an optimizer of class Adam"
                                        r".*Received: type\(optimizer\)\.__name__='SGD'"):
        io.load_checkpoint(path, model, sgd)
    assert_unchanged(model, before)
    assert opt_snapshot(sgd) == opt_before


def test_old_checkpoint_of_another_optimizer_is_refused_without_a_key_error(tmp_path):
    path = tmp_path / "c.safetensors"
    adam_checkpoint(path)
    rewrite(path, lambda _, metadata: metadata.pop("nerve.optimizer_class"))  # an older nerve
    model = mlp(1)
    sgd = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"hyper-parameters of SGD.*parameter group 0.*'momentum'"):
        io.load_checkpoint(path, model, sgd)
    assert_unchanged(model, before)


def test_checkpoint_into_another_architecture_changes_nothing(tmp_path):
    path = tmp_path / "c.safetensors"
    adam_checkpoint(path)
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = optim.Adam(other.parameters(), lr=0.01)
    before, opt_before = snapshot(other), opt_snapshot(opt)
    with pytest.raises(ValueError, match=r"load_checkpoint into Sequential: wrong shapes: "
                                         r"0\.weight: expected shape \(4, 3\), received \(5, 3\)"):
        io.load_checkpoint(path, other, opt)
    assert_unchanged(other, before)
    assert opt_snapshot(opt) == opt_before


def test_optimizer_that_does_not_fit_leaves_the_model_as_it_was(tmp_path):
    """The model fits but the optimizer holds other parameters: nothing may be written."""
    path = tmp_path / "c.safetensors"
    adam_checkpoint(path)
    model = mlp(1)
    opt = optim.Adam(list(model.parameters())[:2], lr=0.01)
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"c\.safetensors: load_checkpoint into Adam: "
                                         r"parameter group 0 holds 4 parameters"):
        io.load_checkpoint(path, model, opt)
    assert_unchanged(model, before)


def test_complex_optimizer_state_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    adam_checkpoint(path)
    key = "optimizer/state/0/exp_avg"
    rewrite(path, lambda arrays, _: arrays.update({key: (arrays[key] + 1j).astype(np.complex64)}))
    model = mlp(1)
    opt = optim.Adam(model.parameters(), lr=0.01)
    before = snapshot(model)
    with pytest.raises(TypeError, match=r"state\[0\]\['exp_avg'\]\.dtype='complex"):
        io.load_checkpoint(path, model, opt)
    assert_unchanged(model, before)


def test_matching_resume_still_works(tmp_path):
    path = tmp_path / "c.safetensors"
    model = adam_checkpoint(path)
    twin = mlp(1)
    opt = optim.Adam(twin.parameters(), lr=0.5)
    assert io.load_checkpoint(path, twin, opt)["epoch"] == 1
    assert_unchanged(twin, snapshot(model)) and opt.param_groups[0]["lr"] == 0.01
