"""Nothing silently wrong on the data floor: CSV headers that would pick the wrong column, gzip
files that expand beyond what they declare, loaders that allocate an index per sample when
they need none; and PyTorch's DataLoader arguments and import path."""

import gzip
import tracemalloc
import zlib

import numpy as np
import pytest

import nerve
from nerve.data import DataLoader, Dataset, Subset, TensorDataset, load_csv, random_split, read_idx
from nerve.data.dataset import permutation


def csv_file(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding=encoding)
    return path


def peak_bytes(fn):
    """Return (fn's result, the peak of traced memory while it ran)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- 1: load_csv --------------------------------------------------------------------------
def test_load_csv_refuses_a_duplicated_column_name(tmp_path):
    path = csv_file(tmp_path, "a,b,a\n1,2,3\n4,5,6\n")
    for columns in (None, ["a"], "a", ["b", "a"]):
        with pytest.raises(ValueError, match=r"load_csv: expected distinct column names.*'a' "
                                             r"names several columns.*Received: header=\['a', "
                                             r"'b', 'a'\]"):
            load_csv(path, columns=columns)
    assert load_csv(path, columns="b").tolist() == [2, 5]  # not ambiguous


def test_load_csv_names_that_differ_only_by_spaces_are_the_same(tmp_path):
    with pytest.raises(ValueError, match="'x' names several columns"):
        load_csv(csv_file(tmp_path, "x, x\n1,2\n"))


def test_load_csv_with_a_byte_order_mark(tmp_path):
    path = csv_file(tmp_path, "year,value\n1700,5\n1701,11\n", encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert load_csv(path, columns="year").tolist() == [1700, 1701]
    assert load_csv(path).tolist() == [[1700, 5], [1701, 11]]


@pytest.mark.parametrize("text, line, count", [("a,b\n1,2,3\n4,5,6\n", 2, 3),
                                               ("a,b\n1,2\n4,5,6\n", 3, 3),
                                               ("a,b,c\n1,2,3\n4,5\n", 3, 2)])
def test_load_csv_refuses_rows_of_another_width(tmp_path, text, line, count):
    with pytest.raises(ValueError, match=f"line {line} has {count} values, expected"):
        load_csv(csv_file(tmp_path, text), columns=["a", "b"])


def test_load_csv_skips_blank_and_comment_lines_as_before(tmp_path):
    path = csv_file(tmp_path, "a,b\n1,2\n\n# a note\n3,4\n")
    assert load_csv(path).tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("columns, error, text", [(5, TypeError, "columns=5"),
                                                  ([1, 2], TypeError, r"columns=\[1, 2\]"),
                                                  ([], ValueError, r"columns=\[\]")])
def test_load_csv_checks_columns(tmp_path, columns, error, text):
    with pytest.raises(error, match=f"load_csv: expected .*Received: {text}"):
        load_csv(csv_file(tmp_path, "a,b\n1,2\n"), columns=columns)


# --- 6: read_idx stops at the declared size ----------------------------------------------
def gzip_bomb(path, declared: int, extra: int):
    """Write a gzip IDX file declaring ``declared`` uint8 values and holding ``extra`` more."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    header = bytes([0, 0, 8, 1]) + np.array([declared], ">u4").tobytes()
    parts = [comp.compress(header + bytes(declared))]
    chunk = bytes(1 << 20)
    for _ in range(extra >> 20):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    path.write_bytes(b"".join(parts))
    return path


def test_read_idx_refuses_a_gzip_bomb_without_expanding_it(tmp_path):
    path = gzip_bomb(tmp_path / "bomb.gz", 10, 64 << 20)
    assert path.stat().st_size < 100_000

    def read():
        with pytest.raises(ValueError, match="longer than its header says: expected 18 bytes "
                                             r"for shape \(10,\) of uint8"):
            read_idx(path)

    _, peak = peak_bytes(read)
    assert peak < 2 << 20, f"{peak / 2**20:.1f} MiB"  # expanded, it is 64 MiB


