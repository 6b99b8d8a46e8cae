"""ConcatDataset and WeightedRandomSampler (nerve.data), and Tensor.new_zeros/new_ones/new_full/
new_empty/new_tensor, against PyTorch: the same samples at the same indices, draws whose
frequencies match the weights (chi-square bounds), the same dtypes, shapes and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import nerve
from nerve.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    collate,
)
from nerve.data.dataset import fetch_batch
from tests.fake_cuda import FakeCudaArray, fake_gpu_registered


def _np(x) -> np.ndarray:
    """A torch or nerve tensor's values as an ndarray."""
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x.numpy()


# --- ConcatDataset --------------------------------------------------------------------------
def _parts(seed: int = 0, sizes=(3, 0, 5, 2)):
    """Arrays of several parts (one empty) with a float feature and an int label each."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 2, 3)), np.arange(n) + 100 * k)
            for k, n in enumerate(sizes)]


def _both(parts, dtype=np.float64):
    mine = ConcatDataset([TensorDataset(x, y, dtype=dtype) for x, y in parts])
    theirs = tud.ConcatDataset([tud.TensorDataset(torch.from_numpy(x.astype(dtype)),
                                                  torch.from_numpy(y)) for x, y in parts])
    return mine, theirs


def _same_sample(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert str(u.dtype) == str(v.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(_np(u), _np(v))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concat_matches_torch_at_every_index_and_cumulative_sizes(dtype):
    mine, theirs = _both(_parts(), dtype)
    assert len(mine) == len(theirs) == 10
    assert mine.cumulative_sizes == theirs.cumulative_sizes == [3, 3, 8, 10]
    assert ConcatDataset.cumsum(mine.datasets) == theirs.cumsum(theirs.datasets)
    for i in range(-len(theirs), len(theirs)):
        _same_sample(mine[i], theirs[i])
    assert len(mine.datasets) == 4


def test_concat_index_errors_match_torch():
    mine, theirs = _both(_parts())
    for ds in (mine, theirs):
        with pytest.raises(ValueError, match="absolute value of index"):
            ds[-11]
        with pytest.raises(IndexError):
            ds[10]
    _same_sample(mine[np.int64(-10)], theirs[-10])
    with pytest.raises(TypeError, match="integer index"):
        mine[1.0]
    with pytest.raises(IndexError, match="out of range"):
        mine.get_batch(np.array([0, 10]))
    with pytest.raises(IndexError, match="out of range"):
        mine.get_batch(np.array([-1]))


def test_concat_bad_arguments():
    with pytest.raises(ValueError, match="at least one dataset"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="iterable of datasets"):
        ConcatDataset(TensorDataset(np.ones((2, 1))))
    with pytest.raises(TypeError, match="datasets\\[1\\]"):
        ConcatDataset([TensorDataset(np.ones((2, 1))), 5])


def test_concat_accepts_any_iterable_and_the_plus_operator():
    a, b = TensorDataset(np.ones((2, 1))), TensorDataset(np.zeros((3, 1)))
    assert ConcatDataset(d for d in (a, b)).cumulative_sizes == [2, 5]
    both = a + b
    assert isinstance(both, ConcatDataset) and both.cumulative_sizes == [2, 5]
    assert (both + a).cumulative_sizes == [5, 7]  # as in torch: a ConcatDataset of two


@pytest.mark.parametrize("order", [[0, 1, 2], [9, 0, 3, 8, 2, 5], [4, 4, 3], [7, 6, 5, 9, 8]])
def test_concat_get_batch_equals_the_stacked_samples(order):
    mine, theirs = _both(_parts())
    idx = np.array(order)
    xb, yb = mine.get_batch(idx)
    tx, ty = tud.default_collate([theirs[i] for i in order])
    np.testing.assert_array_equal(xb, tx.numpy())
    np.testing.assert_array_equal(yb, ty.numpy())
    assert xb.dtype == np.float64 and yb.dtype == np.int64


def test_concat_batches_read_each_part_at_once(monkeypatch):
    parts = [TensorDataset(x, y) for x, y in _parts()]
    calls = []
    for k, part in enumerate(parts):
        original = part.get_batch
        monkeypatch.setattr(part, "get_batch",
                            lambda ix, k=k, original=original: (calls.append((k, ix.tolist())),
                                                                original(ix))[1])
    mine = ConcatDataset(parts)
    mine.get_batch(np.array([9, 0, 3, 8, 2, 5]))
    assert sorted(calls) == [(0, [0, 2]), (2, [0, 2]), (3, [1, 0])]  # one call per part
    calls.clear()
    mine.get_batch(np.array([4, 5]))  # one part: its batch as it is
    assert calls == [(2, [1, 2])]


def test_concat_in_a_dataloader_matches_torch_in_order():
    parts = _parts()
    mine, theirs = _both(parts, np.float32)
    got = list(DataLoader(mine, batch_size=4))
    want = list(tud.DataLoader(theirs, batch_size=4))
    assert len(got) == len(want) == 3
    for (x, y), (tx, ty) in zip(got, want, strict=True):
        assert isinstance(x, nerve.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x.numpy(), tx.numpy())
        np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_concat_in_a_shuffled_dataloader_gives_each_sample_once():
    mine, theirs = _both(_parts())
    seen = []
    for x, y in DataLoader(mine, batch_size=3, shuffle=True, seed=1):
        for xi, yi in zip(x.numpy(), y.numpy(), strict=True):
            i = [int(_np(theirs[j][1])) for j in range(len(theirs))].index(int(yi))
            np.testing.assert_array_equal(xi, theirs[i][0].numpy())
            seen.append(i)
    assert sorted(seen) == list(range(10)) and seen != list(range(10))


class _Records(Dataset):
    """A dataset without get_batch of its own: dict samples with a name (a string field)."""

    def __init__(self, names, start):
        self.names, self.start = names, start

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        return {"x": np.full(2, self.start + i, dtype=np.float32), "name": self.names[i]}


def test_concat_of_dict_samples_with_names_batches_as_the_samples_do():
    a, b = _Records(["a0", "a1"], 0), _Records(["b0", "b1", "b2"], 10)
    both = ConcatDataset([a, b])
    idx = np.array([3, 0, 4, 1])
    batch = fetch_batch(both, idx)
    want = collate([both[int(i)] for i in idx])
    assert batch["name"] == want["name"] == ["b1", "a0", "b2", "a1"]
    np.testing.assert_array_equal(batch["x"], want["x"])
    loaded = list(DataLoader(both, batch_size=5, sampler=[3, 0, 4, 1, 2]))
    assert loaded[0]["name"] == ["b1", "a0", "b2", "a1", "b0"]
    np.testing.assert_array_equal(loaded[0]["x"].numpy()[:, 0], [11, 0, 12, 1, 10])


def test_concat_of_a_subset_and_single_array_parts():
    base = TensorDataset(np.arange(10.0).reshape(5, 2))
    both = ConcatDataset([Subset(base, [4, 0]), base])
    np.testing.assert_array_equal(both.get_batch(np.array([2, 0, 1]))[0],
                                  [[0, 1], [8, 9], [0, 1]])

    class Single(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.array([i, i], dtype=np.int64)

    single = ConcatDataset([Single(), Single()])
    np.testing.assert_array_equal(single.get_batch(np.array([5, 0])), [[2, 2], [0, 0]])


def test_concat_of_parts_that_do_not_fit_together_is_refused():
    with pytest.raises(ValueError, match="different structures"):
        ConcatDataset([TensorDataset(np.ones((2, 1))), TensorDataset(np.ones((2, 1)),
                                                                     np.ones(2))]).get_batch(
            np.array([0, 2]))
    with pytest.raises(ValueError, match="shapes"):
        ConcatDataset([TensorDataset(np.ones((2, 1))),
                       TensorDataset(np.ones((2, 3)))]).get_batch(np.array([0, 2]))


# --- WeightedRandomSampler ------------------------------------------------------------------
def _chi2(counts, probs) -> float:
    """Pearson's chi-square of ``counts`` against the probabilities ``probs`` (all > 0)."""
    counts, probs = np.asarray(counts, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


# The bounds: chi-square's 1 - 1e-6 quantiles (4 degrees of freedom: 33.4; 11: 48.3); a
# sampler that ignores the weights lands in the thousands.
def test_with_replacement_the_frequencies_follow_the_weights():
    nerve.manual_seed(0)
    weights = [1.0, 2.0, 3.0, 4.0, 0.0, 10.0]
    sampler = WeightedRandomSampler(weights, 200_000)
    drawn = np.array(list(sampler))
    assert len(drawn) == len(sampler) == 200_000
    counts = np.bincount(drawn, minlength=6)
    assert counts[4] == 0  # a zero weight is never drawn
    w = np.array(weights)[[0, 1, 2, 3, 5]]
    assert _chi2(counts[[0, 1, 2, 3, 5]], w / w.sum()) < 33.4
    uniform = np.full(5, 0.2)
    assert _chi2(counts[[0, 1, 2, 3, 5]], uniform) > 1000  # the bound can fail


def _pair_probabilities(w):
    """P(first = i, second = j) of two draws without replacement, as torch.multinomial."""
    w = np.asarray(w, dtype=np.float64)
    s = w.sum()
    return {(i, j): w[i] / s * w[j] / (s - w[i])
            for i in range(len(w)) for j in range(len(w)) if i != j}


def test_without_replacement_the_ordered_pairs_follow_successive_draws():
    weights = [1.0, 2.0, 3.0, 4.0]
    sampler = WeightedRandomSampler(weights, 2, replacement=False,
                                    generator=torch.Generator().manual_seed(3))
    pairs = [tuple(sampler) for _ in range(20_000)]
    assert all(i != j for i, j in pairs)
    probs = _pair_probabilities(weights)
    keys = sorted(probs)
    counts = [sum(1 for p in pairs if p == k) for k in keys]
    assert _chi2(counts, [probs[k] for k in keys]) < 48.3
    # torch's own draws give the same frequencies (the formula is torch's meaning)
    rows = torch.multinomial(torch.tensor(weights).repeat(20_000, 1), 2, replacement=False,
                             generator=torch.Generator().manual_seed(0))
    theirs = [tuple(r) for r in rows.tolist()]
    assert _chi2([theirs.count(k) for k in keys], [probs[k] for k in keys]) < 48.3
    # drawing independently (with replacement, then dropping repeats) would not match
    indep = {k: weights[k[0]] * weights[k[1]] / (sum(weights) ** 2 - sum(
        x * x for x in weights)) for k in keys}
    assert _chi2(counts, [indep[k] for k in keys]) > 48.3


def test_without_replacement_all_nonzero_weights_give_a_permutation_of_them():
    nerve.manual_seed(1)
    sampler = WeightedRandomSampler(np.array([0.0, 5.0, 1.0, 0.0, 2.0]), 3, replacement=False)
    for _ in range(50):
        assert sorted(sampler) == [1, 2, 4]


def test_the_weights_are_kept_as_float64_like_torch():
    for weights in ([1, 2, 3], np.array([0.5, 1.5]), nerve.tensor([1.0, 2.0]),
                    torch.tensor([3.0, 1.0])):
        mine = WeightedRandomSampler(weights, 4)
        theirs = tud.WeightedRandomSampler(weights if not isinstance(weights, nerve.Tensor)
                                           else weights.tolist(), 4)
        assert mine.weights.dtype == np.float64 and theirs.weights.dtype == torch.float64
        np.testing.assert_array_equal(mine.weights.numpy(), theirs.weights.numpy())
        assert len(mine) == len(theirs) == 4 and mine.replacement is theirs.replacement


def test_draws_are_repeatable_with_nerve_seed_a_numpy_generator_or_a_torch_generator():
    w = np.arange(1.0, 21.0)
    nerve.manual_seed(7)
    first = list(WeightedRandomSampler(w, 30))
    nerve.manual_seed(7)
    assert list(WeightedRandomSampler(w, 30)) == first
    a = WeightedRandomSampler(w, 30, generator=np.random.default_rng(5))
    b = WeightedRandomSampler(w, 30, generator=np.random.default_rng(5))
    epochs_a, epochs_b = [list(a), list(a)], [list(b), list(b)]
    assert epochs_a == epochs_b and epochs_a[0] != epochs_a[1]
    t1 = WeightedRandomSampler(w, 20, replacement=False,
                               generator=torch.Generator().manual_seed(9))
    t2 = WeightedRandomSampler(w, 20, replacement=False,
                               generator=torch.Generator().manual_seed(9))
    e0, e1 = list(t1), list(t1)
    assert e0 == list(t2) and e1 == list(t2) and e0 != e1
    t2.set_epoch(0)
    assert list(t2) == e0  # set_epoch picks an epoch's draws again
    assert sorted(e0) == list(range(20))


def test_the_sampler_in_a_dataloader():
    x = np.arange(12.0).reshape(6, 2)
    data = TensorDataset(x, np.arange(6))
    sampler = WeightedRandomSampler([0, 0, 1, 0, 1, 0], 7, generator=np.random.default_rng(0))
    loader = DataLoader(data, batch_size=3, sampler=sampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(b[1]) for b in batches] == [3, 3, 1]
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert set(labels.tolist()) <= {2, 4}
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]),
                                  x[labels].astype(np.float32))
    assert len(DataLoader(data, batch_size=3, sampler=sampler, drop_last=True)) == 2
    with pytest.raises(ValueError, match="shuffle=False"):
        DataLoader(data, sampler=sampler, shuffle=True)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"weights": [1.0, -0.5], "num_samples": 2}, ValueError, "non-negative"),
    ({"weights": [1.0, float("nan")], "num_samples": 2}, ValueError, "finite"),
    ({"weights": [1.0, float("inf")], "num_samples": 2}, ValueError, "finite"),
    ({"weights": [0.0, 0.0], "num_samples": 2}, ValueError, "positive weight"),
    ({"weights": [], "num_samples": 2}, ValueError, "non-empty 1-D"),
    ({"weights": [[1.0, 2.0]], "num_samples": 2}, ValueError, "1-D"),
    ({"weights": "abc", "num_samples": 2}, TypeError, "weights"),
    ({"weights": [1.0], "num_samples": 0}, ValueError, "positive integer"),
    ({"weights": [1.0], "num_samples": -3}, ValueError, "positive integer"),
    ({"weights": [1.0], "num_samples": 2.0}, TypeError, "integer"),
    ({"weights": [1.0], "num_samples": True}, TypeError, "integer"),
    ({"weights": [1.0], "num_samples": 1, "replacement": 1}, TypeError, "True or False"),
    ({"weights": [1.0, 0.0, 2.0], "num_samples": 3, "replacement": False}, ValueError,
     "non-zero weights"),
    ({"weights": [1.0, 2.0], "num_samples": 3, "replacement": False}, ValueError,
     "num_samples <= the 2"),
    ({"weights": [1.0], "num_samples": 1, "generator": 5}, TypeError, "generator"),
])
def test_sampler_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        WeightedRandomSampler(**kwargs)


