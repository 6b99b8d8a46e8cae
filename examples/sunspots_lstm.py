"""An LSTM forecaster on the yearly sunspot numbers (1700-2008): trained on the years up to 1960,
it forecasts one year ahead over 1961 onwards, and is judged against the naive forecast (next
year like this year) and the seasonal naive one (like 11 years ago, the solar cycle).

    python examples/sunspots_lstm.py                     # train, print the errors
    python examples/sunspots_lstm.py --plot sunspots.png # and draw the forecast (matplotlib)

The workflow: split in time order (never shuffled), fit the scaler on the training years only,
slide windows of 20 years, train with gradient clipping, forecast in the series' own units.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import StandardScaler, chronological_split, load_csv, make_windows
from nerve.train import mae, naive_forecast, rmse, seasonal_naive_forecast, skill

SUNSPOTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "timeseries" / \
    "sunspots.csv"
WINDOW, LAST_TRAINING_YEAR, SEASON = 20, 1960, 11


class Forecaster(nn.Module):
    """An LSTM over a window of years, and a Linear head on its last output: next year."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def run(path=SUNSPOTS, *, epochs: int = 40, hidden_size: int = 32, seed: int = 0,
        verbose: int = 0) -> dict:
    """Train on the years up to 1960, forecast 1961 onwards one year ahead; return the model,
    the scaler, the years, the forecasts and each one's MAE and RMSE."""
    years, counts = load_csv(path, ["YEAR", "SUNACTIVITY"]).T
    train, _, _ = chronological_split(counts, LAST_TRAINING_YEAR, index=years)
    scaler = StandardScaler().fit(train)  # statistics of the training years only
    x, y = make_windows(counts, WINDOW)  # x[i]: 20 years, y[i]: the year after them
    target_years = years[WINDOW:]
    is_train = target_years <= LAST_TRAINING_YEAR
    x_train, y_train = scaler.transform(x[is_train]), scaler.transform(y[is_train])

    nerve.manual_seed(seed)
    model = Forecaster(hidden_size)
    history = nerve.fit(model, x_train, y_train.reshape(len(y_train), 1), loss="mse",
                        optimizer=optim.Adam(model.parameters(), lr=5e-3), epochs=epochs,
                        batch_size=16, seed=seed, clip_grad_norm=1.0, verbose=verbose)

    x_test, actual = x[~is_train], y[~is_train, 0, 0]  # in sunspot numbers
    forecasts = {
        "LSTM": nerve.forecast(model, x_test, 1, scaler)[:, 0, 0],
        "naive": naive_forecast(x_test)[:, 0, 0],
        f"seasonal naive ({SEASON} y)": seasonal_naive_forecast(x_test, season=SEASON)[:, 0, 0],
    }
    errors = {name: {"mae": mae(actual, f), "rmse": rmse(actual, f)}
              for name, f in forecasts.items()}
    return {"model": model, "scaler": scaler, "history": history, "years": years,
            "counts": counts, "test_years": target_years[~is_train], "actual": actual,
            "forecasts": forecasts, "errors": errors}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", help="write a picture of the forecast to this PNG file")
    args = p.parse_args(argv)
    if not SUNSPOTS.is_file():
        print(f"needs the sunspot series at {SUNSPOTS}", file=sys.stderr)
        return 1
    r = run(epochs=args.epochs, seed=args.seed)
    first, last = int(r["test_years"][0]), int(r["test_years"][-1])
    print(f"one year ahead over {first}-{last} ({len(r['actual'])} years), trained on "
          f"{int(r['years'][0])}-{LAST_TRAINING_YEAR}:")
    for name, e in r["errors"].items():
        print(f"  {name:<22} MAE {e['mae']:6.2f}   RMSE {e['rmse']:6.2f}")
    model, naive = r["errors"]["LSTM"], r["errors"]["naive"]
    seasonal = r["errors"][f"seasonal naive ({SEASON} y)"]
    print(f"skill against naive: MAE {skill(model['mae'], naive['mae']):+.2f}, RMSE "
          f"{skill(model['rmse'], naive['rmse']):+.2f}; against seasonal naive: MAE "
          f"{skill(model['mae'], seasonal['mae']):+.2f}")
    if args.plot:
        start = int(np.searchsorted(r["years"], r["test_years"][0]))
        nerve.viz.plot_forecast(r["counts"], r["forecasts"]["LSTM"], start, path=args.plot,
                                train_end=start - 1, index=r["years"], xlabel="year",
                                ylabel="sunspot number", title="sunspots: one year ahead")
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
