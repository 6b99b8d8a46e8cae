"""nerve.viz: each picture is written, opens as an image, has its panels, titles and labels;
bad input is refused by name; matplotlib stays out of ``import nerve``.
"""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")  # the test extra installs it
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import nerve  # noqa: E402
from nerve import nn, viz  # noqa: E402
from nerve.train.history import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _cnn(in_channels=1, channels=4):
    return nn.Sequential(nn.Conv2d(in_channels, channels, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(channels * 3 * 3, 10))


def _image(channels=1, size=8, seed=1):
    return np.random.default_rng(seed).standard_normal((channels, size, size)).astype(np.float32)


# --- helpers -----------------------------------------------------------------------------------
def _panels(fig):
    """The figure's axes that are panels, not colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _suptitle(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def _check_png(path):
    assert path.exists() and path.stat().st_size > 0
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]  # atomic: no leftovers


# --- import --------------------------------------------------------------------------------------
def test_import_nerve_and_nerve_viz_do_not_import_matplotlib():
    code = ("import sys, nerve, nerve.viz; from nerve import viz; "
            "print('matplotlib' in sys.modules, nerve.viz is viz)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True"]


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"matplotlib.*pip install \"\.\[viz\]\""):
        viz.plot_history({"loss": [1.0, 0.5]})


def test_nerve_viz_is_a_lazy_attribute():
    assert nerve.viz is viz and "viz" in dir(nerve)


# --- plot_filters -------------------------------------------------------------------------------
def test_filters_of_one_input_channel(tmp_path):
    conv = nn.Conv2d(1, 6, 3)
    fig = viz.plot_filters(conv, tmp_path / "filters.png")
    _check_png(tmp_path / "filters.png")
    panels = _panels(fig)
    assert len(panels) == 6 and len(_colorbars(fig)) == 1
    assert [ax.get_title() for ax in panels] == [f"filter {i}" for i in range(6)]
    assert "Conv2d: 6 filters of 3x3" in _suptitle(fig)
    assert "weight" in _colorbars(fig)[0].get_ylabel()
    # one scale, centred at zero, on a diverging map
    limits = {ax.images[0].get_clim() for ax in panels}
    assert len(limits) == 1
    lo, hi = limits.pop()
    assert lo == -hi and hi == pytest.approx(np.abs(conv.weight.detach().numpy()).max())
    assert panels[0].images[0].get_cmap().name == viz.DIVERGING


def test_filters_of_several_input_channels_one_row_per_filter():
    w = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    fig = viz.plot_filters(nerve.tensor(w))
    panels = _panels(fig)
    assert len(panels) == 12
    assert panels[0].get_title() == "filter 0, in 0" and panels[5].get_title() == "filter 1, in 2"
    assert "3 input channels" in _suptitle(fig) and "one row per filter" in _suptitle(fig)


def test_filters_capped_and_the_title_says_so():
    fig = viz.plot_filters(np.ones((40, 1, 3, 3)), max_filters=10)
    assert len(_panels(fig)) == 10 and "first 10 shown" in _suptitle(fig)
    fig = viz.plot_filters(np.ones((20, 12, 3, 3)))
    assert len(_panels(fig)) == 16 * 8 and "first 8 of 12 shown" in _suptitle(fig)


def test_filters_of_a_conv_layer():
    """Later: nn.Conv2d(3, 8, 3) in place of the stand-in."""
    fig = viz.plot_filters(nn.Conv2d(3, 8, 3))
    assert len(_panels(fig)) == 24 and len(_colorbars(fig)) == 1


@pytest.mark.parametrize("bad, error, match", [
    (np.ones((3, 3)), ValueError, r"4-D weight.*Received: weight.shape=\(3, 3\)"),
    (nn.Linear(2, 3), ValueError, r"4-D weight.*Received: weight.shape=\(3, 2\)"),
    (nn.ReLU(), TypeError, r"convolutional layer.*Received: conv_layer=ReLU\(\)"),
    (np.array([["a"]]), TypeError, r"numbers.*weight.dtype"),
    (np.ones((0, 1, 3, 3)), ValueError, r"non-empty 4-D"),
])
def test_filters_refuse_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        viz.plot_filters(bad)


def test_filters_refuse_a_bad_path(tmp_path):
    with pytest.raises(TypeError, match="file path"):
        viz.plot_filters(np.ones((2, 1, 3, 3)), path=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.plot_filters(np.ones((2, 1, 3, 3)), path=tmp_path / "no" / "f.png")
    with pytest.raises(ValueError, match=r"\.png"):
        viz.plot_filters(np.ones((2, 1, 3, 3)), path=tmp_path / "f.nope")
    assert plt.get_fignums() == []  # refused before drawing


# --- plot_feature_maps --------------------------------------------------------------------------
def test_feature_maps_of_a_cnn(tmp_path):
    """Later: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), ...)."""
    model = _cnn(channels=4)
    fig = viz.plot_feature_maps(model, _image(), 0, tmp_path / "maps.png")
    _check_png(tmp_path / "maps.png")
    panels = _panels(fig)
    assert len(panels) == 3 * 4 and len(_colorbars(fig)) == 3
    labels = [panels[r * 4].get_ylabel() for r in range(3)]
    assert labels[0].startswith("conv output\n0: Conv2d\n6x6")
    assert labels[1].startswith("after activation\n1: ReLU\n6x6")
    assert labels[2].startswith("after pooling\n2: MaxPool2d\n3x3")
    assert [ax.get_title() for ax in panels[:4]] == [f"channel {c}" for c in range(4)]
    assert "feature maps of layer 0 (Conv2d)" in _suptitle(fig) and "4 channels" in _suptitle(fig)
    # the conv output is what the layer computes; after ReLU, its positive part
    expected = model[0](nerve.tensor(_image()[None])).detach().numpy()[0]
    np.testing.assert_allclose(panels[0].images[0].get_array(), expected[0], rtol=1e-6)
    np.testing.assert_allclose(panels[4].images[0].get_array(), np.maximum(expected[0], 0),
                               rtol=1e-6)
    assert panels[4].images[0].get_clim()[0] >= 0  # non-negative maps: sequential scale


@pytest.mark.parametrize("layer", [0, -5, "0"])
def test_feature_maps_layer_as_index_or_name(layer):
    model = _cnn()
    fig = viz.plot_feature_maps(model, nerve.tensor(_image()[None]), layer)
    assert len(_panels(fig)) == 12


def test_feature_maps_layer_as_module_in_a_nested_model():
    conv = nn.Conv2d(2, 3, 3)
    model = nn.Sequential(OrderedDict(features=nn.Sequential(conv, nn.Tanh()),
                                      pool=nn.MaxPool2d(2), head=nn.Flatten()))
    fig = viz.plot_feature_maps(model, _image(2), conv)
    panels = _panels(fig)
    assert len(panels) == 9
    assert panels[3].get_ylabel().startswith("after activation\nfeatures.1: Tanh")
    assert panels[6].get_ylabel().startswith("after pooling\npool: MaxPool2d")
    fig = viz.plot_feature_maps(model, _image(2), "features.0")
    assert len(_panels(fig)) == 9


def test_feature_maps_only_what_follows_directly():
    # conv, conv, ReLU: the first conv has no activation of its own; Dropout passes through
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.Dropout(0.5), nn.ReLU())
    assert len(_panels(viz.plot_feature_maps(model, _image(), 0))) == 2
    panels = _panels(viz.plot_feature_maps(model, _image(), 1))
    assert len(panels) == 4
    assert panels[2].get_ylabel() == "after activation\n3: ReLU\n(after Dropout)\n4x4"


def test_feature_maps_capped_at_max_channels():
    fig = viz.plot_feature_maps(_cnn(channels=20), _image(), 0)
    assert len(_panels(fig)) == 3 * 16 and "first 16 of 20 channels" in _suptitle(fig)
    fig = viz.plot_feature_maps(_cnn(channels=20), _image(), 0, max_channels=5)
    assert len(_panels(fig)) == 15


def test_feature_maps_of_an_integer_image():
    image = (np.arange(64).reshape(1, 8, 8) % 256).astype(np.uint8)
    assert len(_panels(viz.plot_feature_maps(_cnn(), image, 0))) == 12


def test_feature_maps_restore_modes_and_remove_hooks():
    model = _cnn()
    model[1].eval()  # a mixed state is kept as it was
    modes = [m.training for m in model.modules()]
    viz.plot_feature_maps(model, _image(), 0)
    assert [m.training for m in model.modules()] == modes
    assert all(not m._forward_hooks and not m._hooked for m in model.modules())
    assert nerve.is_grad_enabled()  # grad mode back on


def test_feature_maps_restore_modes_and_remove_hooks_on_error():
    model = _cnn(in_channels=1)
    with pytest.raises(ValueError):  # 3 channels into a 1-channel convolution
        viz.plot_feature_maps(model, _image(3), 0)
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._hooked for m in model.modules())
    assert nerve.is_grad_enabled()
    assert plt.get_fignums() == []


def test_feature_maps_run_in_eval_mode_without_graph():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, nerve.is_grad_enabled()))
            return x

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Probe())
    viz.plot_feature_maps(model, _image(), 0)
    assert seen == [(False, False)] and model.training


@pytest.mark.parametrize("model, image, layer, error, match", [
    ("not a model", _image(), 0, TypeError, "expected a Module"),
    (_cnn(), _image()[0], 0, ValueError, r"\(C, H, W\).*image\[None\].*\(8, 8\)"),
    (_cnn(), np.ones((2, 1, 8, 8)), 0, ValueError, r"one image.*\(2, 1, 8, 8\)"),
    (_cnn(), "pixels", 0, TypeError, "image as a Tensor"),
    (_cnn(), _image(), 7, ValueError, r"index into the Sequential in \[-5, 4\]"),
    (_cnn(), _image(), "conv9", ValueError, r"named_modules.*Received: layer='conv9'"),
    (_cnn(), _image(), nn.Conv2d(1, 2, 3), ValueError, "a module of model"),
    (_cnn(), _image(), 1.5, TypeError, "index into a Sequential"),
    (nn.ModuleDict({"c": nn.Conv2d(1, 2, 3)}), _image(), 0, TypeError, "needs a Sequential"),
    (_cnn(), _image(), 4, ValueError, r"\(1, channels, height, width\).*\(1, 10\)"),
])
def test_feature_maps_refuse_bad_input(model, image, layer, error, match):
    with pytest.raises(error, match=match):
        viz.plot_feature_maps(model, image, layer)
    with pytest.raises(TypeError, match="max_channels"):
        viz.plot_feature_maps(_cnn(), _image(), 0, max_channels="16")


def test_feature_maps_of_a_layer_that_does_not_run():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.unused = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x)

    model = Model()
    with pytest.raises(ValueError, match="'unused'.*did not run"):
        viz.plot_feature_maps(model, _image(), "unused")


# --- plot_history -------------------------------------------------------------------------------
def _history():
    h = History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.6, 0.7), (0.4, 0.8), (0.35, 0.85)]):
        h.append(epoch, {"loss": loss, "accuracy": acc, "val_loss": loss + 0.1,
                         "val_accuracy": acc - 0.05, "lr": 0.1 / (epoch + 1)})
    return h


def test_history_one_panel_per_quantity(tmp_path):
    fig = viz.plot_history(_history(), tmp_path / "history.png")
    _check_png(tmp_path / "history.png")
    panels = _panels(fig)
    assert len(panels) == 3 and not _colorbars(fig)
    assert [ax.get_title() for ax in panels] == ["loss", "accuracy", "learning rate"]
    assert all(ax.get_xlabel() == "epoch" for ax in panels)
    assert [ax.get_ylabel() for ax in panels] == ["loss", "accuracy", "learning rate"]
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend == ["train", "validation"]
    train, val = panels[0].get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4]  # epochs counted from 1, as fit prints them
    assert list(val.get_ydata()) == pytest.approx([1.1, 0.7, 0.5, 0.45])
    assert panels[2].get_yscale() == "log"
    assert "4 epochs" in _suptitle(fig)


def test_history_from_a_plain_dict_and_from_to_dict():
    fig = viz.plot_history({"loss": [3, 2, 1], "val_mae": [0.5, 0.4, 0.3]})
    assert [ax.get_title() for ax in _panels(fig)] == ["loss", "mae"]
    h = _history()
    h.epoch = [10, 11, 12, 13]  # resumed at epoch 10
    fig = viz.plot_history(h.to_dict())
    assert list(_panels(fig)[0].get_lines()[0].get_xdata()) == [11, 12, 13, 14]


def test_history_of_fit(tmp_path):
    x, y = nerve.data.make_spirals(n_samples=60, n_classes=2, seed=0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer="adam", epochs=3,
                     batch_size=16, validation_split=0.25, verbose=0, seed=0)
    fig = viz.plot_history(hist, tmp_path / "fit.png")
    _check_png(tmp_path / "fit.png")
    assert [ax.get_title() for ax in _panels(fig)][:2] == ["loss", "accuracy"]


@pytest.mark.parametrize("bad, error, match", [
    ({}, ValueError, "at least one epoch"),
    ({"loss": []}, ValueError, "at least one epoch"),
    ([1.0, 0.5], TypeError, "a History"),
    ({"loss": ["a", "b"]}, TypeError, r"history\['loss'\]"),
    ({"loss": [[1, 2], [3, 4]]}, ValueError, r"one per epoch.*history\['loss'\]"),
    ({1: [1.0]}, TypeError, "names"),
])
def test_history_refuses_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        viz.plot_history(bad)


# --- plot_confusion_matrix ----------------------------------------------------------------------
def test_confusion_matrix_counts_in_the_cells(tmp_path):
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 2, 2, 1, 2]
    fig = viz.plot_confusion_matrix(y_true, y_pred, path=tmp_path / "cm.png")
    _check_png(tmp_path / "cm.png")
    (ax,) = _panels(fig)
    assert len(_colorbars(fig)) == 1 and _colorbars(fig)[0].get_ylabel() == "count"
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert "9 samples, accuracy 66.7%" in ax.get_title()
    expected = np.array([[1, 1, 0], [1, 2, 0], [0, 1, 3]])
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in expected.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_confusion_matrix_normalized_with_names():
    fig = viz.plot_confusion_matrix(nerve.tensor([0, 0, 1, 1]), np.array([0, 1, 1, 1]),
                                    labels=["cat", "dog", "bird"], normalize=True)
    (ax,) = _panels(fig)
    np.testing.assert_allclose(ax.images[0].get_array(),
                               [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 0]])  # bird never seen: zeros
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert ax.texts[0].get_text() == "0.50\n(1)"
    assert "fraction of the true class" in _colorbars(fig)[0].get_ylabel()


def test_confusion_matrix_of_scores_and_strings():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    fig = viz.plot_confusion_matrix([1, 0, 0], scores)  # argmax of the scores: 1, 0, 1
    np.testing.assert_array_equal(_panels(fig)[0].images[0].get_array(), [[1, 1], [0, 1]])
    fig = viz.plot_confusion_matrix(["b", "a", "b"], ["b", "b", "b"], labels=["b", "a"],
                                    normalize="pred")
    np.testing.assert_allclose(_panels(fig)[0].images[0].get_array(), [[2 / 3, 0], [1 / 3, 0]])


@pytest.mark.parametrize("y_true, y_pred, kwargs, error, match", [
    ([0, 1, 2], [0, 1], {}, ValueError, r"as long as y_true \(3 labels\).*len\(y_pred\)=2"),
    ([], [], {}, ValueError, "at least one label"),
    ([0, 1], [0.5, 1], {}, ValueError, "whole numbers"),
    ([0, 3], [0, 1], {"labels": ["a", "b"]}, ValueError, r"\[0, 2\).*y_true.*3"),
    (["a", "b"], ["a", "c"], {"labels": ["a", "b"]}, ValueError, "y_pred.*'c'"),
    ([0, 1], ["a", "b"], {}, TypeError, "one kind"),
    ([0, 1], [0, 1], {"normalize": "rows"}, ValueError, "normalize"),
    ([0, 1], [0, 1], {"labels": "ab"}, TypeError, "sequence of class names"),
    (np.zeros((2, 2, 2)), [0, 1], {}, ValueError, r"y_true.shape=\(2, 2, 2\)"),
])
def test_confusion_matrix_refuses_bad_input(y_true, y_pred, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.plot_confusion_matrix(y_true, y_pred, **kwargs)


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "cm.png"
    target.write_bytes(b"old")
    fig = plt.figure()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(fig), "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        viz.plot_confusion_matrix([0, 1], [0, 1], path=target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]
    assert plt.get_fignums() == [fig.number]  # the failed call closed its own figure


# --- regressions (review) ----------------------------------------------------------------------
def test_filters_of_a_single_filter():
    fig = viz.plot_filters(nn.Conv2d(1, 1, 3))
    assert len(_panels(fig)) == 1 and "Conv2d: 1 filter of 3x3" in _suptitle(fig)
    fig = viz.plot_filters(nn.Conv2d(3, 1, 1))
    assert len(_panels(fig)) == 3 and "1 filter of 1x1 over 3 input channels" in _suptitle(fig)


def test_feature_maps_of_a_float64_image_with_batch_norm():
    """NumPy's images are float64: they were handed to the float32 model as they were, and its
    convolution refused them. BatchNorm's statistics stay as they were (eval)."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(9, 2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    image = np.random.default_rng(0).standard_normal((1, 8, 8))
    fig = viz.plot_feature_maps(model, image, 0)
    assert len(_panels(fig)) == 3 and model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert len(_panels(viz.plot_feature_maps(model.double(), image.astype(np.float32), 1))) == 3


