"""FlatGroup: a parameter group as views into one contiguous array.

An optimizer update is a handful of array passes. Done per parameter, an MLP's six parameters
cost six times the calls; done over one flat array holding all of them, one. The flat array is
also what a GPU kernel or an MPI all-reduce wants: one buffer, one call.
"""

from __future__ import annotations

import sys

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array

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
    - the parameters must move and something else holds one of their arrays (``p.data`` or
      ``p.detach().numpy()`` kept by the user, a view, another Tensor on the same memory, an
      earlier flat array still in use): moving it would silently cut the holder off from the
      updates. Parameters already back to back in one array (an earlier build's) stay put.

    ``holds`` checks before each step that nothing was rebound or replaced since: a
    parameter's array (``model.double()``, ``p.data = ...``), a state entry
    (``load_state_dict``), a gradient gone. If anything was, the group is built again from the
    arrays as they are then.
    """

    __slots__ = ("data", "grad", "views", "grad_views", "state", "state_views", "bases",
                 "states")

    @classmethod
    def build(cls, params: list[Tensor], state: dict) -> FlatGroup | None:
        """Flatten ``params`` (and their entries of ``state``), or return None (see above).

        Parameters that already lie back to back in one array (an earlier FlatGroup's, of
        this optimizer or another) stay where they are; otherwise they are moved.
        """
        dtype = params[0]._data.dtype
        xp = backend.array_module(params[0]._data)
        if any(p._grad is None or p._data.dtype != dtype or backend.array_module(p._data) is not xp
               for p in params):
            return None
        old = [state.get(p, {}) for p in params]
        if not _same_layout(old, params):
            return None
        flat = cls()
        flat.data = _laid_out(params)
        if flat.data is None:
            if not _movable(params):
                return None
            flat.data = _pack(xp, [p._data for p in params], params, dtype)
            for p, view in zip(params, _split(flat.data, params)):
                p._data = view
        flat.views = [p._data for p in params]
        flat.new_grads(params)
        flat.state, flat.state_views, flat.bases = {}, {}, {}
        for key, value in old[0].items():
            if backend.is_array(value):
                flat.state[key] = _pack(xp, [s[key] for s in old], params, dtype)
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
            if p._grad is not view:  # else written there by backward
                view[...] = grad_of(p)

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
            if self.bases.get(key) is not value:  # new, or replaced by the update (holds()
                self.state_views[key], self.bases[key] = _split(value, params), value  # checks
                for st, view in zip(self.states, self.state_views[key]):  # the rest)
                    st[key] = view


def grad_of(p: Tensor):
    """``p``'s gradient as an array, checked to have ``p``'s shape."""
    grad = as_array(p._grad)
    if grad.shape != p._data.shape:
        raise ValueError(f"a parameter of shape {p._data.shape} has a gradient of shape "
                         f"{grad.shape}")
    return grad


def _laid_out(params: list[Tensor]):
    """The 1-D array that holds ``params``' arrays back to back, as ``_split`` lays them out
    (left by an earlier FlatGroup), or None."""
    base = params[0]._data.base
    if base is None or base.ndim != 1 or base.size != _offsets(params)[1]:
        return None
    start, step = _address(base), base.itemsize
    for p, offset in zip(params, _offsets(params)[0]):
        a = p._data
        if a.base is not base or not a.flags.c_contiguous or _address(a) != start + offset * step:
            return None
    return base


def _movable(params: list[Tensor]) -> bool:
    """True if nothing but these parameters holds their arrays, so that rebinding them cuts
    nobody off: an array of its own held by its parameter alone, or a view of an array (an
    earlier flat buffer) whose every holder is one of these parameters' arrays."""
    views: dict[int, list] = {}  # id(base) -> [base, number of parameter arrays on it]
    for p in params:
        if sys.getrefcount(p._data) > 2:  # p's slot and getrefcount's argument: a holder
            return False  # (state_dict() and p.detach().numpy() hand out this very array)
        if p._data.base is not None:
            views.setdefault(id(p._data.base), [p._data.base, 0])[1] += 1
    for entry in views.values():
        if sys.getrefcount(entry[0]) > entry[1] + 2:  # its views, ``entry``, the argument
            return False
    return True


def _address(a) -> int:
    """Where ``a``'s first element lies in memory (NumPy's or CuPy's array interface)."""
    face = getattr(a, "__array_interface__", None) or a.__cuda_array_interface__
    return face["data"][0]


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


def _offsets(params: list[Tensor]) -> tuple[list[int], int]:
    """Where each parameter's array starts in the flat array, and the flat array's length."""
    offsets, end = [], 0
    for p in params:
        offsets.append(end)
        end += p._data.size
    return offsets, end


def _split(flat, params: list[Tensor]) -> list:
    """The views of ``flat`` that hold ``params``' arrays."""
    offsets, _ = _offsets(params)
    return [flat[o:o + p._data.size].reshape(p._data.shape) for o, p in zip(offsets, params)]


def _pack(xp, arrays: list, params: list[Tensor], dtype):
    """One flat array holding copies of ``arrays`` (one per parameter, shaped like it)."""
    flat = xp.empty(_offsets(params)[1], dtype)
    for view, a in zip(_split(flat, params), arrays):
        view[...] = a
    return flat
