"""Time series: numeric CSV files with a header, and sliding windows for forecasting."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nerve import backend
from nerve.checks import check_positive_int, message


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