def test_torch_refuses_the_same_arguments_at_the_first_draw():
    for weights in ([1.0, -0.5], [0.0, 0.0]):
        with pytest.raises(RuntimeError, match="invalid multinomial distribution"):
            list(tud.WeightedRandomSampler(weights, 2))
    with pytest.raises(ValueError):
        tud.WeightedRandomSampler([1.0], 0)
    # torch documents num_samples <= the non-zero weights without replacement, but its CPU
    # kernel then hands out the zero-weight indices last; nerve refuses (test above)
    assert list(tud.WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False))[-1] == 1
    # one more non-zero weight than samples is fine for both
    assert sorted(tud.WeightedRandomSampler([1.0, 0.0, 2.0], 2, replacement=False)) == [0, 2]
    assert sorted(WeightedRandomSampler([1.0, 0.0, 2.0], 2, replacement=False)) == [0, 2]


# --- Tensor.new_* ---------------------------------------------------------------------------
DTYPES = [("float32", torch.float32), ("float64", torch.float64), ("int64", torch.int64)]


def _same(mine: nerve.Tensor, theirs: torch.Tensor, values: bool = True):
    assert isinstance(mine, nerve.Tensor)
    assert str(mine.dtype) == str(theirs.dtype).removeprefix("torch.")
    assert tuple(mine.shape) == tuple(theirs.shape)
    assert mine.requires_grad == theirs.requires_grad
    if values:
        np.testing.assert_array_equal(mine.detach().numpy(), theirs.detach().numpy())


