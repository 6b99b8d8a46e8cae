"""What convolution and pooling share: their arguments as tuples, the output size of a sliding
window, and the slice of the input that one kernel tap reads.

A layer slides a window of ``k`` taps, ``d`` apart (dilation), in steps of ``s`` (stride), over
an input of length ``n`` padded by ``lo`` before and ``hi`` after; it makes
``(lo + n + hi - d (k - 1) - 1) // s + 1`` outputs. Tap ``i`` of every window reads the input
at ``i d, i d + s, i d + 2 s, ...``: one strided slice, so a loop over the kernel's taps (9 for a
3x3 kernel) replaces a loop over pixels.
"""

from __future__ import annotations

from nerve.checks import is_int, message


def as_tuple(value, n: int, name: str, who: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each >= ``minimum``, as a tuple of ``n`` ints."""
    values = (value,) * n if is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != n or \
            not all(is_int(v) for v in values):
        raise TypeError(message(who, f"an int or a tuple of {n} ints", name, value))
    if any(v < minimum for v in values):
        expected = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(message(who, f"{name} {expected}", name, value))
    return tuple(int(v) for v in values)


def check_batched(x_shape, nd: int, who: str) -> None:
    """Refuse an input that is not a batch (N, C, *spatial) of ``nd`` spatial dimensions."""
    if len(x_shape) != nd + 2:
        dims = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
        single = " (for a single sample, add the batch dimension: x.unsqueeze(0))" if \
            len(x_shape) == nd + 1 else ""
        raise ValueError(message(who, f"a {nd + 2}-D input {dims}{single}", "input.shape",
                                 tuple(x_shape)))


def out_size(n: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """The number of windows over ``n`` values padded by ``lo`` and ``hi``."""
    return (lo + n + hi - d * (k - 1) - 1) // s + 1


def tap(i: int, s: int, d: int, n_out: int) -> slice:
    """The slice of the padded input that tap ``i`` reads for ``n_out`` windows."""
    start = i * d
    return slice(start, start + s * (n_out - 1) + 1, s)


def taps(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
         out: tuple[int, int]):
    """(row slice, column slice) of every tap of a 2-D kernel, row by row: PyTorch's order,
    which decides the first of tied maxima."""
    rows = [tap(i, stride[0], dilation[0], out[0]) for i in range(kernel[0])]
    cols = [tap(j, stride[1], dilation[1], out[1]) for j in range(kernel[1])]
    return [(r, c) for r in rows for c in cols]


def disjoint(kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> bool:
    """True when no two windows share an input value (each tap's slices are disjoint)."""
    return all(d * (k - 1) + 1 <= s for k, s, d in zip(kernel, stride, dilation))
