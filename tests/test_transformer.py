"""Attention and the Transformer against PyTorch: scaled_dot_product_attention,
MultiheadAttention, the encoder and decoder layers and stacks, nn.Transformer; values and the
gradients of every input and parameter on copied weights, float64 and float32, every mask and
option; state_dicts both ways, save/load, the errors, and a tiny task that trains."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")

DTYPES = {"float64": (nerve.float64, torch.float64, 1e-10), "float32": (nerve.float32,
                                                                         torch.float32, 1e-5)}


def _arr(shape, seed, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _pair(a, ndt, tdt, grad=True):
    """The same values as a nerve and a torch tensor (floats in the given dtype)."""
    if a.dtype.kind == "f":
        return (nerve.tensor(a, dtype=ndt, requires_grad=grad),
                torch.tensor(a, dtype=tdt, requires_grad=grad))
    return nerve.tensor(a), torch.tensor(a)


def _close(n, t, tol, what):
    t = t.detach().numpy()
    n = n.detach().numpy() if isinstance(n, nerve.Tensor) else np.asarray(n)
    assert n.shape == t.shape, f"{what}: shape {n.shape} != torch {t.shape}"
    assert n.dtype == t.dtype, f"{what}: dtype {n.dtype} != torch {t.dtype}"
    np.testing.assert_allclose(n, t, rtol=tol, atol=tol, err_msg=what, equal_nan=True)


def _copy(tm, nm):
    nm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()},
                       strict=True)


def _backward(n_out, t_out, seed=99):
    w = _arr(t_out.shape, seed)
    (n_out * nerve.tensor(w, dtype=n_out.dtype)).sum().backward()
    (t_out * torch.tensor(w, dtype=t_out.dtype)).sum().backward()


def _check_module(tm, nm, n_args, t_args, tol, nkw=None, tkw=None):
    """Same output(s) and the same gradient for every input and parameter."""
    n_out, t_out = nm(*n_args, **(nkw or {})), tm(*t_args, **(tkw or {}))
    if isinstance(t_out, tuple):
        outs = [(n, t) for n, t in zip(n_out, t_out) if t is not None]
        assert [n is None for n in n_out] == [t is None for t in t_out]
    else:
        outs = [(n_out, t_out)]
    for i, (n, t) in enumerate(outs):
        _close(n, t, tol, f"output {i}")
    _backward(outs[0][0], outs[0][1])
    for i, (n, t) in enumerate(zip(n_args, t_args)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            _close(n.grad, t.grad, tol * 10, f"grad of input {i}")
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert (p.grad is None) == (tp[name].grad is None), name
        if p.grad is not None:
            _close(p.grad, tp[name].grad, tol * 10, f"grad of {name}")


# --- scaled_dot_product_attention ------------------------------------------------------------
SDPA_CASES = {
    "plain": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), {}),
    "2d": ((4, 8), (5, 8), (5, 3), {}),
    "broadcast_batch": ((2, 4, 8), (1, 5, 8), (1, 5, 6), {}),
    "bool_mask": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), {"mask": "bool"}),
    "float_mask": ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6), {"mask": "float"}),
    "fully_masked_row": ((2, 4, 8), (2, 5, 8), (2, 5, 6), {"mask": "dead"}),
    "causal_L<S": ((2, 3, 8), (2, 5, 8), (2, 5, 6), {"is_causal": True}),
    "causal_L>S": ((2, 5, 8), (2, 3, 8), (2, 3, 6), {"is_causal": True}),
    "scale": ((2, 4, 8), (2, 5, 8), (2, 5, 6), {"scale": 0.3}),
    "gqa": ((2, 6, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4), {"enable_gqa": True}),
    "empty_batch": ((0, 4, 8), (0, 5, 8), (0, 5, 6), {}),
    "size1": ((1, 1, 8), (1, 1, 8), (1, 1, 1), {}),
}


def _sdpa_mask(kind, L, S):
    if kind == "bool":
        m = _arr((L, S), 5) > 0
        m[:, 0] = True
        return m
    if kind == "dead":
        m = np.ones((L, S), bool)
        m[1] = False
        return m
    return _arr((L, S), 6)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("case", SDPA_CASES)
def test_sdpa_matches_pytorch(case, dt, record_op):
    ndt, tdt, tol = DTYPES[dt]
    qs, ks, vs, opts = SDPA_CASES[case]
    opts = dict(opts)
    n = [nerve.tensor(_arr(s, i), dtype=ndt, requires_grad=True) for i, s in enumerate((qs, ks,
                                                                                          vs))]
    t = [torch.tensor(_arr(s, i), dtype=tdt, requires_grad=True) for i, s in enumerate((qs, ks,
                                                                                         vs))]
    kind = opts.pop("mask", None)
    if kind is not None:
        m = _sdpa_mask(kind, qs[-2], ks[-2]).astype(dt if kind == "float" else bool)
        nm, tm = _pair(m, ndt, tdt)
        n, t = n + [nm], t + [tm]
    out_n = F.scaled_dot_product_attention(*n, **opts)
    out_t = TF.scaled_dot_product_attention(*t, **opts)
    _close(out_n, out_t, tol, "output")
    if out_t.numel():
        _backward(out_n, out_t)
        for i, (a, b) in enumerate(zip(n, t)):
            if b.requires_grad:
                _close(a.grad, b.grad, tol * 10, f"grad {i}")
    if case == "fully_masked_row":
        assert not np.isnan(out_n.detach().numpy()).any()
        assert (out_n.detach().numpy()[:, 1] == 0).all()
    record_op("parity", "scaled_dot_product_attention")


def test_sdpa_gradcheck(record_op):
    q, k, v = (nerve.tensor(_arr(s, i), dtype=nerve.float64)
               for i, s in enumerate(((2, 3, 4), (2, 5, 4), (2, 5, 3))))
    mask = nerve.tensor(_arr((3, 5), 7), dtype=nerve.float64)
    assert nerve.gradcheck(F.scaled_dot_product_attention, [q, k, v])
    assert nerve.gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, m),
                           [q, k, v, mask])
    assert nerve.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c,
                                                                          is_causal=True),
                           [q, k, v])
    record_op("gradcheck", "scaled_dot_product_attention")


def test_attention_layers_gradcheck(record_op):
    nerve.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True).double()
    x, y = nerve.randn(3, 2, 4, dtype=nerve.float64), nerve.randn(5, 2, 4, dtype=nerve.float64)
    kpm = nerve.tensor([[False] * 4 + [True], [False] * 5])
    assert nerve.gradcheck(lambda a, b: mha(a, b, b, key_padding_mask=kpm)[0], [x, y])
    assert nerve.gradcheck(lambda a, b: mha(a, b, b, need_weights=False)[0], [x, y])
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation="gelu").double()
    assert nerve.gradcheck(lambda a: layer(a, is_causal=True, src_mask=nn.Transformer
                                           .generate_square_subsequent_mask(3, dtype=nerve
                                                                            .float64)), [x])
    record_op("gradcheck", "MultiheadAttention")
    record_op("gradcheck", "TransformerEncoderLayer")


def test_sdpa_dropout_uses_nerves_generator():
    q, k, v = (nerve.tensor(_arr(s, i)) for i, s in enumerate(((2, 6, 4), (2, 7, 4),
                                                                 (2, 7, 3))))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    assert np.array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), plain)
    nerve.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    nerve.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    assert np.array_equal(a, b) and not np.allclose(a, plain)
    assert (F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0).all()


@pytest.mark.parametrize("kwargs, error, text", [
    ({"attn_mask": np.ones((3, 5), bool), "is_causal": True}, ValueError, "not both"),
    ({"attn_mask": np.ones((3, 5), np.int64)}, TypeError, "bool or floating"),
    ({"attn_mask": np.ones((3, 4), bool)}, ValueError, "broadcastable"),
    ({"dropout_p": 1.5}, ValueError, "dropout_p"),
    ({"is_causal": 1}, TypeError, "is_causal"),
    ({"enable_gqa": True}, ValueError, "divide"),
])
def test_sdpa_errors(kwargs, error, text):
    q, k, v = (nerve.tensor(_arr(s, i)) for i, s in enumerate(((2, 3, 3, 4), (2, 2, 5, 4),
                                                                 (2, 2, 5, 3))))
    if not kwargs.get("enable_gqa"):
        k, v = k[:, :1], v[:, :1]
    with pytest.raises(error, match=text):
        F.scaled_dot_product_attention(q, k, v, **kwargs)


def test_sdpa_input_errors():
    q = nerve.tensor(_arr((3, 4), 0))
    with pytest.raises(ValueError, match="at least 2"):
        F.scaled_dot_product_attention(q[0], q, q)
    with pytest.raises(TypeError, match="one dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(ValueError, match=r"\(..., S, E\)"):
        F.scaled_dot_product_attention(q, q[:, :3], q)
    with pytest.raises(TypeError, match="a Tensor"):
        F.scaled_dot_product_attention([[1.0]], q, q)


# --- MultiheadAttention ----------------------------------------------------------------------
MHA_CASES = {
    "default": ({}, {}),
    "batch_first": ({"batch_first": True}, {}),
    "no_bias": ({"bias": False}, {}),
    "bias_kv": ({"add_bias_kv": True}, {"kpm": "bool", "mask": "float"}),
    "zero_attn": ({"add_zero_attn": True}, {"kpm": "bool", "mask": "bool"}),
    "kdim_vdim": ({"kdim": 3, "vdim": 5}, {}),
    "kdim_vdim_bf": ({"kdim": 3, "vdim": 5, "batch_first": True}, {"kpm": "bool"}),
    "no_weights": ({}, {"need_weights": False, "kpm": "bool", "mask": "bool"}),
    "per_head": ({}, {"average_attn_weights": False, "mask": "float3d"}),
    "float_kpm": ({}, {"kpm": "float", "mask": "float"}),
    "causal_hint": ({"batch_first": True}, {"need_weights": False, "mask": "causal",
                                            "is_causal": True}),
    "causal_hint_other_mask": ({}, {"need_weights": False, "mask": "float", "is_causal": True}),
    "causal_hint_kpm": ({}, {"need_weights": False, "mask": "causal", "is_causal": True,
                             "kpm": "bool"}),
    "self_attention": ({}, {"self": True}),
    "unbatched": ({}, {"unbatched": True, "kpm": "bool", "mask": "bool"}),
    "unbatched_no_weights": ({}, {"unbatched": True, "need_weights": False}),
    "dead_row_no_weights": ({}, {"need_weights": False, "kpm": "dead"}),
    "empty_batch": ({}, {"N": 0}),
}


def _mha_inputs(opts, cfg, dt, L=4, S=5, E=8, H=2):
    N = opts.get("N", 3)
    kd, vd = cfg.get("kdim", E), cfg.get("vdim", E)
    if opts.get("unbatched"):
        shapes = [(L, E), (S, kd), (S, vd)]
    elif cfg.get("batch_first"):
        shapes = [(N, L, E), (N, S, kd), (N, S, vd)]
    else:
        shapes = [(L, N, E), (S, N, kd), (S, N, vd)]
    if opts.get("self"):
        shapes[1] = shapes[2] = shapes[0]
    arrays = [_arr(s, i, dt) for i, s in enumerate(shapes)]
    kwargs = {k: opts[k] for k in ("need_weights", "average_attn_weights", "is_causal")
              if k in opts}
    kpm_shape = (S,) if opts.get("unbatched") else (N, S)
    if opts.get("self"):
        kpm_shape = kpm_shape[:-1] + (L,)
    kind = opts.get("kpm")
    if kind in ("bool", "dead"):
        kpm = np.zeros(kpm_shape, bool)
        kpm[..., -1] = True
        if kind == "dead" and N:
            kpm[0] = True
        kwargs["key_padding_mask"] = kpm
    elif kind == "float":
        kwargs["key_padding_mask"] = _arr(kpm_shape, 11, dt)
    kind = opts.get("mask")
    if kind == "bool":
        m = _arr((L, S), 12) > 0.5
        m[:, 0] = False
        kwargs["attn_mask"] = m
    elif kind == "float":
        kwargs["attn_mask"] = _arr((L, S), 13, dt)
    elif kind == "float3d":
        kwargs["attn_mask"] = _arr((N * H, L, S), 14, dt)
    elif kind == "causal":
        kwargs["attn_mask"] = np.triu(np.full((L, S), -np.inf), 1).astype(dt)
    return arrays, kwargs


@pytest.mark.parametrize("dt, mode", [("float64", "eval"), ("float32", "eval"),
                                      ("float64", "train")])
@pytest.mark.parametrize("case", MHA_CASES)
def test_multihead_attention_matches_pytorch(case, dt, mode, record_op):
    ndt, tdt, tol = DTYPES[dt]
    cfg, opts = MHA_CASES[case]
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, dtype=tdt, **cfg)
    nm = nn.MultiheadAttention(8, 2, dtype=ndt, **cfg)
    _copy(tm, nm)
    getattr(tm, mode)()
    getattr(nm, mode)()
    arrays, kwargs = _mha_inputs(opts, cfg, dt)
    pairs = [_pair(a, ndt, tdt) for a in arrays]
    if opts.get("self"):
        pairs[1] = pairs[2] = pairs[0]
    n_args, t_args = [p[0] for p in pairs], [p[1] for p in pairs]
    nk, tk = {}, {}
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray):
            nk[k], tk[k] = _pair(v, ndt, tdt, grad=False)
        else:
            nk[k] = tk[k] = v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check_module(tm, nm, n_args, t_args, tol, nk, tk)
    record_op("parity", "MultiheadAttention")


def test_multihead_attention_state_dict_both_ways_and_init():
    for cfg in ({}, {"kdim": 3, "vdim": 5, "bias": False}, {"add_bias_kv": True}):
        tm = torch.nn.MultiheadAttention(8, 2, **cfg)
        nm = nn.MultiheadAttention(8, 2, **cfg)
        ts, ns = tm.state_dict(), nm.state_dict()
        assert list(ns) == list(ts)
        assert all(tuple(np.shape(ns[k])) == tuple(ts[k].shape) for k in ts)
        _copy(tm, nm)
        tm2 = torch.nn.MultiheadAttention(8, 2, **cfg)
        tm2.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in
                             nm.state_dict().items()}, strict=True)
        assert all(torch.equal(tm2.state_dict()[k], ts[k]) for k in ts)
    nerve.manual_seed(0)
    m = nn.MultiheadAttention(64, 4)
    bound = np.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ of the (3E, E) in_proj_weight
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert (m.in_proj_bias.detach().numpy() == 0).all()
    assert (m.out_proj.bias.detach().numpy() == 0).all()
    assert m.in_proj_weight.dtype == nerve.float32
    assert m.bias_k is None and "bias_k" not in m.state_dict()


@pytest.mark.parametrize("build, call, error, text", [
    (lambda: nn.MultiheadAttention(8, 3), None, ValueError, "divisible"),
    (lambda: nn.MultiheadAttention(0, 1), None, ValueError, "embed_dim"),
    (lambda: nn.MultiheadAttention(8, 2, dropout=2.0), None, ValueError, "dropout"),
    (lambda: nn.MultiheadAttention(8, 2), lambda m, x: m(x, x, x, is_causal=True),
     ValueError, "is_causal"),
    (lambda: nn.MultiheadAttention(8, 2), lambda m, x: m(x, x[:, :, :4], x), ValueError,
     "key of last dimension 8"),
    (lambda: nn.MultiheadAttention(8, 2), lambda m, x: m(x, x, x.double()), TypeError,
     "dtype"),
    (lambda: nn.MultiheadAttention(8, 2), lambda m, x: m(x[0], x, x), ValueError, "3-D"),
    (lambda: nn.MultiheadAttention(8, 2),
     lambda m, x: m(x, x, x, attn_mask=nerve.zeros(3, 4)), ValueError, "attn_mask of shape"),
    (lambda: nn.MultiheadAttention(8, 2),
     lambda m, x: m(x, x, x, key_padding_mask=nerve.zeros(3, 3, dtype=nerve.bool)),
     ValueError, "key_padding_mask of shape"),
    (lambda: nn.MultiheadAttention(8, 2),
     lambda m, x: m(x, x, x, key_padding_mask=nerve.zeros(2, 3, dtype=nerve.int64)),
     TypeError, "bool or floating"),
])
def test_multihead_attention_errors(build, call, error, text):
    x = nerve.randn(3, 2, 8)
    with pytest.raises(error, match=text):
        m = build()
        call(m, x)


def test_multihead_attention_dropout_in_train_only():
    nerve.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = nerve.randn(4, 2, 8)
    a, b = m(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy()
    assert not np.allclose(a, b)
    m.eval()
    a, b = m(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy()
    assert np.array_equal(a, b)


# --- the encoder -----------------------------------------------------------------------------
LAYER_CASES = {
    "default": {},
    "batch_first": {"batch_first": True},
    "norm_first": {"norm_first": True},
    "gelu": {"activation": "gelu"},
    "callable": {"activation": "callable"},
    "module_act": {"activation": "module"},
    "no_bias": {"bias": False, "layer_norm_eps": 1e-3},
}


def _activation(kind, lib):
    if kind == "callable":
        return (lambda x: x.tanh() * 2) if lib is nerve else (lambda x: torch.tanh(x) * 2)
    if kind == "module":
        return nn.SiLU() if lib is nerve else torch.nn.SiLU()
    return kind


def _encoders(cfg, tdt, ndt, stack: bool, decoder=False):
    cfg = dict(cfg)
    act = cfg.pop("activation", "relu")
    torch.manual_seed(0)
    tname, nname = (("TransformerDecoderLayer", "TransformerDecoder") if decoder else
                    ("TransformerEncoderLayer", "TransformerEncoder"))
    tl = getattr(torch.nn, tname)(8, 2, 16, 0.0, _activation(act, torch), dtype=tdt, **cfg)
    nl = getattr(nn, tname)(8, 2, 16, 0.0, _activation(act, nerve), dtype=ndt, **cfg)
    if not stack:
        return tl, nl
    extra = {} if decoder else {"enable_nested_tensor": False}
    tm = getattr(torch.nn, nname)(tl, 2, torch.nn.LayerNorm(8, dtype=tdt), **extra)
    nm = getattr(nn, nname)(nl, 2, nn.LayerNorm(8, dtype=ndt))
    return tm, nm


@pytest.mark.parametrize("masks", ["none", "masks", "causal"])
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("case", LAYER_CASES)
def test_encoder_layer_and_stack_match_pytorch(case, dt, masks, record_op):
    ndt, tdt, tol = DTYPES[dt]
    cfg = LAYER_CASES[case]
    bf = cfg.get("batch_first", False)
    for stack in (False, True):
        tm, nm = _encoders(cfg, tdt, ndt, stack)
        assert list(nm.state_dict()) == list(tm.state_dict())
        _copy(tm, nm)
        for mode in (("eval", "train") if dt == "float64" else ("eval",)):
            getattr(tm, mode)()
            getattr(nm, mode)()
            x = _arr((3, 5, 8) if bf else (5, 3, 8), 1, dt)
            nx, tx = _pair(x, ndt, tdt)
            nk, tk = {}, {}
            if masks == "masks":
                kpm = np.zeros((3, 5), bool)
                kpm[1, 3:] = True
                m = _arr((5, 5), 2, dt)
                nk["src_key_padding_mask"], tk["src_key_padding_mask"] = _pair(kpm, ndt, tdt)
                key = "mask" if stack else "src_mask"
                nk[key], tk[key] = _pair(m, ndt, tdt, grad=False)
            elif masks == "causal":
                key = "mask" if stack else "src_mask"
                tk[key] = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=tdt)
                nk[key] = nn.Transformer.generate_square_subsequent_mask(5, dtype=ndt)
                nk["is_causal"] = tk["is_causal"] = True
            _check_module(tm, nm, [nx], [tx], tol, nk, tk)
    record_op("parity", "TransformerEncoderLayer")
    record_op("parity", "TransformerEncoder")


def test_encoder_unbatched_and_noncontiguous(record_op):
    ndt, tdt, tol = DTYPES["float64"]
    tm, nm = _encoders({}, tdt, ndt, True)
    _copy(tm, nm)
    tm.eval()
    nm.eval()
    x = _arr((5, 8), 3)
    kpm = np.array([False, False, False, True, True])
    nx, tx = _pair(x, ndt, tdt)
    nk, tk = _pair(kpm, ndt, tdt)
    _check_module(tm, nm, [nx], [tx], tol, {"src_key_padding_mask": nk},
                  {"src_key_padding_mask": tk})
    x = _arr((8, 3, 5), 4)  # read as (5, 3, 8) through a permute: not contiguous
    nx, tx = _pair(x, ndt, tdt)
    n_out, t_out = nm(nx.permute(2, 1, 0)), tm(tx.permute(2, 1, 0))
    _close(n_out, t_out, tol, "output")
    _backward(n_out, t_out)
    _close(nx.grad, tx.grad, tol * 10, "grad of the permuted input")
    record_op("parity", "TransformerEncoder")


def test_encoder_copies_are_independent():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 3)
    w = [m.self_attn.in_proj_weight for m in enc.layers]
    assert len({id(p) for p in w}) == 3 and all(p is not layer.self_attn.in_proj_weight
                                                for p in w)
    assert np.array_equal(w[0].detach().numpy(), w[1].detach().numpy())
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters()))
    assert enc.num_layers == 3 and enc.enable_nested_tensor and enc.mask_check


def test_encoder_dropout_in_train_only():
    nerve.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3), 2)
    x = nerve.randn(5, 2, 8)
    assert not np.allclose(enc(x).detach().numpy(), enc(x).detach().numpy())
    enc.eval()
    assert np.array_equal(enc(x).detach().numpy(), enc(x).detach().numpy())


@pytest.mark.parametrize("build, error, text", [
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), ValueError, "activation"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation=3), TypeError, "activation"),
    (lambda: nn.TransformerEncoderLayer(8, 3), ValueError, "divisible"),
    (lambda: nn.TransformerEncoderLayer(8, 2, dropout=-0.1), ValueError, "dropout"),
    (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 0), ValueError,
     "num_layers"),
    (lambda: nn.TransformerEncoder("layer", 2), TypeError, "layer"),
    (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 1, norm=3), TypeError,
     "norm"),
    (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 1,
                                   enable_nested_tensor=None), TypeError,
     "enable_nested_tensor"),
])
def test_encoder_errors(build, error, text):
    with pytest.raises(error, match=text):
        build()


# --- the decoder and nn.Transformer ----------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("case", ["default", "batch_first", "norm_first", "gelu"])
def test_decoder_matches_pytorch(case, dt, record_op):
    ndt, tdt, tol = DTYPES[dt]
    cfg = LAYER_CASES[case]
    bf = cfg.get("batch_first", False)
    for stack in (False, True):
        tm, nm = _encoders(cfg, tdt, ndt, stack, decoder=True)
        assert list(nm.state_dict()) == list(tm.state_dict())
        _copy(tm, nm)
        tm.eval()
        nm.eval()
        tgt, mem = _arr((2, 4, 8) if bf else (4, 2, 8), 1, dt), _arr((2, 6, 8) if bf
                                                                      else (6, 2, 8), 2, dt)
        (nt, tt), (nmem, tmem) = _pair(tgt, ndt, tdt), _pair(mem, ndt, tdt)
        mkpm = np.zeros((2, 6), bool)
        mkpm[0, 4:] = True
        nk, tk = {}, {}
        nk["memory_key_padding_mask"], tk["memory_key_padding_mask"] = _pair(mkpm, ndt, tdt)
        tk["tgt_mask"] = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=tdt)
        nk["tgt_mask"] = nn.Transformer.generate_square_subsequent_mask(4, dtype=ndt)
        nk["memory_mask"], tk["memory_mask"] = _pair(_arr((4, 6), 3, dt), ndt, tdt, grad=False)
        nk["tgt_is_causal"] = tk["tgt_is_causal"] = True
        _check_module(tm, nm, [nt, nmem], [tt, tmem], tol, nk, tk)
    record_op("parity", "TransformerDecoderLayer")
    record_op("parity", "TransformerDecoder")


def test_transformer_matches_pytorch(record_op):
    ndt, tdt, tol = DTYPES["float64"]
    torch.manual_seed(0)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=16, dropout=0.0, batch_first=True)
    tm = torch.nn.Transformer(**kw, dtype=tdt)
    nm = nn.Transformer(**kw, dtype=ndt)
    assert list(nm.state_dict()) == list(tm.state_dict())
    _copy(tm, nm)
    (ns, ts), (nt, tt) = _pair(_arr((2, 5, 8), 1), ndt, tdt), _pair(_arr((2, 3, 8), 2), ndt,
                                                                     tdt)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=tdt)
    nmask = nn.Transformer.generate_square_subsequent_mask(3, dtype=ndt)
    _check_module(tm, nm, [ns, nt], [ts, tt], tol, {"tgt_mask": nmask}, {"tgt_mask": tmask})
    # Xavier uniform on every matrix, as PyTorch's _reset_parameters
    nerve.manual_seed(0)
    w = nn.Transformer(**kw).encoder.layers[0].linear1.weight.detach().numpy()
    assert 0.4 < np.abs(w).max() <= np.sqrt(6 / (8 + 16))  # Linear's own bound is 0.35
    with pytest.raises(ValueError, match="batch size"):
        nm(ns, nerve.randn(3, 3, 8, dtype=nerve.float64))
    record_op("parity", "Transformer")


def test_generate_square_subsequent_mask():
    for sz in (0, 1, 4):
        n = nn.Transformer.generate_square_subsequent_mask(sz)
        t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        assert n.dtype == nerve.float32
        np.testing.assert_array_equal(n.numpy(), t.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=nerve.float64).dtype == \
        nerve.float64
    with pytest.raises(ValueError, match="sz"):
        nn.Transformer.generate_square_subsequent_mask(-1)


# --- state_dicts and files -------------------------------------------------------------------
def test_state_dict_both_ways_strict():
    tm, nm = _encoders({"norm_first": True}, torch.float32, nerve.float32, True)
    nm.load_state_dict({k: v.numpy().copy() for k, v in tm.state_dict().items()}, strict=True)
    torch.manual_seed(5)
    tm2 = _encoders({"norm_first": True}, torch.float32, nerve.float32, True)[0]
    tm2.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in nm.state_dict().items()},
                        strict=True)
    assert all(torch.equal(tm2.state_dict()[k], v) for k, v in tm.state_dict().items())
    names = list(nm.state_dict())
    assert names[0] == "layers.0.self_attn.in_proj_weight" and names[-1] == "norm.bias"


@pytest.mark.parametrize("build", [
    lambda: nn.MultiheadAttention(8, 2, kdim=3, add_bias_kv=True, add_zero_attn=True),
    lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True),
    lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2,
                                  nn.LayerNorm(8, eps=1e-3)),
    lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, bias=False), 3),
    lambda: nn.Sequential(nn.Linear(4, 8), nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 1)),
    lambda: nn.TransformerDecoderLayer(8, 2, 16),
], ids=["mha", "layer", "encoder_norm", "encoder_no_bias", "sequential", "decoder_layer"])
def test_save_load_round_trip(build, tmp_path):
    nerve.manual_seed(0)
    model = build().eval()
    path = tmp_path / "model.safetensors"
    nerve.save(model, path)
    loaded = nerve.load(path)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    x = nerve.randn(5, 2, 4 if isinstance(model, nn.Sequential) else 8)
    args = (x, x, x) if isinstance(model, nn.MultiheadAttention) else (
        (x, nerve.randn(3, 2, 8)) if isinstance(model, nn.TransformerDecoderLayer) else (x,))
    if isinstance(model, nn.MultiheadAttention):
        args = (x, nerve.randn(6, 2, 3), nerve.randn(6, 2, 8))
    out, back = model(*args), loaded(*args)
    out, back = (out[0], back[0]) if isinstance(out, tuple) else (out, back)
    assert np.array_equal(out.detach().numpy(), back.detach().numpy())


def test_save_refuses_what_a_file_cannot_name(tmp_path):
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=lambda x: x.relu())
    with pytest.raises(TypeError, match="activation"):
        nerve.save(layer, tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="activation"):
        nerve.save(nn.TransformerEncoder(layer, 2), tmp_path / "b.safetensors")
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, nn.Identity())
    with pytest.raises(TypeError, match="norm"):
        nerve.save(enc, tmp_path / "c.safetensors")
    # the state_dict still saves and loads, into a model built in code
    enc = nn.TransformerEncoder(layer, 2)
    nerve.save(enc.state_dict(), tmp_path / "d.safetensors")
    other = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16,
                                                             activation=lambda x: x.relu()), 2)
    other.load_state_dict(nerve.load(tmp_path / "d.safetensors"), strict=True)
    assert all(np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(enc.state_dict().values(), other.state_dict().values()))
    nerve.io.load_weights(other, tmp_path / "d.safetensors")


# --- it learns -------------------------------------------------------------------------------
def test_tiny_sequence_task_trains():
    """Each position predicts the largest token of its sequence (it needs attention)."""
    nerve.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=(64, 5))
    y = np.broadcast_to(x.max(1, keepdims=True), x.shape)
    emb = nn.Embedding(6, 16)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0,
                                                           batch_first=True), 1)
    head = nn.Linear(16, 6)
    params = [*emb.parameters(), *enc.parameters(), *head.parameters()]
    opt = nerve.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(60):
        logits = head(enc(emb(nerve.tensor(x))))
        loss = F.cross_entropy(logits.reshape(-1, 6), nerve.tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.25 * losses[0], losses[::10]


def test_attention_over_an_empty_source_as_pytorch():
    """An empty key sequence with need_weights=True (the default) crashed in softmax over an
    empty axis (NumPy's max refuses it); PyTorch returns zeros and (N, L, 0) weights."""
    x = nerve.zeros(2, 0, requires_grad=True)
    y, z = nerve.softmax(x, 1), nerve.log_softmax(x, 1)
    (y.sum() + z.sum()).backward()
    assert y.shape == z.shape == x.grad.shape == (2, 0)
    nerve.manual_seed(0)
    m = nn.MultiheadAttention(4, 2)
    tm = torch.nn.MultiheadAttention(4, 2)
    tm.load_state_dict({k: torch.tensor(v.copy()) for k, v in m.state_dict().items()})
    q = np.random.default_rng(0).standard_normal((3, 1, 4)).astype(np.float32)
    k = np.zeros((0, 1, 4), np.float32)
    out, w = m(nerve.tensor(q), nerve.tensor(k), nerve.tensor(k))
    ref, rw = tm(torch.tensor(q), torch.tensor(k), torch.tensor(k))
    assert w.shape == tuple(rw.shape) == (1, 3, 0)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-6)


