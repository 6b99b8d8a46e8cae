"""SGD: stochastic gradient descent with optional momentum, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nerve.autograd import Tensor
from nerve.optim.optimizer import Optimizer, check_number


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's update rule.

    With ``g`` the gradient, ``b`` the momentum buffer (``b = g`` at the first step)::

        g = g + weight_decay * p
        b = momentum * b + (1 - dampening) * g
        g = g + momentum * b   if nesterov   else   b      (when momentum != 0)
        p = p - lr * g
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float,
                 momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay})

    def _check(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("momentum", group["momentum"], 0.0, 1.0)
        check_number("dampening", group["dampening"], 0.0, 1.0, high_open=False)
        check_number("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError(f"Invalid nesterov value: True needs momentum > 0 and dampening = "
                             f"0, got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _update(self, p: Tensor, grad: np.ndarray, group: dict, state: dict) -> None:
        data, lr = p.data, float(group["lr"])
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
        tmp = self._scratch(data, 1)
        if weight_decay != 0:
            decayed = np.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        direction = grad
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=data.dtype)
            else:
                buf *= momentum
                _add_scaled(buf, grad, 1.0 - float(group["dampening"]), tmp)
            if group["nesterov"]:
                direction = np.multiply(buf, momentum, out=tmp)
                direction += grad
            else:
                direction = buf
        _add_scaled(data, direction, -lr, tmp)


def _add_scaled(target: np.ndarray, x: np.ndarray, alpha: float, tmp: np.ndarray) -> None:
    """target += alpha * x, through ``tmp`` (which may be ``x``, but not ``target``)."""
    if alpha == 1.0:
        target += x
    else:
        target += np.multiply(x, alpha, out=tmp)
