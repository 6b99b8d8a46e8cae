"""What is built on the factorisations: ``pinv`` (a Function with PyTorch's gradient),
``lstsq``, ``matrix_norm``, ``norm``, ``matrix_power``, ``multi_dot``, ``matrix_rank``,
``cond`` and ``matrix_exp``, composed of nerve's operations where that gives the gradient
(PyTorch composes them the same way)."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor, check_number, is_int, message
from nerve.function import Function
from nerve.linalg._common import (
    Lstsq,
    check_flag,
    check_power,
    eps,
    eye_like,
    matrices,
    mT,
)
from nerve.linalg.decompositions import _is_vector_rhs, inv, svdvals
from nerve.ops import amax, amin, matmul, where
from nerve.ops.reduce import vector_norm
from nerve.ops.shape import cast

INF = float("inf")


# --- pinv ---------------------------------------------------------------------------------
def _tolerances(atol, rtol, a, who: str):
    """PyTorch's (atol, rtol) of pinv and matrix_rank as arrays over the batch: rtol defaults
    to 0 where atol > 0, else (atol not given, or 0, also element-wise in a tensor atol) to
    eps * max(m, n)."""
    xp = backend.array_module(a)

    def value(v, name):
        if isinstance(v, Tensor):
            if v.dtype.kind not in "fiu":
                raise TypeError(message(who, "a real number or tensor", f"{name}.dtype",
                                        v.dtype))
            return v._data.astype(a.dtype)
        return xp.asarray(check_number(v, name, who, 0.0), dtype=a.dtype)

    atol = value(0.0 if atol is None else atol, "atol")
    if rtol is None:  # where(atol > 0, 0, eps * max(m, n)), as PyTorch's
        default = eps(a.dtype) * max(a.shape[-2:], default=1)
        return atol, xp.where(atol > 0, 0, default).astype(a.dtype)
    return atol, value(rtol, "rtol")


def _kept(values, magnitude, atol, rtol):
    """1 / values where |values| > max(atol, rtol * max |values|), else 0 (no division by 0)."""
    xp = backend.array_module(values)
    big = magnitude.max(axis=-1, keepdims=True) if magnitude.shape[-1] else magnitude
    tol = xp.maximum(xp.asarray(atol)[..., None], xp.asarray(rtol)[..., None] * big)
    keep = magnitude > tol
    return xp.where(keep, 1 / xp.where(keep, values, 1), 0).astype(values.dtype, copy=False)


class PinvFunction(Function):
    """y = P = pinv(A) = V diag(1/s, 0 for s <= tol) U^T (A = U diag(s) V^T; hermitian: through
    eigh);  dL/dA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A) (PyTorch's
    pinv_backward: the gradient at constant rank)"""

    def forward(ctx, a, *, atol, rtol, hermitian=False):
        xp = backend.array_module(a)
        m, n = a.shape[-2:]
        if a.size == 0:
            p = xp.zeros(a.shape[:-2] + (n, m), dtype=a.dtype)
        elif hermitian:
            w, v = xp.linalg.eigh(a)
            p = (v * _kept(w, abs(w), atol, rtol)[..., None, :]) @ mT(v)
        else:
            u, s, vh = xp.linalg.svd(a, full_matrices=False)
            p = (mT(vh) * _kept(s, s, atol, rtol)[..., None, :]) @ mT(u)
        p = p.astype(a.dtype, copy=False)
        ctx.save_for_backward(a, p)
        return p

    def backward(ctx, g):
        a, p = ctx.saved_tensors
        pt, gt = mT(p), mT(g)
        return (-(pt @ g @ pt) + (gt - a @ (p @ gt)) @ (p @ pt)
                + (pt @ p) @ (gt - (gt @ p) @ a))


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The pseudo-inverse of each matrix of ``A`` (``(*, m, n)`` -> ``(*, n, m)``), as
    ``torch.linalg.pinv``: singular values (eigenvalues' magnitudes with ``hermitian``, which
    reads only the lower triangle) at or below max(atol, rtol * the largest) count as 0; rtol
    defaults to eps * max(m, n) when atol is not given, else to 0."""
    who = "linalg.pinv"
    A = matrices(A, who, square=check_flag(hermitian, "hermitian", who))
    atol, rtol = _tolerances(atol, rtol, A._data, who)
    return PinvFunction.apply(A, atol=atol, rtol=rtol, hermitian=hermitian)


