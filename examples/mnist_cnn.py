"""The convolutional network of the seed on MNIST: two 3x3 convolutions with ReLU and 2x2 max
pooling, then a dense network; Adam 1e-3, batch 64, 3 epochs on the 8,000 / 2,000 split of
../shared/data/mnist-t10k, the pixels standardised with MNIST's mean and standard deviation
(0.1307 and 0.3081, PyTorch's usual ``Normalize``; ``--raw`` keeps them in [0, 1]).

    python examples/mnist_cnn.py                 # one seed
    python examples/mnist_cnn.py --seeds 0 1 2   # the mean and spread over several
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import mnist_t10k_split

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 7 x 7
        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def train(model, x, y, seed: int, epochs: int = 3, verbose: int = 0):
    return nerve.fit(model, x, y, loss="cross_entropy",
                     optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=epochs,
                     batch_size=64, seed=seed, verbose=verbose)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--raw", action="store_true", help="pixels in [0, 1], not standardised")
    args = p.parse_args(argv)
    if not MNIST.is_dir():
        print(f"MNIST not found at {MNIST} (see ../shared/data/README)", file=sys.stderr)
        return 1
    (x, y), (x_test, y_test) = mnist_t10k_split(MNIST, flatten=False, standardize=not args.raw)
    accuracies = []
    for seed in args.seeds:
        nerve.manual_seed(seed)
        model = cnn()
        if seed == args.seeds[0]:
            nn.summary(model, (1, 28, 28))
        train(model, x, y, seed, args.epochs, verbose=2)
        acc = nerve.evaluate(model, x_test, y_test, loss="cross_entropy")["accuracy"]
        accuracies.append(acc)
        print(f"seed {seed}: test accuracy {acc:.2%}")
    if len(accuracies) > 1:
        a = np.array(accuracies)
        print(f"mean test accuracy {a.mean():.2%} over {len(a)} seeds "
              f"(min {a.min():.2%}, max {a.max():.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