def _pair(name, tdtype):
    data = [[1, 2, 3], [4, 5, 6]]
    return nerve.tensor(data, dtype=name), torch.tensor(data, dtype=tdtype)


@pytest.mark.parametrize(("name", "tdtype"), DTYPES)
@pytest.mark.parametrize("method", ["new_zeros", "new_ones", "new_empty"])
@pytest.mark.parametrize("size", [(2, 3), ((2, 3),), ([4],), (0,), ((),), (torch.Size([1, 2]),)])
def test_new_zeros_ones_empty_match_torch(name, tdtype, method, size):
    t, tt = _pair(name, tdtype)
    mine, theirs = getattr(t, method)(*size), getattr(tt, method)(*size)
    _same(mine, theirs, values=method != "new_empty")
    assert mine.device == "cpu"


@pytest.mark.parametrize(("name", "tdtype"), DTYPES)
@pytest.mark.parametrize("fill", [2.5, -3, True, 7])
def test_new_full_takes_the_tensor_dtype_not_the_value_kind(name, tdtype, fill):
    t, tt = _pair(name, tdtype)
    _same(t.new_full((2, 2), fill), tt.new_full((2, 2), fill))
    _same(t.new_full([3], fill), tt.new_full([3], fill))
    _same(t.new_full((2,), nerve.tensor(fill)), tt.new_full((2,), torch.tensor(fill)))


