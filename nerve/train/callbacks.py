"""Callbacks: what fit calls at each moment of training, through one ``CallbackList``.

The hooks, in the order of a run::

    on_train_begin(logs)
      on_epoch_begin(epoch, logs)
        on_batch_begin(batch, logs)     logs: {"size"}
        on_after_backward(batch, logs)  the gradients are there, the optimizer has not stepped
        on_batch_end(batch, logs)       logs: {"size", "loss"}
      on_epoch_end(epoch, logs)         logs: the epoch's loss, metrics and their val_ twins
    on_train_end(logs)

A callback sees the run through ``self.trainer`` (its ``model``, ``optimizer``, ``history``,
``epoch``) and stops it with ``self.trainer.stop_training = True`` (seen after every batch).
A callback that adds names to the epoch's logs declares them in ``logs`` (``("lr",)``), so that
a monitor or a checkpoint path that needs a name nobody logs is refused before training
(``check_run``), not after the first epoch.
``History`` and the progress bar are callbacks too; fit adds them after the user's, so they see
what other callbacks log (``lr``). The list calls a hook only on the callbacks that use it, so a
batch hook that no callback overrides costs nothing per batch. A callback with state (a schedule,
a patience counter) has ``state_dict()`` and ``load_state_dict()``: checkpoints save that state
and ``fit(resume=...)`` loads it after ``on_train_begin``, so a resumed run goes on exactly.
"""

from __future__ import annotations

import math
import re
import string

from nerve.checks import check_bool, check_choice, check_int, check_number, message
from nerve.nn.utils import clip_grad_norm_, clip_grad_value_
from nerve.optim import lr_scheduler

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_after_backward",
         "on_batch_end", "on_epoch_end", "on_train_end")


class Callback:
    """Base class: override the hooks you need; each receives the latest ``logs`` dict.

    ``logs`` names what the callback adds to the epoch's logs (none by default).
    """

    trainer = None
    logs: tuple[str, ...] = ()

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def declares_logs(self) -> bool:
        """Whether ``logs`` lists every name this callback may log: true for nerve's own
        callbacks and for one that sets ``logs``; a LambdaCallback's functions may log any."""
        if "logs" in vars(self) or any("logs" in vars(k) for k in type(self).__mro__
                                       if k is not Callback):
            return True
        return type(self).__module__.startswith("nerve.") and not isinstance(self,
                                                                            LambdaCallback)

    def check_run(self, names: set[str], complete: bool) -> None:
        """Raise, before training changes anything, what would fail later: a logged name that
        this callback needs and the run will not log (``names``; ``complete`` is False when
        other names may come from callbacks that do not declare them), a schedule made on
        another optimizer. ``self.trainer`` is set."""

    def uses(self, hook: str) -> bool:
        """Whether this callback acts at ``hook``: it overrides it, or sets it (LambdaCallback)."""
        return hook in vars(self) or getattr(type(self), hook) is not getattr(Callback, hook)

    def on_train_begin(self, logs: dict) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...

    def on_batch_begin(self, batch: int, logs: dict) -> None: ...

    def on_after_backward(self, batch: int, logs: dict) -> None: ...

    def on_batch_end(self, batch: int, logs: dict) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, logs: dict) -> None: ...


class CallbackList:
    """The callbacks of one run, called hook by hook, in order; ``hooks[name]`` lists the bound
    methods of the callbacks that use hook ``name`` (the training loop reads the batch ones)."""

    def __init__(self, callbacks=()):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(message("fit", "Callback instances", "callbacks entry", cb))
        self.hooks = {name: [getattr(cb, name) for cb in self.callbacks if cb.uses(name)]
                      for name in HOOKS}

    def set_trainer(self, trainer) -> None:
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def _call(self, name: str, *args) -> None:
        for hook in self.hooks[name]:
            hook(*args)

    def on_train_begin(self, logs: dict) -> None:
        self._call("on_train_begin", logs)

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_end(self, logs: dict) -> None:
        self._call("on_train_end", logs)

    def _stateful(self) -> dict[str, Callback]:
        """The callbacks with state, by class name (``Name``, then ``Name_1``, ... for more)."""
        named: dict[str, Callback] = {}
        for cb in self.callbacks:
            if callable(getattr(cb, "state_dict", None)):
                base = type(cb).__name__
                key, k = base, 0
                while key in named:
                    k += 1
                    key = f"{base}_{k}"
                named[key] = cb
        return named

    def state_dict(self) -> dict:
        return {key: cb.state_dict() for key, cb in self._stateful().items()}

    def load_state_dict(self, state: dict) -> None:
        """Give each stateful callback its saved state; one without saved state starts fresh."""
        for key, cb in self._stateful().items():
            if key in state:
                cb.load_state_dict(state[key])


