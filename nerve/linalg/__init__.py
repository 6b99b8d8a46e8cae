"""``nerve.linalg``: PyTorch's ``torch.linalg``, on the array module's linalg (NumPy's on the
CPU, CuPy's on a GPU), over batches of matrices in the last two dimensions, in the input's
dtype (float32 or float64), each differentiable as PyTorch's:

- factorisations (``decompositions``): ``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``,
  ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``, each a Function with its backward;
- built on them (``functions``): ``pinv``, ``lstsq``, ``matrix_norm``, ``norm``, ``cond``,
  ``matrix_power``, ``multi_dot``, ``matrix_rank``, ``matrix_exp``; ``vector_norm`` is written
  with the other reductions in :mod:`nerve.ops.reduce`, ``cross`` (the last dim by default)
  with the element-wise operations;
- PyTorch's top-level names (``aliases``): ``nerve.det``, ``logdet``, ``slogdet``, ``inverse``,
  ``pinverse``, ``matrix_power``, ``matrix_exp``, ``chain_matmul``, ``cholesky``, ``svd`` (the
  older API: U, S, V), ``qr``, also Tensor methods (but chain_matmul).

A failed factorisation (a singular matrix for inv or solve, one not positive-definite for
cholesky) raises :class:`LinAlgError` naming the function and the batch element.
"""

from nerve.linalg import aliases as _aliases
from nerve.linalg._common import LinAlgError
from nerve.linalg.decompositions import (
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    qr,
    slogdet,
    solve,
    svd,
    svdvals,
)
from nerve.linalg.functions import (
    cond,
    lstsq,
    matrix_exp,
    matrix_norm,
    matrix_power,
    matrix_rank,
    multi_dot,
    norm,
    pinv,
)
from nerve.ops.elementwise import linalg_cross as cross
from nerve.ops.reduce import vector_norm

TOP_LEVEL = {name: getattr(_aliases, name) for name in _aliases.__all__}  # nerve.det, ...

__all__ = ["LinAlgError", "inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh",
           "svd", "svdvals", "qr", "pinv", "lstsq", "matrix_norm", "norm", "vector_norm", "cond",
           "matrix_power", "multi_dot", "matrix_rank", "matrix_exp", "cross"]
