"""summary(model, input_shape): each layer's output shape and parameter count."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor, no_grad
from nerve.checks import check_int, is_int, message
from nerve.nn.module import Module, kept_modes


def _leaves(model: Module):
    return [(name, m) for name, m in model.named_modules() if not m._modules and name]


def summary(model: Module, input_shape, dtype=None, print_fn=print,
            batch_size: int = -1) -> dict:
    """Print a table of each layer's output shape and parameters, with the totals.

    ``input_shape`` leaves out the batch dimension. The output shapes show the batch dimension
    as ``batch_size``: -1 by default, meaning any batch size, as torchsummary prints it
    (``(-1, 256)``); a batch of zeros is run (of two samples for -1, so that the batch
    dimension is told apart from a dimension of size one). Returns a dict with
    ``layers`` (name, type, output shape as printed, parameter count) and ``total_params``,
    ``trainable_params``. The layers are watched with forward hooks, removed afterwards.
    """
    if not isinstance(model, Module):
        raise TypeError(message("summary", "a Module", "model", type(model).__name__))
    input_shape = _sample_shape(input_shape)
    batch_size = check_int(batch_size, "batch_size", "summary", minimum=-1)
    if batch_size == 0:
        raise ValueError(message("summary", "a positive batch size or -1", "batch_size", 0))
    run = 2 if batch_size == -1 else batch_size
    rows = []

    def record(name):
        def hook(module, args, out):
            first = out[0] if isinstance(out, tuple) else out
            n = sum(p._data.size for p in module._parameters.values() if p is not None)
            shape = tuple(first.shape)
            if shape and shape[0] == run:  # the batch dimension, as asked to show it
                shape = (batch_size, *shape[1:])
            rows.append((name, type(module).__name__, shape, n))

        return hook

    handles = [m.register_forward_hook(record(name))
               for name, m in (_leaves(model) or [("", model)])]
    try:  # even when the input shape does not fit: the model is left as it was
        xp = backend.array_module()  # any dtype: an Embedding's input is integers
        dt = backend.to_dtype(dtype) or backend.get_default_dtype()
        x = Tensor._wrap(xp.zeros((run, *input_shape), dt))
        with kept_modes(model), no_grad():
            model.eval()
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    total = sum(p._data.size for p in model.parameters())
    trainable = sum(p._data.size for p in model.parameters() if p.requires_grad)
    _print_table(type(model).__name__, rows, total, trainable, print_fn)
    return {"layers": rows, "total_params": total, "trainable_params": trainable}


def _sample_shape(input_shape) -> tuple:
    """The shape of one sample: an int or a sequence of positive ints."""
    shape = (input_shape,) if is_int(input_shape) else input_shape
    if not isinstance(shape, (tuple, list)) or not all(is_int(n) and n > 0 for n in shape):
        raise TypeError(message("summary", "the shape of one sample (an int or a tuple of "
                                "positive ints, without the batch dimension)", "input_shape",
                                input_shape))
    return tuple(int(n) for n in shape)


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
