"""``nerve.linalg``: PyTorch's ``torch.linalg`` names, so far ``vector_norm`` (written with the
other reductions in :mod:`nerve.ops.reduce`)."""

from nerve.ops.reduce import vector_norm

__all__ = ["vector_norm"]
