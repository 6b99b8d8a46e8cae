"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from nerve import backend, jit
from nerve.autograd import Tensor
from nerve.checks import check_number
from nerve.optim.optimizer import Optimizer, zeros_state


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
                 momentum: float = 0.0, centered: bool = False, *, maximize: bool = False,
                 **flags):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize}, **flags)

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        check_number(group["alpha"], "alpha", who, 0.0, 1.0, high_open=True)
        check_number(group["eps"], "eps", who, 0.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)
        check_number(group["momentum"], "momentum", who, 0.0, 1.0, high_open=True)

    def _state_keys(self, group: dict[str, Any]) -> set[str]:
        return ({"step", "square_avg"} | ({"grad_avg"} if group["centered"] else set())
                | ({"momentum_buffer"} if group["momentum"] > 0 else set()))

    def _update(self, data, grad, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        alpha = float(group["alpha"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        if "step" not in state:
            state.update(step=0, square_avg=xp.zeros_like(data))
        state["step"] += 1
        v = state["square_avg"]
        if jit.usable(data, grad, v):
            empty = data.reshape(-1)[:0]
            g_avg = zeros_state(state, "grad_avg", data) if group["centered"] else empty
            buf = zeros_state(state, "momentum_buffer", data) if momentum > 0 else empty
            if jit.usable(data, g_avg, buf, min_size=0):
                number = data.dtype.type  # as NumPy takes a Python float: the array's dtype
                _rmsprop_kernel(data.reshape(-1), grad.reshape(-1), v.reshape(-1),
                                g_avg.reshape(-1), buf.reshape(-1), weight_decay != 0,
                                number(weight_decay), number(alpha), number(1.0 - alpha),
                                number(group["eps"]), number(momentum),
                                number(-float(group["lr"])))
                return
        if weight_decay != 0:
            decayed = xp.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        tmp = self._scratch(data, 1)
        v *= alpha
        v += xp.multiply(xp.multiply(grad, grad, out=tmp), 1.0 - alpha, out=tmp)
        if group["centered"]:
            g_avg = zeros_state(state, "grad_avg", data)
            g_avg += xp.multiply(xp.subtract(grad, g_avg, out=tmp), 1.0 - alpha, out=tmp)
            denom = xp.subtract(v, xp.multiply(g_avg, g_avg, out=tmp), out=tmp)
            denom = xp.sqrt(denom, out=tmp)
        else:
            denom = xp.sqrt(v, out=tmp)
        denom += float(group["eps"])
        update = xp.divide(grad, denom, out=tmp)
        if momentum > 0:
            buf = zeros_state(state, "momentum_buffer", data)
            buf *= momentum
            buf += update
            update = xp.multiply(buf, -float(group["lr"]), out=tmp)
        else:
            update *= -float(group["lr"])
        data += update


@jit.kernel
def _rmsprop_kernel(p, g, v, g_avg, buf, has_l2, l2, alpha, one_minus_alpha, eps, momentum,
                    minus_lr):
    """RMSprop's update in one pass (see :mod:`nerve.jit`): the operations of
    ``RMSprop._update``'s NumPy passes, in their order, on each element; ``g_avg`` (centered)
    and ``buf`` (momentum) are empty when not used."""
    for k in range(p.size):
        gk = g[k]
        if has_l2:
            gk = p[k] * l2 + gk
        vk = v[k] * alpha + (gk * gk) * one_minus_alpha
        v[k] = vk
        if g_avg.size:
            ak = g_avg[k] + (gk - g_avg[k]) * one_minus_alpha
            g_avg[k] = ak
            vk = vk - ak * ak
        update = gk / (math.sqrt(vk) + eps)
        if buf.size:
            update = buf[k] * momentum + update
            buf[k] = update
        p[k] += update * minus_lr