def test_history_with_validation_figures_only():
    fig = viz.plot_history({"val_loss": [1.0, 0.5], "val_accuracy": [0.2, 0.3]})
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ["loss", "accuracy"]
    assert [line.get_label() for line in panels[0].get_lines()] == ["validation"]


def test_confusion_matrix_of_two_classes_one_never_predicted():
    fig = viz.plot_confusion_matrix([0, 1, 1, 0], [0, 0, 0, 0], labels=["a", "b"],
                                    normalize="pred")
    ax = _panels(fig)[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[0.5, 0.0], [0.5, 0.0]])
    assert "accuracy 50.0%" in ax.get_title()


def test_no_figure_is_left_open_by_a_failed_call(monkeypatch):
    plt.close("all")
    model = _cnn()
    calls = [lambda: viz.plot_filters(nn.Conv2d(1, 2, 3)),
             lambda: viz.plot_feature_maps(model, _image(), 0),
             lambda: viz.plot_history({"loss": [1.0, 0.5]}),
             lambda: viz.plot_confusion_matrix([0, 1], [1, 1])]

    def broken(*args, **kwargs):
        raise RuntimeError("colour bar failed")

    monkeypatch.setattr(plt.Figure, "colorbar", broken)
    monkeypatch.setattr(plt.Axes, "legend", broken)
    for call in calls:
        with pytest.raises(RuntimeError, match="colour bar failed"):
            call()
        assert plt.get_fignums() == []


