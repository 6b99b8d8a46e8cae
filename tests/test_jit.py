"""Compiled kernels (nerve.jit, numba: in the test extra so that CI runs them): each gives the
bits of the NumPy passes it replaces, is taken only where it may run, and never is where numba
is missing, broken or turned off."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import nerve
from nerve import jit, nn, optim
from nerve.optim import adam as adam_module
from nerve.optim import flat as flat_module

pytest.importorskip("numba", reason="numba is in the test extra: pip install -e '.[test]'")


def both_ways(monkeypatch, module, names, run):
    """``run()`` with the kernels on (for arrays of any size), then off; returns the two
    results and, for each, the names of the kernels in ``module`` it called, call by call."""
    monkeypatch.setattr(jit, "MIN_SIZE", 0)
    called = []
    for name in names:
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _k=kernel, _n=name: called.append(_n) or _k(*a))
    results, calls = [], []
    try:
        for on in (True, False):
            jit.enable(on)
            called.clear()
            results.append(run())
            calls.append(list(called))
    finally:
        jit._state["on"] = None
    return results, calls


def same_bits(ours, theirs, zero_signs=True):
    """Bit for bit, the sign of zeros included, NaN where NaN (which NaN, its sign, is the
    compiler's choice: x86 keeps the first operand's, and LLVM may swap a product's operands);
    ``zero_signs=False`` lets -0 and +0 count as one (max pooling, where the kernel gives
    PyTorch's +0 and NumPy -0)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
        nan = np.isnan(a)
        np.testing.assert_array_equal(nan, np.isnan(b))
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
        if not zero_signs:
            a, b = a + 0.0, b + 0.0  # -0 + 0 is +0; nothing else changes
        uint = f"u{a.dtype.itemsize}"
        np.testing.assert_array_equal(a.view(uint), b.view(uint))


def train(cls, kwargs, dtype, steps=6, seed=0, flat=True):
    nerve.manual_seed(seed)
    model = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype=dtype)
    opt = cls(model.parameters(), **kwargs)
    opt.flat = flat
    rng = np.random.default_rng(seed + 1)
    x = nerve.tensor(rng.normal(size=(20, 7)), dtype=getattr(nerve, dtype))
    y = nerve.tensor(rng.integers(0, 3, 20))
    for step in range(steps):
        if step == 3:  # a change of learning rate between steps, as a scheduler makes it
            opt.param_groups[0]["lr"] *= 0.5
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = [np.array(v) for s in opt.state_dict()["state"].values() for v in s.values()]
    return [p.detach().numpy().copy() for p in model.parameters()] + state


ADAMS = [(optim.Adam, {"lr": 0.01}), (optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
         (optim.AdamW, {"lr": 0.01}), (optim.AdamW, {"lr": 0.02, "weight_decay": 0.3,
                                                      "betas": (0.8, 0.99), "eps": 1e-6})]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls,kwargs", ADAMS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_adam_kernel_gives_the_bits_of_the_numpy_passes(monkeypatch, cls, kwargs, dtype):
    (ours, theirs), calls = both_ways(monkeypatch, adam_module, ["_adam_kernel"],
                                      lambda: train(cls, kwargs, dtype))
    assert len(calls[0]) == 6 and calls[1] == []
    same_bits(ours, theirs)


SGDS = [{"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.01}, {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", SGDS, ids=str)
def test_sgd_kernel_gives_the_bits_of_the_numpy_passes(monkeypatch, dtype, kwargs):
    from nerve.optim import sgd
    (ours, theirs), calls = both_ways(monkeypatch, sgd, ["_sgd_kernel"],
                                      lambda: train(optim.SGD, kwargs, dtype))
    first = 1 if kwargs.get("momentum") else 0  # the buffer's first step: NumPy's copy
    assert len(calls[0]) == 6 - first and calls[1] == []
    same_bits(ours, theirs)


RMSPROPS = [{"lr": 0.01}, {"lr": 0.01, "weight_decay": 0.1, "alpha": 0.9},
            {"lr": 0.01, "centered": True}, {"lr": 0.01, "momentum": 0.9},
            {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01, "eps": 1e-6}]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", RMSPROPS, ids=str)
def test_rmsprop_kernel_gives_the_bits_of_the_numpy_passes(monkeypatch, dtype, kwargs):
    from nerve.optim import rmsprop
    (ours, theirs), calls = both_ways(monkeypatch, rmsprop, ["_rmsprop_kernel"],
                                      lambda: train(optim.RMSprop, kwargs, dtype))
    assert len(calls[0]) == 6 and calls[1] == []
    same_bits(ours, theirs)


def test_adam_kernel_in_pieces_and_parameter_by_parameter(monkeypatch):
    """The flat group cut in pieces (large groups) and the parameters one by one (flat=False)
    give the same bits through the kernel as through NumPy."""
    monkeypatch.setattr(flat_module, "CHUNKED_MIN", 64)
    monkeypatch.setattr(flat_module, "CHUNK", 50)
    sizes = []
    kernel = adam_module._adam_kernel
    monkeypatch.setattr(adam_module, "_adam_kernel", lambda *a: sizes.append(a[0].size)
                        or kernel(*a))
    for flat, expected in ((True, {179, 50, 29}), (False, {112, 16, 48, 3})):
        sizes.clear()
        (ours, theirs), _ = both_ways(monkeypatch, adam_module, [], lambda flat=flat: train(
            optim.Adam, {"lr": 0.01}, "float32", steps=4, flat=flat))
        assert set(sizes) == expected  # the whole group, then its pieces; or each parameter
        same_bits(ours, theirs)


@pytest.mark.parametrize("kwargs,dtype", [({"lr": 0.01, "amsgrad": True}, "float32"),
                                          ({"lr": 1e-13}, "float32"),
                                          ({"lr": 0.01}, "float16")])
def test_adam_without_a_kernel_where_it_has_none(monkeypatch, kwargs, dtype):
    """amsgrad, a learning rate too small to fold, float16: NumPy's passes, no kernel."""
    def run():
        nerve.manual_seed(0)
        model = nn.Linear(5, 4).to(dtype=dtype)
        opt = optim.Adam(model.parameters(), **kwargs)
        (model(nerve.ones(2, 5, dtype=dtype)) ** 2).sum().backward()
        opt.step()
        return [model.weight.detach().numpy()]

    (ours, theirs), calls = both_ways(monkeypatch, adam_module, ["_adam_kernel"], run)
    assert calls == [[], []]
    same_bits(ours, theirs)


def test_usable_checks_every_array():
    a = np.zeros(8, np.float32)
    assert jit.usable(a, a.copy(), min_size=0) == jit.enabled()
    assert not jit.usable(a, np.zeros(8, np.float64), min_size=0)  # two dtypes
    assert not jit.usable(np.zeros(8, np.int64), min_size=0)
    assert not jit.usable(np.zeros((4, 4), np.float32)[:, 1], min_size=0)  # not contiguous
    assert not jit.usable(a, min_size=9)  # too small to pay
    assert not jit.usable(nerve.zeros(8), min_size=0)  # a Tensor, not an array


def test_enable_takes_a_bool_and_turns_the_kernels_off():
    try:
        jit.enable(False)
        assert not jit.enabled()
        assert not jit.usable(np.zeros(8, np.float32), min_size=0)
        with pytest.raises(TypeError, match="True or False"):
            jit.enable("yes")
        jit.enable(True)
        assert jit.enabled()
    finally:
        jit._state["on"] = None


def test_a_numba_that_does_not_import_means_numpy_and_one_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.setitem(jit._state, "numba", None)
    monkeypatch.setitem(jit._state, "on", True)
    with pytest.warns(RuntimeWarning, match="does not import"):
        assert not jit.usable(np.zeros(8, np.float32), min_size=0)
    assert not jit.enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not jit.usable(np.zeros(8, np.float32), min_size=0)  # said once
    jit._state["on"] = None


def _python(code: str, **env) -> str:
    import os
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_nerve_jit_0_turns_the_kernels_off_and_import_nerve_loads_no_numba():
    code = ("import sys, nerve, nerve.jit; import nerve.optim; "
            "print(nerve.jit.enabled(), 'numba' in sys.modules)")
    assert _python(code, NERVE_JIT="0") == "False False"
    assert _python(code, NERVE_JIT="1") == "True False"


def test_a_large_model_trains_through_the_kernel_by_default():
    """Without any setting, a group of MIN_SIZE elements or more takes the kernel."""
    code = ("import sys, nerve; from nerve import nn, optim; nerve.manual_seed(0); "
            "m = nn.Linear(256, 160); o = optim.Adam(m.parameters()); "
            "(m(nerve.ones(2, 256)) ** 2).sum().backward(); o.step(); "
            "from nerve.optim import adam; print(adam._adam_kernel.compiled is not None)")
    assert _python(code) == "True"


def _lstm_run(dtype, kwargs, lengths=None, seed=0, kind="LSTM"):
    nerve.manual_seed(seed)
    lstm = getattr(nn, kind)(3, 8, **kwargs).to(dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    shape = (5, 7, 3) if kwargs.get("batch_first") else (7, 5, 3)
    x = nerve.tensor(rng.normal(size=shape), dtype=dtype, requires_grad=True)
    if lengths is not None:
        x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=kwargs.get(
            "batch_first", False), enforce_sorted=False)
    out, state = lstm(x)
    h, c = state if kind == "LSTM" else (state, state)
    if lengths is not None:
        out = nn.utils.rnn.pad_packed_sequence(out, batch_first=kwargs.get("batch_first",
                                                                           False))[0]
    weights = nerve.tensor(rng.normal(size=out.shape), dtype=dtype)
    ((out * weights).sum() + (h * h).sum() + c.sum()).backward()
    grads = [p.grad.numpy() for p in lstm.parameters()]
    return [out.detach().numpy(), h.detach().numpy(), c.detach().numpy(), *grads]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bidirectional": True},
                                    {"batch_first": True, "bias": False}], ids=str)
def test_lstm_kernels_give_the_bits_of_the_numpy_passes(monkeypatch, dtype, kwargs):
    from nerve.ops.fused import recurrent
    (ours, theirs), calls = both_ways(monkeypatch, recurrent, ["_lstm_step_kernel",
                                                               "_lstm_back_kernel"],
                                      lambda: _lstm_run(dtype, kwargs))
    assert set(calls[0]) == {"_lstm_back_kernel", "_lstm_step_kernel"} and calls[1] == []
    same_bits(ours, theirs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bidirectional": True},
                                    {"batch_first": True, "bias": False}], ids=str)
