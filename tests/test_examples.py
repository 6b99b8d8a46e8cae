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


def test_example_cnn_letters_shows_the_maps_and_tells_o_from_x():
    out = run("cnn_letters.py")
    assert "feature map" in out and "after ReLU" in out and "after 2x2 max pooling" in out
    assert "O centred -> O" in out and "X centred -> X" in out
    assert "moved letters right after training on the centred ones" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("unseen places right"))
    cnn, mlp = (int(part.split()[-3]) for part in line.split(":")[1].split(","))
    assert cnn == 8 and mlp < cnn  # the CNN names every letter at the places it never saw


MNIST = EXAMPLES.parent.parent / "shared" / "data" / "mnist-t10k"


@pytest.mark.skipif(not MNIST.is_dir(), reason="needs ../shared/data/mnist-t10k")
def test_example_mnist_cnn_trains_one_epoch():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "mnist_cnn.py"), "--epochs", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("seed 0: test accuracy"))
    assert float(line.split()[-1].rstrip("%")) >= 90.0


@pytest.mark.skipif(not MNIST.is_dir(), reason="needs ../shared/data/mnist-t10k")
def test_example_cnn_shifted_mnist_prints_both_models():
    out = run("cnn_shifted_mnist.py")
    lines = [ln for ln in out.splitlines() if ln.startswith(("CNN", "MLP"))]
    assert [ln[:3] for ln in lines] == ["CNN", "MLP"]
    assert all("shifted by 1 px" in ln and "by 2 px" in ln for ln in lines)
