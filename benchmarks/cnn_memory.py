"""Peak memory of one training epoch of the CNN of ``cases_cnn``, each library in a process of
its own: ``python -m benchmarks.cnn_memory``.

Each child process builds the data and both models (so both import the same libraries), notes
its resident memory (RSS), trains one epoch with one library, and reports the growth of its
peak RSS over that baseline (``ru_maxrss``): what training needed on top of the data, the
weights and the libraries (activations, gradients, optimizer state, the allocator's keep).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(library: str) -> dict:
    import torch

    from benchmarks import cases_cnn

    torch.set_num_threads(2)
    pair = cases_cnn.cnn_epoch()
    run = pair.nerve if library == "nerve" else pair.torch
    base = _rss_mb()
    run()
    return {"library": library, "baseline_mb": round(base, 1),
            "epoch_peak_mb": round(_peak_mb() - base, 1)}


def in_children(module: str, child, args) -> list[dict]:
    """Run ``child(arg)`` in a fresh process of ``python -m module --child arg`` for each arg
    (when this process is such a child: run it and print its JSON); return the results."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
        sys.exit(0)
    results = []
    for arg in args:
        out = subprocess.run([sys.executable, "-m", module, "--child", str(arg)],
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main() -> int:
    for r in in_children("benchmarks.cnn_memory", child, ("nerve", "torch")):
        print(f"{r['library']:6} peak RSS during an epoch: {r['epoch_peak_mb']:7.1f} MB above a "
              f"baseline of {r['baseline_mb']:.1f} MB (data, weights, libraries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
