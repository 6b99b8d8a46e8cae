"""summary(model, input_shape): each layer's output shape and parameter count."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor, no_grad
from nerve.nn.module import Module


def _leaves(model: Module):
    return [(name, m) for name, m in model.named_modules() if not m._modules and name]


def summary(model: Module, input_shape, dtype=None, print_fn=print) -> dict:
    """Print a table of each layer's output shape and parameters, with the totals.

    ``input_shape`` leaves out the batch dimension (a batch of one is run). Returns a dict with
    ``layers`` (name, type, output shape, parameter count) and ``total_params``,
    ``trainable_params``. The layers are watched with forward hooks, removed afterwards.
    """
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    rows = []

    def record(name):
        def hook(module, args, out):
            first = out[0] if isinstance(out, tuple) else out
            n = sum(p.data.size for p in module._parameters.values() if p is not None)
            rows.append((name, type(module).__name__, tuple(first.shape), n))

        return hook

    handles = [m.register_forward_hook(record(name))
               for name, m in (_leaves(model) or [("", model)])]
    modes = [(m, m.training) for m in model.modules()]
    try:
        xp = backend.array_module()
        x = Tensor._wrap(xp.zeros((1, *input_shape), backend.float_dtype(dtype)))
        model.eval()
        with no_grad():
            model(x)
    finally:  # even when the input shape does not fit: the model is left as it was
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for handle in handles:
            handle.remove()
    total = sum(p.data.size for p in model.parameters())
    trainable = sum(p.data.size for p in model.parameters() if p.requires_grad)
    _print_table(type(model).__name__, rows, total, trainable, print_fn)
    return {"layers": rows, "total_params": total, "trainable_params": trainable}


def _print_table(title, rows, total, trainable, print_fn) -> None:
    lines = [(f"{name} ({kind})" if name else kind, str(shape), f"{n:,}")
             for name, kind, shape, n in rows]
    w0 = max([len("Layer (type)")] + [len(a) for a, _, _ in lines])
    w1 = max([len("Output shape")] + [len(b) for _, b, _ in lines])
    w2 = max([len("Params")] + [len(c) for _, _, c in lines] + [len(f"{total:,}")])
    rule = "-" * (w0 + w1 + w2 + 4)
    print_fn(title)
    print_fn(rule)
    print_fn(f"{'Layer (type)':<{w0}}  {'Output shape':<{w1}}  {'Params':>{w2}}")
    print_fn(rule)
    for a, b, c in lines:
        print_fn(f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}")
    print_fn(rule)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
