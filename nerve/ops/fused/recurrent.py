"""Recurrent layers, one direction of one layer as one node: RNN (tanh or ReLU), LSTM, GRU,
with PyTorch's gate order and equations, and backpropagation through time written out.

The input's projection for every time step is one product before the loop, (T N, I) by
(I, G H) with the bias added once; each step then does one product with the recurrent weights
for all the gates together, in one contiguous (N, G H) block. The gate values of every step are
kept for the backward pass, which runs the loop in reverse (one product per step for the
gradient of the previous state) and then computes the weight gradients as one product each
over all the steps. Inputs are time-major, (T, N, I); the layers in ``nerve.nn`` arrange
batch_first, several layers and the reverse direction around it.
"""

from __future__ import annotations

from nerve import backend, cuda, jit
from nerve.function import Function
from nerve.ops.elementwise import sigmoid_array
from nerve.ops.fused import scratch

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RecurrentFunction(Function):
    """y = the hidden states h_1..h_T of one recurrent layer, and its final state(s):
    RNN h' = tanh(W_ih x + b_ih + W_hh h + b_hh); LSTM (gates i, f, g, o) c' = f c + i g,
    h' = o tanh(c'); GRU (r, z, n) n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    h' = (1 - z) n + z h;  d/dW = sum over the steps of (dL/dgates)^T inputs, through time in
    reverse (dL/dh_{t-1} = (dL/dgates_t) W_hh + ...)

    Arguments: x (T, N, I), h0 (N, H), c0 (N, H) for an LSTM (else None), w_ih (G H, I),
    w_hh (G H, H), b_ih and b_hh (G H) or None; ``reverse=True`` reads the sequence from its
    end (a bidirectional layer's second direction). ``lengths`` (one per sequence, or None)
    marks the steps after a sequence's end as padding: they change no state and output zeros,
    as a PyTorch PackedSequence. Returns (out (T, N, H), in the input's time order, h_T) and,
    for an LSTM, c_T as a third output.
    """

    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, *, mode, reverse=False,
                lengths=None):
        xp = backend.array_module(x)
        if reverse:  # the sequence read from its end; the output stays in the input's order
            x = x[::-1]
        t_len, n = x.shape[:2]
        valid = _valid(xp, lengths, t_len, reverse, x.dtype)  # (T, N, 1) in reading order
        if valid is not None:  # padding is never read: whatever it holds (NaN, inf) must not
            x = xp.where(valid != 0, x, 0)  # reach the gradients as 0 * NaN
        hidden = w_hh.shape[1]
        w_in, bias, w_rec = w_ih, b_ih, None
        if mode == "LSTM":  # the gates as the loop computes them (see _lstm_weights)
            w_in, bias, w_rec = _lstm_weights(xp, w_ih, w_hh, b_ih, b_hh)
        elif mode != "GRU" and b_ih is not None:
            bias = b_ih + b_hh
        xw = scratch.take(xp, (t_len * n, w_in.shape[0]), x.dtype)  # reused: no page faults
        _project(xp, x.reshape(t_len * n, -1), w_in, bias, xw)
        xw = xw.reshape(t_len, n, -1)
        hs = xp.empty((t_len + 1, n, hidden), x.dtype)  # h_0 .. h_T
        hs[0] = h0
        keep = {}
        if mode == "LSTM":
            keep.update(_lstm_forward(xp, xw, hs, c0, w_rec, valid))
        elif mode == "GRU":
            acts = scratch.take(xp, (t_len, n, 3 * hidden), x.dtype)  # r, z, n activated
            hn = scratch.take(xp, (t_len, n, hidden), x.dtype)  # W_hn h + b_hn, which r scales
            if _compiled(valid, None, acts, hn, hs, xw):
                _gru_forward_compiled(xp, xw, hs, w_hh, b_hh, acts, hn)
            else:
                _gru_forward(xp, xw, hs, w_hh, b_hh, acts, hn, valid)
            keep.update(acts=acts, hn=hn)
        else:
            relu = mode == "RNN_RELU"
            for t in range(t_len):
                pre = xw[t] + hs[t].dot(w_hh.T)
                if relu:
                    xp.maximum(pre, 0, out=hs[t + 1])
                else:
                    xp.tanh(pre, out=hs[t + 1])
                if valid is not None:
                    xp.copyto(hs[t + 1], hs[t], where=valid[t] == 0)
        scratch.give(xw.reshape(t_len * n, -1))
        out = hs[1:] if valid is None else hs[1:] * valid  # padding: zeros
        out = out[::-1] if reverse else out
        result = (out, hs[t_len].copy())
        if mode == "LSTM":
            result += (keep["cs"][t_len].copy(),)
        if any(getattr(ctx, "needs_input_grad", ())):  # hs: the output is a view of it, so
            ctx.save_for_backward(x, w_ih, w_hh, hs)  # a change in place is caught
            ctx.keep = keep
        else:
            for a in keep.values():
                scratch.give(a)
        return result

    def backward(ctx, g_out, g_h, g_c=None):
        x, w_ih, w_hh, hs = ctx.saved_tensors
        mode, keep = ctx.options["mode"], ctx.keep
        reverse = ctx.options.get("reverse", False)  # x was saved in the order it was read
        if reverse and g_out is not None:
            g_out = g_out[::-1]
        xp = backend.array_module(hs)
        t_len, n, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        valid = _valid(xp, ctx.options.get("lengths"), t_len, reverse, hs.dtype)
        if valid is not None and g_out is not None:
            g_out = g_out * valid  # the padding's outputs are constant zeros
        zeros = xp.zeros((n, hidden), hs.dtype)
        dh = zeros.copy() if g_h is None else g_h.astype(hs.dtype, copy=True)
        dc = None
        gates = GATES[mode]
        dxw = scratch.take(xp, (t_len, n, gates * hidden), hs.dtype)  # dL/d(x W_ih^T + b_ih)
        dhw = dxw if mode != "GRU" else scratch.take(xp, dxw.shape, hs.dtype)  # d(h W_hh^T..)
        rows = None
        if mode == "LSTM":  # dxw in the loops' gate order: the weights' rows in it too
            rows = _lstm_rows(xp, hidden)
            w_ih, w_hh = w_ih[rows], w_hh[rows]
            dc = zeros.copy() if g_c is None else g_c.astype(hs.dtype, copy=True)
            _lstm_backward(xp, keep, hs, g_out, dh, dc, dxw, w_hh, valid)
        compiled = mode == "GRU" and _compiled(valid, g_out, keep["acts"], keep["hn"], hs, dh,
                                               dxw, dhw)
        if compiled:
            _gru_backward_compiled(xp, keep, hs, g_out, dh, dxw, dhw, w_hh)
        for t in range(t_len - 1, -1, -1) if mode != "LSTM" and not compiled else ():
            if g_out is not None:
                dh += g_out[t]
            if valid is not None:  # a padded step passes dh straight to the previous state
                passed = dh * (1 - valid[t])
                dh = dh * valid[t]
            d = dxw[t]
            if mode == "GRU":
                a = keep["acts"][t]
                r, z, new = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:]
                dn = dh * (1 - z) * (1 - new * new)  # d n_pre
                d[:, 2 * hidden:] = dn
                dhn = dn * r
                d[:, :hidden] = dn * keep["hn"][t] * r * (1 - r)  # d r_pre
                d[:, hidden:2 * hidden] = dh * (hs[t] - new) * z * (1 - z)  # d z_pre
                e = dhw[t]
                e[:, :2 * hidden] = d[:, :2 * hidden]
                e[:, 2 * hidden:] = dhn
                dh = dh * z + e.dot(w_hh)
            else:
                h = hs[t + 1]
                if mode == "RNN_RELU":
                    xp.multiply(dh, h > 0, out=d)
                else:
                    xp.multiply(dh, 1 - h * h, out=d)
                dh = d.dot(w_hh)
            if valid is not None:
                dh += passed
        needs = ctx.needs_input_grad
        flat = dxw.reshape(t_len * n, -1)
        flat_h = dhw.reshape(t_len * n, -1)
        gx = flat.dot(w_ih).reshape(x.shape) if needs[0] else None
        if gx is not None and reverse:
            gx = gx[::-1]
        gw_ih = flat.T.dot(x.reshape(t_len * n, -1)) if needs[3] else None
        gw_hh = flat_h.T.dot(hs[:-1].reshape(t_len * n, hidden)) if needs[4] else None
        gb_ih = flat.sum(axis=0) if len(needs) > 5 and needs[5] else None
        gb_hh = None
        if len(needs) > 6 and needs[6]:  # the same sum as b_ih's but for the GRU's
            gb_hh = gb_ih.copy() if dhw is dxw and gb_ih is not None else flat_h.sum(axis=0)
        if rows is not None:  # back to PyTorch's order of the gates' rows
            back = xp.argsort(rows)
            gw_ih, gw_hh, gb_ih, gb_hh = (None if a is None else a[back]
                                          for a in (gw_ih, gw_hh, gb_ih, gb_hh))
        scratch.give(dxw)
        if dhw is not dxw:
            scratch.give(dhw)
        return gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh

    def release(ctx) -> None:
        for a in (getattr(ctx, "keep", None) or {}).values():
            scratch.give(a)
        ctx.keep = None
        super().release()