def test_read_idx_gzip_of_the_declared_size_reads(tmp_path):
    values = np.arange(12, dtype=">i4").reshape(3, 4)
    header = bytes([0, 0, 0x0C, 2]) + np.array([3, 4], ">u4").tobytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(header + values.tobytes()))
    out = read_idx(tmp_path / "a.gz")
    assert out.dtype == np.int32 and out.dtype.isnative and np.array_equal(out, values)
    out[0, 0] = 7  # writable


def test_read_idx_uint8_is_writable(tmp_path):
    header = bytes([0, 0, 8, 1]) + np.array([3], ">u4").tobytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(header + bytes([1, 2, 3])))
    out = read_idx(tmp_path / "a.gz")
    out[0] = 9
    assert out.tolist() == [9, 2, 3]


def test_read_idx_raw_file_claiming_huge_data_is_refused_before_reading(tmp_path):
    path = tmp_path / "raw.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + np.array([2**32 - 1] * 3, ">u4").tobytes() + bytes(4))
    with pytest.raises(ValueError, match="truncated: expected 79228162458924105385300197391 "
                                         "bytes.*received 20"):
        read_idx(path)


def test_read_idx_damaged_gzip_is_a_value_error(tmp_path):
    data = bytearray(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4])))
    data[-6] ^= 0xFF  # inside the CRC-32 trailer
    (tmp_path / "d.gz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or truncated gzip"):
        read_idx(tmp_path / "d.gz")


