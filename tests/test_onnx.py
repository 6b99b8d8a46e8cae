"""ONNX export: every exportable layer and operation, alone and in the models of the docs (an
MLP, the MNIST CNN, LSTM and GRU forecasters), gives in ONNX Runtime what nerve's forward gives,
at the traced batch size and another; what cannot be exported says why."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nerve
import nerve.onnx
from nerve import nn
from nerve.onnx import OnnxExportError

RTOL, ATOL = 1e-4, 1e-5


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [out.numpy()]


def _inputs(make, batch: int):
    x = make(batch)
    return x if isinstance(x, tuple) else (x,)


def roundtrip(model, make, tmp_path, trace_batch=1, batches=(1, 7), **kwargs):
    """Export ``model`` traced on ``make(trace_batch)``; check the file and compare ONNX
    Runtime's outputs with nerve's at each batch size. Returns the ModelProto."""
    path = tmp_path / "model.onnx"
    example = _inputs(make, trace_batch)
    proto = nerve.onnx.export(model, path, example if len(example) > 1 else example[0],
                              **kwargs)
    assert isinstance(proto, onnx.ModelProto)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    model.eval()
    for batch in batches:
        xs = _inputs(make, batch)
        with nerve.no_grad():
            expected = _flat(model(*(nerve.tensor(x, dtype=x.dtype) for x in xs)))
        got = session.run(None, dict(zip(names, xs)))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape)
            np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)
    return proto


def randn(*shape):
    return lambda b: np.random.default_rng(b).standard_normal((b, *shape)).astype(np.float32)


@pytest.fixture(autouse=True)
def _seed():
    nerve.manual_seed(0)


class Lambda(nn.Module):
    """A forward written as a function of the input and a parameter (a custom Module)."""

    def __init__(self, fn, n=4):
        super().__init__()
        self.fn = fn
        self.w = nn.Parameter(nerve.randn(n, n))

    def forward(self, x):
        return self.fn(x, self.w)


class Forecaster(nn.Module):
    def __init__(self, cls, inputs=3, hidden=5):
        super().__init__()
        self.rnn = cls(inputs, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        o, _ = self.rnn(x)
        return self.fc(o[:, -1])


# --- the models ---------------------------------------------------------------------------------
def test_mlp(tmp_path):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Sigmoid(),
                          nn.Linear(16, 3), nn.LogSoftmax(dim=1))
    proto = roundtrip(model, randn(8), tmp_path)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Sigmoid", "Gemm",
                                                     "LogSoftmax", "Identity"]
    assert [i.name for i in proto.graph.initializer] == ["0.weight", "0.bias", "2.weight",
                                                         "2.bias", "4.weight", "4.bias"]
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("input", "output")
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_mnist_cnn(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
    proto = roundtrip(model, randn(1, 28, 28), tmp_path)
    assert [n.op_type for n in proto.graph.node][:7] == ["Conv", "Relu", "MaxPool", "Conv",
                                                         "Relu", "MaxPool", "Reshape"]


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_forecaster(tmp_path, cls):
    model = Forecaster(cls)
    proto = roundtrip(model, randn(6, 3), tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(cls.__name__) == 4  # 2 layers x 2 directions
    names = {i.name for i in proto.graph.initializer}
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l1_reverse", "fc.weight"} <= names


def test_forecaster_traced_at_another_batch_size(tmp_path):
    roundtrip(Forecaster(nn.LSTM), randn(4, 3), tmp_path, trace_batch=3, batches=(1, 2, 7))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_recurrent_layer_returns_pytorch_outputs(tmp_path, cls, layers, bidirectional):
    model = cls(3, 4, num_layers=layers, batch_first=True, bidirectional=bidirectional)
    proto = roundtrip(model, randn(5, 3), tmp_path)
    n_out = 3 if cls is nn.LSTM else 2  # output, h_n (, c_n)
    assert [o.name for o in proto.graph.output] == [f"output_{i}" for i in range(n_out)]
    h_n = proto.graph.output[1].type.tensor_type.shape.dim
    assert h_n[1].dim_param == "batch" and h_n[0].dim_value == layers * (1 + bidirectional)


@pytest.mark.parametrize("model", [nn.LSTM(3, 4, bias=False, batch_first=True),
                                   nn.GRU(3, 4, bias=False, batch_first=True),
                                   nn.RNN(3, 4, nonlinearity="relu", batch_first=True)])
def test_recurrent_options(tmp_path, model):
    roundtrip(model, randn(5, 3), tmp_path)


def test_time_major_recurrent_layer_with_a_fixed_batch(tmp_path):
    model = nn.LSTM(3, 4, num_layers=2, bidirectional=True)  # (T, N, I)
    make = lambda b: np.random.default_rng(b).standard_normal((5, 2, 3)).astype(np.float32)  # noqa: E731
    roundtrip(model, make, tmp_path, batches=(1,), dynamic_batch=False)


def test_recurrent_layer_with_initial_states(tmp_path):
    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4, batch_first=True)
            self.h = nn.Linear(3, 4)

        def forward(self, x):
            h0 = self.h(x[:, 0]).unsqueeze(0).tanh()
            return self.rnn(x, (h0, h0 * 0.5))[0]

    roundtrip(WithState(), randn(5, 3), tmp_path)


class CellLoop(nn.Module):
    def __init__(self, cls):
        super().__init__()
        self.cell = cls(3, 4)

    def forward(self, x):
        state = None
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        return state


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_recurrent_cells_in_a_loop(tmp_path, cls):
    roundtrip(CellLoop(cls), randn(3, 3), tmp_path)


# --- every layer alone ----------------------------------------------------------------------------
def _trained_batch_norm(layer, shape):
    layer.train()
    for _ in range(3):
        layer(nerve.randn(*shape) * 3 + 1)
    return layer


LAYERS = {
    "Linear": (nn.Linear(6, 4), randn(6)),
    "Linear-no-bias": (nn.Linear(6, 4, bias=False), randn(6)),
    "Linear-3d": (nn.Linear(6, 4), randn(5, 6)),
    "Step": (nn.Step(0.2), randn(6)),
    "ReLU": (nn.ReLU(), randn(6)),
    "ReLU-inplace": (nn.Sequential(nn.Linear(6, 6), nn.ReLU(inplace=True)), randn(6)),
    "Sigmoid": (nn.Sigmoid(), randn(6)),
    "Tanh": (nn.Tanh(), randn(6)),
    "Softplus": (nn.Softplus(), randn(6)),
    "Softplus-beta-threshold": (nn.Softplus(beta=2.0, threshold=1.0), randn(6)),
    "LeakyReLU": (nn.LeakyReLU(0.2), randn(6)),
    "Softmax": (nn.Softmax(dim=1), randn(6)),
    "LogSoftmax": (nn.LogSoftmax(dim=-1), randn(3, 6)),
    "Flatten": (nn.Flatten(), randn(2, 3, 4)),
    "Flatten-range": (nn.Flatten(2, 3), randn(2, 3, 4)),
    "Dropout": (nn.Dropout(0.5), randn(6)),
    "Dropout2d": (nn.Dropout2d(0.5), randn(2, 3, 3)),
    "Identity": (nn.Sequential(nn.Identity(), nn.Linear(6, 2)), randn(6)),
    "Conv1d": (nn.Conv1d(3, 4, 3, stride=2, padding=1), randn(3, 9)),
    "Conv1d-dilated": (nn.Conv1d(2, 4, 3, dilation=2, bias=False), randn(2, 9)),
    "Conv2d": (nn.Conv2d(2, 4, 3, stride=(2, 1), padding=1), randn(2, 7, 6)),
    "Conv2d-groups": (nn.Conv2d(4, 6, (3, 2), groups=2, dilation=(1, 2)), randn(4, 6, 7)),
    "Conv2d-same": (nn.Conv2d(2, 3, 4, padding="same"), randn(2, 6, 6)),
    "ConvTranspose1d": (nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1),
                        randn(3, 5)),
    "ConvTranspose2d": (nn.ConvTranspose2d(2, 4, 3, stride=(2, 1), padding=1), randn(2, 4, 5)),
    "ConvTranspose2d-groups": (nn.ConvTranspose2d(4, 6, (3, 2), stride=2, groups=2,
                                                  dilation=(1, 2), output_padding=(1, 0),
                                                  bias=False), randn(4, 3, 4)),
    "MaxPool1d": (nn.MaxPool1d(2), randn(3, 9)),
    "MaxPool2d": (nn.MaxPool2d(3, stride=2, padding=1), randn(2, 7, 8)),
    "MaxPool2d-ceil": (nn.MaxPool2d(2, ceil_mode=True), randn(2, 5, 7)),
    "MaxPool2d-dilation": (nn.MaxPool2d(2, stride=1, dilation=2), randn(2, 6, 6)),
    "AvgPool1d": (nn.AvgPool1d(3, stride=2, padding=1), randn(3, 9)),
    "AvgPool2d": (nn.AvgPool2d(2), randn(2, 6, 6)),
    "AvgPool2d-pad": (nn.AvgPool2d(3, stride=2, padding=1), randn(2, 7, 6)),
    "AvgPool2d-pad-excluded": (nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                               randn(2, 7, 6)),
    "AvgPool2d-ceil": (nn.AvgPool2d(2, ceil_mode=True), randn(2, 5, 7)),
    "AvgPool2d-ceil-pad": (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), randn(2, 6, 6)),
    "AvgPool2d-divisor": (nn.AvgPool2d(2, divisor_override=3), randn(2, 4, 4)),
    "AdaptiveAvgPool2d-global": (nn.AdaptiveAvgPool2d(1), randn(3, 5, 4)),
    "AdaptiveAvgPool2d-multiple": (nn.AdaptiveAvgPool2d((2, 3)), randn(3, 4, 6)),
    "AdaptiveAvgPool2d-uneven": (nn.AdaptiveAvgPool2d(3), randn(3, 5, 7)),
    "AdaptiveAvgPool1d": (nn.AdaptiveAvgPool1d(2), randn(3, 6)),
    "AdaptiveAvgPool1d-uneven": (nn.AdaptiveAvgPool1d(3), randn(3, 7)),
    "BatchNorm1d": (_trained_batch_norm(nn.BatchNorm1d(4), (8, 4)), randn(4)),
    "BatchNorm1d-3d": (_trained_batch_norm(nn.BatchNorm1d(4), (8, 4, 5)), randn(4, 5)),
    "BatchNorm2d": (_trained_batch_norm(nn.BatchNorm2d(3), (4, 3, 5, 5)), randn(3, 5, 5)),
    "BatchNorm2d-no-affine": (_trained_batch_norm(nn.BatchNorm2d(3, affine=False),
                                                  (4, 3, 2, 2)), randn(3, 2, 2)),
    "LayerNorm": (nn.LayerNorm(6), randn(6)),
    "LayerNorm-2d": (nn.LayerNorm((3, 4)), randn(3, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer(tmp_path, name):
    model, make = LAYERS[name]
    with nerve.no_grad():
        for p in model.parameters():  # not the init's values alone (BatchNorm: ones, zeros)
            p += nerve.randn(*p.shape) * 0.1
    roundtrip(model, make, tmp_path)


def test_embedding(tmp_path):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4, padding_idx=0)
            self.fc = nn.Linear(4, 2)

        def forward(self, tokens):
            return self.fc(self.emb(tokens).mean(1))

    def make(b):
        return np.random.default_rng(b).integers(0, 10, (b, 5)).astype(np.int64)

    proto = roundtrip(Model(), make, tmp_path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert "Gather" in [n.op_type for n in proto.graph.node]


def test_perceptron(tmp_path):
    model = nn.Perceptron(3)
    roundtrip(model, randn(3), tmp_path)


def test_training_mode_is_restored_and_batch_norm_uses_running_statistics(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model.train()
    before = model[1].running_mean.numpy().copy()
    roundtrip(model, randn(3), tmp_path)
    model.train()
    nerve.onnx.export(model, None, nerve.randn(2, 3))
    assert all(m.training for m in model.modules())
    np.testing.assert_array_equal(model[1].running_mean.numpy(), before)


# --- every operation alone, in a custom Module's forward ------------------------------------------
OPS = {
    "index-int": lambda x, w: x[:, 1],
    "index-negative": lambda x, w: x[:, -1] * 2,
    "index-slice": lambda x, w: x[:, 1:3],
    "index-step": lambda x, w: x[:, ::2],
    "index-reverse": lambda x, w: x[:, 3:0:-1],
    "index-ellipsis": lambda x, w: x[..., 0],
    "index-none": lambda x, w: x[:, None, 1:],
    "index-list": lambda x, w: x[:, [0, 2, 2]],
    "index-array-and-int": lambda x, w: x.reshape(x.shape[0], 2, 2)[:, 1, np.array([1, 0])],
    "reshape": lambda x, w: x.reshape(x.shape[0], 2, 2) * 1.5,
    "view-merging-the-batch": lambda x, w: x.view(-1, 2).sum(1),
    "flatten": lambda x, w: (x @ w).reshape(x.shape[0], 2, 2).flatten(1),
    "permute": lambda x, w: x.reshape(x.shape[0], 2, 2).permute(0, 2, 1),
    "transpose": lambda x, w: x.reshape(x.shape[0], 2, 2).transpose(1, 2),
    "T": lambda x, w: x.T,
    "squeeze-unsqueeze": lambda x, w: x.unsqueeze(1).unsqueeze(-1).squeeze(3) + 1,
    "cat": lambda x, w: nerve.cat([x, x * 2, w[:1].expand(x.shape[0], 4)], 1),
    "stack": lambda x, w: nerve.stack([x, -x], 1),
    "add-scalar": lambda x, w: x + 1,
    "sub-reflected": lambda x, w: 2 - x,
    "mul-scalar": lambda x, w: x * 3.5,
    "div-scalar": lambda x, w: x / 2,
    "div-reflected": lambda x, w: 1 / (x.abs() + 1),
    "pow": lambda x, w: x ** 2 + x ** 3,
    "neg": lambda x, w: -x,
    "broadcast": lambda x, w: x + w[0] * x - w[1:2] / 3,
    "matmul": lambda x, w: x @ w,
    "matmul-batched": lambda x, w: x.reshape(x.shape[0], 2, 2) @ x.reshape(x.shape[0], 2, 2),
    "matmul-param-first": lambda x, w: (w @ x.T).T,
    "sum": lambda x, w: x.sum(1) + x.sum(),
    "sum-keepdim": lambda x, w: x - x.sum(1, keepdim=True),
    "mean": lambda x, w: x.mean(1),
    "mean-all": lambda x, w: x - x.mean(),
    "max": lambda x, w: x.max(1)[0],
    "max-all": lambda x, w: x / x.abs().max(),
    "amax": lambda x, w: nerve.amax(x, 1, keepdim=True) + nerve.amin(x, 1, keepdim=True),
    "min": lambda x, w: x.min(1).values,
    "var": lambda x, w: x.var(1) + x.var(1, correction=0),
    "std": lambda x, w: x.std(1),
    "exp-log-sqrt": lambda x, w: x.exp() + (x.abs() + 1).log() + x.abs().sqrt(),
    "sin-cos": lambda x, w: x.sin() * x.cos(),
    "tanh-sigmoid-relu": lambda x, w: x.tanh() + x.sigmoid() + x.relu(),
    "clamp": lambda x, w: x.clamp(-0.5, 0.5) + x.clamp(min=0.1) + x.clamp(max=0.2),
    "clamp-tensor-bounds": lambda x, w: x.clamp(w[0] - 1, w[1]) + x.clamp(min=w[2, :1])
    + nerve.clamp(x, -0.5, w[3]),  # parameters as bounds: inputs of the operation
    "maximum": lambda x, w: nerve.maximum(x, 0.1) + nerve.minimum(x, w[0]),
    "where": lambda x, w: nerve.where(x > 0, x, 0.1 * x),
    "compare-mask": lambda x, w: x * (x > 0.5),
    "masks": lambda x, w: x * ((x > 0) & (x < 1) | ~(x > 1.5) ^ (w[0] > 0) & True),
    "logical": lambda x, w: nerve.logical_and(x, x > 0) * x + nerve.logical_or(x, w[0]) * 1.0
    + nerve.logical_xor(x > 0, w[1] < 0) * 2.0 + nerve.logical_not(x - x) * 3.0,
    "rounding": lambda x, w: (x * 3).round() + x.floor() + x.ceil() + x.sign(),
    "softmax": lambda x, w: nerve.softmax(x, 1) + nerve.log_softmax(x, dim=0),
    "pad": lambda x, w: nerve.pad(x, ((0, 0), (1, 2)), value=0.5),
    "cumsum": lambda x, w: x.cumsum(1),
    "expand": lambda x, w: x[:, :1].expand(x.shape[0], 3),
    "repeat": lambda x, w: x.repeat(1, 2),
    "clone-contiguous": lambda x, w: x.T.contiguous().clone().T,
    "zeros-of-the-batch": lambda x, w: nerve.zeros(x.shape[0], 4) + x,
    "ones-concatenated": lambda x, w: nerve.cat([x, nerve.ones(x.shape[0], 1)], 1),
    "inplace": lambda x, w: _inplace(x),
    "argmax": lambda x, w: x.argmax(1),
    "gather": lambda x, w: nerve.gather(x, 1, x.argmax(1, keepdim=True)) + x.max(1, True)[0],
}


def _inplace(x):
    y = x * 2
    y += 1
    y *= x
    return y.relu_()


@pytest.mark.parametrize("name", list(OPS))
def test_operation(tmp_path, name):
    roundtrip(Lambda(OPS[name]), randn(4), tmp_path)


def test_several_inputs_and_outputs(tmp_path):
    class TwoWay(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(5, 2)

        def forward(self, x, y):
            s = self.a(x) + self.b(y)
            return s, (s.sum(1), x)

    def make(b):
        return randn(3)(b), randn(5)(b + 100)[:b]

    proto = roundtrip(TwoWay(), make, tmp_path,
                      input_names=["x", "y"], output_names=["s", "total", "echo"])
    assert [i.name for i in proto.graph.input] == ["x", "y"]
    assert [o.name for o in proto.graph.output] == ["s", "total", "echo"]


def test_fixed_batch(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))
    proto = roundtrip(model, randn(2, 3), tmp_path, trace_batch=5, batches=(5,),
                      dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 5


@pytest.mark.parametrize("opset", [13, 18, 21])
def test_opsets(tmp_path, opset):
    model = Lambda(lambda x, w: (x @ w).mean(1) + x.max(1)[0] + nerve.amin(x, 1))
    proto = roundtrip(model, randn(4), tmp_path, opset=opset)
    assert proto.opset_import[0].version == opset


def test_bitwise_operations_of_integers_need_opset_18(tmp_path):
    model = Lambda(lambda x, w: ((x * 10).long() & 6 | (x > 0)) ^ ~(x * 3).int())
    roundtrip(model, randn(4), tmp_path, opset=18)
    _refused(model, nerve.randn(2, 4), match="bitwise_and of integers needs opset 18")


def test_file_is_written_atomically(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    nerve.onnx.export(nn.Linear(2, 2), path, nerve.randn(1, 2))
    assert onnx.load(str(path)).graph.node[0].op_type == "Gemm"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


# --- what cannot be exported ---------------------------------------------------------------------
def _refused(model, x, *, match, **kwargs):
    with pytest.raises(OnnxExportError, match=match) as info:
        nerve.onnx.export(model, None, x, **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_a_loss_is_refused_naming_the_module():
    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.loss = nn.CrossEntropyLoss()

        def forward(self, x):
            return self.loss(self.fc(x), np.array([0] * x.shape[0]))

    text = _refused(WithLoss(), nerve.randn(2, 3), match="CrossEntropy")
    assert "module 'loss' (CrossEntropyLoss)" in text and "a loss" in text


def test_a_custom_function_is_refused_by_name():
    class Cube(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            return g

    _refused(Lambda(lambda x, w: Cube.apply(x)), nerve.randn(2, 4),
             match="custom operation Cube")


def test_a_value_computed_outside_the_operations_is_refused():
    model = Lambda(lambda x, w: x + nerve.tensor(x.detach().numpy() > 0, dtype="float32"))
    _refused(model, nerve.randn(2, 4), match="computed outside nerve's operations")


def test_a_number_taken_from_the_data_is_refused():
    model = Lambda(lambda x, w: x / x.abs().max().item())
    _refused(model, nerve.randn(2, 4), match=r"into Python \(item\(\) at the model\)")


@pytest.mark.parametrize("forward", [
    lambda x, w: x / 10 if x.abs().max() > 50 else x,  # bool() of a comparison
    lambda x, w: x * float(x.mean()),
    lambda x, w: x[: int(x.abs().sum() > 1) + 1],
], ids=["branch", "float", "int"])
def test_a_python_branch_or_number_on_the_data_is_refused(forward):
    """From the review: a branch on the data exported the branch the trace took, silently (a
    100 in the input gave 10 in nerve and 100 in ONNX Runtime)."""
    _refused(Lambda(forward), nerve.randn(2, 4) * 100, match="read a value computed from its "
                                                             "input into Python")


def test_a_branch_on_the_parameters_alone_still_exports(tmp_path):
    """Values of the weights are the file's constants anyway: reading them is fine."""
    roundtrip(Lambda(lambda x, w: x * 2 if float(w.sum()) > -1e9 else x), randn(4), tmp_path)