def _project(xp, x, w, bias, out) -> None:
    """out = x W^T + bias for every time step in one product. For inputs of a few features the
    bias is one more column of ones in x, so that the product adds it as it goes: for one
    feature 1.7-2.3x faster than a pass over the (T N, G H) result afterwards; equal at 8
    features, slower from 32 (the copy of x then costs more than the pass it saves)."""
    k = x.shape[1]
    if bias is None or k >= 8:
        x.dot(w.T, out=out)
        if bias is not None:
            out += bias
        return
    xa = scratch.take(xp, (x.shape[0], k + 1), x.dtype)
    xa[:, :k] = x
    xa[:, k] = 1
    wa = xp.empty((k + 1, w.shape[0]), w.dtype)
    wa[:k] = w.T
    wa[k] = bias
    xa.dot(wa, out=out)
    scratch.give(xa)


def _valid(xp, lengths, t_len: int, reverse: bool, dtype):
    """(T, N, 1): 1 where a step is inside its sequence, 0 on the padding, in reading order;
    None without lengths."""
    if lengths is None:
        return None
    steps = xp.arange(t_len)[::-1] if reverse else xp.arange(t_len)
    return (steps[:, None] < xp.asarray(lengths)[None, :]).astype(dtype)[:, :, None]


def _compiled(valid, g_out, *arrays) -> bool:
    """True where the steps may run through the compiled kernels (:mod:`nerve.jit`): no
    padding (``valid`` None), ``arrays`` usable, and an output gradient, if any, of their dtype
    (the NumPy loops add one of another dtype before they round, which a kernel cannot)."""
    return valid is None and (g_out is None or g_out.dtype == arrays[0].dtype) and \
        jit.usable(*arrays)


