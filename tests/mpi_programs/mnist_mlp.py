"""Under ``mpirun -n 2`` (tests/test_distributed.py): one epoch of an MNIST MLP (784-128-10,
Adam, batches of 32 per process, seed 0) with fit(distributed=True) on the 8,000 training
images of t10k; process 0 writes the accuracy on the other 2,000 to OUT/accuracy.json.

    mnist_mlp.py OUT MNIST_FOLDER
"""

import json
import sys
from pathlib import Path

import nerve
from nerve import distributed as dist
from nerve import nn
from nerve.data import mnist_t10k_split


def mlp():
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def train(batch_size: int, distributed: bool) -> float:
    (x, y), (xt, yt) = mnist_t10k_split(sys.argv[2])
    m = mlp()
    nerve.fit(m, x, y, loss="cross_entropy", optimizer="adam", epochs=1, batch_size=batch_size,
              seed=0, verbose=0, distributed=distributed)
    return nerve.evaluate(m, xt, yt, loss="cross_entropy")["accuracy"]


if __name__ == "__main__":
    accuracy = train(32, distributed=True)
    if dist.is_main():
        Path(sys.argv[1], "accuracy.json").write_text(json.dumps(accuracy))
