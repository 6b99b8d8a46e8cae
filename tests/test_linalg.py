"""nerve.linalg (inv, det, slogdet, solve, cholesky, eigh, eigvalsh, svd, svdvals, qr, pinv,
lstsq, matrix_norm, norm, cond, matrix_power, multi_dot, matrix_rank, matrix_exp) and PyTorch's
top-level names (nerve.det, logdet, slogdet, inverse, pinverse, matrix_power, matrix_exp,
chain_matmul, cholesky, svd, qr): float64 finite differences, and PyTorch's values and
gradients in float32 and float64 on the same inputs, over batches, with the errors. Losses
through eigenvectors and singular vectors are sign-invariant (V * V), as PyTorch's own tests."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rng

import nerve
import nerve.linalg as LA

torch = pytest.importorskip("torch")

INF = float("inf")
DTYPES = [np.float32, np.float64]


def parity(record_op, name, nerve_fn, torch_fn, *arrays, dtype=np.float64, rtol=None,
           atol=None, view=None) -> None:
    """Values, dtypes and input gradients of ``nerve_fn`` and ``torch_fn`` on the same arrays in
    ``dtype``, with the same upstream gradients on the outputs seen through ``view`` (a
    sign-invariant view of singular vectors or eigenvectors)."""
    rtol = rtol if rtol is not None else 2e-4 if dtype == np.float32 else 1e-9
    atol = atol if atol is not None else 2e-5 if dtype == np.float32 else 1e-10
    arrays = [np.asarray(a, dtype) for a in arrays]
    xs = [nerve.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, refs = nerve_fn(*xs), torch_fn(*ts)
    outs, refs = (tuple(outs), tuple(refs)) if isinstance(outs, tuple) else ((outs,), (refs,))
    if view is not None:
        outs, refs = view(*outs), view(*refs)
    assert len(outs) == len(refs)
    loss, ref_loss = 0, 0
    for i, (out, ref) in enumerate(zip(outs, refs)):
        assert out.shape == tuple(ref.shape), f"output {i}: {out.shape} vs {tuple(ref.shape)}"
        assert str(out.dtype) == str(ref.dtype).removeprefix("torch."), f"output {i}"
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"output {i}")
        if out.dtype.kind != "f" or not out.requires_grad:
            continue
        upstream = rng(i + 1).standard_normal(out.shape).astype(dtype)
        keep = np.asarray(np.isfinite(ref.detach().numpy()))
        upstream = np.where(keep, upstream, 0).astype(dtype)
        up = nerve.tensor(upstream, dtype=dtype)
        loss = loss + (nerve.where(nerve.tensor(keep), out, 0) * up).sum()
        ref_loss = ref_loss + (torch.where(torch.from_numpy(keep), ref, 0)
                               * torch.from_numpy(upstream)).sum()
    if isinstance(loss, nerve.Tensor):
        loss.backward()
        ref_loss.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape, dtype) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape, dtype) if x.grad is None else x.grad
        assert got.dtype == dtype, f"input {i}: grad dtype {got.dtype}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * 10,
                                   err_msg=f"input {i} gradient")
    record_op("parity", name)


def f64(a):
    return nerve.tensor(a, dtype=nerve.float64)


def check(record_op, name, fn, *arrays) -> None:
    """gradcheck ``fn`` on float64 tensors; record ``name`` once it passes."""
    assert nerve.gradcheck(fn, [nerve.tensor(a, dtype=nerve.float64) for a in arrays])
    record_op("gradcheck", name)


def general(shape, seed=0):
    """Well-conditioned matrices: standard normal plus 3 I on the diagonal."""
    a = rng(seed).standard_normal(shape)
    n = min(shape[-2:])
    a[..., range(n), range(n)] += 3.0
    return a


def spd(shape, seed=0):
    x = rng(seed).standard_normal(shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def sym(t):
    """The symmetric part of t (either library): the loss then sees both triangles."""
    return (t + t.transpose(-2, -1)) / 2


def squares(*outs):
    """A sign-invariant view: each output squared element-wise (U * U, Vh * Vh, V * V)."""
    return tuple(o * o for o in outs)


# --- inv, det, slogdet, logdet --------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 4, 4), (1, 1), (0, 3, 3)])
def test_inv_det_slogdet_parity(record_op, dtype, shape):
    a = general(shape)
    parity(record_op, "linalg.inv", LA.inv, torch.linalg.inv, a, dtype=dtype)
    parity(record_op, "linalg.det", LA.det, torch.linalg.det, a, dtype=dtype)
    parity(record_op, "linalg.slogdet", LA.slogdet, torch.linalg.slogdet, a, dtype=dtype)
    parity(record_op, "logdet", nerve.logdet, torch.logdet, a, dtype=dtype)


def test_det_negative_and_logdet_nan(record_op):
    a = general((3, 4, 4), 1)
    a[1] = a[1][[1, 0, 2, 3]]  # one row swap: a negative determinant
    assert np.linalg.det(a[1]) < 0
    parity(record_op, "linalg.slogdet", LA.slogdet, torch.linalg.slogdet, a)
    parity(record_op, "logdet", nerve.logdet, torch.logdet, a)
    assert np.isnan(nerve.logdet(f64(a))[1].item())


def test_inv_det_slogdet_gradcheck(record_op):
    a = general((2, 3, 3))
    check(record_op, "linalg.inv", LA.inv, a)
    check(record_op, "linalg.det", LA.det, a)
    check(record_op, "linalg.slogdet", lambda t: LA.slogdet(t).logabsdet, a)
    check(record_op, "logdet", nerve.logdet, spd((2, 3, 3)))


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix(record_op):
    """Deliberate difference: PyTorch 2.13 gives 0; the cofactors are the true gradient."""
    for a in (np.array([[1.0, 2.0], [2.0, 4.0]]), np.diag([1.0, 1.0, 0.0]),
              np.arange(9.0).reshape(3, 3) + 1, np.zeros((3, 3))):
        assert np.linalg.det(a) == 0
        check(record_op, "linalg.det", LA.det, a)
    x = nerve.tensor(np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 1.0], [1.0, 3.0]]]),
                     dtype=nerve.float64, requires_grad=True)
    LA.det(x).sum().backward()
    np.testing.assert_allclose(x.grad, [[[4, -2], [-2, 1]], [[3, -1], [-1, 2]]], atol=1e-12)


def test_slogdet_of_a_singular_matrix():
    x = f64(np.stack([np.eye(2), np.zeros((2, 2))])).requires_grad_()
    s, lad = LA.slogdet(x)
    assert s.tolist() == [1, 0] and lad.tolist() == [0, -INF]
    lad.sum().backward()  # the gradient A^{-T} is infinite at a singular matrix: NaN
    np.testing.assert_array_equal(x.grad[0], np.eye(2))
    assert np.isnan(x.grad[1]).all()


def test_inv_of_a_singular_matrix_names_the_batch_element():
    a = np.stack([np.eye(3), np.eye(3), np.zeros((3, 3))])
    with pytest.raises(LA.LinAlgError, match=r"linalg.inv: \(Batch element 2\): .*singular"):
        LA.inv(f64(a))
    with pytest.raises(RuntimeError, match=r"linalg.inv: The inversion .*singular"):
        nerve.inverse(nerve.zeros(3, 3))
    with pytest.raises(ValueError, match="singular"):  # a ValueError too, as NumPy's
        nerve.zeros(2, 2).inverse()
    b = np.stack([np.eye(2)] * 4).reshape(2, 2, 2, 2)
    b[1, 0] = 0
    with pytest.raises(LA.LinAlgError, match=r"\(Batch element 2\)"):
        LA.inv(f64(b))


@pytest.mark.parametrize("fn", [LA.inv, LA.det, LA.slogdet, LA.cholesky, LA.eigh, LA.eigvalsh,
                                LA.matrix_exp, nerve.logdet])
def test_square_functions_refuse_bad_matrices(fn):
    with pytest.raises(ValueError, match="square matrices.*3 by 4"):
        fn(nerve.zeros(3, 4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fn(nerve.zeros(3))
    with pytest.raises(TypeError, match="float32 or float64.*int64"):
        fn(nerve.zeros(3, 3, dtype=nerve.int64))


# --- solve --------------------------------------------------------------------------------
SOLVE_CASES = {
    "matrix": ((3, 3), (3, 2), True), "vector": ((3, 3), (3,), True),
    "batched-vector": ((2, 3, 3), (2, 3), True), "broadcast": ((2, 1, 3, 3), (4, 3, 2), True),
    "b-batched": ((3, 3), (2, 3, 1), True), "right": ((2, 3, 3), (2, 4, 3), False),
    "right-broadcast": ((3, 3), (2, 5, 3), False), "empty-batch": ((0, 3, 3), (0, 3, 1), True),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SOLVE_CASES)
def test_solve_parity(record_op, dtype, case):
    sa, sb, left = SOLVE_CASES[case]
    a, b = general(sa), rng(5).standard_normal(sb)
    parity(record_op, "linalg.solve", lambda x, y: LA.solve(x, y, left=left),
           lambda x, y: torch.linalg.solve(x, y, left=left), a, b, dtype=dtype)


def test_solve_gradcheck(record_op):
    check(record_op, "linalg.solve", LA.solve, general((2, 3, 3)), rng(1).standard_normal((3, 2)))
    check(record_op, "linalg.solve", lambda x, y: LA.solve(x, y, left=False),
          general((3, 3)), rng(1).standard_normal((2, 2, 3)))
    check(record_op, "linalg.solve", LA.solve, general((2, 3, 3)), rng(1).standard_normal((2, 3)))


def test_solve_errors():
    a = f64(np.stack([np.eye(3), np.ones((3, 3))]))
    with pytest.raises(LA.LinAlgError, match=r"solve: \(Batch element 1\): The solver failed"):
        LA.solve(a, nerve.ones(2, 3, 1, dtype=nerve.float64))
    with pytest.raises(ValueError, match="left=False"):
        LA.solve(nerve.eye(3), nerve.ones(3), left=False)
    with pytest.raises(ValueError, match="incompatible shapes"):
        LA.solve(nerve.eye(3), nerve.ones(4, 1))
    with pytest.raises(ValueError, match="do not broadcast"):
        LA.solve(nerve.ones(2, 3, 3), nerve.ones(3, 3, 1))
    with pytest.raises(TypeError, match="dtype"):
        LA.solve(nerve.eye(3), nerve.ones(3, dtype=nerve.float64))
    with pytest.raises(TypeError, match="left"):
        LA.solve(nerve.eye(3), nerve.ones(3), left=1)


# --- cholesky -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_parity(record_op, dtype, upper):
    a = spd((2, 4, 4))
    a[..., 0, 3] += 7.0  # this triangle is not read (in either library)
    a = np.swapaxes(a, -1, -2) if upper else a
    parity(record_op, "linalg.cholesky", lambda x: LA.cholesky(x, upper=upper),
           lambda x: torch.linalg.cholesky(x, upper=upper), a, dtype=dtype)
    parity(record_op, "cholesky", lambda x: nerve.cholesky(x, upper),
           lambda x: torch.linalg.cholesky(x, upper=upper), a, dtype=dtype)


def test_cholesky_gradcheck(record_op):
    for upper in (False, True):
        check(record_op, "linalg.cholesky",
              lambda x, u=upper: LA.cholesky(x @ x.transpose(-2, -1) + 3 * nerve.eye(
                  3, dtype=nerve.float64), upper=u), rng(2).standard_normal((2, 3, 3)))


def test_cholesky_of_a_matrix_not_positive_definite():
    a = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0])])
    with pytest.raises(LA.LinAlgError, match=r"cholesky: \(Batch element 1\): .*not positive-"
                       r"definite \(the leading minor of order 2"):
        LA.cholesky(f64(a))
    with pytest.raises(LA.LinAlgError, match=r"cholesky: The factorization.*order 1"):
        LA.cholesky(-nerve.eye(2))


# --- eigh, eigvalsh -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_parity(record_op, dtype, uplo):
    a = rng(3).standard_normal((2, 4, 4))  # not symmetric: only the UPLO triangle is read
    parity(record_op, "linalg.eigh", lambda x: LA.eigh(x, uplo),
           lambda x: torch.linalg.eigh(x, UPLO=uplo), a, dtype=dtype,
           view=lambda w, v: (w, v * v), rtol=1e-3 if dtype == np.float32 else None)
    parity(record_op, "linalg.eigvalsh", lambda x: LA.eigvalsh(x, uplo),
           lambda x: torch.linalg.eigvalsh(x, UPLO=uplo), a, dtype=dtype)


def test_eigh_reconstructs_and_names_its_fields():
    a = nerve.tensor(spd((3, 3)))
    w, v = LA.eigh(a)
    assert LA.eigh(a).eigenvalues is not None and LA.eigh(a).eigenvectors.shape == (3, 3)
    np.testing.assert_allclose((v * w.unsqueeze(-2)) @ v.transpose(-2, -1), a, atol=1e-5)


def test_eigh_gradcheck(record_op):
    a = rng(4).standard_normal((2, 3, 3))
    check(record_op, "linalg.eigh", lambda x: LA.eigh(sym(x)).eigenvalues, a)
    check(record_op, "linalg.eigh", lambda x: LA.eigh(sym(x)).eigenvectors ** 2, a)
    check(record_op, "linalg.eigh", lambda x: LA.eigh(sym(x), "U").eigenvectors.abs(), a)
    check(record_op, "linalg.eigvalsh", lambda x: LA.eigvalsh(sym(x)), a)


def test_eigh_refuses_a_bad_uplo():
    with pytest.raises(ValueError, match="UPLO"):
        LA.eigh(nerve.eye(2), "X")


# --- svd, svdvals -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_parity(record_op, dtype, shape, full):
    a = rng(6).standard_normal(shape)
    square = shape[-1] == shape[-2]
    # full U or Vh of a non-square matrix: the extra vectors are not A's to decide; compare
    # the part A determines (PyTorch's gradient ignores the rest too)
    k = min(shape[-2:])
    parity(record_op, "linalg.svd", lambda x: LA.svd(x, full), lambda x: torch.linalg.svd(x, full),
           a, dtype=dtype, view=lambda u, s, vh: (u[..., :k] * u[..., :k], s,
                                                   vh[..., :k, :] * vh[..., :k, :]),
           rtol=1e-3 if dtype == np.float32 else None)
    if full and not square:
        x = nerve.tensor(a, dtype=dtype)
        u, s, vh = LA.svd(x, True)
        assert u.shape[-1] == shape[-2] and vh.shape[-2] == shape[-1]
        eye_u = u.transpose(-2, -1) @ u
        np.testing.assert_allclose(eye_u.numpy(), np.broadcast_to(np.eye(shape[-2]),
                                                                  eye_u.shape), atol=1e-5)
    parity(record_op, "linalg.svdvals", LA.svdvals, torch.linalg.svdvals, a, dtype=dtype)


def test_svd_gradcheck(record_op):
    for shape in [(3, 3), (4, 3), (3, 4), (2, 3, 2)]:
        a = rng(7).standard_normal(shape)
        check(record_op, "linalg.svd", lambda x: LA.svd(x, False).U ** 2, a)
        check(record_op, "linalg.svd", lambda x: LA.svd(x, False).Vh ** 2, a)
        check(record_op, "linalg.svd", lambda x: LA.svd(x, False).S, a)
        check(record_op, "linalg.svd", lambda x: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(
            *LA.svd(x, False)), a)
        check(record_op, "linalg.svdvals", LA.svdvals, a)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_svd_full_matrices_of_a_non_square_matrix_takes_the_determined_part(record_op, shape):
    """PyTorch's backward narrows U (Vh) to its first min(m, n) columns (rows), whatever the
    loss does with the others, which A does not determine: so does nerve's."""
    a = rng(8).standard_normal(shape)
    x, t = f64(a).requires_grad_(), torch.tensor(a, requires_grad=True)
    (u, s, vh), (ut, st, vht) = LA.svd(x, True), torch.linalg.svd(t, True)
    (u.abs().sum() + vh.abs().sum() + s.sum()).backward()
    (ut.abs().sum() + vht.abs().sum() + st.sum()).backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)
    record_op("parity", "linalg.svd")