# --- 8: index arrays ----------------------------------------------------------------------
class Huge(Dataset):
    """A dataset of n samples that are their own index: nothing stored."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.float64(i)

    def get_batch(self, indices):
        return indices.astype(np.float64)


def test_unshuffled_loader_allocates_no_index_per_sample():
    loader = DataLoader(Huge(10**7), batch_size=4)
    batch, peak = peak_bytes(lambda: next(iter(loader)))
    assert batch.tolist() == [0, 1, 2, 3]
    assert peak < 1 << 20, f"{peak / 2**20:.1f} MiB"  # an int64 arange would be 76 MiB
    last = list(DataLoader(Huge(10), batch_size=4))[-1]
    assert last.tolist() == [8, 9]


def test_shuffled_loader_holds_int32_indices():
    n = 2_000_000
    loader = DataLoader(Huge(n), batch_size=5, shuffle=True, seed=0)
    batch, peak = peak_bytes(lambda: next(iter(loader)))
    assert 4 * n <= peak < 6 * n, f"{peak} bytes"  # int64 would need 8 bytes per sample
    assert batch.shape == (5,)


def test_shuffled_order_is_unchanged_by_the_smaller_dtype():
    order = permutation(np.random.default_rng(3), 1000)
    assert order.dtype == np.int32
    assert np.array_equal(order, np.random.default_rng(3).permutation(1000))
    seeded = np.concatenate([b.numpy() for b in DataLoader(Huge(50), 7, shuffle=True, seed=4)])
    expected = nerve.backend.generator(4, 0).permutation(50)
    assert np.array_equal(seeded, expected)


def test_subset_and_random_split_hold_int32_indices():
    parts = random_split(Huge(100), [60, 40], seed=0)
    assert all(p.indices.dtype == np.int32 for p in parts)
    assert sorted(np.concatenate([p.indices for p in parts])) == list(range(100))
    assert Subset(Huge(10), [1, 2]).indices.dtype == np.int32


def test_loader_docstring_says_shuffling_needs_an_index_per_sample():
    assert "one index per sample" in DataLoader.__doc__ and "randperm" in DataLoader.__doc__


# --- 9: PyTorch's DataLoader arguments ----------------------------------------------------
def dataset(n=10):
    x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    return TensorDataset(x, np.arange(n))


def test_loader_takes_pytorchs_positional_order():
    seen = []

    def collate_fn(samples):
        seen.append(len(samples))
        return tuple(np.stack([np.asarray(s[k]) for s in samples]) for k in range(2))

    loader = DataLoader(dataset(), 4, False, None, 0, collate_fn, False, True)
    batches = list(loader)
    assert seen == [4, 4] and len(batches) == 2 == len(loader)  # drop_last=True
    x, y = batches[1]
    assert isinstance(x, nerve.Tensor) and y.tolist() == [4, 5, 6, 7]


def test_collate_fn_gets_a_list_of_samples_and_its_batch_is_passed_on():
    def collate_fn(samples):
        assert isinstance(samples, list) and len(samples) <= 3
        return {"x": np.stack([s[0].numpy() for s in samples]), "n": len(samples)}

    batches = list(DataLoader(dataset(5), batch_size=3, collate_fn=collate_fn))
    assert [b["n"] for b in batches] == [3, 2] and batches[0]["x"].shape == (3, 2)


def test_collate_fn_arrays_become_tensors():
    batch = next(iter(DataLoader(dataset(), batch_size=2, collate_fn=nerve.data.collate)))
    assert all(isinstance(b, nerve.Tensor) for b in batch) and batch[1].tolist() == [0, 1]


def test_python_floats_batch_as_float64():
    batch = next(iter(DataLoader([1.0, 2.0, 3.0], batch_size=2)))
    assert isinstance(batch, nerve.Tensor) and batch.dtype == np.float64


def test_generator_draws_the_order():
    a = DataLoader(Huge(30), batch_size=30, shuffle=True, generator=np.random.default_rng(8))
    first, second = (next(iter(a)).numpy() for _ in range(2))
    assert np.array_equal(first, np.random.default_rng(8).permutation(30))
    assert not np.array_equal(first, second)  # the generator advances each epoch
    b = DataLoader(Huge(30), batch_size=30, shuffle=True, generator=np.random.default_rng(8))
    assert np.array_equal(next(iter(b)).numpy(), first)


def test_torch_generator_is_used_by_its_seed():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(11)
    a = DataLoader(Huge(20), batch_size=20, shuffle=True, generator=gen)
    b = DataLoader(Huge(20), batch_size=20, shuffle=True, seed=11)
    assert np.array_equal(next(iter(a)).numpy(), next(iter(b)).numpy())


def test_num_workers_and_pin_memory_are_accepted():
    loader = DataLoader(dataset(), batch_size=5, num_workers=4, pin_memory=True)
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert "main process" in DataLoader.__doc__ and "pin_memory" in DataLoader.__doc__


def test_sampler_sets_the_order():
    loader = DataLoader(dataset(), batch_size=2, sampler=[9, 0, 3])
    assert [y.tolist() for _, y in loader] == [[9, 0], [3]] and len(loader) == 2
    assert len(DataLoader(dataset(), batch_size=2, sampler=range(5), drop_last=True)) == 2


@pytest.mark.parametrize("kwargs, error, text", [
    ({"num_workers": -1}, ValueError, "num_workers=-1"),
    ({"num_workers": 1.5}, TypeError, "num_workers=1.5"),
    ({"pin_memory": "yes"}, TypeError, "pin_memory='yes'"),
    ({"collate_fn": 3}, TypeError, "collate_fn=3"),
    ({"generator": 5}, TypeError, "generator=5"),
    ({"generator": np.random.default_rng(0), "seed": 1}, ValueError, "seed=1"),
    ({"sampler": 3}, TypeError, "sampler=3"),
    ({"sampler": True}, TypeError, "sampler=True"),
    ({"sampler": [0, 1], "shuffle": True}, ValueError, "shuffle=True"),
])
def test_loader_checks_pytorchs_arguments(kwargs, error, text):
    with pytest.raises(error, match=f"DataLoader: expected .*Received: {text}"):
        DataLoader(dataset(), **kwargs)


@pytest.mark.parametrize("sampler, error, text", [([0, -1], ValueError, "index=-1"),
                                                  ([10], ValueError, "index=10"),
                                                  ([0.5], TypeError, "indices")])
def test_sampler_indices_are_checked(sampler, error, text):
    with pytest.raises(error, match=text):
        list(DataLoader(dataset(), batch_size=2, sampler=sampler))


# --- 10: nerve.utils.data -----------------------------------------------------------------
def test_pytorchs_import_path():
    from nerve.utils.data import DataLoader as Loader
    from nerve.utils.data import Dataset as Base
    from nerve.utils.data import Subset as Part
    from nerve.utils.data import TensorDataset as Tensors
    from nerve.utils.data import random_split as split

    data = nerve.data
    assert (Loader, Base, Part, Tensors, split) == (data.DataLoader, data.Dataset, data.Subset,
                                                    data.TensorDataset, data.random_split)
