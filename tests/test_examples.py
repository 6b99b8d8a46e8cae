"""The examples run in seconds and say what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_example_surfing_perceptron_goes_surfing():
    out = run("surfing_perceptron.py")
    assert "= 6" in out and "go surfing" in out
    assert "AND: predictions [0, 0, 0, 1]" in out and "XOR" in out and "did not converge" in out


def test_example_xor_gradient_descent_converges():
    out = run("xor_gradient_descent.py")
    assert "converged after" in out
    assert "XOR(0, 1) = " in out and out.rstrip().endswith("-> 0")
    decided = [line.rsplit("-> ", 1)[1] for line in out.splitlines() if line.startswith("XOR(")]
    assert decided == ["0", "1", "1", "0"]


def test_example_digits_mlp_beats_90_percent():
    pytest.importorskip("sklearn")
    out = run("digits_mlp.py")
    line = next(ln for ln in out.splitlines() if ln.startswith("test accuracy"))
    assert float(line.split()[2].rstrip("%")) >= 90.0


def test_cli_demo_runs():
    proc = subprocess.run([sys.executable, "-m", "nerve", "--epochs", "30", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "weighted sum = 6" in proc.stdout
    acc = float(proc.stdout.rsplit(":", 1)[1].strip().rstrip("%"))
    assert acc >= 90.0
