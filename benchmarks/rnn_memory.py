"""Memory of backpropagation through time against the sequence length: one training step of
LSTM(1, 64) -> Linear(64, 1), batch 64, on sequences of 250 to 2,000 steps, each length in a
process of its own: ``python -m benchmarks.rnn_memory``. Prints the peak RSS above the RSS
before the step, which should grow linearly with the length (what the step keeps per time step:
the hidden and cell states and the four gates of each step)."""

from __future__ import annotations

import sys

from benchmarks.cnn_memory import _peak_mb, _rss_mb, in_children

LENGTHS = (250, 500, 1000, 2000)


def child(length: int) -> dict:
    import numpy as np

    import nerve
    from benchmarks.cases_rnn import HIDDEN, _Ours

    nerve.manual_seed(0)
    model = _Ours("LSTM")
    x = nerve.tensor(np.random.default_rng(0).standard_normal((64, length, 1), np.float32))
    y = nerve.zeros(64, 1)
    base = _rss_mb()
    loss = nerve.nn.functional.mse_loss(model(x), y)
    loss.backward()
    kept = 64 * length * HIDDEN * 4 * (1 + 1 + 4 + 1)  # h, c, gates, tanh(c), float32
    return {"length": length, "peak_mb": round(_peak_mb() - base, 1),
            "states_mb": round(kept / 2**20, 1)}


def main() -> int:
    for r in in_children("benchmarks.rnn_memory", lambda arg: child(int(arg)), LENGTHS):
        print(f"T = {r['length']:5}: peak RSS of one training step {r['peak_mb']:7.1f} MB "
              f"(the states and gates it keeps: {r['states_mb']:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
