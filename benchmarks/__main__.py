"""``python -m benchmarks [--case NAME] [--repeat N] [--seconds S] [--json PATH]``."""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from benchmarks import (  # noqa: F401 - registers the cases
    cases_cnn,
    cases_core,
    cases_floor,
    cases_mlp,
    cases_rnn,
    cases_sweep,
    startup,
)
from benchmarks.harness import CASES, environment, format_environment, format_table, run_case

TORCH_THREADS = 2


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks",
                                description="Time nerve and PyTorch (CPU) side by side.")
    p.add_argument("--case", action="append", metavar="NAME",
                   help="run only cases whose name contains NAME (may be given several times)")
    p.add_argument("--repeat", type=int, default=15, metavar="N",
                   help="timed samples per library and case; the median is reported (default 15)")
    p.add_argument("--seconds", type=float, default=1.2, metavar="S",
                   help="time spent in timed samples per case, both libraries (default 1.2)")
    p.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.seconds <= 0:
        p.error(f"--seconds must be positive, got {args.seconds}")
    return args


def selected(name: str, patterns) -> bool:
    """Whether ``--case`` patterns (None: all cases) select the case ``name``."""
    return not patterns or any(s in name for s in patterns)


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = [c for c in CASES.values() if selected(c.name, args.case)]
    run_startup = selected(startup.NAME, args.case)  # timed apart: fresh processes, no pair
    if args.list:
        for c in CASES.values():
            print(f"{c.name:24} {c.description}")
        print(f"{startup.NAME:24} {startup.DESCRIPTION}")
        return 0
    if not cases and not run_startup:
        print(f"no case matches {args.case}; cases: {', '.join([*CASES, startup.NAME])}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(TORCH_THREADS)
    env = environment()
    print(format_environment(env), end="\n\n", flush=True)
    results = []
    for c in cases:
        print(f"timing {c.name} ...", file=sys.stderr, flush=True)
        results.append(run_case(c, args.repeat, args.seconds))
    main_results = [r for r in results if not r.name.startswith("sweep_")]
    if main_results:
        print(format_table(main_results))
    for summary in (epoch_shares(main_results), floor_summary(main_results)):
        if summary:
            print("\n" + summary)
    sweep = cases_sweep.sweep_table(results)
    if sweep:
        print("\n" + sweep)
    startup_rows = []
    if run_startup:
        print(f"timing {startup.NAME} ...", file=sys.stderr, flush=True)
        startup_rows = startup.measure()
        print(("\n" if results else "") + startup.format_startup(startup_rows))
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"environment": env,
                       "results": [r.as_dict() for r in results],
                       "startup": [r.as_dict() for r in startup_rows]}, f, indent=2)
        os.replace(tmp, args.json)
        print(f"\nwrote {args.json}")
    return 0


def epoch_shares(results) -> str:
    """The MNIST epoch's share of time in matrix products, for each library (if both the
    epoch and the products-only case ran)."""
    by_name = {r.name: r for r in results}
    epoch, products = by_name.get("mlp_epoch_plain"), by_name.get("mlp_epoch_matmuls")
    if epoch is None or products is None:
        return ""
    return (f"share of the MNIST epoch spent in its matrix products (mlp_epoch_matmuls / "
            f"mlp_epoch_plain): nerve {products.nerve_ms / epoch.nerve_ms:.0%}, "
            f"PyTorch {products.torch_ms / epoch.torch_ms:.0%}")


def floor_summary(results) -> str:
    """nerve's MNIST epochs (MLP, CNN) against their hand-written NumPy floors, and each floor
    against PyTorch (if the floor cases ran; with the epochs when they ran too)."""
    by_name = {r.name: r for r in results}
    lines = []
    for floor_name, epoch_name, adam in (("mlp_epoch_numpy_floor", "mlp_epoch_plain", "default"),
                                         ("mlp_epoch_numpy_floor_fused", "mlp_epoch_fused_adam",
                                          "fused"),
                                         ("cnn_epoch_numpy_floor", "cnn_epoch", "default")):
        floor, epoch = by_name.get(floor_name), by_name.get(epoch_name)
        if floor is None:
            continue
        line = (f"hand-written NumPy floor of the MNIST {floor_name[:3].upper()} epoch: "
                f"{floor.ratio:.2f}x PyTorch ({adam} Adam)")
        if epoch is not None:
            line += (f"; nerve {epoch.ratio:.2f}x, {epoch.nerve_ms / floor.nerve_ms:.2f}x "
                     f"the floor")
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
