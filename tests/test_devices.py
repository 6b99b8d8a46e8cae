"""Devices in PyTorch's spelling, tested twice: on a stand-in GPU (``tests/fake_cuda.py``: NumPy
underneath, an array type of its own, as strict as CuPy about host arrays), which runs
everywhere, and on a real GPU through CuPy, where one is present (the ``gpu`` marker: skipped,
with the reason, on machines without CuPy or a GPU, such as CI's; ``pytest -m gpu`` runs them
alone on a GPU machine).

Training the same models on the device and on the CPU to the same parameters proves that
every operation they use is device-neutral (takes its array module from its inputs, makes no
host array on the way); ``benchmarks/gpu_check.py`` adds timings beside PyTorch on a GPU.
"""

from __future__ import annotations

import builtins
import copy
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import nerve
from nerve import backend, nn
from nerve.optim import SGD, Adam
from tests.fake_cuda import FakeCudaArray, fake, fake_gpu_registered


class Device(NamedTuple):
    kind: str  # "stand-in" or "cuda"
    array_type: type  # its arrays' type
    atol: float  # how close its float32 results come to the CPU's (exact NumPy, or cuBLAS)


def _real_gpu():
    """CuPy where it imports and sees a GPU, else None."""
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # a CuPy without its CUDA libraries, or without a driver
        return None


@pytest.fixture(params=["stand-in", pytest.param("cuda", marks=pytest.mark.gpu)])
def gpu(request):
    """The GPU of a test: the stand-in, then a real one through CuPy where present."""
    if request.param == "stand-in":
        with fake_gpu_registered():
            yield Device("stand-in", FakeCudaArray, 1e-6)
        return
    cupy = _real_gpu()
    if cupy is None:
        pytest.skip("GPU test: needs CuPy and an NVIDIA GPU (pip install \".[cuda12]\"); "
                    "the same test ran on the stand-in GPU")
    import nerve.cuda

    nerve.cuda._use_backend(cupy, cupy.ndarray)  # what nerve.cuda.require() does on first use
    try:
        yield Device("cuda", cupy.ndarray, 1e-4)
    finally:
        nerve.cuda._use_backend(None)


@pytest.fixture
def stand_in():
    with fake_gpu_registered() as module:
        yield module


def _on_gpu(t) -> bool:
    """True for a tensor (or array) on the GPU: an array of a registered type other than
    NumPy's (the stand-in's or CuPy's)."""
    data = getattr(t, "_data", t)
    return backend.is_array(data) and type(data) is not np.ndarray


# --- without a GPU backend ------------------------------------------------------------------
def test_no_cupy_here_and_import_nerve_does_not_import_it():
    assert "cupy" not in sys.modules
    assert nerve.cuda.is_available() is False
    assert nerve.cuda.device_count() == 0
    nerve.cuda.manual_seed(1)  # no-ops without a GPU, as in PyTorch
    nerve.cuda.manual_seed_all(1)


@pytest.mark.parametrize("make", [
    lambda: nerve.tensor([1.0], device="cuda"),
    lambda: nerve.zeros(2, device="cuda"),
    lambda: nerve.tensor([1.0]).cuda(),
    lambda: nerve.tensor([1.0]).to("cuda:0"),
    lambda: nn.Linear(2, 2).to("cuda"),
])
def test_asking_for_cuda_without_cupy_names_the_package(make, monkeypatch):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(ImportError) as info:
        make()
    message = str(info.value)
    assert "pip install cupy-cuda12x" in message and "cupy-cuda13x" in message
    assert 'pip install ".[cuda12]"' in message and "nerve[" not in message


def test_cupy_without_a_gpu_says_no_gpu_is_visible(monkeypatch):
    fake.device_count = 0
    try:
        monkeypatch.setitem(sys.modules, "cupy", fake)
        with pytest.raises(RuntimeError, match="no GPU is visible"):
            nerve.zeros(2, device="cuda")
        assert nerve.cuda.is_available() is False
    finally:
        fake.device_count = 1


