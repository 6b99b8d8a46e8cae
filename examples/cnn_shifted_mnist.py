"""Does a CNN tolerate small shifts better than an MLP? (The seed: a CNN "tolerates small shifts
in where the pixels are in the image".)

Both are trained the same way on the centred MNIST digits (Adam 1e-3, batch 64, 3 epochs on
the 8,000 training images of ../shared/data/mnist-t10k), with about the same number of
parameters: the CNN of examples/mnist_cnn.py (206,922) and an MLP 784-256-10 (203,530). Then
both classify the 2,000 test digits moved by 1 and by 2 pixels (left, right, up and down, the
vacated border filled with background), and the accuracy each keeps is printed.

    python examples/cnn_shifted_mnist.py
"""

import sys
from pathlib import Path

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import mnist_t10k_split

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1)]


def shifted(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(N, 1, H, W) images moved dx pixels right and dy down; the border becomes 0."""
    out = np.zeros_like(images)
    h, w = images.shape[2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def models():
    cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return {"CNN": cnn, "MLP": mlp}


def accuracy(model, x, y) -> float:
    return nerve.evaluate(model, x, y, loss="cross_entropy")["accuracy"]


def shift_accuracies(model, x, y) -> dict:
    """Accuracy on the centred images and the mean over the four directions at 1 and 2 px."""
    result = {0: accuracy(model, x, y)}
    for d in (1, 2):
        result[d] = float(np.mean([accuracy(model, shifted(x, dx * d, dy * d), y)
                                   for dx, dy in DIRECTIONS]))
    return result


def main(seed: int = 0) -> dict:
    (x, y), (x_test, y_test) = mnist_t10k_split(MNIST, flatten=False)
    results = {}
    nerve.manual_seed(seed)
    for name, model in models().items():
        n = sum(p.numel() for p in model.parameters())
        nerve.fit(model, x, y, loss="cross_entropy",
                  optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=3, batch_size=64,
                  seed=seed, verbose=0)
        results[name] = shift_accuracies(model, x_test, y_test)
        r = results[name]
        print(f"{name} ({n:,} parameters): centred {r[0]:.2%}, shifted by 1 px {r[1]:.2%} "
              f"(loses {r[0] - r[1]:.2%}), by 2 px {r[2]:.2%} (loses {r[0] - r[2]:.2%})")
    return results


if __name__ == "__main__":
    if not MNIST.is_dir():
        sys.exit(f"MNIST not found at {MNIST} (see ../shared/data/README)")
    main()
