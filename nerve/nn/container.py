"""Sequential: layers applied one after another."""

from __future__ import annotations

from collections import OrderedDict

from nerve import autograd
from nerve.autograd import Tensor
from nerve.nn.module import Module, global_hooks_set


def _forward_arrays(modules, x: Tensor) -> Tensor:
    """Inference through the layers' array paths (see ``Module``), wrapping once at the end;
    the first layer without one (or with a hook) gets the Tensor, and ``modules`` goes on
    from the layer after it."""
    data = x.data
    for m in modules:
        step = m._forward_array
        out = NotImplemented if step is None or m._hooked else step(data)
        if out is NotImplemented:
            return m(Tensor._wrap(data))
        data = out
    return Tensor._wrap(data)


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
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential expects Modules, got {type(m).__name__} at "
                                f"position {i}")
            self.add_module(str(i), m)

    def forward(self, x):
        modules = iter(self._modules.values())
        if not autograd._grad_enabled and isinstance(x, Tensor) and not global_hooks_set():
            x = _forward_arrays(modules, x)  # as far as the layers have an array path
        for m in modules:
            x = m(x)
        return x

    def append(self, module: Module) -> Sequential:
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
