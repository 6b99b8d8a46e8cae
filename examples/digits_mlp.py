"""A deep MLP (three hidden layers) on scikit-learn's 8x8 handwritten digits, with fit.

    pip install scikit-learn         # (in a checkout of nerve: pip install ".[digits]")
    python examples/digits_mlp.py
"""

import sys

import numpy as np

import nerve
from nerve import data, nn, optim

try:
    x, y = data.load_digits()
except ImportError as e:
    sys.exit(str(e))

nerve.manual_seed(0)
order = np.random.default_rng(0).permutation(len(x))
x, y = x[order], y[order]
x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]

model = nn.Sequential(
    nn.Linear(64, 128), nn.ReLU(),
    nn.Linear(128, 64), nn.ReLU(),
    nn.Linear(64, 32), nn.ReLU(),
    nn.Linear(32, 10),
)
nn.summary(model, (64,))
history = nerve.fit(model, x_train, y_train, loss="cross_entropy",
                    optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=30,
                    batch_size=32, validation_split=0.1, seed=0, verbose=2)
result = nerve.evaluate(model, x_test, y_test, loss="cross_entropy")
print(f"test accuracy {result['accuracy']:.1%} on {len(x_test)} unseen digits")
cm = nerve.train.confusion_matrix(y_test, nerve.predict_classes(model, x_test), 10)
print("confusion matrix (rows: true digit, columns: decided digit)")
print(cm)
