"""Datasets: the abstract ``Dataset``, arrays as ``TensorDataset``, ``Subset``, ``random_split``,
several datasets end to end as ``ConcatDataset`` (``a + b``).

A dataset answers ``len(ds)`` and ``ds[i]``. It may also answer ``ds.get_batch(indices)`` with
the samples at an index array already stacked (a tuple of ndarrays, one per field);
``TensorDataset`` does so with one fancy index per array, and ``DataLoader`` uses it.
A dataset decides the dtype of its samples; nothing downstream (``collate``, ``DataLoader``)
casts them again.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import numeric_array, random_generator

Batch = tuple[np.ndarray, ...] | np.ndarray


class Dataset(ABC):
    """A collection of samples that knows its length and gives the sample at an index."""

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of samples."""

    @abstractmethod
    def __getitem__(self, index: int):
        """Return the sample at ``index`` (a tuple of fields, e.g. ``(x, y)``)."""

    def get_batch(self, indices: np.ndarray) -> Batch:
        """Return the samples at ``indices`` stacked into arrays (by default one at a time)."""
        return collate([self[int(i)] for i in indices])

    def __add__(self, other) -> ConcatDataset:
        """``a + b``: the samples of ``a`` then those of ``b`` (PyTorch's ``ConcatDataset``)."""
        return ConcatDataset([self, other])


def collate(samples: Sequence) -> Batch:
    """Stack samples into batch arrays: a tuple with one array per field, a dict with one
    array per key (samples that are dicts, as PyTorch's default collate), or one array."""
    if len(samples) == 0:
        raise ValueError("collate needs at least one sample, got an empty list")
    first = samples[0]
    if isinstance(first, Mapping):
        keys = list(first)
        for s in samples:
            if not isinstance(s, Mapping) or list(s) != keys:
                got = list(s) if isinstance(s, Mapping) else type(s).__name__
                raise ValueError(f"collate: expected every sample to be a dict with the keys "
                                 f"{keys}. Received: {got}")
        return {k: _stack([s[k] for s in samples], repr(k)) for k in keys}
    if not isinstance(first, (tuple, list)):
        return _stack(samples, 0)
    sizes = {len(s) for s in samples}
    if len(sizes) > 1:
        raise ValueError(f"collate: samples have different numbers of fields {sorted(sizes)}")
    return tuple(_stack([s[k] for s in samples], k) for k in range(len(first)))


def _stack(values: list, field) -> np.ndarray | list:
    first = values[0]
    if isinstance(first, str) and all(isinstance(v, str) for v in values):
        return list(values)  # names, paths: a list of them, as PyTorch's collate gives
    if isinstance(first, (tuple, list)) and first:  # a nested field: one array only if its
        kinds = {np.asarray(v).dtype.kind for v in first}  # parts agree (an int label beside
        if "f" in kinds and kinds & set("biu"):  # a float would silently become a float)
            raise ValueError(f"collate: field {field} mixes integers and floats "
                             f"({type(first).__name__} of {len(first)} values); return them "
                             "as separate fields of the sample, or pass a collate_fn")
    try:
        arr = np.stack([np.asarray(v) for v in values])
    except ValueError as err:
        shapes = sorted({np.shape(v) for v in values})
        raise ValueError(f"collate: field {field} has samples of shapes {shapes}") from err
    return numeric_array(arr, f"field {field}", "collate")


def index_dtype(n: int) -> np.dtype:
    """Return the smaller integer dtype that holds the indices 0 .. n-1: int32 below 2**31."""
    return np.dtype(np.int32) if n <= 2**31 else np.dtype(np.int64)


def permutation(generator: np.random.Generator, n: int) -> np.ndarray:
    """Return a random order of 0 .. n-1 in ``index_dtype(n)``: the same order as
    ``generator.permutation(n)`` (which shuffles an int64 range the same way), in half the
    memory below 2**31."""
    order = np.arange(n, dtype=index_dtype(n))
    generator.shuffle(order)
    return order


def fetch_batch(dataset, indices: np.ndarray) -> Batch:
    """Return the samples of any dataset at ``indices``, stacked, in one call where it can."""
    get_batch = getattr(dataset, "get_batch", None)
    if get_batch is not None and _batches_as_getitem(type(dataset)):
        return get_batch(indices)
    return collate([dataset[int(i)] for i in indices])