# --- lstsq --------------------------------------------------------------------------------
_DRIVERS = (None, "gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None) -> Lstsq:
    """The least-squares solution X of min ||A X - B||_F, as ``torch.linalg.lstsq``: the named
    tuple ``(solution, residuals, rank, singular_values)``. The solution is the minimum-norm
    one, pinv(A) B (singular values at or below rcond * the largest count as 0; rcond defaults
    to eps * max(m, n)); its gradient is PyTorch's (through pinv). As PyTorch's CPU drivers:
    ``rank`` for every driver but "gels"; ``singular_values`` for "gelsd" and "gelss";
    ``residuals`` (||A X - B||^2 per column) when m > n, for "gels", and for "gelsd" and
    "gelss" when every matrix has full rank; each empty otherwise. Deliberate difference:
    residuals and singular_values carry their true gradients (PyTorch ignores them)."""
    who = "linalg.lstsq"
    A = matrices(A, who)
    B = as_tensor(B)
    if B.dtype != A.dtype:
        raise TypeError(message(who, f"B of A's dtype {A.dtype}", "B.dtype", B.dtype))
    if driver not in _DRIVERS:
        raise ValueError(message(who, f"one of {_DRIVERS}", "driver", driver))
    if not (0 <= A.ndim - B.ndim <= 1):
        raise ValueError(f"{who}: expected B with as many dimensions as A or one fewer. "
                         f"Received: A of shape {tuple(A.shape)}, B of shape {tuple(B.shape)}")
    vector = _is_vector_rhs(A, B)
    B2 = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    if B2.shape[-2] != m:
        raise ValueError(f"{who}: A and B must have the same number of rows. Received: A of "
                         f"shape {tuple(A.shape)}, B of shape {tuple(B.shape)}")
    rtol = eps(A.dtype) * max(m, n) if rcond is None else check_number(rcond, "rcond", who)
    X = matmul(pinv(A, rtol=max(rtol, 0.0)), B2)
    xp = backend.array_module(A._data)
    empty = Tensor._wrap(xp.zeros((0,), dtype=A.dtype))
    rank = Tensor._wrap(xp.zeros((0,), dtype="int64"))
    if driver != "gels":
        rank = matrix_rank(A, rtol=max(rtol, 0.0))
    full = m > n and (driver == "gels" or bool((rank._data == n).all()))
    residuals = empty
    if driver in ("gels", "gelsd", "gelss") and full:
        residuals = ((matmul(A, X) - B2) ** 2).sum(-2)
    singular_values = svdvals(A) if driver in ("gelsd", "gelss") else empty
    return Lstsq(X.squeeze(-1) if vector else X, residuals, rank, singular_values)


# --- norms --------------------------------------------------------------------------------
def _typed_matrices(A, dtype, who: str) -> Tensor:
    A = as_tensor(A)
    if dtype is not None:
        A = cast(A, dtype)
    if A.ndim < 2:
        raise ValueError(f"{who}: the input tensor A must have at least 2 dimensions. "
                         f"Received: A of shape {tuple(A.shape)}")
    return matrices(A, who)


def _two_dims(dim, ndim: int, who: str) -> tuple[int, int]:
    if not (isinstance(dim, (tuple, list)) and len(dim) == 2 and all(is_int(d) for d in dim)):
        raise TypeError(message(who, "dim, a tuple of 2 ints", "dim", dim))
    out = []
    for d in dim:
        if not -ndim <= d < ndim:
            raise ValueError(message(who, f"dims in [{-ndim}, {ndim - 1}]", "dim", dim))
        out.append(int(d) % ndim)
    if out[0] == out[1]:
        raise ValueError(message(who, "two different dims", "dim", dim))
    return out[0], out[1]


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The matrix norm over the two dimensions ``dim``, as ``torch.linalg.matrix_norm``:
    ``ord`` "fro" (Frobenius), "nuc" (the sum of the singular values), 2 / -2 (the largest /
    smallest singular value), 1 / -1 (the largest / smallest column sum of |a|), inf / -inf (the
    largest / smallest row sum of |a|). ``dtype`` casts A first."""
    who = "linalg.matrix_norm"
    A = _typed_matrices(A, dtype, who)
    d0, d1 = _two_dims(dim, A.ndim, who)
    keepdim = check_flag(keepdim, "keepdim", who)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(A.movedim((d0, d1), (-2, -1)))  # an empty matrix: 2 gives 0, as PyTorch
        out = s.sum(-1) if ord == "nuc" or (ord == 2 and s.shape[-1] == 0) else \
            amax(s, -1) if ord == 2 else amin(s, -1)
        return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord in (1, -1, INF, -INF):
        if ord in (INF, -INF):
            d0, d1 = d1, d0  # the row sums (over the columns)
        sums = A.abs().sum(d0, keepdim=True)
        if ord > 0 and A.shape[d1] == 0:  # the largest of no sums: 0, as PyTorch (-1: refused)
            out = sums.sum(d1, keepdim=True)
        else:
            out = amax(sums, d1, keepdim=True) if ord > 0 else amin(sums, d1, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise ValueError(message(who, "ord 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2 (order not "
                             "supported)", "ord", ord))


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """A vector or matrix norm, as ``torch.linalg.norm``: ``dim`` an int (or 1-tuple): the
    vector norm of order ``ord`` (2 by default); a 2-tuple: the matrix norm (``ord`` "fro" by
    default); None: with ``ord`` None the 2-norm of all the elements, otherwise A must be 1-D
    (vector norm) or 2-D (matrix norm)."""
    who = "linalg.norm"
    A = as_tensor(A)
    if dim is not None:
        dims = (dim,) if is_int(dim) else dim
        if not isinstance(dims, (tuple, list)) or len(dims) not in (1, 2):
            raise ValueError(message(who, "dim, an int or a tuple of 1 or 2 ints", "dim", dim))
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, tuple(dims), keepdim,
                               dtype=dtype)
        if isinstance(ord, str):
            raise ValueError(message(who, "a number as ord of a vector norm", "ord", ord))
        return vector_norm(A, 2 if ord is None else ord, tuple(dims), keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2 or isinstance(ord, str) and A.ndim < 2:  # 3-D and "fro": refused below
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise ValueError(f"{who}: if dim is not specified but ord is, the input must be 1D or 2D. "
                     f"Received: A of shape {tuple(A.shape)}")


def cond(A, p=None) -> Tensor:
    """The condition number of each matrix of ``A``, as ``torch.linalg.cond``: p None or 2
    (the largest over the smallest singular value; any shape), -2 (the inverse), or "fro",
    "nuc", inf, -inf, 1, -1 (||A||_p ||A^{-1}||_p; square matrices, inf where A is singular)."""
    who = "linalg.cond"
    A = matrices(A, who)
    if p in (None, 2, -2) and not isinstance(p, bool):
        if 0 in A.shape[-2:]:
            return matrix_norm(A, "fro") * 0  # an empty matrix: 0, as PyTorch (in the graph)
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    if p not in ("fro", "nuc", INF, -INF, 1, -1) or isinstance(p, bool):
        raise ValueError(message(who, "p None, 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2", "p", p))
    A = matrices(A, who, square=True)
    if A.shape[-1] == 0:
        return matrix_norm(A, "fro") * 0
    xp = backend.array_module(A._data)
    singular = xp.asarray(xp.linalg.det(A._data) == 0)
    if not singular.any():
        return matrix_norm(A, p) * matrix_norm(inv(A), p)
    safe = where(Tensor._wrap(singular[..., None, None]), Tensor._wrap(eye_like(A._data).copy()), A)
    return where(Tensor._wrap(singular), INF, matrix_norm(A, p) * matrix_norm(inv(safe), p))


# --- products, powers, rank ---------------------------------------------------------------
class IdentityPowerFunction(Function):
    """y = A^0 = I (of A's shape);  dL/dA = 0 (PyTorch's result keeps A in the graph)"""

    def forward(ctx, a):
        return eye_like(a).copy()

    def backward(ctx, g):
        return backend.array_module(g).zeros_like(g)


def matrix_power(A, n: int) -> Tensor:
    """The ``n``-th power of each square matrix of ``A``, as ``torch.linalg.matrix_power``: by
    repeated squaring (matmuls, so the gradient comes from them); n = 0 gives the identity,
    n < 0 the power of the inverse (a singular matrix raises). Integer matrices are taken
    for n >= 0 (in their dtype, as PyTorch)."""
    who = "linalg.matrix_power"
    n = check_power(n, who)
    A = matrices(A, who, square=True, integers=n >= 0)
    if n == 0:
        return IdentityPowerFunction.apply(A)
    if n < 0:
        A, n = inv(A), -n
    if n == 1:
        return A.clone()
    z = result = None
    while n > 0:
        bit, n = n % 2, n // 2
        z = A if z is None else matmul(z, z)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The optimal split points of the matrix chain with dimensions ``dims`` (the classic
    dynamic programme on the count of multiplications)."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = math.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


def multi_dot(tensors) -> Tensor:
    """The product of two or more matrices in the cheapest order, as
    ``torch.linalg.multi_dot``: the first may be a row vector (1-D) and the last a column
    vector (1-D); the others are 2-D."""
    who = "multi_dot()"
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(message(who, "a list or tuple of tensors", "tensors",
                                type(tensors).__name__))
    if len(tensors) < 2:
        raise ValueError(f"{who}: expected at least 2 tensors but got {len(tensors)}")
    ts = [as_tensor(t) for t in tensors]
    first, last = ts[0].ndim, ts[-1].ndim
    if first not in (1, 2):
        raise ValueError(f"{who}: the first tensor must be 1D or 2D but got {first}D")
    if last not in (1, 2):
        raise ValueError(f"{who}: the last tensor must be 1D or 2D but got {last}D")
    for i, t in enumerate(ts[1:-1], 1):
        if t.ndim != 2:
            raise ValueError(f"{who}: tensor {i} must be 2D but got {t.ndim}D")
    if first == 1:
        ts[0] = ts[0].unsqueeze(0)
    if last == 1:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise ValueError(f"{who}: tensors {i} and {i + 1} with shapes "
                             f"{list(tensors[i].shape)} and {list(tensors[i + 1].shape)} "
                             "cannot be multiplied")
    split = _chain_order([ts[0].shape[0]] + [t.shape[1] for t in ts])

    def product(i, j):
        if i == j:
            return ts[i]
        return matmul(product(i, split[i][j]), product(split[i][j] + 1, j))

    out = product(0, len(ts) - 1)
    if last == 1:
        out = out.squeeze(-1)
    if first == 1:
        out = out.squeeze(0)
    return out


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values of each matrix of ``A`` above max(atol, rtol * the
    largest) (int64, no gradient), as ``torch.linalg.matrix_rank``; rtol defaults to
    eps * max(m, n) when atol is not given; ``hermitian`` uses the eigenvalues' magnitudes
    (the lower triangle)."""
    who = "linalg.matrix_rank"
    A = matrices(A, who, square=check_flag(hermitian, "hermitian", who))
    a = A._data
    xp = backend.array_module(a)
    atol, rtol = _tolerances(atol, rtol, a, who)
    if 0 in a.shape[-2:]:
        return Tensor._wrap(xp.zeros(a.shape[:-2], dtype="int64"))
    s = abs(xp.linalg.eigvalsh(a)) if hermitian else xp.linalg.svd(a, compute_uv=False)
    tol = xp.maximum(atol, rtol * s.max(axis=-1))
    return Tensor._wrap((s > tol[..., None]).sum(axis=-1).astype("int64"))


# --- matrix_exp ---------------------------------------------------------------------------
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)


