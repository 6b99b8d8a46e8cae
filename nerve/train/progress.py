"""The progress display of ``fit``: a tqdm bar per epoch on a terminal, one line per epoch
otherwise, nothing at ``verbose=0``."""

from __future__ import annotations

import sys
import time


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    """Shows training progress; ``verbose`` 0 (silent), 1 (bar on a terminal) or 2 (lines)."""

    def __init__(self, verbose: int, epochs: int, steps: int, file=None):
        self.file = file or sys.stderr
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.live = verbose == 1 and getattr(self.file, "isatty", lambda: False)()
        self.bar = None

    def epoch_begin(self, epoch: int) -> None:
        self.start = self.last = time.perf_counter()
        if self.live:
            from tqdm.auto import tqdm  # imported only when a bar is drawn

            self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}",
                            unit="batch", file=self.file, leave=True, dynamic_ncols=True)

    def batch_end(self, running: dict) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last > 0.2:  # formatting the postfix every batch would cost time
            self.bar.set_postfix(running, refresh=False)
            self.last = now

    def epoch_end(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix(logs)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            seconds = time.perf_counter() - self.start
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {format_logs(logs)}",
                  file=self.file, flush=True)

    def message(self, text: str) -> None:
        if self.verbose:
            print(text, file=self.file, flush=True)
