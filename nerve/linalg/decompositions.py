"""The factorisations and what is read from them: ``inv``, ``det``, ``slogdet``, ``solve``,
``cholesky``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``, each a Function on the array
module's linalg (NumPy's or CuPy's) with its backward written out, as PyTorch's (batches of
matrices in the last two dimensions; results in the input's dtype).

Notation: A^{-T} is the inverse transposed, X^T the last two axes swapped, G (gX, gA, ...) the
gradient of the loss with respect to X, sym / skew the symmetric / skew part.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor, check_choice, message
from nerve.function import Function
from nerve.linalg._common import (
    QR,
    SVD,
    Eigh,
    Slogdet,
    diag_embed,
    lapack,
    matrices,
    mT,
    rsolve,
    tril,
)
from nerve.ops._common import unbroadcast

_SINGULAR = "The inversion could not be completed because the input matrix is singular."
_NO_CONVERGENCE = ("The algorithm failed to converge because the input matrix is "
                   "ill-conditioned or has too many repeated {}.")


# --- inverse, determinant -----------------------------------------------------------------
class InvFunction(Function):
    """y = A^{-1};  dL/dA = -y^T G y^T"""

    def forward(ctx, a):
        xp = backend.array_module(a)
        y = lapack("linalg.inv", xp.linalg.inv, a, problem=_SINGULAR).astype(a.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        yt = mT(y)
        return -(yt @ g @ yt)


def inv(A) -> Tensor:
    """The inverse of each square matrix of ``A`` (``(*, n, n)``), as ``torch.linalg.inv``; a
    singular matrix raises :class:`LinAlgError` naming the batch element."""
    return InvFunction.apply(matrices(A, "linalg.inv", square=True))


def _exclusive_products(s):
    """For each i, the product of s_j over j != i (along the last axis), without dividing."""
    xp = backend.array_module(s)
    ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    left = xp.cumprod(xp.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([s[..., 1:], ones], axis=-1), -1),
                               axis=-1), -1)
    return left * right


def cofactors(a, d):
    """The cofactor matrices of ``a`` (``d det(a)/da``): det(A) A^{-T} where det(A) != 0; at a
    singular matrix through the SVD A = U diag(s) Vh: det(U) det(Vh) U diag(prod_{j!=i} s_j)
    Vh, which needs no inverse."""
    xp = backend.array_module(a)
    out = xp.empty_like(a)
    singular = d == 0
    regular = ~singular
    if regular.any():
        out[regular] = mT(xp.linalg.inv(a[regular])) * d[regular][..., None, None]
    if singular.any():
        u, s, vh = xp.linalg.svd(a[singular])
        alpha = xp.linalg.det(u) * xp.linalg.det(vh)
        out[singular] = (u * (alpha[..., None] * _exclusive_products(s))[..., None, :]) @ vh
    return out


class DetFunction(Function):
    """y = det(A);  dy/dA = det(A) A^{-T} (the cofactor matrix; through the SVD where det(A) is
    0, so a singular matrix has its true gradient)"""

    def forward(ctx, a):
        d = backend.array_module(a).linalg.det(a)
        d = backend.array_module(a).asarray(d, dtype=a.dtype)
        ctx.save_for_backward(a, d)
        return d

    def backward(ctx, g):
        a, d = ctx.saved_tensors
        if a.size == 0:
            return backend.array_module(a).zeros_like(a)
        return cofactors(a, d) * g[..., None, None]


def det(A) -> Tensor:
    """The determinant of each square matrix of ``A``, as ``torch.linalg.det``. Deliberate
    difference: at an exactly singular matrix the gradient is the true one (the cofactor
    matrix); PyTorch 2.13 gives 0 there."""
    return DetFunction.apply(matrices(A, "linalg.det", square=True))


class SlogdetFunction(Function):
    """(sign, y) = (sign det(A), ln |det(A)|);  dy/dA = A^{-T} (NaN at a singular matrix, where
    y = -inf); sign has no gradient"""

    def forward(ctx, a):
        xp = backend.array_module(a)
        sign, logabsdet = xp.linalg.slogdet(a)
        sign = xp.asarray(sign, dtype=a.dtype)
        ctx.save_for_backward(a, sign)
        return sign, xp.asarray(logabsdet, dtype=a.dtype)

    def backward(ctx, gsign, g):
        a, sign = ctx.saved_tensors
        xp = backend.array_module(a)
        out = xp.empty_like(a)
        singular = sign == 0
        regular = ~singular
        if regular.any():
            out[regular] = mT(xp.linalg.inv(a[regular]))
        out[singular] = float("nan")
        return out * g[..., None, None]


def slogdet(A) -> Slogdet:
    """The named tuple ``(sign, logabsdet)`` of each square matrix's determinant, as
    ``torch.linalg.slogdet``: sign is 0 and logabsdet -inf for a singular matrix."""
    return Slogdet(*SlogdetFunction.apply(matrices(A, "linalg.slogdet", square=True)))


# --- solve --------------------------------------------------------------------------------
def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """PyTorch's rule: B is a (batch of) vector(s) when it is 1-D, or has A's shape without
    its last dimension."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