class _Monitor(Callback):
    """Watches a logged quantity (``mode="auto"``: see :func:`auto_mode`)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        who = type(self).__name__
        check_choice(mode, "mode", who, ("auto", "min", "max"))
        if not isinstance(monitor, str):
            raise TypeError(message(who, "the name of a logged value", "monitor", monitor))
        if mode == "auto":  # (a ModelCheckpoint that saves every epoch watches nothing)
            mode = auto_mode(monitor, who) if self.uses_monitor() else "min"
        self.monitor, self.mode = monitor, mode
        self.min_delta = check_number(min_delta, "min_delta", who, 0.0)
        self.best = self._worst()

    def _worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def _value(self, logs: dict) -> float:
        if self.monitor not in logs:
            raise ValueError(_not_logged(type(self).__name__, "monitor", self.monitor, logs))
        return float(logs[self.monitor])

    def check_run(self, names: set[str], complete: bool) -> None:
        if complete and self.uses_monitor() and self.monitor not in names:
            raise ValueError(_not_logged(type(self).__name__, "monitor", self.monitor, names))

    def uses_monitor(self) -> bool:
        return True

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "mape", "perplexity")
_HIGHER_IS_BETTER = ("acc", "r2", "auc", "f1", "precision", "recall", "iou", "dice")


def auto_mode(monitor: str, who: str) -> str:
    """'min' or 'max' for ``monitor`` by its name (losses and errors go down, accuracies,
    R^2, AUC, F1 and the like go up); a name that says neither raises, as in Keras, since
    watching it the wrong way round would keep the worst epoch."""
    name = monitor.lower().removeprefix("val_")
    if any(k in name for k in _LOWER_IS_BETTER):
        return "min"
    if any(k in name for k in _HIGHER_IS_BETTER):
        return "max"
    raise ValueError(message(who, "mode='min' or mode='max' for a quantity whose name does not "
                             "say which way is better (mode='auto' knows losses, errors, "
                             "accuracies, R^2, AUC, F1, precision and recall)", "monitor",
                             monitor))


def _not_logged(who: str, name: str, value: str, logged) -> str:
    hint = " (val_ names need validation_data or validation_split)" if "val_" in value else ""
    return message(who, f"a name that the run logs, one of {sorted(logged)}{hint}", name, value)


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    With ``restore_best_weights=True`` (the default) the model ends with the weights of its best
    epoch, whether training stopped early or ran out of epochs.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "patience", "EarlyStopping", minimum=0)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights",
                                               "EarlyStopping")
        self.on_train_begin({})

    def on_train_begin(self, logs: dict) -> None:
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None
        self.best = self._worst()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = snapshot(self.trainer.model)
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.wait, self.best = state["wait"], state["best"]
        self.best_epoch, self.best_weights = state["best_epoch"], state["best_weights"]


class ModelCheckpoint(_Monitor):
    """Save a checkpoint (weights, optimizer and callback state, epoch, history) every epoch.

    ``path`` may hold ``{epoch}`` and logged names (``"ckpt-{epoch:02d}-{val_loss:.3f}"``);
    a field that the run will not log raises ValueError before training. With
    ``save_best_only=True`` a file is written only when ``monitor`` improves, so the file
    at ``path`` is always the best so far. The file is written once every callback has seen the
    epoch, so it holds the state the next epoch starts from (and its name what they logged);
    writes are atomic.
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto"):
        self.save_best_only = check_bool(save_best_only, "save_best_only", "ModelCheckpoint")
        super().__init__(monitor, mode)
        self.path = str(path)
        self.fields = _fields(self.path)
        self.saved: list[str] = []

    def uses_monitor(self) -> bool:
        return self.save_best_only

    def check_run(self, names: set[str], complete: bool) -> None:
        super().check_run(names, complete)
        names = names | {"epoch"}
        unknown = [f for f in self.fields if f not in names]
        if unknown and complete:
            raise ValueError(message("ModelCheckpoint", f"path fields that the run logs, among "
                                     f"{sorted(names)} ({{{unknown[0]}}} is not logged)",
                                     "path", self.path))
        if not unknown:
            try:  # a bad format spec ("{val_loss:.3q}") fails now, not after an epoch
                self.path.format(**{**dict.fromkeys(names, 0.0), "epoch": 1})
            except (ValueError, TypeError, IndexError, AttributeError) as e:
                raise ValueError(message("ModelCheckpoint", f"a path that formats ({e})", "path",
                                         self.path)) from None

    def on_train_begin(self, logs: dict) -> None:
        self.best = self._worst()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        self.trainer.request_checkpoint(lambda final: self._path(epoch, final))

    def _path(self, epoch: int, logs: dict) -> str:
        """The file name of this epoch, from the logs once every callback has logged."""
        try:
            path = self.path.format(**{**logs, "epoch": epoch + 1})
        except KeyError as e:
            raise ValueError(message("ModelCheckpoint", f"path fields that the run logs, among "
                                     f"{sorted({'epoch', *logs})} ({{{e.args[0]}}} is not "
                                     "logged)", "path", self.path)) from None
        self.saved.append(path)
        return path

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