def _lstm_rows(xp, hidden: int):
    """PyTorch's gate rows (i, f, g, o) in the order the loops use, o, i, f, g: the three
    sigmoids side by side for the forward, the three gates that dc multiplies side by side for
    the backward."""
    return xp.concatenate([xp.arange(k * hidden, (k + 1) * hidden) for k in (3, 0, 1, 2)])


def _lstm_weights(xp, w_ih, w_hh, b_ih, b_hh):
    """The weights as the forward loop uses them: gate rows in ``_lstm_rows``' order and the
    sigmoids' rows halved, so that one tanh over all four gates gives g and, as sigmoid(x) =
    (1 + tanh(x / 2)) / 2, the other three. Returns the input weights, the summed biases (or
    None) and the recurrent weights transposed, (H, 4 H)."""
    hidden = w_hh.shape[1]
    rows = _lstm_rows(xp, hidden)
    scale = xp.ones((4 * hidden, 1), w_hh.dtype)
    scale[:3 * hidden] = 0.5
    bias = None if b_ih is None else (b_ih + b_hh)[rows] * scale[:, 0]
    return w_ih[rows] * scale, bias, (w_hh[rows] * scale).T.copy()


def _lstm_forward(xp, xw, hs, c0, wt, valid=None) -> dict:
    """The LSTM's steps, in place in preallocated arrays; xw and wt as ``_lstm_weights`` makes
    them. The kept activations are in the order o, i, f, g."""
    t_len, n, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    cs = scratch.take(xp, hs.shape, hs.dtype)
    cs[0] = c0
    acts = scratch.take(xp, (t_len, n, 4 * hidden), hs.dtype)  # o, i, f, g activated
    tanh_c = scratch.take(xp, (t_len, n, hidden), hs.dtype)
    tmp = xp.empty((n, hidden), hs.dtype)
    kernel = _compiled(valid, None, acts, cs, hs)
    gpu = None if valid is not None else cuda.elementwise(xp, "nerve_lstm_step", *_LSTM_GPU)
    half = hs.dtype.type(0.5)
    for t in range(t_len):
        a = acts[t]
        hs[t].dot(wt, out=a)
        a += xw[t]
        xp.tanh(a, out=a)
        if gpu is not None:  # CuPy: the rest of the step in one launch
            gpu(cs[t], half, hidden, a, cs[t + 1], tanh_c[t], hs[t + 1])
            continue
        if kernel:  # the next five passes in one
            _lstm_step_kernel(a, cs[t], cs[t + 1], half)
            xp.tanh(cs[t + 1], out=tanh_c[t])
            xp.multiply(a[:, :hidden], tanh_c[t], out=hs[t + 1])
            continue
        sig = a[:, :3 * hidden]  # (1 + tanh(x / 2)) / 2
        sig *= 0.5
        sig += 0.5
        c = cs[t + 1]
        xp.multiply(a[:, 2 * hidden:3 * hidden], cs[t], out=c)  # f c
        xp.multiply(a[:, hidden:2 * hidden], a[:, 3 * hidden:], out=tmp)  # i g
        c += tmp
        xp.tanh(c, out=tanh_c[t])
        xp.multiply(a[:, :hidden], tanh_c[t], out=hs[t + 1])  # o tanh(c)
        if valid is not None:  # padding: the state stays
            xp.copyto(hs[t + 1], hs[t], where=valid[t] == 0)
            xp.copyto(c, cs[t], where=valid[t] == 0)
    return {"cs": cs, "acts": acts, "tanh_c": tanh_c}


