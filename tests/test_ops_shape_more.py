"""flip, roll, tril, triu, diag, diagonal, trace, outer, ger, dot, mv, inner, addmm, tensordot,
einsum, narrow,
masked_select, take_along_dim, scatter_add, index_add, meshgrid and unique: values and gradients
against PyTorch (float32 and float64, the same inputs and upstream gradient), gradients against
finite differences (float64), views, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def data(shape, seed=0) -> np.ndarray:
    """Distinct values (no ties), negative and positive, in float64."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(int(np.prod(shape))) - np.prod(shape) / 2.0).reshape(shape) \
        / 3.0 + rng.uniform(-0.1, 0.1, shape)


def ix(m, a):
    """An index (or mask) constant for module ``m``: the array for nerve, a tensor for torch."""
    return np.asarray(a) if m is nerve else torch.as_tensor(np.asarray(a))


I3 = np.array([[2, 0, 2, 1], [1, 1, 0, 2]])  # repeated positions along dim 0 of a (3, 4)
MASK = data((3, 4), 5) > 0

# name -> (fn(module, *tensors), input shapes); the name before ":" is the operation
CASES = {
    "flip:2d": (lambda m, x: m.flip(x, (0, 1)), [(3, 4)]),
    "flip:neg": (lambda m, x: m.flip(x, (-1,)), [(2, 3, 4)]),
    "flip:method": (lambda m, x: x.flip(0, 2), [(2, 3, 4)]),
    "flip:0d": (lambda m, x: m.flip(x, (0,)), [()]),
    "flip:empty": (lambda m, x: m.flip(x, (0,)), [(0, 3)]),
    "roll:flat": (lambda m, x: m.roll(x, 1), [(3, 4)]),
    "roll:flat_neg": (lambda m, x: m.roll(x, -5), [(2, 3, 2)]),
    "roll:dims": (lambda m, x: m.roll(x, (1, -2), (0, 1)), [(3, 4)]),
    "roll:same_dim": (lambda m, x: m.roll(x, (1, 1), (1, 1)), [(3, 4)]),
    "roll:big": (lambda m, x: x.roll(7, -1), [(2, 3, 4)]),
    "roll:empty": (lambda m, x: m.roll(x, 1, 0), [(0, 3)]),
    "tril:0": (lambda m, x: m.tril(x), [(4, 5)]),
    "tril:k": (lambda m, x: m.tril(x, 1), [(4, 5)]),
    "tril:neg": (lambda m, x: x.tril(-2), [(2, 3, 4)]),
    "tril:far": (lambda m, x: m.tril(x, -5), [(3, 4)]),
    "triu:0": (lambda m, x: m.triu(x), [(4, 5)]),
    "triu:k": (lambda m, x: m.triu(x, 2), [(2, 1, 3, 3)]),
    "triu:neg": (lambda m, x: x.triu(-1), [(5, 3)]),
    "diag:vec": (lambda m, x: m.diag(x), [(3,)]),
    "diag:vec_k": (lambda m, x: m.diag(x, 1), [(3,)]),
    "diag:vec_neg": (lambda m, x: x.diag(-2), [(3,)]),
    "diag:mat": (lambda m, x: m.diag(x), [(3, 4)]),
    "diag:mat_k": (lambda m, x: m.diag(x, 2), [(3, 4)]),
    "diag:mat_neg": (lambda m, x: x.diag(-1), [(3, 4)]),
    "diag:mat_empty": (lambda m, x: m.diag(x, 5), [(3, 4)]),
    "diagonal:default": (lambda m, x: m.diagonal(x), [(3, 4)]),
    "diagonal:dims": (lambda m, x: m.diagonal(x, 1, -1, 0), [(2, 3, 4)]),
    "diagonal:neg": (lambda m, x: x.diagonal(-1, 2, 1), [(2, 3, 4)]),
    "diagonal:method_kw": (lambda m, x: x.diagonal(offset=1, dim1=1, dim2=2), [(2, 3, 3)]),
    "trace:rect": (lambda m, x: m.trace(x), [(3, 4)]),
    "trace:square": (lambda m, x: x.trace(), [(3, 3)]),
    "outer:": (lambda m, a, b: m.outer(a, b), [(3,), (4,)]),
    "outer:method": (lambda m, a, b: a.outer(b), [(1,), (2,)]),
    "ger:": (lambda m, a, b: m.ger(a, b), [(3,), (2,)]),
    "dot:": (lambda m, a, b: m.dot(a, b), [(5,), (5,)]),
    "dot:method": (lambda m, a, b: a.dot(b), [(1,), (1,)]),
    "mv:": (lambda m, a, b: m.mv(a, b), [(3, 4), (4,)]),
    "mv:method": (lambda m, a, b: a.mv(b), [(1, 2), (2,)]),
    "inner:vectors": (lambda m, a, b: m.inner(a, b), [(4,), (4,)]),
    "inner:matrices": (lambda m, a, b: m.inner(a, b), [(2, 3), (4, 3)]),
    "inner:3d": (lambda m, a, b: a.inner(b), [(2, 1, 3), (2, 3)]),
    "inner:0d": (lambda m, a, b: m.inner(a, b), [(), (2, 3)]),
    "addmm:": (lambda m, c, a, b: m.addmm(c, a, b), [(3, 5), (3, 4), (4, 5)]),
    "addmm:row": (lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=-2.0), [(5,), (3, 4),
                                                                               (4, 5)]),
    "tensordot:2": (lambda m, a, b: m.tensordot(a, b), [(2, 3, 4), (3, 4, 5)]),
    "tensordot:1": (lambda m, a, b: m.tensordot(a, b, 1), [(2, 3), (3, 2)]),
    "tensordot:0": (lambda m, a, b: m.tensordot(a, b, dims=0), [(2, 3), (4,)]),
    "tensordot:pairs": (lambda m, a, b: m.tensordot(a, b, dims=([1, 0], [0, 2])),
                        [(2, 3, 4), (3, 5, 2)]),
    "tensordot:neg": (lambda m, a, b: m.tensordot(a, b, dims=([-1], [-2])), [(2, 3), (4, 3, 2)]),
    "tensordot:all": (lambda m, a, b: m.tensordot(a, b, dims=([0, 1], [1, 0])), [(2, 3), (3, 2)]),
    "einsum:matmul": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(3, 4), (4, 5)]),
    "einsum:list": (lambda m, a, b: m.einsum("ij,jk", [a, b]), [(3, 4), (4, 2)]),
    "einsum:spaces": (lambda m, a, b: m.einsum("ij, jk -> k i", a, b), [(3, 4), (4, 2)]),
    "einsum:batch": (lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 5)]),
    "einsum:transpose": (lambda m, a: m.einsum("ij->ji", a), [(3, 4)]),
    "einsum:implicit_sorted": (lambda m, a: m.einsum("ba", a), [(3, 4)]),
    "einsum:upper": (lambda m, a, b: m.einsum("Ab,bC", a, b), [(2, 3), (3, 4)]),
    "einsum:sum": (lambda m, a: m.einsum("ij->", a), [(3, 4)]),
    "einsum:row_sum": (lambda m, a: m.einsum("ij->i", a), [(3, 4)]),
    "einsum:diag": (lambda m, a: m.einsum("ii->i", a), [(3, 3)]),
    "einsum:trace": (lambda m, a: m.einsum("ii", a), [(3, 3)]),
    "einsum:diag3": (lambda m, a: m.einsum("iji->ij", a), [(2, 3, 2)]),
    "einsum:diag_sum": (lambda m, a: m.einsum("iij->j", a), [(3, 3, 2)]),
    "einsum:diag_mul": (lambda m, a, b: m.einsum("ii,i->i", a, b), [(3, 3), (3,)]),
    "einsum:inner": (lambda m, a, b: m.einsum("i,i->", a, b), [(4,), (4,)]),
    "einsum:outer": (lambda m, a, b: m.einsum("i,j->ij", a, b), [(3,), (4,)]),
    "einsum:scalar": (lambda m, a, b: m.einsum("i,->i", a, b), [(3,), ()]),
    "einsum:alone": (lambda m, a, b: m.einsum("ij,i->i", a, b), [(3, 4), (3,)]),
    "einsum:broadcast": (lambda m, a, b: m.einsum("ij,ij->ij", a, b), [(1, 4), (3, 4)]),
    "einsum:broadcast_sum": (lambda m, a, b: m.einsum("ij,j->i", a, b), [(3, 4), (1,)]),
    "einsum:ellipsis": (lambda m, a, b: m.einsum("...ij,jk->...ik", a, b),
                        [(2, 3, 4), (4, 5)]),
    "einsum:ellipsis_implicit": (lambda m, a, b: m.einsum("...ij,...jk", a, b),
                                 [(2, 3, 4), (4, 5)]),
    "einsum:ellipsis_bcast": (lambda m, a, b: m.einsum("...,...->...", a, b), [(2, 1), (3,)]),
    "einsum:ellipsis_sum": (lambda m, a: m.einsum("i...->i", a), [(2, 3, 4)]),
    "einsum:ellipsis_mid": (lambda m, a: m.einsum("i...j->j...i", a), [(2, 3, 1, 4)]),
    "einsum:three": (lambda m, a, b, c: m.einsum("ij,jk,kl->il", a, b, c),
                     [(2, 3), (3, 4), (4, 2)]),
    "einsum:three_cycle": (lambda m, a, b, c: m.einsum("ab,bc,ca->", a, b, c),
                           [(2, 3), (3, 4), (4, 2)]),
    "einsum:three_diag": (lambda m, a, b, c: m.einsum("ii,ij,j->ij", a, b, c),
                          [(3, 3), (3, 2), (2,)]),
    "einsum:empty": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(3, 0), (0, 2)]),
    "narrow:": (lambda m, x: m.narrow(x, 0, 1, 2), [(4, 5)]),
    "narrow:neg": (lambda m, x: x.narrow(-1, -3, 2), [(4, 5)]),
    "narrow:end": (lambda m, x: m.narrow(x, 1, 5, 0), [(4, 5)]),
    "masked_select:": (lambda m, x: m.masked_select(x, ix(m, MASK)), [(3, 4)]),
    "masked_select:bcast_mask": (lambda m, x: x.masked_select(ix(m, MASK[1])), [(3, 4)]),
    "masked_select:bcast_input": (lambda m, x: m.masked_select(x, ix(m, MASK)), [(3, 1)]),
    "masked_select:none": (lambda m, x: m.masked_select(x, ix(m, np.zeros(4, bool))), [(3, 4)]),
    "take_along_dim:": (lambda m, x: m.take_along_dim(x, ix(m, [[0, 0, 3], [2, 1, 2],
                                                               [3, 3, 3]]), 1), [(3, 4)]),
    "take_along_dim:flat": (lambda m, x: m.take_along_dim(x, ix(m, [5, 0, 5, 11])), [(3, 4)]),
    "take_along_dim:neg": (lambda m, x: x.take_along_dim(ix(m, [[-1], [-4], [0]]), -1),
                           [(3, 4)]),
    "take_along_dim:bcast": (lambda m, x: m.take_along_dim(x, ix(m, [[1, 1, 0]]), 1), [(3, 4)]),
    "take_along_dim:bcast_in": (lambda m, x: m.take_along_dim(x, ix(m, I3[:, :, None]), 0),
                                [(3, 1, 2)]),
    "scatter_add:": (lambda m, x, s: m.scatter_add(x, 0, ix(m, I3), s), [(3, 4), (2, 4)]),
    "scatter_add:neg_dim": (lambda m, x, s: x.scatter_add(-1, ix(m, [[1, 1], [0, 3]]), s),
                            [(3, 4), (2, 2)]),
    "scatter_add:3d": (lambda m, x, s: m.scatter_add(x, 1, ix(m, [[[2], [2]]]), s),
                       [(2, 3, 2), (1, 2, 1)]),
    "scatter_add:empty": (lambda m, x, s: m.scatter_add(x, 0, ix(m, np.zeros((0, 4), int)), s),
                          [(3, 4), (0, 4)]),
    "index_add:": (lambda m, x, s: m.index_add(x, 0, ix(m, [0, 2, 2, 4]), s, alpha=2.5),
                   [(5, 3), (4, 3)]),
    "index_add:dim1": (lambda m, x, s: x.index_add(-1, ix(m, [1, 1]), s), [(2, 3, 4), (2, 3, 2)]),
    "index_add:empty": (lambda m, x, s: m.index_add(x, 1, ix(m, np.zeros(0, int)), s),
                        [(2, 3), (2, 0)]),
    "meshgrid:ij": (lambda m, a, b: m.stack(m.meshgrid(a, b, indexing="ij")), [(3,), (3,)]),
    "meshgrid:ij3": (lambda m, a, b, c: m.stack(m.meshgrid([a, b, c], indexing="ij")),
                     [(2,), (2,), (2,)]),
    "meshgrid:sizes": (lambda m, a, b, c: m.stack([g * (i + 1) for i, g in enumerate(
        m.meshgrid(a, b, c, indexing="ij"))]).sum(0), [(2,), (3,), (4,)]),
    "meshgrid:xy": (lambda m, a, b, c: m.stack([g * (i + 1) for i, g in enumerate(
        m.meshgrid(a, b, c, indexing="xy"))]).sum(0), [(2,), (3,), (4,)]),
    "meshgrid:0d": (lambda m, a, b: m.stack(m.meshgrid(a, b, indexing="ij")), [(), (3,)]),
}