def test_naming_a_device_checks_its_spelling():
    assert str(nerve.device("cuda", 1)) == "cuda:1" and nerve.device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:<index>'"):
        nerve.device("tpu")
    with pytest.raises(ValueError, match="cuda:x"):
        nerve.device("cuda:x")


# --- tensors on the device ------------------------------------------------------------------
def test_is_available_with_a_gpu(gpu):
    assert nerve.cuda.is_available() and nerve.cuda.device_count() >= 1
    assert nerve.cuda.current_device() == 0
    name = nerve.cuda.get_device_name()
    assert ("Fake GPU" in name) if gpu.kind == "stand-in" else (isinstance(name, str) and name)


@pytest.mark.parametrize("make", [
    lambda d: nerve.tensor([[1.0, 2.0]], device=d), lambda d: nerve.zeros(2, 3, device=d),
    lambda d: nerve.ones(2, device=d), lambda d: nerve.full((2,), 7.0, device=d),
    lambda d: nerve.empty(2, device=d), lambda d: nerve.eye(3, device=d),
    lambda d: nerve.arange(5, device=d), lambda d: nerve.linspace(0, 1, 5, device=d),
    lambda d: nerve.logspace(0, 1, 5, device=d), lambda d: nerve.randn(2, 3, device=d),
    lambda d: nerve.rand(4, device=d), lambda d: nerve.randint(0, 5, (3,), device=d),
    lambda d: nerve.normal(0.0, 1.0, size=(3,), device=d),
    lambda d: nerve.as_tensor(np.ones(2), device=d),
    lambda d: nerve.zeros_like(nerve.ones(2), device=d),
    lambda d: nerve.randn_like(nerve.ones(2), device=d),
])
def test_creation_on_the_device(gpu, make):
    t = make("cuda")
    assert _on_gpu(t) and t.device == nerve.device("cuda:0") and t.is_cuda
    assert str(t.device) == "cuda:0"
    assert not _on_gpu(make("cpu")) and make("cpu").device == "cpu"


def test_like_functions_keep_the_device_and_dtype(gpu):
    t = nerve.ones(2, 3, dtype=nerve.float64, device="cuda")
    for like in (nerve.zeros_like, nerve.ones_like, nerve.empty_like, nerve.rand_like,
                 nerve.randn_like, lambda x: nerve.full_like(x, 2.0)):
        out = like(t)
        assert _on_gpu(out) and out.dtype == nerve.float64 and out.shape == (2, 3)


def test_moves_copy_and_to_the_same_device_returns_self(gpu):
    host = nerve.tensor([1.0, 2.0, 3.0])
    dev = host.to("cuda")
    assert _on_gpu(dev) and np.array_equal(dev._data.get(), host.numpy())
    dev._data[0] = 10.0
    assert host[0].item() == 1.0  # a copy, not a view
    assert dev.to("cuda") is dev and dev.cuda() is dev and host.cpu() is host
    back = dev.cpu()
    assert type(back._data) is np.ndarray and back.tolist() == [10.0, 2.0, 3.0]
    assert host.cuda(0).device == "cuda:0" and host.to(device=nerve.device("cuda")).is_cuda
    both = host.to("cuda", nerve.float64)
    assert _on_gpu(both) and both.dtype == nerve.float64


def test_a_move_stays_in_the_graph(gpu):
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x.to("cuda") * 3).sum()
    y.backward()
    assert type(x.grad._data) is np.ndarray and x.grad.tolist() == [3.0, 3.0]


def test_numpy_refuses_a_gpu_tensor_as_pytorch_does(gpu):
    t = nerve.ones(2, device="cuda")
    message = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
               "tensor to host memory first.")
    with pytest.raises(TypeError) as info:
        t.numpy()
    assert str(info.value) == message
    with pytest.raises(TypeError, match="can't convert cuda:0"):
        t.__array__()
    assert t.cpu().numpy().tolist() == [1.0, 1.0] and t.tolist() == [1.0, 1.0]
    assert t.sum().item() == 2.0 and "device='cuda:0'" in repr(t)