def _lstm_backward(xp, keep, hs, g_out, dh, dc, dxw, w_hh, valid=None) -> None:
    """Through time in reverse, writing dL/d(gates before activation) into dxw; dh and dc end
    as the gradients of h_0 and c_0. What does not depend on the incoming gradient (the
    activations' derivatives, the factors of dc) is computed for all steps at once."""
    cs, acts, tanh_c = keep["cs"], keep["acts"], keep["tanh_c"]
    t_len, n, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 4
    gpu = None if valid is not None or (g_out is not None and g_out.dtype != acts.dtype) else \
        cuda.elementwise(xp, "nerve_lstm_back", *_LSTM_BACK_GPU)
    if gpu is not None or _compiled(valid, g_out, acts, cs, tanh_c, dh, dc, dxw):
        if g_out is not None:
            g_out = xp.ascontiguousarray(g_out)
        no_out, one = dh[:0], hs.dtype.type(1)
        for t in range(t_len - 1, -1, -1):
            out_t = no_out if g_out is None else g_out[t]
            if gpu is not None:  # CuPy: _lstm_back_kernel's step in one launch
                gpu(acts[t], cs[t], tanh_c[t], dh, out_t, g_out is not None, one, hidden, dc,
                    dxw[t])
            else:
                _lstm_back_kernel(acts[t], cs[t], tanh_c[t], out_t, dh, dc, dxw[t], one)
            dxw[t].dot(w_hh, out=dh)
        return
    gates = acts.reshape(t_len, n, 4, hidden)
    o, i, f, g = (gates[:, :, k] for k in range(4))  # the loops' order
    deriv = scratch.take(xp, acts.shape, acts.dtype)  # sigmoid' = s (1 - s) for o, i, f ...
    xp.subtract(1, acts, out=deriv)
    deriv *= acts
    g_deriv = deriv.reshape(t_len, n, 4, hidden)[:, :, 3]  # ... and tanh' = 1 - g^2
    xp.multiply(g, g, out=g_deriv)
    xp.subtract(1, g_deriv, out=g_deriv)
    k_c = scratch.take(xp, tanh_c.shape, acts.dtype)  # dc += dh k_c, k_c = o (1 - tanh(c)^2)
    xp.multiply(tanh_c, tanh_c, out=k_c)
    xp.subtract(1, k_c, out=k_c)
    k_c *= o
    factors = scratch.take(xp, (t_len, n, 3, hidden), hs.dtype)  # dL/d(i, f, g) / dc
    factors[:, :, 0], factors[:, :, 1], factors[:, :, 2] = g, cs[:-1], i
    tmp = xp.empty((n, hidden), hs.dtype)
    for t in range(t_len - 1, -1, -1):
        if g_out is not None:
            dh += g_out[t]
        if valid is not None:  # a padded step passes dh and dc straight to the previous state
            passed_h, passed_c = dh * (1 - valid[t]), dc * (1 - valid[t])
            dh *= valid[t]
            dc *= valid[t]
        xp.multiply(dh, k_c[t], out=tmp)
        dc += tmp
        d = dxw[t]
        d4 = d.reshape(n, 4, hidden)  # d is contiguous: a view
        xp.multiply(factors[t], dc[:, None, :], out=d4[:, 1:])
        xp.multiply(dh, tanh_c[t], out=d4[:, 0])
        d *= deriv[t]
        dc *= f[t]
        d.dot(w_hh, out=dh)
        if valid is not None:
            dh += passed_h
            dc += passed_c
    for a in (deriv, k_c, factors):
        scratch.give(a)


