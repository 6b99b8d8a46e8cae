"""Start-up time: ``nerve --help`` and ``import nerve`` in fresh processes, beside ``import torch``.

Each command runs in a new ``sys.executable`` process (the caller's environment and working
folder), once untimed (it writes the bytecode caches and warms the file cache), then ``runs``
times; the median wall time is reported in ms. The target: ``nerve --help`` answers in under
0.5 s, which holds only while nothing heavy is imported before it is needed.

``python -m benchmarks --case startup`` prints the table (it is part of a full run too).
"""

from __future__ import annotations

import importlib.util
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

NAME = "startup"
DESCRIPTION = "fresh processes: python -m nerve --help, import nerve, import torch (ms)"
RUNS, WARMUP = 5, 1
HELP_TARGET_MS = 500.0
# (row name, interpreter arguments); "import torch" is the reference for the ratio column
COMMANDS = (
    ("python -c pass", ("-c", "pass")),
    ("nerve --help", ("-m", "nerve", "--help")),
    ("import nerve", ("-c", "import nerve")),
    ("import torch", ("-c", "import torch")),
)
REFERENCE = "import torch"


@dataclass
class StartupRow:
    name: str
    argv: list[str]  # the arguments after sys.executable
    median_ms: float
    samples_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def wall_ms(argv, runs: int = RUNS, warmup: int = WARMUP) -> list[float]:
    """Wall times in ms of ``runs`` fresh ``sys.executable *argv`` processes (after ``warmup``
    untimed ones); raise RuntimeError with its stderr if one fails."""
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *argv], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = (time.perf_counter() - start) * 1e3
        if done.returncode != 0:
            raise RuntimeError(f"startup: {shlex.join([sys.executable, *argv])} exited with "
                               f"{done.returncode}:\n{done.stderr.strip()}")
        if i >= warmup:
            times.append(elapsed)
    return times


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def measure(runs: int = RUNS, warmup: int = WARMUP, commands=COMMANDS) -> list[StartupRow]:
    """Time each command (``import torch`` only when torch is installed)."""
    rows = []
    for name, argv in commands:
        if name == REFERENCE and not torch_installed():
            continue
        samples = wall_ms(argv, runs, warmup)
        rows.append(StartupRow(name, list(argv), statistics.median(samples), samples))
    return rows


def format_startup(rows: list[StartupRow], warmup: int = WARMUP) -> str:
    """A plain-text table: median, fastest and slowest run of each command, and its ratio to
    ``import torch`` (when that was timed)."""
    if not rows:
        return ""
    reference = next((r.median_ms for r in rows if r.name == REFERENCE), None)
    head = ("startup", "median ms", "min ms", "max ms", "/ import torch", "command")
    body = [
        (r.name, f"{r.median_ms:.1f}", f"{min(r.samples_ms, default=r.median_ms):.1f}",
         f"{max(r.samples_ms, default=r.median_ms):.1f}",
         "-" if reference is None else f"{r.median_ms / reference:.2f}x",
         shlex.join(["python", *r.argv]))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" if i in (0, len(head) - 1) else f"{{:>{w}}}"
                    for i, w in enumerate(widths))
    lines = [fmt.format(*row).rstrip() for row in (head, tuple("-" * w for w in widths), *body)]
    runs = max(len(r.samples_ms) for r in rows)
    lines.append(f"\nms: wall time of a fresh process, median of {runs} runs after {warmup} "
                 "untimed;\npython -c pass is the interpreter alone.")
    by_name = {r.name: r for r in rows}
    if "import nerve" in by_name and reference is not None:
        ratio = by_name["import nerve"].median_ms / reference
        lines.append(f"import nerve / import torch: {ratio:.2f}x")
    if "nerve --help" in by_name:
        ms = by_name["nerve --help"].median_ms
        verdict = "within" if ms < HELP_TARGET_MS else "ABOVE"
        lines.append(f"nerve --help: {ms:.0f} ms, {verdict} the {HELP_TARGET_MS:.0f} ms target")
    return "\n".join(lines)


def main() -> int:
    print(format_startup(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
