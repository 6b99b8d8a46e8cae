"""PyTorch's import paths for habits that carry over: ``from nerve.utils.data import
DataLoader`` as ``from torch.utils.data import DataLoader``. Each name is nerve's own, from
the floor that defines it (``nerve.data``); nothing here is a second implementation."""

from nerve.utils import data

__all__ = ["data"]
