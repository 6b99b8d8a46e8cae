"""PyTorch's top-level names of its linear algebra (``torch.det``, ``torch.inverse``,
``torch.svd`` ...): registered as ``nerve.<name>`` and Tensor methods, as every operation is.
``svd`` and ``qr`` keep PyTorch's older signatures (``some=True``; svd returns V, not Vh)."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_number, message
from nerve.linalg import decompositions as _d
from nerve.linalg import functions as _f
from nerve.linalg._common import QR, Slogdet, SVDOld, check_flag, matrices
from nerve.ops import where
from nerve.ops._common import register


@register
def det(input) -> Tensor:  # noqa: A002 - PyTorch's names
    """The determinant of each square matrix, as ``torch.det`` (``nerve.linalg.det``)."""
    return _d.det(input)


@register
def logdet(input) -> Tensor:  # noqa: A002
    """ln det(A) of each square matrix, as ``torch.logdet``: NaN where det(A) < 0 (gradient 0
    there), -inf where A is singular; dy/dA = A^{-T}."""
    sign, logabsdet = _d.slogdet(input)
    return where(sign < 0, float("nan"), logabsdet)


@register
def slogdet(input) -> Slogdet:  # noqa: A002
    """The named tuple ``(sign, logabsdet)``, as ``torch.slogdet`` (``nerve.linalg.slogdet``)."""
    return _d.slogdet(input)


@register
def inverse(input) -> Tensor:  # noqa: A002
    """The inverse of each square matrix, as ``torch.inverse`` (``nerve.linalg.inv``)."""
    return _d.inv(input)


@register
def pinverse(input, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """The pseudo-inverse, as ``torch.pinverse``: ``nerve.linalg.pinv(input, rtol=rcond)``."""
    return _f.pinv(input, rtol=check_number(rcond, "rcond", "pinverse"))


@register
def matrix_power(input, n: int) -> Tensor:  # noqa: A002
    """The ``n``-th power of each square matrix, as ``torch.matrix_power``
    (``nerve.linalg.matrix_power``)."""
    return _f.matrix_power(input, n)


@register
def matrix_exp(input) -> Tensor:  # noqa: A002
    """e^A of each square matrix, as ``torch.matrix_exp`` (``nerve.linalg.matrix_exp``)."""
    return _f.matrix_exp(input)


@register(methods=())
def chain_matmul(*matrices) -> Tensor:
    """The product of 2-D matrices in the cheapest order, as ``torch.chain_matmul``
    (PyTorch deprecates it for ``linalg.multi_dot``); one matrix is returned as a copy."""
    if not matrices:
        raise ValueError("chain_matmul(): expected one or more tensors. Received: none")
    for i, m in enumerate(matrices):
        if getattr(m, "ndim", None) != 2:
            raise ValueError(message("chain_matmul()", "2-D matrices", f"matrices[{i}].shape",
                                     tuple(getattr(m, "shape", ()))))
    if len(matrices) == 1:
        return matrices[0].clone()
    return _f.multi_dot(list(matrices))


@register
def cholesky(input, upper: bool = False) -> Tensor:  # noqa: A002
    """The Cholesky factor, as the older ``torch.cholesky`` (``nerve.linalg.cholesky``)."""
    return _d.cholesky(input, upper=check_flag(upper, "upper", "cholesky"))


@register
def svd(input, some: bool = True, compute_uv: bool = True) -> SVDOld:  # noqa: A002
    """The older ``torch.svd``: the named tuple ``(U, S, V)`` with A = U diag(S) V^T (V, not
    Vh); ``some=True`` the reduced factors, False the full ones; ``compute_uv=False`` gives U
    and V as zeros of shapes (m, m) and (n, n), as PyTorch's."""
    A = matrices(input, "svd")
    some = check_flag(some, "some", "svd")
    if not check_flag(compute_uv, "compute_uv", "svd"):
        xp, (m, n), batch = backend.array_module(A._data), A.shape[-2:], tuple(A.shape[:-2])
        return SVDOld(Tensor._wrap(xp.zeros(batch + (m, m), dtype=A.dtype)), _d.svdvals(A),
                      Tensor._wrap(xp.zeros(batch + (n, n), dtype=A.dtype)))
    U, S, Vh = _d.svd(A, full_matrices=not some)
    return SVDOld(U, S, Vh.transpose(-2, -1))


@register
def qr(input, some: bool = True) -> QR:  # noqa: A002
    """The older ``torch.qr``: ``(Q, R)``, reduced with ``some=True``, complete otherwise."""
    return _d.qr(input, "reduced" if check_flag(some, "some", "qr") else "complete")


__all__ = ["det", "logdet", "slogdet", "inverse", "pinverse", "matrix_power", "matrix_exp",
           "chain_matmul", "cholesky", "svd", "qr"]