@pytest.mark.parametrize(("name", "tdtype"), DTYPES)
@pytest.mark.parametrize("data", [[1, 2], [1.5, -2.25], 3, 2.75, [[True, False]],
                                  np.array([4, 5], dtype=np.int32), np.array([0.5], np.float64)])
def test_new_tensor_takes_the_tensor_dtype_not_the_data_kind(name, tdtype, data):
    t, tt = _pair(name, tdtype)
    _same(t.new_tensor(data), tt.new_tensor(data))


@pytest.mark.parametrize(("name", "tdtype"), DTYPES)
@pytest.mark.parametrize("other", [("float64", torch.float64), ("int32", torch.int32),
                                   ("float32", torch.float32), ("bool", torch.bool)])
def test_new_methods_take_a_dtype_keyword(name, tdtype, other):
    t, tt = _pair(name, tdtype)
    _same(t.new_zeros(2, 1, dtype=other[0]), tt.new_zeros(2, 1, dtype=other[1]))
    _same(t.new_ones((3,), dtype=other[0]), tt.new_ones((3,), dtype=other[1]))
    _same(t.new_empty(3, dtype=other[0]), tt.new_empty(3, dtype=other[1]), values=False)
    _same(t.new_full((2,), 1.5, dtype=other[0]), tt.new_full((2,), 1.5, dtype=other[1]))
    _same(t.new_tensor([0.5, 2.0], dtype=other[0]), tt.new_tensor([0.5, 2.0], dtype=other[1]))
    _same(t.new_zeros(2, dtype=getattr(nerve, other[0]) if other[0] != "bool" else nerve.bool),
          tt.new_zeros(2, dtype=other[1]))


