"""Callbacks: hooks that ``fit`` calls at five moments, and the built-in ones.

The hooks are ``on_train_begin``, ``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end`` and
``on_train_end``. A callback sees the run through ``self.trainer`` (its ``model``,
``optimizer``, ``history``, ``epoch``) and stops it with ``self.trainer.stop_training = True``.
"""

from __future__ import annotations

import math


class Callback:
    """Base class: override the hooks you need; each receives the latest ``logs`` dict."""

    trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: dict) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...

    def on_batch_end(self, batch: int, logs: dict) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, logs: dict) -> None: ...


class _Monitor(Callback):
    """Tracks the best value of a logged quantity ('min' for losses, 'max' otherwise)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "r2")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def _value(self, logs: dict) -> float:
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
                             f"available: {sorted(logs)}")
        return float(logs[self.monitor])

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    With ``restore_best_weights=True`` (the default) the model ends with the weights of its best
    epoch, whether training stopped early or ran out of epochs.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: expected a non-negative integer. "
                             f"Received: patience={patience!r}")
        self.patience, self.restore_best_weights = patience, restore_best_weights

    def on_train_begin(self, logs: dict) -> None:
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.copy() for k, v in
                                     self.trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save a checkpoint (weights, optimizer state, epoch, history) after each epoch.

    ``path`` may hold ``{epoch}`` and logged names (``"ckpt-{epoch:02d}-{val_loss:.3f}"``).
    With ``save_best_only=True`` a file is written only when ``monitor`` improves, so the file
    at ``path`` is always the best so far. Writes are atomic.
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto"):
        super().__init__(monitor, mode)
        self.path, self.save_best_only = str(path), save_best_only
        self.saved: list[str] = []

    def on_train_begin(self, logs: dict) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        self.trainer.save_checkpoint(path)
        self.saved.append(path)


class LambdaCallback(Callback):
    """A callback made of functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        valid = {"on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end",
                 "on_train_end"}
        unknown = set(hooks) - valid
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hooks {sorted(unknown)}; valid: "
                             f"{sorted(valid)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)

