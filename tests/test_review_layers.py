"""From the review of the layers, init and nn.utils against PyTorch 2.13: each case here was
silently different (or refused where PyTorch works) before its fix."""

import contextlib
import math
import signal

import numpy as np
import pytest
import torch

import nerve
from nerve import nn


def _pair(seed=0):
    nerve.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.tensor(np.asarray(v))
                            for k, v in ours.state_dict().items()})
    return ours, theirs


def test_a_penalty_on_parameters_to_vector_reaches_the_parameters():
    """It was a detached copy: an L2 term built on it gave no gradient."""
    ours, theirs = _pair()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    loss = ours(nerve.tensor(x)).sum() + 0.5 * (nn.utils.parameters_to_vector(
        ours.parameters()) ** 2).sum()
    tloss = theirs(torch.tensor(x)).sum() + 0.5 * (torch.nn.utils.parameters_to_vector(
        theirs.parameters()) ** 2).sum()
    loss.backward()
    tloss.backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_with_a_nan_total_makes_every_gradient_nan_as_pytorch():
    ours, theirs = _pair()
    for model in (ours, theirs):
        for i, p in enumerate(model.parameters()):
            g = np.ones(tuple(p.shape), "float32")
            if i == 1:
                g[0] = np.nan
            p.grad = nerve.tensor(g) if model is ours else torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    assert math.isnan(float(total)) and math.isnan(float(ttotal))
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(q.grad.numpy()))
    assert all(np.isnan(p.grad.numpy()).all() for p in ours.parameters())


@pytest.mark.parametrize("layer", ["Dropout", "Dropout2d"])
def test_dropout_of_one_drops_everything_as_pytorch(layer):
    x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype("float32"),
                     requires_grad=True)
    y = getattr(nn, layer)(p=1.0)(x)
    assert np.all(y.detach().numpy() == 0)
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0)
    with nerve.no_grad():
        out = getattr(nn, layer)(p=1.0).eval()(x)
    assert np.array_equal(out.detach().numpy(), x.detach().numpy())
    ty = getattr(torch.nn, layer)(p=1.0)(torch.tensor(x.detach().numpy()))
    assert torch.all(ty == 0)
    nn.LSTM(2, 3, num_layers=2, dropout=1.0)  # accepted, as in PyTorch


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # PyTorch's, for 2-D
@pytest.mark.parametrize("module", [nn.Softmax, nn.LogSoftmax])
def test_softmax_without_dim_on_three_or_more_dimensions_is_refused(module):
    """PyTorch's implicit dim (0 for 3-D, 1 for 4-D: deprecated) is rarely the classes' axis,
    and nerve took the last: the same code gave other probabilities, silently."""
    x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32"))
    with pytest.raises(ValueError, match="expected dim="):
        module()(x)
    fn = nn.functional.softmax if module is nn.Softmax else nn.functional.log_softmax
    with pytest.raises(ValueError, match="expected dim="):
        fn(x)
    tfn = torch.softmax if module is nn.Softmax else torch.log_softmax
    for d in (0, 1, -1):
        np.testing.assert_allclose(module(dim=d)(x).numpy(), tfn(torch.tensor(x.numpy()), d),
                                   rtol=1e-6, atol=1e-6)
    two = x[0]
    np.testing.assert_allclose(module()(two).numpy(),  # 2-D: the last, as PyTorch's implicit
                               getattr(torch.nn, module.__name__)()(torch.tensor(two.numpy())),
                               rtol=1e-6, atol=1e-6)


def test_batchnorm_loads_a_state_dict_without_its_batch_counter():
    """Older PyTorch checkpoints have no num_batches_tracked; PyTorch keeps its own."""
    bn = nn.BatchNorm1d(3)
    bn(nerve.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype("float32")))
    state = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    fresh = nn.BatchNorm1d(3)
    result = fresh.load_state_dict(state)
    assert result.missing_keys == [] and int(fresh.num_batches_tracked) == 0
    np.testing.assert_array_equal(fresh.running_mean.numpy(), bn.running_mean.numpy())
    t = torch.nn.BatchNorm1d(3)
    assert t.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in state.items()}
                             ).missing_keys == []


