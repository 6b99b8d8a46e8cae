"""Kill safety: a process killed (SIGKILL) at any moment while saving never leaves a broken
file; the previous checkpoint stays loadable and leftover temporary files are recognisable."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.numpy

import nerve
from nerve import io, nn

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

ROUNDS = 20

# Every array of checkpoint number i is filled with i, so a torn file (old and new bytes mixed)
# shows as arrays that disagree with each other or with the stored epoch.
CHILD = """
import sys
import nerve
from nerve import io, nn

path, i = sys.argv[1], int(sys.argv[2])
nerve.manual_seed(0)
model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 512))
params = list(model.parameters())
while True:
    for p in params:
        p._data.fill(i)
    io.save_checkpoint(path, model, epoch=i, extra={"epoch": i, "note": "x" * (i % 7)})
    print(i, flush=True)
    i += 1
"""


def model():
    nerve.manual_seed(1)
    return nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 512))


def check_checkpoint(path, twin):
    """Load the checkpoint and return its epoch, after checking every array agrees with it."""
    info = io.load_checkpoint(path, twin)
    epoch = info["epoch"]
    assert info["extra"] == {"epoch": epoch, "note": "x" * (epoch % 7)}
    for name, arr in twin.state_dict().items():
        arr = np.asarray(arr)
        assert arr.min() == arr.max() == epoch, f"{name} is torn"
    assert len(safetensors.numpy.load_file(path)) == 4  # the reference reader agrees
    return epoch


def run_and_kill(path, start, rng):
    """Start a saving child, let it write at least one file, SIGKILL it at a random moment."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline()
        assert first.strip() == str(start), f"child failed: {first!r} {child.stderr.read()}"
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def test_sigkill_while_saving_never_breaks_the_checkpoint(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    temp_name = re.compile(r"\.ckpt\.safetensors\.tmp-\d+-[0-9a-f]+\Z")
    rng, twin, epoch, leftovers = np.random.default_rng(0), model(), 0, 0
    for _ in range(ROUNDS):
        run_and_kill(path, epoch + 1, rng)
        new_epoch = check_checkpoint(path, twin)
        assert new_epoch > epoch
        epoch = new_epoch
        others = [n for n in os.listdir(tmp_path) if n != path.name]
        assert all(temp_name.match(n) for n in others), others
        assert len(others) <= 1  # the next writer removes what a killed one left
        leftovers += len(others)
    print(f"{ROUNDS} kills, {leftovers} of them left a temporary file mid-write")
    io.save_checkpoint(path, model(), epoch=epoch + 1)
    assert os.listdir(tmp_path) == [path.name]
    assert io.load_checkpoint(path, twin)["epoch"] == epoch + 1