def test_attention_mask_checks_as_pytorch():
    """From the review: a mask with more leading dimensions than the scores enlarged the
    output (PyTorch raises); a float64 mask was cast to a float32 query's dtype (PyTorch
    raises); a head dimension of 0 gave NaN (PyTorch: the mean of value)."""
    F = nn.functional
    q, k, v = nerve.randn(3, 4), nerve.randn(5, 4), nerve.randn(5, 2)
    with pytest.raises(ValueError, match="broadcastable to the scores"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.ones(2, 3, 5, dtype=nerve.bool))
    with pytest.raises(TypeError, match="query's dtype float32"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.zeros(3, 5, dtype=nerve.float64))
    tq, tk, tv = (torch.tensor(t.numpy()) for t in (q, k, v))
    for m in (torch.ones(2, 3, 5, dtype=torch.bool), torch.zeros(3, 5, dtype=torch.float64)):
        with pytest.raises(RuntimeError):
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=m)
    q0, k0 = nerve.zeros(2, 3, 0), nerve.zeros(2, 4, 0)
    v0 = nerve.randn(2, 4, 5)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.zeros(2, 3, 0), torch.zeros(2, 4, 0), torch.tensor(v0.numpy()))
    np.testing.assert_allclose(F.scaled_dot_product_attention(q0, k0, v0).numpy(), ref.numpy(),
                               rtol=1e-6)