CROSS = "Expected all tensors to be on the same device, but found at least two devices, "


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a @ b.T,
    lambda a, b: nerve.cat([a, b]), lambda a, b: nerve.where(a > 0, a, b),
])
def test_an_operation_across_devices_raises_naming_both(gpu, op):
    a, b = nerve.ones(2, 3, device="cuda"), nerve.ones(2, 3)
    with pytest.raises(RuntimeError) as info:
        op(a, b)
    assert str(info.value).startswith(CROSS + "cuda:0 and cpu!")
    with pytest.raises(RuntimeError, match=CROSS + "cpu and cuda:0!"):
        op(b, a)
    with nerve.no_grad(), pytest.raises(RuntimeError, match=CROSS):
        op(a.requires_grad_(), b)


def test_a_layer_and_a_loss_across_devices_raise(gpu):
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=CROSS + "cuda:0 and cpu!"):
        layer(nerve.ones(4, 3, device="cuda"))
    layer.cuda()
    with pytest.raises(RuntimeError, match=CROSS):
        layer(nerve.ones(4, 3))
    logits = layer(nerve.ones(4, 3, device="cuda"))
    with pytest.raises(RuntimeError, match=CROSS):
        nn.CrossEntropyLoss()(logits, nerve.tensor([0, 1, 0, 1]))
    with pytest.raises(RuntimeError, match=CROSS):
        nn.MSELoss()(logits, nerve.zeros(4, 2))
    assert nn.CrossEntropyLoss()(logits, nerve.tensor([0, 1, 0, 1], device="cuda")).is_cuda


def test_python_numbers_follow_the_tensor(gpu):
    t = nerve.tensor([1.0, -2.0], device="cuda", requires_grad=True)
    out = (2 * t + 1.5 - t ** 2 / 3).abs().clamp(max=2.0).mean()
    out.backward()
    assert _on_gpu(out) and _on_gpu(t.grad)


# --- models on the device -------------------------------------------------------------------
def test_module_to_moves_parameters_grads_and_buffers_in_place(gpu):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    weight = model[0].weight
    model(nerve.randn(5, 3)).sum().backward()
    assert model.cuda() is model and model[0].weight is weight  # the same Parameter objects
    assert all(_on_gpu(p) and _on_gpu(p.grad) for p in model.parameters())
    assert all(_on_gpu(b) for _, b in model.named_buffers())  # running stats, count
    model(nerve.randn(5, 3, device="cuda"))  # the running stats update on the device
    assert _on_gpu(model[1].running_mean)
    assert model.to("cpu") is model
    assert all(type(p._data) is np.ndarray for p in model.parameters())
    assert all(type(b._data) is np.ndarray for _, b in model.named_buffers())
    model.to("cuda", nerve.float64)
    assert model[0].weight.dtype == nerve.float64 and _on_gpu(model[0].weight)


def _mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _cnn():
    # BatchNorm after the ReLU: a bias just before it would get a gradient of rounding noise
    # (zero in exact arithmetic), which Adam turns into steps of size lr either way
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4),
                         nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(8, 10))


def _lstm():
    return nn.Sequential(nn.LSTM(8, 16, batch_first=True), nn.LastTimeStep(), nn.Linear(16, 10))


def _gru():
    return nn.Sequential(nn.GRU(8, 12, num_layers=2, batch_first=True), nn.LastTimeStep(),
                         nn.LayerNorm(12), nn.Tanh(), nn.Linear(12, 10))


def _train(make, x, y, device, steps=3, optimizer=Adam):
    """Train ``make()`` (built on the CPU from seed 0, then moved) for a few steps."""
    nerve.manual_seed(0)
    model = make().to(device)
    opt = optimizer(model.parameters(), lr=0.01)
    xd, yd = nerve.tensor(x, device=device), nerve.tensor(y, device=device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xd), yd)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, opt, losses


