"""Gradient clipping and flat parameter vectors, with PyTorch's names.

Gradients may be arrays shared with other tensors, so the clipping functions put a new,
clipped array in ``p._grad`` instead of changing the old one in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import as_array, check_number


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (parameters). Received: an element of type "
                            f"{type(p).__name__}")
    return params


def _norm(g, norm_type: float) -> float:
    """Return the ``norm_type``-norm of all elements of ``g``."""
    if g.size == 0:
        return 0.0
    if norm_type == math.inf:
        return max(float(g.max()), -float(g.min()))
    if norm_type == 2.0:
        flat = g.ravel()
        return math.sqrt(float(flat @ flat))
    if norm_type == 1.0:
        return float(abs(g).sum())
    return float((abs(g) ** norm_type).sum()) ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Rescales the gradients so that their joint norm is at most ``max_norm``.

    total = || (||g_1||, ..., ||g_n||) ||   (each a ``norm_type``-norm; the norm of all elements)
    g_i <- g_i * max_norm / (total + 1e-6)   when that factor is below 1
    Returns ``total`` (before clipping) as a 0-d Tensor of the gradients' dtype, as PyTorch
    does (``tensor(0.)`` when no parameter has a gradient). Parameters without a gradient are
    skipped.
    """
    norm_type = check_number(norm_type, "norm_type", "clip_grad_norm_", 0.0, low_open=True)
    max_norm = check_number(max_norm, "max_norm", "clip_grad_norm_", 0.0)
    params = [p for p in _as_list(parameters) if p._grad is not None]
    if not params:
        return Tensor._wrap(backend.array_module().zeros((), backend.get_default_dtype()))
    norms = [_norm(p._grad, norm_type) for p in params]
    if norm_type == math.inf:  # max() would drop a NaN that does not come first
        total = math.nan if any(math.isnan(n) for n in norms) else max(norms)
    else:
        total = math.fsum(n**norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # below 1, or NaN: every gradient NaN then, as in PyTorch
        for p in params:  # a new array: the old one may be shared
            xp = backend.array_module(p._grad)
            p._grad = xp.multiply(p._grad, coef, out=xp.empty_like(p._grad))
    xp = backend.array_module(params[0]._grad)
    return Tensor._wrap(xp.array(total, dtype=params[0]._grad.dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clips every gradient element into [-clip_value, clip_value]: g <- min(max(g, -c), c)."""
    clip_value = check_number(clip_value, "clip_value", "clip_grad_value_", 0.0)
    for p in _as_list(parameters):
        if p._grad is not None:
            xp = backend.array_module(p._grad)  # a new array: the old one may be shared
            p._grad = xp.clip(p._grad, -clip_value, clip_value, out=xp.empty_like(p._grad))


def parameters_to_vector(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """Returns every parameter's values flattened and joined into one 1-D tensor: a new
    tensor in the graph, as PyTorch's (a penalty on it sends gradients to the parameters)."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector got an empty parameter list")
    return ops.concatenate([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters: Tensor | Iterable[Tensor]) -> None:
    """Copies consecutive slices of a 1-D ``vec`` into the parameters, in place.

    Unlike PyTorch, which rebinds ``param.data``, the values are copied into the existing
    arrays, so an optimizer that holds those parameters keeps working.
    """
    arr = as_array(vec)
    params = _as_list(parameters)
    total = sum(p._data.size for p in params)
    if arr.ndim != 1 or arr.size != total:
        raise ValueError(f"vec must be 1-D with {total} elements (the parameters' total), got "
                         f"shape {arr.shape}")
    start = 0
    for p in params:
        p._data[...] = arr[start:start + p._data.size].reshape(p._data.shape)
        p._bump()
        start += p._data.size


from nerve.nn.utils import rnn  # noqa: E402, F401 - nn.utils.rnn, PyTorch's path
