"""The house measured, not typed: imports point down the floors, the autograd core stays small,
and the array arithmetic of the core, the layers and the optimizers goes through the array
module of its inputs (``nerve.backend.array_module``), never through NumPy by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nerve"

# Bottom to top. A module may import from its own floor and the floors below it, never above.
FLOORS = [
    ["backend", "files", "dtypes", "cuda", "jit"],
    ["autograd"],
    ["checks"],
    ["function", "creation", "gradcheck", "data", "utils"],
    ["ops", "linalg"],
    ["nn"],
    ["optim", "io", "onnx"],
    ["train", "distributed"],
    ["runs", "viz", "explain", "sklearn"],
    ["cli", "__main__"],
]
FLOOR_OF = {name: level for level, names in enumerate(FLOORS) for name in names}

# The autograd core: the Tensor module, the Function mechanism and the operations (every file of
# ops/ but the fused kernels in ops/fused). tinygrad keeps its core small by a budget in CI; so do
# we. History: 1,520 lines after the foundation; 1,737 after the restructuring (budget 1,800);
# 2,922 after PyTorch's tensor API (in-place family, version counters, the NumPy protocol,
# conversions, autograd.grad and autograd.Function, max/min with indices, rounding, out=,
# sorting and selecting, tensor hooks): about 3,400, budget 3,450. Review fixes (grad-mode
# decorators, hooks in autograd.grad, NaN-first descending sort, gather and index_select range
# checks, boolean where, Python bools in promotion): about 3,465, budget 3,480. Devices (issue
# 15): the cross-device check in Function.apply, a move to another device as an operation that
# stays in the graph (ToDeviceFunction), numpy()/repr of a GPU tensor: about 3,490, budget 3,500.
# Review fixes of 2026-11-28 (std's gradient of 0 at a constant row and PyTorch's positional
# order var/std(dim, unbiased, keepdim), the flatten of an empty batch, int inputs of exp/log/
# sqrt... in the default float dtype, a 0-d operand of one kind taking the other's dtype,
# masked_fill's value in the input's dtype): 3,534, budget 3,540. PyTorch's reading of an
# index (integers select before index arrays, a 0-d integer tensor is an integer, a uint8
# index refused): 3,583, budget 3,590; with the review's cases (a tuple or range inside a key,
# bools as 0-d masks, an Ellipsis of no dimension, the first step always a view, a 0-d index
# kept in the graph while tracing): 3,624, budget 3,630. softmax without dim refused beyond
# 2-D (PyTorch's implicit choice differs from the last dim): 3,634, budget 3,640. expm1 and
# log1p (exact near 0; ELU, CELU and SELU use expm1): 3,674, budget 3,680. Review fixes of the
# operations (clamp's tensor bounds as inputs with their gradients, an empty dim reducing every
# dim, the bitwise and logical operators & | ^ ~ of masks, pow's own errors): +125; erf (for
# GELU), a leaf's hooks run once on its whole gradient, retain_grad() across an in-place
# change, np.dot as matmul only up to 2-D: +34; 3,839, budget 3,845. PyTorch's operations that
# tutorials reach for, each a Function with its formula, checked by gradcheck and against
# PyTorch: element-wise (log2, log10, exp2, rsqrt, reciprocal, square, trunc, frac, sinh,
# cosh, asin, acos, atan, atan2, erfc, logit, xlogy, hypot, lerp, isnan/isinf/isfinite,
# nan_to_num, clamp_min/max) +408; reductions and division (prod and cumprod exact at zeros,
# logsumexp, norm and linalg.vector_norm, var_mean, std_mean, aminmax, count_nonzero,
# nansum, nanmean, //, %, fmod) +368; shapes and selection (flip, roll, tril, triu, diag,
# diagonal, trace, narrow, masked_select, take_along_dim, scatter_add, index_add, unique,
# meshgrid, outer, dot, tensordot, einsum) +480: 5,095, budget 5,100. flip(dims=) by name:
# 5,101, budget 5,110. scatter and scatter_, median, nanmedian, kthvalue: 5,250, budget 5,260.
# Products refuse two dtypes as PyTorch's (one check for all), mv, inner, addmm: 5,269, budget
# 5,280. PyTorch's remaining tensor functions (random draws, shape, indexing, math: 61, most of
# them composites of existing operations; a dozen new Functions): 6,293, budget 6,300. Their
# review's fixes (PyTorch's promotion in cat and stack, histc's bins, ...): 6,344, budget 6,350.
CORE = ["autograd.py", "function.py", *sorted(
    str(p.relative_to(PACKAGE)) for p in (PACKAGE / "ops").glob("*.py"))]
CORE_LINE_BUDGET = 6350

# Files whose array work must go through the array module (NumPy only for dtypes and types).
DEVICE_NEUTRAL = ["autograd.py", "function.py", "creation.py", "gradcheck.py", "checks.py",
                  "ops", "nn", "optim"]
NUMPY_PROTOCOL = ["ops/interop.py"]  # it maps NumPy's own functions to nerve's: it must name them
NUMPY_NAMES_ALLOWED = {  # dtypes and scalar types: the same objects name CuPy's dtypes
    "dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "bool_", "integer", "floating", "number", "generic", "signedinteger", "unsignedinteger",
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        yield rel, ast.parse(path.read_text(), str(path))


def _top(rel: Path) -> str:
    return rel.parts[0].removesuffix(".py")


def _imported_floors(tree: ast.AST, rel: Path):
    """Yield (line, nerve top-level name) for every import of nerve inside the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "nerve":
                continue
            if len(parts) > 1:
                yield node.lineno, parts[1]
            else:  # from nerve import x, y
                for alias in node.names:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "nerve" and len(parts) > 1:
                    yield node.lineno, parts[1]