@pytest.mark.parametrize("make, shape", [(_mlp, (16, 1, 8, 8)), (_cnn, (16, 1, 8, 8)),
                                         (_lstm, (16, 5, 8)), (_gru, (16, 5, 8))],
                         ids=["mlp", "cnn", "lstm", "gru"])
def test_training_on_the_device_gives_the_cpu_parameters(gpu, make, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    if make is _mlp:
        x = x.reshape(16, 1, 8, 8)
    y = rng.integers(0, 10, 16)
    cpu_model, _, cpu_losses = _train(make, x, y, "cpu")
    gpu_model, opt, gpu_losses = _train(make, x, y, "cuda")
    assert np.allclose(cpu_losses, gpu_losses, rtol=0, atol=gpu.atol)
    for (name, a), (_, b) in zip(cpu_model.state_dict().items(),
                                 gpu_model.state_dict().items()):
        assert _on_gpu(b), name
        assert np.allclose(a, b.get(), rtol=0, atol=gpu.atol), name
    for state in opt.state.values():  # the optimizer's state lives beside its parameters
        assert all(_on_gpu(v) for v in state.values() if backend.is_array(v))
    flat = opt._flats[0]  # updated as one flat array on the device, as on the CPU
    assert _on_gpu(flat.data) and _on_gpu(flat.state["exp_avg"])


def test_dropout_draws_from_the_devices_seeded_generator(gpu):
    def masks():
        nerve.cuda.manual_seed(3)
        return [nn.functional.dropout(nerve.ones(50, device="cuda"), 0.5).cpu().tolist()
                for _ in range(2)]

    first, again = masks(), masks()
    assert first == again and first[0] != first[1]
    nerve.manual_seed(4)  # seeds every device too
    a = nerve.randn(5, device="cuda").cpu().tolist()
    nerve.manual_seed(4)
    assert nerve.randn(5, device="cuda").cpu().tolist() == a


def test_moving_a_model_after_its_optimizer_was_made_moves_the_state(gpu):
    """The optimizer's flat buffers are built again on the parameters' new device at the next
    step, with the state (Adam's moments) copied there: training goes on as on the CPU."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 16)
    reference, _, _ = _train(_mlp, x, y, "cpu", steps=4)
    model, opt, _ = _train(_mlp, x, y, "cpu", steps=2)
    model.cuda()
    xd, yd = nerve.tensor(x, device="cuda"), nerve.tensor(y, device="cuda")
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xd), yd).backward()
        opt.step()
    for a, b in zip(reference.parameters(), model.parameters()):
        assert _on_gpu(b) and np.allclose(a.detach().numpy(), b.detach().cpu().numpy(),
                                          atol=gpu.atol)
    assert all(_on_gpu(v) for s in opt.state.values() for v in s.values()
               if backend.is_array(v))
    assert _on_gpu(opt._flats[0].data)  # the flat buffers, built again there
    model.cpu()  # and back
    opt.zero_grad()
    nn.functional.cross_entropy(model(nerve.tensor(x)), nerve.tensor(y)).backward()
    opt.step()
    assert all(type(v) is np.ndarray for s in opt.state.values() for v in s.values()
               if backend.is_array(v))


def test_sgd_with_momentum_per_parameter_on_the_device(gpu):
    model = nn.Linear(4, 3).cuda()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.flat = False  # the per-parameter path
    for _ in range(2):
        opt.zero_grad()
        model(nerve.ones(2, 4, device="cuda")).sum().backward()
        opt.step()
    assert all(_on_gpu(p) for p in model.parameters())


# --- saving and loading ---------------------------------------------------------------------
def test_save_from_the_device_and_load_where_asked(gpu, tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).cuda()
    model(nerve.randn(6, 3, device="cuda"))
    path = tmp_path / "model.safetensors"
    nerve.save(model, path)
    expected = {k: v.get() for k, v in model.state_dict().items()}
    on_cpu = nerve.load(path)
    assert all(type(v) is np.ndarray for v in on_cpu.state_dict().values())
    for name in ("cuda", nerve.device("cuda:0")):
        for loaded in (nerve.load(path, map_location=name), nerve.load(path, device=name)):
            assert all(_on_gpu(v) for v in loaded.state_dict().values())
            for k, v in loaded.state_dict().items():
                assert np.array_equal(v.get(), expected[k])
    state_path = tmp_path / "state.safetensors"
    nerve.save(model.state_dict(), state_path)
    state = nerve.load(state_path, map_location="cuda")
    assert all(t.is_cuda for t in state.values())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).cuda()
    fresh.load_state_dict(nerve.load(state_path))  # CPU tensors into a model on the device
    assert all(_on_gpu(p) for p in fresh.parameters())
    with pytest.raises(TypeError, match="map_location or device"):
        nerve.load(path, map_location="cpu", device="cuda")


def test_a_checkpoint_from_the_device_resumes_on_the_cpu(gpu, tmp_path):
    from nerve.io import load_checkpoint, save_checkpoint

    model = nn.Linear(3, 2).cuda()
    opt = Adam(model.parameters())
    model(nerve.ones(2, 3, device="cuda")).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "ck.safetensors", model, opt, epoch=1)
    cpu_model = nn.Linear(3, 2)
    cpu_opt = Adam(cpu_model.parameters())
    load_checkpoint(tmp_path / "ck.safetensors", cpu_model, cpu_opt)
    assert np.array_equal(cpu_model.weight.detach().numpy(),
                          model.weight.detach().cpu().numpy())
    gpu_model = nn.Linear(3, 2).cuda()
    gpu_opt = Adam(gpu_model.parameters())
    load_checkpoint(tmp_path / "ck.safetensors", gpu_model, gpu_opt)
    assert all(_on_gpu(v) for s in gpu_opt.state.values() for v in s.values()
               if backend.is_array(v))


def test_the_stand_in_is_as_strict_as_cupy(stand_in):
    a = fake.ones(3)
    with pytest.raises(TypeError, match="host array"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="host array"):
        fake.concatenate([a, np.ones(3)])
    assert type(a.sum()) is FakeCudaArray and a.sum().ndim == 0
    assert type(fake.asarray(np.ones(2))) is FakeCudaArray


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed here: the script would run its checks")
def test_the_gpu_check_script_exits_at_once_without_cupy():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "CuPy is not available here" in proc.stdout and "Nothing measured" in proc.stdout


def test_fit_evaluate_and_predict_move_each_batch_to_the_model_device(gpu):
    """fit, evaluate and predict take NumPy data for a model on the GPU: each batch goes to
    the model's device, metrics are computed on the host, predictions come back as NumPy."""
    x, y = nerve.data.make_spirals(96, seed=0)
    results = []
    for device in ("cpu", "cuda"):
        nerve.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)).to(device)
        history = nerve.fit(model, x, y, loss="cross_entropy", epochs=2, batch_size=32,
                            validation_split=0.25, seed=0, verbose=0)
        assert _on_gpu(model[0].weight) == (device == "cuda")
        figures = nerve.evaluate(model, x, y, loss="cross_entropy")
        out = nerve.predict(model, x)
        assert type(out) is np.ndarray
        results.append((history, figures, out))
    (h_cpu, e_cpu, p_cpu), (h_gpu, e_gpu, p_gpu) = results
    exact = gpu.kind == "stand-in"  # a real GPU rounds otherwise: a borderline point may flip
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-5 if exact else 1e-3,
                                   atol=0 if exact else 1 / 48, err_msg=key)
    assert abs(e_gpu["accuracy"] - e_cpu["accuracy"]) <= (0 if exact else 1 / 96)
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-5, atol=1e-6 if exact else gpu.atol)


