"""Recurrent layers and cells: finite differences in float64 and PyTorch parity (outputs, final
states, the input's and every parameter's gradient, given the same state_dict), initial states,
unbatched input, bad input, save/load and summary."""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import nn

torch = pytest.importorskip("torch")

F64 = nerve.float64


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def twins(kind: str, *args, **kwargs):
    """A float64 nerve layer and its torch twin with torch's initial weights."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(*args, **kwargs).double()
    ours = getattr(nn, kind)(*args, dtype=F64, **kwargs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(dict(ours.named_parameters())) == list(dict(theirs.named_parameters()))
    assert repr(ours) == repr(theirs)
    return ours, theirs


def _flat(out):
    """The tensors of a layer's result, in order: output, h_n[, c_n]."""
    if isinstance(out, tuple):
        return [t for o in out for t in _flat(o)]
    return [out]


def pack(states):
    """The initial states as a layer takes them: None, h_0, or (h_0, c_0)."""
    return None if states is None else (tuple(states) if len(states) == 2 else states[0])


def run_both(ours, theirs, x, states=None):
    """Forward both on float64 copies of x (and of the initial states), backward a fixed
    weighted sum of every output; return (ours, theirs) lists of arrays to compare."""
    xn, xt = nerve.tensor(x, dtype=F64, requires_grad=True), torch.tensor(x, requires_grad=True)
    sn = st = None
    if states is not None:
        sn = [nerve.tensor(s, dtype=F64, requires_grad=True) for s in states]
        st = [torch.tensor(s, requires_grad=True) for s in states]
    outs_n, outs_t = _flat(ours(xn, pack(sn))), _flat(theirs(xt, pack(st)))
    loss_n = loss_t = 0
    for k, (a, b) in enumerate(zip(outs_n, outs_t)):
        w = data(tuple(b.shape), 10 + k)
        loss_n = loss_n + (a * nerve.tensor(w, dtype=F64)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss_n.backward()
    loss_t.backward()
    got = [o.detach().numpy() for o in outs_n] + [xn.grad.numpy()]
    want = [o.detach().numpy() for o in outs_t] + [xt.grad.numpy()]
    if states is not None:
        got += [s.grad.numpy() for s in sn]
        want += [s.grad.numpy() for s in st]
    tp = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        got.append(p.grad.numpy())
        want.append(tp[k].grad.numpy())
    return got, want


CONFIGS = [
    dict(), dict(num_layers=2), dict(bidirectional=True), dict(batch_first=True),
    dict(num_layers=2, bidirectional=True, batch_first=True), dict(bias=False),
]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c) or "default")
@pytest.mark.parametrize("with_states", [False, True])
def test_layer_parity(record_op, kind, config, with_states):
    ours, theirs = twins(kind, 3, 4, **config)
    x = data((2, 5, 3) if config.get("batch_first") else (5, 2, 3))
    states = None
    if with_states:
        layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
        states = [data((layers, 2, 4), 3)] + ([data((layers, 2, 4), 4)] if kind == "LSTM"
                                             else [])
    got, want = run_both(ours, theirs, x, states)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    record_op("parity", kind)


def test_rnn_relu_parity(record_op):
    ours, theirs = twins("RNN", 3, 4, num_layers=2, nonlinearity="relu")
    got, want = run_both(ours, theirs, data((6, 2, 3)))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    record_op("parity", "RNN(relu)")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input(kind):
    ours, theirs = twins(kind, 3, 4, num_layers=2)
    x = data((5, 3))
    got, want = run_both(ours, theirs, x)
    assert got[0].shape == (5, 4)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_parity(record_op, kind, batched):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(3, 4).double()
    ours = getattr(nn, kind)(3, 4, dtype=F64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = data((2, 3) if batched else (3,))
    shape = (2, 4) if batched else (4,)
    hn = [nerve.tensor(data(shape, 5 + i), dtype=F64, requires_grad=True) for i in range(2)]
    ht = [torch.tensor(data(shape, 5 + i), requires_grad=True) for i in range(2)]
    xn, xt = nerve.tensor(x, dtype=F64, requires_grad=True), torch.tensor(x, requires_grad=True)
    if kind == "LSTMCell":
        on, ot = ours(xn, tuple(hn)), theirs(xt, tuple(ht))
    else:
        on, ot = (ours(xn, hn[0]),), (theirs(xt, ht[0]),)
    for a, b in zip(on, ot):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)
    sum(((a * (k + 1)).sum() for k, a in enumerate(on)), nerve.tensor(0.0, dtype=F64)).backward()
    sum((b * (k + 1)).sum() for k, b in enumerate(ot)).backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(hn[:len(on)], ht[:len(on)]):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-10,
                                   atol=1e-12)
    record_op("parity", kind)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config", [dict(), dict(num_layers=2, bidirectional=True,
                                                  batch_first=True)])