def _fields(path: str) -> list[str]:
    """The names a path template formats (``{val_loss:.3f}`` gives ``val_loss``)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as e:
        raise ValueError(message("ModelCheckpoint", f"a path template ({e})", "path",
                                 path)) from None
    names = [re.match(r"[^.\[]*", f).group() for f in fields]
    if any(not n or n.isdigit() for n in names):
        raise ValueError(message("ModelCheckpoint", "named fields in the path, such as {epoch} "
                                 "or {val_loss}", "path", path))
    return names


class LambdaCallback(Callback):
    """A callback made of functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        unknown = set(hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {sorted(unknown)}; valid: "
                             f"{sorted(HOOKS)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


class GradientClipping(Callback):
    """Clip the gradients between backward and the optimizer step: each element into
    [-max_value, max_value] (``clip_grad_value_``), then their joint ``norm_type``-norm to at
    most ``max_norm`` (``clip_grad_norm_``). ``fit(clip_grad_norm=..., clip_grad_value=...)``
    adds one."""

    def __init__(self, max_norm: float | None = None, max_value: float | None = None,
                 norm_type: float = 2.0):
        who = "GradientClipping"
        if max_norm is None and max_value is None:
            raise ValueError(f"{who}: expected max_norm or max_value (or both). Received: "
                             f"max_norm=None, max_value=None")
        self.max_norm = None if max_norm is None else check_number(
            max_norm, "max_norm", who, 0.0, low_open=True)
        self.max_value = None if max_value is None else check_number(
            max_value, "max_value", who, 0.0, low_open=True)
        self.norm_type = check_number(norm_type, "norm_type", who, 0.0, low_open=True)

    def on_train_begin(self, logs: dict) -> None:
        self.params = list(self.trainer.model.parameters())

    def on_after_backward(self, batch: int, logs: dict) -> None:
        if self.max_value is not None:
            clip_grad_value_(self.params, self.max_value)
        if self.max_norm is not None:
            clip_grad_norm_(self.params, self.max_norm, self.norm_type)


def _lr(optimizer) -> float:
    """The learning rate that fit logs: the first parameter group's."""
    return float(optimizer.param_groups[0]["lr"])


class LearningRateScheduler(Callback):
    """Set the learning rate from a schedule while fit trains, and log it as ``lr``.

    ``OneCycleLR`` (and any schedule meant per batch) takes ``interval="batch"``.

    ``schedule`` is one of
    - a schedule of ``nerve.optim.lr_scheduler`` made on fit's optimizer, stepped after every
      epoch (``interval="epoch"``, as PyTorch's are stepped) or after every optimizer step
      (``interval="batch"``);
    - a schedule class and its keyword arguments, made on fit's optimizer when training begins
      (for an optimizer that fit makes from a name):
      ``LearningRateScheduler(StepLR, step_size=10, gamma=0.5)``; OneCycleLR without a length
      spans the whole run: ``LearningRateScheduler(OneCycleLR, interval="batch", max_lr=0.1)``;
    - a function, as in Keras: ``lr = schedule(epoch)`` before each epoch, or with
      ``interval="batch"``, ``lr = schedule(step)`` before each batch, ``step`` counting the
      batches from the start of training.
    ``lr`` logs the learning rate of the epoch's last batch (of the first parameter group).
    """

    logs = ("lr",)

    def __init__(self, schedule, interval: str = "epoch", **kwargs):
        who = "LearningRateScheduler"
        self.interval = check_choice(interval, "interval", who, ("epoch", "batch"))
        self.scheduler = self.function = self.factory = None
        self._groups: list = []  # the optimizer's groups before the schedule was made on it
        plateau = lr_scheduler.ReduceLROnPlateau
        if schedule is plateau or isinstance(schedule, plateau):
            raise TypeError(f"{who}: ReduceLROnPlateau steps on a monitored value: use the "
                            "callback nerve.train.ReduceLROnPlateau")
        if isinstance(schedule, type) and issubclass(schedule, lr_scheduler.LRScheduler):
            self.factory, self.kwargs = schedule, kwargs
        elif isinstance(schedule, lr_scheduler.LRScheduler):
            self.scheduler = schedule
        elif callable(schedule):
            self.function = schedule
        else:
            raise TypeError(message(who, "a schedule, a schedule class or a function", "schedule",
                                    schedule))
        if kwargs and self.factory is None:
            raise TypeError(f"{who}: keyword arguments are for a schedule class. Received: "
                            f"{sorted(kwargs)}")

    def uses(self, hook: str) -> bool:
        by_epoch = self.interval == "epoch"
        return {"on_train_begin": True, "on_epoch_end": True,
                "on_epoch_begin": self.function is not None and by_epoch,
                "on_batch_begin": self.function is not None and not by_epoch,
                "on_batch_end": self.function is None and not by_epoch}.get(hook, False)

    def check_run(self, names: set[str], complete: bool) -> None:
        if self.scheduler is not None and self.scheduler.optimizer is not self.trainer.optimizer:
            raise ValueError("LearningRateScheduler: the schedule was made on another optimizer "
                             "than the one fit trains with; pass the schedule class instead")

    def on_train_begin(self, logs: dict) -> None:
        optimizer = self.trainer.optimizer
        if self.factory is not None:
            kwargs = dict(self.kwargs)
            if issubclass(self.factory, lr_scheduler.OneCycleLR) and not (
                    {"total_steps", "epochs", "steps_per_epoch"} & set(kwargs)):
                kwargs["total_steps"] = self.trainer.epochs * self.trainer.steps  # the whole run
            # A schedule's first step sets the lr (LambdaLR, OneCycleLR): in a resumed run it
            # would overwrite the checkpoint's, so load_state_dict puts the groups back, as
            # they were before the first schedule fit made (a second one, chained, must not
            # bring back the lr the first had just set).
            if self.trainer.groups_before_schedules is None:
                self.trainer.groups_before_schedules = [
                    {k: v for k, v in group.items() if k != "params"}
                    for group in optimizer.param_groups]
            self._groups = self.trainer.groups_before_schedules
            self.scheduler = self.factory(optimizer, **kwargs)
        self.last_lr = _lr(optimizer)

    def _set(self, lr) -> None:
        lr = check_number(lr, "lr", "LearningRateScheduler schedule", 0.0)
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = lr

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self._set(self.function(epoch))

    def on_batch_begin(self, batch: int, logs: dict) -> None:
        self._set(self.function(self.trainer.epoch * self.trainer.steps + batch))

    def on_batch_end(self, batch: int, logs: dict) -> None:
        self.last_lr = _lr(self.trainer.optimizer)
        self.scheduler.step()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        batch_scheduler = self.scheduler is not None and self.interval == "batch"
        logs.setdefault("lr", self.last_lr if batch_scheduler else _lr(self.trainer.optimizer))
        if self.scheduler is not None and self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {} if self.scheduler is None else {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None and "scheduler" in state:
            if self.factory is not None:  # made on the checkpoint's optimizer: its values back
                for group, saved in zip(self.trainer.optimizer.param_groups, self._groups):
                    group.update(saved)
                self.last_lr = _lr(self.trainer.optimizer)
            self.scheduler.load_state_dict(state["scheduler"])


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs (then wait ``cooldown`` epochs), down to ``min_lr``;
    log it as ``lr``. Keras's callback, on ``nerve.optim.lr_scheduler.ReduceLROnPlateau``."""

    logs = ("lr",)

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        who = "ReduceLROnPlateau"
        self.factor = check_number(factor, "factor", who, 0.0, 1.0, high_open=True)
        self.patience = check_int(patience, "patience", who, minimum=0)
        self.cooldown = check_int(cooldown, "cooldown", who, minimum=0)
        self.min_lr = check_number(min_lr, "min_lr", who, 0.0)
        self.scheduler = None

    def on_train_begin(self, logs: dict) -> None:
        self.scheduler = lr_scheduler.ReduceLROnPlateau(
            self.trainer.optimizer, mode=self.mode, factor=self.factor, patience=self.patience,
            threshold=self.min_delta, threshold_mode="abs", cooldown=self.cooldown,
            min_lr=self.min_lr)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = self._value(logs)
        logs.setdefault("lr", _lr(self.trainer.optimizer))
        self.scheduler.step(value)

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


def snapshot(model) -> dict:
    """A copy of ``model``'s state_dict (name -> Tensor), to put back with load_state_dict."""
    return {k: v.copy() for k, v in model.state_dict().items()}
