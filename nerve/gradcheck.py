"""Check analytic gradients against central finite differences in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nerve import backend
from nerve.autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _weighted_output(fn, inputs, weights):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return out, float((out._data.astype(backend.float64) * weights).sum())


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Compare ``fn``'s backward pass with central differences; raise on the first mismatch.

    Every floating-point tensor in ``inputs`` is checked: it is copied to float64 with
    ``requires_grad=True``. A non-scalar output is reduced with fixed random weights ``w``
    (checking d(sum(w * out))/d(input)), so every element of the Jacobian takes part. Raises
    :class:`GradcheckError` naming the input number, the element index, the analytic and the
    numeric value; returns True when all agree within ``atol + rtol * |numeric|``.
    """
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps}")
    args = []
    checked = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            args.append(Tensor(x._data, dtype=backend.float64, requires_grad=True))
            checked.append(i)
        else:
            args.append(x)
    if not checked:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs")
    out, _ = _weighted_output(fn, args, 0.0)
    xp = backend.array_module(out._data)
    weights = xp.asarray(backend.generator(0).standard_normal(out.shape))
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input with a grad")
    out.backward(weights.astype(out.dtype))
    for i in checked:
        x = args[i]
        analytic = xp.zeros_like(x._data) if x._grad is None else x._grad
        numeric = _numeric_grad(fn, args, x, weights, eps)
        bad = ~(abs(analytic - numeric) <= atol + rtol * abs(numeric))
        if bad.any():
            idx = tuple(int(k) for k in xp.argwhere(bad)[0])
            raise GradcheckError(
                f"gradcheck: input {i}, element {idx}: analytic gradient "
                f"{float(analytic[idx]):.6g} but numeric {float(numeric[idx]):.6g} "
                f"({int(bad.sum())} of {bad.size} elements differ)"
            )
    return True


@no_grad()  # only the values are needed: no graph for each of the 2 * size evaluations
def _numeric_grad(fn, args, x: Tensor, weights, eps: float):
    numeric = backend.array_module(x._data).zeros_like(x._data)
    flat = x._data.reshape(-1)  # a view: perturbing it perturbs x
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        plus = _weighted_output(fn, args, weights)[1]
        flat[k] = orig - eps
        minus = _weighted_output(fn, args, weights)[1]
        flat[k] = orig
        numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
    return numeric
