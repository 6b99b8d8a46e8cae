"""The CNN recipe of the convolution issue: one training epoch of Conv(1->16)-ReLU-MaxPool ->
Conv(16->32)-ReLU-MaxPool -> Linear(1568, 128)-ReLU -> Linear(128, 10), Adam 1e-3, batch 64, on
MNIST 8,000 from ../shared/data (random data of the same shape when that folder is absent),
and batch-256 inference. Peak memory is measured apart, one library per process:
``python -m benchmarks.cnn_memory``."""

from __future__ import annotations

import numpy as np
import torch

import nerve
from benchmarks.cases_mlp import BATCH, _data, _torch_epoch
from benchmarks.harness import Pair, case
from nerve import nn, optim
from nerve.data import DataLoader, TensorDataset


def cnn(lib):
    m = lib.nn
    return m.Sequential(m.Conv2d(1, 16, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                        m.Conv2d(16, 32, 3, padding=1), m.ReLU(), m.MaxPool2d(2), m.Flatten(),
                        m.Linear(1568, 128), m.ReLU(), m.Linear(128, 10))


def images():
    x, y = _data()
    return x.reshape(-1, 1, 28, 28), y


def models():
    nerve.manual_seed(0)
    nm, tm = cnn(nerve), cnn(torch)
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in nm.state_dict().items()})
    return nm, tm


def nerve_epoch(model, opt, loader):
    loss_fn = nn.CrossEntropyLoss()
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


@case("cnn_epoch", "MNIST 8000, CNN 2 conv + 2 dense, Adam, batch 64: one epoch, plain loop")
def cnn_epoch() -> Pair:
    x, y = images()
    nm, tm = models()
    nopt = optim.Adam(nm.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), BATCH, shuffle=True)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    return Pair(lambda: nerve_epoch(nm, nopt, loader), lambda: _torch_epoch(tm, topt, X, Y))


@case("cnn_predict_256", "a batch of 256 images through the same CNN under no_grad")
def cnn_predict_256() -> Pair:
    x, _ = images()
    nm, tm = models()
    nx, tx = nerve.tensor(x[:256]), torch.from_numpy(np.ascontiguousarray(x[:256]))

    def run_nerve():
        with nerve.no_grad():
            return nm(nx).numpy()

    def run_torch():
        with torch.no_grad():
            return tm(tx).numpy()

    return Pair(run_nerve, run_torch, check=lambda: [(run_nerve(), run_torch())])
