"""The dtype names that PyTorch programs use: ``nerve.float``, ``nerve.long``, ``nerve.double``,
``nerve.int``, ``nerve.bool`` ... Each is the NumPy dtype of the same kind (``nerve.float`` is
``numpy.dtype("float32")``), so they work wherever nerve takes a dtype."""

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001

__all__ = ["float16", "half", "float32", "float", "float64", "double", "int8", "uint8", "int16",
           "short", "int32", "int", "int64", "long", "bool"]
