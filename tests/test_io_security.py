"""Malicious and broken files: each is refused with a FileFormatError naming the file and the
problem, before anything large is allocated, and nothing in a file is ever executed."""

import json
import pickle
import struct

import numpy as np
import pytest

import nerve
from nerve import io, nn
from nerve.io import FileFormatError


def mlp():
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def raw_file(path, header, data=b"", length=None):
    """Write a safetensors-like file: 8-byte header length, header (JSON or bytes), data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + text + data)
    return path


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def refused(path, match):
    """Assert every reader refuses ``path`` with a FileFormatError naming it and ``match``."""
    readers = [io.read_tensors, io.load, lambda p: io.load_weights(mlp(), p),
               lambda p: io.load_checkpoint(p, mlp())]
    for read in readers:
        with pytest.raises(FileFormatError, match=match) as err:
            read(path)
        assert str(path) in str(err.value)


# --- the 8-byte header length -------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 3, 7])
def test_file_shorter_than_the_length_field(tmp_path, size):
    path = tmp_path / "short.safetensors"
    path.write_bytes(b"\x10" * size)
    refused(path, f"file is {size} bytes, too short")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save(mlp(), path)
    whole = path.read_bytes()
    n = int.from_bytes(whole[:8], "little")
    for cut in (8 + n // 2, 8 + n, len(whole) - 1):
        path.write_bytes(whole[:cut])
        refused(path, "truncated|tensor data|header")


def test_header_length_beyond_the_file(tmp_path):
    path = raw_file(tmp_path / "h.safetensors", {"a": entry()}, b"\0" * 8, length=1000)
    refused(path, "header length 1000 bytes runs beyond the file size")


def test_header_claiming_gigabytes_is_refused_before_reading(tmp_path, monkeypatch):
    path = raw_file(tmp_path / "g.safetensors", b"{}", length=5 * 2**30)
    refused(path, f"header length {5 * 2**30} bytes exceeds the {100 * 2**20} byte limit")


def test_header_over_the_cap_in_a_file_that_big(tmp_path):
    path = tmp_path / "big.safetensors"
    n = 150 * 2**20
    with open(path, "wb") as f:  # a sparse file: the size is real, the disk use is not
        f.write(struct.pack("<Q", n))
        f.truncate(8 + n)
    refused(path, "exceeds the 104857600 byte limit")


@pytest.mark.parametrize("header", [b"", b"{"])
def test_header_too_short(tmp_path, header):
    path = raw_file(tmp_path / "s.safetensors", header)
    refused(path, "too short for a JSON object|not valid JSON")


# --- the JSON header ----------------------------------------------------------------------
@pytest.mark.parametrize("header", [
    b"{not json}", b"\xff\xfe{}", b'{"a": 1,}', b"[" * 100_000 + b"]" * 100_000,
    b'{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "a": 1}',
])
def test_invalid_json_header(tmp_path, header):
    refused(raw_file(tmp_path / "j.safetensors", header), "header is not valid JSON")


@pytest.mark.parametrize("header", [[1, 2], 12345, "x", None])
def test_header_not_a_dict(tmp_path, header):
    refused(raw_file(tmp_path / "d.safetensors", header), "header must be a JSON object")


@pytest.mark.parametrize("metadata", [[1], {"a": 1}, "x"])
def test_metadata_not_strings(tmp_path, metadata):
    path = raw_file(tmp_path / "m.safetensors", {"__metadata__": metadata})
    refused(path, "__metadata__ must be a dict of strings")


# --- the tensor entries -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["F128", "float32", "", 7, None, ["F32"]])
def test_unknown_dtype(tmp_path, dtype):
    path = raw_file(tmp_path / "t.safetensors", {"a": entry(dtype=dtype)}, b"\0" * 8)
    refused(path, "unknown dtype")


def test_dtype_without_numpy_equivalent(tmp_path):
    path = raw_file(tmp_path / "t.safetensors", {"a": entry("BF16", (4,))}, b"\0" * 8)
    refused(path, "dtype BF16 has no NumPy equivalent")


@pytest.mark.parametrize("value", [3, [1, 2], {"dtype": "F32"}, {"shape": [2]}])
def test_entry_not_a_tensor_description(tmp_path, value):
    refused(raw_file(tmp_path / "e.safetensors", {"a": value}, b"\0" * 8), "expected a dict")


@pytest.mark.parametrize("shape", [[-2], [True, 2], [2.0], "2", [1] * 65])
def test_bad_shape(tmp_path, shape):
    path = raw_file(tmp_path / "s.safetensors", {"a": entry(shape=shape)}, b"\0" * 8)
    refused(path, "shape must be a list")


@pytest.mark.parametrize("offsets", [[8, 0], [-8, 0], [0], [0, 8, 16], [0.0, 8.0], "0-8"])
def test_bad_offsets(tmp_path, offsets):
    path = raw_file(tmp_path / "o.safetensors", {"a": entry(offsets=offsets)}, b"\0" * 8)
    refused(path, "data_offsets must be")


def test_shape_disagrees_with_byte_count(tmp_path):
    path = raw_file(tmp_path / "b.safetensors", {"a": entry(shape=(3,))}, b"\0" * 8)
    refused(path, r"shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] hold 8")


def test_huge_shape_is_refused_without_allocating(tmp_path):
    shape = (2**40, 2**40)
    path = raw_file(tmp_path / "b.safetensors", {"a": entry(shape=shape)}, b"\0" * 8)
    refused(path, "needs 4835703278458516698824704 bytes")


def test_overlapping_offsets(tmp_path):
    header = {"a": entry(offsets=(0, 8)), "b": entry(offsets=(4, 12))}
    refused(raw_file(tmp_path / "o.safetensors", header, b"\0" * 12), "overlaps the tensor")


def test_same_bytes_for_two_tensors(tmp_path):
    header = {"a": entry(offsets=(0, 8)), "b": entry(offsets=(0, 8))}
    refused(raw_file(tmp_path / "o.safetensors", header, b"\0" * 8), "overlaps the tensor")


def test_offsets_beyond_the_data(tmp_path):
    header = {"a": entry(offsets=(0, 8)), "b": entry(offsets=(8, 16))}
    refused(raw_file(tmp_path / "r.safetensors", header, b"\0" * 12), "run beyond the 12 bytes")


def test_gap_between_tensors(tmp_path):
    header = {"a": entry(offsets=(0, 8)), "b": entry(offsets=(12, 20))}
    refused(raw_file(tmp_path / "g.safetensors", header, b"\0" * 20), "leaves a gap")


def test_trailing_bytes_after_the_tensors(tmp_path):
    refused(raw_file(tmp_path / "t.safetensors", {"a": entry()}, b"\0" * 9),
            "tensors hold 8 bytes but the file has 9 bytes")


def test_valid_hand_written_file_is_read(tmp_path):
    header = {"b": entry("I32", (1,), (8, 12)), "a": entry("F64", (), (0, 8)),
              "e": entry("U8", (0, 3), (12, 12)), "__metadata__": {"k": "v"}}
    data = struct.pack("<d", 2.5) + struct.pack("<i", -7)
    arrays, meta = io.read_tensors(raw_file(tmp_path / "ok.safetensors", header, data))
    assert arrays["a"].shape == () and arrays["a"] == 2.5 and arrays["b"].tolist() == [-7]
    assert arrays["e"].shape == (0, 3) and meta == {"k": "v"}


# --- code never runs ----------------------------------------------------------------------
class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_renamed_to_safetensors_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"0.weight": Payload(marker)}, protocol=protocol))
    refused(path, "header|file")
    assert not marker.exists()


def test_torch_pickle_zip_renamed_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    torch.save({"0.weight": torch.zeros(2), "evil": Payload(marker)}, path)
    refused(path, "PyTorch pickle.*never unpickles.*save_file")
    assert not marker.exists()


def arch_file(path, arch, arrays=None):
    meta = {"nerve.format_version": "1", "nerve.kind": "weights",
            "nerve.architecture": json.dumps(arch)}
    io.write_tensors(path, arrays or {}, meta)
    return path


@pytest.mark.parametrize("layer_type", ["builtins.eval", "os.system", "__import__", "Module",
                                        "nerve.nn.Linear", "linear"])
def test_architecture_names_only_registered_types(tmp_path, layer_type, monkeypatch):
    path = arch_file(tmp_path / "a.safetensors",
                     {"type": "Sequential", "layers": [{"type": layer_type, "args": {}}]})
    with pytest.raises(FileFormatError, match=f"unknown layer type '{layer_type}'"):
        io.load(path)


@pytest.mark.parametrize("layer, match", [
    ({"type": "Linear", "args": {"in_features": 2, "out_features": 2, "dtype": "object"}},
     r"unknown arguments \['dtype'\]"),
    ({"type": "Linear", "args": {"in_features": 2, "out_features": 2, "__class__": 1}},
     "unknown arguments"),
    ({"type": "Linear", "args": {"in_features": {"a": 1}, "out_features": 2}}, "must be a num"),
    ({"type": "Linear", "args": {"in_features": -2, "out_features": 2}}, "positive integer"),
    ({"type": "Linear", "args": [1, 2]}, "expected keys 'type' and 'args'"),
    ({"type": "ReLU", "code": "print(1)"}, "expected keys 'type' and 'args'"),
    ({"type": "Sequential", "layers": [], "names": ["forward"]}, "'names' must be"),
    ({"type": "Sequential", "layers": [{"type": "ReLU"}], "names": ["_parameters"]}, "names"),
    ({"type": "Sequential", "layers": "ReLU"}, "'layers' \\(a list\\)"),
    ({"kind": "Linear"}, "an object with a 'type'"),
])
def test_architecture_with_bad_layers(tmp_path, layer, match):
    path = arch_file(tmp_path / "a.safetensors", {"type": "Sequential", "layers": [layer]})
    with pytest.raises(FileFormatError, match=match):
        io.load(path)


def test_architecture_nested_too_deep(tmp_path):
    arch = {"type": "ReLU"}
    for _ in range(40):
        arch = {"type": "Sequential", "layers": [arch]}
    with pytest.raises(FileFormatError, match="nests deeper than 32"):
        io.load(arch_file(tmp_path / "a.safetensors", arch))


def test_architecture_that_is_not_json(tmp_path):
    path = tmp_path / "a.safetensors"
    io.write_tensors(path, {}, {"nerve.architecture": "Sequential(Linear(2, 2))"})
    with pytest.raises(FileFormatError, match="architecture is not valid JSON"):
        io.load(path)


def test_architecture_disagreeing_with_weights(tmp_path):
    arch = {"type": "Sequential", "layers": [{"type": "Linear",
                                              "args": {"in_features": 3, "out_features": 2}}]}
    path = arch_file(tmp_path / "a.safetensors", arch, {"0.weight": np.zeros((2, 4), "f4")})
    with pytest.raises(ValueError, match=r"missing keys: \['0.bias'\].*received \(2, 4\)"):
        io.load(path)


@pytest.mark.parametrize("record, match", [
    ('{"epoch": 1, "optimizer": {"__array__": "nope"}, "extra": null}', "does not hold"),
    ('{"epoch": "1", "optimizer": null, "extra": null}', "epoch must be an integer"),
    ('{"epoch": 1}', "must hold epoch, optimizer and extra"),
    ('{"epoch": 1, "optimizer": null, "extra": {"__items__": [[[1], 2]]}}', "unhashable"),
    ("[" * 50_000 + "]" * 50_000, "not valid JSON"),
])
def test_bad_checkpoint_record(tmp_path, record, match):
    path = tmp_path / "c.safetensors"
    io.write_tensors(path, {}, {"nerve.kind": "checkpoint", "nerve.checkpoint": record})
    with pytest.raises(FileFormatError, match=match):
        io.load_checkpoint(path, nn.Sequential())


def test_mutated_files_raise_only_file_format_errors(tmp_path):
    """Random byte flips, cuts and insertions give a FileFormatError or a valid read, never
    another exception (a crash inside a parser) and never a hang."""
    path = tmp_path / "m.safetensors"
    io.save_checkpoint(path, mlp(), epoch=1, extra={"a": (1, 2), "b": np.arange(3)})
    whole = np.frombuffer(path.read_bytes(), np.uint8)
    n = 8 + int.from_bytes(whole[:8].tobytes(), "little")
    rng = np.random.default_rng(0)
    for _ in range(300):
        data = whole.copy()
        where = rng.integers(0, n + 16, size=rng.integers(1, 4))
        data[where] = rng.integers(0, 256, size=where.size)
        if rng.random() < 0.2:
            data = data[: rng.integers(0, data.size)]
        path.write_bytes(data.tobytes())
        for read in (io.read_tensors, lambda p: io.load_checkpoint(p, mlp())):
            try:
                read(path)
            except FileFormatError:
                pass
            except (ValueError, TypeError) as e:  # a valid file that no longer fits the model
                assert "load_checkpoint into" in str(e) or "not a nerve checkpoint" in str(e), e
