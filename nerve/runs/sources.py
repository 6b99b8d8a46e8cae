"""Where a run's examples come from: the ``[data]`` sources of a spec, each with its keys.

Each source knows the shape of one input before loading anything (``nerve summary`` needs no
data), its task (``classification``, ``binary`` for one probability output, ``forecast``) and
how to load and split its examples the same way every time (``nerve evaluate`` repeats the
split of the run). Series are split in time order, never shuffled, and scaled with statistics
of the training part only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nerve.data.mnist import MNIST_BASE_URL
from nerve.runs import spec as S

MNIST_FOLDER = Path("data") / "mnist"  # where --download puts MNIST without --data


@dataclass
class Data:
    """A run's examples, split; ``extra`` holds what a task needs beyond (x, y)."""

    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    name: str
    what: str
    task: str
    keys: dict[str, Callable]
    defaults: dict[str, Any]
    input_shape: Callable[[dict], tuple]
    load: Callable[[dict, int], Data]
    method: str = "fit"
    loss: str = "cross_entropy"


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled indices (seeded) of the training and the validation examples."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if fraction > 0 and not 0 < n_val < n:
        raise S.SpecError(f"data.validation_split: {fraction} of {n} examples leaves "
                          f"{n - n_val} for training and {n_val} for validation")
    return order[:n - n_val], order[n - n_val:]


def _classified(x, y, fraction: float, seed: int, classes=None) -> Data:
    if fraction == 0:  # measured on the training examples, and said so
        return Data("classification", x, y, x, y, classes, {"val_is_train": True})
    train, val = _split(len(x), fraction, seed)
    return Data("classification", x[train], y[train], x[val], y[val], classes)


# --- the seed's examples ---------------------------------------------------------------------
SURF_FEATURES = ["the waves are good", "the line-up is empty", "no recent shark attack"]
SURF_WEIGHTS, SURF_THRESHOLD = (5.0, 2.0, 4.0), 3.0


def _surfing(cfg: dict, seed: int) -> Data:
    """All 8 days the seed's three yes/no questions describe, labelled by its perceptron."""
    x = np.array(list(itertools.product((0, 1), repeat=3)), dtype=np.float32)
    y = (x @ np.array(SURF_WEIGHTS, np.float32) - SURF_THRESHOLD > 0).astype(np.int64)
    return Data("classification", x, y, x, y, ["stay", "go"],
                {"features": SURF_FEATURES, "val_is_train": True})


def _xor(cfg: dict, seed: int) -> Data:
    from nerve.data import make_xor

    x, y = make_xor()
    y = y.astype(np.float32).reshape(-1, 1)
    return Data("binary", x, y, x, y, ["0", "1"], {"val_is_train": True})


def _spirals(cfg: dict, seed: int) -> Data:
    from nerve.data import make_spirals

    try:
        x, y = make_spirals(cfg["n_samples"], cfg["n_classes"], cfg["noise"], cfg["turns"],
                            seed)
    except ValueError as e:
        raise S.SpecError(f"data: {e}") from None
    return _classified(x, y, cfg["validation_split"], seed,
                       [f"arm {i}" for i in range(cfg["n_classes"])])


def _digits(cfg: dict, seed: int) -> Data:
    from nerve.data import load_digits

    x, y = load_digits(flatten=cfg["flatten"])
    if not cfg["flatten"]:
        x = x[:, None]
    return _classified(x, y, cfg["validation_split"], seed, [str(i) for i in range(10)])


def _mnist(cfg: dict, seed: int) -> Data:
    from nerve.data import mnist_t10k_split

    root = cfg.get("path")
    if cfg["download"]:
        from nerve.data import download_mnist, read_checksums

        root = Path(root) if root else MNIST_FOLDER
        sums = read_checksums(cfg["checksums"]) if cfg.get("checksums") else None
        needed = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
        if sums is not None and not all(name in sums for name in needed):
            raise S.SpecError(f"data.checksums: {cfg['checksums']} lists {sorted(sums)}; it "
                              f"must give the SHA-256 of {', '.join(needed)}")
        download_mnist(root, "t10k", base_url=cfg["base_url"], sha256=sums)
    elif not root:
        raise S.SpecError("MNIST needs its files: give the folder that holds "
                         "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz with --data "
                         "DIR (data.path), or fetch them with --download")
    (x, y), (xv, yv) = mnist_t10k_split(root, flatten=cfg["flatten"], n_train=cfg["n_train"])
    return Data("classification", x, y, xv, yv, [str(i) for i in range(10)])


def _image_shape(side: int):
    return lambda cfg: (side * side,) if cfg["flatten"] else (1, side, side)


