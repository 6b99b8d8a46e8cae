"""Tests of nerve.data: datasets, DataLoader, synthetic data, digits, MNIST IDX, download, CSV."""

import functools
import gzip
import hashlib
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve.data import (
    MNIST_MEAN,
    MNIST_STD,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    download,
    load_csv,
    load_digits,
    load_mnist,
    make_blobs,
    make_moons,
    make_spirals,
    make_windows,
    make_xor,
    mnist_t10k_split,
    random_split,
    read_idx,
)
from nerve.files import atomic_write, temp_files

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


def _dataset(n=10, features=3):
    x = np.arange(n * features, dtype=np.float64).reshape(n, features)
    return TensorDataset(x, np.arange(n))


def _epoch(loader):
    return [tuple(t.detach().numpy().copy() for t in batch) for batch in loader]


def _same(a, b):
    return len(a) == len(b) and all(
        all(np.array_equal(u, v) for u, v in zip(p, q)) for p, q in zip(a, b)
    )


class Pairs(Dataset):
    """A generic dataset: sample i is (float64 features, a Python int label)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(2, i, dtype=np.float64), i % 3


class Counting(TensorDataset):
    """A TensorDataset that counts how it is read."""

    items = batches = 0

    def __getitem__(self, index):
        self.items += 1
        return super().__getitem__(index)

    def get_batch(self, indices):
        self.batches += 1
        return super().get_batch(indices)


# --- Dataset, TensorDataset, Subset, random_split ---------------------------------------------
def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_tensordataset_float64_becomes_float32():
    ds = _dataset()
    assert ds.arrays[0].dtype == np.float32


def test_tensordataset_float32_is_not_copied():
    x = np.zeros((4, 2), dtype=np.float32)
    assert np.shares_memory(TensorDataset(x).arrays[0], x)


def test_tensordataset_labels_stay_int64():
    assert _dataset().arrays[1].dtype == np.int64


def test_tensordataset_accepts_tensors():
    ds = TensorDataset(nerve.tensor(np.ones((3, 2))), nerve.tensor([0, 1, 2]))
    assert ds.arrays[0].dtype == np.float32 and ds.arrays[1].dtype == np.int64


def test_tensordataset_dtype_decides_floats_once():
    x64, x32, y = np.ones((4, 2)), np.ones((4, 2), np.float32), np.arange(4)
    ds = TensorDataset(x64, x32, y, dtype=np.float64)
    assert [a.dtype for a in ds.arrays] == [np.float64, np.float64, np.int64]
    assert np.shares_memory(ds.arrays[0], x64) and ds.dtype == np.float64
    assert TensorDataset(x32, dtype="float64").arrays[0].dtype == np.float64


def test_tensordataset_default_dtype_follows_set_default_dtype():
    nerve.set_default_dtype(nerve.float64)
    try:
        assert TensorDataset(np.ones((2, 2), np.float32)).arrays[0].dtype == np.float64
    finally:
        nerve.set_default_dtype(nerve.float32)


def test_tensordataset_refuses_a_non_floating_dtype():
    with pytest.raises(TypeError, match="TensorDataset: expected a floating-point dtype"):
        TensorDataset(np.ones((2, 2)), dtype=np.int64)


def test_tensordataset_getitem_keeps_the_datasets_dtype():
    x, y = TensorDataset(np.ones((3, 2)), np.arange(3), dtype=np.float64)[1]
    assert x.dtype == np.float64 and y.dtype == np.int64


def test_loader_does_not_cast_the_datasets_batches():
    ds = TensorDataset(np.ones((5, 2)), np.arange(5), dtype=np.float64)
    x, y = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
    assert x.dtype == np.float64 and y.dtype == np.int64


def test_tensordataset_length_mismatch_names_lengths():
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))


def test_tensordataset_rejects_no_arrays_scalars_and_strings():
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError):
        TensorDataset(np.float64(1.0))
    with pytest.raises(TypeError):
        TensorDataset(np.array(["a", "b"]))


def test_tensordataset_tensors_share_the_arrays():
    ds = _dataset()
    assert all(np.shares_memory(t.detach().numpy(), a) for t, a in zip(ds.tensors, ds.arrays))


def test_tensordataset_getitem_returns_tensors():
    x, y = _dataset()[3]
    assert isinstance(x, nerve.Tensor) and x.shape == (3,) and y.item() == 3


def test_subset_reads_its_indices():
    sub = Subset(_dataset(), [4, 1])
    assert len(sub) == 2 and sub[0][1].item() == 4
    assert sub.get_batch(np.array([1, 0]))[1].tolist() == [1, 4]


def test_subset_rejects_bad_indices():
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        Subset(_dataset(), [0, 10])
    with pytest.raises(TypeError):
        Subset(_dataset(), [0.5])


def test_random_split_ints_cover_the_dataset_once():
    parts = random_split(_dataset(), [6, 4], seed=0)
    assert [len(p) for p in parts] == [6, 4]
    assert sorted(np.concatenate([p.indices for p in parts])) == list(range(10))


def test_random_split_fractions_like_torch():
    assert [len(p) for p in random_split(_dataset(), [0.7, 0.3], seed=0)] == [7, 3]
    assert [len(p) for p in random_split(_dataset(), [1 / 3] * 3, seed=0)] == [4, 3, 3]


def test_random_split_fraction_lengths_match_torch():
    torch = pytest.importorskip("torch")
    cases = [(10, [0.7, 0.3]), (10, [1 / 3] * 3), (101, [0.8, 0.1, 0.1]), (7, [0.5, 0.5])]
    for n, fractions in cases:
        ours = [len(p) for p in random_split(_dataset(n), fractions, seed=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_random_split_checks_its_seed():
    with pytest.raises(ValueError, match="random_split: .* seed=-1"):
        random_split(_dataset(), [5, 5], seed=-1)


def test_random_split_same_seed_same_parts():
    a, b = random_split(_dataset(), [5, 5], seed=7), random_split(_dataset(), [5, 5], seed=7)
    assert np.array_equal(a[0].indices, b[0].indices)


@pytest.mark.parametrize("lengths", [[6, 5], [0.5, 0.4], [-1, 11]])
def test_random_split_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError):
        random_split(_dataset(), lengths)


# --- DataLoader -------------------------------------------------------------------------------
def test_loader_yields_tuples_of_tensors():
    x, y = next(iter(DataLoader(_dataset(), batch_size=4)))
    assert isinstance(x, nerve.Tensor) and x.shape == (4, 3) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("n, size, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3), (2, 5, True, 0), (0, 4, False, 0),
])
def test_loader_len(n, size, drop_last, expected):
    loader = DataLoader(_dataset(n), batch_size=size, drop_last=drop_last)
    assert len(loader) == expected == len(list(loader))


def test_loader_drop_last_leaves_out_the_short_batch():
    sizes = [len(y) for _, y in DataLoader(_dataset(10), batch_size=4, drop_last=True)]
    assert sizes == [4, 4]
    sizes = [len(y) for _, y in DataLoader(_dataset(10), batch_size=4)]
    assert sizes == [4, 4, 2]


def test_loader_same_seed_same_batches():
    a = DataLoader(_dataset(), batch_size=3, shuffle=True, seed=5)
    b = DataLoader(_dataset(), batch_size=3, shuffle=True, seed=5)
    assert _same(_epoch(a), _epoch(b)) and _same(_epoch(a), _epoch(b))


def test_loader_different_seeds_different_batches():
    a = DataLoader(_dataset(50), batch_size=5, shuffle=True, seed=1)
    b = DataLoader(_dataset(50), batch_size=5, shuffle=True, seed=2)
    assert not _same(_epoch(a), _epoch(b))


def test_loader_reshuffles_each_epoch():
    loader = DataLoader(_dataset(50), batch_size=5, shuffle=True, seed=1)
    assert not _same(_epoch(loader), _epoch(loader))


def test_loader_set_epoch_resumes_the_seeded_order():
    first = DataLoader(_dataset(30), batch_size=4, shuffle=True, seed=9)
    epochs = [_epoch(first) for _ in range(3)]
    resumed = DataLoader(_dataset(30), batch_size=4, shuffle=True, seed=9)
    resumed.set_epoch(2)
    assert _same(_epoch(resumed), epochs[2])


def test_loader_shuffled_visits_every_sample_once_per_epoch():
    loader = DataLoader(_dataset(23), batch_size=4, shuffle=True, seed=3)
    for _ in range(3):
        labels = np.concatenate([y.detach().numpy() for _, y in loader])
        assert sorted(labels) == list(range(23))


def test_loader_without_seed_follows_manual_seed():
    nerve.manual_seed(11)
    a = _epoch(DataLoader(_dataset(30), batch_size=4, shuffle=True))
    nerve.manual_seed(11)
    b = _epoch(DataLoader(_dataset(30), batch_size=4, shuffle=True))
    assert _same(a, b)


def test_loader_reads_a_tensordataset_one_fancy_index_per_batch():
    ds = Counting(np.zeros((10, 2)), np.arange(10))
    list(DataLoader(ds, batch_size=3, shuffle=True, seed=0))
    assert (ds.items, ds.batches) == (0, 4)


def test_loader_over_subset_reads_the_whole_dataset_in_batches():
    ds = Counting(np.zeros((10, 2)), np.arange(10))
    train, _ = random_split(ds, [8, 2], seed=0)
    labels = np.concatenate([y.detach().numpy() for _, y in DataLoader(train, batch_size=3)])
    assert (ds.items, ds.batches) == (0, 3) and np.array_equal(labels, train.indices)


def test_loader_stacks_the_samples_of_a_generic_dataset():
    x, y = next(iter(DataLoader(Pairs(5), batch_size=4)))
    # the dataset decides the dtype (float64 samples), the loader does not cast again
    assert x.shape == (4, 2) and x.dtype == np.float64 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 2, 0]


def test_loader_single_field_samples_give_single_tensors():
    batch = next(iter(DataLoader([np.zeros(3), np.ones(3)], batch_size=2)))
    assert isinstance(batch, nerve.Tensor) and batch.shape == (2, 3)


def test_loader_samples_of_different_shapes_raise():
    with pytest.raises(ValueError, match="shapes"):
        list(DataLoader([np.zeros(3), np.ones(2)], batch_size=2))


@pytest.mark.parametrize("kwargs, error, text", [
    ({"batch_size": 0}, ValueError, "batch_size=0"),
    ({"batch_size": 2.5}, TypeError, "batch_size=2.5"),
    ({"batch_size": True}, TypeError, "batch_size=True"),
    ({"shuffle": "yes"}, TypeError, "shuffle='yes'"),
    ({"drop_last": 1}, TypeError, "drop_last=1"),
    ({"seed": -1}, ValueError, "seed=-1"),
])
def test_loader_validates_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        DataLoader(_dataset(), **kwargs)


def test_loader_rejects_a_non_dataset():
    with pytest.raises(TypeError, match="int"):
        DataLoader(5)


# --- synthetic data ---------------------------------------------------------------------------
def test_make_xor_truth_table():
    x, y = make_xor()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]


def test_make_xor_noisy_points_around_the_corners():
    x, y = make_xor(400, noise=0.1, seed=0)
    assert np.array_equal(np.round(x[:, 0]).astype(int) ^ np.round(x[:, 1]).astype(int), y)
    assert np.abs(x - np.round(x)).std() > 0.01


MAKERS = [
    (make_xor, {"n_samples": 40}, 2, 2),
    (make_spirals, {"n_samples": 60}, 2, 2),
    (make_spirals, {"n_samples": 60, "n_classes": 3}, 2, 3),
    (make_moons, {"n_samples": 60}, 2, 2),
    (make_blobs, {"n_samples": 60, "centers": 4, "n_features": 5}, 5, 4),
]


@pytest.mark.parametrize("maker, kwargs, features, classes", MAKERS)
def test_makers_shapes_dtypes_and_balance(maker, kwargs, features, classes):
    x, y = maker(seed=0, **kwargs)
    assert x.shape == (kwargs["n_samples"], features) and x.dtype == np.float32
    assert y.dtype == np.int64 and np.ptp(np.bincount(y, minlength=classes)) <= 1


@pytest.mark.parametrize("maker, kwargs, features, classes", MAKERS)
def test_makers_same_seed_same_arrays(maker, kwargs, features, classes):
    (x1, y1), (x2, y2), (x3, _) = (maker(seed=s, **kwargs) for s in (3, 3, 4))
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)


def test_makers_give_the_default_dtype():
    nerve.set_default_dtype(nerve.float64)
    try:
        assert make_moons(10, seed=0)[0].dtype == np.float64
        assert make_xor()[0].dtype == np.float64
    finally:
        nerve.set_default_dtype(nerve.float32)
    assert make_xor()[0].dtype == np.float32


@pytest.mark.parametrize("call, error, text", [
    (lambda: make_moons(10, noise=-1), ValueError, "make_moons: expected noise >= 0. "
                                                   "Received: noise=-1"),
    (lambda: make_xor(2), ValueError, "make_xor: expected an integer >= 4. Received: "
                                      "n_samples=2"),
    (lambda: make_blobs(10, centers=0), ValueError, "make_blobs: expected a positive integer"),
    (lambda: make_spirals(10.5), TypeError, "n_samples=10.5"),
    (lambda: make_moons(10, seed=-2), ValueError, "make_moons: .* seed=-2"),
])
def test_makers_errors_name_the_maker_and_the_value(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_makers_without_seed_follow_manual_seed():
    nerve.manual_seed(2)
    a = make_moons(20)[0]
    nerve.manual_seed(2)
    assert np.array_equal(a, make_moons(20)[0])


def test_make_blobs_given_centers():
    x, y = make_blobs(300, centers=[[0, 0, 0], [20, 20, 20]], cluster_std=[0.1, 0.5], seed=0)
    assert x.shape == (300, 3) and np.allclose(x[y == 1].mean(0), 20, atol=0.2)


@pytest.mark.parametrize("call", [
    lambda: make_blobs(10, centers=[[0, 0]], n_features=3),
    lambda: make_blobs(10, centers=2, cluster_std=[1, 2, 3]),
    lambda: make_spirals(10, n_classes=1),
    lambda: make_moons(10, noise=-1),
    lambda: make_xor(2),
])
def test_makers_reject_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# --- digits -----------------------------------------------------------------------------------
def test_load_digits_shape_and_range():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 1 and load_digits(flatten=False)[0].shape == (1797, 8, 8)


def test_load_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install scikit-learn .*pip install "\.\[digits\]"'):
        load_digits()


def test_import_nerve_data_imports_no_heavy_module():
    code = ("import sys, nerve.data; "
            "print([m for m in ('torch', 'sklearn', 'urllib.request') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- MNIST IDX --------------------------------------------------------------------------------
def test_mnist_t10k_labels_and_images(shared):
    images, labels = load_mnist(shared / "mnist-t10k")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == MNIST_COUNTS


def test_mnist_t10k_split_convention(shared):
    (xt, yt), (xe, ye) = mnist_t10k_split(shared / "mnist-t10k")
    assert xt.shape == (8000, 784) and xe.shape == (2000, 784) and xt.dtype == np.float32
    assert xt.min() == 0 and xt.max() == 1 and yt[0] == 7 and len(ye) == 2000
    (x4, _), _ = mnist_t10k_split(shared / "mnist-t10k", flatten=False)
    assert x4.shape == (8000, 1, 28, 28) and np.array_equal(x4.reshape(8000, -1), xt)


def test_mnist_t10k_split_standardize(shared):
    """PyTorch's Normalize((0.1307,), (0.3081,)) on both splits: (p - mean) / std per pixel."""
    (xt, _), (xe, _) = mnist_t10k_split(shared / "mnist-t10k")
    (st, _), (se, _) = mnist_t10k_split(shared / "mnist-t10k", standardize=True)
    assert st.dtype == np.float32 and (MNIST_MEAN, MNIST_STD) == (0.1307, 0.3081)
    for raw, std in ((xt, st), (xe, se)):
        np.testing.assert_allclose(std, (raw - 0.1307) / 0.3081, rtol=1e-6, atol=1e-6)
    assert abs(float(st.mean())) < 0.01 and abs(float(st.std()) - 1) < 0.01
    with pytest.raises(TypeError, match="standardize"):
        mnist_t10k_split(shared / "mnist-t10k", standardize="yes")