# --- qr -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,mode", [((4, 4), "reduced"), ((5, 3), "reduced"),
                                        ((3, 5), "reduced"), ((2, 3, 5, 3), "reduced"),
                                        ((3, 5), "complete"), ((4, 4), "complete")])
def test_qr_parity(record_op, dtype, shape, mode):
    a = general(shape, 9)
    parity(record_op, "linalg.qr", lambda x: LA.qr(x, mode), lambda x: torch.linalg.qr(x, mode),
           a, dtype=dtype, rtol=1e-3 if dtype == np.float32 else None)


def test_qr_gradcheck(record_op):
    for shape in [(3, 3), (4, 2), (2, 4), (2, 4, 3)]:
        a = general(shape, 10)
        check(record_op, "linalg.qr", lambda x: LA.qr(x).Q, a)
        check(record_op, "linalg.qr", lambda x: LA.qr(x).R, a)
    check(record_op, "linalg.qr", lambda x: LA.qr(x, "complete").Q, general((2, 3), 1))


def test_qr_modes_and_their_gradients():
    a = nerve.tensor(general((5, 3)), dtype=nerve.float64, requires_grad=True)
    q, r = LA.qr(a, "r")
    assert q.shape == (0,) and r.shape == (3, 3)
    np.testing.assert_allclose(abs(r.detach().numpy()), abs(np.linalg.qr(a.detach().numpy())[1]),
                               atol=1e-6)
    with pytest.raises(RuntimeError, match="mode='r'"):
        r.sum().backward()
    q, r = LA.qr(a, "complete")
    assert q.shape == (5, 5) and r.shape == (5, 3)
    with pytest.raises(RuntimeError, match="complete.*nrows > ncols"):
        (q.sum() + r.sum()).backward()
    with pytest.raises(ValueError, match="mode"):
        LA.qr(a, "full")


