"""Samplers, the order in which a ``DataLoader(sampler=...)`` reads a dataset.

``WeightedRandomSampler`` draws indices in proportion to weights (to balance rare classes).
``DistributedSampler``: one process's share of each epoch's order, for data-parallel training.

Every process (rank) draws the same order, pads it to a multiple of the number of processes and
takes every ``num_replicas``-th index from position ``rank``; so every process makes the same
number of steps, and the processes' batches b together are the samples that one process with a
``num_replicas`` times larger batch would take at step b. The sampler knows nothing of MPI:
``nerve.distributed.DistributedSampler`` fills in the rank and the number of processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, check_bool, check_int, message
from nerve.data.dataset import index_dtype, permutation


class DistributedSampler:
    """The indices of ``dataset`` that process ``rank`` of ``num_replicas`` reads each epoch.

    PyTorch's sampler, with its arguments: ``shuffle`` draws epoch k's order from a generator
    seeded by (``seed``, k), the same on every process (give every process the same seed);
    in order otherwise. With ``drop_last=False`` the order is padded with its own first
    indices up to a multiple of ``num_replicas``: those ``len(self) * num_replicas - n``
    samples are read twice in the epoch (once by two processes, and they count twice in the
    epoch's loss and metrics); ``drop_last=True`` leaves out the last ``n % num_replicas``
    samples of the order instead. Each ``iter()`` is one epoch: the next one draws the next
    order; ``set_epoch(k)`` makes it epoch k (as fit does, and as a resumed run needs).
    """

    def __init__(self, dataset, num_replicas: int, rank: int, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        who = "DistributedSampler"
        if not hasattr(dataset, "__len__"):
            raise TypeError(message(who, "a dataset with __len__", "dataset", dataset))
        self.num_replicas = check_int(num_replicas, "num_replicas", who, minimum=1)
        self.rank = check_int(rank, "rank", who, minimum=0)
        if self.rank >= self.num_replicas:
            raise ValueError(message(who, f"a rank in [0, {self.num_replicas}) (num_replicas="
                                     f"{self.num_replicas})", "rank", rank))
        self.shuffle = check_bool(shuffle, "shuffle", who)
        self.seed = check_int(seed, "seed", who, minimum=0)
        self.drop_last = check_bool(drop_last, "drop_last", who)
        self.dataset, self.epoch = dataset, 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.num_replicas if self.drop_last else -(-n // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` epoch ``epoch`` (its order)."""
        self.epoch = check_int(epoch, "epoch", "DistributedSampler.set_epoch", minimum=0)

    def indices(self) -> np.ndarray:
        """This process's indices of the current epoch, in the order they are read."""
        n = len(self.dataset)
        if self.shuffle:
            order = permutation(backend.generator(self.seed, self.epoch), n)
        else:
            order = np.arange(n, dtype=index_dtype(n))
        total = len(self) * self.num_replicas
        if total > n:  # pad with the order's first indices (all of it again if n is small)
            order = np.resize(order, total)
        return order[self.rank:total:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        shard = self.indices()
        self.epoch += 1
        return iter(shard.tolist())

    def __repr__(self) -> str:
        return (f"DistributedSampler(len(dataset)={len(self.dataset)}, num_replicas="
                f"{self.num_replicas}, rank={self.rank}, shuffle={self.shuffle}, seed="
                f"{self.seed}, drop_last={self.drop_last})")


class WeightedRandomSampler:
    """``num_samples`` indices in [0, len(weights)), index i drawn with probability
    ``weights[i] / sum(weights)`` (PyTorch's sampler, with its arguments).

    With ``replacement=True`` every draw is independent (``torch.multinomial`` with
    replacement); with ``replacement=False`` no index comes twice, each next one drawn from
    those left in proportion to their weights (``torch.multinomial`` without replacement), so
    ``num_samples`` may not exceed the number of non-zero weights. Each ``iter()`` is one
    epoch of new draws, from ``generator``: None draws from nerve's generator
    (``nerve.manual_seed`` makes it repeatable), a NumPy ``Generator`` advances with each
    epoch, a seeded object with ``initial_seed()`` (``torch.Generator``) draws epoch k from a
    generator seeded by (its seed, k), the same every time a sampler is made (``set_epoch``
    picks the epoch). Unlike PyTorch, which finds them at the first draw, bad weights (negative,
    NaN or infinite, all zero, too few non-zero ones) are refused here, when it is made.
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        who = "WeightedRandomSampler"
        self.num_samples = check_int(num_samples, "num_samples", who, minimum=1)
        self.replacement = check_bool(replacement, "replacement", who)
        if isinstance(weights, (str, bytes)):
            raise TypeError(message(who, "a 1-D sequence of weights", "weights", weights))
        try:
            w = backend.to_host(as_array(weights))
        except TypeError:
            raise TypeError(message(who, "a 1-D sequence of weights", "weights",
                                    weights)) from None
        if w.dtype.kind not in "biuf" or w.ndim != 1 or w.size == 0:
            raise ValueError(message(who, "a non-empty 1-D sequence of numbers as weights",
                                     "weights.shape", w.shape) + f" (dtype {w.dtype})")
        w = w.astype(np.float64)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = float(w[~np.isfinite(w) | (w < 0)][0])
            raise ValueError(message(who, "finite, non-negative weights", "weight", bad))
        nonzero = int(np.count_nonzero(w))
        if nonzero == 0:
            raise ValueError(message(who, "at least one positive weight", "weights",
                                     w.tolist()[:8]))
        if not self.replacement and self.num_samples > nonzero:
            raise ValueError(message(who, f"num_samples <= the {nonzero} non-zero weights "
                                     "with replacement=False", "num_samples", num_samples))
        self.weights = Tensor._wrap(w)  # float64, as PyTorch keeps them
        self._p = w / w.sum()
        self.generator, self._seed = _sampler_generator(generator, who)
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` epoch ``epoch`` (its draws, with a seeded generator)."""
        self.epoch = check_int(epoch, "epoch", "WeightedRandomSampler.set_epoch", minimum=0)

    def indices(self) -> np.ndarray:
        """Draw this epoch's ``num_samples`` indices (int64) without moving to the next."""
        if self.generator is not None:
            gen = self.generator
        elif self._seed is not None:
            gen = backend.generator(self._seed, self.epoch)
        else:
            gen = backend.rng()
        return gen.choice(len(self._p), size=self.num_samples, replace=self.replacement,
                          p=self._p).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        drawn = self.indices()
        self.epoch += 1
        return iter(drawn.tolist())

    def __repr__(self) -> str:
        return (f"WeightedRandomSampler(len(weights)={len(self._p)}, num_samples="
                f"{self.num_samples}, replacement={self.replacement})")


def _sampler_generator(generator, who: str) -> tuple[np.random.Generator | None, int | None]:
    """Return (a NumPy generator, a seed) from a sampler's ``generator``: at most one."""
    if generator is None:
        return None, None
    if isinstance(generator, np.random.Generator):
        return generator, None
    initial_seed = getattr(generator, "initial_seed", None)
    if callable(initial_seed):  # torch.Generator: its seed, with the epoch
        return None, check_int(initial_seed(), "generator.initial_seed()", who, minimum=0)
    raise TypeError(message(who, "None, a numpy.random.Generator or a seeded generator with "
                            "initial_seed()", "generator", generator))
