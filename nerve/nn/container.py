"""Containers: Sequential (layers applied one after another), ModuleList and ModuleDict
(modules held in a list or a dict, registered so that ``parameters()`` and ``state_dict()`` see
them under PyTorch's names: ``layers.0.weight``, ``heads.cls.weight``), and ParameterList and
ParameterDict (parameters held the same way: ``scales.0``, ``gains.left``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from nerve import autograd, backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, is_int, message
from nerve.nn.activation import ReLU
from nerve.nn.module import Module, global_hooks_set
from nerve.nn.parameter import Parameter


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


def _parameter_of(value, who: str, name: str) -> Parameter:
    """``value`` as a Parameter: a Parameter as it is, another Tensor made one that shares its
    memory (PyTorch's ``Parameter(tensor)``: it requires gradients, as a new leaf); anything
    else is refused (PyTorch keeps other objects as plain attributes, outside the parameters)."""
    if isinstance(value, Parameter):
        return value
    if not isinstance(value, Tensor):
        raise TypeError(message(who, "a Parameter or a Tensor (made a Parameter)", name,
                                ShortRepr(value)))
    param = Parameter(value.detach())  # checks the dtype: floating point only
    param._data = value._data  # the same memory, as PyTorch's Parameter(tensor)
    return param


def _parameter_repr(p: Parameter) -> str:
    device = backend.device_of(p._data)
    where = "" if device == "cpu" else f" ({device})"
    return (f"Parameter containing: [nerve.{p.dtype} of size {'x'.join(map(str, p.shape))}]"
            f"{where}")


def _parameters_repr(self) -> str:
    """PyTorch's repr of a ParameterList or a ParameterDict: one line per parameter."""
    lines = [f"({name}): {_parameter_repr(p)}" for name, p in self._parameters.items()]
    if not lines:
        return f"{type(self).__name__}()"
    return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class ParameterList(Module):
    """Parameters held in a list, with PyTorch's API (indexing, slicing, assignment, ``append``,
    ``extend``, ``+=``, ``len``, iteration). They are registered under the names "0", "1", ...,
    so ``parameters()``, ``named_parameters()``, ``state_dict()`` and ``load_state_dict()``
    see them under PyTorch's keys (``scales.0``). A Tensor that is not a Parameter is made one
    (sharing its memory), as PyTorch does; other objects are refused. A ParameterList has no
    forward: a model's forward uses its parameters."""

    def __init__(self, values: Iterable | None = None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _position(self, index, who: str) -> int:
        if not is_int(index):
            raise TypeError(message(who, "an integer index or a slice", "index", index))
        n = len(self._parameters)
        if not -n <= index < n:
            raise IndexError(message(who, f"an index in [{-n}, {n - 1}]", "index", index))
        return int(index) % n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[str(self._position(index, "ParameterList"))]

    def __setitem__(self, index, param) -> None:
        i = self._position(index, "ParameterList")
        setattr(self, str(i), _parameter_of(param, "ParameterList", f"values[{i}]"))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    def __iadd__(self, parameters: Iterable) -> ParameterList:
        return self.extend(parameters)

    def append(self, value) -> ParameterList:
        """Add ``value`` (a Parameter, or a Tensor made one) at the end; return the list."""
        n = len(self)
        self.register_parameter(str(n), _parameter_of(value, "ParameterList.append",
                                                      "value"))
        return self

    def extend(self, values: Iterable) -> ParameterList:
        """Add every value of ``values`` at the end (all checked first); return the list."""
        who = "ParameterList.extend"
        if isinstance(values, (Mapping, str, bytes, Tensor)) or not isinstance(values, Iterable):
            raise TypeError(message(who, "an iterable of Parameters or Tensors", "values",
                                    ShortRepr(values)))
        params = [_parameter_of(v, who, f"values[{i}]") for i, v in enumerate(values)]
        for p in params:
            self.register_parameter(str(len(self)), p)
        return self

    __repr__ = _parameters_repr


class ParameterDict(Module):
    """Parameters held in a dict by name, with PyTorch's API (``d[key]``, ``d[key] = p``,
    ``del``, ``in``, ``len``, iteration over the keys, ``keys``, ``items``, ``values``,
    ``update``, ``get``, ``pop``, ``setdefault``, ``clear``). They are registered under their
    keys, so ``state_dict()`` and ``load_state_dict()`` use PyTorch's names (``gains.left``).
    As in PyTorch, a plain dict given to the constructor or to ``update`` is added in the order
    of its sorted keys (an OrderedDict, a ParameterDict or (key, value) pairs in their own
    order), and a Tensor that is not a Parameter is made one (sharing its memory); other
    objects are refused. A ParameterDict has no forward."""

    def __init__(self, parameters: Mapping | Iterable | None = None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _key(self, key, who: str) -> str:
        if not isinstance(key, str):
            raise TypeError(message(who, "a str key", "key", ShortRepr(key)))
        if not key or "." in key:
            raise ValueError(message(who, "a non-empty key without '.'", "key", key))
        if key not in self._parameters and hasattr(self, key):
            raise ValueError(message(who, "a key that is not an attribute of ParameterDict",
                                     "key", key))
        return key

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value) -> None:
        key = self._key(key, "ParameterDict")
        setattr(self, key, _parameter_of(value, "ParameterDict", key))

    def __delitem__(self, key: str) -> None:
        if key not in self._parameters:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._parameters))

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._parameters))

    def __contains__(self, key) -> bool:
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def get(self, key: str, default=None):
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        value = self[key]
        del self[key]
        return value

    def setdefault(self, key: str, default=None) -> Parameter:
        """The parameter under ``key``, added as ``default`` first if absent."""
        if key not in self._parameters:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._parameters):
            delattr(self, key)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same parameters (not copies)."""
        return ParameterDict(OrderedDict(self._parameters))

    def update(self, parameters: Mapping | Iterable) -> None:
        """Add or replace parameters from a mapping or from (key, value) pairs; every entry is
        checked before any is added."""
        who = "ParameterDict.update"
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = list(parameters.items())
        elif isinstance(parameters, Mapping):
            keys = list(parameters)
            if not all(isinstance(k, str) for k in keys):
                bad = next(k for k in keys if not isinstance(k, str))
                raise TypeError(message(who, "str keys", "key", ShortRepr(bad)))
            pairs = [(k, parameters[k]) for k in sorted(keys)]  # PyTorch sorts a plain dict
        elif isinstance(parameters, Iterable) and not isinstance(parameters,
                                                                  (str, bytes, Tensor)):
            pairs = list(parameters)
            for i, pair in enumerate(pairs):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise TypeError(message(who, "(key, value) pairs", f"parameters[{i}]",
                                            ShortRepr(pair)))
        else:
            raise TypeError(message(who, "a mapping or (key, value) pairs", "parameters",
                                    ShortRepr(parameters)))
        checked = [(self._key(k, who), _parameter_of(v, who, str(k))) for k, v in pairs]
        for key, param in checked:
            setattr(self, key, param)

    __repr__ = _parameters_repr
