"""`nerve explain`: each topic's figures against independent arithmetic, and the command's
listing and errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from nerve.explain import TOPICS, explain


def numbers(line: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+|-?\d+", line)]


def test_neuron_gives_six_so_go_surfing():
    text = "\n".join(explain("neuron"))
    assert 1 * 5 + 0 * 2 + 1 * 4 - 3 == 6
    assert "(1 x 5) + (0 x 2) + (1 x 4) - 3 = 6" in text and "go surfing" in text


def test_gradient_descent_stops_by_the_seeds_rule_at_the_least_squares_intercept():
    lines = explain("gradient-descent")
    x, y = np.array([0.5, 2.3, 2.9]), np.array([1.4, 1.9, 3.2])
    best = np.mean(y - 0.64 * x)  # d SSR / d intercept = 0 there
    last = lines[-1]
    assert abs(float(last.rsplit("= ", 1)[1]) - best) < 0.002
    rows = [numbers(ln) for ln in lines if re.match(r"\s+\d+\s+-?\d", ln)]
    intercept, slope, size = rows[0][1:]
    assert intercept == 0 and abs(slope - (-2 * (y - 0.64 * x)).sum()) < 1e-3
    assert abs(size - 0.1 * slope) < 1e-3
    assert abs(rows[-1][3]) <= 0.001 < abs(rows[-2][3])  # the first step of at most 0.001


def test_backprop_chain_rule_autograd_and_finite_differences_agree():
    lines = explain("backprop")
    rows = [numbers(ln.split("  ", 2)[-1]) for ln in lines if re.match(r"\s+(output|hidden)"
                                                                       r" \d? ?w", ln)]
    assert len(rows) == 6
    for chain, auto, finite in (r[-3:] for r in rows):
        assert abs(chain - auto) < 1e-6 and abs(chain - finite) < 1e-5
    # independent: the output weights' derivatives are -2 (t - out) h_j
    x = np.array([0.6, 0.2])
    h = 1 / (1 + np.exp(-(np.array([[0.5, -1.0], [1.5, 0.8]]) @ x + [0.1, -0.2])))
    out = np.array([1.2, -0.7]) @ h + 0.3
    assert abs(rows[0][-1] - (-2 * (1 - out) * h[0])) < 1e-5


def test_softmax_probabilities_sum_to_one_and_match_numpy():
    lines = explain("softmax")
    raw = np.array([1.43, -0.4, 0.23])
    p = np.exp(raw) / np.exp(raw).sum()
    probs = [numbers(ln)[-1] for ln in lines if "probability =" in ln]
    np.testing.assert_allclose(probs, p, atol=1e-4)
    assert any("sum to 1.0000" in ln for ln in lines)
    ce = next(ln for ln in lines if ln.startswith("cross-entropy"))
    assert abs(numbers(ce)[-1] - (-np.log(p[0]))) < 1e-4


def test_convolution_feature_map_and_pooling_match_hand_arithmetic():
    lines = explain("convolution")
    img = np.zeros((6, 6))
    for i in range(4):
        img[1 + i, 1 + i] = img[1 + i, 4 - i] = 1
    kernel = np.eye(3)
    fmap = np.array([[(img[i:i + 3, j:j + 3] * kernel).sum() - 2 for j in range(4)]
                     for i in range(4)])
    at = lines.index("the feature map (every overlay's dot product plus the bias), 4x4:")
    shown = np.array([numbers(ln) for ln in lines[at + 1:at + 5]])
    np.testing.assert_allclose(shown, fmap)
    pooled = np.maximum(fmap, 0).reshape(2, 2, 2, 2).max(axis=(1, 3))
    np.testing.assert_allclose(np.array([numbers(ln) for ln in lines[-2:]]), pooled)


def test_rnn_steps_match_the_recurrence():
    lines = [ln for ln in explain("rnn") if ln.startswith("  t=")]
    h = 0.0
    for ln, xv in zip(lines, [0.5, 1.0, -0.5, 0.2]):
        h = np.tanh(1.2 * xv + 0.5 * h - 0.3)
        assert abs(numbers(ln)[-1] - h) < 1e-4


def test_the_command_lists_topics_and_refuses_an_unknown_one():
    run = [sys.executable, "-m", "nerve", "explain"]
    listing = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and all(t in listing.stdout for t in TOPICS)
    bad = subprocess.run(run + ["magic"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown topic 'magic'" in bad.stderr
    ok = subprocess.run(run + ["neuron"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "go surfing" in ok.stdout
    with pytest.raises(ValueError, match="expected one of"):
        explain("magic")


@pytest.mark.parametrize("topic,panels", [("gradient-descent", 1), ("softmax", 2),
                                          ("convolution", 5), ("rnn", 1)])
def test_pictures_are_written(tmp_path, topic, panels):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nerve.explain import plot

    path = tmp_path / f"{topic}.png"
    fig = plot(topic, path)
    try:
        assert len(fig.axes) == panels and all(ax.get_title() for ax in fig.axes)
        image = plt.imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="a picture exists for"):
        plot("neuron")


def test_the_command_draws_and_gives_its_version(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = [sys.executable, "-m", "nerve"]
    out = subprocess.run(run + ["explain", "softmax", "--plot", str(tmp_path / "s.png")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and (tmp_path / "s.png").stat().st_size > 1000
    no = subprocess.run(run + ["explain", "neuron", "--plot", str(tmp_path / "n.png")],
                        capture_output=True, text=True, timeout=60, env=env)
    assert no.returncode == 2 and "no picture for 'neuron'" in no.stderr
    import nerve

    version = subprocess.run(run + ["--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"nerve {nerve.__version__}"