def _run(fn, arrays, dtype):
    """nerve's and torch's outputs and input gradients for ``fn`` on ``arrays`` in ``dtype``."""
    xs = [nerve.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, ref = fn(nerve, *xs), fn(torch, *ts)
    upstream = np.random.default_rng(1).standard_normal(tuple(ref.shape)).astype(dtype)
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    return out, ref, xs, ts


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_parity(record_op, case, dtype):
    fn, shapes = CASES[case]
    arrays = [data(s, seed=i + 2) for i, s in enumerate(shapes)]
    out, ref, xs, ts = _run(fn, arrays, dtype)
    assert out.shape == tuple(ref.shape) and out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **tol)
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = np.zeros(x.shape, dtype) if t.grad is None else t.grad.numpy()
        assert x.grad is not None and x.grad.dtype == dtype and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad, expected, **tol, err_msg=f"input {i}")
    record_op("parity", case.split(":")[0])


@pytest.mark.parametrize("case", [c for c in CASES if "empty" not in c])
def test_gradcheck(record_op, case):
    fn, shapes = CASES[case]
    arrays = [data(s, seed=i + 2) for i, s in enumerate(shapes)]
    assert nerve.gradcheck(lambda *xs: fn(nerve, *xs),
                           [nerve.tensor(a, dtype=nerve.float64) for a in arrays])
    record_op("gradcheck", case.split(":")[0])