# --- pieces PyTorch code reaches for, refused before -------------------------------------------
def test_unflatten_matches_pytorch_and_saves():
    x = np.random.default_rng(0).normal(size=(2, 24)).astype("float32")
    for dim, sizes in ((1, (2, 3, 4)), (-1, (4, -1)), (1, (24,))):
        ours = nn.Unflatten(dim, sizes)(nerve.tensor(x))
        theirs = torch.nn.Unflatten(dim, sizes)(torch.tensor(x))
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match="Unflatten"):
        nn.Unflatten(1, (5, 5))(nerve.tensor(x))
    with pytest.raises(ValueError, match="unflattened_size"):
        nn.Unflatten(1, (-1, -1))


def test_unflatten_in_a_saved_model(tmp_path):
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 12), nn.Unflatten(1, (3, 4)), nn.Flatten())
    nerve.save(model, tmp_path / "m.safetensors")
    again = nerve.load(tmp_path / "m.safetensors")
    x = nerve.randn(3, 4)
    np.testing.assert_array_equal(again(x).detach().numpy(), model(x).detach().numpy())
    assert again[1].unflattened_size == (3, 4)


def test_trunc_normal_orthogonal_and_eye_as_pytorchs():
    t = nerve.zeros(400, 500)
    nn.init.trunc_normal_(t, mean=0.5, std=2.0, a=-1.0, b=3.0)
    values = t.numpy()
    assert values.min() >= -1.0 and values.max() <= 3.0
    theirs = torch.nn.init.trunc_normal_(torch.zeros(400, 500), mean=0.5, std=2.0, a=-1.0, b=3.0)
    assert abs(values.mean() - float(theirs.mean())) < 0.02
    assert abs(values.std() - float(theirs.std())) < 0.02
    for shape, gain in (((30, 50), 1.0), ((50, 30), 2.0), ((8, 3, 3, 3), 1.0)):
        q = nerve.zeros(*shape)
        nn.init.orthogonal_(q, gain)
        m = q.numpy().reshape(shape[0], -1)
        small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)), atol=1e-5)
    e = nerve.zeros(3, 5)
    np.testing.assert_array_equal(nn.init.eye_(e).numpy(), torch.nn.init.eye_(
        torch.zeros(3, 5)).numpy())


