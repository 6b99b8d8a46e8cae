"""``DistributedSampler``: one process's share of each epoch's order, for data-parallel training.

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
from nerve.checks import check_bool, check_int, message
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