# src larger than index: PyTorch computes the values but has no backward for src ("implemented
# only for src.shape == index.shape"); nerve's gradient is g gathered, zeros beyond index.
SRC_BEYOND = [(-1, [[1, 1], [0, 3], [3, 3]], (3, 5)), (0, [[2], [2]], (2, 2)),
              (1, [[0, 0, 3]], (2, 4))]


@pytest.mark.parametrize("dim, index, src_shape", SRC_BEYOND)
def test_scatter_add_with_a_larger_src(record_op, dim, index, src_shape):
    a, b = data((3, 4), 1), data(src_shape, 2)
    x, s = (nerve.tensor(v, dtype=nerve.float64, requires_grad=True) for v in (a, b))
    t = torch.tensor(a, requires_grad=True)
    out = nerve.scatter_add(x, dim, np.array(index), s)
    ref = torch.scatter_add(t, dim, torch.tensor(index), torch.tensor(b))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    g = data((3, 4), 3)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    expected = np.zeros(src_shape)
    part = tuple(slice(n) for n in np.shape(index))
    rows = tuple(slice(None) if d == dim % 2 else slice(n) for d, n in enumerate(np.shape(index)))
    expected[part] = np.take_along_axis(g[rows], np.array(index), dim)
    np.testing.assert_array_equal(s.grad, expected)
    assert expected.any() and (expected == 0).any()
    assert nerve.gradcheck(lambda x, s: nerve.scatter_add(x, dim, np.array(index), s),
                           [nerve.tensor(v, dtype=nerve.float64) for v in (a, b)])
    record_op("gradcheck", "scatter_add")


