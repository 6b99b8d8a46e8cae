"""The forecasting workflow: a chronological split, a scaler fitted on the training part only,
multi-step forecasts fed back through the model, the naive baselines and the errors that judge
them; and the two examples, whose networks must beat the naive forecast."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.data import StandardScaler, chronological_split, make_windows
from nerve.train import mae, naive_forecast, rmse, seasonal_naive_forecast, skill

ROOT = Path(__file__).resolve().parents[1]
SUNSPOTS = ROOT.parent / "shared" / "data" / "timeseries" / "sunspots.csv"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- chronological_split -----------------------------------------------------------------------
def test_split_by_fractions_keeps_time_order():
    series = np.arange(10.0)
    train, val, test = chronological_split(series, 0.6, 0.2)
    assert train.tolist() == [0, 1, 2, 3, 4, 5] and val.tolist() == [6, 7]
    assert test.tolist() == [8, 9]
    train[0] = 99  # copies: the series is untouched
    assert series[0] == 0


def test_split_by_counts_and_without_validation():
    series = np.arange(20.0).reshape(10, 2)
    train, val, test = chronological_split(series, 7)
    assert train.shape == (7, 2) and val.shape == (0, 2) and test.shape == (3, 2)
    train, val, test = chronological_split(series, 5, 3)
    assert (len(train), len(val), len(test)) == (5, 3, 2)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), series)


def test_split_by_index_boundaries_includes_the_boundary():
    years = np.arange(1950, 1970)
    values = years * 10.0
    train, val, test = chronological_split(values, 1960, index=years)
    assert train[-1] == 19600 and test[0] == 19610 and len(val) == 0
    train, val, test = chronological_split(values, 1955, 1965, index=years)
    assert val.tolist() == [y * 10.0 for y in range(1956, 1966)]
    dates = np.arange("2020-01-01", "2020-01-11", dtype="datetime64[D]")
    train, _, test = chronological_split(np.arange(10), np.datetime64("2020-01-07"), index=dates)
    assert len(train) == 7 and len(test) == 3


@pytest.mark.parametrize("train, val, match", [
    (1.5, None, r"train=1\.5"), (-0.1, None, r"train=-0\.1"), (0.0, None, "training part"),
    (0.6, 0.4, "no step .* test part"), (0.9, 0.2, "test part"), (10, None, "test part"),
    (0.5, 0.01, "validation part"), (0, None, "training part"),
])
def test_split_refuses_bad_fractions_and_empty_parts(train, val, match):
    with pytest.raises(ValueError, match=match):
        chronological_split(np.arange(10.0), train, val)


def test_split_refuses_bad_types_and_indexes():
    with pytest.raises(TypeError, match="expected a fraction .* Received: train='half'"):
        chronological_split(np.arange(10.0), "half")
    with pytest.raises(TypeError, match="numbers"):
        chronological_split(np.array(["a", "b"]), 1)
    with pytest.raises(ValueError, match="increasing index"):
        chronological_split(np.arange(4.0), 2, index=[1, 3, 2, 4])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        chronological_split(np.arange(4.0), 2, index=[1, 2, 3])
    with pytest.raises(ValueError, match="validation boundary after"):
        chronological_split(np.arange(4.0), 3, 2, index=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="test part"):
        chronological_split(np.arange(4.0), 9, index=[1, 2, 3, 4])


# --- StandardScaler ----------------------------------------------------------------------------
def test_scaler_round_trip_in_float32():
    x = np.random.default_rng(0).normal(5.0, 3.0, size=(50, 3))
    scaler = StandardScaler()
    z = scaler.fit_transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-5)
    assert StandardScaler(dtype="float64").fit_transform(x).dtype == np.float64


def test_scaler_fitted_on_the_training_part_only():
    series = np.concatenate([np.zeros(5), np.ones(5) * 2, np.full(4, 100.0)])
    train, _, test = chronological_split(series, 10)
    scaler = StandardScaler().fit(train)
    assert scaler.mean_ == pytest.approx(1.0) and scaler.scale_ == pytest.approx(1.0)
    assert scaler.transform(test).tolist() == [99.0] * 4  # the test values do not move it


def test_scaler_of_a_1d_series_scales_windows_and_model_outputs():
    scaler = StandardScaler().fit(np.array([1.0, 3.0]))  # mean 2, std 1
    assert scaler.transform(np.full((2, 4, 1), 3.0)).tolist() == [[[1.0]] * 4] * 2
    assert scaler.inverse_transform(np.zeros((3, 1))).tolist() == [[2.0]] * 3


def test_scaler_errors():
    with pytest.raises(ValueError, match="not fitted yet; call fit"):
        StandardScaler().transform(np.ones(3))
    with pytest.raises(ValueError, match="not fitted yet"):
        StandardScaler().inverse_transform(np.ones(3))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] .* constant"):
        StandardScaler().fit(np.array([[1.0, 5.0], [2.0, 5.0]]))
    with pytest.raises(ValueError, match="x is constant"):
        StandardScaler().fit(np.full(4, 7.0))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([1.0, np.nan]))
    scaler = StandardScaler().fit(np.arange(6.0).reshape(3, 2))
    with pytest.raises(ValueError, match=r"2 features .* shape \(3, 3\)"):
        scaler.transform(np.ones((3, 3)))
    with pytest.raises(TypeError, match="floating-point dtype"):
        StandardScaler(dtype="int64")


# --- forecast ----------------------------------------------------------------------------------
class Forecaster(nn.Module):
    def __init__(self, features=1, hidden=4):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, features)
        self.modes_seen = []

    def forward(self, x):
        self.modes_seen.append((self.training, nerve.is_grad_enabled()))
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class AddOne(nn.Module):
    """Predicts the last value + 1: a forecast whose every step is known by hand."""

    def __init__(self, features=1):
        super().__init__()
        self.w = nn.Parameter(nerve.zeros(1))
        self.features = features

    def forward(self, x):
        return x[:, -1, :self.features] + 1 + self.w


def test_forecast_shapes_follow_the_history():
    nerve.manual_seed(0)
    model = Forecaster()
    assert nerve.forecast(model, np.zeros(12), 5).shape == (5,)
    assert nerve.forecast(model, np.zeros((12, 1)), 5).shape == (5, 1)
    assert nerve.forecast(model, np.zeros((3, 12, 1)), 5).shape == (3, 5, 1)
    model2 = Forecaster(features=2)
    assert nerve.forecast(model2, np.zeros((12, 2)), 4, window=6).shape == (4, 2)


def test_forecast_feeds_each_prediction_back():
    out = nerve.forecast(AddOne(), np.array([0.0, 1.0, 2.0]), 4)
    assert out.tolist() == [3.0, 4.0, 5.0, 6.0]
    batch = nerve.forecast(AddOne(), np.array([[[0.0], [1.0]], [[10.0], [20.0]]]), 2)
    assert batch[:, :, 0].tolist() == [[2.0, 3.0], [21.0, 22.0]]


def test_forecast_in_the_series_units_with_a_scaler():
    scaler = StandardScaler().fit(np.array([0.0, 20.0]))  # mean 10, std 10
    # scaled: [0, 1] -> the model adds 1 in scaled units, i.e. 10 in the series' units
    out = nerve.forecast(AddOne(), np.array([10.0, 20.0]), 3, scaler)
    np.testing.assert_allclose(out, [30.0, 40.0, 50.0])


def test_forecast_runs_in_eval_mode_without_graph_and_restores_the_mode():
    model = Forecaster()
    model.train()
    nerve.forecast(model, np.zeros(8), 3)
    assert model.modes_seen == [(False, False)] * 3
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    nerve.forecast(model, np.zeros(8), 1)
    assert not model.training


def test_forecast_refuses_bad_inputs():
    model = Forecaster()
    with pytest.raises(ValueError, match="expected a positive integer. Received: steps=0"):
        nerve.forecast(model, np.zeros(8), 0)
    with pytest.raises(TypeError, match="steps=2.5"):
        nerve.forecast(model, np.zeros(8), 2.5)
    with pytest.raises(ValueError, match="window=9 is longer than the history"):
        nerve.forecast(model, np.zeros(8), 1, window=9)
    with pytest.raises(ValueError, match=r"history.shape=\(1, 2, 3, 4\)"):
        nerve.forecast(model, np.zeros((1, 2, 3, 4)), 1)
    with pytest.raises(ValueError, match="NaN"):
        nerve.forecast(model, np.array([1.0, np.nan]), 1)
    with pytest.raises(TypeError, match="fitted scaler"):
        nerve.forecast(model, np.zeros(8), 1, scaler="standard")
    with pytest.raises(ValueError, match=r"return the next step, shape \(1, 2\)"):
        nerve.forecast(AddOne(features=1), np.zeros((8, 2)), 1)
    with pytest.raises(TypeError, match="a Module"):
        nerve.forecast(lambda x: x, np.zeros(8), 1)


# --- baselines and errors ----------------------------------------------------------------------
def test_naive_forecasts_by_hand():
    history = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert naive_forecast(history, 3).tolist() == [5.0, 5.0, 5.0]
    assert seasonal_naive_forecast(history, 5, season=2).tolist() == [4.0, 5.0, 4.0, 5.0, 4.0]
    assert seasonal_naive_forecast(history, 2, season=5).tolist() == [1.0, 2.0]
    x, _ = make_windows(np.arange(6.0), 3)  # windows [0 1 2], [1 2 3], [2 3 4]
    assert naive_forecast(x)[:, 0, 0].tolist() == [2.0, 3.0, 4.0]
    assert seasonal_naive_forecast(x, season=3)[:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="shorter than one season"):
        seasonal_naive_forecast(history, 1, season=11)
    with pytest.raises(ValueError, match="season=0"):
        seasonal_naive_forecast(history, 1, season=0)


def test_errors_and_skill_by_hand():
    actual, predicted = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 4.0]
    assert mae(actual, predicted) == pytest.approx(0.75)
    assert rmse(actual, predicted) == pytest.approx(np.sqrt(5 / 4))
    assert mae(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])) == pytest.approx(1.0)
    assert skill(1.0, 4.0) == pytest.approx(0.75)
    assert skill(4.0, 4.0) == 0.0 and skill(6.0, 4.0) == pytest.approx(-0.5)


def test_errors_and_skill_refuse_bad_inputs():
    with pytest.raises(ValueError, match=r"actual of shape \(3,\), predicted of shape \(2,\)"):
        mae([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one value"):
        rmse([], [])
    with pytest.raises(ValueError, match="naive_error=0"):
        skill(1.0, 0.0)
    with pytest.raises(ValueError, match="model_error=-1"):
        skill(-1.0, 2.0)
    with pytest.raises(TypeError, match="naive_error='x'"):
        skill(1.0, "x")


# --- the examples ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sunspots():
    if not SUNSPOTS.is_file():
        pytest.skip(f"needs the sunspot series at {SUNSPOTS}")
    return _example("sunspots_lstm").run(SUNSPOTS)


def test_sunspot_lstm_beats_the_naive_forecast(sunspots):
    errors = sunspots["errors"]
    assert sunspots["test_years"][0] == 1961 and sunspots["test_years"][-1] == 2008
    assert len(sunspots["actual"]) == 48
    assert errors["LSTM"]["mae"] < errors["naive"]["mae"]
    assert skill(errors["LSTM"]["mae"], errors["naive"]["mae"]) > 0


def test_sunspot_scaler_was_fitted_on_the_training_years(sunspots):
    years, counts = sunspots["years"], sunspots["counts"]
    assert sunspots["scaler"].mean_ == pytest.approx(counts[years <= 1960].mean(), rel=1e-5)


def test_sine_forecast_50_steps_beats_naive():
    r = _example("sine_forecast").run()
    assert r["forecast"].shape == (50,) and r["future"].shape == (50,)
    assert r["errors"]["LSTM"]["mae"] < 0.5 * r["errors"]["naive"]["mae"]
