"""Under ``mpirun -n 2`` (tests/test_distributed.py): train with batches of 32 on each process,
in a loop of one's own (SGD with momentum, Adam) and through fit(distributed=True) (Adam, and a
model with BatchNorm); each process saves what it ended with to <out>/rank<r>.npz."""

import json
import sys
from pathlib import Path

import numpy as np
from common import arrays, data, model

import nerve
from nerve import distributed as dist
from nerve import nn, optim
from nerve.data import DataLoader, TensorDataset

out = Path(sys.argv[1])
world = dist.init()
x, y = data()
results = {}
makers = {"sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
          "adam": lambda p: optim.Adam(p, lr=0.01)}
for name, make in makers.items():  # a loop of one's own: 2 epochs of 4 steps
    m = model()
    if world.rank == 1:  # broadcast_parameters must undo this
        for p in m.parameters():
            p.data.fill_(7.0)
    dist.broadcast_parameters(m)
    opt = make(m.parameters())
    average = dist.GradientAverager(opt)
    sampler = dist.DistributedSampler(TensorDataset(x, y), seed=3)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, sampler=sampler)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = loss_fn(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            average()
            opt.step()
    results.update(arrays(m, f"loop_{name}"))

m = model()  # fit: Adam, with validation data
history = nerve.fit(m, x[:192], y[:192], loss="cross_entropy", optimizer="adam", epochs=2,
                    batch_size=32, seed=5, validation_data=(x[192:], y[192:]), verbose=0,
                    distributed=True)
results.update(arrays(m, "fit_adam"))
(out / f"history{world.rank}.json").write_text(json.dumps(history.history))

m = model(batchnorm=True)  # fit with BatchNorm: its running statistics averaged
nerve.fit(m, x, y, loss="cross_entropy", optimizer=optim.SGD(m.parameters(), lr=0.1), epochs=2,
          batch_size=32, seed=5, verbose=0, distributed=True)
results.update(arrays(m, "fit_bn"))
before = m[1].running_mean.numpy().copy()  # average_buffers on its own
m[1].running_mean.data.add_(float(world.rank))
results["avg.before"] = m[1].running_mean.numpy().copy()
dist.average_buffers(m)
results["avg.after"] = m[1].running_mean.numpy().copy()
np.savez(out / f"rank{world.rank}.npz", **results)
