"""Time nerve's side of each benchmark case alone, to compare one version of nerve with another.

``python -m benchmarks.nerve_only`` builds the cases of ``PLAN`` exactly as ``python
-m benchmarks`` does (the same ``Pair.nerve`` callables, so PyTorch is imported but not timed)
and prints one JSON line: the case name -> the minimum over repeats of the time per call, in
ms. Against another
version, run it alternately in two checkouts (``PYTHONPATH=<other checkout>``) several times
and compare the medians: on a noisy machine that is steadier than ratios to PyTorch.
"""

from __future__ import annotations

import json
import sys
import time
import timeit

from benchmarks import cases_cnn, cases_core, cases_mlp  # noqa: F401 - registers the cases
from benchmarks.harness import CASES

# case -> (calls per timing, timings); the minimum is reported
PLAN = {"small_op_overhead": (2000, 9), "matmul_relu": (100, 9),
        "mlp_predict_latency": (2000, 9), "mlp_epoch_plain": (1, 6), "mlp_epoch_fit": (1, 6),
        "cnn_epoch": (1, 3), "cnn_predict_256": (5, 5)}


def main() -> int:
    results = {}
    for name, (number, repeat) in PLAN.items():
        run = CASES[name].setup().nerve
        run()  # warm up: first-call costs, caches
        time.sleep(0.2)  # let OpenBLAS's spinning threads go idle (see BENCHMARKS.md)
        results[name] = min(timeit.repeat(run, number=number, repeat=repeat)) / number * 1e3
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