def _batches_as_getitem(cls: type) -> bool:
    """True unless a subclass overrides ``__getitem__`` (to transform samples, say) below the
    class that defines ``get_batch``, whose batches would then bypass it."""
    owner = {name: next((c for c in cls.__mro__ if name in vars(c)), object)
             for name in ("get_batch", "__getitem__")}
    return issubclass(owner["get_batch"], owner["__getitem__"])


class TensorDataset(Dataset):
    """Arrays (or Tensors) of equal first dimension, whose row ``i`` together is sample ``i``.

    Floating-point arrays become ``dtype`` (nerve's default dtype, float32, when None) once,
    here, the one place on the data path where a batch's dtype is decided; an array that has
    it already is not copied. Integer and bool arrays (labels) keep their dtype.
    """

    def __init__(self, *arrays, dtype=None) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, got none")
        self.dtype = dtype = backend.float_dtype(dtype, "TensorDataset")
        self.arrays = tuple(_as_field(a, i, dtype) for i, a in enumerate(arrays))
        lengths = tuple(len(a) for a in self.arrays)
        if len(set(lengths)) > 1:
            raise ValueError(
                f"TensorDataset arrays must have the same first dimension, got lengths {lengths}"
            )

    def __len__(self) -> int:
        return len(self.arrays[0])

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """Return the arrays as Tensors sharing their memory (PyTorch's name)."""
        return tuple(Tensor._wrap(a) for a in self.arrays)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor(a[index], dtype=a.dtype) for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return the rows at ``indices`` of every array (one ``take`` each: a new array, as a
        user may keep a batch)."""
        return tuple(a.take(indices, axis=0) for a in self.arrays)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({fields})"


def _as_field(data, position: int, dtype: np.dtype) -> np.ndarray:
    arr = numeric_array(data, f"arrays[{position}]", "TensorDataset")
    if arr.ndim == 0:
        raise ValueError(f"TensorDataset array {position} must have a first dimension, "
                         f"got a scalar")
    return arr.astype(dtype, copy=False) if arr.dtype.kind == "f" else arr


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices) -> None:
        self.dataset = dataset
        self.indices = _as_indices(indices, len(dataset))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: np.ndarray) -> Batch:
        """Return the samples at ``indices`` of this subset, fetched from the whole dataset."""
        return fetch_batch(self.dataset, self.indices[indices])


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other (PyTorch's ``ConcatDataset``).

    ``cumulative_sizes[k]`` is the number of samples in ``datasets[0..k]``: index ``i`` is
    sample ``i - cumulative_sizes[k - 1]`` of the first part ``k`` whose cumulative size
    exceeds ``i``. Negative indices count from the end, as in PyTorch (beyond ``-len`` is a
    ValueError, beyond ``len - 1`` an IndexError). A batch is read part by part, each with
    its own ``get_batch`` where it has one (a ``TensorDataset``: one ``take`` per array), and
    put back in the order asked.
    """

    def __init__(self, datasets) -> None:
        if isinstance(datasets, (Dataset, str, bytes)) or not hasattr(datasets, "__iter__"):
            raise TypeError(f"ConcatDataset: expected an iterable of datasets. Received: "
                            f"datasets of type {type(datasets).__name__}")
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset. Received: an empty "
                             "iterable")
        for k, d in enumerate(self.datasets):
            if not (hasattr(d, "__len__") and hasattr(d, "__getitem__")):
                raise TypeError(f"ConcatDataset: expected datasets with __len__ and "
                                f"__getitem__. Received: datasets[{k}] of type "
                                f"{type(d).__name__}")
        self.cumulative_sizes = self.cumsum(self.datasets)

    @staticmethod
    def cumsum(sequence) -> list[int]:
        """Return the running totals of the lengths of ``sequence``'s datasets (PyTorch's)."""
        totals, n = [], 0
        for d in sequence:
            n += len(d)
            totals.append(n)
        return totals

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        if not hasattr(index, "__index__") or isinstance(index, (bool, np.bool_)):
            raise TypeError(f"ConcatDataset: expected an integer index. Received: "
                            f"index={index!r}")
        i, n = int(index.__index__()), len(self)
        if i < 0:
            if -i > n:
                raise ValueError(f"ConcatDataset: absolute value of index should not exceed "
                                 f"dataset length {n}. Received: index={i}")
            i += n
        if i >= n:
            raise IndexError(f"ConcatDataset: index {i} is out of range for {n} samples")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]

    def get_batch(self, indices: np.ndarray) -> Batch:
        """Return the samples at ``indices`` (in [0, len)), fetched part by part and stacked
        in the order of ``indices``."""
        indices = np.asarray(indices)
        n = len(self)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = int(indices[(indices < 0) | (indices >= n)][0])
            raise IndexError(f"ConcatDataset: index {bad} is out of range for {n} samples")
        ends = np.asarray(self.cumulative_sizes, dtype=np.int64)
        part = np.searchsorted(ends, indices, side="right")
        if part.size and (part == part[0]).all():  # one part: its batch as it is
            k = int(part[0])
            return fetch_batch(self.datasets[k], indices - (ends[k - 1] if k else 0))
        order = np.argsort(part, kind="stable")  # grouped by part, each group in order
        batches, grouped = [], part[order]
        for k in np.unique(grouped):
            local = indices[order[grouped == k]] - (ends[k - 1] if k else 0)
            batches.append(fetch_batch(self.datasets[int(k)], local))
        return _joined(batches, np.argsort(order))


