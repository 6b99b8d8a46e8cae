"""PyTorch programs run unchanged on nerve: each program in ``tests/pytorch_programs`` is ordinary
PyTorch code in the style of the tutorials; it runs once as written (with torch) and once with
only its import lines rewritten to nerve (``import torch`` -> ``import nerve as torch``), both
from the same initial weights, and the numbers it returns must agree.

A program defines ``make_init(rng) -> dict`` (NumPy arrays drawn from the harness's generator;
the program never draws weights from torch's or nerve's own generator) and
``main(init) -> dict`` (Python numbers, strings, booleans and lists of them: losses, learned
coefficients, accuracies). Each library gets its own deep copy of ``init``.
"""

from __future__ import annotations

import ast
import copy
import math
import re
import types
from pathlib import Path

import numpy as np
import pytest

PROGRAMS_DIR = Path(__file__).resolve().parent / "pytorch_programs"
PROGRAMS = sorted(path.stem for path in PROGRAMS_DIR.glob("*.py"))
SEED = 0

# float32 training in two libraries: the same formulas, summed in a different order, drift
# apart by a few ulps per step. Measured after every program's few hundred steps: at most
# 2.4e-6 relative (a bias of 0.002) and 5e-9 absolute on small values; the tolerances leave a
# margin of four, and atol covers the coefficients that converge to zero (1e-10 and below).
RTOL, ATOL = 1e-5, 1e-6
# Looser tolerances for single programs, name -> (rtol, atol, why); none is needed today.
LOOSER: dict[str, tuple[float, float, str]] = {}

# --- the rewrite ---------------------------------------------------------------------------

_IMPORT = re.compile(r"(?P<indent>\s*)import\s+(?P<names>[^#]+?)\s*(?P<comment>#.*)?")
_FROM = re.compile(r"(?P<indent>\s*)from\s+torch(?P<sub>(\.\w+)*)\s+import\s+(?P<rest>.+)")
_TORCH_NAME = re.compile(r"torch(?P<sub>(\.\w+)*)(\s+as\s+(?P<alias>\w+))?")


def _rewrite_alias(item: str) -> str:
    """``torch`` -> ``nerve as torch``; ``torch.nn as nn`` -> ``nerve.nn as nn``; ``torch.nn``
    -> ``nerve.nn, nerve as torch`` (it must bind ``torch`` as ``import torch.nn`` does)."""
    match = _TORCH_NAME.fullmatch(item.strip())
    if match is None:
        return item.strip()
    sub, alias = match["sub"], match["alias"]
    if alias:
        return f"nerve{sub} as {alias}"
    return f"nerve{sub}, nerve as torch" if sub else "nerve as torch"


def to_nerve(source: str) -> str:
    """Return ``source`` with each line that imports torch (or a torch submodule) importing the
    same names from nerve; every other line is left exactly as it was."""
    lines = []
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if (match := _FROM.fullmatch(body)) is not None:
            body = f"{match['indent']}from nerve{match['sub']} import {match['rest']}"
        elif (match := _IMPORT.fullmatch(body)) is not None and any(
                _TORCH_NAME.fullmatch(item.strip()) for item in match["names"].split(",")):
            names = ", ".join(_rewrite_alias(item) for item in match["names"].split(","))
            comment = f"  {match['comment']}" if match["comment"] else ""
            body = f"{match['indent']}import {names}{comment}"
        lines.append(body + ending)
    return "".join(lines)


def _import_lines(source: str) -> set[int]:
    """1-based numbers of the lines on which an import statement starts."""
    return {node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Import, ast.ImportFrom))}


def _imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_to_nerve_rewrites_each_import_form():
    source = (
        "import math\n"
        "import numpy as np\n"
        "import torch\n"
        "import torch.nn as nn\n"
        "import torch.nn.functional as F  # the functional forms\n"
        "import torch.utils.data\n"
        "import torchvision\n"
        "from torch import nn, optim\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "from torch.optim.lr_scheduler import StepLR\n"
        "from torchvision import datasets\n"
        "def f():\n"
        "    import torch.optim as optim\n"
        "    # import torch stays a comment\n"
        "    return torch.tensor([1.0]), 'import torch'\n"
    )
    expected = (
        "import math\n"
        "import numpy as np\n"
        "import nerve as torch\n"
        "import nerve.nn as nn\n"
        "import nerve.nn.functional as F  # the functional forms\n"
        "import nerve.utils.data, nerve as torch\n"
        "import torchvision\n"
        "from nerve import nn, optim\n"
        "from nerve.utils.data import DataLoader, TensorDataset\n"
        "from nerve.optim.lr_scheduler import StepLR\n"
        "from torchvision import datasets\n"
        "def f():\n"
        "    import nerve.optim as optim\n"
        "    # import torch stays a comment\n"
        "    return torch.tensor([1.0]), 'import torch'\n"
    )
    assert to_nerve(source) == expected
    assert to_nerve("import math, torch as T\r\n") == "import math, nerve as T\r\n"


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_rewrite_changes_only_import_lines(name):
    source = (PROGRAMS_DIR / f"{name}.py").read_text()
    assert "nerve" not in source, f"{name} must be plain PyTorch code"
    rewritten = to_nerve(source)
    old, new = source.splitlines(), rewritten.splitlines()
    assert len(old) == len(new)
    changed = {i + 1 for i, (a, b) in enumerate(zip(old, new)) if a != b}
    assert changed, f"{name} imports nothing from torch"
    assert changed <= _import_lines(source), f"non-import lines changed: {changed}"
    leftover = {m for m in _imported_modules(rewritten) if m.split(".")[0] == "torch"}
    assert not leftover, f"{name} still imports {leftover} after the rewrite"