def test_every_operation_is_covered():
    names = {c.split(":")[0] for c in CASES} | {"unique"}
    assert names == set("flip roll tril triu diag diagonal trace outer ger dot mv inner addmm "
                        "tensordot einsum "
                        "narrow masked_select take_along_dim scatter_add index_add meshgrid "
                        "unique".split())
    for name in names - {"tensordot", "einsum", "meshgrid"}:
        assert hasattr(nerve.Tensor, name), name
    assert not hasattr(nerve.Tensor, "einsum")


def test_repeated_indices_accumulate():
    x = nerve.zeros(3, requires_grad=True)
    s = nerve.tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = nerve.index_add(x, 0, np.array([1, 1, 1]), s, alpha=-1)
    np.testing.assert_array_equal(y.detach().numpy(), [0, -7, 0])
    y.backward(np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_array_equal(x.grad, [1, 2, 3])
    np.testing.assert_array_equal(s.grad, [-2, -2, -2])
    x = nerve.tensor(data((4,)), requires_grad=True)
    y = nerve.take_along_dim(x, np.array([2, 2, -2, 0]), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 0, 3, 0])
    y = nerve.scatter_add(nerve.zeros(2), 0, np.array([0, 0, 0]), nerve.ones(3))
    np.testing.assert_array_equal(y.numpy(), [3, 0])