def _joined(batches: list, back: np.ndarray) -> Batch:
    """The parts' batches put together and taken at ``back`` (each sample's place in the
    concatenation), field by field: a tuple (or list) of fields, a dict or a single field, as
    every part gives."""
    structures = [_structure(b) for b in batches]
    if len(set(structures)) > 1:
        raise ValueError(f"ConcatDataset: the datasets give samples of different structures "
                         f"({structures[0]} and {next(s for s in structures if s != structures[0])}"
                         "); they cannot be batched together")
    first = batches[0]
    if isinstance(first, Mapping):
        return {key: _joined_field([b[key] for b in batches], back, repr(key)) for key in first}
    if _has_fields(first):
        fields = [_joined_field([b[f] for b in batches], back, f) for f in range(len(first))]
        return type(first)(fields) if isinstance(first, list) else tuple(fields)
    return _joined_field(batches, back, 0)


def _has_fields(batch) -> bool:
    """True for a batch of several fields: a tuple, or a list that is not one of names."""
    return isinstance(batch, tuple) or (
        isinstance(batch, list) and not all(isinstance(x, str) for x in batch))


def _structure(batch) -> str:
    if isinstance(batch, Mapping):
        return f"a dict with the keys {list(batch)}"
    if _has_fields(batch):
        return f"{len(batch)} fields"
    return "a single field"


def _joined_field(values: list, back: np.ndarray, field):
    if all(isinstance(v, list) for v in values):  # names, paths: lists, as collate gives them
        joined = [x for v in values for x in v]
        return [joined[int(i)] for i in back]
    shapes = {tuple(v.shape[1:]) for v in values}
    if len(shapes) > 1:
        raise ValueError(f"ConcatDataset: field {field} has samples of shapes "
                         f"{sorted(shapes)} in different datasets")
    xp = backend.array_module(values[0])
    return xp.concatenate(values).take(xp.asarray(back), axis=0)


def _as_indices(indices, n: int) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"Subset indices must be a 1-D sequence of ints, got dtype {arr.dtype} "
                        f"and shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"Subset indices must lie in [0, {n}), got values from {arr.min()} "
                         f"to {arr.max()}")
    return arr.astype(index_dtype(n), copy=False)


def random_split(dataset, lengths: Sequence[int | float], seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` at random into ``Subset``s of the given lengths or fractions."""
    counts = _split_counts(lengths, len(dataset))
    order = permutation(random_generator(seed, "random_split"), len(dataset))
    return [Subset(dataset, part) for part in np.split(order, np.cumsum(counts)[:-1])]


def _split_counts(lengths: Sequence[int | float], n: int) -> np.ndarray:
    """Return the sample count of each part: ints as given, fractions floored and topped up."""
    values = np.asarray(lengths)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iuf":
        raise TypeError(f"random_split: lengths must be a non-empty list of numbers, "
                        f"got {lengths!r}")
    if (values < 0).any():
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths!r}")
    if values.dtype.kind in "iu":
        if values.sum() != n:
            raise ValueError(f"random_split: lengths {lengths!r} sum to {values.sum()} but the "
                             f"dataset has {n} samples")
        return values.astype(np.int64)
    if not np.isclose(values.sum(), 1.0):
        raise ValueError(f"random_split: fractions {lengths!r} sum to {values.sum():g}, not 1")
    counts = np.floor(values / values.sum() * n).astype(np.int64)
    counts[: n - counts.sum()] += 1  # like torch: the remainder goes one by one to the first parts
    return counts
