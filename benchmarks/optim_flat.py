"""Optimizer steps over flat buffers against per parameter, in a real training loop.

``python -m benchmarks.optim_flat`` trains three MLPs (few small parameters, many small ones,
the MNIST one) on a fixed batch with ``opt.flat`` True and False in the same process, in
alternating blocks, and prints the median time of ``opt.step()`` and of the whole training
step (forward, cross-entropy, backward, step) for Adam and SGD with momentum.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import nerve
from nerve import nn, optim

MODELS = [("2-16-16-3, batch 32", [2, 16, 16, 3], 32),
          ("64 x 10 layers, batch 64", [64] * 10 + [3], 64),
          ("784-256-128-10, batch 64", [784, 256, 128, 10], 64)]


def _make(sizes, flat: bool, opt_cls):
    nerve.manual_seed(0)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    kwargs = {"lr": 1e-3} if opt_cls is optim.Adam else {"lr": 1e-3, "momentum": 0.9}
    opt = opt_cls(model.parameters(), **kwargs)
    opt.flat = flat
    return model, opt


def main() -> int:
    loss_fn = nn.CrossEntropyLoss()
    for name, sizes, batch in MODELS:
        rng = np.random.default_rng(0)
        x = nerve.tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
        y = nerve.tensor(rng.integers(0, sizes[-1], batch))
        for opt_cls in (optim.Adam, optim.SGD):
            runs = {flat: _make(sizes, flat, opt_cls) for flat in (True, False)}
            times = {flat: {"step": [], "all": []} for flat in runs}
            for _ in range(7):
                for flat, (model, opt) in runs.items():
                    time.sleep(0.05)
                    for _ in range(200 if sizes[0] < 700 else 50):
                        t0 = time.perf_counter()
                        loss = loss_fn(model(x), y)
                        opt.zero_grad()
                        loss.backward()
                        t1 = time.perf_counter()
                        opt.step()
                        t2 = time.perf_counter()
                        times[flat]["step"].append(t2 - t1)
                        times[flat]["all"].append(t2 - t0)
            med = {f: {k: statistics.median(v) * 1e6 for k, v in d.items()}
                   for f, d in times.items()}
            step, whole = (med[True][k] / med[False][k] for k in ("step", "all"))
            print(f"{name:26} {opt_cls.__name__:4}  step flat {med[True]['step']:6.1f} us, per "
                  f"parameter {med[False]['step']:6.1f} us ({step:.2f});  whole step {whole:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
