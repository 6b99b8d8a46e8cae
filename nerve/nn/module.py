"""Module: the base of every layer and model, with PyTorch's contracts.

Assigning a :class:`Parameter` or a Module to an attribute registers it; plain tensors and
arrays are not parameters (register them with ``register_buffer`` to have them saved).
``register_parameter(name, None)`` declares a parameter slot that is empty (a layer without
bias). Forward hooks (``register_forward_pre_hook``, ``register_forward_hook``) let tools watch
or change what a module receives and returns; a call costs nothing more when none is set.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array
from nerve.nn.parameter import Parameter

_hook_ids = itertools.count()
_global_pre_hooks: dict[int, Callable] = {}
_global_hooks: dict[int, Callable] = {}


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


def global_hooks_set() -> bool:
    """True while a hook for every module is registered."""
    return bool(_global_pre_hooks or _global_hooks)


class Module:
    """Base class of layers and models: subclasses define ``forward``.

    A layer whose inference is one kernel on arrays may also define ``_forward_array(data)``
    (the same arithmetic as its forward, through the same kernel): ``Sequential`` chains those
    under ``no_grad`` when no hook is set, skipping the Tensor and graph bookkeeping. It returns
    NotImplemented when it cannot serve (Dropout while training); None means no such path.
    """

    _hooked = False  # True while this module has a hook of its own
    _forward_array = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in vars(cls) and "_forward_array" not in vars(cls):
            cls._forward_array = None  # a new forward: an inherited array path would skip it

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
                            f"the values in place with .data[...] = ...)")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # a buffer stays one when reassigned (running statistics are replaced, not updated)
            self.register_buffer(name, value)
            return
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif value is None and was_parameter:  # an empty slot stays one (bias=None)
            self._parameters[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        object.__delattr__(self, name)

    def _check_new_name(self, name, who: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{who}: expected a non-empty name without '.'. "
                             f"Received: name={name!r}")
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before {who}({name!r})")

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Keep a non-learnable tensor (running statistics) with the module; ``state_dict``
        saves it unless ``persistent=False``. ``None`` declares an empty buffer."""
        self._check_new_name(name, "register_buffer")
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
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module expects a Module, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"add_module: expected a non-empty name without '.'. "
                             f"Received: name={name!r}")
        setattr(self, name, module)
        self._modules[name] = module

    # --- calling -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
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
        for m in self._modules.values():
            if m is not None:
                yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
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

    # --- modes and gradients -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype) -> Module:
        """Convert every parameter and floating-point buffer to ``dtype`` in place."""
        dtype = backend.to_dtype(dtype)
        if dtype is None or dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a floating-point dtype. "
                            f"Received: dtype={dtype!r}")
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for _, b in self.named_buffers():
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype)
        return self

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
        return OrderedDict((name, t.data) for name, t in self._state_tensors())

    def _state_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for name, t in self._parameters.items():
            if t is not None:
                yield prefix + name, t
        for name, t in self._buffers.items():
            if t is not None and name not in self._non_persistent_buffers:
                yield prefix + name, t
        for name, m in self.named_children():
            yield from m._state_tensors(f"{prefix}{name}.")

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays (or tensors) into the parameters and buffers with the same names.

        With ``strict=True``, missing and unexpected keys raise; a wrong shape always raises.
        Every problem is listed in one error. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state, "items"):
            raise TypeError(f"load_state_dict expects a mapping, got {type(state).__name__}")
        own = dict(self._state_tensors())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong = []
        arrays = {}
        for k, t in own.items():
            if k not in state:
                continue
            arr = as_array(state[k])
            if arr.shape != t.data.shape:
                wrong.append(f"{k}: expected shape {t.data.shape}, received {arr.shape}")
            arrays[k] = arr
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if wrong:
            problems.append("wrong shapes: " + "; ".join(wrong))
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__}: " + " | ".join(problems)
            )
        for k, arr in arrays.items():
            own[k].data[...] = arr  # in place, cast to its dtype: optimizers keep working
        return missing, unexpected

    # --- repr ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in
                 self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") + lines if extra else lines  # PyTorch's layout
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
