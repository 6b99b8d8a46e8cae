"""Under ``mpirun -n 2`` (tests/test_distributed.py): the review's two cases.

    uneven.py lengths   each process holds a data set of another length: a clear ValueError
                        on every process, not a hang or a loss mixed from two steps
    uneven.py own-update  a metric with an update() of its own: a clear error on each process
    uneven.py ignored   OUT: process 1's targets all ignored: both train through, alike
    uneven.py metric    OUT: a metric with its own result() (an RMSE) and a validation set
                        of one sample (process 1 validates nothing): the figures of one
                        process on the combined batch, written by process 0 to OUT
"""

import json
import sys

import numpy as np

import nerve
from nerve import distributed as dist
from nerve import nn
from nerve.train.metrics import Metric


class RMSE(Metric):
    name = "rmse"

    def batch_value(self, pred, target) -> float:
        return float(((np.asarray(pred) - np.asarray(target).reshape(np.shape(pred))) ** 2).mean())

    def result(self) -> float:
        return float(np.sqrt(self.total / self.count)) if self.count else float("nan")


def model():
    nerve.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


rng = np.random.default_rng(0)
x = rng.standard_normal((129, 8)).astype(np.float32)
y = (3 * x[:, :1] + rng.standard_normal((129, 1))).astype(np.float32)
y[1::2] *= 10
if sys.argv[1] == "lengths":
    dist.init()
    n = 128 if dist.rank() == 0 else 96
    try:
        nerve.fit(model(), x[:n], y[:n], loss="mse", epochs=1, batch_size=32, seed=5, verbose=0,
                  distributed=True)
    except ValueError as e:
        print(f"process {dist.rank()}: {e}", flush=True)
    else:
        print(f"process {dist.rank()}: trained", flush=True)
elif sys.argv[1] == "own-update":  # a metric that keeps state of its own: refused, clearly
    class MaxError(Metric):
        name = "max_error"

        def reset(self):
            super().reset()
            self.largest = 0.0

        def update(self, pred, target):
            self.largest = max(self.largest, float(np.abs(pred - target).max()))

        def result(self):
            return self.largest

    try:
        nerve.fit(model(), x[:128], y[:128], loss="mse", metrics=[MaxError()], epochs=1,
                  batch_size=32, verbose=0, distributed=True)
    except ValueError as e:
        print(f"process {dist.rank()}: {e}", flush=True)
elif sys.argv[1] == "ignored":  # process 1's targets are all ignore_index, every batch
    labels = np.tile([0, -100, 1, -100], 32)
    m = nn.Sequential(nn.Linear(8, 3))
    h = nerve.fit(m, x[:128], labels, loss=nn.CrossEntropyLoss(), optimizer=nerve.optim.SGD(
        m.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1), epochs=2, batch_size=8,
        shuffle=False, verbose=0, distributed=True)
    with open(f"{sys.argv[2]}.{dist.rank()}", "w") as f:
        json.dump({"loss": h["loss"], "stop": h.stop_reason,
                   "weights": [p.detach().numpy().tolist() for p in m.parameters()]}, f)
else:
    kwargs = dict(loss="mse", metrics=[RMSE(), "r2"], epochs=2, seed=5, verbose=0, shuffle=False,
                  validation_data=(x[128:], y[128:]))
    one = nerve.fit(model(), x[:128], y[:128], batch_size=64, **kwargs)
    two = nerve.fit(model(), x[:128], y[:128], batch_size=32, distributed=True, **kwargs)
    if dist.is_main():
        with open(sys.argv[2], "w") as f:
            json.dump({"one": dict(one), "two": dict(two)}, f)