# --- pinv, lstsq --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3), (0, 2, 3)])
def test_pinv_parity(record_op, dtype, shape):
    a = general(shape, 11)
    parity(record_op, "linalg.pinv", LA.pinv, torch.linalg.pinv, a, dtype=dtype)
    parity(record_op, "pinverse", nerve.pinverse, torch.pinverse, a, dtype=dtype)


def test_pinv_options(record_op):
    u = np.linalg.qr(rng(12).standard_normal((4, 4)))[0]
    a = u @ np.diag([3.0, 1.0, 1e-3, 0.0]) @ u.T  # symmetric, rank 3 (2 above 0.01)
    parity(record_op, "linalg.pinv", lambda x: LA.pinv(x, hermitian=True),
           lambda x: torch.linalg.pinv(x, hermitian=True), a, rtol=1e-7, atol=1e-8)
    for kw in [{"atol": 0.01}, {"atol": 1e-4}, {"rtol": 0.01}, {"atol": 0.5, "rtol": 0.01},
               {"atol": 0.0}]:
        for h in (False, True):
            got = LA.pinv(f64(a), hermitian=h, **kw).numpy()
            ref = torch.linalg.pinv(torch.tensor(a), hermitian=h, **kw).numpy()
            np.testing.assert_allclose(got, ref, atol=1e-8, err_msg=str((kw, h)))
    with pytest.raises(ValueError, match="square"):
        LA.pinv(nerve.ones(2, 3), hermitian=True)


