"""Adadelta: steps scaled by running averages of squared gradients and of squared steps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_number
from nerve.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), with PyTorch's update rule and defaults.

    With ``g`` the gradient and ``v``, ``u`` zero at first::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta^2
        p = p - lr * delta
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1.0,
                 rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay})

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        check_number(group["rho"], "rho", who, 0.0, 1.0)
        check_number(group["eps"], "eps", who, 0.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)

    def _update(self, p: Tensor, grad, group: dict, state: dict) -> None:
        data = p._data
        xp = backend.array_module(data)
        rho, eps = float(group["rho"]), float(group["eps"])
        if "step" not in state:
            state.update(step=0, square_avg=xp.zeros_like(data), acc_delta=xp.zeros_like(data))
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + float(group["weight_decay"]) * data
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * grad * grad
        delta = xp.sqrt(u + eps)
        delta /= xp.sqrt(v + eps)
        delta *= grad
        u *= rho
        u += (1 - rho) * delta * delta
        data -= float(group["lr"]) * delta
