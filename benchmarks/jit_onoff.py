"""nerve's side of some benchmark cases with its compiled kernels (``nerve.jit``) on and off,
alternating in one process: the figure a noisy machine moves least.

    python -m benchmarks.jit_onoff                     # the cases of DEFAULT
    python -m benchmarks.jit_onoff gru_100_steps --samples 9

Each case is built as ``python -m benchmarks`` builds it (the same ``Pair.nerve`` callable);
samples alternate on, off / off, on, each long enough to take about 0.15 s; the medians and
their ratio (on / off) are printed. Without numba it says so and exits (status 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks import cases_cnn, cases_mlp, cases_rnn, cases_sweep  # noqa: F401 - registers
from benchmarks.harness import CASES
from nerve import jit

DEFAULT = ["mlp_epoch_plain", "cnn_epoch", "lstm_100_steps", "gru_100_steps",
           "sweep_w512_b16", "sweep_w512_b64", "sweep_w512_b256", "sweep_w2048_b16"]


def on_off(run, samples: int) -> tuple[list[float], list[float]]:
    """Milliseconds per call of ``run`` with the kernels on and off, ``samples`` of each."""
    for on in (True, False):  # warm up both paths: compiling, caches
        jit.enable(on)
        run()
    start = time.perf_counter()
    run()
    number = max(1, int(0.15 / max(time.perf_counter() - start, 1e-6)))
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for i in range(samples):
            for on in ((True, False) if i % 2 else (False, True)):
                jit.enable(on)
                start = time.perf_counter()
                for _ in range(number):
                    run()
                times[on].append((time.perf_counter() - start) / number * 1e3)
    finally:
        jit._state["on"] = None  # back to the environment's choice
    return times[True], times[False]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=DEFAULT,
                        help=f"case names (default: {', '.join(DEFAULT)})")
    parser.add_argument("--samples", type=int, default=7, help="samples of each (default 7)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        parser.error(f"no case {', '.join(unknown)}; cases: {', '.join(CASES)}")
    jit.enable(True)
    if not jit.enabled():
        print("numba is not installed (pip install \".[jit]\"): nothing to compare")
        return 2
    print(f"{'case':20} {'on ms':>10} {'off ms':>10} {'on / off':>9}")
    for name in args.cases:
        on, off = on_off(CASES[name].setup().nerve, args.samples)
        a, b = statistics.median(on), statistics.median(off)
        print(f"{name:20} {a:10.3f} {b:10.3f} {a / b:9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