def test_repeats_that_follow_the_batch_size_are_refused():
    """t.repeat(x.shape[0], 1) wrote the traced batch size into the file (at batch 1 ONNX
    Runtime gave 3 rows)."""
    model = Lambda(lambda x, w: w[:1].repeat(x.shape[0], 1) + x)
    _refused(model, nerve.randn(3, 4), match="repeats")


def test_dropout_while_training_is_refused():
    model = Lambda(lambda x, w: nn.functional.dropout(x, 0.5, training=True))
    _refused(model, nerve.randn(2, 4), match="random draw")


def test_a_forward_that_branches_on_the_batch_size_is_refused(tmp_path):
    model = Lambda(lambda x, w: x * 2 if x.shape[0] > 2 else x + 1)
    _refused(model, nerve.randn(2, 4), match="when traced at another batch size")
    roundtrip(model, randn(4), tmp_path, trace_batch=2, batches=(2,),
              dynamic_batch=False)


def test_a_boolean_mask_index_is_refused():
    _refused(Lambda(lambda x, w: x[x > 0]), nerve.randn(2, 4), match="boolean mask")


def test_in_place_assignment_is_refused():
    def fn(x, w):
        y = x * 1
        y[:, 0] = 0.0
        return y

    _refused(Lambda(fn), nerve.randn(2, 4), match="in-place assignment")


