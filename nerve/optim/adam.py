"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from nerve import backend, cuda, jit
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_number, message
from nerve.optim.optimizer import Optimizer, zeros_state


class Adam(Optimizer):
    """Adam, with PyTorch's update rule.

    With ``g`` the gradient, ``m`` and ``v`` zero at first, ``t`` the step count from 1::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v);  use v_max for v            (when amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    # a group saved before the flag existed: Adam's is False, AdamW's True
    later_keys = {"maximize": False, "decoupled_weight_decay": False}

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, **flags):
        """``decoupled_weight_decay=True`` is AdamW's update (PyTorch's flag, kept in each
        group as PyTorch keeps it)."""
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay}, **flags)

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(message(who, "a pair (beta1, beta2)", "betas", betas))
        check_number(betas[0], "betas[0]", who, 0.0, 1.0, high_open=True)
        check_number(betas[1], "betas[1]", who, 0.0, 1.0, high_open=True)
        check_number(group["eps"], "eps", who, 0.0)
        check_number(group["weight_decay"], "weight_decay", who, 0.0)
        check_bool(group["decoupled_weight_decay"], "decoupled_weight_decay", who)

    def _state_keys(self, group: dict[str, Any]) -> set[str]:
        keys = {"step", "exp_avg", "exp_avg_sq"}
        return keys | {"max_exp_avg_sq"} if group["amsgrad"] else keys

    def _update(self, data, grad, group: dict, state: dict) -> None:
        xp = backend.array_module(data)
        lr, weight_decay = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if "step" not in state:
            state.update(step=0, exp_avg=xp.zeros_like(data), exp_avg_sq=xp.zeros_like(data))
        state["step"] += 1
        step = state["step"]
        c1, c2, eps = 1.0 - beta1**step, math.sqrt(1.0 - beta2**step), float(group["eps"])
        folded = lr >= 1e-12 and data.dtype.itemsize >= 4  # see below
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if folded and not group["amsgrad"]:
            decay, l2 = 1.0, 0.0
            if group["decoupled_weight_decay"]:
                decay = 1.0 - lr * weight_decay
            else:
                l2 = weight_decay
            number = data.dtype.type  # as NumPy takes a Python float: in the array's dtype
            args = (number(decay), l2 != 0, number(l2), number(1.0 - beta1), number(beta2),
                    number(1.0 - beta2), number(c1 / (lr * c2)), number(eps * c1 / lr))
            if jit.usable(data, grad, m, v):
                _adam_kernel(data.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                             *args)
                return
            gpu = cuda.elementwise(xp, "nerve_adam", *_ADAM_GPU)  # None on the CPU
            if gpu is not None and data.flags.c_contiguous and grad.flags.c_contiguous:
                gpu(grad, *args, data, m, v)  # the same update in one launch
                return
        if weight_decay != 0 and group["decoupled_weight_decay"]:
            data *= 1.0 - lr * weight_decay
        elif weight_decay != 0:
            decayed = xp.multiply(data, weight_decay, out=self._scratch(data, 0))
            decayed += grad
            grad = decayed
        tmp = self._scratch(data, 1)
        m += xp.multiply(xp.subtract(grad, m, out=tmp), 1.0 - beta1, out=tmp)
        v *= beta2
        v += xp.multiply(xp.multiply(grad, grad, out=tmp), 1.0 - beta2, out=tmp)
        if group["amsgrad"]:
            v_max = zeros_state(state, "max_exp_avg_sq", data)
            v = xp.maximum(v_max, v, out=v_max)
        denom = xp.sqrt(v, out=tmp)
        if folded:
            # lr / c1 folded into the denominator: one pass fewer (p -= m / denom). No
            # overflow: the scale is below 1e15 (for beta2 < 1 - 1e-6), sqrt(v) below 2e19
            denom *= c1 / (lr * c2)
            denom += eps * c1 / lr
            data -= xp.divide(m, denom, out=tmp)
            return
        denom /= c2
        denom += eps
        update = xp.divide(m, denom, out=tmp)
        update *= -lr / c1
        data += update


# _adam_kernel's update as CUDA C for CuPy (nerve.cuda.elementwise): p, m and v in place
_ADAM_GPU = (
    "T g, T decay, bool has_l2, T l2, T one_minus_beta1, T beta2, T one_minus_beta2, T scale, "
    "T eps", "T p, T m, T v",
    """T pk = decay != (T)1 ? p * decay : p;
    T gk = has_l2 ? pk * l2 + g : g;
    T mk = m + (gk - m) * one_minus_beta1;
    T vk = v * beta2 + (gk * gk) * one_minus_beta2;
    m = mk;
    v = vk;
    p = pk - mk / (sqrt(vk) * scale + eps);""")


@jit.kernel
def _adam_kernel(p, g, m, v, decay, has_l2, l2, one_minus_beta1, beta2, one_minus_beta2, scale,
                 eps):
    """Adam's update in one pass (see :mod:`nerve.jit`): the operations of ``Adam._update``'s
    NumPy passes, in their order, on each element."""
    for k in range(p.size):
        if decay != 1:  # AdamW: p = p (1 - lr weight_decay)
            p[k] *= decay
        gk = g[k]
        if has_l2:  # Adam's weight decay: g = p weight_decay + g (decided before the cast of
            # weight_decay to the array's dtype, as NumPy's passes decide it)
            gk = p[k] * l2 + gk
        mk = m[k] + (gk - m[k]) * one_minus_beta1
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        p[k] -= mk / (math.sqrt(vk) * scale + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), with PyTorch's update rule.

    As :class:`Adam` without the ``weight_decay * p`` term in ``g``; instead, before the
    moments are updated::

        p = p * (1 - lr * weight_decay)
    """

    later_keys = {"maximize": False, "decoupled_weight_decay": True}

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 **flags):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, **flags)
