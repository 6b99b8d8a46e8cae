"""The Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict.

Optimizers change parameter arrays in place and build no graph. Each keeps its state per
parameter as a plain dict of arrays and numbers; ``state_dict()`` keys that state by the
parameter's position across the groups (as PyTorch does), so it can be saved as safetensors +
JSON without pickling. A subclass defines ``_check(group)`` and ``_update(data, grad, group,
state)``, which changes the array ``data`` in place: once per parameter, or once per group with
the group's flat arrays and flat state (``nerve.optim.flat``). ``grad`` may be reused after
the call: copy what the state keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nerve import backend
from nerve.autograd import Tensor, enable_grad
from nerve.checks import as_array, check_bool, message
from nerve.optim.flat import FlatGroup, grad_of


class Optimizer:
    """Base class of optimizers: parameter groups, per-parameter state and the step loop.

    ``flat`` (True unless set to False on the optimizer) lets ``step()`` update each group as
    one flat array: see :class:`FlatGroup`.
    """

    flat = True
    # hyper-parameters added after files were written: a saved group without one takes this
    later_keys = {"maximize": False}

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any], *,
                 foreach: bool | None = None, fused: bool | None = None,
                 capturable: bool = False, differentiable: bool = False):
        who = type(self).__name__
        for name, value in (("foreach", foreach), ("fused", fused)):  # PyTorch's ways to
            if value is not None:  # run an update: nerve's is one pass over the group anyway
                check_bool(value, name, who)
        for name, value in (("capturable", capturable), ("differentiable", differentiable)):
            if check_bool(value, name, who):
                raise ValueError(message(who, f"{name}=False (nerve has no CUDA graphs and "
                                         "no graph through an update)", name, value))
        self._check(defaults)
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._work: dict[tuple, Any] = {}
        self._flats: dict[int, FlatGroup | None] = {}
        params = _as_list(params, "params")
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # --- subclass hooks -----------------------------------------------------------------
    def _check(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an invalid hyper-parameter of ``group``."""

    def _update(self, data, grad, group: dict, state: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} defines no _update()")

    def _state_keys(self, group: dict[str, Any]) -> set[str] | None:
        """The state entries ``_update`` keeps for ``group`` (None: unknown). Once they all
        exist, a large flat group may be updated in pieces (``FlatGroup.update``): a piece
        must not create state."""
        return None

    # --- groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyper-parameters that override the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"a parameter group needs a 'params' entry, got keys "
                             f"{sorted(param_group)}")
        params = _as_list(param_group["params"], "a group's 'params'")
        for p in params:
            _check_param(p)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once in the parameter groups")
        group = {"params": params}
        group.update({k: v for k, v in self.defaults.items() if k not in param_group})
        group.update({k: v for k, v in param_group.items() if k != "params"})
        check_bool(group.get("maximize", False), "maximize", type(self).__name__)
        self._check(group)
        self.param_groups.append(group)

    # --- stepping -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (None), or give it a fresh array of zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p._grad is None:
                    p._grad = None
                else:
                    p._grad = backend.array_module(p._grad).zeros_like(p._grad)  # the old one
                    # may be shared with another tensor: a new array

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        A group whose parameters all have gradients and share one step count is updated as one
        flat array (see :class:`FlatGroup`); otherwise each parameter is updated on its own.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            params = group["params"]
            if len(backend.ARRAY_MODULES) > 1:  # a GPU backend is loaded: did a model move?
                self._follow_devices(params)
            flat = self._flat_group(i, params)
            update = self._ascend if group.get("maximize") else self._update
            if flat is not None:
                flat.gather_grads(params)
                flat.update(update, group, self._state_keys(group))
                flat.share_state(params)
                flat.new_grads(params)
                for p in params:
                    p._bump()  # a node that saved the old values must not use the new ones
                continue
            for p in params:
                if p._grad is not None:
                    update(p._data, grad_of(p), group, self.state.setdefault(p, {}))
                    p._bump()
        return loss

    def _ascend(self, data, grad, group: dict, state: dict) -> None:
        """``maximize=True``: the update of -grad (a copy: ``.grad`` stays as it is)."""
        self._update(data, -grad, group, state)

    def _flat_group(self, i: int, params: list[Tensor]) -> FlatGroup | None:
        """The flat arrays of group ``i``, (re)built if the parameters or state moved since."""
        if not self.flat or len(params) < 2:
            return None
        flat = self._flats.get(i)
        if flat is not None and flat.holds(params, self.state):
            return flat
        self._flats[i] = flat = None  # its arrays would count as holders of the parameters'
        self._flats[i] = FlatGroup.build(params, self.state)
        return self._flats[i]

    def _follow_devices(self, params: list[Tensor]) -> None:
        """Move each parameter's state to the parameter's device where ``model.to(device)``
        moved the parameter after the state was made (as PyTorch's ``load_state_dict`` casts
        state to its parameter's device): the flat buffers are then built again there."""
        for p in params:
            state = self.state.get(p)
            for key, value in (state or {}).items():
                if backend.is_array(value) and type(value) is not type(p._data):
                    state[key] = backend.on_device_of(value, p._data)

    def _scratch(self, like, slot: int = 0):
        """Return a reusable work array shaped like ``like`` (its contents are garbage)."""
        key = (type(like), like.dtype, slot)
        buf = self._work.get(key)
        if buf is None or buf.size < like.size:
            buf = self._work[key] = backend.array_module(like).empty(like.size, like.dtype)
        return buf[: like.size].reshape(like.shape)

    # --- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return ``{"state": {index: {name: array or number}}, "param_groups": [...]}``.

        Arrays are copies; a group's ``params`` lists the indices of its parameters.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: v.copy() if backend.is_array(v) else v for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take hyper-parameters and state from ``state_dict`` (as made by ``state_dict()``).

        Index keys may be ints or strings (as after JSON); arrays are copied into the
        parameter's dtype, and a shape that differs from the parameter's raises ValueError.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("an optimizer state dict needs 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        by_index = self._match_groups(saved_groups)
        state = {}
        for key, saved in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"the state dict holds state for parameter {key}, which no "
                                 f"group lists")
            state[p] = {name: _load_value(name, v, p) for name, v in saved.items()}
        groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            new = {"params": group["params"]}
            new.update({k: v for k, v in saved.items() if k != "params"})
            for k, default in self.later_keys.items():
                if k in group:
                    new.setdefault(k, default)
            self._check(new)
            groups.append(new)
        self.state, self.param_groups = state, groups

    def _match_groups(self, saved_groups: list[dict]) -> dict[int, Tensor]:
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(saved_groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} holds {len(saved['params'])} parameters "
                                 f"in the state dict and {len(group['params'])} here")
            by_index.update({int(k): p for k, p in zip(saved["params"], group["params"])})
        return by_index

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines) + "\n)"