def test_layer_norm_needs_opset_17():
    _refused(nn.LayerNorm(4), nerve.randn(2, 4), match="opset 17", opset=13)


def test_packed_sequences_are_refused():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, batch_first=True)

        def forward(self, x):
            packed = nn.utils.rnn.pack_padded_sequence(x, [x.shape[1]] * x.shape[0],
                                                       batch_first=True)
            return self.rnn(packed)[1]

    _refused(Packed(), nerve.randn(2, 5, 3), match="PackedSequence")


def test_bad_arguments():
    with pytest.raises(TypeError, match="nerve.nn.Module"):
        nerve.onnx.export(lambda x: x, None, nerve.randn(1, 2))
    with pytest.raises(ValueError, match="opset"):
        nerve.onnx.export(nn.Linear(2, 2), None, nerve.randn(1, 2), opset=12)
    with pytest.raises(ValueError, match="output_names"):
        nerve.onnx.export(nn.Linear(2, 2), None, nerve.randn(1, 2), output_names=["a", "b"])
    with pytest.raises(ValueError, match="batch axis"):
        nerve.onnx.export(nn.Identity(), None, nerve.tensor(1.0))


def test_import_nerve_does_not_import_onnx():
    code = "import sys, nerve; print('onnx' in sys.modules, 'nerve.onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_example_runs():
    example = Path(__file__).resolve().parents[1] / "examples" / "onnx_export.py"
    proc = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "max abs difference" in ln)
    assert float(line.split()[-1]) < 1e-4


