"""The MLP of the epoch cases across widths and batch sizes: one training step (forward,
cross-entropy, backward, Adam) of 784-W-W-10 on a batch of B, for W in 128, 512, 2048 and B in
16, 64, 256, 1024. ``sweep_table`` prints the cells as a grid of ratios with their spread, the
GFLOP/s of each library, and nerve's share of time in matrix products, which says what bounds
the cell."""

from __future__ import annotations

import statistics
import timeit

import numpy as np
import torch

import nerve
from benchmarks.harness import Pair, Result, case
from nerve import nn, optim

WIDTHS = (128, 512, 2048)
BATCHES = (16, 64, 256, 1024)
IN, OUT = 784, 10


def flops(width: int, batch: int) -> int:
    """Multiply-adds x 2 of one step: every product forward and for the weight gradients, and
    for the input gradients of all layers but the first."""
    macs = IN * width + width * width + width * OUT
    return 2 * batch * (2 * macs + (width * width + width * OUT))


def _models(width: int):
    nerve.manual_seed(0)
    nm = nn.Sequential(nn.Linear(IN, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                       nn.Linear(width, OUT))
    tm = torch.nn.Sequential(torch.nn.Linear(IN, width), torch.nn.ReLU(),
                             torch.nn.Linear(width, width), torch.nn.ReLU(),
                             torch.nn.Linear(width, OUT))
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in nm.state_dict().items()})
    return nm, tm


def _cell(width: int, batch: int) -> Pair:
    rng = np.random.default_rng(0)
    x = rng.random((batch, IN), dtype=np.float32)
    y = rng.integers(0, OUT, batch)
    nm, tm = _models(width)
    nopt, topt = optim.Adam(nm.parameters()), torch.optim.Adam(tm.parameters())
    nx, ny = nerve.tensor(x), nerve.tensor(y)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()

    def run_nerve():
        loss = loss_fn(nm(nx), ny)
        nopt.zero_grad()
        loss.backward()
        nopt.step()

    def run_torch():
        loss = torch.nn.functional.cross_entropy(tm(tx), ty)
        topt.zero_grad()
        loss.backward()
        topt.step()

    def same_weights():  # after one step of each from the same weights
        theirs = tm.state_dict()
        return [(v, theirs[k].numpy()) for k, v in nm.state_dict().items()]

    return Pair(run_nerve, run_torch, check=same_weights)


def products_ms(width: int, batch: int) -> float:
    """nerve's eight matrix products of one step alone (NumPy, best of 7), in ms."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, IN), dtype=np.float32)
    ws = [rng.standard_normal(s).astype(np.float32)
          for s in ((width, IN), (width, width), (OUT, width))]
    gs = [rng.standard_normal((batch, w.shape[0])).astype(np.float32) for w in ws]

    def run():
        h1 = x.dot(ws[0].T)
        h2 = h1.dot(ws[1].T)
        h2.dot(ws[2].T)
        gs[2].T.dot(h2)
        gs[1].T.dot(h1)
        gs[0].T.dot(x)
        gs[2].dot(ws[2])
        gs[1].dot(ws[1])

    run()
    number = max(1, int(0.05 / max(1e-6, min(timeit.repeat(run, number=1, repeat=3)))))
    return min(timeit.repeat(run, number=number, repeat=7)) / number * 1e3


for _w in WIDTHS:
    for _b in BATCHES:
        case(f"sweep_w{_w}_b{_b}", f"MLP 784-{_w}-{_w}-10, batch {_b}: one Adam step")(
            lambda w=_w, b=_b: _cell(w, b))


def _parse(name: str) -> tuple[int, int] | None:
    if not name.startswith("sweep_w"):
        return None
    w, b = name[len("sweep_w"):].split("_b")
    return int(w), int(b)


def sweep_table(results: list[Result]) -> str:
    """The sweep's cells as a grid (empty if no sweep case ran)."""
    cells = {_parse(r.name): r for r in results if _parse(r.name)}
    if not cells:
        return ""
    lines = ["sweep: nerve / PyTorch time of one step (spread: the larger interquartile range "
             "/ median of the two),",
             "GFLOP/s of nerve | PyTorch, and nerve's share of time in its 8 matrix products",
             "(products alone, best of 7, over the step's median): above 60% the cell is bound "
             "by BLAS;", "below, by element-wise passes and Python.", ""]
    head = (f"{'width':>6} {'batch':>6}  {'ratio':>6}  {'spread':>6}  "
            f"{'GFLOP/s nerve | torch':>21}  {'products':>8}  bound by")
    lines += [head, "-" * len(head)]
    for (w, b), r in sorted(cells.items()):
        gf = flops(w, b) / 1e6
        share = products_ms(w, b) / statistics.median(r.nerve_samples_ms)
        bound = "BLAS" if share >= 0.6 else "element-wise + Python"
        lines.append(f"{w:>6} {b:>6}  {r.ratio:>5.2f}x  {r.spread:>6.0%}  "
                     f"{gf / r.nerve_ms:>9.1f} | {gf / r.torch_ms:<9.1f}  {share:>8.0%}  {bound}")
    return "\n".join(lines)
