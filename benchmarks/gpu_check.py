"""nerve on a real GPU: the device checks against CuPy, then timings beside PyTorch on the same GPU.

    python benchmarks/gpu_check.py [--quick]

Self-contained (no download: synthetic data of MNIST's shape), and it prints everything as it
goes. Without CuPy or without a GPU it says so and exits at once (status 2: nothing measured).

1. Checks (the key checks of tests/test_devices.py, which run on the stand-in everywhere and,
   with pytest installed, on this GPU too: python -m pytest -m gpu tests/test_devices.py): tensors
   made and moved, numpy() refused, the cross-device RuntimeError, module.to moving buffers,
   each operation's forward and backward equal to the CPU's (float32 tolerance), an MLP, a CNN
   and an LSTM trained a few steps with Adam to the CPU's parameters (within 1e-4), save on the
   GPU and load on the CPU and back.
2. Timings, nerve and PyTorch on the same GPU, the same architectures and data already on the
   device: the MNIST MLP epoch (batch 64 and 1,024), the CNN epoch (batch 64 and 256), 100 LSTM
   steps. Each is the median of a few timed runs after a warm-up; the ratio is nerve / PyTorch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # nerve from this checkout

import nerve  # noqa: E402
from nerve import nn  # noqa: E402

TRAIN = 60_000  # MNIST's training set, synthetic
FAILURES: list[str] = []


def say(*args) -> None:
    print(*args, flush=True)


def check(name: str, ok: bool, detail: str = "") -> None:
    say(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f"  ({detail})" if detail else ""))
    if not ok:
        FAILURES.append(name)


def gpu_or_exit(stand_in: bool):
    """CuPy and the GPU's name, or a clear message and exit status 2."""
    if stand_in:  # the tests' stand-in GPU: runs this script on a CPU-only machine
        from tests.fake_cuda import FakeCudaArray, fake

        nerve.cuda._use_backend(fake, FakeCudaArray)
        fake.__version__ = "stand-in"
        return fake, nerve.cuda.get_device_name()
    try:
        import cupy
    except Exception as e:  # not installed, or its CUDA libraries do not load
        say(f"gpu_check: CuPy is not available here ({type(e).__name__}: {e}). Install "
            "cupy-cuda12x or cupy-cuda13x (in a checkout: pip install \".[cuda12]\" or "
            "\".[cuda13]\") on a machine with an NVIDIA GPU. Nothing measured.")
        sys.exit(2)
    if not nerve.cuda.is_available():
        say("gpu_check: CuPy imports but sees no GPU (nvidia-smi, CUDA_VISIBLE_DEVICES). "
            "Nothing measured.")
        sys.exit(2)
    return cupy, nerve.cuda.get_device_name()


def sync() -> None:
    nerve.cuda.synchronize()


# --- 1. checks ------------------------------------------------------------------------------
def host(t):
    return t.detach().cpu().numpy()


def check_basics(array_type) -> None:
    say("tensors and modules on the GPU")
    t = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    check("tensor(device='cuda') holds a CuPy array",
          isinstance(t._data, array_type) and str(t.device) == "cuda:0")
    check("to('cuda') on the same device returns self", t.to("cuda") is t and t.cuda() is t)
    back = t.cpu()
    check("cpu() copies to host", type(back._data) is np.ndarray
          and back.tolist() == [[1.0, 2.0], [3.0, 4.0]])
    for make in (nerve.zeros, nerve.ones, nerve.randn, nerve.rand, nerve.empty):
        check(f"{make.__name__}(device='cuda')", make(2, 3, device="cuda").is_cuda)
    try:
        t.numpy()
        check("numpy() refuses a GPU tensor", False)
    except TypeError as e:
        check("numpy() refuses a GPU tensor", "can't convert cuda:0" in str(e))
    try:
        _ = t + back
        check("an operation across devices raises", False)
    except RuntimeError as e:
        check("an operation across devices raises", "cuda:0 and cpu" in str(e))
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).cuda()
    model(nerve.randn(5, 3, device="cuda"))
    check("module.cuda() moves parameters and buffers", all(
        isinstance(v, array_type) for v in model.state_dict().values()))
    nerve.cuda.manual_seed(7)
    a = nn.functional.dropout(nerve.ones(100, device="cuda"), 0.5).cpu().tolist()
    nerve.cuda.manual_seed(7)
    b = nn.functional.dropout(nerve.ones(100, device="cuda"), 0.5).cpu().tolist()
    check("a seeded GPU generator repeats", a == b)


