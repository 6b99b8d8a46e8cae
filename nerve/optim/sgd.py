"""SGD: stochastic gradient descent with optional momentum, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nerve import backend, jit
from nerve.autograd import Tensor
from nerve.checks import check_number
from nerve.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's update rule.

    With ``g`` the gradient, ``b`` the momentum buffer (``b = g`` at the first step)::

        g = g + weight_decay * p
        b = momentum * b + (1 - dampening) * g
        g = g + momentum * b   if nesterov   else   b      (when momentum != 0)
        p = p - lr * g
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, *, maximize: bool = False, **flags):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay,
                                  "maximize": maximize}, **flags)

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        check_number(group["momentum"], "momentum", who, 0.0, 1.0, high_open=True)
        check_number(group["dampening"], "dampening", who, 0.0, 1.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError(f"{who}: expected momentum > 0 and dampening = 0 for Nesterov "
                             f"momentum. Received: nesterov=True, momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _state_keys(self, group: dict[str, Any]) -> set[str]:
        return {"momentum_buffer"} if group["momentum"] != 0 else set()

    def _update(self, data, grad, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        lr = float(group["lr"])
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
        buf = state.get("momentum_buffer") if momentum != 0 else data.reshape(-1)[:0]
        if buf is not None and jit.usable(data, grad, buf):
            number = data.dtype.type  # as NumPy takes a Python float: in the array's dtype
            _sgd_kernel(data.reshape(-1), grad.reshape(-1), buf.reshape(-1),
                        weight_decay != 0, number(weight_decay), number(momentum),
                        number(1.0 - float(group["dampening"])), bool(group["nesterov"]),
                        number(-lr))
            return
        tmp = self._scratch(data, 1)
        if weight_decay != 0:
            decayed = xp.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        direction = grad
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(grad, dtype=data.dtype)
            else:
                buf *= momentum
                _add_scaled(buf, grad, 1.0 - float(group["dampening"]), tmp)
            if group["nesterov"]:
                direction = xp.multiply(buf, momentum, out=tmp)
                direction += grad
            else:
                direction = buf
        _add_scaled(data, direction, -lr, tmp)


@jit.kernel
def _sgd_kernel(p, g, buf, has_l2, l2, momentum, one_minus_dampening, nesterov, minus_lr):
    """SGD's update in one pass (see :mod:`nerve.jit`): the operations of ``SGD._update``'s
    NumPy passes, in their order, on each element; ``buf`` is empty without momentum."""
    for k in range(p.size):
        gk = g[k]
        if has_l2:  # decided before the cast of weight_decay, as in the NumPy passes
            gk = p[k] * l2 + gk
        if buf.size:
            b = buf[k] * momentum + gk * one_minus_dampening
            buf[k] = b
            gk = b * momentum + gk if nesterov else b
        p[k] += gk * minus_lr


def _add_scaled(target, x, alpha: float, tmp) -> None:
    """target += alpha * x, through ``tmp`` (which may be ``x``, but not ``target``)."""
    if alpha == 1.0:
        target += x
    else:
        target += backend.array_module(x).multiply(x, alpha, out=tmp)
