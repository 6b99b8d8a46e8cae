"""Every Python block of the README runs on its own, as a reader would paste it, and the README's
install hints work from a source checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist-t10k"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_on_its_own(index, tmp_path):
    if '"data/mnist"' in BLOCKS[index]:  # the reader's MNIST folder: the shared files
        if not SHARED_MNIST.is_dir():
            pytest.skip(f"README block {index} reads MNIST: needs {SHARED_MNIST}")
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "mnist").symlink_to(SHARED_MNIST)
    script = tmp_path / f"block_{index}.py"
    script.write_text(BLOCKS[index])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{proc.stderr}"


def test_install_hints_name_the_source_checkout():
    """A hint to install an extra names the checkout (``pip install ".[digits]"``): the package
    is not on an index yet, so ``pip install nerve[digits]`` would install something else."""
    hints = re.findall(r"pip install [^\n`]*", README)
    assert hints
    for hint in hints:
        assert "nerve[" not in hint, hint
    for path in [*(ROOT / "nerve").rglob("*.py"), *(ROOT / "examples").glob("*.py")]:
        for hint in re.findall(r"pip install [^\n]*", path.read_text()):
            assert "nerve[" not in hint, f"{path}: {hint}"


def test_requires_python_claims_only_what_ci_tests():
    text = (ROOT / "pyproject.toml").read_text()
    claim = re.search(r'requires-python = "([^"]+)"', text).group(1)
    tested = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert claim == f">={tested},<3.{sys.version_info.minor + 1}", claim
