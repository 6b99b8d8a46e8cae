"""Forecasting: multi-step forecasts with a trained model, the baselines it must beat, and the
errors that tell whether it does.

A forecast is judged against the naive forecast (tomorrow is like today) and the seasonal
naive one (like one season ago: 11 years for the sunspot cycle). ``skill`` says at once whether
the network earns its keep: above 0 it beats the baseline, 0 matches it, below 0 loses to it.

Shapes follow the history given, for the model and the baselines alike: a history (T,) gives a
forecast (steps,), (T, F) gives (steps, F), and a batch of histories (N, T, F) (the windows of
``make_windows``) gives (N, steps, F), so one call forecasts from many starting points.
"""

from __future__ import annotations

import math

import numpy as np

from nerve.autograd import Tensor, no_grad
from nerve.checks import ShortRepr, check_positive_int, message
from nerve.data.timeseries import host_numbers
from nerve.nn.module import Module, kept_modes
from nerve.train.loop import check_model, model_dtype

__all__ = ["forecast", "naive_forecast", "seasonal_naive_forecast", "mae", "rmse", "skill"]


def _histories(history, who: str, min_length: int = 1) -> tuple[np.ndarray, int]:
    """``history`` as a batch (N, T, F) of finite values, and its original number of axes."""
    data = host_numbers(history, "history", who)
    if data.ndim not in (1, 2, 3):
        raise ValueError(message(who, "a history of shape (T,), (T, F) or (N, T, F)",
                                 "history.shape", data.shape))
    batch = {1: lambda: data.reshape(1, -1, 1), 2: lambda: data[None], 3: lambda: data}[
        data.ndim]()
    if batch.shape[1] < min_length:
        raise ValueError(message(who, f"a history of at least {min_length} step(s)",
                                 "history.shape", data.shape))
    if not np.isfinite(batch).all():
        raise ValueError(f"{who}: history holds {int((~np.isfinite(batch)).sum())} NaN or "
                         f"infinite values")
    return batch, data.ndim


def _shaped(out: np.ndarray, ndim: int) -> np.ndarray:
    """A forecast (N, steps, F) in the shape of the history it came from."""
    if ndim == 1:
        return out[0, :, 0]
    return out[0] if ndim == 2 else out


def forecast(model: Module, history, steps: int, scaler=None, *, window: int | None = None):
    """Forecast ``steps`` steps after ``history``, feeding each prediction back as the newest
    step of the model's input window. Returns a NumPy array shaped like the history's steps:
    (steps,) for a history (T,), (steps, F) for (T, F), (N, steps, F) for a batch (N, T, F).

    The model takes windows (N, window, F), batch first (an LSTM with ``batch_first=True`` and
    a Linear head on its last output), and returns the next step, (N, F) (or (N, 1) for one
    feature). ``window`` is how many of the latest steps it sees (all of ``history`` when
    None); the window slides as predictions are appended. With a fitted ``scaler``
    (``nerve.data.StandardScaler``, fitted on the training part), ``history`` is in the
    series' own units: it is scaled for the model and the forecast is scaled back. The model
    runs without a graph and in eval mode; every module's mode is restored afterwards.
    """
    who = "forecast"
    check_model(model, who)
    steps = check_positive_int(steps, "steps", who)
    batch, ndim = _histories(history, who)
    if window is not None:
        window = check_positive_int(window, "window", who)
        if window > batch.shape[1]:
            raise ValueError(f"{who}: window={window} is longer than the history "
                             f"({batch.shape[1]} steps)")
        batch = batch[:, -window:]
    if scaler is not None:
        if not (hasattr(scaler, "transform") and hasattr(scaler, "inverse_transform")):
            raise TypeError(message(who, "a fitted scaler (with transform and "
                                    "inverse_transform) or None", "scaler", ShortRepr(scaler)))
        batch = np.asarray(scaler.transform(batch))
    n, _, features = batch.shape
    inputs = np.ascontiguousarray(batch, dtype=model_dtype(model))
    out = np.empty((n, steps, features), dtype=inputs.dtype)
    with kept_modes(model), no_grad():
        model.eval()
        for k in range(steps):  # the one loop: each step needs the one before
            pred = model(Tensor._wrap(inputs))
            if not isinstance(pred, Tensor):
                raise TypeError(message(who, "a model returning a Tensor (N, F)",
                                        "type(model(x))", type(pred).__name__))
            values = host_numbers(pred._data, "model(x)", who)
            if values.size != n * features:
                raise ValueError(f"{who}: expected the model to return the next step, shape "
                                 f"({n}, {features}) for windows {inputs.shape}. Received: "
                                 f"output of shape {values.shape}")
            out[:, k] = values.reshape(n, features)
            inputs = np.concatenate([inputs[:, 1:], out[:, k:k + 1]], axis=1)
    if scaler is not None:
        out = np.asarray(scaler.inverse_transform(out))
    return _shaped(out, ndim)


