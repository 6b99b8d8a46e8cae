"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nerve.autograd import Tensor
from nerve.optim.optimizer import Optimizer, check_number, zeros_state


class RMSprop(Optimizer):
    """RMSprop, with PyTorch's update rule.

    With ``g`` the gradient and ``v``, ``g_avg``, ``b`` zero at first::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g^2
        g_avg = alpha * g_avg + (1 - alpha) * g;  denom = sqrt(v - g_avg^2) + eps   (centered)
        denom = sqrt(v) + eps                                                     (otherwise)
        b = momentum * b + g / denom;  p = p - lr * b          (when momentum > 0)
        p = p - lr * g / denom                                 (otherwise)
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def _check(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("alpha", group["alpha"], 0.0, 1.0)
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])
        check_number("momentum", group["momentum"], 0.0, 1.0)

    def _update(self, p: Tensor, grad: np.ndarray, group: dict, state: dict) -> None:
        data, alpha = p.data, float(group["alpha"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        if "step" not in state:
            state.update(step=0, square_avg=np.zeros_like(data))
        state["step"] += 1
        if weight_decay != 0:
            decayed = np.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        v, tmp = state["square_avg"], self._scratch(data, 1)
        v *= alpha
        v += np.multiply(np.multiply(grad, grad, out=tmp), 1.0 - alpha, out=tmp)
        if group["centered"]:
            g_avg = zeros_state(state, "grad_avg", data)
            g_avg += np.multiply(np.subtract(grad, g_avg, out=tmp), 1.0 - alpha, out=tmp)
            denom = np.subtract(v, np.multiply(g_avg, g_avg, out=tmp), out=tmp)
            denom = np.sqrt(denom, out=tmp)
        else:
            denom = np.sqrt(v, out=tmp)
        denom += float(group["eps"])
        update = np.divide(grad, denom, out=tmp)
        if momentum > 0:
            buf = zeros_state(state, "momentum_buffer", data)
            buf *= momentum
            buf += update
            update = np.multiply(buf, -float(group["lr"]), out=tmp)
        else:
            update *= -float(group["lr"])
        data += update