class SolveFunction(Function):
    """y = X = A^{-1} B (left) or B A^{-1} (not left), batches broadcast;  left: dL/dB =
    A^{-T} G, dL/dA = -dL/dB X^T; not left: dL/dB = G A^{-T}, dL/dA = -X^T dL/dB"""

    def forward(ctx, a, b, *, left=True, vector=False):
        xp = backend.array_module(a)
        b2 = b[..., None] if vector else b
        batch = xp.broadcast_shapes(a.shape[:-2], b2.shape[:-2])
        a2 = xp.broadcast_to(a, batch + a.shape[-2:])
        b2 = xp.broadcast_to(b2, batch + b2.shape[-2:])
        problem = "The solver failed because the input matrix is singular."
        if left:
            x = lapack("torch.linalg.solve", xp.linalg.solve, a2, b2, problem=problem)
        else:
            x = mT(lapack("torch.linalg.solve", xp.linalg.solve, mT(a2), mT(b2),
                          problem=problem))
        x = x.astype(a.dtype, copy=False)
        ctx.save_for_backward(a2, x)
        return x[..., 0] if vector else x

    def backward(ctx, g):
        a2, x = ctx.saved_tensors
        a_shape, b_shape = ctx.inputs[0].shape, ctx.inputs[1].shape
        xp = backend.array_module(g)
        vector = ctx.options.get("vector", False)
        g = g[..., None] if vector else g
        if ctx.options.get("left", True):
            gb = xp.linalg.solve(mT(a2), g)
            ga = -(gb @ mT(x))
        else:
            gb = rsolve(a2, g)
            ga = -(mT(x) @ gb)
        gb = gb[..., 0] if vector else gb
        return (unbroadcast(ga, tuple(a_shape)) if ctx.needs_input_grad[0] else None,
                unbroadcast(gb, tuple(b_shape)) if ctx.needs_input_grad[1] else None)


def solve(A, B, *, left: bool = True) -> Tensor:
    """The solution X of A X = B (``left=True``) or X A = B, as ``torch.linalg.solve``: A of
    shape ``(*, n, n)``; B of ``(*, n, k)``, or a batch of vectors ``(*, n)`` (1-D, or A's shape
    without its last dimension; ``left=True`` only); the batches broadcast. A singular A raises
    :class:`LinAlgError` naming the batch element."""
    who = "linalg.solve"
    A = matrices(A, who, square=True)
    B = as_tensor(B)
    if B.dtype != A.dtype:
        raise TypeError(message(who, f"B of A's dtype {A.dtype}", "B.dtype", B.dtype))
    if B.ndim < 1:
        raise ValueError(message(who, "B of at least 1 dimension", "B.shape", tuple(B.shape)))
    if not isinstance(left, bool):
        raise TypeError(message(who, "True or False", "left", left))
    vector = _is_vector_rhs(A, B)
    if vector and not left:
        raise ValueError(f"{who}: vector broadcasting of the left hand side is not supported "
                         f"for left=False (B of shape {tuple(B.shape)}); in this case solve is "
                         "B / A.squeeze(-1)")
    n = A.shape[-1]
    rows = B.shape[-1] if vector else B.shape[-2 if left else -1]
    if B.ndim < 2 and not vector or rows != n:
        side = "AX = B" if left else "XA = B"
        raise ValueError(f"{who}: incompatible shapes of A and B for the equation {side}: "
                         f"A of shape {tuple(A.shape)}, B of shape {tuple(B.shape)}")
    try:
        backend.array_module(A._data).broadcast_shapes(
            tuple(A.shape[:-2]), tuple(B.shape[:-1] if vector else B.shape[:-2]))
    except ValueError:
        raise ValueError(f"{who}: the batch dimensions of A {tuple(A.shape)} and B "
                         f"{tuple(B.shape)} do not broadcast") from None
    return SolveFunction.apply(A, B, left=left, vector=vector)