def test_gru_kernels_give_the_bits_of_the_numpy_passes(monkeypatch, dtype, kwargs):
    from nerve.ops.fused import recurrent
    names = ["_gru_gates_kernel", "_gru_state_kernel", "_gru_back_kernel"]
    (ours, theirs), calls = both_ways(monkeypatch, recurrent, names,
                                      lambda: _lstm_run(dtype, kwargs, kind="GRU"))
    assert set(calls[0]) == set(names) and calls[1] == []
    same_bits(ours, theirs)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recurrent_kernels_with_a_nan_in_the_input(monkeypatch, kind, dtype):
    """NaN where NumPy's passes give NaN (found in review: which NaN differed in sign)."""
    from nerve.ops.fused import recurrent

    def run():
        nerve.manual_seed(0)
        layer = getattr(nn, kind)(2, 3).to(dtype=dtype)
        data = np.random.default_rng(1).normal(size=(4, 2, 2))
        data[1, 0, 1] = np.nan
        x = nerve.tensor(data, dtype=dtype, requires_grad=True)
        out, _ = layer(x)
        out.sum().backward()
        return [out.detach().numpy(), x.grad.numpy(), *(p.grad.numpy()
                                                         for p in layer.parameters())]

    (ours, theirs), calls = both_ways(monkeypatch, recurrent, [f"_{kind.lower()}_back_kernel"],
                                      run)
    assert calls[0] and np.isnan(ours[1]).any()
    same_bits(ours, theirs)


