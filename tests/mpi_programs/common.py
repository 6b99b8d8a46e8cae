"""What the MPI programs and tests/test_distributed.py share: the data, the models, the launch."""

from __future__ import annotations

import numpy as np

import nerve
from nerve import nn


def data(n: int = 256):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 8)).astype(np.float32), rng.integers(0, 3, n)


def model(batchnorm: bool = False):
    nerve.manual_seed(1)
    norm = [nn.BatchNorm1d(16)] if batchnorm else []
    return nn.Sequential(nn.Linear(8, 16), *norm, nn.Tanh(), nn.Linear(16, 3))


def arrays(m, prefix: str) -> dict:
    return {f"{prefix}.{k}": np.array(v) for k, v in m.state_dict().items()}