# --- cholesky -----------------------------------------------------------------------------
def _not_positive_definite(a) -> str:
    """PyTorch's message, with the order of the first leading minor that is not positive-
    definite (of the first failing matrix)."""
    xp = backend.array_module(a)
    first = a
    if a.ndim > 2:
        flat = a.reshape((-1,) + a.shape[-2:])
        first = next(m for m in flat if not _factors(xp, m))
    order = next((k for k in range(1, first.shape[-1] + 1) if not _factors(xp, first[:k, :k])),
                 first.shape[-1])
    return (f"The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {order} is not positive-definite).")


def _factors(xp, m) -> bool:
    try:
        xp.linalg.cholesky(m)
        return True
    except Exception:  # noqa: BLE001 - NumPy's LinAlgError, CuPy's
        return False


class CholeskyFunction(Function):
    """y = L = cholesky(A) (A = L L^T; only A's lower triangle is read);  dL/dA = L^{-T} Phi
    L^{-1}, Phi = (tril(L^T G) + tril(L^T G, -1)^T) / 2 (PyTorch's symmetric gradient); upper:
    U = L^T of A's upper triangle, with G^T for G"""

    def forward(ctx, a, *, upper=False):
        xp = backend.array_module(a)
        a = mT(a) if upper else a  # upper: the upper triangle is read, as PyTorch's
        try:
            low = xp.linalg.cholesky(a)
        except Exception:  # noqa: BLE001
            lapack("linalg.cholesky", xp.linalg.cholesky, a,
                   problem=_not_positive_definite(a))
            raise
        low = low.astype(a.dtype, copy=False)
        ctx.save_for_backward(low)
        return mT(low).copy() if upper else low

    def backward(ctx, g):
        (low,) = ctx.saved_tensors
        xp = backend.array_module(g)
        g = mT(g) if ctx.options.get("upper", False) else g
        phi = tril(mT(low) @ g)
        phi = 0.5 * (phi + mT(tril(phi, -1)))
        linv = xp.linalg.inv(low)
        return mT(linv) @ phi @ linv