@pytest.mark.parametrize("call", [
    lambda: nn.functional.nll_loss(nerve.randn(4, 3, device="cuda"), nerve.tensor([0, 1, 2, 0])),
    lambda: nn.Embedding(5, 2).cuda()(nerve.tensor([1, 2])),
    lambda: nn.Embedding(5, 2)(nerve.tensor([1, 2], device="cuda")),
    lambda: nerve.randn(4, 3, device="cuda").index_select(0, nerve.tensor([1, 2])),
    lambda: nerve.randn(4, 3).index_select(0, nerve.tensor([1, 2], device="cuda")),
])
def test_integer_indices_on_another_device_are_refused_too(gpu, call):
    """Found in review: targets and indices travel as options of their node, not inputs, so
    the check in Function.apply did not see them."""
    with pytest.raises(RuntimeError, match="same device.*cuda:0 and cpu|same device.*cpu and"):
        call()


LAYERS_MADE_ON = [lambda d: nn.Linear(3, 4, device=d), lambda d: nn.Conv2d(1, 2, 3, device=d),
                  lambda d: nn.Conv1d(2, 2, 3, device=d), lambda d: nn.Embedding(5, 2, device=d),
                  lambda d: nn.BatchNorm2d(3, device=d), lambda d: nn.LayerNorm(3, device=d),
                  lambda d: nn.LSTM(3, 4, device=d), lambda d: nn.GRU(3, 4, device=d),
                  lambda d: nn.RNN(3, 4, nonlinearity="relu", device=d),
                  lambda d: nn.LSTMCell(3, 4, device=d), lambda d: nn.GRUCell(3, 4, device=d),
                  lambda d: nn.RNNCell(3, 4, device=d)]


