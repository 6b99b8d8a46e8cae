"""The 8x8 handwritten digits bundled with scikit-learn (an optional extra: ``nerve[digits]``)."""

from __future__ import annotations

import numpy as np

from nerve import backend
from nerve.checks import check_bool

_MISSING = ("load_digits needs scikit-learn, which is not installed: pip install scikit-learn "
            '(or, in a checkout of nerve, pip install ".[digits]")')


def load_digits(flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return the 1,797 digits as x in [0, 1], (N, 64) or (N, 8, 8), of nerve's default dtype
    (float32), and y int64."""
    flatten = check_bool(flatten, "flatten", "load_digits")
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as err:
        raise ImportError(_MISSING) from err
    bunch = sklearn_digits()
    x = (bunch.data / 16.0).astype(backend.get_default_dtype())  # the pixels are counts 0..16
    return (x if flatten else x.reshape(-1, 8, 8)), bunch.target.astype(np.int64)
