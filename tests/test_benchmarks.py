"""The benchmark report's arithmetic (no timing is asserted: speed is a benchmark, not a test)."""

from benchmarks.__main__ import epoch_shares
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


def test_nerve_only_times_registered_cases():
    from benchmarks.harness import CASES
    from benchmarks.nerve_only import PLAN

    assert set(PLAN) <= set(CASES)