def test_embedding_from_pretrained_as_pytorchs():
    table = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    ours = nn.Embedding.from_pretrained(table, padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), padding_idx=1)
    idx = [1, 3, 1, 0]
    np.testing.assert_array_equal(ours(nerve.tensor(idx)).numpy(),
                                  theirs(torch.tensor(idx)).detach().numpy())
    assert not ours.weight.requires_grad and ours.weight.requires_grad == \
        theirs.weight.requires_grad
    thawed = nn.Embedding.from_pretrained(table, freeze=False)
    thawed(nerve.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(thawed.weight.grad.numpy()[:, 0], [1, 2, 0, 1])
    table[0, 0] = 99.0  # a copy: the caller's table stays theirs
    assert float(ours.weight[0, 0]) == 0.0


def test_buffers_get_submodule_get_parameter_register_module():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert [tuple(b.shape) for b in model.buffers()] == [(4,), (4,), ()]
    assert model.get_submodule("1") is model[1] and model.get_submodule("") is model
    assert model.get_parameter("0.bias") is model[0].bias
    with pytest.raises(AttributeError, match="no submodule '5'"):
        model.get_submodule("5")
    with pytest.raises(AttributeError, match="no parameter 'gamma'"):
        model.get_parameter("1.gamma")
    model.register_module("extra", nn.ReLU())
    assert model.get_submodule("extra") is model.extra


def test_pytorchs_packed_fields_are_refused_not_read_as_other_arrays():
    """nerve's PackedSequence keeps a padded batch and the lengths; PyTorch's holds the real
    steps (data, batch_sizes). packed[0] gave the padded batch, another shape, silently."""
    seqs = [nerve.ones(3, 2), nerve.ones(1, 2)]
    packed = nn.utils.rnn.pack_sequence(seqs)
    for read in (lambda: packed[0], lambda: packed.data, lambda: packed.batch_sizes,
                 lambda: tuple(packed)):
        with pytest.raises(TypeError, match="pad_packed_sequence"):
            read()
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        getattr(packed, "nonsense")  # noqa: B009
    padded, lengths = nn.utils.rnn.pad_packed_sequence(packed)
    assert padded.shape == (3, 2, 2) and lengths.tolist() == [3, 1]
    out, _ = nn.LSTM(2, 4)(packed)
    assert nn.utils.rnn.pad_packed_sequence(out)[0].shape == (3, 2, 4)


# --- activations of modern networks, built from nerve's operations ---------------------------
ACTIVATIONS = [("SiLU", {}, "silu"), ("Mish", {}, "mish"), ("LogSigmoid", {}, "logsigmoid"),
               ("Softsign", {}, "softsign"), ("Hardtanh", {}, "hardtanh"),
               ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}, "hardtanh"),
               ("ReLU6", {}, "relu6"), ("ELU", {}, "elu"), ("ELU", {"alpha": 0.5}, "elu"),
               ("CELU", {"alpha": 2.0}, "celu"), ("SELU", {}, "selu"), ("GELU", {}, "gelu"),
               ("GELU", {"approximate": "tanh"}, "gelu")]


@pytest.mark.parametrize("name, kwargs, fn", ACTIVATIONS, ids=[f"{a}{b}" for a, b, _ in
                                                                 ACTIVATIONS])