def naive_forecast(history, steps: int = 1) -> np.ndarray:
    """The naive forecast: every future step equals the last one seen. Shapes as ``forecast``:
    one step ahead over test windows is ``naive_forecast(x_windows)[:, 0]``."""
    who = "naive_forecast"
    steps = check_positive_int(steps, "steps", who)
    batch, ndim = _histories(history, who)
    return _shaped(np.repeat(batch[:, -1:], steps, axis=1), ndim)


def seasonal_naive_forecast(history, steps: int = 1, season: int = 11) -> np.ndarray:
    """The seasonal naive forecast: each future step equals the step one ``season`` earlier
    (the sunspot cycle is about 11 years). The history must hold at least one season."""
    who = "seasonal_naive_forecast"
    steps = check_positive_int(steps, "steps", who)
    season = check_positive_int(season, "season", who)
    batch, ndim = _histories(history, who)
    if batch.shape[1] < season:
        raise ValueError(f"{who}: a history of {batch.shape[1]} steps is shorter than one "
                         f"season (season={season})")
    last = batch[:, -season:]
    return _shaped(last[:, np.arange(steps) % season], ndim)


# --- errors ----------------------------------------------------------------------------------
def _pair(actual, predicted, who: str) -> tuple[np.ndarray, np.ndarray]:
    a = host_numbers(actual, "actual", who).astype(np.float64)
    p = host_numbers(predicted, "predicted", who).astype(np.float64)
    if a.shape != p.shape:
        if a.size != p.size or np.squeeze(a).shape != np.squeeze(p).shape:
            raise ValueError(f"{who}: expected actual and predicted values of one shape. "
                             f"Received: actual of shape {a.shape}, predicted of shape "
                             f"{p.shape}")
        p = p.reshape(a.shape)  # (N,) against (N, 1): the same values
    if a.size == 0:
        raise ValueError(message(who, "at least one value", "actual.shape", a.shape))
    return a, p


def mae(actual, predicted) -> float:
    """Mean absolute error, in the series' units."""
    a, p = _pair(actual, predicted, "mae")
    return float(np.mean(np.abs(a - p)))


def rmse(actual, predicted) -> float:
    """Root mean squared error, in the series' units (large misses weigh more than in MAE)."""
    a, p = _pair(actual, predicted, "rmse")
    return float(np.sqrt(np.mean((a - p) ** 2)))


def skill(model_error: float, naive_error: float) -> float:
    """Forecast skill, ``1 - model_error / naive_error``: above 0 the model beats the
    baseline (1 would be perfect), 0 matches it, below 0 it does worse. Errors are MAE or RMSE
    (of the same kind for both)."""
    values = []
    for name, v in (("model_error", model_error), ("naive_error", naive_error)):
        if isinstance(v, Tensor):
            v = v.item()
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise TypeError(message("skill", "a number (an error such as an MAE)", name,
                                    ShortRepr(v)))
        if not (math.isfinite(float(v)) and v >= 0):
            raise ValueError(message("skill", "a finite error >= 0", name, v))
        values.append(float(v))
    if values[1] == 0:
        raise ValueError(message("skill", "a baseline error above 0 (a perfect baseline leaves "
                                 "nothing to beat)", "naive_error", naive_error))
    return 1.0 - values[0] / values[1]