def cholesky(A, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix of ``A``, as
    ``torch.linalg.cholesky``: lower-triangular L with A = L L^T (``upper=True``: U = L^T with
    A = U^T U); only the lower (upper) triangle of A is read. A matrix that is not positive-definite
    raises :class:`LinAlgError` naming the batch element and the order of the failing minor."""
    who = "linalg.cholesky"
    A = matrices(A, who, square=True)
    if not isinstance(upper, bool):
        raise TypeError(message(who, "True or False", "upper", upper))
    return CholeskyFunction.apply(A, upper=upper)


# --- eigh ---------------------------------------------------------------------------------
def _uplo(UPLO, who: str) -> str:
    return check_choice(UPLO, "UPLO", who, ("L", "U"))


class EighFunction(Function):
    """y = (w, V) = eigh(A) (A = V diag(w) V^T, w ascending; one triangle of A is read);
    dL/dA = V (diag(gw) + F o skew(V^T gV)) V^T, skew(X) = (X - X^T) / 2, F_ij = 1 / (w_j -
    w_i) off the diagonal (PyTorch's formula: it assumes distinct eigenvalues); V diag(gw) V^T
    when V takes no part in the loss"""

    def forward(ctx, a, *, UPLO="L"):  # noqa: N803 - PyTorch's name
        xp = backend.array_module(a)
        w, v = lapack("linalg.eigh", xp.linalg.eigh, a, UPLO=UPLO,
                      problem=_NO_CONVERGENCE.format("eigenvalues"))
        w, v = w.astype(a.dtype, copy=False), v.astype(a.dtype, copy=False)
        ctx.save_for_backward(w, v)
        return w, v

    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        if not gv.any():
            return (v * gw[..., None, :]) @ mT(v)
        vgv = mT(v) @ gv
        inner = 0.5 * (vgv - mT(vgv))
        e = w[..., None, :] - w[..., :, None]
        k = w.shape[-1]
        xp = backend.array_module(w)
        e[..., xp.arange(k), xp.arange(k)] = 1
        inner = inner / e
        inner[..., xp.arange(k), xp.arange(k)] = gw
        return v @ inner @ mT(v)


def eigh(A, UPLO: str = "L") -> Eigh:  # noqa: N803 - PyTorch's name
    """The named tuple ``(eigenvalues, eigenvectors)`` of each symmetric matrix of ``A``, as
    ``torch.linalg.eigh``: eigenvalues ascending, orthonormal eigenvectors in the columns; only
    the ``UPLO`` triangle ("L" lower, "U" upper) is read. Each eigenvector is defined up to its
    sign, and the gradient assumes distinct eigenvalues, as PyTorch's."""
    who = "linalg.eigh"
    return Eigh(*EighFunction.apply(matrices(A, who, square=True), UPLO=_uplo(UPLO, who)))


def eigvalsh(A, UPLO: str = "L") -> Tensor:  # noqa: N803 - PyTorch's name
    """The eigenvalues (ascending) of each symmetric matrix of ``A``, as
    ``torch.linalg.eigvalsh``; dw/dA = V diag(gw) V^T."""
    who = "linalg.eigvalsh"
    return EighFunction.apply(matrices(A, who, square=True), UPLO=_uplo(UPLO, who))[0]


# --- svd ----------------------------------------------------------------------------------
def svd_backward(gu, gs, gvh, u, s, vh):
    """PyTorch's svd_backward (real case, reduced U (m, k), S (k), Vh (k, n)):
    J = F o (skew(U^T gU) S + S skew(Vh gVh^T)) + diag(gS), skew(X) = X - X^T,
    F_ij = 1 / (s_j^2 - s_i^2) off the diagonal; dL/dA = U J Vh, plus
    (I - U U^T) gU S^{-1} Vh when m > n, or U S^{-1} gVh (I - V V^T) when m < n."""
    xp = backend.array_module(s)
    m, n = u.shape[-2], vh.shape[-1]
    if not gu.any() and not gvh.any():  # only S in the loss: no division by gaps
        return u @ (gs[..., None] * vh) if m >= n else (u * gs[..., None, :]) @ vh
    uhgu = mT(u) @ gu
    uhgu = uhgu - mT(uhgu)
    vhgv = vh @ mT(gvh)
    vhgv = vhgv - mT(vhgv)
    s2 = s * s
    e = s2[..., None, :] - s2[..., :, None]
    k = s.shape[-1]
    e[..., xp.arange(k), xp.arange(k)] = 1
    j = (uhgu * s[..., None, :] + s[..., :, None] * vhgv) / e
    j[..., xp.arange(k), xp.arange(k)] += gs
    if m > n and gu.any():
        ga = u @ j
        gus = gu / s[..., None, :]
        ga = (ga + gus - u @ (mT(u) @ gus)) @ vh
    elif m < n and gvh.any():
        ga = j @ vh
        sgvh = gvh / s[..., :, None]
        ga = u @ (ga + sgvh - (sgvh @ mT(vh)) @ vh)
    else:
        ga = u @ j @ vh
    return ga


class SVDFunction(Function):
    """y = (U, S, Vh) = svd(A), A = U diag(S) Vh;  dL/dA = svd_backward(gU, gS, gVh) (see it; with
    full_matrices, the columns of U and rows of Vh beyond min(m, n), which A does not
    determine, take no part, as in PyTorch)"""

    def forward(ctx, a, *, full_matrices=True):
        xp = backend.array_module(a)
        u, s, vh = lapack("linalg.svd", xp.linalg.svd, a, full_matrices=full_matrices,
                          problem=_NO_CONVERGENCE.format("singular values"))
        u, s, vh = (x.astype(a.dtype, copy=False) for x in (u, s, vh))
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        k = s.shape[-1]
        return svd_backward(gu[..., :k], gs, gvh[..., :k, :], u[..., :k], s, vh[..., :k, :])


def svd(A, full_matrices: bool = True) -> SVD:
    """The named tuple ``(U, S, Vh)`` of each matrix of ``A`` (``(*, m, n)``), A = U diag(S) Vh,
    as ``torch.linalg.svd``: S descending; U ``(*, m, m)`` and Vh ``(*, n, n)`` with
    ``full_matrices`` (else ``(*, m, k)`` and ``(*, k, n)``, k = min(m, n)). The singular vectors
    are defined up to sign: a loss through them should not depend on it (as in PyTorch); the
    gradient assumes distinct singular values (and, through U or Vh of a non-square matrix,
    full rank)."""
    who = "linalg.svd"
    A = matrices(A, who)
    if not isinstance(full_matrices, bool):
        raise TypeError(message(who, "True or False", "full_matrices", full_matrices))
    return SVD(*SVDFunction.apply(A, full_matrices=full_matrices))


def svdvals(A) -> Tensor:
    """The singular values (descending) of each matrix of ``A``, as ``torch.linalg.svdvals``;
    dL/dA = U diag(gS) Vh."""
    return SVDFunction.apply(matrices(A, "linalg.svdvals"), full_matrices=False)[1]


# --- qr -----------------------------------------------------------------------------------
def _qr_square_backward(gq, gr, q, r):
    """The gradient for A = QR with R square (m >= n, reduced): dL/dA = Q (gR + tril(Q^T gQ -
    gQ^T Q + R gR^T - gR R^T) R^{-T}) + (gQ - Q Q^T gQ) R^{-T}."""
    qdq = mT(q) @ gq
    rdr = r @ mT(gr)
    low = tril(qdq - mT(qdq) + rdr - mT(rdr))
    return q @ (gr + rsolve(r, low)) + rsolve(r, gq - q @ qdq)


class QRFunction(Function):
    """y = (Q, R) = qr(A), A = Q R, Q orthonormal columns, R upper-triangular;  m >= n: dL/dA =
    Q (gR + tril(Q^T gQ - gQ^T Q + R gR^T - gR R^T) R^{-T}) + (gQ - Q Q^T gQ) R^{-T}; m < n,
    A = [X | Y], R = [U | V]: the square rule on X with gQ + Y gV^T, and dL/dY = Q gV"""

    def forward(ctx, a, *, mode="reduced"):
        xp = backend.array_module(a)
        if mode == "r":
            r = xp.linalg.qr(a, mode="r").astype(a.dtype, copy=False)
            return xp.zeros((0,), dtype=a.dtype), r
        q, r = xp.linalg.qr(a, mode=mode)
        q, r = q.astype(a.dtype, copy=False), r.astype(a.dtype, copy=False)
        ctx.save_for_backward(q, r, a)
        return q, r

    def backward(ctx, gq, gr):
        mode = ctx.options.get("mode", "reduced")
        if mode == "r":
            raise RuntimeError("linalg.qr: the derivative of linalg.qr depends on Q, which is "
                               "not computed when mode='r'. Use linalg.qr(A, mode='reduced') "
                               "to differentiate through linalg.qr")
        q, r, a = ctx.saved_tensors
        m, n = q.shape[-2], r.shape[-1]
        if mode == "complete" and m > n:
            raise RuntimeError("linalg.qr: the QR decomposition is not differentiable when "
                               "mode='complete' and nrows > ncols (as in PyTorch)")
        if m >= n:
            return _qr_square_backward(gq, gr, q, r)
        xp = backend.array_module(q)
        y, gv = a[..., m:], gr[..., m:]
        gx = _qr_square_backward(gq + y @ mT(gv), gr[..., :m], q, r[..., :m])
        return xp.concatenate([gx, q @ gv], axis=-1)


def qr(A, mode: str = "reduced") -> QR:
    """The named tuple ``(Q, R)`` of each matrix of ``A`` (``(*, m, n)``), A = Q R, as
    ``torch.linalg.qr``: ``mode`` "reduced" (Q ``(*, m, k)``, R ``(*, k, n)``, k = min(m, n)),
    "complete" (Q ``(*, m, m)``, R ``(*, m, n)``) or "r" (R only; Q empty, and no gradient, as
    PyTorch's). The gradient assumes full rank; with "complete" it exists only for m <= n."""
    who = "linalg.qr"
    A = matrices(A, who)
    return QR(*QRFunction.apply(A, mode=check_choice(mode, "mode", who,
                                                     ("reduced", "complete", "r"))))


__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "svd", "svdvals",
           "qr", "diag_embed"]