def _ops():
    f = nn.functional
    conv = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2), nn.AvgPool2d(1))
    state = {k: nerve.backend.to_host(v) for k, v in conv.state_dict().items()}

    def conv_pool(a, b):
        model = conv.to(a.device)
        model.load_state_dict(state)
        return model(a.reshape(3, 2, 2, 4) * b.reshape(3, 2, 2, 4))

    def lstm_gru(a, b):
        nerve.manual_seed(0)
        rnn = nn.LSTM(8, 5, batch_first=True).to(a.device)
        gru = nn.GRU(8, 5, batch_first=True).to(a.device)
        x = (a * b).reshape(2, 3, 8)
        return rnn(x)[0] + gru(x)[0]

    return {
        "add/mul/div": lambda a, b: (a + b) * a / (b.abs() + 1),
        "matmul": lambda a, b: a @ b.T,
        "exp/log/tanh/sigmoid": lambda a, b: (a.exp() + 1).log() + a.tanh() + b.sigmoid(),
        "relu/softplus": lambda a, b: a.relu() + f.softplus(b),
        "softmax/log_softmax": lambda a, b: a.softmax(1) + b.log_softmax(1),
        "sum/mean/max/var": lambda a, b: a.sum(0) + b.mean(1).sum() + a.max() + b.var(),
        "reshape/transpose/index": lambda a, b: a.reshape(-1)[::2].sum() + b.T[1:3].sum(),
        "cat/stack/where": lambda a, b: nerve.where(a > 0, a, b).sum() + nerve.cat([a, b]).sum()
        + nerve.stack([a, b]).sum(),
        "pow/sqrt/clamp": lambda a, b: (a ** 2 + 1).sqrt().clamp(max=2.0) * b,
        "cross_entropy": lambda a, b: f.cross_entropy(a * b, nerve.tensor(
            [0, 3, 5, 7, 1, 2], device=a.device)),
        "mse/l1/huber": lambda a, b: f.mse_loss(a, b) + f.l1_loss(a, b) + f.huber_loss(a, b),
        "conv2d/max_pool/avg_pool": conv_pool,
        "layer_norm/batch_norm": lambda a, b: f.layer_norm(a, (8,)) * b
        + nn.BatchNorm1d(8).to(a.device)(b),
        "lstm/gru": lstm_gru,
    }


def check_operations() -> None:
    say("each operation's forward and backward on the GPU equal the CPU's (float32)")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((6, 8)).astype(np.float32) for _ in range(2)]
    for name, op in _ops().items():
        results = []
        try:
            for device in ("cpu", "cuda"):
                a, b = (nerve.tensor(x, device=device, requires_grad=True) for x in arrays)
                out = op(a, b)
                out.sum().backward()
                results.append((host(out), host(a.grad), host(b.grad)))
        except Exception as e:  # report it and go on with the other operations
            check(name, False, f"{type(e).__name__}: {e}")
            continue
        (o1, ga1, gb1), (o2, ga2, gb2) = results
        error = max(float(np.max(np.abs(x - y)) / (1 + np.max(np.abs(x))))
                    for x, y in ((o1, o2), (ga1, ga2), (gb1, gb2)) if x is not None)
        check(name, error < 1e-4, f"largest difference {error:.1e}")


def _train(make, x, y, device, steps=5):
    nerve.manual_seed(0)
    model = make().to(device)
    opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
    xd, yd = nerve.tensor(x, device=device), nerve.tensor(y, device=device)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xd), yd).backward()
        opt.step()
    return {k: nerve.backend.to_host(v) for k, v in model.state_dict().items()}


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def lstm():
    return nn.Sequential(nn.LSTM(1, 64, batch_first=True), nn.LastTimeStep(), nn.Linear(64, 10))


def check_training(tmp: Path) -> None:
    say("the same models trained on the CPU and on the GPU agree (Adam, 5 steps)")
    rng = np.random.default_rng(1)
    for name, make, shape in (("MLP", mlp, (64, 1, 28, 28)), ("CNN", cnn, (64, 1, 28, 28)),
                              ("LSTM", lstm, (64, 50, 1))):
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, 10, 64)
        a, b = _train(make, x, y, "cpu"), _train(make, x, y, "cuda")
        error = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
        check(f"{name}: parameters within 1e-4", error < 1e-4, f"largest difference {error:.1e}")
    say("saving on the GPU, loading on the CPU and back")
    model = cnn().cuda()
    path = tmp / "gpu_check_model.safetensors"
    nerve.save(model, path)
    on_cpu, on_gpu = nerve.load(path), nerve.load(path, map_location="cuda")
    expected = {k: nerve.backend.to_host(v) for k, v in model.state_dict().items()}
    check("load() on the CPU", all(np.array_equal(v, expected[k])
                                   for k, v in on_cpu.state_dict().items()))
    check("load(map_location='cuda')", all(
        str(nerve.backend.device_of(v)) == "cuda:0" and np.array_equal(v.get(), expected[k])
        for k, v in on_gpu.state_dict().items()))
    path.unlink()