def test_layer_gradcheck(record_op, kind, config):
    nerve.manual_seed(0)
    layer = getattr(nn, kind)(2, 3, dtype=F64, **config)
    names = [k for k, _ in layer.named_parameters()]
    layers = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = nerve.tensor(data((2, 3, 2) if config.get("batch_first") else (3, 2, 2)), dtype=F64)
    h0 = nerve.tensor(data((layers, 2, 3), 1) * 0.5, dtype=F64)
    c0 = nerve.tensor(data((layers, 2, 3), 2) * 0.5, dtype=F64)

    def fn(x, h0, c0, *weights):
        for k, w in zip(names, weights):  # the weights as inputs: their gradients checked
            layer._parameters[k] = w
        out = layer(x, (h0, c0) if kind == "LSTM" else h0)
        return sum((t * (k + 1)).sum() for k, t in enumerate(_flat(out)))

    weights = [nerve.tensor(p.detach().numpy(), dtype=F64) for p in layer.parameters()]
    assert nerve.gradcheck(fn, [x, h0, c0, *weights])
    record_op("gradcheck", kind)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(record_op, kind):
    nerve.manual_seed(0)
    cell = getattr(nn, kind)(2, 3, dtype=F64)
    names = [k for k, _ in cell.named_parameters()]

    def fn(x, h, c, *weights):
        for k, w in zip(names, weights):
            cell._parameters[k] = w
        out = cell(x, (h, c) if kind == "LSTMCell" else h)
        return sum((t * (k + 1)).sum() for k, t in enumerate(_flat(out)))

    args = [nerve.tensor(data((2, 2)), dtype=F64), nerve.tensor(data((2, 3), 1), dtype=F64),
            nerve.tensor(data((2, 3), 2), dtype=F64)]
    args += [nerve.tensor(p.detach().numpy(), dtype=F64) for p in cell.parameters()]
    assert nerve.gradcheck(fn, args)
    record_op("gradcheck", kind)