# The two LSTM kernels below as CUDA C for CuPy (nerve.cuda.elementwise), one thread per
# (sample, unit): the forward step after the tanh over the gates, then c, tanh(c) and h;
# the backward step before its product. ``a``/``d`` are (N, 4 H) in the order o, i, f, g.
_LSTM_GPU = ("T c_prev, T half, int32 hidden", "raw T a, T c, T tanh_c, T h", """
    ptrdiff_t base = (ptrdiff_t)(i / hidden) * 4 * hidden + i % hidden;
    T o = a[base] * half + half;
    T ig = a[base + hidden] * half + half;
    T f = a[base + 2 * hidden] * half + half;
    a[base] = o;
    a[base + hidden] = ig;
    a[base + 2 * hidden] = f;
    T cc = f * c_prev + ig * a[base + 3 * hidden];
    c = cc;
    T tc = tanh(cc);
    tanh_c = tc;
    h = o * tc;""")
_LSTM_BACK_GPU = (
    "raw T a, T c_prev, T tanh_c, T dh, raw T g_out, bool has_out, T one, int32 hidden",
    "T dc, raw T d", """
    ptrdiff_t base = (ptrdiff_t)(i / hidden) * 4 * hidden + i % hidden;
    T h_grad = has_out ? dh + g_out[i] : dh;
    T o = a[base], ig = a[base + hidden], f = a[base + 2 * hidden], g = a[base + 3 * hidden];
    T tc = tanh_c;
    T c_grad = dc + h_grad * ((one - tc * tc) * o);
    d[base] = (h_grad * tc) * ((one - o) * o);
    d[base + hidden] = (g * c_grad) * ((one - ig) * ig);
    d[base + 2 * hidden] = (c_prev * c_grad) * ((one - f) * f);
    d[base + 3 * hidden] = (ig * c_grad) * (one - g * g);
    dc = c_grad * f;""")


