"""Adagrad: each weight's step divided by the root of the sum of its squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_number
from nerve.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer, 2011), with PyTorch's update rule and defaults.

    With ``g`` the gradient, ``sum`` at ``initial_accumulator_value`` at first and ``t`` the
    step count from 1::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2
        p = p - clr * g / (sqrt(sum) + eps)

    Weights with large gradients so far take small steps, rarely moved ones large steps. As
    PyTorch's, the constructor gives every parameter its state (``step`` 0 and ``sum``), so a
    state dict holds it before the first step; a group added later gets it at its first step.
    As in PyTorch, the groups given to the constructor start ``sum`` from the constructor's
    ``initial_accumulator_value`` (a group's own value is kept in the group but not used for
    them: PyTorch's rule, so that a ported program gets PyTorch's numbers); a group added later
    starts from its own.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2,
                 lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False, **flags):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "maximize": maximize}, foreach=foreach, **flags)
        start = {"initial_accumulator_value": initial_accumulator_value}  # PyTorch's rule
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p._data, start, self.state.setdefault(p, {}))

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        check_number(group["lr_decay"], "lr_decay", who, 0.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)
        check_number(group["initial_accumulator_value"], "initial_accumulator_value", who, 0.0)
        check_number(group["eps"], "eps", who, 0.0)

    def _state_keys(self, group: dict[str, Any]) -> set[str]:
        return {"step", "sum"}

    @staticmethod
    def _init_state(data, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        state.update(step=0, sum=xp.full_like(data, float(group["initial_accumulator_value"])))

    def _update(self, data, grad, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        if "sum" not in state:  # a group added after the constructor
            self._init_state(data, group, state)
        state["step"] += 1
        weight_decay = float(group["weight_decay"])
        if weight_decay != 0:
            decayed = xp.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        clr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        total, tmp = state["sum"], self._scratch(data, 1)
        total += xp.multiply(grad, grad, out=tmp)
        std = xp.sqrt(total, out=tmp)
        std += float(group["eps"])
        update = xp.divide(grad, std, out=tmp)
        update *= -clr
        data += update