@pytest.mark.parametrize(("name", "tdtype"), DTYPES[:2])
def test_new_methods_take_requires_grad(name, tdtype):
    t, tt = _pair(name, tdtype)
    for method, args in (("new_zeros", (2,)), ("new_ones", (2, 2)), ("new_empty", ((1,),)),
                         ("new_full", ((2,), 3.0)), ("new_tensor", ([1.0, 2.0],))):
        mine = getattr(t, method)(*args, requires_grad=True)
        theirs = getattr(tt, method)(*args, requires_grad=True)
        _same(mine, theirs, values=method != "new_empty")
        assert mine.is_leaf and mine.grad is None
        (mine * 2).sum().backward()
        np.testing.assert_array_equal(mine.grad.numpy(), np.full(mine.shape, 2.0))


def test_new_methods_on_an_int_tensor_refuse_requires_grad_as_torch_does():
    t, tt = _pair("int64", torch.int64)
    with pytest.raises(RuntimeError):
        tt.new_zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        t.new_zeros(2, requires_grad=True)
    _same(t.new_zeros(2, dtype="float32", requires_grad=True),
          tt.new_zeros(2, dtype=torch.float32, requires_grad=True))


def test_new_tensor_copies_and_detaches():
    source = nerve.tensor([1.0, 2.0], requires_grad=True)
    base = nerve.zeros(1, dtype="float64")
    copy = base.new_tensor(source)
    assert copy.dtype == np.float64 and not copy.requires_grad and copy.is_leaf
    source.data[0] = 9.0
    assert copy.tolist() == [1.0, 2.0]
    arr = np.array([1.0, 2.0])
    shared = base.new_tensor(arr)
    arr[0] = 5.0
    assert shared.tolist() == [1.0, 2.0]


