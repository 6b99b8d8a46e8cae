"""The benchmark report's arithmetic (no timing is asserted: speed is a benchmark, not a test)."""

import json

import pytest

from benchmarks.__main__ import epoch_shares, floor_summary
from benchmarks.cases_sweep import IN, OUT, flops
from benchmarks.harness import Result


def test_sweep_flops_count_every_product_of_a_step():
    width, batch = 3, 2
    layers = [(IN, width), (width, width), (width, OUT)]
    forward = sum(2 * batch * a * b for a, b in layers)
    weight_grads = forward
    input_grads = sum(2 * batch * a * b for a, b in layers[1:])  # none for the data
    assert flops(width, batch) == forward + weight_grads + input_grads


def test_epoch_share_is_products_over_epoch_for_each_library():
    def result(name, n, t):
        return Result(name, "", n, t, n / t, 1, 1, 0.0)

    text = epoch_shares([result("mlp_epoch_plain", 200.0, 400.0),
                         result("mlp_epoch_matmuls", 50.0, 300.0)])
    assert "nerve 25%" in text and "PyTorch 75%" in text
    assert epoch_shares([result("mlp_epoch_plain", 1.0, 1.0)]) == ""


def test_floor_summary_compares_the_floor_with_both_libraries():
    def result(name, n, t):
        return Result(name, "", n, t, n / t, 1, 1, 0.0)

    text = floor_summary([result("mlp_epoch_numpy_floor", 60.0, 100.0),
                          result("mlp_epoch_plain", 90.0, 100.0),
                          result("mlp_epoch_numpy_floor_fused", 60.0, 80.0),
                          result("cnn_epoch_numpy_floor", 900.0, 1000.0),
                          result("cnn_epoch", 1100.0, 1000.0)])
    assert "MLP epoch: 0.60x PyTorch (default Adam); nerve 0.90x, 1.50x the floor" in text
    assert "MLP epoch: 0.75x PyTorch (fused Adam)" in text and text.count("\n") == 2
    assert "CNN epoch: 0.90x PyTorch (default Adam); nerve 1.10x, 1.22x the floor" in text
    assert floor_summary([result("mlp_epoch_plain", 1.0, 1.0)]) == ""


def _train_beside_a_floor(model, floor_class, batch_shape, steps: int, seed: int):
    """Train ``model`` (Adam 1e-3, cross-entropy) and a floor made from its weights on the same
    random batches; return (the starting state_dict, the floor's state_dict after)."""
    import numpy as np

    import nerve
    from nerve import nn, optim

    start = {k: v.copy() for k, v in model.state_dict().items()}
    floor = floor_class(start)
    opt, loss_fn = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        xb = rng.random(batch_shape, dtype=np.float32)
        yb = rng.integers(0, 10, batch_shape[0])
        opt.zero_grad()
        loss_fn(model(nerve.tensor(xb)), nerve.tensor(yb)).backward()
        opt.step()
        floor.step(xb, yb)
    return start, floor.state_dict()


@pytest.mark.parametrize("jit_on", [True, False])
def test_the_numpy_floor_does_nerves_training_step(jit_on, monkeypatch):
    """The floor bounds nerve's epoch only if it does the same arithmetic: three Adam steps of
    the hand-written MLP give nerve's parameters (Sequential, CrossEntropyLoss, Adam)."""
    import numpy as np

    import nerve
    from benchmarks.cases_floor import FloorMLP
    from nerve import nn

    if not jit_on:
        monkeypatch.setattr(nerve.jit, "usable", lambda *arrays: False)
    nerve.manual_seed(3)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    start, ours = _train_beside_a_floor(model, FloorMLP, (64, 784), steps=3, seed=0)
    for name, value in model.state_dict().items():
        # an Adam step moves each weight by about lr = 1e-3 (three steps here); float32 rounding
        # of a near-zero gradient can change a step by a few 1e-6 (5 weights of 200,704)
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=2e-5, err_msg=name)
        assert np.abs(value - start[name]).max() > 1e-3, name  # the steps moved every tensor


