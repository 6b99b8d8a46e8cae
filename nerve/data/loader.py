"""``DataLoader``: batches of tensors from a dataset, in order or shuffled by a seeded generator.

The loader wraps the arrays that the dataset gives as Tensors and never casts them: their dtype
is the dataset's (``TensorDataset(..., dtype=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_int, check_positive_int, message
from nerve.data.dataset import fetch_batch, index_dtype, permutation


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, as tuples of Tensors.

    A dataset whose samples are tuples gives tuples of batches; one whose samples are single
    arrays gives single batch Tensors (Python floats give float64, as PyTorch's collate does).
    PyTorch's arguments, with their meaning here:

    - ``shuffle=True``: every ``iter()`` (every epoch) visits the samples in a new order.
      Shuffling holds one index per sample for the epoch, as PyTorch's ``randperm`` does
      (int32 below 2**31 samples: 400 MB for 10**8 of them); reading in order holds none.
    - ``sampler``: an iterable of sample indices (a list, a range, an object with
      ``__iter__`` and ``__len__``) that sets the order instead of ``shuffle``.
    - ``num_workers``: accepted and ignored: nerve loads every batch in the main process.
    - ``collate_fn``: a function from a list of samples to a batch, as PyTorch's; the numeric
      arrays it returns (alone, or in a tuple or list) become Tensors, the rest is passed on. By
      default a batch is read at once by ``dataset.get_batch`` (``TensorDataset``: one ``take``
      per array) or else stacked by ``nerve.data.collate``.
    - ``pin_memory``: accepted; it means nothing on the CPU, where nerve's arrays live.
    - ``drop_last``: leave out a last, short batch.
    - ``generator``: a NumPy ``Generator`` (``nerve.manual_seed`` returns one) that draws the
      shuffled orders, advancing with each epoch; or a seeded object with ``initial_seed()``
      (PyTorch's ``torch.Generator``), whose seed is used as ``seed`` is.
    - ``seed``: epoch k's order is drawn from a generator seeded by (seed, k): the same seed
      gives the same batches every time a loader is made, and ``set_epoch(k)`` resumes at
      epoch k. With neither, orders come from nerve's generator (``nerve.manual_seed`` makes
      them repeatable).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 sampler: Iterable[int] | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, generator=None, seed: int | None = None) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader needs a dataset with __len__ and __getitem__, "
                            f"got {type(dataset).__name__}")
        self.batch_size = check_positive_int(batch_size, "batch_size", "DataLoader")
        self.shuffle = check_bool(shuffle, "shuffle", "DataLoader")
        self.num_workers = check_int(num_workers, "num_workers", "DataLoader", minimum=0)
        self.pin_memory = check_bool(pin_memory, "pin_memory", "DataLoader")
        self.drop_last = check_bool(drop_last, "drop_last", "DataLoader")
        self.sampler = _check_sampler(sampler, self.shuffle)
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(message("DataLoader", "a function from a list of samples to a "
                                    "batch, or None", "collate_fn", collate_fn))
        self.collate_fn = collate_fn
        seed = None if seed is None else check_int(seed, "seed", "DataLoader", minimum=0)
        self.generator, self.seed = _check_generator(generator, seed)
        self.dataset = dataset
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` epoch ``epoch`` (its order, with a seed), e.g. to resume."""
        self.epoch = check_int(epoch, "epoch", "DataLoader.set_epoch", minimum=0)

    def __iter__(self) -> Iterator:
        batches = self._index_batches()  # the order is drawn now: each iter() is one epoch
        self.epoch += 1
        return (self._fetch(indices) for indices in batches)

    def _index_batches(self) -> Iterator[np.ndarray]:
        """Return this epoch's batches of sample indices."""
        size, n = self.batch_size, len(self.dataset)
        if self.sampler is not None:
            return _sampled(iter(self.sampler), size, n, self.drop_last)
        stop = len(self) * size
        if not self.shuffle:  # in order: one small index array per batch, none for the epoch
            dtype = index_dtype(n)
            return (np.arange(i, min(i + size, n), dtype=dtype) for i in range(0, stop, size))
        order = permutation(self._generator(), n)
        return (order[i:i + size] for i in range(0, stop, size))

    def _generator(self) -> np.random.Generator:
        if self.generator is not None:
            return self.generator
        if self.seed is None:
            return backend.rng()
        return backend.generator(self.seed, self.epoch)

    def _fetch(self, indices: np.ndarray):
        if self.collate_fn is None:
            return _as_tensors(fetch_batch(self.dataset, indices))
        return _as_tensors(self.collate_fn([self.dataset[int(i)] for i in indices]))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in (("sampler", self.sampler),
                                                     ("collate_fn", self.collate_fn),
                                                     ("generator", self.generator))
                        if v is not None)
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}{extra})")


def _check_sampler(sampler, shuffle: bool):
    if sampler is None:
        return None
    if isinstance(sampler, (str, bytes, bool)) or not hasattr(sampler, "__iter__"):
        raise TypeError(message("DataLoader", "an iterable of sample indices as sampler",
                                "sampler", sampler))
    if shuffle:
        raise ValueError(message("DataLoader", "shuffle=False with a sampler (the sampler sets "
                                 "the order)", "shuffle", shuffle))
    return sampler


def _check_generator(generator, seed: int | None) -> tuple[np.random.Generator | None, int | None]:
    """Return (a NumPy generator, a seed): at most one of them."""
    if generator is None:
        return None, seed
    if seed is not None:
        raise ValueError(message("DataLoader", "a generator or a seed, not both", "seed", seed))
    if isinstance(generator, np.random.Generator):
        return generator, None
    initial_seed = getattr(generator, "initial_seed", None)
    if callable(initial_seed):  # torch.Generator: its seed, drawn from as a seed is here
        return None, check_int(initial_seed(), "generator.initial_seed()", "DataLoader",
                               minimum=0)
    raise TypeError(message("DataLoader", "a numpy.random.Generator or a seeded generator "
                            "with initial_seed()", "generator", generator))


def _sampled(indices: Iterator, size: int, n: int, drop_last: bool) -> Iterator[np.ndarray]:
    """Cut a sampler's indices into batches, checking each lies in [0, n)."""
    while batch := list(islice(indices, size)):
        if drop_last and len(batch) < size:
            return
        arr = np.asarray(batch)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(message("DataLoader", "integer sample indices from the sampler",
                                    "indices", batch))
        if arr.min() < 0 or arr.max() >= n:  # a negative index would wrap around unnoticed
            bad = int(arr[(arr < 0) | (arr >= n)][0])
            raise ValueError(message("DataLoader", f"sampler indices in [0, {n})", "index",
                                     bad))
        yield arr


def _tensor_if_array(value):
    numeric = backend.is_array(value) and value.dtype.kind in "biufc"
    return Tensor._wrap(value) if numeric else value


def _as_tensors(batch):
    """Wrap a batch's numeric arrays (one, or a tuple, list, namedtuple or dict of them) as
    Tensors without copying or casting them (they are fresh copies); leave anything else."""
    if isinstance(batch, dict):
        return {k: _tensor_if_array(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        items = [_tensor_if_array(b) for b in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    return _tensor_if_array(batch)
