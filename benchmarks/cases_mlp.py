"""The MLP recipe of the layers issue: one training epoch (plain loop and fit) and the
single-sample prediction latency, on MNIST 8,000 from ../shared/data (random data of the same
shape when that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import nerve
from benchmarks.harness import Pair, case
from nerve import nn, optim
from nerve.data import DataLoader, TensorDataset, mnist_t10k_split

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
BATCH = 64


def _data():
    if MNIST.is_dir():
        (x, y), _ = mnist_t10k_split(MNIST)
        return x, y
    rng = np.random.default_rng(0)
    return rng.random((8000, 784), dtype=np.float32), rng.integers(0, 10, 8000)


def _models():
    nerve.manual_seed(0)
    nm = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                       nn.Linear(128, 10))
    tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                             torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in nm.state_dict().items()})
    return nm, tm


def _torch_epoch(tm, topt, X, Y):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), BATCH):
        idx = perm[i:i + BATCH]
        loss = torch.nn.functional.cross_entropy(tm(X[idx]), Y[idx])
        topt.zero_grad()
        loss.backward()
        topt.step()


def _epoch_pair(nerve_epoch, **torch_adam) -> Pair:
    x, y = _data()
    nm, tm = _models()
    nopt = optim.Adam(nm.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3, **torch_adam)  # default: foreach
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    return Pair(lambda: nerve_epoch(nm, nopt, x, y), lambda: _torch_epoch(tm, topt, X, Y))


def _plain_epoch():
    loss_fn = nn.CrossEntropyLoss()
    loaders = {}

    def epoch(model, opt, x, y):
        loader = loaders.setdefault("l", DataLoader(TensorDataset(x, y), BATCH, shuffle=True))
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


@case("mlp_epoch_plain", "MNIST 8000, MLP 784-256-128-10, Adam, batch 64: one epoch, plain loop")
def mlp_epoch_plain() -> Pair:
    return _epoch_pair(_plain_epoch())


@case("mlp_epoch_fused_adam", "the same epoch against PyTorch's Adam(fused=True)")
def mlp_epoch_fused_adam() -> Pair:
    return _epoch_pair(_plain_epoch(), fused=True)


@case("mlp_epoch_matmuls", "the eight matrix products of each of that epoch's 125 steps alone")
def mlp_epoch_matmuls() -> Pair:
    """nerve's side: the products as nerve's linear layer makes them (NumPy/OpenBLAS), in the
    same layouts; PyTorch's: the same with torch.mm. The epoch's share of matrix arithmetic is
    this case's time over ``mlp_epoch_plain``'s."""
    x, _ = _data()
    nm, _ = _models()
    ws = [m.weight.detach().numpy() for m in (nm[0], nm[2], nm[4])]
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal((BATCH, w.shape[0])).astype(np.float32) for w in ws]
    steps = -(-len(x) // BATCH)

    def products(xb, ws, gs, mm, t):
        h1 = mm(xb, t(ws[0]))  # forward
        h2 = mm(h1, t(ws[1]))
        return [h1, h2, mm(h2, t(ws[2])),
                mm(t(gs[2]), h2), mm(t(gs[1]), h1), mm(t(gs[0]), xb),  # weight gradients
                mm(gs[2], ws[2]), mm(gs[1], ws[1])]  # input gradients (none for the data)

    def run_nerve():
        for i in range(steps):
            xb = x[(i * BATCH) % (len(x) - BATCH):][:BATCH]
            products(xb, ws, gs, np.ndarray.dot, np.transpose)

    tx, tws, tgs = torch.from_numpy(x), [torch.from_numpy(w) for w in ws], [
        torch.from_numpy(g) for g in gs]

    def run_torch():
        for i in range(steps):
            xb = tx[(i * BATCH) % (len(x) - BATCH):][:BATCH]
            products(xb, tws, tgs, torch.mm, torch.t)

    def same_products():
        ours = products(x[:BATCH], ws, gs, np.ndarray.dot, np.transpose)
        theirs = products(tx[:BATCH], tws, tgs, torch.mm, torch.t)
        return [(a, b.numpy()) for a, b in zip(ours, theirs)]

    return Pair(run_nerve, run_torch, check=same_products)


class _Terminal:
    """stderr as a terminal, so fit draws its tqdm bar (the issue: progress bar on)."""

    def __init__(self):
        import io

        self.buf = io.StringIO()

    def write(self, s):
        if len(self.buf.getvalue()) > 1_000_000:
            self.buf.seek(0)
            self.buf.truncate()
        return self.buf.write(s)

    def flush(self):
        pass

    def isatty(self):
        return True


@case("mlp_epoch_fit", "the same epoch through nerve.fit with its progress bar drawn")
def mlp_epoch_fit() -> Pair:
    import sys

    term = _Terminal()

    def epoch(model, opt, x, y):
        real, sys.stderr = sys.stderr, term
        try:
            nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=1,
                      batch_size=BATCH, verbose=1)
        finally:
            sys.stderr = real

    return _epoch_pair(epoch)


@case("mlp_predict_latency", "one sample through the trained-size MLP under no_grad")
def mlp_predict_latency() -> Pair:
    x, _ = _data()
    nm, tm = _models()
    nx, tx = nerve.tensor(x[:1]), torch.from_numpy(x[:1].copy())

    def run_nerve():
        with nerve.no_grad():
            return nm(nx).data

    def run_torch():
        with torch.no_grad():
            return tm(tx).numpy()

    return Pair(run_nerve, run_torch, check=lambda: [(run_nerve(), run_torch())])
