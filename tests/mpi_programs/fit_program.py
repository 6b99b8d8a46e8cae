"""Under ``mpirun -n 2`` (tests/test_distributed.py): fit(distributed=True) the small model of
common.py, Adam, batches of 32 per process, seed 5, a checkpoint after every epoch.

    fit_program.py OUT EPOCHS [--resume CKPT] [--fail RANK EPOCH BATCH] [--nan RANK EPOCH BATCH]

Process 0 saves the weights it ended with to OUT/weights.npz and the history to
OUT/history.json (and the reason training stopped, if it did, to OUT/stop<rank>.txt);
``--fail`` makes process RANK raise at that batch of that epoch (from 1), ``--nan`` makes its
loss NaN there.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from common import arrays, data, model

import nerve
from nerve import distributed as dist
from nerve.train import Callback, ModelCheckpoint

parser = argparse.ArgumentParser()
parser.add_argument("out", type=Path)
parser.add_argument("epochs", type=int)
parser.add_argument("--resume")
parser.add_argument("--fail", type=int, nargs=3)
parser.add_argument("--nan", type=int, nargs=3)
args = parser.parse_args()


class Fail(Callback):
    def on_batch_begin(self, batch, logs):
        rank, epoch, at = args.fail
        if dist.rank() == rank and (self.trainer.epoch + 1, batch + 1) == (epoch, at):
            raise RuntimeError(f"process {rank} fails on purpose at epoch {epoch}, batch {at}")


class Watch(Callback):
    def on_batch_begin(self, batch, logs):
        self.at = (self.trainer.epoch + 1, batch + 1)


def loss(out, target):
    value = nerve.nn.functional.cross_entropy(out, target)
    if args.nan and dist.rank() == args.nan[0] and watch.at == tuple(args.nan[1:]):
        return value * float("nan")
    return value


watch = Watch()
x, y = data()
m = model()
callbacks = [ModelCheckpoint(args.out / "ckpt.safetensors"), watch] + ([Fail()] if args.fail
                                                                          else [])
history = nerve.fit(m, x, y, loss=loss, optimizer="adam", epochs=args.epochs,
                    batch_size=32, seed=5, verbose=0, callbacks=callbacks, resume=args.resume,
                    distributed=True)
if history.stop_reason is not None:
    (args.out / f"stop{dist.rank()}.txt").write_text(history.stop_reason)
if dist.is_main():
    np.savez(args.out / "weights.npz", **arrays(m, "m"))
    (args.out / "history.json").write_text(json.dumps(history.history))