@pytest.mark.parametrize("make", LAYERS_MADE_ON)
def test_layers_take_pytorch_s_device_keyword(gpu, make):
    layer = make("cuda")
    assert all(_on_gpu(t) for t in layer.parameters()) and all(_on_gpu(b) for b in
                                                             layer.buffers())
    assert all(not _on_gpu(t) for t in make("cpu").parameters())
    assert not _on_gpu(make(None).parameters().__next__())


@pytest.mark.parametrize("kwargs", [{"weight_decay": 0.1}, {"weight_decay": 0.1,
                                                           "decoupled_weight_decay": True},
                                    {}])
def test_adam_on_the_gpu_updates_as_on_the_cpu(gpu, kwargs):
    """On CuPy the update is one ElementwiseKernel (nerve.cuda.elementwise); on the stand-in,
    NumPy's passes: both end where the CPU ends, for a flat group of two parameters."""
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(300, 200)).astype(np.float32), rng.normal(size=200)
              .astype(np.float32)]
    ends = []
    for device in ("cpu", "cuda"):
        params = [nn.Parameter(nerve.tensor(v, device=device)) for v in values]
        opt = Adam(params, lr=0.01, **kwargs)
        for _ in range(4):
            opt.zero_grad()
            ((params[0] * params[0]).sum() + (params[0] @ params[1]).sum()).backward()
            opt.step()
        ends.append([p.detach().cpu().numpy() for p in params])
    for cpu, on_gpu in zip(*ends):
        np.testing.assert_allclose(on_gpu, cpu, rtol=1e-5, atol=1e-6)


_DIAGONAL_OPS = {"diagonal": lambda x: nerve.diagonal(x, 1), "diag": nerve.diag,
                 "trace": nerve.trace, "einsum_diagonal": lambda x: nerve.einsum("ii->i", x)}


@pytest.mark.parametrize("op", list(_DIAGONAL_OPS))
def test_diagonal_operations_run_on_the_gpu(gpu, op):
    """Their backward writes through a diagonal view: CuPy's is writable, NumPy's is not."""
    values = np.random.default_rng(0).normal(size=(4, 4))
    results = []
    for device in ("cpu", "cuda"):
        x = nerve.tensor(values, dtype=nerve.float64, device=device, requires_grad=True)
        y = _DIAGONAL_OPS[op](x)
        (y * y).sum().backward()
        results.append((y.detach().cpu().numpy(), x.grad.cpu().numpy()))
    for cpu, on_gpu in zip(*results):
        np.testing.assert_allclose(on_gpu, cpu, rtol=1e-12)