@jit.kernel
def _lstm_step_kernel(a, c_prev, c, half):
    """The element-wise part of a forward step after the tanh over the gates, in one pass (see
    :mod:`nerve.jit`): the three sigmoids (1 + tanh(x / 2)) / 2, then c = f c_prev + i g, as
    the NumPy passes of ``_lstm_forward`` compute them. ``a``: (N, 4 H), in the order o, i,
    f, g."""
    n, hidden = c.shape
    for r in range(n):
        for j in range(3 * hidden):
            a[r, j] = a[r, j] * half + half
        for j in range(hidden):
            c[r, j] = a[r, 2 * hidden + j] * c_prev[r, j] + a[r, hidden + j] * a[r, 3 * hidden + j]


@jit.kernel
def _lstm_back_kernel(a, c_prev, tanh_c, g_out, dh, dc, d, one):
    """One step of ``_lstm_backward`` before the product with the recurrent weights, in one
    pass (see :mod:`nerve.jit`), with the NumPy passes' operations in their order: ``dh`` (plus
    ``g_out`` unless it is empty) the gradient of h_t, ``dc`` of c_t, replaced by c_{t-1}'s;
    ``d`` gets dL/d(gates before activation), in the order o, i, f, g."""
    n, hidden = dh.shape
    for r in range(n):
        for j in range(hidden):
            h_grad = dh[r, j] + g_out[r, j] if g_out.size else dh[r, j]
            o, i = a[r, j], a[r, hidden + j]
            f, g = a[r, 2 * hidden + j], a[r, 3 * hidden + j]
            tc = tanh_c[r, j]
            c_grad = dc[r, j] + h_grad * ((one - tc * tc) * o)
            d[r, j] = (h_grad * tc) * ((one - o) * o)
            d[r, hidden + j] = (g * c_grad) * ((one - i) * i)
            d[r, 2 * hidden + j] = (c_prev[r, j] * c_grad) * ((one - f) * f)
            d[r, 3 * hidden + j] = (i * c_grad) * (one - g * g)
            dc[r, j] = c_grad * f


def _gru_forward(xp, xw, hs, w_hh, b_hh, acts, hn, valid=None) -> None:
    """The GRU's steps, in place in preallocated arrays: ``acts`` gets r, z and n activated,
    ``hn`` W_hn h + b_hn (which r scales), ``hs`` the states."""
    hidden = hn.shape[2]
    for t in range(acts.shape[0]):
        hw = hs[t].dot(w_hh.T)
        if b_hh is not None:
            hw += b_hh
        a = acts[t]
        a[:, :2 * hidden] = sigmoid_array(xw[t, :, :2 * hidden] + hw[:, :2 * hidden])
        hn[t] = hw[:, 2 * hidden:]
        r, z = a[:, :hidden], a[:, hidden:2 * hidden]
        new = a[:, 2 * hidden:]
        xp.tanh(xw[t, :, 2 * hidden:] + r * hn[t], out=new)
        xp.subtract(hs[t], new, out=hs[t + 1])  # h' = n + z (h - n)
        hs[t + 1] *= z
        hs[t + 1] += new
        if valid is not None:
            xp.copyto(hs[t + 1], hs[t], where=valid[t] == 0)


