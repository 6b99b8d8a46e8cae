"""In-place operations with PyTorch's rules: ``+=`` and the family ``add_``, ``sub_``, ``mul_``,
``div_``, ``pow_``, ``clamp_``, ``zero_``, ``fill_``, ``copy_``, ``normal_``, ``uniform_``, item
assignment ``t[i] = v`` and the masks' ``&=``, ``|=``, ``^=`` (``bitwise_and_``...).

- Under ``no_grad`` (the tutorial update ``p -= lr * p.grad``), or when no gradient is
  involved, the tensor's own memory is changed: views and the optimizer see it.
- On a leaf that requires grad, outside ``no_grad``, they raise (PyTorch: "a leaf Variable
  that requires grad is being used in an in-place operation").
- On a tensor made by operations, outside ``no_grad``, they are recorded: the result is
  written into the tensor's memory and the tensor takes the new operation as its ``grad_fn``
  (``out += residual`` in a forward pass backpropagates as ``out = out + residual``). A tensor
  that shares its memory with a view refuses, as the view's history would no longer match.

Every in-place change bumps the tensor's version counter, so that a node which saved the old
values refuses to backpropagate with the new ones.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor, grad_state, no_grad
from nerve.checks import check_number
from nerve.function import Function
from nerve.ops import arithmetic as ar
from nerve.ops import elementwise as el
from nerve.ops import select as sel
from nerve.ops._common import register, unbroadcast
from nerve.ops.shape import Steps, index_key


def _records(t: Tensor, args) -> bool:
    """Whether an in-place operation on ``t`` with ``args`` must be recorded in the graph."""
    return grad_state.enabled and (t._rg or any(isinstance(a, Tensor) and a._rg for a in args))


def apply_inplace(t: Tensor, op, *args, **kwargs) -> Tensor:
    """Compute ``op(t, *args)`` and put the result into ``t``, with the rules above."""
    if not _records(t, (*args, *kwargs.values())):  # a tensor by keyword too (clamp_(min=t))
        with no_grad():
            out = op(Tensor._wrap(t._data), *args, **kwargs)
        _write(t, out._data, op)
        return t
    if t._rg and t._node is None:
        raise RuntimeError(f"{op.__name__}_: a leaf tensor that requires grad is being changed "
                           "in place outside nerve.no_grad(); wrap the update in "
                           "`with nerve.no_grad():` (as optimizers do) or make it out of place")
    views = t._vc[1] if t._vc is not None and len(t._vc) > 1 else None
    ref = None if views is None else views.get(id(t))
    if ref is not None and ref() is t:
        raise RuntimeError(f"{op.__name__}_: this tensor is a view (made by indexing, reshape, "
                           "transpose...) of another, whose history would no longer match; "
                           "change the base (x[i] = ...), or make the change out of place, "
                           "while recording")
    old = Tensor._wrap(t._data.copy(), t._node, t._index)  # the node may save the old values
    old._rg = t._rg
    retained = t.retains_grad
    out = op(old, *args, **kwargs)
    _write(t, out._data, op)
    if retained:  # retain_grad() follows the tensor to its new value, as in PyTorch
        hooks = t._node.output_hooks[t._index]
        hooks[:] = [h for h in hooks if not getattr(h, "retains", False)]
    t._node, t._index, t._rg = out._node, out._index, out._rg
    if retained:
        t.retain_grad()
    if views is not None:
        _retire_views(views, t)
    return t


class _OutdatedViewFunction(Function):
    "y = a view whose base was changed in place afterwards (backward refuses it)"

    def backward(ctx, g):
        raise RuntimeError("a view (made by indexing, reshape, transpose...) was used after its "
                           "base was changed in place while recording, so its history is out "
                           "of date; take the view again after the change")


def _retire_views(views: dict, base: Tensor) -> None:
    """The views made before ``base`` took a new history point at a node that refuses to
    backpropagate (uses recorded earlier keep their own edges, and stay right)."""
    for ref in list(views.values()):
        view = ref()
        if view is not None and view is not base and view._rg:
            node = _OutdatedViewFunction.__new__(_OutdatedViewFunction)
            node.edges, node.needs_input_grad = [], ()
            view._node, view._index = node, 0


def _write(t: Tensor, values, op) -> None:
    """Write ``values`` into ``t``'s memory, refusing a change of shape or of dtype kind."""
    if values.shape != t._data.shape:
        raise RuntimeError(f"{op.__name__}_: the result has shape {values.shape}, which cannot "
                           f"be written into a tensor of shape {t._data.shape}")
    if not backend.can_cast(values.dtype, t._data.dtype):
        raise RuntimeError(f"{op.__name__}_: the result has dtype {values.dtype}, which cannot "
                           f"be written into a tensor of dtype {t._data.dtype} in place")
    t._data[...] = values
    t._bump()


def _inplace(op, name: str, doc: str, operator: str | None = None):
    def method(self, *args, **kwargs):
        return apply_inplace(self, op, *args, **kwargs)

    method.__name__, method.__qualname__, method.__doc__ = name, f"Tensor.{name}", doc
    names = (name,) if operator is None else (name, operator)
    register(method, methods=names, public=False)
    return method


def _scaled(op):
    """add or sub with PyTorch's ``alpha``: input + alpha * other."""
    def scaled(input, other, *, alpha=1):  # noqa: A002 - PyTorch's names
        return op(input, other if alpha == 1 else other * alpha)

    scaled.__name__ = op.__name__
    return scaled