@pytest.mark.parametrize("dtype", [nerve.int64, nerve.int32, nerve.bool])
def test_integer_and_bool_inputs(dtype):
    a = np.arange(12).reshape(3, 4) % 5
    x, t = nerve.tensor(a).to(dtype), torch.tensor(a).to(getattr(torch, str(dtype)))
    for fn in (lambda m, x: m.flip(x, (0,)), lambda m, x: m.roll(x, 1), lambda m, x: m.tril(x),
               lambda m, x: m.triu(x, 1), lambda m, x: m.diag(x), lambda m, x: m.narrow(x, 1, 1, 2),
               lambda m, x: m.diagonal(x, 1), lambda m, x: m.masked_select(x, ix(m, MASK)),
               lambda m, x: m.take_along_dim(x, ix(m, I3), 0)):
        out, ref = fn(nerve, x), fn(torch, t)
        assert str(out.dtype) == str(ref.dtype).replace("torch.", "")
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    if dtype != nerve.bool:
        for fn in (lambda m, x: m.trace(x), lambda m, x: m.einsum("ij,kj", x, x),
                   lambda m, x: m.dot(x[0], x[1]), lambda m, x: m.scatter_add(x, 0, ix(m, I3), x),
                   lambda m, x: m.index_add(x, 1, ix(m, [3, 3, 0, 1]), x)):
            out, ref = fn(nerve, x), fn(torch, t)
            assert str(out.dtype) == str(ref.dtype).replace("torch.", "")
            np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_outer_promotes_as_torch():
    a, b = np.arange(3), np.array([0.5, -1.5], np.float32)
    out = nerve.outer(nerve.tensor(a), nerve.tensor(b))
    ref = torch.outer(torch.tensor(a), torch.tensor(b))
    assert out.dtype == np.float32 and ref.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


UNIQUE_INPUTS = [np.array([3.0, 1.0, 2.0, 1.0, 3.0, 3.0]), np.array([[2, 7, 2], [0, 7, 7]]),
                 np.array([3.0, np.nan, 1.0, np.nan, 3.0], np.float32), np.array(5.0),
                 np.array([[1, 2], [0, 3], [1, 2], [0, 3], [0, 1]]), np.zeros(0)]


@pytest.mark.parametrize("dim", [None, 0, -1])
@pytest.mark.parametrize("k", range(len(UNIQUE_INPUTS)))
def test_unique(record_op, k, dim):
    a = UNIQUE_INPUTS[k]
    if dim is not None and (a.ndim == 0 or k == 2 or (dim == -1 and k == 5)):
        return  # NaN along a dim: PyTorch's result is out of order (a NaN between numbers)
    for flags in [(False, False), (True, False), (False, True), (True, True)]:
        out = nerve.unique(nerve.tensor(a, dtype=a.dtype), True, *flags, dim=dim)
        ref = torch.unique(torch.tensor(a), True, *flags, dim=dim)
        out, ref = (out, ref) if any(flags) else ((out,), (ref,))
        assert len(out) == len(ref)
        for o, r in zip(out, ref):
            assert o.shape == tuple(r.shape) and str(o.dtype) == str(r.dtype)[6:]
            np.testing.assert_array_equal(o.numpy(), r.numpy())
    x = nerve.tensor(data((5,)).round(), requires_grad=True)
    assert not x.unique().requires_grad and x.unique(sorted=False).shape == (len(set(x.tolist())),)
    record_op("parity", "unique")


