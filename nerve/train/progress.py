"""The progress display of ``fit``, a callback: a tqdm bar per epoch on a terminal, one line per
epoch otherwise, nothing at ``verbose=0``."""

from __future__ import annotations

import sys
import time

from nerve.train.callbacks import Callback


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar(Callback):
    """Shows training progress; ``verbose`` 1 draws a bar on a terminal (one line per epoch
    elsewhere), 2 always writes lines. Only a drawn bar acts per batch."""

    def __init__(self, verbose: int = 1, file=None):
        self.file = file or sys.stderr
        self.verbose = verbose
        self.live = verbose == 1 and getattr(self.file, "isatty", lambda: False)()
        self.bar = None

    def uses(self, hook: str) -> bool:
        return self.live if hook == "on_batch_end" else super().uses(hook)

    def on_train_begin(self, logs: dict) -> None:
        self.epochs, self.steps = self.trainer.epochs, self.trainer.steps

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.start = self.last = time.perf_counter()
        self.total, self.count = 0.0, 0
        if self.live:
            from tqdm.auto import tqdm  # imported only when a bar is drawn

            self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}",
                            unit="batch", file=self.file, leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch: int, logs: dict) -> None:
        self.bar.update(1)
        weight = logs.get("loss_weight", logs["size"])  # as fit weighs the epoch's loss
        weight = 1 if weight is None else weight  # (a summed loss: the mean batch sum)
        if weight:  # 0: every target ignored, a NaN loss that counts for nothing
            self.total += logs["loss"] * weight
            self.count += weight
        now = time.perf_counter()
        if now - self.last > 0.2 and self.count:  # formatting every batch would cost time
            self.bar.set_postfix({"loss": self.total / self.count}, refresh=False)
            self.last = now

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix(logs)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            seconds = time.perf_counter() - self.start
            took = f"{seconds:.2f}s" if seconds >= 1 else f"{seconds * 1e3:.0f}ms"  # not 0.00s
            print(f"Epoch {epoch + 1}/{self.epochs} - {took} - {format_logs(logs)}",
                  file=self.file, flush=True)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.verbose:
            print(text, file=self.file, flush=True)