def _gru_forward_compiled(xp, xw, hs, w_hh, b_hh, acts, hn) -> None:
    """The GRU's forward steps with the element-wise work of each in two kernels around
    NumPy's exp and tanh: the operations of ``_gru_forward`` in their order (the same bits;
    see :mod:`nerve.jit`)."""
    t_len, n, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 3
    hw = xp.empty((n, 3 * hidden), hs.dtype)
    pre = xp.empty((n, 2 * hidden), hs.dtype)
    e = xp.empty((n, 2 * hidden), hs.dtype)
    wt = w_hh.T
    for t in range(t_len):
        hs[t].dot(wt, out=hw)
        if b_hh is not None:
            hw += b_hh
        xp.add(xw[t, :, :2 * hidden], hw[:, :2 * hidden], out=pre)
        xp.negative(xp.abs(pre, out=e), out=e)  # sigmoid_array's e^-|x|
        xp.exp(e, out=e)
        _gru_gates_kernel(pre, e, hw, xw[t], acts[t], hn[t])
        new = acts[t, :, 2 * hidden:]
        xp.tanh(new, out=new)
        _gru_state_kernel(hs[t], acts[t], hs[t + 1])


def _gru_backward_compiled(xp, keep, hs, g_out, dh, dxw, dhw, w_hh) -> None:
    """The GRU's steps back through time, each step's element-wise work in one kernel before
    its product: the operations of the loop in ``RecurrentFunction.backward`` in their order."""
    acts, hn = keep["acts"], keep["hn"]
    if g_out is not None:
        g_out = xp.ascontiguousarray(g_out)
    no_out, one = dh[:0], hs.dtype.type(1)
    for t in range(acts.shape[0] - 1, -1, -1):
        _gru_back_kernel(acts[t], hn[t], hs[t], no_out if g_out is None else g_out[t], dh,
                         dxw[t], dhw[t], one)
        dh += dhw[t].dot(w_hh)


@jit.kernel
def _gru_gates_kernel(pre, e, hw, xw, a, hn):
    """r and z = sigmoid_array(pre) from e = e^-|pre| (``where(pre >= 0, 1, e) / (e + 1)``),
    hn = W_hn h + b_hn, and n's input before its tanh, x W_in + b_in + r hn, into ``a``."""
    n, hidden = hn.shape
    one = e.dtype.type(1)
    for i in range(n):
        for j in range(2 * hidden):
            ej = e[i, j]
            a[i, j] = (one if pre[i, j] >= 0 else ej) / (ej + one)
        for j in range(hidden):
            h = hw[i, 2 * hidden + j]
            hn[i, j] = h
            a[i, 2 * hidden + j] = xw[i, 2 * hidden + j] + a[i, j] * h


@jit.kernel
def _gru_state_kernel(h, a, h_next):
    """h' = (h - n) z + n, the NumPy loop's n + z (h - n) in its order."""
    n, hidden = h.shape
    for i in range(n):
        for j in range(hidden):
            new = a[i, 2 * hidden + j]
            h_next[i, j] = (h[i, j] - new) * a[i, hidden + j] + new


@jit.kernel
def _gru_back_kernel(a, hn, h, g_out, dh, d, e, one):
    """One GRU step back before its product: with dh (plus ``g_out`` unless empty) the
    gradient of h_t, d = dL/d(input gates), e = dL/d(recurrent gates) and dh replaced by dh z,
    to which the caller adds e W_hh; the NumPy loop's operations in its order."""
    n, hidden = dh.shape
    for i in range(n):
        for j in range(hidden):
            g = dh[i, j] + g_out[i, j] if g_out.size else dh[i, j]
            r, z, new = a[i, j], a[i, hidden + j], a[i, 2 * hidden + j]
            dn = (g * (one - z)) * (one - new * new)
            d[i, 2 * hidden + j] = dn
            dr = ((dn * hn[i, j]) * r) * (one - r)
            dz = ((g * (h[i, j] - new)) * z) * (one - z)
            d[i, j] = dr
            d[i, hidden + j] = dz
            e[i, j] = dr
            e[i, hidden + j] = dz
            e[i, 2 * hidden + j] = dn * r
            dh[i, j] = g * z