def test_pinv_gradcheck(record_op):
    for shape in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]:
        check(record_op, "linalg.pinv", LA.pinv, general(shape, 13))
    check(record_op, "linalg.pinv", lambda x: LA.pinv(sym(x), hermitian=True), spd((3, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", [((5, 3), (5, 2)), ((2, 5, 3), (2, 5)), ((3, 3), (3, 1)),
                                   ((2, 5, 3), (1, 5, 2)), ((3, 5), (3, 2))])
def test_lstsq_parity(record_op, dtype, sa, sb):
    a, b = general(sa, 14), rng(15).standard_normal(sb)
    parity(record_op, "linalg.lstsq", lambda x, y: LA.lstsq(x, y).solution,
           lambda x, y: torch.linalg.lstsq(x, y).solution, a, b, dtype=dtype,
           rtol=1e-3 if dtype == np.float32 else None)
    for driver in ["gels", "gelsy", "gelsd", "gelss"]:
        got = LA.lstsq(f64(a), f64(b), driver=driver)
        ref = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        assert got._fields == ("solution", "residuals", "rank", "singular_values")
        for g, r in zip(got, ref):
            assert g.shape == tuple(r.shape), driver
            assert str(g.dtype) == str(r.dtype).removeprefix("torch.")
            np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-8, atol=1e-9)