# --- plot_forecast ------------------------------------------------------------------------------
def test_forecast_actual_forecast_and_training_part(tmp_path):
    series = np.sin(np.arange(40) * 0.4)
    fig = viz.plot_forecast(series, series[30:] + 0.1, 30, tmp_path / "forecast.png",
                            train_end=29, xlabel="year", ylabel="spots")
    _check_png(tmp_path / "forecast.png")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "year" and ax.get_ylabel() == "spots"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "training part", "actual", "forecast"]
    actual, forecast = ax.get_lines()[-2:]
    assert list(forecast.get_xdata()) == list(range(30, 40))
    assert list(forecast.get_ydata()) == pytest.approx(series[30:] + 0.1)
    assert len(ax.patches) == 1  # the shaded training part
    assert "10 steps" in ax.get_title()


def test_forecast_past_the_end_on_an_index_and_several_curves():
    years = np.arange(1990, 2000)
    fig = viz.plot_forecast(np.arange(10.0), {"model": [10.0, 11.0, 12.0], "naive": [9.0] * 3},
                            10, index=years, title="ahead")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["actual", "model", "naive"]
    assert list(lines[1].get_xdata()) == [2000, 2001, 2002]  # goes on at the index's spacing
    assert ax.get_title() == "ahead" and ax.get_xlabel() == "time step"
    assert not ax.patches  # no train_end: nothing shaded


