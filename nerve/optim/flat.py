"""FlatGroup: a parameter group as views into one contiguous array.

An optimizer update is a handful of array passes. Done per parameter, an MLP's six parameters
cost six times the calls; done over one flat array holding all of them, one. The flat array is
also what a GPU kernel or an MPI all-reduce wants: one buffer, one call.
"""

from __future__ import annotations

import sys
from typing import Any

from nerve import backend
from nerve.autograd import Tensor

# A group of CHUNKED_MIN elements or more is updated in pieces of CHUNK elements (1 MB of
# float32 per array). Measured in the MLP sweep's training step (benchmarks/cases_sweep.py):
# 784-2048-2048-10 (5.8 M parameters), Adam, batch 16: 23.7 -> 19.1 ms; 1.9 M parameters:
# -5%; 0.67 M: +10% (so not below 2 M). Pieces on two threads gained nothing there.
CHUNK = 262144
CHUNKED_MIN = 1 << 21


class FlatGroup:
    """One parameter group's arrays, gradients and optimizer state as flat arrays.

    - ``data``: every parameter's values; each parameter's array is rebound to its view of
      ``data``, so it stays an ordinary Tensor and updating ``data`` updates it.
    - ``grad``: the gradients. After each update the group takes a new ``grad`` array and
      gives each parameter its view as the home of its next gradient, which an operation that
      can (the linear layer's) writes the gradient into during ``backward()``: no copy.
      ``gather_grads`` copies in the gradients that arrived elsewhere. A new array each step,
      never the old one: a gradient the user kept from the last step keeps its values.
    - ``state``: the optimizer's state for the whole group (``step``, ``exp_avg``...), with
      ``optimizer.state[p]`` holding the views for ``p`` and the shared step count, so
      ``state_dict()`` and checkpoints are as they would be without it.

    ``build`` refuses (returns None, and the group is updated parameter by parameter) when:
    - a parameter has no gradient, or the parameters differ in dtype or array module;
    - their state differs (step counts, keys, shapes);
    - a parameter's array is held by anything but the parameter (``p.data`` or
      ``p.detach().numpy()`` kept by the user, a view, another Tensor on the same memory).
      Moving it would silently cut the other holder off from the updates.

    ``holds`` checks before each step that nothing was rebound or replaced since: a
    parameter's array (``model.double()``, ``p.data = ...``), a state entry
    (``load_state_dict``), a gradient gone. If anything was, the group is built again from the
    arrays as they are then.
    """

    __slots__ = ("data", "grad", "views", "grad_views", "state", "state_views", "bases",
                 "states")

    @classmethod
    def build(cls, params: list[Tensor], state: dict, moved_from: Any = None) -> FlatGroup | None:
        """Flatten ``params`` (and their entries of ``state``), or return None (see above).

        ``moved_from`` is the ``data`` of this group's previous FlatGroup: a parameter that is
        a view of it may be moved again.
        """
        dtype = params[0]._data.dtype
        xp = backend.array_module(params[0]._data)
        for p in params:
            if (p._grad is None or p._data.dtype != dtype or backend.array_module(p._data) is not xp
                    or not _movable(p, moved_from)):
                return None
        old = [state.get(p, {}) for p in params]
        if not _same_layout(old, params):
            return None
        flat = cls()
        flat.data, flat.views = _pack(xp, [p._data for p in params], dtype)
        for p, view in zip(params, flat.views):
            p._data = view
        flat.new_grads(params)
        flat.state, flat.state_views, flat.bases = {}, {}, {}
        for key, value in old[0].items():
            if backend.is_array(value):
                flat.state[key], flat.state_views[key] = _pack(xp, [s[key] for s in old], dtype)
                flat.bases[key] = flat.state[key]
            else:
                flat.state[key] = value
        flat.states = [state.setdefault(p, {}) for p in params]
        flat.share_state(params)
        return flat

    def update(self, fn, group: dict, keys: set | None) -> None:
        """Run the optimizer's ``fn(data, grad, group, state)`` over the whole group.

        A large group on the CPU (``CHUNKED_MIN`` elements or more) whose state already holds
        every entry in ``keys`` (what ``fn`` would otherwise create on first use) is updated in
        pieces of ``CHUNK`` elements, each staying in the CPU's cache through all the passes of
        the update instead of streaming every pass through memory. A piece's state is a dict
        of slices of the flat state; the step count comes back from the last piece.
        """
        n = self.data.size
        if (n < CHUNKED_MIN or keys is None or not keys <= self.state.keys()
                or backend.device_of(self.data) != "cpu"):
            fn(self.data, self.grad, group, self.state)
            return
        arrays = [k for k, v in self.state.items() if backend.is_array(v)]
        numbers = {k: v for k, v in self.state.items() if not backend.is_array(v)}
        for i in range(0, n, CHUNK):
            piece = dict(numbers)
            piece.update((k, self.state[k][i:i + CHUNK]) for k in arrays)
            fn(self.data[i:i + CHUNK], self.grad[i:i + CHUNK], group, piece)
        self.state.update((k, piece[k]) for k in numbers)

    def holds(self, params: list[Tensor], state: dict) -> bool:
        """True if ``params`` and their ``state`` are still this group's views, with gradients."""
        if len(params) != len(self.views):
            return False
        for p, view, st in zip(params, self.views, self.states):
            if p._data is not view or p._grad is None or state.get(p) is not st:
                return False
        for key, value in self.state.items():
            views = self.state_views.get(key)
            for i, st in enumerate(self.states):
                if (st.get(key) is not views[i]) if views else (st.get(key) != value):
                    return False
        return all(len(st) == len(self.state) for st in self.states)

    def gather_grads(self, params: list[Tensor]) -> None:
        """Copy each parameter's gradient into its view of ``grad``."""
        for p, view in zip(params, self.grad_views):
            g = p._grad
            if g is view:  # written there by backward
                continue
            if g.shape != view.shape:
                raise ValueError(f"a parameter of shape {view.shape} has a gradient of shape "
                                 f"{g.shape}")
            view[...] = g

    def new_grads(self, params: list[Tensor]) -> None:
        """Take a new gradient array and make its views the parameters' gradient homes."""
        self.grad = backend.array_module(self.data).empty_like(self.data)
        self.grad_views = _split(self.grad, params)
        for p, view in zip(params, self.grad_views):
            p._home = view

    def share_state(self, params: list[Tensor]) -> None:
        """Give each parameter's state dict its views of the flat state (after an update,
        which may have added entries)."""
        for key, value in self.state.items():
            if not backend.is_array(value):
                for st in self.states:
                    st[key] = value
                continue
            if self.bases.get(key) is not value:  # new, or replaced by the update
                self.state_views[key], self.bases[key] = _split(value, params), value
            for st, view in zip(self.states, self.state_views[key]):
                st[key] = view