def test_unique_of_an_int_tensor_keeps_dtype():
    assert nerve.unique(nerve.tensor([3, 1, 3], dtype=nerve.int32)).dtype == np.int32


def test_views_and_copies():
    x = nerve.tensor(np.arange(12.0).reshape(3, 4))
    n = nerve.narrow(x, 1, 1, 2)
    d = nerve.diagonal(x, 1)
    f, dg = nerve.flip(x, (0,)), nerve.diag(x)
    v = x._version
    with nerve.no_grad():
        d.fill_(-1.0)  # through the view, into x, as torch's diagonal
        n.mul_(10.0)
    assert x._version > v
    expected = torch.arange(12.0).reshape(3, 4)
    torch.diagonal(expected, 1).fill_(-1.0)
    torch.narrow(expected, 1, 1, 2).mul_(10.0)
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    np.testing.assert_array_equal(f.numpy(), np.arange(12.0).reshape(3, 4)[::-1])  # copies
    np.testing.assert_array_equal(dg.numpy(), [0, 5, 10])
    for make in (lambda: nerve.flip(x, (0,)), lambda: nerve.roll(x, 1), lambda: nerve.tril(x),
                 lambda: nerve.diag(x), lambda: nerve.masked_select(x, MASK),
                 lambda: nerve.scatter_add(x, 0, I3, x), lambda: nerve.index_add(x, 0, [0], x[:1])):
        y = make()
        before = x.numpy().copy()
        with nerve.no_grad():
            y.fill_(7.0)
        np.testing.assert_array_equal(x.numpy(), before)


def test_a_view_changed_after_use_is_refused():
    x = nerve.tensor(data((3, 3)), requires_grad=True)
    y = x * 1.0
    d = y.diagonal()
    z = (d * d).sum()
    with nerve.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError):
        z.backward()


def test_meshgrid_matches_torch_shapes_and_defaults_to_ij():
    a, b = nerve.arange(2.0), nerve.arange(3.0)
    assert [g.shape for g in nerve.meshgrid(a, b)] == [(2, 3), (2, 3)]
    assert [g.shape for g in nerve.meshgrid(a, b, indexing="xy")] == [(3, 2), (3, 2)]
    assert nerve.meshgrid(a)[0].shape == (2,)


