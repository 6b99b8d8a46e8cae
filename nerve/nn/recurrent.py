"""Recurrent layers with PyTorch's semantics, parameter names and layouts: RNN, LSTM, GRU and
their single-step cells. Each direction of each layer is one fused node
(``nerve.ops.fused.recurrent``)."""

from __future__ import annotations

import math

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import (
    check_bool,
    check_choice,
    check_positive_int,
    check_probability,
    is_int,
    message,
)
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.module import Module, takes_device
from nerve.nn.parameter import Parameter
from nerve.nn.utils.rnn import PackedSequence, _lengths
from nerve.ops._common import operands
from nerve.ops.fused.recurrent import GATES, RecurrentFunction


class _RNNBase(Module):
    """What RNN, LSTM and GRU share; ``mode`` is one of ``GATES``."""

    mode = "RNN_TANH"
    _takes_tensor = False  # a Tensor or a PackedSequence: checked in _input

    @takes_device
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", who)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", who)
        self.num_layers = check_positive_int(num_layers, "num_layers", who)
        self.bias = check_bool(bias, "bias", who)
        self.batch_first = check_bool(batch_first, "batch_first", who)
        self.dropout = check_probability(dropout, "dropout", who)
        self.bidirectional = check_bool(bidirectional, "bidirectional", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        gates = GATES[self.mode] * self.hidden_size
        dirs = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else self.hidden_size * dirs
            for suffix in ("", "_reverse")[:dirs]:
                names = [("weight_ih", (gates, n_in)), ("weight_hh", (gates, self.hidden_size))]
                if self.bias:
                    names += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for name, shape in names:
                    setattr(self, f"{name}_l{layer}{suffix}",
                            Parameter(xp.empty(shape, dtype), dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(...))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, suffix: str) -> tuple:
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _input(self, x) -> tuple[Tensor, bool]:
        """The input as a time-major (T, N, I) Tensor, and whether it was unbatched."""
        w = self.weight_ih_l0
        if not isinstance(x, Tensor):
            x = operands(w, x, self._name())[1]
        if x.dtype != w.dtype:
            raise TypeError(message(self._name(), f"an input of the weights' dtype {w.dtype}",
                                    "input.dtype", x.dtype))
        order = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim not in (2, 3):
            raise ValueError(message(self._name(), f"a 3-D input {order} or a 2-D unbatched one "
                                     "(T, input_size)", "input.shape", tuple(x.shape)))
        if x.shape[-1] != self.input_size:
            raise ValueError(message(self._name(), f"input of shape {order} with input_size="
                                     f"{self.input_size}", "input.shape", tuple(x.shape)))
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, unbatched

    def _state(self, h, n: int, unbatched: bool, name: str, dtype) -> Tensor:
        """An initial state as (layers * directions, N, H), zeros when not given."""
        shape = (self.num_layers * (2 if self.bidirectional else 1), n, self.hidden_size)
        if h is None:
            xp = backend.array_module(self.weight_ih_l0._data)  # the layer's device
            return Tensor._wrap(xp.zeros(shape, dtype))
        if not isinstance(h, Tensor):
            h = operands(self.weight_ih_l0, h, self._name())[1]
        if h.dtype != dtype:  # as PyTorch: no silent cast of a state
            raise TypeError(message(self._name(), f"{name} of the input's dtype {dtype}",
                                    f"{name}.dtype", h.dtype))
        expected = (shape[0], shape[2]) if unbatched else shape
        if tuple(h.shape) != expected:
            raise ValueError(message(self._name(), f"{name} of shape {expected}", f"{name}.shape",
                                     tuple(h.shape)))
        return h.unsqueeze(1) if unbatched else h

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = input.lengths if packed else None
        x, unbatched = self._input(input.padded) if packed else self._input(input)
        if packed and self.batch_first and not unbatched:
            x = x.transpose(0, 1)  # a PackedSequence is time-major already
        n = x.shape[1]
        if packed:  # checked again: a PackedSequence may be made by hand
            lengths = _lengths(lengths, n, x.shape[0], self._name())
        lstm = self.mode == "LSTM"
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(message(self._name(), "hx as a pair (h_0, c_0)", "hx",
                                    type(hx).__name__))
        h0 = self._state(hx[0] if lstm and hx is not None else hx, n, unbatched, "h_0", x.dtype)
        c0 = self._state(hx[1], n, unbatched, "c_0", x.dtype) if lstm and hx is not None else \
            (self._state(None, n, unbatched, "c_0", x.dtype) if lstm else None)
        hs, cs = [], []
        dirs = ("", "_reverse") if self.bidirectional else ("",)
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(dirs):
                k = layer * len(dirs) + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                args = (x, h0[k], c0[k] if lstm else None, w_ih, w_hh)
                if b_ih is not None:
                    args += (b_ih, b_hh)
                result = RecurrentFunction.apply(*args, mode=self.mode, reverse=d == 1,
                                                 lengths=lengths)
                outs.append(result[0])
                hs.append(result[1])
                if lstm:
                    cs.append(result[2])
            x = outs[0] if len(outs) == 1 else ops.cat(outs, 2)
            if self.dropout and self.training and layer + 1 < self.num_layers:
                x = F.dropout(x, self.dropout, True)
        h_n = ops.stack(hs, 0)
        out = x
        if packed:
            out = PackedSequence(out, lengths)
        elif unbatched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if lstm:
            c_n = ops.stack(cs, 0)
            return out, (h_n, c_n.squeeze(1) if unbatched else c_n)
        return out, h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh) (or ReLU with
    ``nonlinearity="relu"``): the seed's feedback loop. Returns ``(output, h_n)``: output
    (T, N, D H) (batch_first: (N, T, D H)), h_n (num_layers D, N, H), D = 2 if bidirectional."""

    @takes_device
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=None, **kwargs):
        if kwargs:
            if "proj_size" in kwargs:  # PyTorch's error: only the LSTM projects its state
                raise ValueError("RNN: proj_size argument is only supported for LSTM, not RNN "
                                 "or GRU")
            raise TypeError(f"RNN got an unexpected keyword argument {next(iter(kwargs))!r}")
        check_choice(nonlinearity, "nonlinearity", "RNN", ("tanh", "relu"))
        object.__setattr__(self, "mode", "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)
        self.nonlinearity = nonlinearity  # PyTorch's repr does not show it


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's gates i, f, g, o (rows of ``weight_ih_l0`` in that
    order): c_t = f c_(t-1) + i g, h_t = o tanh(c_t). Returns ``(output, (h_n, c_n))``;
    ``hx`` is a pair ``(h_0, c_0)``. ``proj_size`` is PyTorch's argument; only 0 (no
    projection of h_t) is supported."""

    mode = "LSTM"

    @takes_device
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, dtype=None):
        if not is_int(proj_size) or proj_size != 0:
            raise ValueError(message("LSTM", "proj_size=0 (nerve's LSTM has no projection of "
                                     "the hidden state)", "proj_size", proj_size))
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's gates r, z, n: n = tanh(W_in x + b_in + r (W_hn h +
    b_hn)), h_t = (1 - z) n + z h_(t-1). Returns ``(output, h_n)``."""

    mode = "GRU"

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:  # PyTorch's error: only the LSTM projects its state
            raise ValueError("GRU: proj_size argument is only supported for LSTM, not RNN or "
                             "GRU")
        super().__init__(*args, **kwargs)


class _CellBase(Module):
    mode = "RNN_TANH"
    _takes_tensor = True

    @takes_device
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", who)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", who)
        self.bias = check_bool(bias, "bias", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        gates = GATES[self.mode] * self.hidden_size
        self.weight_ih = Parameter(xp.empty((gates, self.input_size), dtype), dtype)
        self.weight_hh = Parameter(xp.empty((gates, self.hidden_size), dtype), dtype)
        if self.bias:
            self.bias_ih = Parameter(xp.empty(gates, dtype), dtype)
            self.bias_hh = Parameter(xp.empty(gates, dtype), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _step(self, input, h, c=None):
        who = f"{type(self).__name__}({self.input_size}, {self.hidden_size})"
        w = self.weight_ih
        x = input if isinstance(input, Tensor) else operands(w, input, who)[1]
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(message(who, f"input of shape (N, {self.input_size}) or "
                                     f"({self.input_size},)", "input.shape", tuple(x.shape)))
        unbatched = x.ndim == 1
        x = x.reshape(1, 1, -1) if unbatched else x.unsqueeze(0)
        n = x.shape[1]
        states = []
        for name, s in (("h", h), ("c", c)) if self.mode == "LSTM" else (("h", h),):
            if s is None:
                s = Tensor._wrap(backend.array_module(x._data).zeros((n, self.hidden_size),
                                                                    x.dtype))
            else:
                s = s if isinstance(s, Tensor) else operands(w, s, who)[1]
                expected = (self.hidden_size,) if unbatched else (n, self.hidden_size)
                if tuple(s.shape) != expected:
                    raise ValueError(message(who, f"{name} of shape {expected}", f"{name}.shape",
                                             tuple(s.shape)))
                s = s.reshape(1, -1) if unbatched else s
            states.append(s)
        args = (x, states[0], states[1] if self.mode == "LSTM" else None, w, self.weight_hh)
        if self.bias_ih is not None:
            args += (self.bias_ih, self.bias_hh)
        result = RecurrentFunction.apply(*args, mode=self.mode)
        out = result[1:]
        return tuple(o.reshape(-1) for o in out) if unbatched else out

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of an Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU)."""

    @takes_device
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=None):
        check_choice(nonlinearity, "nonlinearity", "RNNCell", ("tanh", "relu"))
        object.__setattr__(self, "mode", "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(_CellBase):
    """One step of an LSTM; ``hx`` is ``(h, c)``; returns ``(h', c')``."""

    mode = "LSTM"

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(_CellBase):
    """One step of a GRU; returns h'."""

    mode = "GRU"

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


class LastTimeStep(Module):
    """The output of a recurrent layer at its last time step, for a Linear head in a Sequential.

    Takes what RNN, LSTM or GRU return (``output, h_n`` or ``output, (h_n, c_n)``; a tensor is
    taken as ``output``) and returns ``output[:, -1]`` with ``batch_first=True`` (the default),
    ``output[-1]`` otherwise; a PackedSequence gives each sequence's output at its own length:
    ``nn.Sequential(nn.LSTM(1, 32, batch_first=True), nn.LastTimeStep(), nn.Linear(32, 1))``
    forecasts the next step of a window. In PyTorch this is the line ``out, _ =
    self.lstm(x); return self.fc(out[:, -1])`` of a custom Module; Keras spells it
    ``return_sequences=False``. Unbatched (2-D) output gives ``output[-1]``.

    Shape: (N, L, H) -> (N, H) with batch_first, (L, N, H) -> (N, H) without, (L, H) -> (H,)
    """

    def __init__(self, batch_first: bool = True):
        super().__init__()
        self.batch_first = check_bool(batch_first, "batch_first", "LastTimeStep")

    def forward(self, x):
        out = x[0] if isinstance(x, tuple) and not isinstance(x, PackedSequence) else x
        if isinstance(out, PackedSequence):  # each sequence's own last step, not the padding
            lengths = _lengths(out.lengths, out.padded.shape[1], out.padded.shape[0],
                               "LastTimeStep")
            return out.padded[[n - 1 for n in lengths], list(range(len(lengths)))]
        if not isinstance(out, Tensor) or out.ndim not in (2, 3):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(message("LastTimeStep", "a recurrent layer's output (N, L, H), "
                                     "(L, N, H) or (L, H), or the tuple it comes in",
                                     "input", shape))
        return out[:, -1] if self.batch_first and out.ndim == 3 else out[-1]

    def extra_repr(self) -> str:
        return "" if self.batch_first else "batch_first=False"


__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "LastTimeStep"]
