"""Review fixes: datasets that override __getitem__, unloadable dict keys, non-float dtypes,
namedtuple batches, Parameter dtypes and the save tidy-ups."""

import json
from collections import namedtuple

import numpy as np
import pytest

import nerve
import nerve.nn as nn
from nerve import backend
from nerve.data import DataLoader, Subset, TensorDataset
from nerve.data.dataset import fetch_batch
from nerve.data.timeseries import load_csv
from nerve.io.safetensors_file import read_header


# --- 1. a TensorDataset subclass that overrides __getitem__ is not bypassed -------------------
class Doubled(TensorDataset):
    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return x * 2, y


def test_fetch_batch_goes_through_an_overridden_getitem():
    ds = Doubled(np.arange(4.0).reshape(4, 1), np.arange(4))
    x, y = fetch_batch(ds, np.array([1, 3]))
    assert x.tolist() == [[2.0], [6.0]] and y.tolist() == [1, 3]
    xb, _ = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.tolist() == [[0.0], [2.0], [4.0], [6.0]]
    sub_x, _ = fetch_batch(Subset(ds, [2]), np.array([0]))  # through a Subset too
    assert sub_x.tolist() == [[4.0]]


def test_fetch_batch_still_uses_get_batch_when_getitem_is_not_overridden():
    calls = []

    class Logged(TensorDataset):
        def get_batch(self, indices):
            calls.append(len(indices))
            return super().get_batch(indices)

    fetch_batch(Logged(np.zeros((3, 2))), np.array([0, 2]))
    assert calls == [2]


# --- 2. a tensor as a dict key is refused before anything is written -------------------------
@pytest.mark.parametrize("key", ["tensor", "tuple"])
def test_save_refuses_a_tensor_in_a_dict_key(tmp_path, key):
    t = nerve.tensor([1.0])
    obj = {"a": {t if key == "tensor" else (1, t): 2}}
    with pytest.raises(TypeError, match=r"save: expected .*Received: .*dict keys without tensors"):
        nerve.save(obj, tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()


def test_save_writes_the_skeleton_once_and_loads_tuple_keys(tmp_path):
    nerve.save({"a": {(1, 2): nerve.tensor([3.0]), 4: "x"}}, tmp_path / "s.pt")
    skeleton = json.loads(read_header(tmp_path / "s.pt")[1]["nerve.object"])
    assert skeleton == {"a": {"__items__": [[{"__tuple__": [1, 2]}, {"__array__": "a/(1, 2)"}],
                                            [4, "x"]]}}
    back = nerve.load(tmp_path / "s.pt")
    assert back["a"][(1, 2)].tolist() == [3.0] and back["a"][4] == "x"


def test_save_message_shortens_a_long_object(tmp_path):
    with pytest.raises(TypeError, match=r"Received: obj=\{.*\.\.\.") as info:
        nerve.save({f"k{i}": print for i in range(50)}, tmp_path / "s.pt")
    assert len(str(info.value)) < 400


# --- 3. non-floating dtypes are refused where data must be floating ---------------------------
@pytest.mark.parametrize("dtype", ["int64", bool, str])
def test_float_dtype_refuses_non_floating_dtypes(dtype):
    with pytest.raises(TypeError, match="load_csv: expected a floating-point dtype"):
        backend.float_dtype(dtype, "load_csv")
    assert backend.float_dtype("float64") == np.float64
    assert backend.float_dtype(None) == backend.get_default_dtype()


def test_load_csv_refuses_an_integer_dtype(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1.5,2.7\n")
    with pytest.raises(TypeError, match="load_csv: expected a floating-point dtype"):
        load_csv(path, dtype="int64")
    assert load_csv(path, dtype="float64").tolist() == [[1.5, 2.7]]


def test_embedding_refuses_an_integer_dtype_naming_itself():
    with pytest.raises(TypeError, match="Embedding: expected a floating-point dtype"):
        nn.Embedding(5, 3, dtype="int64")
    with pytest.raises(TypeError, match=r"Linear\.to: expected a floating-point dtype"):
        nn.Linear(2, 2).to("int64")


def test_summary_still_takes_an_integer_input_dtype():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    info = nn.summary(model, (5,), dtype="int64", print_fn=lambda *a: None)
    assert info["total_params"] == 50


# --- 4. a collate_fn may return a namedtuple --------------------------------------------------
def test_collate_fn_returning_a_namedtuple():
    Pair = namedtuple("Pair", "x y")

    def collate(samples):
        return Pair(np.stack([s[0]._data for s in samples]), [int(s[1]) for s in samples])

    ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.arange(3))
    batch = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate)))
    assert type(batch) is Pair
    assert isinstance(batch.x, nerve.Tensor) and batch.x.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert batch.y == [0, 1]


# --- 5. a float64 Tensor stays float64 as a Parameter -----------------------------------------
def test_parameter_keeps_a_float64_tensor_dtype():
    assert nn.Parameter(nerve.randn(3, dtype=nerve.float64)).dtype == np.float64
    assert nn.Parameter(nerve.randn(3, dtype=nerve.float64), dtype="float32").dtype == np.float32
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert nn.Parameter(np.zeros(2)).dtype == np.float32  # an ndarray: as Tensor(array)


def test_samples_that_are_dicts_or_hold_strings_collate_as_pytorch_s():
    """PyTorch's default collate: a dict of batches for dict samples, a list for strings (a
    DataLoader over such samples raised an unclear dtype error)."""
    from nerve.data import DataLoader, Dataset

    class Records(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"x": np.full(3, i, np.float32), "y": i, "name": f"s{i}"}

    batch = next(iter(DataLoader(Records(), batch_size=4)))
    assert list(batch) == ["x", "y", "name"]
    assert batch["x"].shape == (4, 3) and batch["x"].dtype == nerve.float32
    assert batch["y"].tolist() == [0, 1, 2, 3] and batch["y"].dtype == nerve.int64
    assert batch["name"] == ["s0", "s1", "s2", "s3"]

    class Mixed(Records):
        def __getitem__(self, i):
            return {"x": i} if i % 2 else {"y": i}

    with pytest.raises(ValueError, match="keys"):
        next(iter(DataLoader(Mixed(), batch_size=4)))

    class Named(Records):
        def __getitem__(self, i):
            return np.full(2, i, np.float32), f"s{i}"

    x, names = next(iter(DataLoader(Named(), batch_size=3)))
    assert x.shape == (3, 2) and names == ["s0", "s1", "s2"]
