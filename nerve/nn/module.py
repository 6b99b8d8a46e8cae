"""Module: the base of every layer and model, with PyTorch's contracts.

Assigning a :class:`Parameter` or a Module to an attribute registers it; plain tensors and
arrays are not parameters (register them with ``register_buffer`` to have them saved).
``register_parameter(name, None)`` declares a parameter slot that is empty (a layer without
bias). Forward hooks (``register_forward_pre_hook``, ``register_forward_hook``) let tools watch
or change what a module receives and returns; a call costs nothing more when none is set.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, as_array, check_bool, device_and_dtype, message
from nerve.nn.parameter import Parameter

_hook_ids = itertools.count()
_global_pre_hooks: dict[int, Callable] = {}
_global_hooks: dict[int, Callable] = {}


def takes_device(init: Callable) -> Callable:
    """Give a layer's ``__init__`` PyTorch's factory keyword ``device=``: the layer is made,
    then moved there with ``.to(device)`` (``nn.Linear(3, 4, device="cuda")``)."""

    @functools.wraps(init)
    def made_on(self, *args, device=None, **kwargs):
        init(self, *args, **kwargs)
        if device is not None:
            self.to(device)

    return made_on


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods: ``handle.remove()`` takes the hook away (also
    as a context manager: the hook is removed when the block ends)."""

    def __init__(self, hooks: dict, module: Module | None = None):
        self.id = next(_hook_ids)
        self._hooks, self._module = hooks, module

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        if self._module is not None:
            self._module._update_hooked()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """Call ``hook(module, args)`` before the forward of every module (a tracer's entry)."""
    return _add_hook(_global_pre_hooks, hook)


def register_module_forward_hook(hook: Callable) -> RemovableHandle:
    """Call ``hook(module, args, output)`` after the forward of every module."""
    return _add_hook(_global_hooks, hook)


def _add_hook(hooks: dict, hook: Callable, module: Module | None = None) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"expected a callable hook. Received: hook={hook!r}")
    handle = RemovableHandle(hooks, module)
    hooks[handle.id] = hook
    return handle


