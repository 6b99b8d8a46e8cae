"""Batches of sequences of different lengths, with PyTorch's names: ``pad_sequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``.

A :class:`PackedSequence` here keeps the batch padded, time-major, with each sequence's length
(PyTorch's keeps the steps of every sequence back to back in ``data``); the recurrent layers
read it so that the padded steps change neither the outputs nor the final states, as in
PyTorch, and return a PackedSequence of their outputs.
"""

from __future__ import annotations

from nerve import backend, creation, ops
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, check_bool, is_int, message


class PackedSequence:
    """A padded, time-major batch (T, N, *) and the length of each of its N sequences.

    Not PyTorch's layout (its ``data`` holds only the real steps, with ``batch_sizes``): the
    recurrent layers and ``pad_packed_sequence`` are what reads it. Code written for PyTorch's
    fields (``packed.data``, ``packed[0]``, ``data, batch_sizes, *_ = packed``) would get
    other arrays, so those are refused with this explanation instead."""

    __slots__ = ("padded", "lengths")

    def __init__(self, padded: Tensor, lengths: tuple[int, ...]):
        self.padded, self.lengths = padded, tuple(lengths)

    def __repr__(self) -> str:
        return f"PackedSequence(padded={self.padded!r}, lengths={self.lengths})"

    def _refuse(self, what: str):
        raise TypeError(f"PackedSequence: {what} reads PyTorch's packed layout (data, "
                        "batch_sizes, ...), which nerve's does not hold: it keeps .padded, a "
                        "time-major padded batch, and .lengths; pad_packed_sequence(packed) "
                        "gives the padded batch and the lengths")

    def __getitem__(self, index):
        self._refuse(f"packed[{index!r}]")

    def __iter__(self):
        self._refuse("unpacking it")

    def __getattr__(self, name):
        if name in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
            self._refuse(f"packed.{name}")
        raise AttributeError(f"'PackedSequence' object has no attribute {name!r}")


def _tensor(x, who: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor(x)
    raise TypeError(message(who, "a Tensor", "sequence", ShortRepr(x)))


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0) -> Tensor:
    """Stack sequences of shapes (L_i, *) into (L_max, N, *) (batch_first: (N, L_max, *)),
    padding each after its end with ``padding_value``."""
    check_bool(batch_first, "batch_first", "pad_sequence")
    seqs = [_tensor(s, "pad_sequence") for s in sequences]
    if not seqs:
        raise ValueError(message("pad_sequence", "at least one sequence", "sequences", []))
    tail = seqs[0].shape[1:]
    if any(s.ndim == 0 or s.shape[1:] != tail for s in seqs):
        raise ValueError(message("pad_sequence", f"sequences of shape (L, *{tail})", "shapes",
                                 [tuple(s.shape) for s in seqs]))
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        missing = longest - s.shape[0]
        if missing:
            fill = creation.full((missing, *tail), padding_value, dtype=s.dtype)
            s = ops.cat([s, fill], 0)
        padded.append(s)
    return ops.stack(padded, 0 if batch_first else 1)


def _lengths(lengths, n: int, longest: int, who: str) -> tuple[int, ...]:
    values = lengths.tolist() if isinstance(lengths, Tensor) or backend.is_array(lengths) \
        else list(lengths)
    if len(values) != n or not all(is_int(v) for v in values):
        raise ValueError(message(who, f"{n} integer lengths, one per sequence", "lengths",
                                 ShortRepr(values)))
    if any(v < 1 or v > longest for v in values):
        raise ValueError(message(who, f"lengths in [1, {longest}]", "lengths",
                                 ShortRepr(values)))
    return tuple(int(v) for v in values)


def pack_padded_sequence(input, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """A padded batch (T, N, *) (batch_first: (N, T, *)) and its lengths as a PackedSequence.
    With ``enforce_sorted`` the lengths must decrease, as PyTorch asks."""
    x = _tensor(input, "pack_padded_sequence")
    check_bool(batch_first, "batch_first", "pack_padded_sequence")
    if x.ndim < 2:
        raise ValueError(message("pack_padded_sequence", "an input of at least 2 dimensions",
                                 "input.shape", tuple(x.shape)))
    if batch_first:
        x = x.transpose(0, 1)
    found = _lengths(lengths, x.shape[1], x.shape[0], "pack_padded_sequence")
    if check_bool(enforce_sorted, "enforce_sorted", "pack_padded_sequence") and \
            list(found) != sorted(found, reverse=True):
        raise ValueError(message("pack_padded_sequence", "lengths in decreasing order (or "
                                 "enforce_sorted=False)", "lengths", found))
    return PackedSequence(x[:max(found)], found)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Sequences of shapes (L_i, *) as a PackedSequence."""
    seqs = [_tensor(s, "pack_sequence") for s in sequences]
    return pack_padded_sequence(pad_sequence(seqs), [s.shape[0] for s in seqs],
                                enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The padded batch of a PackedSequence and its lengths (an int64 Tensor)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(message("pad_packed_sequence", "a PackedSequence", "sequence",
                                type(sequence).__name__))
    x, lengths = sequence.padded, sequence.lengths
    if min(lengths) < x.shape[0]:  # the padded steps hold padding_value
        xp = backend.array_module(x._data)
        pad = (xp.arange(x.shape[0])[:, None] >= xp.asarray(lengths)[None, :])
        x = ops.where(Tensor(pad.reshape(pad.shape + (1,) * (x.ndim - 2))), padding_value, x)
    if total_length is not None:
        if not is_int(total_length) or total_length < x.shape[0]:
            raise ValueError(message("pad_packed_sequence", f"total_length >= {x.shape[0]}",
                                     "total_length", total_length))
        if total_length > x.shape[0]:
            fill = creation.full((total_length - x.shape[0], *x.shape[1:]), padding_value,
                            dtype=x.dtype)
            x = ops.cat([x, fill], 0)
    out = x.transpose(0, 1) if batch_first else x
    return out, Tensor(backend.array_module().asarray(lengths, dtype=backend.int64))
