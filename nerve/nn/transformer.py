"""Attention and the Transformer: ``scaled_dot_product_attention``, ``MultiheadAttention``,
``TransformerEncoderLayer`` / ``TransformerEncoder``, ``TransformerDecoderLayer`` /
``TransformerDecoder`` and ``Transformer``, with PyTorch's arguments, equations, parameter names
and initialisation, so that a ``state_dict`` carries over both ways.

Everything here is composed of nerve's tensor operations (matrix products, softmax, masked
fills, layer norm, linear), so the gradients come from autograd and are checked against
PyTorch's in ``tests/test_transformer.py``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import (
    ShortRepr,
    as_array,
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    check_probability,
    message,
)
from nerve.creation import full
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.container import ModuleList
from nerve.nn.layers import Dropout, Linear
from nerve.nn.module import Module, takes_device
from nerve.nn.normalization import LayerNorm
from nerve.nn.parameter import Parameter

_NEG_INF = float("-inf")


# --- scaled dot-product attention --------------------------------------------------------
def _float_tensor(x, name: str, who: str) -> Tensor:
    if backend.is_array(x):
        x = Tensor._wrap(x)
    if not isinstance(x, Tensor):
        raise TypeError(message(who, "a Tensor", name, ShortRepr(x)))
    if x.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point tensor", f"{name}.dtype", str(x.dtype)))
    return x


def _mask_tensor(mask, name: str, who: str, dtype) -> tuple[Tensor | None, object]:
    """A mask as (float Tensor in ``dtype``, None) or (None, bool array): bool means attend
    where True for ``attn_mask``; a float mask is added to the scores."""
    if mask is None:
        return None, None
    if isinstance(mask, Tensor) and mask.dtype.kind == "f":
        return (mask if mask.dtype == dtype else mask.to(dtype)), None
    arr = as_array(mask)
    kind = getattr(getattr(arr, "dtype", None), "kind", None)
    if kind == "b":
        return None, arr
    if kind == "f":
        return Tensor._wrap(arr.astype(dtype, copy=False)), None
    raise TypeError(message(who, f"a bool or floating-point {name}", f"{name}.dtype",
                            str(getattr(arr, "dtype", type(mask).__name__))))


def _safe_softmax(scores: Tensor) -> Tensor:
    """Softmax over the last axis that gives 0 (not NaN) for rows that are all -inf (every key
    masked), as PyTorch's attention kernels do; those rows get no gradient either."""
    xp = backend.array_module(scores._data)
    dead = xp.all(scores._data == _NEG_INF, axis=-1, keepdims=True)
    if not dead.any():
        return ops.softmax(scores, -1)
    return ops.softmax(scores.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)


