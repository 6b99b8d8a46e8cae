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
                 rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0, *,
                 maximize: bool = False, **flags):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize}, **flags)

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        check_number(group["rho"], "rho", who, 0.0, 1.0)
        check_number(group["eps"], "eps", who, 0.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)

    def _state_keys(self, group: dict[str, Any]) -> set[str]:
        return {"step", "square_avg", "acc_delta"}

    def _update(self, data, grad, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        rho, eps = float(group["rho"]), float(group["eps"])
        if "step" not in state:
            state.update(step=0, square_avg=xp.zeros_like(data), acc_delta=xp.zeros_like(data))
        state["step"] += 1
        if group["weight_decay"] != 0:
            decayed = xp.multiply(data, float(group["weight_decay"]), out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        v, u = state["square_avg"], state["acc_delta"]
        tmp, delta = self._scratch(data, 1), self._scratch(data, 2)
        v *= rho
        v += xp.multiply(xp.multiply(grad, grad, out=tmp), 1 - rho, out=tmp)
        delta = xp.sqrt(xp.add(u, eps, out=delta), out=delta)
        delta /= xp.sqrt(xp.add(v, eps, out=tmp), out=tmp)
        delta *= grad
        u *= rho
        u += xp.multiply(xp.multiply(delta, delta, out=tmp), 1 - rho, out=tmp)
        delta *= -float(group["lr"])
        data += delta