def test_gru_with_lengths_takes_the_numpy_passes(monkeypatch):
    from nerve.ops.fused import recurrent
    monkeypatch.setattr(jit, "MIN_SIZE", 0)
    for name in ("_gru_gates_kernel", "_gru_state_kernel", "_gru_back_kernel"):
        monkeypatch.setattr(recurrent, name, None)  # would fail if called
    try:
        jit.enable(True)
        out = _lstm_run("float32", {}, lengths=[7, 3, 5, 1, 7], kind="GRU")
    finally:
        jit._state["on"] = None
    assert np.all(out[0][3:, 1] == 0) and np.all(out[0][1:, 3] == 0)


def test_lstm_with_lengths_takes_the_numpy_passes(monkeypatch):
    """Padded sequences keep their state through the padding: NumPy's passes do that."""
    from nerve.ops.fused import recurrent
    monkeypatch.setattr(jit, "MIN_SIZE", 0)
    monkeypatch.setattr(recurrent, "_lstm_back_kernel", None)  # would fail if called
    monkeypatch.setattr(recurrent, "_lstm_step_kernel", None)
    try:
        jit.enable(True)
        out = _lstm_run("float32", {}, lengths=[7, 3, 5, 1, 7])
    finally:
        jit._state["on"] = None
    assert np.all(out[0][3:, 1] == 0) and np.all(out[0][1:, 3] == 0)