def test_lstsq_rank_deficient_and_gradcheck(record_op):
    a = general((2, 5, 3), 16)
    a[0, :, 2] = a[0, :, 1]
    b = rng(17).standard_normal((2, 5))
    got = LA.lstsq(f64(a), f64(b), driver="gelsd")
    ref = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver="gelsd")
    for g, r in zip(got, ref):
        assert g.shape == tuple(r.shape)
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-8, atol=1e-9)
    check(record_op, "linalg.lstsq", lambda x, y: LA.lstsq(x, y).solution, general((5, 3)),
          rng(1).standard_normal((5, 2)))
    check(record_op, "linalg.lstsq", lambda x, y: LA.lstsq(x, y, driver="gelsd").residuals,
          general((5, 3)), rng(1).standard_normal((5, 2)))
    with pytest.raises(ValueError, match="driver"):
        LA.lstsq(nerve.ones(3, 2), nerve.ones(3, 1), driver="gelsx")
    with pytest.raises(ValueError, match="same number of rows"):
        LA.lstsq(nerve.ones(3, 2), nerve.ones(4, 1))


# --- matrix_norm, norm, cond --------------------------------------------------------------
ORDS = ["fro", "nuc", INF, -INF, 1, -1, 2, -2]


def distinct_matrix(shape, seed=18):
    """Entries away from 0 whose row and column sums of |a| have no ties."""
    r = rng(seed)
    return r.uniform(0.2, 1.0, shape) * r.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord_", ORDS)