_inplace(_scaled(ar.add), "add_", "self += alpha * other, in place.", "__iadd__")
_inplace(_scaled(ar.sub), "sub_", "self -= alpha * other, in place.", "__isub__")
_inplace(ar.mul, "mul_", "self *= other, in place.", "__imul__")
_inplace(ar.div, "div_", "self /= other, in place.", "__itruediv__")
_inplace(ar.pow, "pow_", "self **= other, in place.", "__ipow__")
_inplace(ar.neg, "neg_", "self = -self, in place.")
_inplace(el.clip, "clamp_", "self limited to [min, max], in place.")
_inplace(el.clip, "clip_", "self limited to [min, max], in place (clamp_).")
_inplace(ar.bitwise_and, "bitwise_and_", "self &= other, in place.", "__iand__")
_inplace(ar.bitwise_or, "bitwise_or_", "self |= other, in place.", "__ior__")
_inplace(ar.bitwise_xor, "bitwise_xor_", "self ^= other, in place.", "__ixor__")
_inplace(ar.floor_divide, "floor_divide_", "self //= other, in place.", "__ifloordiv__")
_inplace(ar.remainder, "remainder_", "self %= other, in place.", "__imod__")
_inplace(ar.fmod, "fmod_", "self = fmod(self, other), in place.")
for _fn in (el.exp, el.log, el.sqrt, el.abs, el.tanh, el.sigmoid, el.relu):
    _inplace(_fn, f"{_fn.__name__}_", f"self = {_fn.__name__}(self), in place.")


class _OverwriteFunction(Function):
    "y = values (the old contents are replaced);  dx = 0, dvalues = g summed to its shape"

    def forward(ctx, x, values):
        xp = backend.array_module(x)
        ctx.shape_values = getattr(values, "shape", ())
        return xp.broadcast_to(xp.asarray(values, dtype=x.dtype), x.shape).copy()

    def backward(ctx, g):
        needs = ctx.needs_input_grad
        return (backend.array_module(g).zeros_like(g) if needs[0] else None,
                unbroadcast(g, ctx.shape_values) if len(needs) > 1 and needs[1] else None)


def _overwrite(input, values):  # noqa: A002
    return _OverwriteFunction.apply(input, values)


_overwrite.__name__ = "copy"


@register(methods=("copy_",), public=False)
def copy_(self, src) -> Tensor:
    """Copy ``src`` (broadcast to this shape, cast to this dtype) into this tensor, in place."""
    return apply_inplace(self, _overwrite, src)


@register(methods=("fill_",), public=False)
def fill_(self, value) -> Tensor:
    """Set every element to ``value``, in place."""
    return apply_inplace(self, _overwrite, value._data if isinstance(value, Tensor) else value)


@register(methods=("zero_",), public=False)
def zero_(self) -> Tensor:
    """Set every element to 0, in place."""
    return apply_inplace(self, _overwrite, 0)


@register(methods=("scatter_",), public=False)
def scatter_(self, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """``scatter`` in place: ``nerve.zeros(n, c).scatter_(1, y.unsqueeze(1), 1.0)`` (one-hot)."""
    return apply_inplace(self, sel.scatter, dim, index, value if src is None else src,
                         reduce=reduce)  # src positional: a tensor src is seen by the rules


@register(methods=("normal_",), public=False)
def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples of N(mean, std^2) from nerve's seeded generator, in place."""
    check_number(std, "std", "normal_", 0.0)
    values = backend.rng(backend.device_of(self._data)).normal(mean, std, self.shape)
    return apply_inplace(self, _overwrite, backend.array_module(self._data).asarray(values))


@register(methods=("uniform_",), public=False)
def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples of U(a, b) from nerve's seeded generator, in place."""
    values = backend.rng(backend.device_of(self._data)).uniform(a, b, self.shape)
    return apply_inplace(self, _overwrite, backend.array_module(self._data).asarray(values))


class SetItemFunction(Function):
    "y = x with y[index] = values;  dx = g with zeros at index, dvalues = g[index] summed"

    def forward(ctx, x, values, *, index):
        out = x.copy()
        _place(out, index, values)
        ctx.shape_values = getattr(values, "shape", ())
        return out

    def backward(ctx, g):
        index = ctx.options["index"]
        needs = ctx.needs_input_grad
        gx = gv = None
        if needs[0]:
            gx = g.copy()
            _place(gx, index, 0)
        if len(needs) > 1 and needs[1]:
            target, key = index.split(g) if isinstance(index, Steps) else (g, index)
            gv = target[key]
            extra = len(ctx.shape_values) - gv.ndim  # values of (1, 3, 2) into a (3, 2) place
            gv = unbroadcast(gv.reshape((1,) * extra + gv.shape) if extra > 0 else gv,
                             ctx.shape_values)
        return gx, gv


def _place(a, index, values) -> None:
    """a[index] = values, for a key of NumPy's or PyTorch's two steps (:class:`Steps`)."""
    target, key = index.split(a) if isinstance(index, Steps) else (a, index)
    target[key] = values


def _setitem_op(input, values, *, index):  # noqa: A002
    return SetItemFunction.apply(input, values, index=index)


_setitem_op.__name__ = "setitem"


@register(methods=("__setitem__",), public=False)
def setitem(self, index, value) -> None:
    """``t[index] = value`` with the in-place rules (recorded when gradients are involved)."""
    index = index_key(index, self.ndim)
    if not _records(self, (value,)):
        _place(self._data, index, value._data if isinstance(value, Tensor) else value)
        self._bump()
        return
    values = value if isinstance(value, Tensor) else Tensor._wrap(
        backend.array_module(self._data).asarray(value, dtype=self.dtype))
    apply_inplace(self, _setitem_op, values, index=index)
