"""Acceptance: the CNN recipe on MNIST (8,000 train / 2,000 test from ../shared/data), and the
seed's claim that a CNN tolerates small shifts better than an MLP.

Conv(1->16, 3x3, pad 1)-ReLU-MaxPool(2) -> Conv(16->32, 3x3, pad 1)-ReLU-MaxPool(2) -> Flatten
-> Linear(1568, 128)-ReLU -> Linear(128, 10), Adam 1e-3, batch 64, 3 epochs, through fit, on
pixels standardised with MNIST's mean and standard deviation (PyTorch's usual
``Normalize((0.1307,), (0.3081,))``). Accuracy depends on the seed: see BENCHMARKS.md for the
spread over seeds of nerve and of PyTorch with this recipe.
"""

from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.data import MNIST_MEAN, MNIST_STD, mnist_t10k_split

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
SEED = 0


@pytest.fixture(scope="module")
def mnist():
    if not MNIST.is_dir():
        pytest.skip(f"shared MNIST data not found at {MNIST}")
    return mnist_t10k_split(MNIST, flatten=False, standardize=True)


def train(model, x, y, seed=SEED):
    nerve.fit(model, x, y, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), 1e-3),
              epochs=3, batch_size=64, seed=seed, verbose=0)
    return model


def make_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


@pytest.fixture(scope="module")
def trained(mnist):
    (x, y), _ = mnist
    nerve.manual_seed(SEED)
    cnn = make_cnn()
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return train(cnn, x, y), train(mlp, x, y)


def accuracy(model, x, y) -> float:
    with nerve.no_grad():
        return float((model(nerve.tensor(x)).numpy().argmax(axis=1) == y).mean())


BACKGROUND = (0.0 - MNIST_MEAN) / MNIST_STD  # a black pixel, standardised


def shift(images, dx: int, dy: int, fill: float = BACKGROUND):
    """Move (N, 1, H, W) images dx right and dy down, filling the border with background."""
    h, w = images.shape[2:]
    out = np.full_like(images, fill)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_cnn_reaches_97_percent_on_average_over_seeds_0_1_2(mnist, trained):
    """The issue's two accuracy checks: a mean of at least 97% over three seeds, and each seed
    at 96.5% or more. On standardised pixels seeds 0-2 give 97.80, 97.50 and 97.90% (twelve
    seeds: 97.05-98.20%, mean 97.64%; PyTorch 97.84%, BENCHMARKS.md); on raw [0, 1] pixels the
    same recipe gave 96.85% for these seeds (twelve: 96.96%; PyTorch 97.06%), so this test
    fails a recipe that loses the standardisation as well as one that learns worse."""
    (x, y), (xe, ye) = mnist
    cnn, _ = trained
    assert sum(p.numel() for p in cnn.parameters()) == 206_922
    scores = [accuracy(cnn, xe, ye)]
    for seed in (1, 2):
        nerve.manual_seed(seed)
        scores.append(accuracy(train(make_cnn(), x, y, seed), xe, ye))
    assert min(scores) >= 0.965 and np.mean(scores) >= 0.97, scores


def test_shift_moves_the_pixels():
    img = np.arange(9.0).reshape(1, 1, 3, 3)
    assert shift(img, 1, 0, fill=0)[0, 0].tolist() == [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    assert shift(img, 0, -1, fill=-1)[0, 0].tolist() == [[3, 4, 5], [6, 7, 8], [-1, -1, -1]]


def test_cnn_loses_less_accuracy_than_an_mlp_when_digits_shift(mnist, trained):
    _, (xe, ye) = mnist
    cnn, mlp = trained
    assert abs(sum(p.numel() for p in mlp.parameters()) - 206_922) < 0.02 * 206_922
    losses = {}
    for name, model in (("cnn", cnn), ("mlp", mlp)):
        centred = accuracy(model, xe, ye)
        shifted = np.mean([accuracy(model, shift(xe, 2 * dx, 2 * dy), ye)
                           for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))])
        losses[name] = centred - shifted
    assert losses["cnn"] < losses["mlp"], losses