def test_matrix_norm_parity(record_op, dtype, ord_):
    a = distinct_matrix((2, 3, 4))
    for dim, keepdim in [((-2, -1), False), ((-1, -2), True), ((0, 2), False), ((2, 0), True)]:
        parity(record_op, "linalg.matrix_norm",
               lambda x, d=dim, k=keepdim: LA.matrix_norm(x, ord_, d, k),
               lambda x, d=dim, k=keepdim: torch.linalg.matrix_norm(x, ord_, d, k), a,
               dtype=dtype)
    check(record_op, "linalg.matrix_norm", lambda x: LA.matrix_norm(x, ord_),
          distinct_matrix((2, 3, 4)))


def test_matrix_norm_errors_and_dtype():
    with pytest.raises(ValueError, match="ord"):
        LA.matrix_norm(nerve.ones(3, 3), 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        LA.matrix_norm(nerve.ones(3))
    with pytest.raises(ValueError, match="two different dims"):
        LA.matrix_norm(nerve.ones(3, 3), dim=(0, -2))
    out = LA.matrix_norm(nerve.ones(2, 2), dtype=nerve.float64)
    assert out.dtype == np.float64 and out.item() == 2.0


NORM_CASES = [({}, (2, 3, 4)), ({"keepdim": True}, (2, 3)), ({"ord": 1}, (5,)),
              ({"ord": "nuc"}, (3, 4)), ({"ord": INF}, (3, 4)), ({"ord": -2}, (3, 3)),
              ({"dim": 1}, (2, 3, 4)), ({"dim": (0,), "ord": 3}, (2, 3)),
              ({"dim": (1, 2), "ord": 1, "keepdim": True}, (2, 3, 4)),
              ({"dim": (0, 1)}, (3, 4))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(len(NORM_CASES)))
def test_norm_dispatch_parity(record_op, dtype, i):
    kw, shape = NORM_CASES[i]
    parity(record_op, "linalg.norm", lambda x: LA.norm(x, **kw),
           lambda x: torch.linalg.norm(x, **kw), distinct_matrix(shape), dtype=dtype)


def test_norm_errors():
    with pytest.raises(ValueError, match="1D or 2D"):
        LA.norm(nerve.ones(2, 3, 4), ord=2)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        LA.norm(nerve.ones(3), ord="fro")


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", INF, -INF, 1, -1])
def test_cond_parity(record_op, p):
    a = general((2, 4, 3) if p in (None, 2, -2) else (2, 3, 3), 19)
    if p in (None, 2, -2, "nuc"):
        parity(record_op, "linalg.cond", lambda x: LA.cond(x, p),
               lambda x: torch.linalg.cond(x, p), a)
    else:  # PyTorch 2.13's backward of these fails (an in-place change): the values only
        np.testing.assert_allclose(LA.cond(f64(a), p).numpy(),
                                   torch.linalg.cond(torch.tensor(a), p).numpy(), rtol=1e-10)
    check(record_op, "linalg.cond", lambda x: LA.cond(x, p), a)


def test_cond_of_a_singular_matrix():
    a = nerve.tensor(np.stack([np.eye(2), np.zeros((2, 2))]))
    np.testing.assert_array_equal(LA.cond(a, "fro").numpy(),
                                  torch.linalg.cond(torch.tensor(a.numpy()), "fro").numpy())
    with pytest.raises(ValueError, match="p"):
        LA.cond(a, 3)


# --- matrix_power, multi_dot, chain_matmul, matrix_rank, matrix_exp ------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 6, -1, -3])
def test_matrix_power_parity(record_op, dtype, n):
    a = general((2, 3, 3), 20) / 3
    parity(record_op, "linalg.matrix_power", lambda x: LA.matrix_power(x, n),
           lambda x: torch.linalg.matrix_power(x, n), a, dtype=dtype)
    parity(record_op, "matrix_power", lambda x: x.matrix_power(n),
           lambda x: x.matrix_power(n), a, dtype=dtype)
    if n:
        check(record_op, "linalg.matrix_power", lambda x: LA.matrix_power(x, n), a)


def test_matrix_power_errors():
    with pytest.raises(TypeError, match="integer exponent"):
        LA.matrix_power(nerve.eye(2), 2.0)
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.matrix_power(nerve.zeros(2, 2), -1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [[(2, 3), (3, 4)], [(3,), (3, 5), (5, 2), (2,)],
                                    [(10, 2), (2, 8), (8, 3), (3, 1)], [(4,), (4, 3)],
                                    [(2, 6), (6,)]])
def test_multi_dot_parity(record_op, dtype, shapes):
    arrays = [rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    parity(record_op, "linalg.multi_dot", lambda *xs: LA.multi_dot(list(xs)),
           lambda *xs: torch.linalg.multi_dot(list(xs)), *arrays, dtype=dtype)
    check(record_op, "linalg.multi_dot", lambda *xs: LA.multi_dot(xs), *arrays)
    if all(len(s) == 2 for s in shapes):
        parity(record_op, "chain_matmul", nerve.chain_matmul, torch.chain_matmul, *arrays,
               dtype=dtype)


def test_multi_dot_and_chain_matmul_errors():
    with pytest.raises(ValueError, match="at least 2 tensors but got 1"):
        LA.multi_dot([nerve.ones(2, 2)])
    with pytest.raises(ValueError, match="tensors 0 and 1 with shapes"):
        LA.multi_dot([nerve.ones(2, 3), nerve.ones(2, 3)])
    with pytest.raises(ValueError, match="first tensor must be 1D or 2D but got 3D"):
        LA.multi_dot([nerve.ones(2, 2, 2), nerve.ones(2, 2)])
    with pytest.raises(ValueError, match="tensor 1 must be 2D"):
        LA.multi_dot([nerve.ones(2), nerve.ones(2), nerve.ones(2)])
    with pytest.raises(ValueError, match="2-D"):
        nerve.chain_matmul(nerve.ones(2))
    one = nerve.ones(2, 2)
    assert nerve.chain_matmul(one) is not one and nerve.equal(nerve.chain_matmul(one), one)


def test_matrix_rank_parity(record_op):
    a = general((3, 4, 5), 21)
    a[1, 3] = a[1, 0] + a[1, 1]
    a[2] = 0
    for kw in [{}, {"atol": 0.5}, {"rtol": 0.2}, {"atol": 1.0, "rtol": 0.1}]:
        got = LA.matrix_rank(f64(a), **kw)
        ref = torch.linalg.matrix_rank(torch.tensor(a), **kw)
        assert got.dtype == np.int64 and got.tolist() == ref.tolist(), kw
    s = spd((2, 3, 3)) - 4 * np.eye(3)
    got = LA.matrix_rank(f64(s), hermitian=True, atol=1.0)
    assert got.tolist() == torch.linalg.matrix_rank(torch.tensor(s), hermitian=True,
                                                    atol=1.0).tolist()
    assert LA.matrix_rank(nerve.ones(0, 3)).item() == 0
    record_op("parity", "linalg.matrix_rank")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [0.1, 1.0, 20.0])
def test_matrix_exp_parity(record_op, dtype, scale):
    a = rng(22).standard_normal((2, 3, 3)) * scale / 3
    rtol = (1e-4 if dtype == np.float32 else 1e-9) * (100 if scale > 10 else 1)
    parity(record_op, "linalg.matrix_exp", LA.matrix_exp, torch.linalg.matrix_exp, a,
           dtype=dtype, rtol=rtol, atol=1e-5 if dtype == np.float32 else 1e-10)
    parity(record_op, "matrix_exp", nerve.matrix_exp, torch.matrix_exp, a, dtype=dtype,
           rtol=rtol, atol=1e-5 if dtype == np.float32 else 1e-10)
    check(record_op, "linalg.matrix_exp", LA.matrix_exp, a)


# --- PyTorch's top-level names -------------------------------------------------------------
def test_top_level_names_and_methods(record_op):
    a = general((2, 3, 3), 23)
    x = f64(a)
    for name in ["det", "logdet", "slogdet", "inverse", "pinverse", "matrix_power",
                 "matrix_exp", "cholesky", "svd", "qr", "chain_matmul"]:
        assert callable(getattr(nerve, name)) and name in nerve.__all__, name
    for name in ["det", "logdet", "slogdet", "inverse", "pinverse", "matrix_power",
                 "matrix_exp", "cholesky", "svd", "qr"]:
        assert callable(getattr(nerve.Tensor, name)), name
    np.testing.assert_allclose(x.det().numpy(), np.linalg.det(a))
    np.testing.assert_allclose(x.inverse().numpy(), np.linalg.inv(a), rtol=1e-6, atol=1e-7)
    assert x.slogdet()._fields == ("sign", "logabsdet")
    parity(record_op, "inverse", nerve.inverse, torch.inverse, a)
    parity(record_op, "det", nerve.det, torch.det, a)
    parity(record_op, "slogdet", nerve.slogdet, torch.slogdet, a)
    parity(record_op, "pinverse", lambda t: nerve.pinverse(t, 0.5),
           lambda t: torch.pinverse(t, 0.5), general((4, 3), 1))
    parity(record_op, "qr", lambda t: nerve.qr(t, False), lambda t: torch.qr(t, False),
           general((3, 5), 2))
    parity(record_op, "qr", nerve.qr, torch.qr, general((5, 3), 2))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("some", [True, False])
def test_old_svd_returns_v(record_op, shape, some):
    a = rng(24).standard_normal(shape)
    k = min(shape[-2:])
    parity(record_op, "svd", lambda t: nerve.svd(t, some), lambda t: torch.svd(t, some), a,
           view=lambda u, s, v: (u[..., :k] ** 2, s, v[..., :k] ** 2))
    u, s, v = nerve.svd(f64(a), some)
    np.testing.assert_allclose((u[..., :k] * s.unsqueeze(-2)) @ v[..., :k].transpose(-2, -1),
                               a, atol=1e-10)
    u, s, v = f64(a).svd(compute_uv=False)
    ref = torch.svd(torch.tensor(a), compute_uv=False)
    assert u.shape == tuple(ref.U.shape) and v.shape == tuple(ref.V.shape)
    assert not u.numpy().any() and not v.numpy().any()
    np.testing.assert_allclose(s.numpy(), ref.S.numpy(), rtol=1e-10)


# --- across the functions: dtypes, views, empty inputs --------------------------------------
def test_float32_stays_float32_and_non_contiguous_inputs():
    base = general((3, 3, 2), 25).astype(np.float32)
    x = nerve.tensor(base).transpose(0, 2)  # a (2, 3, 3) non-contiguous view
    t = torch.tensor(base).transpose(0, 2)
    for fn, ref in [(LA.inv, torch.linalg.inv), (LA.det, torch.linalg.det),
                    (LA.svdvals, torch.linalg.svdvals), (LA.pinv, torch.linalg.pinv),
                    (LA.matrix_exp, torch.linalg.matrix_exp),
                    (lambda v: LA.qr(v).R, lambda v: torch.linalg.qr(v).R),
                    (lambda v: LA.eigvalsh(v), lambda v: torch.linalg.eigvalsh(v)),
                    (lambda v: LA.cholesky(v @ v.transpose(-2, -1)),
                     lambda v: torch.linalg.cholesky(v @ v.transpose(-2, -1)))]:
        out = fn(x)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), ref(t).numpy(), rtol=1e-4, atol=1e-5)


def test_empty_batches():
    e = nerve.zeros(0, 3, 3, dtype=nerve.float64, requires_grad=True)
    for fn in [LA.inv, LA.det, LA.svdvals, lambda v: LA.eigh(v)[0], lambda v: LA.qr(v)[1],
               lambda v: LA.cholesky(v + nerve.eye(3, dtype=nerve.float64)), LA.pinv,
               LA.matrix_exp, lambda v: LA.solve(v, v)]:
        out = fn(e)
        assert out.shape[0] == 0
        out.sum().backward()
        assert e.grad.shape == (0, 3, 3)
    assert LA.det(nerve.zeros(0, 0)).item() == 1.0


def test_module_layout():
    from nerve.linalg import vector_norm

    assert vector_norm is nerve.linalg.vector_norm
    assert issubclass(LA.LinAlgError, RuntimeError) and issubclass(LA.LinAlgError, ValueError)
    assert set(LA.__all__) >= {"inv", "det", "slogdet", "solve", "cholesky", "eigh", "svd",
                               "qr", "pinv", "lstsq", "matrix_norm", "norm", "matrix_power",
                               "multi_dot", "matrix_rank", "cond", "matrix_exp", "vector_norm"}
