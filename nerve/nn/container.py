"""Containers: Sequential (layers applied one after another), ModuleList and ModuleDict
(modules held in a list or a dict, registered so that ``parameters()`` and ``state_dict()`` see
them under PyTorch's names: ``layers.0.weight``, ``heads.cls.weight``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from nerve import autograd, backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, is_int, message
from nerve.nn.activation import ReLU
from nerve.nn.module import Module, global_hooks_set


def _forward_arrays(modules, x: Tensor) -> Tensor:
    """Inference through the layers' array paths (see ``Module``), wrapping once at the end;
    the first layer without one (or with a hook) gets the Tensor, and ``modules`` goes on
    from the layer after it. Once an array is the chain's own (no layer handed back the
    caller's memory), a layer with an in-place array path (ReLU) works in it: no new array."""
    data = x._data
    owned = False
    for m in modules:
        step = m._forward_array
        own = _own(m)
        if owned and m._forward_array_inplace is not None and not own:
            data = m._forward_array_inplace(data)
            continue
        out = NotImplemented if step is None or own else step(data)
        if out is NotImplemented:
            return m(Tensor._wrap(data))
        owned = owned or _apart(out, x._data)
        data = out
    return Tensor._wrap(data)


_MODULE_CALL = Module.__call__  # a profiler may patch Module.__call__ itself: no fast path then


def _own(m: Module) -> bool:
    """True when ``m`` has a hook, a forward set on the instance or on its class after it was
    made (a profiler's patch), or a ``__call__`` of its own: no fast path skips it."""
    cls = type(m)
    return m._hooked or "forward" in vars(m) or cls.forward is not cls._made_forward or \
        cls.__call__ is not _MODULE_CALL


def _plain_relu(m: Module) -> bool:
    """A ReLU that a max pooling after it may take in (not in place, no hook, its own class)."""
    return type(m) is ReLU and not (m.inplace or _own(m))


def _fused(first: Module, second: Module, x):
    """second(first(x)) as one node where the two layers make one (a ReLU then a max
    pooling, a Linear then a ReLU), else NotImplemented. ``first`` was held back: it is
    plain (no hook, its class's forward)."""
    if _own(second):
        return NotImplemented
    if second._after_relu is not None and _plain_relu(first):
        return second._after_relu(x)
    if first._then_relu is not None and _plain_relu(second):
        return first._then_relu(x)
    return NotImplemented


def _pool_first(modules: Iterator[Module]) -> Iterator[Module]:
    """The layers in order, but a plain ReLU followed by a max pooling comes after it: without
    gradients, relu of the maximum is the maximum of relu(x), and the ReLU then makes its pass
    over the pooling's 4x smaller output, in place (the pooling's output is a new array)."""
    held = None
    for m in modules:
        hooks = global_hooks_set()  # (one may come during the pass: the layers in order then)
        pooling = m._after_relu is not None and not (hooks or _own(m)) and m._relu_commutes()
        if held is not None:
            if pooling:
                yield m  # the pooling, then the ReLU held back
            yield held
            held = None
            if pooling:
                continue
        if _plain_relu(m) and not hooks:
            held = m
        else:
            yield m
    if held is not None:
        yield held


def _apart(out, given) -> bool:
    """True when the array ``out`` shares no memory with the caller's array ``given``."""
    if out is given:
        return False
    if out.base is None and given.base is None:  # two arrays, each owning its memory
        return True
    return not backend.array_module(out).may_share_memory(out, given)