def test_saving_refuses_what_the_architecture_cannot_describe(tmp_path):
    """A layer whose dropouts or norms were changed after construction was saved as its
    constructor's arguments: the file loaded another model (eval outputs differed)."""
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    layer.norm2.eps = 1e-3
    with pytest.raises(TypeError, match="norms .eps"):
        nerve.save(layer, tmp_path / "a.safetensors")
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    layer.dropout1.p = 0.5
    with pytest.raises(TypeError, match="dropouts"):
        nerve.save(nn.TransformerEncoder(layer, 2), tmp_path / "b.safetensors")
    nerve.save(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2),
               tmp_path / "c.safetensors")  # unchanged: saved and loaded
    assert len(nerve.load(tmp_path / "c.safetensors").layers) == 2


def test_a_saved_encoder_cannot_ask_for_a_billion_layers():
    from nerve.nn.transformer import MAX_SAVED_LAYERS, encoder_state

    args = dict(num_layers=10**9, d_model=8, nhead=2, dim_feedforward=16)
    with pytest.raises(ValueError, match=f"num_layers at most {MAX_SAVED_LAYERS}"):
        encoder_state(args)
    with pytest.raises(ValueError, match="num_layers at most"):
        nn.TransformerEncoder._from_architecture(**args)
    assert len(encoder_state(dict(args, num_layers=2))) == 2 * len(encoder_state(
        dict(args, num_layers=1)))
