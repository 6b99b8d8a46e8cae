"""Datasets, the DataLoader, and data to learn from (synthetic, digits, MNIST, CSV).

Nothing here downloads unless asked (``download``, ``download_mnist``), and scikit-learn is
imported only by ``load_digits``.
"""

from nerve.data.dataset import (
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    collate,
    random_split,
)
from nerve.data.digits import load_digits
from nerve.data.download import download, sha256sum
from nerve.data.loader import DataLoader
from nerve.data.mnist import (
    MNIST_BASE_URL,
    MNIST_MEAN,
    MNIST_SHA256,
    MNIST_STD,
    download_mnist,
    load_mnist,
    mnist_t10k_split,
    read_checksums,
    read_idx,
)
from nerve.data.sampler import DistributedSampler, WeightedRandomSampler
from nerve.data.synthetic import make_blobs, make_moons, make_spirals, make_xor
from nerve.data.timeseries import (
    StandardScaler,
    chronological_split,
    load_csv,
    make_windows,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader", "DistributedSampler",
    "WeightedRandomSampler", "random_split", "collate",
    "make_xor", "make_spirals", "make_moons", "make_blobs", "load_digits",
    "read_idx", "load_mnist", "mnist_t10k_split", "download", "sha256sum",
    "download_mnist", "read_checksums", "MNIST_BASE_URL", "MNIST_SHA256",
    "MNIST_MEAN", "MNIST_STD",
    "load_csv", "make_windows", "chronological_split", "StandardScaler",
]
