"""Tracing a forward pass: every operation it runs, in order, with where each argument came from.

Every operation of nerve is a :class:`nerve.Function` run by ``Function.apply``. While a trace
runs (in its own thread, under a lock), ``apply`` is wrapped so that each call is written down
as a :class:`Call`: the Function class, its options, and for each argument its *source*, found
when the call happens (so that a later in-place change cannot mislead it):

- ``("input", k)``: the model's k-th input;
- ``("param", name)``: a parameter or buffer of the model, by its ``state_dict`` name;
- ``("call", call, i)``: output ``i`` of an earlier call (found by the graph node of a recorded
  tensor, or by the identity of an unrecorded tensor or of its array);
- ``("const", array)``: anything else that is an array (a copy of it, as it was then);
- ``("scalar", number)``; ``None``; ``("raw", value)``; ``("tuple", sources)``.

Operations that are not recorded in the autograd graph (comparisons, argmax, work on tensors
that need no gradient) are written down too. A few layers are taken whole, as one call of the
module (their inside works on arrays or depends on the data): see ``MODULES``.
"""

from __future__ import annotations

import numbers
import threading

from nerve import backend
from nerve.autograd import Tensor
from nerve.function import Function
from nerve.nn.module import register_module_forward_hook, register_module_forward_pre_hook
from nerve.ops import _common, convert, select, shape
from nerve.ops.shape import CastFunction, CloneFunction

_APPLY = Function.__dict__["apply"]  # the classmethod itself, put back after each trace
_LOCK = threading.Lock()
MODULES: tuple = ()  # module classes traced whole; set by nerve.onnx.converters
ALIASES = (CloneFunction,)  # copies (contiguous() makes one or not by the memory layout)


class Call:
    """One operation (a Function class) or one module traced whole, as it ran."""

    __slots__ = ("kind", "sources", "options", "option_sources", "outputs", "path", "module")

    def __init__(self, kind, sources, options, option_sources, outputs, path, module=None):
        self.kind, self.sources, self.options = kind, sources, options
        self.option_sources, self.outputs = option_sources, outputs
        self.path, self.module = path, module

    @property
    def label(self) -> str:
        """What the call is, for messages: ``LinearBackward``, or ``Embedding (a layer)``."""
        if self.module is not None:
            return f"the layer {type(self.module).__name__}"
        fn = self.options.get("fn") if isinstance(self.options, dict) else None
        try:
            name = self.kind.name() if fn is None else f"{fn.__name__}Backward"
        except TypeError:  # a name() that reads the node's options
            name = self.kind.__name__

        return f"the operation {name} ({self.kind.__name__})"


class Tracer:
    """The tape of one forward pass of ``model`` on ``inputs`` (Tensors)."""

    def __init__(self, model, inputs: list):
        self.calls: list[Call] = []
        self.params: dict[int, str] = {}
        for name, t in (*model.named_parameters(), *model.named_buffers()):
            self.params.setdefault(id(t), name)
            self.params.setdefault(id(t._data), name)
        self.inputs = {}
        for k, t in enumerate(inputs):
            self.inputs[id(t)] = self.inputs[id(t._data)] = k
        self.by_node: dict = {}  # (id(node), output index) -> its source
        self.by_leaf: dict = {}  # id(tensor) -> its source, for tensors without a node
        self.by_array: dict = {}  # id(array) -> its source
        # every object whose id() is a key above, kept alive until the trace ends: a tensor
        # freed during the forward (a copy no call keeps) would let a new one take its id
        self.keep: list = []
        self.paths = {id(m): name for name, m in model.named_modules()}
        self.stack: list = []  # (module path, module, sources or None), innermost last
        self.busy = False
        self.thread = threading.get_ident()
        self.reads: list[str] = []  # values computed from the input that Python read

    # --- sources ---------------------------------------------------------------------------
    def _named(self, k: int):
        """The source of the object with id ``k`` if it is a model input or a parameter."""
        if k in self.inputs:
            return ("input", self.inputs[k])
        if k in self.params:
            return ("param", self.params[k])
        return None

    def source(self, a):
        if a is None:
            return None
        if isinstance(a, Tensor):
            node = a._node
            if node is not None:
                hit = self.by_node.get((id(node), a._index))
                return hit if hit else ("const", a._data.copy())
            hit = self._named(id(a)) or self.by_leaf.get(id(a))
            return hit if hit else self.source(a._data)
        if backend.is_array(a):
            hit = self._named(id(a)) or self.by_array.get(id(a))
            return hit if hit else ("const", a.copy())
        if isinstance(a, (tuple, list)):
            return ("tuple", tuple(self.source(v) for v in a), type(a))
        if isinstance(a, (numbers.Number, bool)):
            return ("scalar", a)
        return ("raw", a)

    def from_input(self, src, _seen=None) -> bool:
        """Whether the value of source ``src`` depends on the model's inputs."""
        _seen = set() if _seen is None else _seen
        if not isinstance(src, tuple) or not src:
            return False
        if src[0] == "input":
            return True
        if src[0] == "tuple":
            return any(self.from_input(s, _seen) for s in src[1])
        if src[0] != "call" or id(src[1]) in _seen:
            return False
        _seen.add(id(src[1]))
        call = src[1]
        return any(self.from_input(s, _seen) for s in
                   (*call.sources, *call.option_sources.values()))

    def read(self, t, how: str) -> None:
        """Python read the value of ``t`` (a branch, a number): noted if it came from the
        input, whose other values the file must serve."""
        if threading.get_ident() == self.thread and self.from_input(self.source(t)):
            self.reads.append(f"{how} at {self.path or 'the model'}")

    def _option_sources(self, options: dict) -> dict:
        return {k: self.source(v) for k, v in options.items()
                if isinstance(v, (Tensor, tuple, list)) or backend.is_array(v)}

    @property
    def path(self) -> str:
        return self.stack[-1][0] if self.stack else ""

    # --- recording -------------------------------------------------------------------------
    def record(self, kind, sources, options, option_sources, out, module=None) -> None:
        outs = out if isinstance(out, tuple) else (out,)
        outs = tuple(t for t in outs if isinstance(t, Tensor))
        if kind in ALIASES and module is None:  # a copy: the same value as its input
            made = [sources[0]] * len(outs)
        else:
            call = Call(kind, sources, options, option_sources, outs, self.path, module)
            self.calls.append(call)
            made = [("call", call, i) for i in range(len(outs))]
        for t, src in zip(outs, made):
            self.keep.append((t, t._node, t._data))
            if t._node is not None:
                self.by_node[(id(t._node), t._index)] = src
            else:
                self.by_leaf[id(t)] = src
            self.by_array[id(t._data)] = src

    def pre_hook(self, module, args) -> None:
        if threading.get_ident() != self.thread:
            return
        whole = type(module) in MODULES and not self.busy  # a subclass: through its forward
        sources = [self.source(a) for a in args] if whole else None
        path = self.paths.get(id(module), self.path)
        self.stack.append((path, module, sources))
        if whole:
            self.busy = True  # its inside is not recorded: the module is one call

    def hook(self, module, args, output) -> None:
        if threading.get_ident() != self.thread or not self.stack:
            return
        path, mod, sources = self.stack.pop()
        if sources is not None and mod is module:
            self.busy = False
            self.stack.append((path, mod, None))  # the call is named by the module's path
            self.record(type(module), sources, {}, {}, output, module)
            self.stack.pop()