def _expm(a):
    """e^A by scaling and squaring with the [13/13] Pade approximant (Higham 2005)."""
    xp = backend.array_module(a)
    if a.size == 0:
        return a.copy()
    b = _PADE13
    norm1 = abs(a).sum(axis=-2).max(axis=-1)
    theta = 5.371920351148152
    s = int(max(0, math.ceil(math.log2(float(norm1.max()) / theta)))) if norm1.max() > theta \
        else 0
    a = a / (2.0 ** s)
    ident = eye_like(a)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * ident)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * ident
    r = xp.linalg.solve(v - u, v + u)
    for _ in range(s):
        r = r @ r
    return r.astype(a.dtype, copy=False)


class MatrixExpFunction(Function):
    """y = e^A;  dL/dA = the upper-right block of e^[[A^T, G], [0, A^T]] (the Frechet
    derivative of the exponential at A^T applied to G)"""

    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _expm(a)

    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = backend.array_module(g)
        n = a.shape[-1]
        big = xp.zeros(a.shape[:-2] + (2 * n, 2 * n), dtype=a.dtype)
        big[..., :n, :n] = mT(a)
        big[..., n:, n:] = mT(a)
        big[..., :n, n:] = g
        return _expm(big)[..., :n, n:]


def matrix_exp(A) -> Tensor:
    """The exponential e^A = sum A^k / k! of each square matrix of ``A``, as
    ``torch.linalg.matrix_exp`` (scaling and squaring with a Pade approximant)."""
    return MatrixExpFunction.apply(matrices(A, "linalg.matrix_exp", square=True))


__all__ = ["pinv", "lstsq", "matrix_norm", "norm", "cond", "matrix_power", "multi_dot",
           "matrix_rank", "matrix_exp"]
