"""``torch.utils.data``'s names, from ``nerve.data``: datasets, ``random_split``, the loader."""

from nerve.data.dataset import Dataset, Subset, TensorDataset, random_split
from nerve.data.loader import DataLoader

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split"]