# --- series ----------------------------------------------------------------------------------
def _series_data(series: np.ndarray, cfg: dict, index: np.ndarray | None = None) -> Data:
    """One-step-ahead windows of a series, split in time order, scaled on the training part."""
    from nerve.data import StandardScaler, make_windows

    n, window = len(series), cfg["window"]
    n_train = int(round(n * cfg["train"]))
    n_val = int(round(n * cfg["val"]))
    if n_train <= window + 1 or n_val < 1 or n_train + n_val > n:
        raise S.SpecError(f"data: a series of {n} values cannot be split into "
                          f"train={cfg['train']} "
                          f"({n_train} values, more than window + 1 = {window + 1} needed) and "
                          f"val={cfg['val']} ({n_val} values, at least 1)")
    scaler = StandardScaler().fit(series[:n_train])
    x, y = make_windows(scaler.transform(series), window)
    target = np.arange(window, n)  # the position in the series that window i forecasts
    train = target < n_train
    val = (target >= n_train) & (target < n_train + n_val)
    extra = {"series": series, "index": index, "scaler": scaler, "n_train": n_train,
             "n_val": n_val, "window": window, "x_all": x, "target_positions": target}
    return Data("forecast", x[train], y[train, 0], x[val], y[val, 0], None, extra)


def _sine(cfg: dict, seed: int) -> Data:
    rng = np.random.default_rng(seed)
    t = np.arange(cfg["length"], dtype=np.float64)
    series = sum(np.sin(2 * np.pi * t / p) for p in cfg["periods"])
    series = series + cfg["noise"] * rng.standard_normal(len(t))
    return _series_data(series.astype(np.float32), cfg)


def _csv(cfg: dict, seed: int) -> Data:
    from nerve.data import load_csv

    if not cfg.get("path") or not cfg.get("column"):
        raise S.SpecError("a forecast of your own series needs the file and the column: "
                         "--csv FILE --column NAME (data.path, data.column)")
    series = load_csv(cfg["path"], cfg["column"])
    index = load_csv(cfg["path"], cfg["index_column"]) if cfg.get("index_column") else None
    if not np.isfinite(series).all():
        raise ValueError(f"{cfg['path']}: column {cfg['column']!r} holds NaN or infinite values")
    return _series_data(series, cfg, index)


_SERIES_KEYS = {"window": S.positive_int, "train": S.fraction, "val": S.fraction}
_SERIES_DEFAULTS = {"window": 20, "train": 0.7, "val": 0.15}

SOURCES = {s.name: s for s in [
    Source("surfing", "the seed's surfing decision: 3 yes/no inputs, 8 days", "classification",
           {}, {}, lambda cfg: (3,), _surfing, method="perceptron"),
    Source("xor", "the XOR truth table, 4 points", "binary", {}, {}, lambda cfg: (2,), _xor,
           method="gradient-descent", loss="ssr"),
    Source("spirals", "interleaved spirals, one arm per class (synthetic)", "classification",
           {"n_samples": S.positive_int, "n_classes": S.positive_int,
            "noise": S.non_negative_number, "turns": S.non_negative_number,
            "validation_split": S.fraction},
           {"n_samples": 600, "n_classes": 2, "noise": 0.1, "turns": 1.0,
            "validation_split": 0.2}, lambda cfg: (2,), _spirals),
    Source("digits", "scikit-learn's 1,797 8x8 digits (needs scikit-learn)", "classification",
           {"validation_split": S.fraction, "flatten": S.flag},
           {"validation_split": 0.2, "flatten": True}, _image_shape(8), _digits),
    Source("mnist", "MNIST t10k: 8,000 images to train on, 2,000 to evaluate", "classification",
           {"path": S.text, "download": S.flag, "base_url": S.text, "checksums": S.text,
            "n_train": S.positive_int, "flatten": S.flag},
           {"download": False, "base_url": MNIST_BASE_URL,
            "n_train": 8000, "flatten": True}, _image_shape(28), _mnist),
    Source("sine", "a sum of sines with noise (synthetic series)", "forecast",
           {"length": S.positive_int, "periods": S.numbers, "noise": S.non_negative_number,
            **_SERIES_KEYS},
           {"length": 1000, "periods": [50.0, 21.0], "noise": 0.05, **_SERIES_DEFAULTS,
            "window": 40}, lambda cfg: (cfg["window"], 1), _sine, loss="mse"),
    Source("csv", "a column of your own CSV file, as a series", "forecast",
           {"path": S.text, "column": S.text, "index_column": S.text, **_SERIES_KEYS},
           dict(_SERIES_DEFAULTS), lambda cfg: (cfg["window"], 1), _csv, loss="mse"),
]}


def get(name: str) -> Source:
    return SOURCES[name]