def test_new_methods_results_are_new_memory_and_independent_of_the_source():
    t = nerve.ones(2, 2, requires_grad=True)
    z = t.new_zeros(2, 2)
    assert not z.requires_grad and z.grad_fn is None and z._data is not t._data
    z.add_(1.0)
    assert t.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_new_methods_refuse_bad_sizes_and_values():
    t = nerve.zeros(2)
    with pytest.raises(TypeError, match="new_zeros: expected a size"):
        t.new_zeros()
    with pytest.raises(ValueError, match="new_ones: expected a shape of non-negative"):
        t.new_ones(-1)
    with pytest.raises(ValueError, match="new_empty: expected a shape"):
        t.new_empty(2.0)
    with pytest.raises(ValueError, match="new_full: expected a shape"):
        t.new_full((2, -2), 1.0)
    with pytest.raises(TypeError, match="fill_value"):
        t.new_full((2,), "one")
    with pytest.raises(TypeError, match="fill_value"):
        t.new_full((2,), nerve.ones(2))
    with pytest.raises(TypeError):
        t.new_full((2,), 1.0, "float64")  # dtype is keyword-only, as in torch
    with pytest.raises(TypeError):
        t.new_zeros(2, layout="strided")  # what nerve does not have is refused, not ignored


def test_new_methods_take_a_device_keyword_on_the_cpu():
    t = nerve.zeros(2, dtype="float64")
    for made in (t.new_zeros(2, device="cpu"), t.new_ones(2, device=nerve.device("cpu")),
                 t.new_full((2,), 1.0, device="cpu"), t.new_empty(2, device="cpu"),
                 t.new_tensor([1.0], device="cpu")):
        assert made.device == "cpu" and made.dtype == np.float64


def test_new_methods_keep_the_device_of_a_gpu_tensor():
    with fake_gpu_registered():
        t = nerve.ones(2, dtype=nerve.float64, device="cuda")
        made = [t.new_zeros(2, 3), t.new_ones((1,)), t.new_full((2,), 4.0), t.new_empty(3),
                t.new_tensor([1, 2])]
        for m in made:
            assert isinstance(m._data, FakeCudaArray) and m.device == "cuda:0"
            assert m.dtype == np.float64
        assert made[2].cpu().tolist() == [4.0, 4.0] and made[4].cpu().tolist() == [1.0, 2.0]
        on_cpu = t.new_zeros(2, device="cpu")
        assert type(on_cpu._data) is np.ndarray and on_cpu.device == "cpu"
        host = nerve.ones(2)
        assert isinstance(host.new_ones(2, device="cuda")._data, FakeCudaArray)