# --- running and comparing ------------------------------------------------------------------

def _load(name: str, source: str, library: str) -> types.ModuleType:
    """Execute a program's source as a fresh module (its own classes, its own globals)."""
    module = types.ModuleType(f"pytorch_programs_{name}_{library}")
    module.__file__ = str(PROGRAMS_DIR / f"{name}.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


def _compare_text(got: str, expected: str, rtol: float, atol: float, where: str) -> list[str]:
    """Strings are equal as text between the numbers, and close in the numbers."""
    got_numbers, expected_numbers = _NUMBER.findall(got), _NUMBER.findall(expected)
    if _NUMBER.split(got) != _NUMBER.split(expected) or len(got_numbers) != len(
            expected_numbers):
        return [f"{where}: {got!r} != {expected!r}"]
    for a, b in zip(got_numbers, expected_numbers):
        if not math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol):
            return [f"{where}: {got!r} != {expected!r} (numbers {a} and {b})"]
    return []


def compare(got, expected, rtol: float, atol: float, where: str = "result") -> list[str]:
    """Every difference between nerve's result and torch's: types (an ``item()`` must be a
    Python number, as torch's is), structure, text, and numbers beyond the tolerance."""
    if type(got) is not type(expected):
        return [f"{where}: type {type(got).__name__} ({got!r}) != "
                f"{type(expected).__name__} ({expected!r})"]
    if isinstance(expected, dict):
        if list(got) != list(expected):
            return [f"{where}: keys {list(got)} != {list(expected)}"]
        return [d for key in expected
                for d in compare(got[key], expected[key], rtol, atol, f"{where}[{key!r}]")]
    if isinstance(expected, (list, tuple)):
        if len(got) != len(expected):
            return [f"{where}: length {len(got)} != {len(expected)}: {got!r} != {expected!r}"]
        return [d for i, (a, b) in enumerate(zip(got, expected))
                for d in compare(a, b, rtol, atol, f"{where}[{i}]")]
    if isinstance(expected, str):
        return _compare_text(got, expected, rtol, atol, where)
    if isinstance(expected, float):
        if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol) or (
                math.isnan(got) and math.isnan(expected)):
            return []
        return [f"{where}: {got!r} != {expected!r} (rtol {rtol}, atol {atol})"]
    return [] if got == expected else [f"{where}: {got!r} != {expected!r}"]


def test_compare_reports_types_text_and_numbers():
    expected = {"loss": 1.0, "n": 3, "ok": True, "text": "y = 0.5 x", "v": [1.0, 2.0]}
    assert compare(dict(expected), expected, 1e-4, 1e-6) == []
    assert compare({**expected, "text": "y = 0.50001 x"}, expected, 1e-4, 1e-6) == []
    differences = compare({"loss": np.float32(1.0), "n": 3.0, "ok": True, "text": "y = 0.6 x",
                           "v": [1.0, 2.1]}, expected, 1e-4, 1e-6)
    assert [d.split(":")[0] for d in differences] == [
        "result['loss']", "result['n']", "result['text']", "result['v'][1]"]
    assert "type float32" in differences[0]


# d2l's training loop calls float() on a loss that requires grad; torch warns, as it should.
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_matches_pytorch(name):
    pytest.importorskip("torch")
    source = (PROGRAMS_DIR / f"{name}.py").read_text()
    reference = _load(name, source, "torch")
    init = reference.make_init(np.random.default_rng(SEED))
    expected = reference.main(copy.deepcopy(init))

    ours = _load(name, to_nerve(source), "nerve")
    torch_modules = [value for value in vars(ours).values() if isinstance(value, types.ModuleType)
                     and value.__name__.split(".")[0] == "torch"]
    assert not torch_modules, f"the nerve run of {name} holds torch modules: {torch_modules}"
    got = ours.main(copy.deepcopy(init))

    rtol, atol, _reason = LOOSER.get(name, (RTOL, ATOL, ""))
    differences = compare(got, expected, rtol, atol)
    assert not differences, f"{name}: nerve differs from PyTorch:\n" + "\n".join(differences)