def test_every_module_has_a_floor():
    tops = {_top(rel) for rel, _ in _modules() if rel.name != "__init__.py" or len(rel.parts) > 1}
    assert tops <= set(FLOOR_OF), f"modules without a floor in this test: {tops - set(FLOOR_OF)}"


def test_imports_point_down():
    wrong = []
    for rel, tree in _modules():
        if rel == Path("__init__.py"):
            continue  # the package's front door re-exports every floor
        own = FLOOR_OF[_top(rel)]
        for line, name in _imported_floors(tree, rel):
            if name in FLOOR_OF and FLOOR_OF[name] > own:
                wrong.append(f"nerve/{rel}:{line} imports nerve.{name} "
                             f"(floor {FLOOR_OF[name]} above its own {own})")
    assert not wrong, "\n".join(wrong)


def test_layout_test_catches_an_upward_import():
    tree = ast.parse("from nerve.train import fit\nimport nerve.nn.module\n")
    assert list(_imported_floors(tree, Path("ops/x.py"))) == [(1, "train"), (2, "nn")]


def test_autograd_core_stays_under_its_line_budget():
    lines = {f: len((PACKAGE / f).read_text().splitlines()) for f in CORE}
    assert sum(lines.values()) <= CORE_LINE_BUDGET, (
        f"the autograd core has {sum(lines.values())} lines, over its budget of "
        f"{CORE_LINE_BUDGET}: {lines}")


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside annotations (they name types, not arithmetic)."""
    inside = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [a.annotation for a in (*args.posonlyargs, *args.args,
                                                   *args.kwonlyargs, args.vararg, args.kwarg)
                            if a is not None and a.annotation is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for ann in annotations:
            if ann is not None:
                inside.update(id(n) for n in ast.walk(ann))
    return inside


def _numpy_uses(tree: ast.AST, source: str):
    """Yield (line, attribute) for each ``np.<attribute>`` outside annotations and lines
    marked ``# host-side``."""
    skip = _annotation_nodes(tree)
    lines = source.splitlines()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "np" and id(node) not in skip
                and node.attr not in NUMPY_NAMES_ALLOWED
                and "# host-side" not in lines[node.lineno - 1]):
            yield node.lineno, node.attr


def _device_neutral_files():
    for entry in DEVICE_NEUTRAL:
        path = PACKAGE / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            if str(file.relative_to(PACKAGE)) not in NUMPY_PROTOCOL:
                yield file


@pytest.mark.parametrize("path", list(_device_neutral_files()),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_array_work_goes_through_the_array_module(path):
    source = path.read_text()
    uses = [f"line {line}: np.{attr}" for line, attr in _numpy_uses(ast.parse(source), source)]
    assert not uses, (f"nerve/{path.relative_to(PACKAGE)} computes with NumPy by name; take "
                      "the module from the inputs with nerve.backend.array_module(x):\n"
                      + "\n".join(uses))


def test_numpy_scan_sees_arithmetic_and_skips_annotations():
    source = "def f(x: np.ndarray) -> np.ndarray:\n    return np.exp(x).astype(np.float32)\n"
    assert list(_numpy_uses(ast.parse(source), source)) == [(2, "exp")]
