"""Time series: numeric CSV files with a header, sliding windows for forecasting, a
chronological train/validation/test split, and a scaler fitted on the training part only."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nerve import backend
from nerve.checks import ShortRepr, as_array, check_positive_int, is_int, message


def load_csv(path: str | os.PathLike, columns: str | Sequence[str] | None = None,
             dtype=None) -> np.ndarray:
    """Return the numeric columns of a CSV file with a header row: (rows, columns), or (rows,).

    ``columns`` names the columns to keep, in that order (all when None); a single name gives
    a 1-D array. Values become ``dtype`` (nerve's default float32 when None). The file is
    UTF-8 (a byte-order mark is allowed); every row must have as many values as the header has
    names, and a name that is asked for must name one column only.
    """
    dtype = backend.float_dtype(dtype, "load_csv")
    header = _read_header(path)
    names = _column_names(columns, header)
    missing = [c for c in names if c not in header]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; the header has {header}")
    duplicated = sorted({c for c in names if header.count(c) > 1})
    if duplicated:
        raise ValueError(message("load_csv", f"distinct column names in the header of {path} "
                                 f"({', '.join(map(repr, duplicated))} names several columns)",
                                 "header", header))
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64,
                            quotechar='"', usecols=[header.index(c) for c in names],
                            encoding="utf-8-sig")
    except ValueError as err:
        raise ValueError(f"{path}: expected numbers in columns {names}: {err}") from err
    values = values.astype(dtype)
    return values[:, 0] if isinstance(columns, str) else values


def _column_names(columns, header: list[str]) -> list[str]:
    if columns is None:
        return header
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, Sequence) or not all(isinstance(c, str) for c in columns):
        raise TypeError(message("load_csv", "a column name or a list of them", "columns",
                                columns))
    if not columns:
        raise ValueError(message("load_csv", "at least one column name", "columns", columns))
    return list(columns)


def _read_header(path: str | os.PathLike) -> list[str]:
    """Return the column names in the first row of a CSV file, after checking that every
    other row has as many values (NumPy's loadtxt would drop the extra ones unnoticed)."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: drop a BOM
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path} is empty: expected a header row of column names")
        for row in reader:
            blank = not any(v.strip() for v in row) or row[0].lstrip().startswith("#")
            if not blank and len(row) != len(header):  # loadtxt skips blanks and comments
                raise ValueError(f"{path}: line {reader.line_num} has {len(row)} values, "
                                 f"expected {len(header)} (one per column of the header)")
    return [name.strip() for name in header]


def make_windows(series, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return inputs x (N, window, F) and targets y (N, horizon, F) sliding along a series.

    ``series`` is (T,) or (T, F); a 1-D series has F = 1. Sample i is x = series[i : i+window]
    and y = series[i+window : i+window+horizon], so N = T - window - horizon + 1. Both are
    contiguous copies in the series' floating dtype (nerve's default dtype for an integer
    series); ``y.reshape(N, -1)`` suits a Linear head.
    """
    data = np.asarray(series)
    if data.ndim not in (1, 2) or data.dtype.kind not in "biuf":
        raise ValueError(f"make_windows: expected numbers of shape (T,) or (T, F). Received: "
                         f"series of dtype {data.dtype} and shape {data.shape}")
    if data.dtype.kind != "f":  # a float series keeps its precision; TensorDataset decides
        data = data.astype(backend.get_default_dtype())
    data = data.reshape(len(data), -1)
    window = check_positive_int(window, "window", "make_windows")
    horizon = check_positive_int(horizon, "horizon", "make_windows")
    if len(data) < window + horizon:
        raise ValueError(f"make_windows: a series of length {len(data)} is too short for "
                         f"window={window} + horizon={horizon}")
    views = sliding_window_view(data, window + horizon, axis=0).transpose(0, 2, 1)
    return np.ascontiguousarray(views[:, :window]), np.ascontiguousarray(views[:, window:])


# --- chronological split ---------------------------------------------------------------------
def host_numbers(x, name: str, who: str, what: str = "an array") -> np.ndarray:
    """``x`` (a Tensor, an array, a list) as a NumPy array of numbers on the host; TypeError
    naming ``what`` was expected otherwise (also used by ``nerve.train``'s forecasting)."""
    try:
        data = as_array(x)
    except (TypeError, ValueError) as err:
        raise TypeError(message(who, f"{what} of numbers (array, Tensor or list)", name,
                                ShortRepr(x))) from err
    if not isinstance(data, np.ndarray):
        data = data.get() if hasattr(data, "get") else np.asarray(data)  # CuPy: to the host
    if data.dtype.kind not in "biuf":
        raise TypeError(message(who, "numbers (bool, int or float)", f"{name}.dtype",
                                data.dtype))
    return data


def _series(series, who: str, name: str = "series") -> np.ndarray:
    """``series`` (a Tensor, an array, a list) as a NumPy array of numbers, one step per row."""
    data = host_numbers(series, name, who, "a series")
    if data.ndim == 0:
        raise ValueError(message(who, "a series of shape (T,) or (T, F)", f"{name}.shape",
                                 data.shape))
    return data


def _count(value, name: str, length: int, who: str, allow_none: bool) -> int:
    """A part's length: a fraction (float in [0, 1)) of ``length``, or a count (int)."""
    if value is None and allow_none:
        return 0
    if is_int(value):
        if value < 0:
            raise ValueError(message(who, "a count >= 0 or a fraction in [0, 1)", name, value))
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not 0.0 <= value < 1.0:
            raise ValueError(message(who, "a fraction in [0, 1) (or a count, an int)", name,
                                     value))
        return int(round(float(value) * length))
    expected = "a fraction (float) or a count (int)" + " or None" * allow_none
    raise TypeError(message(who, expected, name, ShortRepr(value)))


def _boundary(index: np.ndarray, value, name: str, who: str) -> int:
    """How many steps of ``index`` are <= ``value`` (the last value of a part, included)."""
    try:
        return int(np.searchsorted(index, value, side="right"))
    except (TypeError, ValueError) as err:
        raise TypeError(message(who, f"a boundary comparable with index (dtype {index.dtype})",
                                name, ShortRepr(value))) from err


def chronological_split(series, train=0.8, val=None, *, index=None):
    """Split a series in time order: ``(train_part, val_part, test_part)``, never shuffled.

    ``series`` is (T,) or (T, F) (any array whose first axis is time). The parts are copies of
    consecutive stretches: the first ``train`` steps, the next ``val`` steps, and the rest.

    - Without ``index``, ``train`` and ``val`` are fractions of T (floats in [0, 1), rounded to
      whole steps) or counts of steps (ints); ``val=None`` (or 0) leaves the validation part
      empty: ``train, _, test = chronological_split(x, 0.8)``.
    - With ``index`` (the time of each step, increasing: years, dates as ``datetime64``),
      ``train`` and ``val`` are the last time of the training and of the validation part,
      included: ``chronological_split(counts, 1960, index=years)`` trains on the years up to
      1960 and tests on 1961 onwards. Split ``index`` itself the same way to get each part's
      times.

    Raises ValueError when the training or test part would be empty, when a validation part
    was asked for and would be empty, and for fractions or boundaries out of range.
    """
    who = "chronological_split"
    data = _series(series, who)
    n = len(data)
    if index is None:
        n_train = _count(train, "train", n, who, allow_none=False)
        n_val = _count(val, "val", n, who, allow_none=True)
        asked_val = val is not None and val != 0
    else:
        idx = _series(index, who, "index") if not _is_time(index) else np.asarray(index)
        if idx.ndim != 1 or len(idx) != n:
            raise ValueError(f"{who}: expected an index of one time per step of the series: "
                             f"shape ({n},). Received: index of shape {idx.shape}")
        if n > 1 and not (idx[1:] > idx[:-1]).all():
            first = int(np.argmin(idx[1:] > idx[:-1]))
            raise ValueError(f"{who}: expected an increasing index. Received: index[{first}]="
                             f"{idx[first]!r} then index[{first + 1}]={idx[first + 1]!r}")
        if train is None:
            raise TypeError(message(who, "the last time of the training part", "train", train))
        n_train = _boundary(idx, train, "train", who)
        asked_val = val is not None
        if asked_val and not val >= train:
            raise ValueError(message(who, f"a validation boundary after train={train!r}",
                                     "val", val))
        n_val = _boundary(idx, val, "val", who) - n_train if asked_val else 0
    if n_train < 1:
        raise ValueError(message(who, f"a training part of at least one step (of {n})",
                                 "train", train))
    if asked_val and n_val < 1:
        raise ValueError(message(who, f"a validation part of at least one step (of {n}; pass "
                                 "val=None for none)", "val", val))
    if n_train + n_val >= n:
        raise ValueError(f"{who}: train={train!r} and val={val!r} leave no step of the {n} for "
                         f"the test part ({n_train} train, {n_val} validation)")
    cut = n_train + n_val
    return data[:n_train].copy(), data[n_train:cut].copy(), data[cut:].copy()


def _is_time(index) -> bool:
    return isinstance(index, np.ndarray) and index.dtype.kind == "M"


# --- scaling ---------------------------------------------------------------------------------
class StandardScaler:
    """Standardise each feature to mean 0 and standard deviation 1, as scikit-learn's does.

    Fit it on the training part only (``fit``), then ``transform`` every part with the
    training statistics, so that nothing of the validation or test data leaks into training;
    ``inverse_transform`` takes forecasts back to the series' own units. Features are the last
    axis of a (T, F) array (statistics over every other axis); a 1-D series is one feature,
    whose scaler then takes values of that series in any shape (windows (N, L) or (N, L, 1)):
    fit a (T, F) array to have the number of features checked. Results are in ``dtype``
    (nerve's default float32 when None); the statistics are computed in float64. ``mean_``
    and ``scale_`` (the standard deviations) hold them after ``fit``.
    """

    def __init__(self, dtype=None):
        self.dtype = backend.float_dtype(dtype, "StandardScaler")
        self.mean_ = None
        self.scale_ = None

    def __repr__(self) -> str:
        dtype = "" if self.dtype == backend.get_default_dtype() else f"dtype={self.dtype}"
        return f"StandardScaler({dtype})"

    def _values(self, x, who: str) -> np.ndarray:
        data = _series(x, f"StandardScaler.{who}", "x")
        if not np.isfinite(data).all():
            bad = int((~np.isfinite(data)).sum())
            raise ValueError(f"StandardScaler.{who}: x holds {bad} NaN or infinite values")
        return data

    def fit(self, x) -> StandardScaler:
        """Learn each feature's mean and standard deviation from ``x`` (the training part)."""
        data = self._values(x, "fit").astype(np.float64)
        if data.size == 0:
            raise ValueError(message("StandardScaler.fit", "at least one value", "x.shape",
                                     data.shape))
        axes = tuple(range(data.ndim - 1)) if data.ndim > 1 else (0,)
        mean, std = data.mean(axis=axes), data.std(axis=axes)
        flat = np.atleast_1d(std)
        constant = np.flatnonzero(~(flat > 1e-12 * np.maximum(1.0, np.abs(np.atleast_1d(mean)))))
        if constant.size:
            which = ("x is constant" if data.ndim == 1 else
                     f"column(s) {constant.tolist()} of x are constant")
            raise ValueError(f"StandardScaler.fit: {which} (standard deviation 0) and cannot "
                             f"be scaled to unit variance; drop such columns or scale them "
                             f"otherwise")
        self.mean_, self.scale_ = mean, std
        return self

    def _check_fitted(self, who: str, data: np.ndarray) -> None:
        if self.mean_ is None:
            raise ValueError(f"StandardScaler.{who}: this scaler is not fitted yet; call "
                             f"fit(train_part) first (fit it on the training part only)")
        features = self.mean_.shape[-1] if self.mean_.ndim else None
        if features is not None and (data.ndim == 0 or data.shape[-1] != features):
            raise ValueError(f"StandardScaler.{who}: expected x with {features} features (last "
                             f"axis), as in fit. Received: x of shape {data.shape}")

    def transform(self, x) -> np.ndarray:
        """Return ``(x - mean_) / scale_`` in the scaler's dtype."""
        data = self._values(x, "transform")
        self._check_fitted("transform", data)
        return ((data - self.mean_) / self.scale_).astype(self.dtype)

    def fit_transform(self, x) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x) -> np.ndarray:
        """Return ``x * scale_ + mean_``: scaled values (forecasts) back in the series' units."""
        data = self._values(x, "inverse_transform")
        self._check_fitted("inverse_transform", data)
        return (data * self.scale_ + self.mean_).astype(self.dtype)