def test_forecast_refuses_bad_input():
    with pytest.raises(ValueError, match=r"start=11"):
        viz.plot_forecast(np.arange(10.0), [1.0], 11)
    with pytest.raises(TypeError, match="start=2.5"):
        viz.plot_forecast(np.arange(10.0), [1.0], 2.5)
    with pytest.raises(ValueError, match=r"forecast.shape=\(2, 2\)"):
        viz.plot_forecast(np.arange(10.0), np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match="train_end=10"):
        viz.plot_forecast(np.arange(10.0), [1.0], 3, train_end=10)
    with pytest.raises(ValueError, match=r"index.shape"):
        viz.plot_forecast(np.arange(10.0), [1.0], 3, index=np.arange(5))
    with pytest.raises(ValueError, match="NaN"):
        viz.plot_forecast(np.arange(10.0), [np.nan], 3)
    assert plt.get_fignums() == []  # refused before any figure was made


def test_decision_boundary_draws_the_regions_and_counts_the_examples_on_their_side(tmp_path):
    x, y = nerve.data.make_spirals(200, noise=0.0, seed=0)
    line = nn.Linear(2, 2)  # a linear model: its boundary is the line w0.x + b0 = w1.x + b1
    path = tmp_path / "boundary.png"
    fig = viz.plot_decision_boundary(line, x, y, path, labels=["arm 0", "arm 1"])
    with nerve.no_grad():
        right = (line(nerve.tensor(x)).numpy().argmax(1) == y).mean()
    title = fig.axes[0].get_title()
    assert title == f"decision boundary ({right:.0%} of the examples on their side)"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["arm 0", "arm 1"]
    assert mpimg.imread(path).shape[0] > 100
    # a predict function replaces the model's rule: everything on one side
    fig = viz.plot_decision_boundary(None, x, y, predict=lambda p: np.zeros(len(p), int))
    assert f"({(y == 0).mean():.0%} of the examples" in fig.axes[0].get_title()


@pytest.mark.parametrize("x, y, error, words", [
    (np.zeros((4, 3)), np.zeros(4, int), ValueError, ["(N, 2)", "(4, 3)"]),
    (np.zeros((4, 2)), np.zeros(3, int), ValueError, ["4 integer classes"]),
    (np.zeros((4, 2)), np.zeros(4), ValueError, ["integer classes"]),
])
def test_decision_boundary_refuses_bad_examples(x, y, error, words):
    with pytest.raises(error) as e:
        viz.plot_decision_boundary(nn.Linear(2, 2), x, y)
    assert all(w in str(e.value) for w in words)
    with pytest.raises(TypeError, match="a Module"):
        viz.plot_decision_boundary("model", np.zeros((4, 2)), np.zeros(4, int))