def test_activation_matches_pytorch_values_and_gradients(name, kwargs, fn):
    """float64, with the bounds and 0 themselves among the inputs (Hardtanh's gradient is 0
    there in PyTorch), large magnitudes (the softplus threshold, LogSigmoid's stability)."""
    x = np.concatenate([np.random.default_rng(0).normal(size=40) * 4,
                        [-1.0, 1.0, 0.0, 6.0, -0.5, 2.0, 25.0, -40.0, 1e-8]])
    ours = nerve.tensor(x, dtype=nerve.float64, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y = getattr(nn, name)(**kwargs)(ours)
    ty = getattr(torch.nn, name)(**kwargs)(theirs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = np.random.default_rng(1).normal(size=x.shape)
    (y * nerve.tensor(w, dtype=nerve.float64)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    functional = getattr(nn.functional, fn)
    args = tuple(kwargs.values())
    np.testing.assert_array_equal(functional(ours, *args).detach().numpy(), y.detach().numpy())
    smooth = nerve.tensor(np.random.default_rng(2).normal(size=(3, 4)) * 0.7 + 0.05,
                          dtype=nerve.float64)
    assert nerve.gradcheck(getattr(nn, name)(**kwargs), (smooth,))


def test_new_activations_save_load_and_export(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.SiLU(), nn.Linear(8, 8), nn.Mish(),
                          nn.Hardtanh(-0.5, 0.5), nn.ReLU6(), nn.LogSigmoid(), nn.Softsign(),
                          nn.ELU(0.5), nn.CELU(2.0), nn.SELU(), nn.GELU(), nn.GELU("tanh"))
    path = tmp_path / "m.safetensors"
    nerve.save(model, path)
    again = nerve.load(path)
    assert again[4].min_val == -0.5 and isinstance(again[5], nn.ReLU6)
    assert again[-1].approximate == "tanh" and again[-2].approximate == "none"
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32") * 3
    with nerve.no_grad():
        expected = model(nerve.tensor(x)).numpy()
        np.testing.assert_array_equal(again(nerve.tensor(x)).numpy(), expected)
    nerve.onnx.export(model, tmp_path / "m.onnx", nerve.tensor(x))
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"))
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, 1.0)


def test_erf_is_the_c_library_s_with_the_kernel_and_without():
    """NumPy has no erf: the compiled loop and the value-by-value path both give Python's
    math.erf (computed in float64, then rounded), bit for bit, NaN and infinities included."""
    import math

    from nerve import jit

    x = np.concatenate([np.random.default_rng(0).normal(size=5000) * 3,
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, 6.0, -27.0]])
    expected = np.array([math.erf(v) for v in x])
    was = jit.enabled()
    try:
        for on in (True, False) if was else (False,):
            jit.enable(on)
            got = nerve.erf(nerve.tensor(x, dtype=nerve.float64)).numpy()
            np.testing.assert_array_equal(got, expected)
            assert np.signbit(got[5001])  # erf(-0) = -0
            got32 = nerve.erf(nerve.tensor(x.astype(np.float32))).numpy()
            assert got32.dtype == np.float32
            np.testing.assert_array_equal(
                got32, np.array([math.erf(float(v)) for v in x.astype(np.float32)],
                                dtype=np.float64).astype(np.float32))
    finally:
        jit.enable(was)
    assert nerve.erf(nerve.tensor([1, 2])).dtype == nerve.float32  # an int input: floats


def test_gelu_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("exact")
    with pytest.raises(ValueError, match="approximate"):
        nn.functional.gelu(nerve.ones(2), approximate="sigmoid")


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_linear_refuses_an_input_of_another_dtype(dtype):
    """PyTorch refuses it; NumPy would promote (an int64 batch made a float32 model's output,
    loss and gradients float64, and an ONNX export of the mixed graph failed)."""
    layer = nn.Linear(3, 2)
    x = nerve.tensor(np.ones((4, 3), dtype), dtype=getattr(nerve, dtype))
    for run in (lambda: layer(x), lambda: nn.functional.linear(x, layer.weight, layer.bias),
                lambda: nn.Sequential(layer, nn.ReLU())(x)):
        with pytest.raises(TypeError, match=f"dtype float32.*received {dtype}"):
            run()
    with nerve.no_grad(), pytest.raises(TypeError, match="weight's dtype"):
        nn.Sequential(layer)(x)
    assert layer(x.float()).dtype == nerve.float32


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", [("ELU", {}), ("ELU", {"alpha": 0.5}),
                                          ("CELU", {"alpha": 0.125}), ("CELU", {"alpha": 2.0}),
                                          ("SELU", {})])
def test_elu_family_gradient_at_large_inputs_is_pytorchs_not_nan(dtype, name, kwargs):
    """expm1 ran on every element: beyond ~89 (float32; ~709 float64; times alpha for CELU)
    it overflowed to inf on the branch ``where`` drops, whose gradient 0 * inf was NaN. At 0
    the gradient is alpha (x <= 0 branch), as PyTorch's. (CELU's alpha is exact in float32:
    the gradient of PyTorch's float64 CELU takes 1 / alpha rounded to float32.)"""
    x = np.array([-1e30, -800.0, -100.0, -1.0, 0.0, 1e-8, 1.0, 10.0, 100.0, 800.0, 1e30], dtype)
    ours = nerve.tensor(x, dtype=getattr(nerve, dtype), requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y, ty = getattr(nn, name)(**kwargs)(ours), getattr(torch.nn, name)(**kwargs)(theirs)
    y.sum().backward()
    ty.sum().backward()
    assert not np.isnan(ours.grad.numpy()).any()
    # the gradient e^x is expm1(x) + 1: right to an ulp of 1, not relatively, where e^x << 1
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-14, "atol": 1e-15}
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)