def _repeat_heads(x: Tensor, times: int) -> Tensor:
    """``x.repeat_interleave(times, dim=-3)``: each head of (..., H, S, E) ``times`` times."""
    if times == 1:
        return x
    *lead, h, s, e = x.shape
    return x.unsqueeze(-3).expand(*lead, h, times, s, e).reshape(*lead, h * times, s, e)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query @ key^T * scale + bias) @ value, as PyTorch's.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading
    (batch, head) dimensions broadcast. ``scale`` defaults to 1/sqrt(E). ``attn_mask`` broadcasts
    to (..., L, S): a bool mask attends where True (False -> -inf), a float mask is added to the
    scores (and gets its gradient). ``is_causal=True`` lets position i attend to keys 0..i (the
    lower triangle of (L, S)); it cannot be combined with ``attn_mask`` (PyTorch refuses too). A
    row whose keys are all masked gives zeros (PyTorch's kernels do too), not NaN.
    ``dropout_p > 0`` drops attention weights with nerve's generator (always: as PyTorch, this
    function knows no train/eval mode). ``enable_gqa=True``: grouped-query attention, the key
    and value heads (dimension -3) repeated to the query's number of heads, which they divide.
    """
    who = "scaled_dot_product_attention"
    q = _float_tensor(query, "query", who)
    k = _float_tensor(key, "key", who)
    v = _float_tensor(value, "value", who)
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(f"{who}: expected query, key and value of one dtype. Received: "
                        f"query.dtype={q.dtype}, key.dtype={k.dtype}, value.dtype={v.dtype}")
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"{who}: expected query, key and value of at least 2 dimensions. "
                         f"Received: shapes {q.shape}, {k.shape}, {v.shape}")
    if k.shape[-1] != q.shape[-1] or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"{who}: expected query (..., L, E), key (..., S, E) and value "
                         f"(..., S, Ev). Received: shapes {q.shape}, {k.shape}, {v.shape}")
    dropout_p = check_probability(dropout_p, "dropout_p", who)
    is_causal = check_bool(is_causal, "is_causal", who)
    enable_gqa = check_bool(enable_gqa, "enable_gqa", who)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{who}: give attn_mask or is_causal=True, not both (as PyTorch). "
                         f"Received: attn_mask of shape {tuple(attn_mask.shape)}, is_causal=True")
    if scale is None:  # E = 0: every score is 0 (PyTorch gives the mean of value, not NaN)
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    else:
        scale = check_number(scale, "scale", who)
    if enable_gqa:
        k, v = _grouped(q, k, v, who)
    L, S = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale
    if isinstance(attn_mask, Tensor) and attn_mask.dtype.kind == "f" and \
            attn_mask.dtype != q.dtype:
        raise TypeError(message(who, f"a bool attn_mask or a float one of the query's dtype "
                                f"{q.dtype} (as PyTorch)", "attn_mask.dtype",
                                str(attn_mask.dtype)))
    float_mask, bool_mask = _mask_tensor(attn_mask, "attn_mask", who, q.dtype)
    if is_causal:
        xp = backend.array_module(q._data)
        bool_mask = xp.tril(xp.ones((L, S), dtype=bool))
    masked = bool_mask is not None or float_mask is not None
    unmasked = scores.shape
    try:
        if bool_mask is not None:
            scores = scores.masked_fill(~bool_mask, _NEG_INF)
        if float_mask is not None:
            scores = scores + float_mask
        if scores.shape != unmasked:
            raise ValueError("it would enlarge them")
    except ValueError as e:
        raise ValueError(f"{who}: expected attn_mask broadcastable to the scores (..., L={L}, "
                         f"S={S}) {unmasked}. Received: attn_mask of shape "
                         f"{tuple(attn_mask.shape)} ({e})") from None
    if S == 0:  # no keys: nothing to attend to, zeros as PyTorch
        return scores[..., :0] @ v
    weights = _safe_softmax(scores) if masked else ops.softmax(scores, -1)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p, True)
    return weights @ v


def _grouped(q: Tensor, k: Tensor, v: Tensor, who: str) -> tuple[Tensor, Tensor]:
    if min(q.ndim, k.ndim, v.ndim) < 3:
        raise ValueError(f"{who}: enable_gqa=True needs a head dimension (-3) in query, key and "
                         f"value. Received: shapes {q.shape}, {k.shape}, {v.shape}")
    hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
    if hq % hk or hq % hv:
        raise ValueError(f"{who}: with enable_gqa=True the numbers of heads of key ({hk}) and "
                         f"value ({hv}) must divide the query's ({hq})")
    return _repeat_heads(k, hq // hk), _repeat_heads(v, hq // hv)


# --- multi-head attention ----------------------------------------------------------------
def _canonical_mask(mask, name: str, who: str, dtype) -> Tensor | None:
    """A bool mask (True = masked out, MultiheadAttention's convention) as 0 / -inf in ``dtype``;
    a float mask as it is (in ``dtype``), added to the scores."""
    float_mask, bool_mask = _mask_tensor(mask, name, who, dtype)
    if bool_mask is None:
        return float_mask
    xp = backend.array_module(bool_mask)
    return Tensor._wrap(xp.where(bool_mask, _NEG_INF, 0.0).astype(dtype))


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """One more key, attended (0), at the end of the last axis of a float mask."""
    if mask is None:
        return None
    xp = backend.array_module(mask._data)
    return ops.cat([mask, Tensor._wrap(xp.zeros((*mask.shape[:-1], 1), mask.dtype))], -1)


class MultiheadAttention(Module):
    """Attention with ``num_heads`` heads, as PyTorch's (Vaswani et al. 2017):
    head_i = softmax(q_i k_i^T / sqrt(d) + mask) v_i with q = query W_q^T + b_q (likewise k, v),
    out = concat(head_1..head_h) W_o^T + b_o; forward returns (out, weights or None).

    Parameters as PyTorch's: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) when
    kdim == vdim == embed_dim, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim) (and ``in_proj_bias``); ``out_proj`` a Linear(E, E);
    ``bias_k``/``bias_v`` (1, 1, E) with ``add_bias_kv``. Initialisation as PyTorch's: Xavier
    uniform on the input projections, zeros on the biases, Xavier normal on bias_k/bias_v.

    Shapes: query (L, N, E), key (S, N, kdim), value (S, N, vdim) -> (L, N, E), or (N, L, E)...
    with ``batch_first``, or unbatched (L, E); weights (N, L, S), or (N, heads, L, S) with
    ``average_attn_weights=False``. ``key_padding_mask`` (N, S) and a bool ``attn_mask`` mask
    out where True (PyTorch's convention here, the opposite of scaled_dot_product_attention's);
    float masks are added. ``attn_mask`` is (L, S) or (N * num_heads, L, S).
    """

    @takes_device
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype=None):
        super().__init__()
        who = "MultiheadAttention"
        self.embed_dim = check_positive_int(embed_dim, "embed_dim", who)
        self.num_heads = check_positive_int(num_heads, "num_heads", who)
        if embed_dim % num_heads:
            raise ValueError(f"{who}: embed_dim must be divisible by num_heads. Received: "
                             f"embed_dim={embed_dim}, num_heads={num_heads}")
        self.kdim = embed_dim if kdim is None else check_positive_int(kdim, "kdim", who)
        self.vdim = embed_dim if vdim is None else check_positive_int(vdim, "vdim", who)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout = check_probability(dropout, "dropout", who)
        self.batch_first = check_bool(batch_first, "batch_first", who)
        self.add_zero_attn = check_bool(add_zero_attn, "add_zero_attn", who)
        self.head_dim = embed_dim // num_heads
        check_bool(bias, "bias", who)
        check_bool(add_bias_kv, "add_bias_kv", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        E = self.embed_dim

        def param(*shape):
            return Parameter(xp.empty(shape, dtype), dtype)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * E, E)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = param(E, E)
            self.k_proj_weight = param(E, self.kdim)
            self.v_proj_weight = param(E, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * E)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = param(1, 1, E)
            self.bias_v = param(1, 1, E)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _check_inputs(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        who = "MultiheadAttention"
        q, k, v = (_float_tensor(t, n, who) for t, n in ((query, "query"), (key, "key"),
                                                          (value, "value")))
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(f"{who}: expected query, key and value all 3-D (batched) or all "
                             f"2-D (unbatched). Received: shapes {q.shape}, {k.shape}, "
                             f"{v.shape}")
        for t, name, dim in ((q, "query", self.embed_dim), (k, "key", self.kdim),
                             (v, "value", self.vdim)):
            if t.shape[-1] != dim:
                raise ValueError(message(who, f"{name} of last dimension {dim}",
                                         f"{name}.shape", t.shape))
            if t.dtype != self.out_proj.weight.dtype:
                raise TypeError(message(who, f"{name} of the weights' dtype "
                                        f"{self.out_proj.weight.dtype}", f"{name}.dtype",
                                        str(t.dtype)))
        if k.shape[:-1] != v.shape[:-1]:
            raise ValueError(f"{who}: expected key and value of the same sequence and batch "
                             f"sizes. Received: shapes {k.shape}, {v.shape}")
        batched = q.ndim == 3
        axis = 0 if self.batch_first else 1
        if batched and q.shape[axis] != k.shape[axis]:
            raise ValueError(f"{who}: expected query and key of the same batch size. "
                             f"Received: shapes {q.shape}, {k.shape}")
        if key_padding_mask is not None and len(key_padding_mask.shape) != q.ndim - 1:
            raise ValueError(message(who, f"a {q.ndim - 1}-D key_padding_mask for a "
                                     f"{q.ndim}-D query", "key_padding_mask.shape",
                                     tuple(key_padding_mask.shape)))
        if attn_mask is not None and len(attn_mask.shape) not in (2, 3):
            raise ValueError(message(who, "a 2-D or 3-D attn_mask", "attn_mask.shape",
                                     tuple(attn_mask.shape)))
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """Return (attn_output, attn_output_weights averaged over heads or not; None when
        ``need_weights=False``). ``is_causal`` is PyTorch's hint that ``attn_mask`` is the
        causal mask (it needs one): without a key_padding_mask and with
        ``need_weights=False``, the causal mask is applied in place of ``attn_mask``."""
        who = "MultiheadAttention"
        check_bool(need_weights, "need_weights", who)
        check_bool(average_attn_weights, "average_attn_weights", who)
        check_bool(is_causal, "is_causal", who)
        batched = self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        if self.batch_first and batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask[None]
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights,
                                    attn_mask, average_attn_weights, is_causal)
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _project(self, query, key, value):
        E, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        if query is key and key is value:  # self-attention: one product
            qkv = F.linear(query, w, b)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        return (F.linear(query, w[:E], bq), F.linear(key, w[E:2 * E], bk),
                F.linear(value, w[2 * E:], bv))

    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                average_attn_weights, is_causal):
        who = "MultiheadAttention"
        L, N, E = query.shape
        S, H, hd = key.shape[0], self.num_heads, self.head_dim
        dtype = query.dtype
        key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", who, dtype)
        if is_causal and attn_mask is None:
            raise ValueError(f"{who}: is_causal=True is a hint that attn_mask is the causal mask "
                             "and needs that attn_mask (nn.Transformer."
                             "generate_square_subsequent_mask(L) makes it), as PyTorch")
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask = None  # PyTorch: the hint stands for the mask
        else:
            attn_mask = _canonical_mask(attn_mask, "attn_mask", who, dtype)
            if key_padding_mask is not None:
                is_causal = False
        if attn_mask is not None:
            expected = (L, S) if attn_mask.ndim == 2 else (N * H, L, S)
            if tuple(attn_mask.shape) != expected:
                raise ValueError(message(who, f"attn_mask of shape {expected}",
                                         "attn_mask.shape", tuple(attn_mask.shape)))
            if attn_mask.ndim == 2:
                attn_mask = attn_mask.unsqueeze(0)
        q, k, v = self._project(query, key, value)
        if self.bias_k is not None:
            k = ops.cat([k, self.bias_k.expand(1, N, E)], 0)
            v = ops.cat([v, self.bias_v.expand(1, N, E)], 0)
            attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
        q = q.reshape(L, N * H, hd).transpose(0, 1)
        k = k.reshape(k.shape[0], N * H, hd).transpose(0, 1)
        v = v.reshape(v.shape[0], N * H, hd).transpose(0, 1)
        if self.add_zero_attn:
            xp = backend.array_module(k._data)
            zeros = Tensor._wrap(xp.zeros((N * H, 1, hd), dtype))
            k, v = ops.cat([k, zeros], 1), ops.cat([v, zeros], 1)
            attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
        S = k.shape[1]
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (N, S):
                raise ValueError(message(who, f"key_padding_mask of shape {(N, S)} (batch, "
                                         "source length)", "key_padding_mask.shape",
                                         tuple(key_padding_mask.shape)))
            kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
            attn_mask = kpm if attn_mask is None else attn_mask + kpm
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * math.sqrt(1.0 / hd)) @ k.transpose(-2, -1)
            if attn_mask is not None:
                scores = attn_mask + scores
            weights = ops.softmax(scores, -1)  # a row all masked is NaN here, as PyTorch's
            if dropout_p > 0:
                weights = F.dropout(weights, dropout_p, True)
            out = (weights @ v).transpose(0, 1).reshape(L * N, E)
            out = self.out_proj(out).reshape(L, N, E)
            weights = weights.reshape(N, H, L, S)
            return out, weights.mean(1) if average_attn_weights else weights
        if attn_mask is not None:
            attn_mask = (attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1
                         else attn_mask.reshape(N, H, -1, S))
        out = scaled_dot_product_attention(q.reshape(N, H, L, hd), k.reshape(N, H, S, hd),
                                           v.reshape(N, H, S, hd), attn_mask, dropout_p,
                                           is_causal)
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(L * N, E))
        return out.reshape(L, N, E), None

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


# --- the Transformer ---------------------------------------------------------------------
def _activation(activation, who: str) -> Callable:
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(message(who, "activation 'relu', 'gelu' or a callable", "activation",
                                 activation))
    if not callable(activation):
        raise TypeError(message(who, "activation 'relu', 'gelu' or a callable", "activation",
                                ShortRepr(activation)))
    return activation


def activation_name(layer: Module) -> str:
    """'relu' or 'gelu', the activation of a Transformer layer as a file can name it; a
    TypeError for any other (a file holds no code)."""
    if layer.activation is F.relu:
        return "relu"
    if layer.activation is F.gelu:
        return "gelu"
    raise TypeError(f"{type(layer).__name__}: an architecture can name the activation 'relu' "
                    f"or 'gelu', not {layer.activation!r}; save the weights with "
                    "nerve.save(model.state_dict(), path) and rebuild the model in code")


def _causal(is_causal, who: str, name: str) -> bool:
    """PyTorch's is_causal hints: None (the Transformer containers' default) is False here,
    which gives the same results (a detected causal mask is the mask itself)."""
    return False if is_causal is None else check_bool(is_causal, name, who)


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: their feed-forward block and options."""

    def _common(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias, dtype, who: str, n_norms: int) -> None:
        check_positive_int(d_model, "d_model", who)
        check_positive_int(nhead, "nhead", who)
        check_positive_int(dim_feedforward, "dim_feedforward", who)
        check_probability(dropout, "dropout", who)
        check_number(layer_norm_eps, "layer_norm_eps", who, 0.0)
        check_bool(batch_first, "batch_first", who)
        check_bool(bias, "bias", who)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        if n_norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = check_bool(norm_first, "norm_first", who)
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                dtype=dtype))
        for i in range(1, n_norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation, who)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x, last_dropout):
        return last_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _architecture(self) -> dict:
        """The constructor arguments that rebuild this layer (for nerve.save); refused where
        a submodule was changed after construction so that they no longer describe it (a
        dropout's p, a norm's eps: the file would load another model)."""
        attn = self.self_attn
        attns = [m for m in (attn, getattr(self, "multihead_attn", None)) if m is not None]
        ps = {m.p for m in self.modules() if isinstance(m, Dropout)} | {a.dropout for a in attns}
        eps = {m.eps for m in self.modules() if isinstance(m, LayerNorm)}
        if len(ps) > 1 or len(eps) > 1:
            raise TypeError(f"{type(self).__name__}: its dropouts (p {sorted(ps)}) or norms (eps "
                            f"{sorted(eps)}) differ, which its constructor's arguments cannot "
                            "describe; save the weights with nerve.save(model.state_dict(), "
                            "path) and rebuild the model in code")
        return {"d_model": attn.embed_dim, "nhead": attn.num_heads,
                "dim_feedforward": self.linear1.out_features, "dropout": self.dropout.p,
                "activation": activation_name(self), "layer_norm_eps": self.norm1.eps,
                "batch_first": attn.batch_first, "norm_first": self.norm_first,
                "bias": attn.in_proj_bias is not None}


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward network, each added back to its input and normalised,
    as PyTorch's (Vaswani et al. 2017): x = norm1(x + dropout1(self_attn(x))), then
    x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))));
    or, with ``norm_first=True``, x = x + dropout1(self_attn(norm1(x))) and
    x = x + ff(norm2(x)). Submodules and state_dict names as PyTorch's (``self_attn``,
    ``linear1``, ``linear2``, ``norm1``, ``norm2``). ``activation``: "relu", "gelu" or a
    callable (a Module is a submodule, as in PyTorch).

    Shape: (S, N, d_model), or (N, S, d_model) with ``batch_first``, or unbatched (S, d_model).
    """

    @takes_device
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=None):
        super().__init__()
        self._common(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                     batch_first, norm_first, bias, dtype, "TransformerEncoderLayer", 2)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        is_causal = _causal(is_causal, "TransformerEncoderLayer", "is_causal")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x, self.dropout2))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention over the target, attention to the encoder's output (``memory``) and a
    feed-forward network, each added back and normalised, as PyTorch's:
    x = norm1(x + sa(x)); x = norm2(x + mha(x, memory)); x = norm3(x + ff(x)), or the
    ``norm_first`` order. Submodules as PyTorch's (``self_attn``, ``multihead_attn``,
    ``linear1``, ``linear2``, ``norm1``..``norm3``)."""

    @takes_device
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=None):
        super().__init__()
        self._common(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                     batch_first, norm_first, bias, dtype, "TransformerDecoderLayer", 3)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False):
        who = "TransformerDecoderLayer"
        tgt_is_causal = _causal(tgt_is_causal, who, "tgt_is_causal")
        memory_is_causal = _causal(memory_is_causal, who, "memory_is_causal")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x, self.dropout3))


