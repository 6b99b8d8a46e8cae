"""Small labelled datasets made on the spot: XOR, spirals, moons and Gaussian blobs.

Each maker returns ``(x, y)``: x of shape (n_samples, n_features) in nerve's default dtype
(float32), y int64 class indices of shape (n_samples,). An int ``seed`` gives the same arrays
every time; ``seed=None`` draws from nerve's generator (see ``nerve.manual_seed``). Samples
come in shuffled order.
"""

from __future__ import annotations

import numpy as np

from nerve import backend
from nerve.checks import check_int, check_number, check_positive_int, message, random_generator

XOR_POINTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.int64)


def _finish(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple:
    """Return the samples in a random order as features of the default dtype, int64 labels."""
    order = rng.permutation(len(y))
    return x[order].astype(backend.get_default_dtype()), y[order].astype(np.int64)


def make_xor(n_samples: int = 4, noise: float | None = None,
             seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return XOR: the 4 truth-table points for n_samples=4, else noisy points around them.

    ``noise`` is the standard deviation of the Gaussian noise added to each corner; None means
    0 for the 4-point truth table and 0.1 otherwise. The truth table keeps its usual order.
    """
    n = check_int(n_samples, "n_samples", "make_xor", minimum=4)
    noise = (0.0 if n == 4 else 0.1) if noise is None else check_number(noise, "noise",
                                                                         "make_xor", 0.0)
    if n == 4 and noise == 0.0:
        return XOR_POINTS.astype(backend.get_default_dtype()), XOR_LABELS.copy()
    rng = random_generator(seed, "make_xor")
    corner = np.arange(n) % 4
    x = XOR_POINTS[corner] + noise * rng.standard_normal((n, 2))
    return _finish(x, XOR_LABELS[corner], rng)


def make_spirals(n_samples: int = 300, n_classes: int = 2, noise: float = 0.2,
                 turns: float = 1.0, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n_classes`` interleaved spiral arms of radius up to 1, one arm per class.

    Each arm winds ``turns`` times around the origin; ``noise`` is the standard deviation of a
    Gaussian jitter of each point's angle, in radians (arms of 2 classes lie pi apart).
    """
    k = check_int(n_classes, "n_classes", "make_spirals", minimum=2)
    n = check_int(n_samples, "n_samples", "make_spirals", minimum=k)
    noise = check_number(noise, "noise", "make_spirals", 0.0)
    turns = check_number(turns, "turns", "make_spirals", 0.0)
    rng = random_generator(seed, "make_spirals")
    y = np.arange(n) % k
    radius = rng.uniform(0.05, 1.0, n)
    angle = 2 * np.pi * (turns * radius + y / k) + noise * rng.standard_normal(n)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _finish(x, y, rng)


def make_moons(n_samples: int = 200, noise: float = 0.1,
               seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return two interleaving half circles (class 0 on top, class 1 below), like scikit-learn's."""
    n = check_int(n_samples, "n_samples", "make_moons", minimum=2)
    noise = check_number(noise, "noise", "make_moons", 0.0)
    rng = random_generator(seed, "make_moons")
    n_top = n // 2
    t = np.concatenate([np.linspace(0, np.pi, n_top), np.linspace(0, np.pi, n - n_top)])
    y = (np.arange(n) >= n_top).astype(np.int64)
    top = y == 0
    x = np.stack([np.where(top, np.cos(t), 1 - np.cos(t)),
                  np.where(top, np.sin(t), 0.5 - np.sin(t))], axis=1)
    return _finish(x + noise * rng.standard_normal((n, 2)), y, rng)


def make_blobs(n_samples: int = 300, centers=3, n_features: int | None = None,
               cluster_std=1.0, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return Gaussian clusters, one class per center, with about equal numbers of samples.

    ``centers`` is a count (centers drawn uniformly in [-10, 10] per feature, ``n_features``
    defaulting to 2) or an array (k, n_features) of positions. ``cluster_std`` is one standard
    deviation or one per center.
    """
    rng = random_generator(seed, "make_blobs")
    points = _centers(centers, n_features, rng)
    k, dims = points.shape
    n = check_int(n_samples, "n_samples", "make_blobs", minimum=k)
    std = _stds(cluster_std, k)
    y = np.arange(n) % k
    x = points[y] + std[y, None] * rng.standard_normal((n, dims))
    return _finish(x, y, rng)


def _stds(cluster_std, k: int) -> np.ndarray:
    """Return one standard deviation per center."""
    std = np.asarray(cluster_std, dtype=np.float64)
    if std.ndim == 0:
        std = np.full(k, float(std))
    if std.shape != (k,) or (std < 0).any():
        raise ValueError(message("make_blobs", f"one non-negative number or {k} of them (one "
                                 "per center)", "cluster_std", cluster_std))
    return std


def _centers(centers, n_features: int | None, rng: np.random.Generator) -> np.ndarray:
    """Return the cluster centers as a (k, n_features) float64 array."""
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        k = check_positive_int(centers, "centers", "make_blobs")
        dims = 2 if n_features is None else check_positive_int(n_features, "n_features",
                                                                "make_blobs")
        return rng.uniform(-10.0, 10.0, (k, dims))
    points = np.asarray(centers, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(message("make_blobs", "an int or an array (k, n_features)",
                                 "centers.shape", points.shape))
    if n_features is not None and points.shape[1] != n_features:
        raise ValueError(f"centers have {points.shape[1]} features but n_features={n_features}")
    return points