def _as_list(params, what: str) -> list:
    if isinstance(params, (Tensor, dict)):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{what} must be an ordered collection (a list), not a set: a set's "
                        "order changes between runs and state dicts rely on it")
    try:
        return list(params)
    except TypeError:
        raise TypeError(f"{what} must be an iterable of Tensors or of dicts, got "
                        f"{type(params).__name__}") from None


def _check_param(p) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"an optimizer can only optimize Tensors, got {type(p).__name__}")
    if not p.is_leaf:
        raise ValueError("an optimizer can't optimize a non-leaf Tensor (one made by an "
                         "operation); optimize the leaves it was computed from")
    if p._data.dtype.kind != "f":
        raise TypeError(f"an optimizer can only optimize floating-point Tensors, got dtype "
                        f"{p._data.dtype}")


def _load_value(name: str, value, p: Tensor):
    """Return a saved state entry as a number, or as an array copied into ``p``'s dtype."""
    if isinstance(value, Tensor):
        value = value._data
    if backend.real_scalar(value) is not None and not isinstance(value, (int, float)):
        return backend.real_scalar(value)  # a NumPy scalar
    if not (backend.is_array(value) or isinstance(value, (list, tuple))):
        return value
    arr = as_array(value)
    if arr.ndim == 0:
        return arr.item()
    if arr.shape != p._data.shape:
        raise ValueError(f"state {name!r} has shape {arr.shape}, its parameter has shape "
                         f"{p._data.shape}")
    arr = backend.on_device_of(arr, p._data)  # the state lives on its parameter's device
    return backend.array_module(p._data).array(arr, dtype=p._data.dtype)


def zeros_state(state: dict[str, Any], name: str, like):
    """Return ``state[name]``, first setting it to zeros shaped like ``like`` if missing."""
    buf = state.get(name)
    if buf is None:
        buf = state[name] = backend.array_module(like).zeros_like(like)
    return buf