class Sequential(Module):
    """Apply modules in order; built from modules or an OrderedDict of named modules.

    Children are named "0", "1", ... as in PyTorch, so ``state_dict`` keys carry over.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
            return
        for i, m in enumerate(_modules_of(modules, "Sequential")):
            self.add_module(str(i), m)

    def forward(self, x):
        modules = iter(self._modules.values())
        if not autograd.grad_state.enabled and isinstance(x, Tensor) and not global_hooks_set():
            modules = _pool_first(modules)
            x = _forward_arrays(modules, x)  # as far as the layers have an array path
        held = None  # a layer held back: with the next one it may make one node
        for m in modules:
            if held is not None:
                fused = _fused(held, m, x)
                if fused is not NotImplemented:
                    x, held = fused, None
                    continue
                x, held = held(x), None
            if not global_hooks_set() and (_plain_relu(m) or m._then_relu is not None and
                                           not _own(m)):  # (a hook may come during the pass)
                held = m
                continue
            x = m(x)
        return x if held is None else held(x)

    def append(self, module: Module) -> Sequential:
        _modules_of([module], "Sequential.append")
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return layers[index]


def _modules_of(modules, who: str) -> list[Module]:
    """``modules`` as a list, checked to hold Modules only (before anything is changed)."""
    if isinstance(modules, (Mapping, str, bytes)) or not isinstance(modules, Iterable):
        raise TypeError(message(who, "an iterable of Modules", "modules", ShortRepr(modules)))
    modules = list(modules)
    for i, m in enumerate(modules):
        if not isinstance(m, Module):
            raise TypeError(message(who, "Modules", f"modules[{i}]", ShortRepr(m)))
    return modules


class ModuleList(Module):
    """Modules held in a list, with PyTorch's API (indexing, slicing, ``append``, ``extend``,
    ``insert``, ``pop``, ``len``, iteration). They are registered children named "0", "1", ...,
    renumbered after an insertion or a deletion, so ``state_dict`` keys match PyTorch's. A
    ModuleList has no forward: a model's forward iterates over it."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _position(self, index, who: str) -> int:
        if not is_int(index):
            raise TypeError(message(who, "an integer index or a slice", "index", index))
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(message(who, f"an index in [{-n}, {n - 1}]", "index", index))
        return int(index) % n

    def _renumber(self, modules: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(self._position(index, "ModuleList"))]

    def __setitem__(self, index, module: Module) -> None:
        i = self._position(index, "ModuleList")
        self.add_module(str(i), *_modules_of([module], "ModuleList"))

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[self._position(index, "ModuleList")]
        self._renumber(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *_modules_of(other, "ModuleList +")])

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; return the list."""
        self.add_module(str(len(self)), *_modules_of([module], "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add every module of ``modules`` at the end (all checked first); return the list."""
        for m in _modules_of(modules, "ModuleList.extend"):
            self.add_module(str(len(self)), m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (as ``list.insert``)."""
        if not is_int(index):
            raise TypeError(message("ModuleList.insert", "an integer index", "index", index))
        modules = list(self._modules.values())
        modules.insert(index, *_modules_of([module], "ModuleList.insert"))
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        """Remove the module at ``index`` and return it."""
        module = self[index]
        del self[index]
        return module


class ModuleDict(Module):
    """Modules held in a dict by name, with PyTorch's API (``d[name]``, ``keys``, ``items``,
    ``values``, ``update``, ``pop``, ``clear``, ``in``, ``len``, iteration over the names, in
    insertion order). They are registered children, so ``state_dict`` keys are
    ``<name>.weight``. A ModuleDict has no forward."""

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.update([(key, module)])

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def clear(self) -> None:
        for key in list(self._modules):
            delattr(self, key)

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        """Add or replace modules from a mapping or from (name, module) pairs; every entry is
        checked before any is added."""
        who = "ModuleDict.update"
        if isinstance(modules, Mapping):
            pairs = list(modules.items())
        elif isinstance(modules, Iterable) and not isinstance(modules, (str, bytes)):
            pairs = list(modules)
            for i, pair in enumerate(pairs):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise TypeError(message(who, "(name, module) pairs", f"modules[{i}]",
                                            ShortRepr(pair)))
        else:
            raise TypeError(message(who, "a mapping or (name, module) pairs", "modules",
                                    ShortRepr(modules)))
        for name, module in pairs:
            if not isinstance(name, str) or not name or "." in name:
                raise (TypeError if not isinstance(name, str) else ValueError)(
                    message(who, "names that are non-empty strings without '.'", "name", name))
            if name not in self._modules and hasattr(self, name):
                raise ValueError(message(who, "a name that is not an attribute of ModuleDict",
                                         "name", name))
            _modules_of([module], who)
        for name, module in pairs:
            self.add_module(name, module)
