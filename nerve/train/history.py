"""History: what fit returns, a dict of per-epoch lists (``loss``, ``val_loss``, ...), filled
as a callback in fit's callback list."""

from __future__ import annotations

from nerve.train.callbacks import Callback


class History(dict, Callback):
    """Per-epoch figures by name, e.g. ``history["val_accuracy"][-1]``; ``epoch`` lists the
    epoch numbers (0-based) and ``stop_reason`` says why training ended early, if it did."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch: list[int] = []
        self.stop_reason: str | None = None

    @property
    def history(self) -> dict:
        """The dict itself (Keras spells it ``history.history``)."""
        return self

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.append(epoch, logs)

    def append(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.setdefault(k, []).append(float(v))

    def last(self) -> dict:
        """The figures of the last epoch."""
        return {k: v[-1] for k, v in self.items() if v}

    def to_dict(self) -> dict:
        return {"epoch": list(self.epoch), "logs": {k: list(v) for k, v in self.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls({k: list(v) for k, v in d["logs"].items()})
        h.epoch = list(d["epoch"])
        return h