@contextlib.contextmanager
def _fails_after(seconds):
    """Turn a hang into a failure (the signal reaches the main thread's Python loop)."""
    def stop(*_):
        pytest.fail(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _truncated_normal_moments(mean, std, a, b):
    """Mean and std of N(mean, std^2) truncated to [a, b], by the formulas (upper tail: exact
    far out)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    if beta <= 0:  # mirror into the upper tail
        m, s = _truncated_normal_moments(-mean, std, -b, -a)
        return -m, s
    phi = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) if math.isfinite(z) else 0.0
           for z in (alpha, beta)]
    mass = (math.erfc(alpha / math.sqrt(2)) - math.erfc(beta / math.sqrt(2))) / 2
    shift = (phi[0] - phi[1]) / mass
    edges = sum(s * z * p for s, z, p in ((1, alpha, phi[0]), (-1, beta, phi[1])) if p)
    return mean + std * shift, std * math.sqrt(1 + edges / mass - shift ** 2)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, 6.0, 7.0), (1.0, 2.0, -13.0, -11.0),
                                             (0.0, 1.0, 30.0, 30.5), (0.0, 1.0, 2.5, math.inf),
                                             (0.0, 1.0, 0.5, 0.52), (0.0, 1.0, -0.1, 0.05),
                                             (0.5, 2.0, -1.0, 3.0), (0.0, 1.0, -2.0, 2.0)])
def test_trunc_normal_in_a_far_tail_finishes_with_the_truncated_distribution(mean, std, a, b):
    """Rejection from N(mean, std^2) needed about 1e9 rounds for [6, 7] std: it hung."""
    t = nerve.zeros(200, 1000, dtype=nerve.float64)
    with _fails_after(10):
        nn.init.trunc_normal_(t, mean, std, a, b)
    values = t.numpy()
    assert values.min() >= a and values.max() <= b
    expected_mean, expected_std = _truncated_normal_moments(mean, std, a, b)
    assert abs(values.mean() - expected_mean) < 0.01 * expected_std
    assert abs(values.std() - expected_std) < 0.01 * expected_std


def test_trunc_normal_keeps_pytorchs_distribution_in_the_ordinary_case():
    t = nerve.zeros(400, 500)
    nn.init.trunc_normal_(t)
    theirs = torch.nn.init.trunc_normal_(torch.zeros(400, 500))
    values = t.numpy()
    assert values.min() >= -2.0 and values.max() <= 2.0
    assert abs(values.mean() - float(theirs.mean())) < 0.015  # 5 standard errors
    assert abs(values.std() - float(theirs.std())) < 0.015


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
@pytest.mark.parametrize("mean", [0.0, 3.0])
def test_trunc_normal_refuses_a_zero_std(mean):
    """PyTorch raises ZeroDivisionError; with the mean outside [a, b] nerve looped forever,
    inside it filled with the mean."""
    with _fails_after(10), pytest.raises(ValueError, match=r"expected std in \(0, inf\)\. "
                                                         r"Received: std=0"):
        nn.init.trunc_normal_(nerve.zeros(10), mean=mean, std=0.0)


def test_linear_still_takes_a_numpy_array_in_its_weight_s_dtype():
    """The dtype check is for tensors, as PyTorch's: an array (float64 from NumPy) is
    converted to the weight's dtype, as F.linear, Conv and the norm layers convert it."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = np.random.default_rng(0).normal(size=(5, 3))
    expected = model(nerve.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(model(x).detach().numpy(), expected)
    with nerve.no_grad():
        assert model(x).dtype == nerve.float32


# --- PyTorch's flags that crashed: inplace=, dtype=, decoupled_weight_decay=, step(epoch) ---
def _in_place(m, case, y):
    f = m.nn.functional
    if case == "relu":
        return f.relu(y, inplace=True)
    if case == "leaky_relu":
        return f.leaky_relu(y, 0.2, inplace=True)
    if case == "LeakyReLU":
        return m.nn.LeakyReLU(0.2, inplace=True)(y)
    if case == "dropout-eval":
        return f.dropout(y, 0.5, False, True)
    return m.nn.Dropout(0.0, inplace=True)(y)


@pytest.mark.parametrize("case", ["relu", "leaky_relu", "LeakyReLU", "dropout-eval", "Dropout"])
def test_inplace_flags_write_into_the_input_as_pytorch(case):
    x0 = np.random.default_rng(0).normal(size=(4, 5))
    results = []
    for m in (nerve, torch):
        x = m.tensor(x0, dtype=m.float64, requires_grad=True)
        y = x * 2.0  # a non-leaf: in-place changes are allowed on it
        out = _in_place(m, case, y)
        assert out is y  # the input itself, changed
        (y * y).sum().backward()
        results.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_dropout_in_place_while_training_changes_the_input():
    nerve.manual_seed(0)
    x = nerve.tensor(np.ones((50, 40)), dtype=nerve.float64, requires_grad=True)
    y = x * 1.0
    out = nn.Dropout(0.5, inplace=True)(y)
    assert out is y
    values = set(np.unique(y.detach().numpy()).tolist())
    assert values == {0.0, 2.0}
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # 2 where kept, 0 else


def test_inplace_modules_save_and_load(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.3, inplace=True), nn.Dropout(0.2, True))
    nerve.save(model, tmp_path / "m.safetensors")
    again = nerve.load(tmp_path / "m.safetensors")
    assert again[1].inplace and again[1].negative_slope == 0.3 and again[2].inplace


def test_softmax_takes_pytorch_s_dtype():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for fn in ("softmax", "log_softmax"):
        ours = getattr(nn.functional, fn)(nerve.tensor(x), dim=1, dtype=nerve.float64)
        theirs = getattr(torch.nn.functional, fn)(torch.tensor(x), dim=1, dtype=torch.float64)
        assert ours.dtype == nerve.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_with_decoupled_weight_decay_is_pytorch_s(amsgrad):
    w0 = np.random.default_rng(0).normal(size=(300, 200))
    runs = []
    for m in (nerve, torch):
        w = m.nn.Parameter(m.tensor(w0, dtype=m.float64))
        opt = m.optim.Adam([w], lr=0.01, weight_decay=0.1, amsgrad=amsgrad,
                           decoupled_weight_decay=True)
        for _ in range(3):
            opt.zero_grad()
            ((w * w).sum() + w.sum()).backward()
            opt.step()
        assert opt.state_dict()["param_groups"][0]["decoupled_weight_decay"] is True
        runs.append(w.detach().numpy().copy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-10)
    adamw = nerve.optim.AdamW([nn.Parameter(nerve.ones(2))])
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True


def test_optimizer_files_without_the_decoupled_flag_load_as_their_class():
    for cls, expected in ((nerve.optim.Adam, False), (nerve.optim.AdamW, True)):
        opt = cls([nn.Parameter(nerve.ones(2))])
        state = opt.state_dict()
        del state["param_groups"][0]["decoupled_weight_decay"]  # a file of an older nerve
        again = cls([nn.Parameter(nerve.ones(2))])
        again.load_state_dict(state)
        assert again.param_groups[0]["decoupled_weight_decay"] is expected


def test_a_schedule_s_step_with_an_epoch_is_refused_with_the_way():
    opt = nerve.optim.SGD([nn.Parameter(nerve.ones(2))], lr=0.1)
    for schedule in (nerve.optim.lr_scheduler.StepLR(opt, 2),
                     nerve.optim.lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10)):
        with pytest.raises(TypeError, match="step\\(\\) once per epoch"):
            schedule.step(3)


@pytest.mark.parametrize("name, kwargs", [("SiLU", {}), ("Mish", {}), ("SELU", {}),
                                          ("ELU", {"alpha": 0.5}), ("CELU", {"alpha": 2.0}),
                                          ("Hardtanh", {}), ("ReLU6", {})])
def test_activation_modules_with_inplace_write_into_their_input(name, kwargs):
    """inplace=True was taken and ignored: the input stayed as it was, where PyTorch's
    changes it (code that reads the input after the layer read other values)."""
    results = []
    for m in (nerve, torch):
        x = m.tensor(np.linspace(-3, 7, 11), dtype=m.float64, requires_grad=True)
        y = x * 1.0
        assert getattr(m.nn, name)(inplace=True, **kwargs)(y) is y
        (y * y).sum().backward()
        results.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
