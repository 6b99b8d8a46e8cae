"""Forecasting 50 steps ahead by feeding predictions back: an LSTM learns one step of a sum of
two sines, then ``nerve.forecast`` rolls it forward, each prediction becoming the newest step of
the next input window. Its error against the true continuation is compared with the naive
forecast (the last value held).

    python examples/sine_forecast.py
    python examples/sine_forecast.py --plot sine.png   # draw it (matplotlib)
"""

import argparse
import sys

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import StandardScaler, chronological_split, make_windows
from nerve.train import mae, naive_forecast, rmse, skill

WINDOW, STEPS = 30, 50


def sum_of_sines(length: int = 700) -> np.ndarray:
    """Two sines of periods 25 and 9.5 steps, float32."""
    t = np.arange(length)
    return (np.sin(2 * np.pi * t / 25) + 0.5 * np.sin(2 * np.pi * t / 9.5)).astype(np.float32)


class Forecaster(nn.Module):
    def __init__(self, hidden_size: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def run(*, epochs: int = 20, seed: int = 0, verbose: int = 0) -> dict:
    """Train on the series but its last STEPS values, forecast those; return the errors."""
    series = sum_of_sines()
    train, _, future = chronological_split(series, len(series) - STEPS)
    scaler = StandardScaler().fit(train)
    x, y = make_windows(scaler.transform(train), WINDOW)
    nerve.manual_seed(seed)
    model = Forecaster()
    nerve.fit(model, x, y.reshape(len(y), 1), loss="mse",
              optimizer=optim.Adam(model.parameters(), lr=5e-3), epochs=epochs, batch_size=32,
              seed=seed, clip_grad_norm=1.0, verbose=verbose)
    predicted = nerve.forecast(model, train, STEPS, scaler, window=WINDOW)
    naive = naive_forecast(train, STEPS)
    return {"series": series, "start": len(train), "future": future, "forecast": predicted,
            "naive": naive,
            "errors": {"LSTM": {"mae": mae(future, predicted), "rmse": rmse(future, predicted)},
                       "naive": {"mae": mae(future, naive), "rmse": rmse(future, naive)}}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", help="write a picture of the forecast to this PNG file")
    args = p.parse_args(argv)
    r = run(epochs=args.epochs, seed=args.seed)
    print(f"{STEPS} steps ahead, each prediction fed back as the next input:")
    for name, e in r["errors"].items():
        print(f"  {name:<6} MAE {e['mae']:.3f}   RMSE {e['rmse']:.3f}")
    print(f"skill against naive: MAE "
          f"{skill(r['errors']['LSTM']['mae'], r['errors']['naive']['mae']):+.2f}")
    if args.plot:
        nerve.viz.plot_forecast(r["series"], {"LSTM (fed back)": r["forecast"],
                                              "naive": r["naive"]}, r["start"],
                                path=args.plot, train_end=r["start"] - 1,
                                title=f"sum of sines: {STEPS} steps ahead")
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
