"""``DataLoader``: batches of tensors from a dataset, in order or shuffled by a seeded generator.

The loader wraps the arrays that the dataset gives as Tensors and never casts them: their dtype
is the dataset's (``TensorDataset(..., dtype=...)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_int, check_positive_int
from nerve.data.dataset import fetch_batch


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, as tuples of Tensors.

    With ``shuffle=True`` every ``iter()`` (every epoch) visits the samples in a new order.
    With a ``seed``, epoch k's order is drawn from a generator seeded by (seed, k): the same
    seed gives the same batches every time a loader is made, and ``set_epoch(k)`` resumes at
    epoch k. Without one, orders come from nerve's generator (``nerve.manual_seed`` makes them
    repeatable). ``drop_last`` leaves out a last, short batch.
    A dataset whose samples are tuples gives tuples of batches; one whose samples are single
    arrays gives single batch Tensors.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader needs a dataset with __len__ and __getitem__, "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = check_positive_int(batch_size, "batch_size", "DataLoader")
        self.shuffle = check_bool(shuffle, "shuffle", "DataLoader")
        self.drop_last = check_bool(drop_last, "drop_last", "DataLoader")
        self.seed = None if seed is None else check_int(seed, "seed", "DataLoader", minimum=0)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` epoch ``epoch`` (its order, with a seed), e.g. to resume."""
        self.epoch = check_int(epoch, "epoch", "DataLoader.set_epoch", minimum=0)

    def __iter__(self) -> Iterator:
        order = self._order()
        self.epoch += 1
        return self._batches(order)

    def _order(self) -> np.ndarray:
        """Return this epoch's sample order, drawn now so that each iter() is one epoch."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.seed is None:
            return backend.rng().permutation(n)
        return backend.generator(self.seed, self.epoch).permutation(n)

    def _batches(self, order: np.ndarray) -> Iterator:
        size = self.batch_size
        for start in range(0, len(self) * size, size):
            yield _as_tensors(fetch_batch(self.dataset, order[start:start + size]))

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")


def _as_tensors(batch):
    """Wrap batch arrays as Tensors without copying or casting them (they are fresh copies)."""
    if isinstance(batch, tuple):
        return tuple(Tensor._wrap(np.asarray(a)) for a in batch)
    return Tensor._wrap(np.asarray(batch))