@pytest.mark.parametrize("call, error, words", [
    (lambda x: nerve.flip(x, (0, 0)), ValueError, "repeated"),
    (lambda x: nerve.flip(x, (2,)), ValueError, "out of range"),
    (lambda x: nerve.roll(x, (1, 2)), ValueError, "one shift"),
    (lambda x: nerve.roll(x, 1, 2), ValueError, "out of range"),
    (lambda x: nerve.roll(x, 1.5), TypeError, "integer"),
    (lambda x: nerve.tril(x[0]), ValueError, "at least 2"),
    (lambda x: nerve.triu(x, 0.5), TypeError, "integer"),
    (lambda x: nerve.diag(x[None]), ValueError, "1-D or 2-D"),
    (lambda x: nerve.diag(x[0, 0]), ValueError, "1-D or 2-D"),
    (lambda x: nerve.diagonal(x, 0, 1, -1), ValueError, "two different dims"),
    (lambda x: nerve.diagonal(x[0]), ValueError, "at least 2"),
    (lambda x: nerve.trace(x[0]), ValueError, "2-D"),
    (lambda x: nerve.outer(x, x[0]), ValueError, "1-D"),
    (lambda x: nerve.dot(x[0], x[:, 0]), ValueError, "one length"),
    (lambda x: nerve.dot(x, x), ValueError, "1-D"),
    (lambda x: nerve.dot(x[0], x[0].double()), TypeError, "dtype"),
    (lambda x: nerve.tensordot(x, x, 3), ValueError, "dims"),
    (lambda x: nerve.tensordot(x, x, 1), ValueError, "matching sizes"),
    (lambda x: nerve.tensordot(x, x, ([0], [0, 1])), ValueError, "dims"),
    (lambda x: nerve.tensordot(x, x, ([0, 0], [0, 0])), ValueError, "distinct"),
    (lambda x: nerve.einsum("ij,jk", x), ValueError, "one equation term per operand"),
    (lambda x: nerve.einsum("ijk", x), ValueError, "one subscript per dimension"),
    (lambda x: nerve.einsum("i", x), ValueError, "one subscript per dimension"),
    (lambda x: nerve.einsum("i1", x), ValueError, "letters"),
    (lambda x: nerve.einsum("i.j", x), ValueError, "letters"),
    (lambda x: nerve.einsum("...i...", x), ValueError, "at most one"),
    (lambda x: nerve.einsum("ij->jj", x), ValueError, "appear once"),
    (lambda x: nerve.einsum("ij->k", x), ValueError, "appear once"),
    (lambda x: nerve.einsum("ii", x), ValueError, "do not fit"),
    (lambda x: nerve.einsum("ij,ij", x, x.T), ValueError, "do not fit"),
    (lambda x: nerve.einsum("ij,ij", x, x.double()), TypeError, "one dtype"),
    (lambda x: nerve.einsum(x, x), TypeError, "equation"),
    (lambda x: nerve.narrow(x, 1, 3, 2), IndexError, "start + length <= 4"),
    (lambda x: nerve.narrow(x, 1, -5, 1), IndexError, "[-4, 4]"),
    (lambda x: nerve.narrow(x, 2, 0, 1), ValueError, "out of range"),
    (lambda x: nerve.narrow(x[0, 0], 0, 0, 1), ValueError, "0-d"),
    (lambda x: nerve.masked_select(x, np.ones((3, 4), int)), TypeError, "boolean"),
    (lambda x: nerve.masked_select(x, np.ones(3, bool)), ValueError, ""),
    (lambda x: nerve.take_along_dim(x, np.array([[4]]), 1), IndexError, "[-4, 4)"),
    (lambda x: nerve.take_along_dim(x, np.array([[-5]]), 1), IndexError, "an index=-5"),
    (lambda x: nerve.take_along_dim(x, np.array([1]), 1), ValueError, "2 dimensions"),
    (lambda x: nerve.take_along_dim(x, np.array([[1.0]]), 1), TypeError, "integer"),
    (lambda x: nerve.scatter_add(x, 0, np.array([[3]]), x), IndexError, "[0, 3)"),
    (lambda x: nerve.scatter_add(x, 0, np.array([[-1]]), x), IndexError, "an index=-1"),
    (lambda x: nerve.scatter_add(x, 0, np.array([[1, 1]]), x[:, :1]), ValueError, "no larger"),
    (lambda x: nerve.scatter_add(x, 1, np.array([[1, 1]] * 4), x), ValueError, "no larger"),
    (lambda x: nerve.scatter_add(x, 0, np.array([1]), x), ValueError, "2 dimensions"),
    (lambda x: nerve.scatter_add(x, 0, np.array([[1.0]]), x), TypeError, "integer"),
    (lambda x: nerve.scatter_add(x, 0, np.array([[1]]), x.double()), TypeError, "dtype"),
    (lambda x: nerve.index_add(x, 0, np.array([3]), x[:1]), IndexError, "[0, 3)"),
    (lambda x: nerve.index_add(x, 0, np.array([-1]), x[:1]), IndexError, "an index=-1"),
    (lambda x: nerve.index_add(x, 0, np.array([0, 1]), x[:1]), ValueError, "1-D index"),
    (lambda x: nerve.index_add(x, 0, np.array([[0]]), x[:1]), ValueError, "1-D index"),
    (lambda x: nerve.index_add(x, 0, np.array([0]), x[:1, :2]), ValueError, "1-D index"),
    (lambda x: nerve.index_add(x, 0, np.array([0]), x[:1].double()), TypeError, "dtype"),
    (lambda x: nerve.meshgrid(x[0], x[0], indexing="yx"), ValueError, "indexing"),
    (lambda x: nerve.meshgrid(x), ValueError, "1-D"),
    (lambda x: nerve.meshgrid(), TypeError, "non-empty"),
    (lambda x: nerve.unique(x, dim=2), ValueError, "out of range"),
])
def test_errors(call, error, words):
    x = nerve.tensor(data((3, 4)).astype(np.float32))
    with pytest.raises(error) as e:
        call(x)
    assert words in str(e.value)