# --- regressions: values that were silently wrong, and errors of the wrong kind -----------------
class Fn(nn.Module):
    """A forward that is a function of the input alone (no parameter)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def ints(*shape, high=10):
    return lambda b: np.random.default_rng(b).integers(0, high, (b, *shape)).astype(np.int64)


def test_a_freed_copy_does_not_lend_its_id_to_a_constant(tmp_path):
    class Discard(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            with nerve.no_grad():
                y = self.fc(x)
                outs = []
                for i in range(30):
                    y.clone()  # a copy no operation keeps: freed at once
                    outs.append(nerve.tensor(np.full((1, 4), float(i), dtype=np.float32)))
                return y + outs[-1] + outs[5]

    class Tokens(nn.Module):  # integers need no gradient: copies are known by their id
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, t):
            t = t.T.contiguous().T
            return self.emb(t + nerve.tensor(np.array([[0, 1, 0]])))

    roundtrip(Discard(), randn(4), tmp_path, trace_batch=3)
    roundtrip(Tokens(), ints(3, high=8), tmp_path, trace_batch=2, batches=(2, 5))


@pytest.mark.parametrize("fn", [lambda x: nerve.cat([x, nerve.ones(2 * x.shape[0], 4)], 0),
                                lambda x: x.sum(1) + nerve.ones(x.shape[0] * 4).sum(),
                                lambda x: x[:1, :1].expand(2 * x.shape[0], 3)])
def test_a_length_that_grows_with_the_batch_but_is_not_it_is_refused(tmp_path, fn):
    text = _refused(Fn(fn), nerve.randn(2, 4), match="grows with the batch but is not the batch")
    assert "dynamic_batch=False" in text
    roundtrip(Fn(fn), randn(4), tmp_path, trace_batch=2, batches=(2,), dynamic_batch=False)


@pytest.mark.parametrize("fn", [lambda x: (x >= 2.5).float(), lambda x: (x == 2.5).float(),
                                lambda x: (x > -0.5).float(), lambda x: (x < 2.0).float(),
                                lambda x: ((x > 3) == 2).float(),
                                lambda x: (x <= x.float() * 0.5).float()])
def test_integers_compared_with_a_number_as_numpy_does(tmp_path, fn):
    roundtrip(Fn(fn), ints(4, high=5), tmp_path, trace_batch=2)


@pytest.mark.parametrize("dynamic", [True, False])
@pytest.mark.parametrize("fn", [lambda x: x / x[0, 0].item(),
                                lambda x: x / x.abs().max().item(),
                                lambda x: x[:, x[0].argsort()],
                                lambda x: x[:, :1 + int(x[0, 0].item() > 0.5)]])
def test_a_value_taken_from_any_sample_is_refused(fn, dynamic):
    x = nerve.tensor(np.array([[0.1, 0.2, 0.3, 0.4], [-3.0, 1.0, 2.0, 0.5]], np.float32))
    _refused(Fn(fn), x, match="from the data|depends on the data|computed outside|"
             "ran different operations", dynamic_batch=dynamic)


def test_the_check_trace_keeps_integer_indices_valid(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Linear(12, 2))
    roundtrip(model, ints(4), tmp_path, trace_batch=1)
    roundtrip(model, ints(4), tmp_path, trace_batch=3, batches=(3,), dynamic_batch=False)


def test_the_batch_size_used_as_a_number_is_named():
    text = _refused(Fn(lambda x: x / x.shape[0]), nerve.randn(2, 4),
                    match="number that follows the batch size")
    assert ".item()" not in text


@pytest.mark.parametrize("fn", [lambda x: x[:, -10::-1], lambda x: x[:, -10::-1].sum(1),
                                lambda x: x[:, 3::-1], lambda x: x[:, :-10:-1],
                                lambda x: x[:, 10:1:-2], lambda x: x[:, -2:-10:-1],
                                lambda x: x[:, 7:], lambda x: x[:len(x)] * 2])
def test_slices_give_numpy_results(tmp_path, fn):
    roundtrip(Fn(fn), randn(5), tmp_path, trace_batch=2)


def test_an_index_that_follows_the_batch_size_is_refused():
    _refused(Fn(lambda x: x[x.shape[0] - 1]), nerve.randn(2, 4), match="index 1 on the example")


def test_a_time_major_recurrent_layer_needs_a_fixed_batch():
    text = _refused(nn.GRU(3, 4), nerve.randn(5, 2, 3), match="time-major")
    assert "dynamic_batch=False" in text


def test_subclasses_of_layers_traced_whole(tmp_path):
    class Scaled(nn.Embedding):
        def forward(self, t):
            return super().forward(t) * 2

    class MySoftplus(nn.Softplus):
        pass

    class MyPerceptron(nn.Perceptron):
        pass

    roundtrip(Scaled(10, 3), ints(2), tmp_path, trace_batch=2)
    roundtrip(MySoftplus(), randn(4), tmp_path, trace_batch=2)
    roundtrip(MyPerceptron(4), randn(4), tmp_path, trace_batch=2)


def test_inputs_whose_batch_is_not_axis_0(tmp_path):
    class WithStates(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 4, batch_first=True)

        def forward(self, x, h, c):
            return self.rnn(x, (h, c))[0]

    example = (nerve.randn(2, 5, 3), nerve.randn(1, 2, 4), nerve.randn(1, 2, 4))
    with pytest.raises(OnnxExportError, match="batch must be axis 0") as info:
        nerve.onnx.export(WithStates(), None, example)
    assert "dynamic_batch=False" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)

    def make(b):
        rng = np.random.default_rng(b)
        return tuple(rng.standard_normal(s).astype(np.float32)
                     for s in ((2, 5, 3), (1, 2, 4), (1, 2, 4)))

    roundtrip(WithStates(), make, tmp_path, batches=(1,), dynamic_batch=False)


INT_OPS = {
    "mean": lambda x: x.mean(1), "mean-all": lambda x: x.mean(),
    "clamp-float": lambda x: x.clamp(0.5, 2.5), "exp": lambda x: x.exp(),
    "log-sqrt": lambda x: (x + 1).log() + x.sqrt(),
    "tanh-sigmoid": lambda x: x.tanh() + x.sigmoid(),
    "relu": lambda x: (x - 2).relu(), "var-std": lambda x: x.var(1) + x.std(1),
    "softmax": lambda x: nerve.softmax(x, 1), "softplus": lambda x: nn.functional.softplus(x),
    "leaky-relu": lambda x: nn.functional.leaky_relu(x - 2, 0.1),
}


@pytest.mark.parametrize("name", list(INT_OPS))
def test_operations_on_integers(tmp_path, name):
    roundtrip(Fn(INT_OPS[name]), ints(4, high=5), tmp_path, trace_batch=2)


def test_a_float64_model_with_a_float64_array_example(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.Softplus(beta=2.0, threshold=1.0)).double()
    make = lambda b: np.random.default_rng(b).standard_normal((b, 4))  # noqa: E731
    proto = roundtrip(model, make, tmp_path, trace_batch=2)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    proto = nerve.onnx.export(nn.Linear(4, 3), None, make(2))  # float32: nerve.tensor's dtype
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_an_integer_and_an_index_array_apart_export_as_pytorch_reads_them(tmp_path):
    """x[:, 0, :, idx]: the integer selects first, as in PyTorch: (N, 3, 2), not NumPy's
    (2, N, 3)."""
    model = Lambda(lambda x, w: x[:, 0, :, [0, 2]])
    roundtrip(model, randn(2, 3, 4), tmp_path)
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 4)(5)
    assert model(nerve.tensor(x)).shape == tuple(torch.tensor(x)[:, 0, :, [0, 2]].shape) \
        == (5, 3, 2)


def test_a_zero_dimensional_index_computed_from_the_input_stays_in_the_graph(tmp_path):
    """x[:, k, [0, 1]] with k an argmax of the input: PyTorch reads a 0-d integer tensor as an
    integer, but while tracing it must stay a value of the graph, not the number it had on
    the example (which would be baked into the file)."""

    def pick(x, w):
        k = x[:, :, 0, 0].sum(0).argmax()
        return x[:, k, [0, 1]]

    proto = roundtrip(Lambda(pick), randn(3, 4, 5), tmp_path, batches=(1, 3, 5, 7))
    assert "ArgMax" in [n.op_type for n in proto.graph.node]


def test_transformer_encoder(tmp_path):
    """A Transformer encoder (attention, layer norms, the feed-forward network) exports from
    nerve's operations alone and runs in ONNX Runtime at other batch sizes."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    model = nn.Sequential(nn.TransformerEncoder(layer, 2), nn.Linear(8, 3))
    roundtrip(model, randn(5, 8), tmp_path, trace_batch=2, batches=(1, 4))


