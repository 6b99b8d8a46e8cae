"""The recurrent recipe of the recurrent-networks issue: 100 training steps of LSTM(1, 64) ->
Linear(64, 1) (and the same with GRU and RNN) on windows of length 50 of a noisy sum of sines,
batch 64, Adam 1e-3, predicting the next value from the last hidden state."""

from __future__ import annotations

import numpy as np
import torch

import nerve
from benchmarks.harness import Pair, case
from nerve import nn, optim

STEPS, BATCH, LENGTH, HIDDEN = 100, 64, 50, 64


def _windows():
    rng = np.random.default_rng(0)
    t = np.arange(STEPS * BATCH + LENGTH + 1, dtype=np.float32)
    series = (np.sin(0.1 * t) + 0.5 * np.sin(0.37 * t) + 0.1 * rng.standard_normal(t.size))
    series = series.astype(np.float32)
    idx = np.arange(LENGTH)[None, :] + np.arange(STEPS * BATCH)[:, None]
    return series[idx][..., None], series[idx[:, -1] + 1][:, None]


class _Ours(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(nn, kind)(1, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class _Theirs(torch.nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(1, HIDDEN, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _pair(kind: str) -> Pair:
    x, y = _windows()
    torch.manual_seed(0)
    theirs = _Theirs(kind)
    ours = _Ours(kind)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    nopt = optim.Adam(ours.parameters(), lr=1e-3)
    topt = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    batches = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, STEPS * BATCH, BATCH)]
    nb = [(nerve.tensor(a), nerve.tensor(b)) for a, b in batches]
    tb = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]

    def run_nerve():
        for xb, yb in nb:
            loss = nn.functional.mse_loss(ours(xb), yb)
            nopt.zero_grad()
            loss.backward()
            nopt.step()

    def run_torch():
        for xb, yb in tb:
            loss = torch.nn.functional.mse_loss(theirs(xb), yb)
            topt.zero_grad()
            loss.backward()
            topt.step()

    def same_output():
        with nerve.no_grad(), torch.no_grad():
            return [(ours(nb[0][0]).numpy(), theirs(tb[0][0]).numpy())]

    return Pair(run_nerve, run_torch, check=same_output)


for _kind in ("LSTM", "GRU", "RNN"):
    case(f"{_kind.lower()}_100_steps", f"{_kind}(1, 64) -> Linear(64, 1), windows of 50, "
         "batch 64, Adam: 100 training steps")(lambda _k=_kind: _pair(_k))