# --- 2. timings -----------------------------------------------------------------------------
def median_time(run, repeat: int) -> float:
    run()  # warm-up: kernels compiled, memory pools filled
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch(lib, model, opt, x, y, batch: int, steps: int):
    """One epoch of ``steps`` batches, in nerve or in PyTorch (``lib``: the module)."""
    loss_fn = lib.nn.CrossEntropyLoss()

    def run():
        for i in range(steps):
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()

    return run


def torch_twin(torch, name: str, nerve_model):
    t = torch.nn
    if name == "MLP":
        twin = t.Sequential(t.Flatten(), t.Linear(784, 256), t.ReLU(), t.Linear(256, 128),
                            t.ReLU(), t.Linear(128, 10))
    elif name == "CNN":
        twin = t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                            t.Conv2d(16, 32, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                            t.Flatten(), t.Linear(1568, 128), t.ReLU(), t.Linear(128, 10))
    else:
        class Twin(t.Module):
            def __init__(self):
                super().__init__()
                self.rnn, self.head = t.LSTM(1, 64, batch_first=True), t.Linear(64, 10)

            def forward(self, x):
                return self.head(self.rnn(x)[0][:, -1])

        twin = Twin()
    state = [torch.from_numpy(nerve.backend.to_host(v).copy())
             for v in nerve_model.state_dict().values()]
    for p, v in zip(twin.state_dict().values(), state):
        p.copy_(v.reshape(p.shape))
    return twin.cuda()


def timings(quick: bool) -> list[tuple]:
    try:
        import torch
        if not torch.cuda.is_available():
            raise ImportError("torch sees no GPU")
    except ImportError as e:
        say(f"PyTorch on the GPU is not available ({e}): timing nerve alone")
        torch = None
    rng = np.random.default_rng(0)
    cases = [("MLP", mlp, (TRAIN, 1, 28, 28), 64), ("MLP", mlp, (TRAIN, 1, 28, 28), 1024),
             ("CNN", cnn, (TRAIN, 1, 28, 28), 64), ("CNN", cnn, (TRAIN, 1, 28, 28), 256),
             ("LSTM", lstm, (100 * 64, 50, 1), 64)]
    rows = []
    say(f"\n{'case':28} {'nerve (s)':>10} {'PyTorch (s)':>12} {'ratio':>7}")
    for name, make, shape, batch in cases:
        n = shape[0] if not quick else min(shape[0], 20 * batch)
        steps = n // batch
        x = rng.standard_normal((n, *shape[1:])).astype(np.float32)
        y = rng.integers(0, 10, n)
        nerve.manual_seed(0)
        model = make().cuda()
        opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
        nx, ny = nerve.tensor(x, device="cuda"), nerve.tensor(y, device="cuda")
        repeat = 3 if name != "LSTM" else 5
        ours = median_time(epoch(nerve, model, opt, nx, ny, batch, steps), repeat)
        theirs = None
        if torch is not None:
            twin = torch_twin(torch, name, make())
            topt = torch.optim.Adam(twin.parameters(), lr=1e-3)
            tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
            run = epoch(torch, twin, topt, tx, ty, batch, steps)
            theirs = median_time(run, repeat)  # sync(): the whole device, PyTorch too
        what = (f"{name} {'epoch' if name != 'LSTM' else 'steps'} x{steps} batch {batch}")
        ratio = f"{ours / theirs:7.2f}" if theirs else "      -"
        say(f"{what:28} {ours:10.3f} {theirs if theirs else float('nan'):12.3f} {ratio}")
        rows.append((what, ours, theirs))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="20 batches per case instead of "
                   "an epoch (a smoke run)")
    p.add_argument("--checks-only", action="store_true", help="run the checks, time nothing")
    p.add_argument("--stand-in", action="store_true", help="use the tests' stand-in GPU "
                   "(NumPy underneath) instead of CuPy: checks this script without a GPU")
    args = p.parse_args(argv)
    cupy, name = gpu_or_exit(args.stand_in)
    say(f"device: {name}; CuPy {cupy.__version__}; NumPy {np.__version__}; "
        f"nerve {nerve.__version__}")
    start = time.perf_counter()
    check_basics(cupy.ndarray)
    check_operations()
    check_training(Path.cwd())
    say(f"checks: {'all passed' if not FAILURES else f'{len(FAILURES)} FAILED: {FAILURES}'} "
        f"({time.perf_counter() - start:.1f} s)")
    if not args.checks_only:
        timings(args.quick)
    say(f"total {time.perf_counter() - start:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