POOLS = [dict(kernel_size=2), dict(kernel_size=3), dict(kernel_size=2, stride=3),
         dict(kernel_size=(2, 3), padding=1), dict(kernel_size=2, dilation=2, stride=4),
         dict(kernel_size=3, stride=2)]  # the last: windows overlap, so NumPy's passes


def _pool_run(kwargs, x, one_d=False):
    """Pooled as a convolution's output is: channels-last memory (the kernel's layout)."""
    leaf = nerve.tensor(x, dtype=x.dtype, requires_grad=True)
    order = (0, 2, 1) if one_d else (0, 2, 3, 1)
    back = (0, 2, 1) if one_d else (0, 3, 1, 2)
    h = leaf.permute(*order).contiguous().permute(*back)
    y = (nn.functional.max_pool1d if one_d else nn.functional.max_pool2d)(h, **kwargs)
    weights = nerve.tensor(np.random.default_rng(2).normal(size=y.shape), dtype=x.dtype)
    (y * weights).sum().backward()
    return y.detach().numpy(), leaf.grad.numpy()


def _pools_both_ways(monkeypatch, kwargs, x, one_d=False):
    from nerve.ops.fused import pool
    (ours, theirs), calls = both_ways(monkeypatch, pool, ["_max_pool_kernel"],
                                      lambda: _pool_run(kwargs, x, one_d))
    same_bits(ours, theirs, zero_signs=False)
    return ours, len(calls[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", POOLS, ids=str)
def test_max_pool_kernels_give_the_bits_of_the_numpy_passes(monkeypatch, kwargs, dtype):
    x = np.random.default_rng(0).integers(-3, 4, size=(3, 4, 9, 11)).astype(dtype)  # ties
    (_, grad), calls = _pools_both_ways(monkeypatch, kwargs, x)
    assert calls == (0 if kwargs == POOLS[-1] else 1)
    assert grad.dtype == x.dtype


def test_max_pool_1d_kernel(monkeypatch):
    x = np.random.default_rng(0).integers(-3, 4, size=(2, 3, 13)).astype("float32")
    assert _pools_both_ways(monkeypatch, {"kernel_size": 2}, x, one_d=True)[1] == 1


@pytest.mark.parametrize("odd", [np.nan, -np.inf, np.inf])
def test_max_pool_kernel_leaves_nan_and_infinities_to_numpy(monkeypatch, odd):
    """A NaN anywhere or an all -inf window: NumPy's rules (the NaN is the maximum, PyTorch's
    gradient rule); +inf is an ordinary maximum."""
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype("float32")
    x[1, 2, 3, 1] = odd
    if odd == -np.inf:
        x[0, 1, :2, :2] = odd
    (y, _), calls = _pools_both_ways(monkeypatch, {"kernel_size": 2}, x)
    assert calls == 1
    assert (np.isnan(y).any() if odd != odd else np.isinf(y).any())


def test_a_kernel_compiles_where_numba_cannot_cache_it(monkeypatch):
    """A read-only install with no writable cache: numba refuses cache=True; the kernel is
    compiled for the process instead."""
    numba = pytest.importorskip("numba")
    real = numba.njit

    def njit(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(**options)

    monkeypatch.setattr(numba, "njit", njit)
    kernel = jit.kernel(lambda a, b: a + b)
    assert kernel(2, 3) == 5


def test_max_pool_kernel_gives_pytorchs_signs_of_zero(monkeypatch):
    """Of tied zeros the first; +0 where the gradient is not taken (PyTorch's values, which
    NumPy's passes give up to the sign of zero)."""
    torch = pytest.importorskip("torch")
    x = np.array([[[[0.0, -0.0, 1.0, 0.0], [-0.0, 0.0, 0.5, 0.5]]]], np.float32)
    from nerve.ops.fused import pool
    (ours, _), _ = both_ways(monkeypatch, pool, [], lambda: _pool_run({"kernel_size": 2}, x))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, 2)
    (ty * torch.tensor(np.random.default_rng(2).normal(size=ty.shape))).sum().backward()
    same_bits(ours, [ty.detach().numpy(), tx.grad.numpy()])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_kernel_leaves_a_gradient_of_another_dtype_to_numpy(monkeypatch, kind):
    """A float64 gradient arriving at a float32 LSTM or GRU (a hook may return one): NumPy
    adds it before it rounds, so the kernel, which works in one dtype, stands aside."""
    from nerve.ops.fused import recurrent

    def run():
        nerve.manual_seed(0)
        lstm = getattr(nn, kind)(3, 8)
        x = nerve.tensor(np.random.default_rng(1).normal(size=(7, 5, 3)), requires_grad=True)
        out, _ = lstm(x)
        out.register_hook(lambda g: g.numpy().astype("float64") / 3)
        out.sum().backward()
        return [x.grad.numpy(), lstm.weight_hh_l0.grad.numpy()]

    (ours, theirs), calls = both_ways(monkeypatch, recurrent, [f"_{kind.lower()}_back_kernel"],
                                      run)
    assert calls == [[], []]
    same_bits(ours, theirs)


@pytest.mark.parametrize("cls", [optim.Adam, optim.SGD])
def test_a_weight_decay_that_is_zero_in_float32_is_still_applied(monkeypatch, cls):
    """1e-46 is 0 in float32: NumPy's passes decide on the Python number (inf * 0 = NaN),
    and so does the kernel."""
    def run():
        p = nerve.tensor(np.array([np.inf, 1.0], np.float32), requires_grad=True)
        opt = cls([p], lr=0.1, weight_decay=1e-46)
        p.grad = np.array([0.5, 0.5], np.float32)
        with np.errstate(invalid="ignore"):  # inf * 0, on purpose
            opt.step()
        return [p.detach().numpy()]

    from nerve.optim import sgd
    module = adam_module if cls is optim.Adam else sgd
    (ours, theirs), calls = both_ways(monkeypatch, module, [f"_{cls.__name__.lower()}_kernel"],
                                      run)
    assert len(calls[0]) == 1 and np.isnan(ours[0][0])
    same_bits(ours, theirs)
