"""Tensor hooks and the autograd engine against PyTorch, from the review of 2026-11-28: a
leaf's hooks see its whole gradient once, arrays that user code saw are never added into
later, autograd.grad applies an intermediate's hooks, retain_grad() follows an in-place change,
and detach_() after use keeps the recorded history. Each test failed before its fix."""

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def leaf(m, values):
    return m.tensor(values, dtype=m.float64, requires_grad=True)


def both(run):
    return run(nerve), run(torch)


def test_a_leaf_used_twice_runs_its_hook_once_on_the_total():
    def run(m):
        x, calls = leaf(m, [1.0, -2.0]), []
        x.register_hook(lambda g: (calls.append(g.detach().numpy().copy()), g.clamp(-1, 1))[1])
        ((x * 3).sum() + (x * x).sum()).backward()
        return x.grad.numpy(), calls

    (ours, our_calls), (theirs, their_calls) = both(run)
    np.testing.assert_array_equal(ours, theirs)
    assert len(our_calls) == len(their_calls) == 1
    np.testing.assert_array_equal(our_calls[0], their_calls[0])


def test_a_clipping_hook_on_a_recurrent_weight_clips_the_whole_gradient():
    """A weight used at every step of a hand-written recurrence: the hook's clamp applies to
    the sum (PyTorch's per-parameter clipping recipe); per step, values reached -1.16 for a
    clamp at 0.5. (nn.RNN's weight makes one node for all steps, so it was right already.)"""
    rng = np.random.default_rng(0)
    w0, xs = rng.normal(size=(3, 3)), rng.normal(size=(4, 3)) * 3

    def run(m):
        w = leaf(m, w0)
        w.register_hook(lambda g: g.clamp(-0.5, 0.5))
        h = m.zeros(3, dtype=m.float64)
        loss = 0
        for x in xs:
            h = m.tanh(w @ h + m.tensor(x, dtype=m.float64))
            loss = loss + (h ** 2).sum()
        loss.backward()
        return w.grad.numpy()

    ours, theirs = both(run)
    assert np.abs(ours).max() <= 0.5
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    nerve.manual_seed(0)
    rnn = nerve.nn.RNN(3, 3)
    rnn.weight_hh_l0.register_hook(lambda g: g.clamp(-0.01, 0.01))
    (rnn(nerve.tensor(xs[:, None].astype(np.float32)))[0] ** 2).sum().backward()
    assert np.abs(rnn.weight_hh_l0.grad.numpy()).max() <= 0.01


def test_autograd_grad_applies_leaf_and_intermediate_hooks_once():
    """(Asked for y and x together, PyTorch hands back y's gradient from before y's hooks,
    since y's node then runs on; nerve gives the hooked one in both cases.)"""
    def run(m):
        x = leaf(m, [1.0, -2.0])
        x.register_hook(lambda g: g.clamp(-1, 1))
        y = x * 2
        y.register_hook(lambda g: g * 10)
        loss = (y * y).sum() + (x * x).sum()
        gy = m.autograd.grad(loss, y, retain_graph=True)[0]
        return m.autograd.grad(loss, x)[0].numpy(), gy.numpy()

    for ours, theirs in zip(*both(run)):
        np.testing.assert_array_equal(ours, theirs)


def test_gradients_a_hook_kept_or_returned_do_not_change_on_the_next_backward():
    def run(m):
        x, seen = leaf(m, [1.0, 2.0]), []
        x.register_hook(seen.append)
        z, through = leaf(m, [1.0, 2.0]), []
        given = m.tensor([10.0, 10.0], dtype=m.float64)
        w = leaf(m, [1.0, 2.0])
        w.register_hook(lambda g: given)
        for _ in range(2):
            (x * 3).sum().backward()
            y = z + 0  # the same array reaches z's .grad
            y.register_hook(through.append)
            (y * 3).sum().backward()
            (w * 3).sum().backward()
        return ([s.numpy().copy() for s in seen], [s.numpy().copy() for s in through],
                given.numpy().copy(), w.grad.numpy())

    ours, theirs = both(run)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_retain_grad_follows_an_in_place_change():
    def run(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.retain_grad()
        y *= 3
        (y * y).sum().backward()
        return y.grad.numpy(), y.retains_grad, x.grad.numpy()

    (g, kept, gx), (tg, tkept, tgx) = both(run)
    np.testing.assert_array_equal(g, tg)
    assert kept and tkept
    np.testing.assert_array_equal(gx, tgx)


def test_detach_in_place_after_use_keeps_the_recorded_history():
    def run(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        z = (y * 3).sum()
        y.detach_()
        z.backward()
        return x.grad.numpy(), y.requires_grad

    (g, rg), (tg, trg) = both(run)
    np.testing.assert_array_equal(g, tg)
    assert rg is trg is False


def test_a_leaf_told_to_need_no_grad_after_use_gets_none_as_in_pytorch():
    def run(m):
        x = leaf(m, [1.0, 2.0])
        z = (x * 3).sum()
        x.requires_grad_(False)
        z.backward(), None
        return x.grad

    assert both(run) == (None, None)


def test_numpy_dot_of_tensors_is_numpy_s_dot_beyond_two_dimensions():
    """np.dot ran as matmul on every tensor: for 3-D operands NumPy's dot is another product
    (a (2, 3, 3, 5) result for (2, 3, 4) and (3, 4, 5)); matmul's only where the two agree."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4, 5))
    ta, tb = (nerve.tensor(v, dtype=nerve.float64) for v in (a, b))
    np.testing.assert_allclose(np.dot(ta, tb), np.dot(a, b))
    assert np.dot(nerve.tensor(2.0), nerve.tensor(3.0)) == 6.0
    with pytest.raises(TypeError, match="numpy.dot"):
        np.dot(nerve.tensor(a, dtype=nerve.float64, requires_grad=True), tb)
    w = nerve.tensor(a[0], dtype=nerve.float64, requires_grad=True)
    out = np.dot(w, nerve.tensor(b[0], dtype=nerve.float64))  # 2-D: nerve's matmul, in the graph
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones((3, 5)) @ b[0].T)