F = nn.functional
_LATER_OPS = {  # operations and layers added after the device tests were written
    "repeat_interleave": ([(2, 3)], lambda x: x.repeat_interleave(2, dim=1)),
    "hstack_diff": ([(2, 3), (2, 3)], lambda a, b: nerve.diff(nerve.hstack([a, b]))),
    "kron_block_diag": ([(2, 2), (1, 3)], lambda a, b: nerve.kron(nerve.block_diag(a, b), a)),
    "logaddexp_fmax": ([(3,), (3,)], lambda a, b: nerve.logaddexp(a, b) + nerve.fmax(a, b)),
    "cummax_logcumsumexp": ([(2, 4)], lambda x: nerve.cummax(x, 1).values
                            + nerve.logcumsumexp(x, 1)),
    "cdist_quantile_cov": ([(3, 2), (4, 2)], lambda a, b: nerve.cdist(a, b).sum()
                           + nerve.quantile(a, 0.3) + nerve.cov(b.T).sum()),
    "linalg": ([(3, 3)], lambda x: nerve.linalg.inv(x + 3 * nerve.eye(3, dtype=x.dtype,
                                                                      device=x.device)).sum()
               + nerve.linalg.det(x) + nerve.linalg.svdvals(x).sum()),
    "attention": ([(2, 3, 4), (2, 5, 4), (2, 5, 2)],
                  lambda q, k, v: F.scaled_dot_product_attention(q, k, v)),
    "conv_transpose2d": ([(1, 2, 4, 4), (2, 3, 3, 3)],
                         lambda x, w: F.conv_transpose2d(x, w, stride=2)),
    "interpolate": ([(1, 2, 3, 3)], lambda x: F.interpolate(x, scale_factor=2, mode="bilinear")
                    .sum() + F.interpolate(x, size=(5, 4)).sum()),
    "unfold_fold_pool": ([(1, 2, 4, 4)], lambda x: F.fold(F.unfold(x, 2), (4, 4), 2).sum()
                         + F.adaptive_max_pool2d(x, 3).sum()),
    "activations_pad": ([(1, 2, 4, 4)], lambda x: F.hardswish(F.pad(x, (1, 1, 1, 1),
                                                                    mode="reflect")).sum()
                        + F.glu(x).sum() + F.softshrink(x).sum()),
    "losses": ([(4, 3), (4, 3), (4, 3)], lambda a, p, n: F.triplet_margin_loss(a, p, n)
               + F.poisson_nll_loss(a, p.abs()) + F.gaussian_nll_loss(a, p, n.abs() + 0.1)),
}


@pytest.mark.parametrize("op", list(_LATER_OPS))
def test_later_operations_run_on_the_gpu(gpu, op):
    """Their array code takes its module from the inputs: the same values and gradients on
    the device as on the CPU."""
    shapes, fn = _LATER_OPS[op]
    arrays = [np.random.default_rng(i).normal(size=s) for i, s in enumerate(shapes)]
    results = []
    for device in ("cpu", "cuda"):
        xs = [nerve.tensor(a, dtype=nerve.float64, device=device, requires_grad=True)
              for a in arrays]
        y = fn(*xs)
        (y * y).sum().backward()
        results.append([y.detach().cpu().numpy()] + [x.grad.cpu().numpy() for x in xs])
    for cpu, on_gpu in zip(*results):
        np.testing.assert_allclose(on_gpu, cpu, rtol=1e-10, atol=1e-12)


def test_transformer_layers_train_on_the_gpu(gpu):
    nerve.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    x = np.random.default_rng(0).normal(size=(5, 2, 8)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        model = copy.deepcopy(layer).to(device)
        out = model(nerve.tensor(x, device=device))
        out.square().mean().backward()
        results.append([out.detach().cpu().numpy()] + [p.grad.cpu().numpy()
                                                         for p in model.parameters()])
    for cpu, on_gpu in zip(*results):
        np.testing.assert_allclose(on_gpu, cpu, rtol=1e-4, atol=gpu.atol * 10)
