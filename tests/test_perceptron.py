"""Rosenblatt's perceptron as the seed tells it: the surfing example, the learning rule by hand,
AND and OR learnt, XOR not, and the argument checks."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import ConvergenceWarning, Perceptron

TABLE = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
TRUTH = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0], "XOR": [0, 1, 1, 0]}


# --- the surfing example ---------------------------------------------------------------------
def surfer(threshold=3.0) -> Perceptron:
    """Good waves, empty lineup, shark-free: weights 5, 2, 4."""
    return Perceptron(weights=[5, 2, 4], threshold=threshold)


def test_perceptron_surfing_example_goes():
    p = surfer()
    assert p.weighted_sum([1, 0, 1]) == 6.0  # 1*5 + 0*2 + 1*4 - 3
    assert p.predict([1, 0, 1]) == 1
    assert p.bias.item() == -3.0 and p.threshold == 3.0


def test_perceptron_surfing_threshold_10_stays():
    p = surfer()
    p.threshold = 10
    assert p.weighted_sum([1, 0, 1]) == -1.0 and p.predict([1, 0, 1]) == 0
    assert surfer(threshold=10).predict([1, 0, 1]) == 0


def test_perceptron_bias_is_minus_threshold():
    a, b = Perceptron(weights=[5, 2, 4], bias=-3), surfer()
    x = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(a.weighted_sum(x), b.weighted_sum(x))
    np.testing.assert_array_equal(a.predict(x), [1, 0, 1, 1])


def test_perceptron_forward_is_step_of_weighted_sum():
    p = surfer()
    x = np.array([[1, 0, 1], [0, 1, 0]])
    out = p(nerve.tensor(x))
    assert isinstance(out, nerve.Tensor)
    np.testing.assert_array_equal(out.detach().numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(p.weighted_sum(x), [6.0, -1.0])
    assert p.predict(x).dtype == np.int64


def test_perceptron_fires_only_above_threshold():
    assert Perceptron(weights=[1.0], threshold=1.0).predict([1.0]) == 0  # equal: no fire


def test_perceptron_state_dict_like_linear():
    sd = Perceptron(3).state_dict()
    assert list(sd) == ["weight", "bias"] and sd["weight"].shape == (1, 3)
    assert {k: v.shape for k, v in nn.Linear(3, 1).state_dict().items()} == {
        k: v.shape for k, v in sd.items()}


def test_perceptron_repr():
    assert repr(Perceptron(2, lr=0.5)) == "Perceptron(n_inputs=2, lr=0.5)"


# --- the learning rule -----------------------------------------------------------------------
def test_perceptron_rule_one_update_by_hand():
    p = Perceptron(weights=[0.5, -0.5], bias=0.2, lr=0.1, max_epochs=1)
    x, y = np.array([1.0, 2.0]), 1
    y_hat = p.predict(x)  # 0.5 - 1.0 + 0.2 = -0.3: no fire
    assert y_hat == 0
    with pytest.warns(ConvergenceWarning):  # one epoch with a mistake
        p.fit([x], [y])
    w = np.array([0.5, -0.5], np.float32) + np.float32(0.1) * (y - y_hat) * x.astype(np.float32)
    np.testing.assert_allclose(p.weight.detach().numpy()[0], w, rtol=1e-6)  # (0.6, -0.3)
    np.testing.assert_allclose(p.bias.detach().numpy(), [0.2 + 0.1 * (y - y_hat)], rtol=1e-6)
    assert p.errors_ == [1]


def test_perceptron_rule_lowers_weights_on_a_false_fire():
    p = Perceptron(weights=[1.0, 1.0], bias=0.0, lr=0.5, max_epochs=1)
    with pytest.warns(ConvergenceWarning):
        p.fit([[1.0, 3.0]], [0])  # fires (4 > 0) but should not: w -= lr * x, b -= lr
    np.testing.assert_allclose(p.weight.detach().numpy()[0], [0.5, -0.5])
    np.testing.assert_allclose(p.bias.detach().numpy(), [-0.5])


def test_perceptron_rule_no_change_when_right():
    p = surfer()
    p.fit([[1, 0, 1], [0, 1, 0]], [1, 0])
    assert p.converged_ and p.errors_ == [0]
    np.testing.assert_array_equal(p.weight.detach().numpy()[0], [5, 2, 4])
    assert p.bias.item() == -3.0


def test_perceptron_rule_is_sequential():
    """Each sample sees the weights the previous one left (one epoch traced by hand)."""
    p = Perceptron(2, lr=1.0, max_epochs=1)
    with pytest.warns(ConvergenceWarning):
        p.fit(TABLE, TRUTH["AND"])
    # (0,0)->0: 0 > 0 is false, right. (0,1)->0: right. (1,0)->0: right.
    # (1,1)->1: 0 is not > 0, y_hat 0: w += (1, 1), b += 1
    np.testing.assert_array_equal(p.weight.detach().numpy()[0], [1, 1])
    assert p.bias.item() == 1.0 and p.errors_ == [1]


@pytest.mark.parametrize("gate", ["AND", "OR", "NAND"])
def test_perceptron_learns_linearly_separable_gate(gate):
    p = Perceptron(2, lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert p.fit(TABLE, TRUTH[gate]) is p
    assert p.converged_ and p.errors_[-1] == 0 and len(p.errors_) < p.max_epochs
    np.testing.assert_array_equal(p.predict(TABLE), TRUTH[gate])


def test_perceptron_learns_from_tensors_and_bool_labels():
    p = Perceptron(2).fit(nerve.tensor(TABLE), np.array(TRUTH["OR"], bool))
    assert p.converged_
    np.testing.assert_array_equal(p.predict(TABLE), TRUTH["OR"])


@pytest.mark.parametrize("max_epochs", [5, 50])
def test_perceptron_xor_does_not_converge(max_epochs):
    p = Perceptron(2, max_epochs=max_epochs)
    with pytest.warns(ConvergenceWarning, match=f"did not converge in {max_epochs} epochs"):
        p.fit(TABLE, TRUTH["XOR"])
    assert not p.converged_
    assert len(p.errors_) == max_epochs and min(p.errors_) > 0
    assert not np.array_equal(p.predict(TABLE), TRUTH["XOR"])


def test_perceptron_refit_resets_convergence():
    p = Perceptron(2, max_epochs=10)
    p.fit(TABLE, TRUTH["AND"])
    with pytest.warns(ConvergenceWarning):
        p.fit(TABLE, TRUTH["XOR"])
    assert not p.converged_ and len(p.errors_) == 10


# --- argument checks -------------------------------------------------------------------------
@pytest.mark.parametrize("x, shape", [([1, 0], (2,)), ([[1, 0, 1, 1]], (1, 4)),
                                      (np.zeros((2, 2, 3)), (2, 2, 3))])
def test_perceptron_wrong_feature_count_raises(x, shape):
    with pytest.raises(ValueError, match=re.escape(f"expected inputs of shape (N, 3) or (3,), "
                                                   f"received {shape}")):
        surfer().predict(x)


def test_perceptron_fit_wrong_feature_count_raises():
    with pytest.raises(ValueError, match=re.escape("received (4, 3)")):
        Perceptron(2).fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_perceptron_fit_single_sample_not_2d_raises():
    with pytest.raises(ValueError, match=re.escape("expected x of shape (N, 2), received (2,)")):
        Perceptron(2).fit([0, 1], [1])


@pytest.mark.parametrize("labels", [[0, 1, 2, 1], [0, -1, 0, 1], [0, 0.5, 1, 1],
                                    ["a", "b", "a", "b"]])
def test_perceptron_labels_not_binary_raise(labels):
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        Perceptron(2).fit(TABLE, labels)


def test_perceptron_length_mismatch_raises():
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        Perceptron(2).fit(TABLE, [0, 1, 1])


@pytest.mark.parametrize("kwargs, error, message", [
    ({}, TypeError, "needs n_inputs or weights"),
    ({"n_inputs": 0}, ValueError, "n_inputs=0"),
    ({"n_inputs": 2, "weights": [1, 2, 3]}, ValueError,
     "expected n_inputs=2 weights. Received: 3 weights"),
    ({"n_inputs": 2, "lr": 0}, ValueError, "lr=0"),
    ({"n_inputs": 2, "max_epochs": 0}, ValueError, "max_epochs=0"),
])
def test_perceptron_bad_arguments_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        Perceptron(**kwargs)