def test_flip_takes_dims_by_name_as_torch():
    x, t = nerve.arange(6).reshape(2, 3), torch.arange(6).reshape(2, 3)
    assert nerve.flip(x, dims=(1,)).tolist() == torch.flip(t, dims=(1,)).tolist()
    assert x.flip(dims=[0, 1]).tolist() == t.flip(dims=[0, 1]).tolist()
    with pytest.raises(TypeError, match="once"):
        nerve.flip(x, 0, dims=1)


PRODUCTS = {  # name -> fn(module, a, b), PyTorch's operand name in the error
    "matmul": (lambda m, a, b: a @ b, "other"),
    "mm": (lambda m, a, b: m.mm(a, b), "mat2"),
    "bmm": (lambda m, a, b: m.bmm(a[None], b[None]), "mat2"),
    "mv": (lambda m, a, b: m.mv(a, b[:, 0]), "vec"),
    "addmm": (lambda m, a, b: m.addmm(m.zeros((2, 2), dtype=a.dtype), a, b), "mat2"),
    "tensordot": (lambda m, a, b: m.tensordot(a, b, 1), "b"),
    "inner": (lambda m, a, b: m.inner(a, b.T), "other"),
    "dot": (lambda m, a, b: m.dot(a[0], b[:, 0]), "tensor"),
}


@pytest.mark.parametrize("name", PRODUCTS)
@pytest.mark.parametrize("other", [np.float64, np.int64])
def test_products_refuse_two_dtypes_as_pytorch(name, other):
    """float32 @ float64 (or @ int64) is a TypeError in PyTorch: a product does not promote.
    NumPy promoted it, and a float32 input to a float64 model ran the rest in float64."""
    fn, operand = PRODUCTS[name]
    a = np.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError):
        fn(torch, torch.tensor(a, dtype=torch.float32), torch.tensor(a.T).to(
            getattr(torch, np.dtype(other).name)))
    with pytest.raises(TypeError, match=f"{name}: expected {operand} of the input's dtype "
                       f"float32.*{np.dtype(other).name}"):
        fn(nerve, nerve.tensor(a, dtype=nerve.float32), nerve.tensor(a.T, dtype=other))
    same = fn(nerve, nerve.tensor(a, dtype=nerve.float64), nerve.tensor(a.T, dtype=nerve.float64))
    assert same.dtype == np.float64


def test_matmul_still_takes_arrays_and_integer_pairs():
    a = nerve.tensor(np.ones((2, 3)), dtype=nerve.float32)
    assert (a @ np.ones((3, 2))).dtype == np.float32  # an array operand is converted
    i = nerve.tensor([[1, 2], [3, 4]])
    assert (i @ i).dtype == np.int64 and (i @ i).tolist() == [[7, 10], [15, 22]]


def test_addmm_with_beta_0_ignores_the_input_nan_included():
    a, b = data((3, 4)), data((4, 5), 1)
    c = np.full((3, 5), np.nan)
    ours = nerve.addmm(nerve.tensor(c), nerve.tensor(a), nerve.tensor(b), beta=0, alpha=2)
    ref = torch.addmm(torch.tensor(c, dtype=torch.float32), torch.tensor(a, dtype=torch.float32),
                      torch.tensor(b, dtype=torch.float32), beta=0, alpha=2)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
    assert not np.isnan(ours.numpy()).any()


def test_addmm_refuses_an_input_larger_than_the_product():
    a = nerve.ones(2, 3)
    with pytest.raises(ValueError, match=r"addmm: expected input broadcastable to the "
                       r"product's shape \(2, 2\)"):
        nerve.addmm(nerve.zeros(3, 2, 2), a, a.T)
