"""What the linear-algebra functions share: the checks of their matrices, the error of a
failed factorisation (:class:`LinAlgError`, naming the function and the batch element, as
PyTorch's), the named tuples they return and a few array helpers."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor, is_int, message


class LinAlgError(RuntimeError, ValueError):
    """A factorisation failed: a singular matrix (inv, solve), one not positive-definite
    (cholesky), no convergence (svd, eigh). PyTorch's ``torch.linalg.LinAlgError`` is a
    RuntimeError; it is a ValueError too, as NumPy's and as nerve's errors of bad input."""


Slogdet = namedtuple("Slogdet", ["sign", "logabsdet"])
Slogdet.__doc__ = "What slogdet returns: (sign, logabsdet), as PyTorch's named tuple."
Eigh = namedtuple("Eigh", ["eigenvalues", "eigenvectors"])
Eigh.__doc__ = "What eigh returns: (eigenvalues, eigenvectors), as PyTorch's named tuple."
SVD = namedtuple("SVD", ["U", "S", "Vh"])
SVD.__doc__ = "What linalg.svd returns: (U, S, Vh) with A = U diag(S) Vh, as PyTorch's."
QR = namedtuple("QR", ["Q", "R"])
QR.__doc__ = "What qr returns: (Q, R), as PyTorch's named tuple."
Lstsq = namedtuple("Lstsq", ["solution", "residuals", "rank", "singular_values"])
Lstsq.__doc__ = ("What lstsq returns: (solution, residuals, rank, singular_values), as "
                 "PyTorch's named tuple.")
SVDOld = namedtuple("SVDOld", ["U", "S", "V"])
SVDOld.__doc__ = "What nerve.svd (PyTorch's old torch.svd) returns: (U, S, V), A = U diag(S) V^T."

_LAPACK_ERRORS = (np.linalg.LinAlgError,)  # CuPy raises NumPy's class too


def matrices(A, who: str, name: str = "A", square: bool = False,
             integers: bool = False) -> Tensor:
    """``A`` as a Tensor of float32 or float64 matrices (``(*, m, n)``); square if asked.
    PyTorch's linalg takes no integer input (no silent promotion), but for the products
    (``integers``: matrix_power with n >= 0), which take integer matrices too."""
    A = as_tensor(A)
    if not (A.dtype.kind == "f" and A.dtype.itemsize >= 4 or integers and A.dtype.kind in "iu"):
        kinds = "a float32, float64 or integer tensor (PyTorch's linalg takes no float16 " \
            "input)" if integers else "a float32 or float64 tensor (PyTorch's linalg takes no " \
            "integer or float16 input)"
        raise TypeError(message(who, kinds, f"{name}.dtype", A.dtype))
    if A.ndim < 2:
        raise ValueError(message(who, f"{name} of at least 2 dimensions (*, m, n)",
                                 f"{name}.shape", tuple(A.shape)))
    if square and A.shape[-1] != A.shape[-2]:
        raise ValueError(message(who, f"batches of square matrices (*, n, n), but they are "
                                 f"{A.shape[-2]} by {A.shape[-1]} matrices", f"{name}.shape",
                                 tuple(A.shape)))
    return A


def check_flag(value, name: str, who: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(message(who, "True or False", name, value))
    return bool(value)


def check_power(n, who: str) -> int:
    if not is_int(n):
        raise TypeError(message(who, "an integer exponent", "n", n))
    return int(n)


def mT(a):
    """The matrices of ``a`` transposed (the last two axes swapped)."""
    return a.swapaxes(-1, -2)


def lapack(who: str, fn, *arrays, problem: str, **options):
    """``fn(*arrays)``; a failure becomes a :class:`LinAlgError` naming ``who`` and the first
    batch element that fails, as PyTorch's messages do."""
    try:
        return fn(*arrays, **options)
    except _LAPACK_ERRORS:
        where = ""
        A = arrays[0]
        if A.ndim > 2:
            for i, idx in enumerate(_batch_indices(A.shape[:-2])):
                try:
                    fn(*(a[idx] for a in arrays), **options)
                except _LAPACK_ERRORS:
                    where = f"(Batch element {i}): "
                    break
        raise LinAlgError(f"{who}: {where}{problem}") from None


def _batch_indices(batch: tuple):
    """Every index of a batch shape, in C order (PyTorch's numbering of batch elements)."""
    total = 1
    for d in batch:
        total *= d
    for flat in range(total):
        idx = []
        for d in reversed(batch):
            idx.append(flat % d)
            flat //= d
        yield tuple(reversed(idx))


def eye_like(a):
    """Identity matrices of ``a``'s matrix shape and dtype, broadcast over its batch."""
    xp = backend.array_module(a)
    return xp.broadcast_to(xp.eye(a.shape[-2], a.shape[-1], dtype=a.dtype), a.shape)


def diag_embed(v):
    """The vectors of ``v`` (``(*, k)``) as diagonal matrices ``(*, k, k)``."""
    xp = backend.array_module(v)
    out = xp.zeros(v.shape + v.shape[-1:], dtype=v.dtype)
    k = v.shape[-1]
    out[..., xp.arange(k), xp.arange(k)] = v
    return out


def tril(a, k: int = 0):
    return backend.array_module(a).tril(a, k)


def rsolve(R, X):
    """``X R^{-T}`` (R square and nonsingular), by one solve: (R^{-1} X^T)^T."""
    return mT(backend.array_module(R).linalg.solve(R, mT(X)))


def eps(dtype) -> float:
    return float(np.finfo(dtype).eps)