def test_backpropagation_through_2000_steps_matches_pytorch():
    ours, theirs = twins("LSTM", 1, 8)
    got, want = run_both(ours, theirs, data((2000, 2, 1)) * 0.5)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_float32_training_step_matches_pytorch():
    torch.manual_seed(0)
    theirs = torch.nn.GRU(2, 6, batch_first=True)
    ours = nn.GRU(2, 6, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = data((4, 10, 2)).astype(np.float32)
    out_n, _ = ours(nerve.tensor(x))
    out_t, _ = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out_n.detach().numpy(), out_t.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert out_n.dtype == np.float32


def test_an_output_changed_in_place_is_refused():
    """The output is a view of the hidden states that backward reads: a change is caught."""
    out, _ = nn.LSTM(2, 3)(nerve.randn(4, 1, 2))
    with nerve.no_grad():
        out[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


# --- bad input ----------------------------------------------------------------------------------

def test_a_wrong_feature_size():
    with pytest.raises(ValueError, match=r"LSTM\(3, 4\): expected input of shape \(T, N, "
                                         r"input_size\) with input_size=3.*\(5, 2, 2\)"):
        nn.LSTM(3, 4)(nerve.zeros(5, 2, 2))


def test_a_4d_input():
    with pytest.raises(ValueError, match=r"GRU\(3, 4, batch_first=True\): expected a 3-D "
                                         r"input \(N, T, input_size\).*\(1, 5, 2, 3\)"):
        nn.GRU(3, 4, batch_first=True)(nerve.zeros(1, 5, 2, 3))


def test_an_initial_state_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"RNN\(3, 4, num_layers=2\): expected h_0 of shape "
                                         r"\(2, 2, 4\).*\(1, 2, 4\)"):
        nn.RNN(3, 4, num_layers=2)(nerve.zeros(5, 2, 3), nerve.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(1, 2, 4\)"):
        nn.LSTM(3, 4)(nerve.zeros(5, 2, 3), (nerve.zeros(1, 2, 4), nerve.zeros(1, 2, 3)))
    with pytest.raises(TypeError, match=r"hx as a pair \(h_0, c_0\)"):
        nn.LSTM(3, 4)(nerve.zeros(5, 2, 3), nerve.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"LSTMCell\(3, 4\): expected c of shape \(2, 4\)"):
        nn.LSTMCell(3, 4)(nerve.zeros(2, 3), (nerve.zeros(2, 4), nerve.zeros(2, 5)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match="weights' dtype"):
        nn.RNN(3, 4)(nerve.zeros(5, 2, 3, dtype=F64))


# --- save, load, summary, training through fit ---------------------------------------------

class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_save_and_load_recurrent_layers(tmp_path):
    model = nn.Sequential(nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True))
    x = nerve.randn(2, 5, 3)
    with nerve.no_grad():
        expected = model(x)[0].numpy()
    nerve.save(model, tmp_path / "gru.safetensors")
    loaded = nerve.load(tmp_path / "gru.safetensors")
    assert repr(loaded) == repr(model)
    with nerve.no_grad():
        np.testing.assert_array_equal(loaded(x)[0].numpy(), expected)


def test_summary_of_a_recurrent_layer():
    info = nn.summary(nn.Sequential(nn.LSTM(3, 4, num_layers=2, batch_first=True)), (5, 3),
                      print_fn=lambda s: None)
    assert info["layers"][0][2] == (-1, 5, 4)  # (batch, time, hidden); -1: any batch size
    assert info["total_params"] == 4 * 4 * (3 + 4 + 2) + 4 * 4 * (4 + 4 + 2)


def test_a_sequence_model_trains_through_fit():
    t = np.arange(400, dtype=np.float32)
    series = np.sin(t * 0.3)
    x = np.stack([series[i:i + 20] for i in range(360)])[..., None]
    y = series[20:380][:, None]
    nerve.manual_seed(0)
    model = Forecaster()
    history = nerve.fit(model, x, y, loss="mse", optimizer=nerve.optim.Adam(
        model.parameters(), 1e-2), epochs=15, batch_size=32, seed=0, verbose=0)
    assert history["loss"][-1] < 0.1 * history["loss"][0]


# --- sequences of different lengths ------------------------------------------------------------

@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_what_the_padding_holds_never_reaches_the_gradients(kind, bad):
    """Padded steps are never read: NaN or inf there (pad_sequence's padding_value) gives the
    gradients of zeros there, as in PyTorch, not 0 * NaN."""
    from nerve.nn.utils import rnn

    lengths = [5, 3, 1]
    x = data((5, 3, 2))
    grads = []
    for value in (0.0, bad):
        padded = x.copy()
        for i, n in enumerate(lengths):
            padded[n:, i] = value
        nerve.manual_seed(0)
        layer = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True).double()
        xn = nerve.tensor(padded, dtype=F64, requires_grad=True)
        out, _ = layer(rnn.pack_padded_sequence(xn, lengths))
        (rnn.pad_packed_sequence(out)[0] ** 2).sum().backward()
        grads.append([xn.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for clean, dirty in zip(*grads):
        np.testing.assert_array_equal(clean, dirty)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequences_match_pytorch(record_op, kind, bidirectional):
    """Padded steps change neither the outputs nor the final states (PyTorch's packing)."""
    from torch.nn.utils import rnn as trnn

    from nerve.nn.utils import rnn

    ours, theirs = twins(kind, 3, 4, num_layers=2, bidirectional=bidirectional)
    lengths = [6, 4, 1]
    x = data((6, 3, 3))
    xn, xt = nerve.tensor(x, dtype=F64, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_n, state_n = ours(rnn.pack_padded_sequence(xn, lengths))
    out_t, state_t = theirs(trnn.pack_padded_sequence(xt, lengths))
    pad_n, len_n = rnn.pad_packed_sequence(out_n)
    pad_t, len_t = trnn.pad_packed_sequence(out_t)
    assert len_n.tolist() == len_t.tolist() == lengths
    outs_n, outs_t = [pad_n] + _flat(state_n), [pad_t] + _flat(state_t)
    loss_n = loss_t = 0
    for k, (a, b) in enumerate(zip(outs_n, outs_t)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        w = data(tuple(b.shape), 20 + k)
        loss_n = loss_n + (a * nerve.tensor(w, dtype=F64)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss_n.backward()
    loss_t.backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    record_op("parity", f"{kind}(packed)")


def test_pad_and_pack_helpers_match_pytorch():
    from torch.nn.utils import rnn as trnn

    from nerve.nn.utils import rnn

    seqs = [data((4, 2)), data((2, 2), 1), data((1, 2), 2)]
    for batch_first in (False, True):
        ours = rnn.pad_sequence([nerve.tensor(s) for s in seqs], batch_first, 7.0)
        theirs = trnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first, 7.0)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    packed = rnn.pack_sequence([nerve.tensor(s) for s in seqs])
    padded, lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0,
                                              total_length=5)
    tpadded, tlengths = trnn.pad_packed_sequence(
        trnn.pack_sequence([torch.tensor(s) for s in seqs]), batch_first=True,
        padding_value=-1.0, total_length=5)
    np.testing.assert_allclose(padded.numpy(), tpadded.numpy(), rtol=1e-6)
    assert lengths.tolist() == tlengths.tolist()
    with pytest.raises(ValueError, match="decreasing order"):
        rnn.pack_padded_sequence(nerve.zeros(4, 3, 2), [2, 4, 1])
    rnn.pack_padded_sequence(nerve.zeros(4, 3, 2), [2, 4, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"lengths in \[1, 4\]"):
        rnn.pack_padded_sequence(nerve.zeros(4, 3, 2), [5, 4, 1])


@pytest.mark.parametrize("batch_first", [True, False])
def test_last_time_step_takes_the_last_output_of_a_recurrent_layer(batch_first):
    lstm = nn.LSTM(3, 5, batch_first=batch_first)
    x = nerve.randn(4, 6, 3) if batch_first else nerve.randn(6, 4, 3)
    with nerve.no_grad():
        out, (h_n, _) = lstm(x)
        last = nn.LastTimeStep(batch_first=batch_first)(lstm(x))
    assert last.shape == (4, 5)
    np.testing.assert_array_equal(last.numpy(), h_n.numpy()[0])  # one layer: h_n is it
    np.testing.assert_array_equal(nn.LastTimeStep(batch_first)(out).numpy(), last.numpy())
    unbatched = nn.LastTimeStep(batch_first)(nerve.randn(6, 5))
    assert unbatched.shape == (5,)


def test_last_time_step_in_a_sequential_trains_saves_and_refuses_bad_input(tmp_path):
    nerve.manual_seed(0)
    model = nn.Sequential(nn.GRU(1, 8, batch_first=True), nn.LastTimeStep(), nn.Linear(8, 1))
    x = nerve.randn(5, 7, 1)
    model(x).sum().backward()
    assert model[0].weight_ih_l0.grad is not None
    nerve.save(model, tmp_path / "m.safetensors")
    again = nerve.load(tmp_path / "m.safetensors")
    assert isinstance(again[1], nn.LastTimeStep)
    with nerve.no_grad():
        np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
    with pytest.raises(ValueError, match=r"LastTimeStep: expected a recurrent layer's output"):
        nn.LastTimeStep()(nerve.randn(2, 3, 4, 5))


def test_lstm_takes_pytorchs_proj_size_zero_and_refuses_a_projection():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LSTM(2, 3, proj_size=0), torch.nn.LSTM(2, 3, proj_size=0)
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    with pytest.raises(ValueError, match=r"expected proj_size=0 .* Received: proj_size=2"):
        nn.LSTM(2, 3, proj_size=2)
    for layer in (nn.GRU, nn.RNN):  # as PyTorch: only the LSTM takes it, even 0
        with pytest.raises(ValueError, match="only supported for LSTM"):
            layer(2, 3, proj_size=0)
        with pytest.raises(ValueError, match="only supported for LSTM"):
            getattr(torch.nn, layer.__name__)(2, 3, proj_size=0)


# --- the review's cases ----------------------------------------------------------------------
def test_embedding_padding_idx_counts_from_the_end_and_is_range_checked():
    weight = nerve.tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    idx = nerve.tensor([1, 3, 3])
    nn.functional.embedding(idx, weight, padding_idx=-2).sum().backward()
    assert weight.grad.numpy()[:, 0].tolist() == [0, 1, 0, 0, 0]  # row 3 = -2 gets nothing
    for bad in (5, -6, 1.5):
        with pytest.raises(ValueError, match="padding_idx"):
            nn.functional.embedding(idx, weight, padding_idx=bad)


@pytest.mark.parametrize("batch_first", [True, False])
def test_last_time_step_of_a_packed_output_is_each_sequences_own(batch_first):
    from nerve.nn.utils import rnn

    nerve.manual_seed(0)
    lstm = nn.LSTM(2, 3)
    packed = rnn.pack_padded_sequence(nerve.tensor(data((5, 2, 2))), [5, 2])
    out, (h_n, _) = lstm(packed)
    last = nn.LastTimeStep(batch_first=batch_first)(out)
    np.testing.assert_allclose(last.detach().numpy(), h_n[-1].detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(nn.LastTimeStep(batch_first)((out, (h_n, h_n))).detach().numpy(),
                               h_n[-1].detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("lengths", [(4, 0, 2), (9, 2, 1), (2,), (2.5, 2, 1)])
def test_a_packed_sequence_made_by_hand_has_its_lengths_checked(lengths):
    from nerve.nn.utils.rnn import PackedSequence

    gru = nn.GRU(2, 3)
    with pytest.raises(ValueError, match="lengths"):
        gru(PackedSequence(nerve.zeros(4, 3, 2), lengths))


def test_an_initial_state_of_another_dtype_is_refused():
    gru = nn.GRU(2, 3)
    with pytest.raises(TypeError, match="h_0"):
        gru(nerve.zeros(4, 3, 2), nerve.zeros(1, 3, 3, dtype="float64"))
    lstm = nn.LSTM(2, 3)
    with pytest.raises(TypeError, match="c_0"):
        lstm(nerve.zeros(4, 3, 2), (nerve.zeros(1, 3, 3), nerve.zeros(1, 3, 3, dtype="float64")))