def test_the_cnn_floor_does_nerves_training_step():
    """As the MLP's: two Adam steps of the hand-written CNN give nerve's parameters (its
    Sequential CNN with the fused ReLU + pooling nodes, CrossEntropyLoss, Adam)."""
    import numpy as np

    import nerve
    from benchmarks.cases_cnn import cnn
    from benchmarks.cases_floor import FloorCNN

    nerve.manual_seed(4)
    model = cnn(nerve)
    start, ours = _train_beside_a_floor(model, FloorCNN, (64, 1, 28, 28), steps=2, seed=1)
    assert set(ours) == set(start)
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=2e-5, err_msg=name)
        assert np.abs(value - start[name]).max() > 1e-3, name


def test_nerve_only_times_registered_cases():
    from benchmarks.harness import CASES
    from benchmarks.nerve_only import PLAN

    assert set(PLAN) <= set(CASES)


# --- the start-up case: fresh processes, timed apart from the pairs ---------------------------
def _rows(**medians):
    from benchmarks.startup import COMMANDS, StartupRow

    argv = dict(COMMANDS)
    return [StartupRow(name, list(argv[name]), ms, [ms * 0.9, ms, ms * 1.2])
            for name, ms in medians.items()]


def test_startup_runs_fresh_processes_and_reports_each_row():
    from benchmarks import startup

    cheap = [c for c in startup.COMMANDS if c[0] != startup.REFERENCE]  # import torch: seconds
    rows = startup.measure(runs=1, warmup=0, commands=cheap)
    assert [r.name for r in rows] == ["python -c pass", "nerve --help", "import nerve"]
    assert all(r.median_ms > 0 and len(r.samples_ms) == 1 for r in rows)
    table = startup.format_startup(rows, warmup=0)
    assert "python -m nerve --help" in table and "python -c 'import nerve'" in table
    assert "nerve --help: " in table and "/ import torch" in table


def test_startup_times_torch_only_when_installed(monkeypatch):
    from benchmarks import startup

    calls = []
    monkeypatch.setattr(startup, "wall_ms", lambda argv, runs, warmup: calls.append(argv) or
                        [3.0, 1.0, 2.0])
    rows = startup.measure()
    assert [r.name for r in rows][-1] == "import torch" and rows[0].median_ms == 2.0
    monkeypatch.setattr(startup, "torch_installed", lambda: False)
    assert "import torch" not in [r.name for r in startup.measure()]
    assert ("-m", "nerve", "--help") in calls


def test_startup_table_gives_the_ratio_to_import_torch_and_the_target():
    from benchmarks.startup import format_startup

    text = format_startup(_rows(**{"nerve --help": 600.0, "import nerve": 200.0,
                                   "import torch": 2000.0}))
    assert "import nerve / import torch: 0.10x" in text
    assert "nerve --help: 600 ms, ABOVE the 500 ms target" in text
    assert "0.30x" in text and "1.00x" in text
    alone = format_startup(_rows(**{"import nerve": 200.0}))  # no torch: no ratio
    assert "import nerve" in alone and "/ import torch:" not in alone
    assert format_startup([]) == ""


def test_startup_failure_shows_the_command_and_its_stderr():
    from benchmarks.startup import wall_ms

    with pytest.raises(RuntimeError, match="-c 'import sys; .*' exited with 3:\nboom"):
        wall_ms(["-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], runs=1, warmup=0)


def test_case_startup_selects_and_prints_it(monkeypatch, capsys, tmp_path):
    from benchmarks import __main__ as bench
    from benchmarks import startup

    assert bench.selected("startup", ["start"]) and bench.selected("startup", None)
    assert not bench.selected("startup", ["mlp"])
    monkeypatch.setattr(startup, "measure", lambda: _rows(**{"import nerve": 200.0,
                                                             "import torch": 2000.0}))
    out = tmp_path / "startup.json"
    assert bench.main(["--case", "startup", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "import nerve / import torch: 0.10x" in printed and "case " not in printed
    saved = json.loads(out.read_text())
    assert saved["results"] == [] and [r["name"] for r in saved["startup"]] == [
        "import nerve", "import torch"]
    assert bench.main(["--list"]) == 0 and "startup " in capsys.readouterr().out


def test_jit_onoff_alternates_and_gives_the_environment_its_choice_back():
    pytest.importorskip("numba")
    from benchmarks import jit_onoff
    from nerve import jit

    seen = []
    on, off = jit_onoff.on_off(lambda: seen.append(jit.enabled()), samples=3)
    assert len(on) == len(off) == 3 and True in seen and False in seen
    assert jit._state["on"] is None  # enabled() reads NERVE_JIT again
    with pytest.raises(SystemExit):
        jit_onoff.main(["no_such_case"])
