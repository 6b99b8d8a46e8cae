"""``torch.utils.data``'s names, from ``nerve.data``: datasets, ``random_split``, the loader and
the samplers nerve has."""

from nerve.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader", "random_split",
           "WeightedRandomSampler", "DistributedSampler"]
