"""nerve's NerveClassifier and scikit-learn's MLPClassifier side by side on the 8x8 digits.

The same network (64 -> 100 ReLU -> 10), trained the same way (Adam, learning rate 1e-3,
batches of 200, the same number of epochs, no weight decay, no early stop), in one
cross_val_score loop, each behind a MinMaxScaler in a Pipeline; the lines printed give the
accuracy over the folds and the time each took. nerve computes in float32, scikit-learn in
float64.

    pip install scikit-learn         # (in a checkout of nerve: pip install ".[sklearn]")
    python examples/sklearn_digits.py                      # 200 epochs, 5 folds
    python examples/sklearn_digits.py --epochs 20 --folds 3  # a quick look
"""

import argparse
import sys
import time
import warnings

try:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
except ImportError:
    sys.exit("this example needs scikit-learn: pip install scikit-learn")

from nerve.sklearn import NerveClassifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=200, help="epochs (MLPClassifier's max_iter)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    x, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    models = {
        "nerve NerveClassifier": NerveClassifier(
            hidden_layer_sizes=(100,), lr=1e-3, batch_size=200, epochs=args.epochs,
            random_state=args.seed),
        # n_iter_no_change=epochs: it trains every epoch, as nerve does (no early stop)
        "sklearn MLPClassifier": MLPClassifier(
            hidden_layer_sizes=(100,), learning_rate_init=1e-3, batch_size=200, alpha=0.0,
            max_iter=args.epochs, n_iter_no_change=args.epochs, random_state=args.seed),
    }
    print(f"{len(x)} digits, {args.folds}-fold cross-validation, {args.epochs} epochs each")
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # it ran out of epochs: meant
            scores = cross_val_score(make_pipeline(MinMaxScaler(), model), x, y, cv=folds)
        seconds = time.perf_counter() - start
        print(f"{name}: accuracy {scores.mean():.1%} (+/- {scores.std():.1%}), "
              f"{seconds:.2f} s")


if __name__ == "__main__":
    main()