@contextlib.contextmanager
def kept_modes(model: Module):
    """A block after which every module of ``model`` is in the train/eval mode it was in
    before, whatever the block (or an error in it) set."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


def check_tensor_input(module: Module, x) -> None:
    """Raise TypeError naming the layer unless ``x`` is a Tensor or an array (PyTorch raises
    for a list too; a list would otherwise fail deep inside the layer)."""
    if not isinstance(x, Tensor) and not backend.is_array(x):
        raise TypeError(message(type(module).__name__, "a Tensor as input (nerve.tensor(...) "
                                "makes one)", "input", ShortRepr(x)))


def global_hooks_set() -> bool:
    """True while a hook for every module is registered."""
    return bool(_global_pre_hooks or _global_hooks)


def _dotted(target, who: str) -> str:
    if not isinstance(target, str):
        raise TypeError(message(who, "a dotted name (a str)", "target", ShortRepr(target)))
    return target


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch's: a pair that also names its parts."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of layers and models: subclasses define ``forward``.

    A layer whose inference is one kernel on arrays may also define ``_forward_array(data)``
    (the same arithmetic as its forward, through the same kernel): ``Sequential`` chains those
    under ``no_grad`` when no hook is set, skipping the Tensor and graph bookkeeping. It returns
    NotImplemented when it cannot serve (Dropout while training); None means no such path.
    A layer that can take the ReLU before it into its own node (max pooling: the maximum of
    relu(x) is relu of the maximum) defines ``_after_relu(x)``, and one that can take the ReLU
    after it (Linear) ``_then_relu(x)``: ``Sequential`` uses them in the same cases (no hook,
    the class's own forward); they return NotImplemented where they cannot serve.
    A layer whose input must be a Tensor sets ``_takes_tensor = True``: a call with anything
    else (a list) raises TypeError naming the layer, before its forward runs.
    """

    _hooked = False  # True while this module has a hook of its own
    _forward_array = None
    _forward_array_inplace = None  # the same, writing into its input (Sequential's own arrays)
    _after_relu = None  # the layer applied to relu(x) in one node (Sequential's ReLU, then it)
    _then_relu = None  # relu(layer(x)) in one node (Sequential's layer, then a ReLU)
    _takes_tensor = False  # True: the first argument must be a Tensor (layers, activations)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._made_forward = cls.forward  # a forward patched on the class later: no fast path
        for path in ("_forward_array", "_after_relu", "_then_relu"):
            owner = next(c for c in cls.__mro__ if path in vars(c))
            if cls.forward is not owner.forward:  # another forward (its own, a mixin's): the
                setattr(cls, path, None)  # fast path of the class that defined it would skip it
                if path == "_forward_array":
                    cls._forward_array_inplace = None

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration ------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attributes (while setting {name!r})"
            )
        was_parameter = name in self._parameters
        if was_parameter and value is not None and not isinstance(value, Parameter):
            # silently dropping a learnable weight from parameters() would be worse (PyTorch too)
            raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                            f"{type(self).__name__}: expected a Parameter or None (change "
                            f"the values in place under nerve.no_grad() with .copy_(...))")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # a buffer stays one when reassigned (running statistics are replaced, not updated),
            # and stays out of state_dict if it was
            self.register_buffer(name, value, name not in self._non_persistent_buffers)
            return
        if name in self._modules and value is not None and not isinstance(value, Module):
            raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                            f"of {type(self).__name__}: expected a Module or None (as PyTorch)")
        if isinstance(value, Parameter) or (value is None and was_parameter):
            store = self._parameters  # an empty slot stays one (bias=None)
        else:
            store = self._modules if isinstance(value, Module) else None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not store:
                other.pop(name, None)
        if store is not None:
            store[name] = value  # a replaced child keeps its place (forward and state_dict order)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        object.__delattr__(self, name)

    def _check_new_name(self, name, who: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(message(who, "a non-empty name without '.'", "name", name))
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before {who}({name!r})")

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Keep a non-learnable tensor (running statistics) with the module; ``state_dict``
        saves it unless ``persistent=False``. ``None`` declares an empty buffer."""
        self._check_new_name(name, "register_buffer")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: attribute {name!r} already exists (a parameter or "
                           f"a child module of {type(self).__name__})")
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter under ``name``; ``None`` declares an empty slot (a layer without
        bias: ``self.register_parameter("bias", None)``), which ``state_dict`` leaves out."""
        self._check_new_name(name, "register_parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected a Parameter or None. Received: "
                            f"{name}={type(param).__name__}")
        if name not in self._parameters and hasattr(self, name):
            raise KeyError(f"register_parameter: attribute {name!r} already exists")
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child under ``name`` (a child of that name is replaced in
        its place)."""
        who = f"{type(self).__name__}.add_module"
        if module is not None and not isinstance(module, Module):
            raise TypeError(message(who, "a Module", name if isinstance(name, str) else
                                    "module", ShortRepr(module)))
        if not isinstance(name, str):
            raise TypeError(message(who, "a name (a str)", "name", name))
        self._check_new_name(name, who)
        if name not in self._modules and hasattr(self, name):
            raise ValueError(message(who, "a name that is not an attribute already", "name",
                                     name))
        setattr(self, name, module)
        self._modules[name] = module

    # --- calling -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    _made_forward = forward

    def __call__(self, *args, **kwargs):
        if self._takes_tensor and args and not isinstance(args[0], Tensor):
            check_tensor_input(self, args[0])  # an array passes; a list is refused by name
        if self._hooked or _global_pre_hooks or _global_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        for hook in (*_global_pre_hooks.values(), *self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in (*_global_hooks.values(), *self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # --- hooks ------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces the
        positional arguments (a tuple, or one value). Returns a handle with ``remove()``."""
        handle = _add_hook(self._forward_pre_hooks, hook, self)
        self._update_hooked()
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces
        the output. Returns a handle with ``remove()``."""
        handle = _add_hook(self._forward_hooks, hook, self)
        self._update_hooked()
        return handle

    def _update_hooked(self) -> None:
        object.__setattr__(self, "_hooked",
                           bool(self._forward_pre_hooks or self._forward_hooks))

    # --- traversal ---------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Each child once (a module held under two names keeps its first), as PyTorch."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def named_modules(self, prefix: str = "", _seen=None) -> Iterator[tuple[str, Module]]:
        """Yield every module once (a module used twice keeps its first name), self first."""
        _seen = set() if _seen is None else _seen
        if id(self) in _seen:
            return
        _seen.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name, _seen)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for mod_name, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path ``target`` ("" is this one), as PyTorch's."""
        m = self
        for part in filter(None, _dotted(target, "get_submodule").split(".")):
            if part not in m._modules or m._modules[part] is None:
                raise AttributeError(f"get_submodule: {type(m).__name__} has no submodule "
                                     f"{part!r} (in {target!r})")
            m = m._modules[part]
        return m

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` ("layer.weight"), as PyTorch's."""
        path, _, name = _dotted(target, "get_parameter").rpartition(".")
        owner = self.get_submodule(path)
        if owner._parameters.get(name) is None:
            raise AttributeError(f"get_parameter: {type(owner).__name__} has no parameter "
                                 f"{name!r} (in {target!r})")
        return owner._parameters[name]

    def register_module(self, name: str, module: Module | None) -> None:
        """Another name of :meth:`add_module`, as in PyTorch."""
        self.add_module(name, module)

    # --- modes and gradients -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: evaluation) on this module and its children."""
        mode = check_bool(mode, "mode", f"{type(self).__name__}.train")
        object.__setattr__(self, "training", bool(mode))
        for m in self.children():  # each child's own train(), which a subclass may override
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p._grad is None:
                p._grad = None
            else:
                p._grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, device=None, dtype=None, non_blocking: bool = False) -> Module:
        """Move every parameter (and its gradient) and buffer to a device, and/or convert the
        floating-point ones to a floating ``dtype``, in place, and return the module, as
        PyTorch's ``Module.to``.

        Takes a dtype, a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``nerve.device(...)``),
        both, a Tensor (its dtype and device), or the keywords ``device=`` and ``dtype=``.
        Nothing changes when a check fails (a GPU without CuPy). The parameters stay the same
        Tensor objects, so an optimizer made before keeps them: its state follows them to the
        new device on its next step (see ``nerve.optim.Optimizer``).
        """
        who = f"{type(self).__name__}.to"
        check_bool(non_blocking, "non_blocking", who)  # PyTorch's; nerve copies synchronously
        device, dtype = device_and_dtype(args, device, dtype, who)
        if dtype is not None:
            dtype = backend.float_dtype(dtype, who)
        moved = []  # every new array first, then all at once: a copy that fails changes nothing
        for t in [*self.parameters(), *(b for _, b in self.named_buffers())]:
            floating = t._data.dtype.kind == "f"
            for name in ("_data", "_grad"):
                arr = getattr(t, name)
                if arr is None:
                    continue
                if dtype is not None and floating:
                    arr = arr.astype(dtype, copy=False)
                elsewhere = device is not None and backend.device_of(arr) != device
                if elsewhere:
                    arr = backend.to_device(arr, device)
                moved.append((t, name, arr, elsewhere))
        for t, name, arr, elsewhere in moved:
            setattr(t, name, arr)
            if elsewhere:
                t._home = None  # an optimizer's gradient home on the old device
        return self

    def cpu(self) -> Module:
        """Move the parameters and buffers to the CPU, in place; return the module."""
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        """Move the parameters and buffers to a GPU (the current one, or ``device``: an index
        or a name), in place; return the module."""
        if device is None or isinstance(device, int):
            device = "cuda" if device is None else f"cuda:{device}"
        return self.to(device=device)

    def float(self) -> Module:
        return self.to(backend.float32)

    def double(self) -> Module:
        return self.to(backend.float64)

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Return every parameter and buffer by its dotted name (PyTorch's keys), as arrays.

        As in PyTorch, each module's parameters come before its buffers and its children, and
        a shared parameter appears under each of its names.
        """
        return OrderedDict((name, t._data) for name, t in self._state_tensors())

    def _state_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name, t in self._parameters.items():
            if t is not None:
                yield prefix + name, t
        for name, t in self._buffers.items():
            if t is not None and name not in self._non_persistent_buffers:
                yield prefix + name, t
        for name, m in self._modules.items():  # every name of a shared child, as PyTorch
            if m is not None:
                yield from m._state_tensors(f"{prefix}{name}.")

    def load_state_dict(self, state: Mapping, strict: bool = True):
        """Copy arrays (or tensors) into the parameters and buffers with the same names.

        Every value is checked before anything is written, so a failed call leaves the module
        as it was: with ``strict=True`` missing and unexpected keys raise; a wrong shape, a value
        that is not an array of numbers, complex numbers, or floats into an integer buffer
        always raise. Every problem is listed in one error (TypeError when the only problems are
        the kinds of the values, else ValueError). Returns ``(missing_keys, unexpected_keys)``,
        a NamedTuple with those names, as PyTorch's.
        """
        who = f"load_state_dict into {type(self).__name__}"
        if not isinstance(state, Mapping):
            raise TypeError(message(who, "a mapping of names to arrays or tensors", "state_dict",
                                    ShortRepr(state)))
        check_bool(strict, "strict", who)
        own = dict(self._state_tensors())
        missing = [k for k in own if k not in state and  # a BatchNorm's counter may be absent
                   k.rpartition(".")[2] != "num_batches_tracked"]  # (PyTorch keeps its own)
        unexpected = [k for k in state if k not in own]
        shapes, kinds, arrays = [], [], {}
        for k, t in own.items():
            if k in state:
                arr, problem = _state_array(state[k], t._data)
                if problem:
                    (shapes if problem.startswith("expected shape") else kinds).append(
                        f"{k}: {problem}")
                arrays[k] = arr
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if shapes:
            problems.append("wrong shapes: " + "; ".join(shapes))
        if kinds:
            problems.append("wrong values: " + "; ".join(kinds))
        if problems:
            error = TypeError if len(problems) == 1 and kinds else ValueError
            raise error(f"{who}: " + " | ".join(problems))
        for k, arr in arrays.items():
            own[k]._data[...] = backend.on_device_of(arr, own[k]._data)  # in place, cast to
            # its dtype and on its device: optimizers keep working
            own[k]._bump()
        return IncompatibleKeys(missing, unexpected)

    # --- repr ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in
                 self._modules.items() if m is not None]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") + lines if extra else lines  # PyTorch's layout
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _state_array(value, own):
    """Return ``(array, None)`` for a state value that can go into the array ``own``, else
    ``(None, the problem)``."""
    try:
        arr = as_array(value)
    except (TypeError, ValueError, RuntimeError) as e:
        return None, f"cannot be read as an array ({type(value).__name__}: {e})"
    if arr.dtype.kind not in "biuf":
        return None, f"expected numbers of dtype {own.dtype}, received dtype {arr.dtype}"
    if own.dtype.kind in "biu" and arr.dtype.kind == "f":
        return None, f"expected integers (dtype {own.dtype}), received dtype {arr.dtype}"
    if arr.shape != own.shape:
        return None, f"expected shape {own.shape}, received {arr.shape}"
    return arr, None
