"""GradientDescent: the seed's full-batch steepest descent, which stops by itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nerve import backend
from nerve.autograd import Tensor, enable_grad
from nerve.checks import check_int, check_number, check_positive_int, message
from nerve.optim.flat import grad_of
from nerve.optim.optimizer import Optimizer


class GradientDescent(Optimizer):
    """Steps every parameter down its slope until the steps are tiny or too many.

    For every element of every parameter, with ``dL/dp`` the derivative of the loss::

        step size = lr * dL/dp
        p_new     = p - step size

    After each ``step()``, ``steps`` counts the steps taken, ``last_step_size`` is the largest
    absolute step size of that step, and ``converged`` is True when every step size was at most
    ``tolerance`` (the seed's 0.001). ``done`` (alias ``should_stop``) is True once converged
    or after ``max_steps`` steps (the seed's 1000); a ``step()`` when done changes nothing, does
    not call the closure and returns None. Parameters without a gradient are skipped, but a step
    where no parameter has one raises RuntimeError (``backward()`` was forgotten)::

        opt = GradientDescent(model.parameters(), lr=0.1)
        while not opt.done:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float,
                 tolerance: float = 0.001, max_steps: int = 1000):
        check_positive_int(max_steps, "max_steps", "GradientDescent")
        super().__init__(params, {"lr": lr, "tolerance": tolerance})
        self.max_steps = int(max_steps)
        self.steps = 0
        self.last_step_size: float | None = None
        self.converged = False

    def _check(self, group: dict[str, Any]) -> None:
        who = type(self).__name__
        check_number(group["lr"], "lr", who, 0.0)
        if group["lr"] == 0:
            raise ValueError(message(who, "lr > 0 (no step would ever be taken)", "lr", 0))
        check_number(group["tolerance"], "tolerance", who, 0.0)

    @property
    def done(self) -> bool:
        """True once the last step converged or ``max_steps`` steps were taken."""
        return self.converged or self.steps >= self.max_steps

    should_stop = done

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one step (unless done) and update ``steps``, ``last_step_size``, ``converged``."""
        if self.done:
            return None
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        sizes, converged = [], True
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:
                    size = self._descend(p, group)
                    sizes.append(size)
                    converged = converged and size <= group["tolerance"]
        if not sizes:
            raise RuntimeError("GradientDescent.step() found no gradients: call "
                               "loss.backward() before step()")
        self.steps += 1
        self.last_step_size = max(sizes)
        self.converged = converged
        return loss

    def _descend(self, p: Tensor, group: dict) -> float:
        """Subtract lr * grad from ``p`` and return the largest absolute step size."""
        xp = backend.array_module(p._data)
        grad = grad_of(p)
        step_size = xp.multiply(grad, float(group["lr"]), out=self._scratch(p._data))
        p._data -= step_size
        p._bump()
        if step_size.size == 0:
            return 0.0
        return max(float(step_size.max()), -float(step_size.min()))

    def state_dict(self) -> dict[str, Any]:
        """Return the base state dict plus ``steps``, ``last_step_size``, ``converged``."""
        out = super().state_dict()
        out.update(steps=self.steps, last_step_size=self.last_step_size,
                   converged=self.converged, max_steps=self.max_steps)
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        who = "GradientDescent.load_state_dict"  # checked before anything changes
        steps = check_int(state_dict.get("steps", 0), "steps", who, 0)
        max_steps = check_positive_int(state_dict.get("max_steps", self.max_steps), "max_steps",
                                       who)
        size = state_dict.get("last_step_size")
        size = None if size is None else check_number(size, "last_step_size", who, 0.0)
        super().load_state_dict(state_dict)
        self.steps, self.max_steps, self.last_step_size = int(steps), int(max_steps), size
        self.converged = bool(state_dict.get("converged", False))