def _clones(layer: Module, num_layers, who: str, kind: type) -> ModuleList:
    if not isinstance(layer, Module):
        raise TypeError(message(who, f"a {kind.__name__} (a Module) to copy", "layer",
                                ShortRepr(layer)))
    n = check_positive_int(num_layers, "num_layers", who)
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


def _check_norm(norm, who: str):
    if norm is not None and not isinstance(norm, Module):
        raise TypeError(message(who, "a Module or None", "norm", ShortRepr(norm)))
    return norm


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm`` if given,
    as PyTorch's (state_dict names ``layers.0.self_attn.in_proj_weight``, ..., ``norm.weight``).

    ``enable_nested_tensor`` and ``mask_check`` are accepted and kept: they choose PyTorch's
    fast inference path, which nerve does not have, and change no result at the positions a
    padding mask keeps (PyTorch's nested path writes 0 at the padded positions of the output,
    nerve computes them as the slow path does).
    """

    def __init__(self, encoder_layer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        who = "TransformerEncoder"
        self.layers = _clones(encoder_layer, num_layers, who, TransformerEncoderLayer)
        self.num_layers = len(self.layers)
        self.norm = _check_norm(norm, who)
        self.enable_nested_tensor = check_bool(enable_nested_tensor, "enable_nested_tensor", who)
        self.use_nested_tensor = False  # no nested tensors in nerve
        self.mask_check = check_bool(mask_check, "mask_check", who)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        is_causal = _causal(is_causal, "TransformerEncoder", "is_causal")
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, is_causal=is_causal,
                        src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)

    @classmethod
    def _from_architecture(cls, num_layers, d_model, nhead, dim_feedforward=2048, dropout=0.1,
                           activation="relu", layer_norm_eps=1e-5, batch_first=False,
                           norm_first=False, bias=True, norm=None, norm_eps=1e-5,
                           norm_bias=True, enable_nested_tensor=True, mask_check=True):
        """Build the encoder that ``_architecture`` describes (nerve.load)."""
        num_layers = _saved_num_layers(num_layers, "TransformerEncoder")
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                        layer_norm_eps, batch_first, norm_first, bias)
        if norm not in (None, "LayerNorm"):
            raise ValueError(message("TransformerEncoder", "norm None or 'LayerNorm'", "norm",
                                     norm))
        final = None if norm is None else LayerNorm(d_model, eps=norm_eps, bias=norm_bias)
        return cls(layer, num_layers, final, enable_nested_tensor, mask_check)

    def _architecture(self) -> dict:
        """The arguments of ``_from_architecture`` that rebuild this encoder (nerve.save):
        its layers must be TransformerEncoderLayers of one configuration, its norm None or a
        LayerNorm(d_model) with weights."""
        who = "TransformerEncoder"
        configs = [layer._architecture() if type(layer) is TransformerEncoderLayer else None
                   for layer in self.layers]
        if None in configs or any(c != configs[0] for c in configs):
            raise TypeError(f"{who}: an architecture describes layers that are "
                            "TransformerEncoderLayers of one configuration; save the weights "
                            "with nerve.save(model.state_dict(), path) and rebuild the model "
                            "in code")
        config = {"num_layers": len(self.layers), **configs[0], "norm": None, "norm_eps": 1e-5,
                  "norm_bias": True,
                  "enable_nested_tensor": self.enable_nested_tensor,
                  "mask_check": self.mask_check}
        norm = self.norm
        if norm is not None:
            if (type(norm) is not LayerNorm or norm.normalized_shape != (config["d_model"],)
                    or not norm.elementwise_affine):
                raise TypeError(f"{who}: an architecture describes a norm that is None or "
                                f"LayerNorm(d_model) with weights, not {norm!r}; save the "
                                "weights with nerve.save(model.state_dict(), path) and "
                                "rebuild the model in code")
            config.update(norm="LayerNorm", norm_eps=norm.eps, norm_bias=norm.bias is not None)
        return config


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn to the target with the
    same ``memory``, then ``norm`` if given, as PyTorch's."""

    def __init__(self, decoder_layer, num_layers: int, norm: Module | None = None):
        super().__init__()
        who = "TransformerDecoder"
        self.layers = _clones(decoder_layer, num_layers, who, TransformerDecoderLayer)
        self.num_layers = len(self.layers)
        self.norm = _check_norm(norm, who)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False):
        tgt_is_causal = _causal(tgt_is_causal, "TransformerDecoder", "tgt_is_causal")
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """An encoder of ``num_encoder_layers`` and a decoder of ``num_decoder_layers`` layers, each
    ending with a LayerNorm, as PyTorch's (its parameters of 2 or more dimensions initialised
    Xavier uniform). forward(src, tgt, ...) -> decoder(tgt, encoder(src)).
    ``custom_encoder`` / ``custom_decoder`` replace the built ones."""

    @takes_device
    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=None):
        super().__init__()
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*args, dtype=dtype)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*args, dtype=dtype)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False):
        who = "Transformer"
        src, tgt = _float_tensor(src, "src", who), _float_tensor(tgt, "tgt", who)
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ValueError(f"{who}: expected src and tgt of the same batch size. Received: "
                             f"shapes {src.shape}, {tgt.shape}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"{who}: expected src and tgt of last dimension d_model="
                             f"{self.d_model}. Received: shapes {src.shape}, {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The (sz, sz) causal mask: -inf above the diagonal (a later position), 0 elsewhere
        (float32 unless ``dtype`` says otherwise), as PyTorch's."""
        n = check_int(sz, "sz", "generate_square_subsequent_mask", 0)
        return ops.triu(full((n, n), _NEG_INF, dtype=dtype, device=device), 1)


# --- shapes for nerve.io (the state_dict a file's architecture will hold) ----------------
def multihead_attention_state(args: dict) -> dict[str, tuple[int, ...]]:
    """The shape of each state_dict tensor of MultiheadAttention(**args), without building it."""
    who = "MultiheadAttention"
    E = check_positive_int(args.get("embed_dim"), "embed_dim", who)
    H = check_positive_int(args.get("num_heads"), "num_heads", who)
    if E % H:
        raise ValueError(f"{who}: embed_dim must be divisible by num_heads. Received: "
                         f"embed_dim={E}, num_heads={H}")
    kdim, vdim = (E if args.get(n) is None else check_positive_int(args.get(n), n, who)
                  for n in ("kdim", "vdim"))
    bias = check_bool(args.get("bias", True), "bias", who)
    if kdim == E and vdim == E:
        shapes = {"in_proj_weight": (3 * E, E)}
    else:
        shapes = {"q_proj_weight": (E, E), "k_proj_weight": (E, kdim), "v_proj_weight": (E, vdim)}
    if bias:
        shapes["in_proj_bias"] = (3 * E,)
    if check_bool(args.get("add_bias_kv", False), "add_bias_kv", who):
        shapes.update(bias_k=(1, 1, E), bias_v=(1, 1, E))
    shapes["out_proj.weight"] = (E, E)
    if bias:
        shapes["out_proj.bias"] = (E,)
    return shapes


def _layer_state(args: dict, who: str, attentions: tuple[str, ...], norms: int) -> dict:
    E = check_positive_int(args.get("d_model"), "d_model", who)
    ff = check_positive_int(args.get("dim_feedforward", 2048), "dim_feedforward", who)
    bias = check_bool(args.get("bias", True), "bias", who)
    attn = multihead_attention_state({"embed_dim": E, "num_heads": args.get("nhead"),
                                      "bias": bias})
    shapes = {f"{a}.{k}": v for a in attentions for k, v in attn.items()}
    for name, shape in (("linear1", (ff, E)), ("linear2", (E, ff))):
        shapes[f"{name}.weight"] = shape
        if bias:
            shapes[f"{name}.bias"] = shape[:1]
    for i in range(1, norms + 1):
        shapes[f"norm{i}.weight"] = (E,)
        if bias:
            shapes[f"norm{i}.bias"] = (E,)
    return shapes


def encoder_layer_state(args: dict) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of TransformerEncoderLayer(**args)."""
    return _layer_state(args, "TransformerEncoderLayer", ("self_attn",), 2)


def decoder_layer_state(args: dict) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of TransformerDecoderLayer(**args)."""
    return _layer_state(args, "TransformerDecoderLayer", ("self_attn", "multihead_attn"), 3)


# The most layers a saved encoder may describe: a file of 2 KB asking for 10^9 layers made
# nerve.load build their shapes (and then the layers) for minutes before any check.
MAX_SAVED_LAYERS = 10_000


def _saved_num_layers(n, who: str) -> int:
    n = check_positive_int(n, "num_layers", who)
    if n > MAX_SAVED_LAYERS:
        raise ValueError(message(who, f"num_layers at most {MAX_SAVED_LAYERS} in a saved "
                                 "architecture", "num_layers", n))
    return n


def encoder_state(args: dict) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of TransformerEncoder._from_architecture(**args)."""
    who = "TransformerEncoder"
    n = _saved_num_layers(args.get("num_layers"), who)
    layer = encoder_layer_state(args)
    shapes = {f"layers.{i}.{k}": v for i in range(n) for k, v in layer.items()}
    if args.get("norm") is not None:
        E = args["d_model"]
        shapes["norm.weight"] = (E,)
        if check_bool(args.get("norm_bias", True), "norm_bias", who):
            shapes["norm.bias"] = (E,)
    return shapes