_state = threading.local()


def _traced_apply(cls, *args, **options):
    tracer = getattr(_state, "tracer", None)
    if tracer is None or tracer.busy:
        return _APPLY.__func__(cls, *args, **options)
    sources = [tracer.source(a) for a in args]
    option_sources = tracer._option_sources(options)
    tracer.busy = True  # what an operation runs inside (a custom Function's ops) is its own
    try:
        out = _APPLY.__func__(cls, *args, **options)
    finally:
        tracer.busy = False
    tracer.record(cls, sources, options, option_sources, out)
    return out


def _traced_cast(fn):
    """A dtype conversion that runs no Function (towards an integer or bool dtype, or of an
    operand in type promotion), written down as a CastFunction call."""

    def cast(x, dtype):
        tracer = getattr(_state, "tracer", None)
        if tracer is None or tracer.busy or not (isinstance(x, Tensor) or backend.is_array(x)):
            return fn(x, dtype)
        source, n = tracer.source(x), len(tracer.calls)
        out = fn(x, dtype)
        if out is not x and len(tracer.calls) == n:
            t = out if isinstance(out, Tensor) else Tensor._wrap(out)
            tracer.record(CastFunction, [source], {"dtype": dtype}, {}, t)
            if t is not out:
                tracer.by_leaf.pop(id(t), None)
        return out

    return cast


_CASTS = ((_common, "_cast"), (convert, "cast"), (select, "cast"))
_SELECTOR = shape._selector
# the ways Python reads a tensor's value: a branch on it, or a number taken from it
_READS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist")


def _traced_read(fn, name: str):
    def read(self, *args, **kwargs):
        tracer = getattr(_state, "tracer", None)
        if tracer is not None:
            tracer.read(self, f"{name}()" if not name.startswith("__") else
                        f"{name.strip('_')}(tensor)")
        return fn(self, *args, **kwargs)

    return read


def _keep(a):
    return a


def run(model, inputs: list):
    """Run ``model(*inputs)`` (Tensors) with every operation written down; return the tracer
    and the output."""
    tracer = Tracer(model, inputs)
    with _LOCK:
        handles = [register_module_forward_pre_hook(tracer.pre_hook),
                   register_module_forward_hook(tracer.hook)]
        casts = [(module, name, getattr(module, name)) for module, name in _CASTS]
        for module, name, fn in casts:
            setattr(module, name, _traced_cast(fn))
        shape._selector = _keep  # a 0-d index computed from the input stays in the graph
        reads = [(name, getattr(Tensor, name)) for name in _READS]
        for name, fn in reads:
            setattr(Tensor, name, _traced_read(fn, name))
        Function.apply = classmethod(_traced_apply)
        _state.tracer = tracer
        try:
            out = model(*inputs)
        finally:
            _state.tracer = None
            type.__setattr__(Function, "apply", _APPLY)
            shape._selector = _SELECTOR
            for name, fn in reads:
                setattr(Tensor, name, fn)
            for module, name, fn in casts:
                setattr(module, name, fn)
            for h in handles:
                h.remove()
    return tracer, out