def test_read_idx_raw_file(shared, tmp_path):
    raw = gzip.decompress((shared / "mnist-t10k" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "labels").write_bytes(raw)
    assert read_idx(tmp_path / "labels")[:3].tolist() == [7, 2, 1]


BIG_ENDIAN = [(">i2", 0x0B), (">i4", 0x0C), (">f4", 0x0D), (">f8", 0x0E)]


@pytest.mark.parametrize("dtype, code", BIG_ENDIAN)
def test_read_idx_big_endian_dtypes(tmp_path, dtype, code):
    values = np.arange(-3, 3).reshape(2, 3).astype(dtype)
    header = bytes([0, 0, code, 2]) + np.array([2, 3], ">u4").tobytes()
    (tmp_path / "a.idx").write_bytes(header + values.tobytes())
    out = read_idx(tmp_path / "a.idx")
    assert out.dtype.isnative and np.array_equal(out, values)


def _idx_file(tmp_path, payload: bytes, compress=False) -> Path:
    path = tmp_path / ("f.gz" if compress else "f")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def test_read_idx_truncated_file_says_expected_and_received(tmp_path):
    payload = bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + bytes(7)
    with pytest.raises(ValueError, match="truncated: expected 18 bytes.*received 15"):
        read_idx(_idx_file(tmp_path, payload))


def test_read_idx_truncated_gzip_raises_valueerror(shared, tmp_path):
    data = (shared / "mnist-t10k" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "cut.gz")


@pytest.mark.parametrize("payload, text", [
    (b"PK\x03\x04rest", "not an IDX file"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "dtype code 0x07"),
    (bytes([0, 0, 8, 2, 0, 0]), "header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 5, 6]), "longer"),
])
def test_read_idx_bad_files_raise_valueerror(tmp_path, payload, text):
    with pytest.raises(ValueError, match=text):
        read_idx(_idx_file(tmp_path, payload, compress=True))


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="test")


# --- download from a local server -------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(shared, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    handler = functools.partial(_Quiet, directory=str(shared))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


LABELS = "mnist-t10k/t10k-labels-idx1-ubyte.gz"


def test_download_checks_sha256_and_writes_the_file(server, shared, tmp_path):
    sha = hashlib.sha256((shared / LABELS).read_bytes()).hexdigest()
    dest = download(f"{server}/{LABELS}", tmp_path / "sub" / "labels.gz", sha)
    assert dest.read_bytes() == (shared / LABELS).read_bytes()
    assert read_idx(dest)[:3].tolist() == [7, 2, 1]


def test_download_checksum_mismatch_writes_nothing(server, tmp_path):
    with pytest.raises(ValueError, match="expected sha256 0{64}, received [0-9a-f]{64}"):
        download(f"{server}/{LABELS}", tmp_path / "labels.gz", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_download_keeps_a_file_that_matches(server, shared, tmp_path):
    dest = tmp_path / "labels.gz"
    dest.write_bytes((shared / LABELS).read_bytes())
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert download(f"{server}/missing.gz", dest, sha) == dest


def test_download_replaces_a_wrong_file(server, shared, tmp_path):
    dest = tmp_path / "labels.gz"
    dest.write_bytes(b"old")
    sha = hashlib.sha256((shared / LABELS).read_bytes()).hexdigest()
    download(f"{server}/{LABELS}", dest, sha)
    assert dest.read_bytes() == (shared / LABELS).read_bytes()


@pytest.mark.parametrize("url, sha", [("ftp://x/y", "0" * 64), ("http://127.0.0.1/y", "abc")])
def test_download_rejects_bad_arguments(tmp_path, url, sha):
    with pytest.raises(ValueError):
        download(url, tmp_path / "f", sha)


def test_download_mismatch_leaves_an_existing_file_as_it_was(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"new bytes")
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"old bytes")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download(source.as_uri(), dest, "0" * 64)
    assert dest.read_bytes() == b"old bytes" and temp_files(dest) == []
    sha = hashlib.sha256(b"new bytes").hexdigest()
    assert download(source.as_uri(), dest, sha).read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest.bin", "source.bin"]


def test_download_checks_timeout(tmp_path):
    with pytest.raises(ValueError, match="timeout=0"):
        download("file:///x", tmp_path / "f", "0" * 64, timeout=0)


def test_atomic_write_streams_and_an_error_aborts(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_write(path) as f:
        f.write(b"one ")
        f.write(b"two")
    assert path.read_bytes() == b"one two"
    with pytest.raises(RuntimeError, match="abort"), atomic_write(path) as f:
        f.write(b"three")
        assert temp_files(path) != [] and path.read_bytes() == b"one two"
        raise RuntimeError("abort")
    assert path.read_bytes() == b"one two" and temp_files(path) == []


def test_atomic_write_bytes_is_the_streaming_form(tmp_path):
    from nerve.io import atomic_write_bytes

    atomic_write_bytes(tmp_path / "g.bin", b"bytes")
    assert (tmp_path / "g.bin").read_bytes() == b"bytes" and atomic_write_bytes is (
        nerve.files.atomic_write_bytes)


# --- time series ------------------------------------------------------------------------------
def test_load_csv_sunspots(shared):
    data = load_csv(shared / "timeseries" / "sunspots.csv")
    assert data.shape == (309, 2) and data.dtype == np.float32
    assert data[0].tolist() == [1700, 5] and data[-1, 0] == 2008


def test_load_csv_one_column_is_1d(shared):
    activity = load_csv(shared / "timeseries" / "sunspots.csv", columns="SUNACTIVITY")
    assert activity.shape == (309,) and activity[:3].tolist() == [5, 11, 16]


def test_load_csv_bad_column_or_values(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(ValueError, match="'c'"):
        load_csv(path, columns=["c"])
    with pytest.raises(ValueError, match="numbers"):
        load_csv(path)


def test_make_windows_matches_a_loop():
    series = np.arange(20.0).reshape(10, 2)
    x, y = make_windows(series, window=4, horizon=2)
    # a float64 series keeps its precision (TensorDataset decides the training dtype)
    assert x.shape == (5, 4, 2) and y.shape == (5, 2, 2) and x.dtype == y.dtype == np.float64
    for i in range(5):
        assert np.array_equal(x[i], series[i:i + 4]) and np.array_equal(y[i], series[i + 4:i + 6])


def test_make_windows_1d_series_and_errors():
    x, y = make_windows(np.arange(10), window=3)
    assert x.shape == (7, 3, 1) and y.shape == (7, 1, 1) and y[0, 0, 0] == 3
    assert x.dtype == np.float32  # an integer series becomes the default float dtype
    with pytest.raises(ValueError, match="window=8 \\+ horizon=3"):
        make_windows(np.arange(10), window=8, horizon=3)
    with pytest.raises(ValueError, match="window=0"):
        make_windows(np.arange(10), window=0)


def test_sunspot_windows_through_a_loader(shared):
    activity = load_csv(shared / "timeseries" / "sunspots.csv", columns=["SUNACTIVITY"])
    x, y = make_windows(activity, window=12)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0))
    assert len(batches) == 5 and batches[0][0].shape == (64, 12, 1)
    assert sum(len(b[1]) for b in batches) == 309 - 12


def test_collate_refuses_a_nested_field_that_mixes_integers_and_floats():
    """Found in review: (x, (label, weight)) was stacked into one float array, the integer
    label silently turned into a float."""
    from nerve.data.dataset import collate

    with pytest.raises(ValueError, match="field 1 mixes integers and floats"):
        collate([(np.zeros(2), (i, 0.5 * i)) for i in range(3)])
    x, pairs = collate([(np.zeros(2), (i, i + 1)) for i in range(3)])  # one kind: one array
    assert pairs.dtype.kind == "i" and pairs.tolist() == [[0, 1], [1, 2], [2, 3]]