def _movable(p: Tensor, moved_from) -> bool:
    """True if nothing but ``p`` holds its array (so rebinding it cuts nobody off)."""
    arr = p._data
    base = arr.base
    if base is not None and base is not moved_from:
        return False
    # references: p's slot, this local, getrefcount's argument
    return sys.getrefcount(arr) <= 3


def _same_layout(states: list[dict], params: list[Tensor]) -> bool:
    """True if every state dict has the same keys, equal numbers and arrays shaped like its
    parameter."""
    keys = states[0].keys()
    for st, p in zip(states, params):
        if st.keys() != keys:
            return False
        for key in keys:
            value, first = st[key], states[0][key]
            if backend.is_array(value):
                if value.shape != p._data.shape:
                    return False
            elif backend.is_array(first) or value != first:
                return False
    return True


def _offsets(shapes: list[tuple]) -> tuple[list[int], int]:
    """Where each array of these shapes starts in the flat array, and its length."""
    offsets, end = [], 0
    for shape in shapes:
        offsets.append(end)
        end += _size(shape)
    return offsets, end


def _size(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _split(flat, params: list[Tensor]) -> list:
    """The views of ``flat`` that hold ``params``' arrays."""
    shapes = [p._data.shape for p in params]
    offsets, _ = _offsets(shapes)
    return [flat[o:o + _size(s)].reshape(s) for o, s in zip(offsets, shapes)]


def _pack(xp, arrays: list, dtype) -> tuple[Any, list]:
    """One flat array holding copies of ``arrays``, and the views that hold them."""
    offsets, end = _offsets([a.shape for a in arrays])
    flat = xp.empty(end, dtype)
    views = []
    for o, a in zip(offsets, arrays):
        view = flat[o:o + a.size].reshape(a.shape)
        view[...] = a
        views.append(view)
    return flat, views