@pytest.mark.parametrize("layer", [nn.Hardswish(), nn.Hardsigmoid(), nn.Softshrink(),
                                   nn.Hardshrink(0.3), nn.Threshold(0.1, 20.0), nn.Hardtanh(),
                                   nn.ReLU6(), nn.ELU(), nn.CELU(), nn.SELU(), nn.LeakyReLU(),
                                   nn.Softplus(beta=2, threshold=5), nn.Tanhshrink(),
                                   nn.GELU(), nn.Mish(), nn.SiLU()],
                         ids=lambda m: type(m).__name__)
def test_activation_branches_follow_the_input_not_the_example(tmp_path, layer):
    """Traced on values inside (-0.5, 0.5), run on values up to 10 in size: a branch mask made
    outside nerve's operations was baked into the file from the example (Hardswish and
    Hardsigmoid, exported so, were wrong by up to 10 and 1 on larger inputs)."""
    model = nn.Sequential(layer).eval()
    example = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8)).astype(np.float32)
    path = tmp_path / "act.onnx"
    nerve.onnx.export(model, path, nerve.tensor(example))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wide = np.array([[-10, -3, -2.9, -0.3, 0.0, 0.3, 3, 10]] * 3, np.float32)
    got = session.run(None, {session.get_inputs()[0].name: wide})[0]
    with nerve.no_grad():
        expected = model(nerve.tensor(wide)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_numpy_mask_alike_in_both_traces_is_refused(tmp_path):
    """A mask made in NumPy from the input, all False on the example and on its changed copy,
    was written as a constant (the file then ignored the mask on inputs above 3); the third
    trace on data of another range sees it change and refuses it."""

    class Masked(nn.Module):
        def forward(self, x):
            return nerve.where(x.detach().numpy() > 3, x * 0.0, x)

    example = nerve.tensor(np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8)))
    with pytest.raises(nerve.onnx.OnnxExportError, match="when traced again on other data"):
        nerve.onnx.export(Masked(), tmp_path / "m.onnx", example)

    class Compared(nn.Module):  # the same with nerve's comparison: exported and right
        def forward(self, x):
            return nerve.where(x > 3, x * 0.0, x)

    roundtrip(Compared(), lambda b: np.linspace(-10, 10, b * 8, dtype=np.float32).reshape(b, 8),
              tmp_path)
