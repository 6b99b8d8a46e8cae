"""The built-in specs of ``nerve train``: from the seed's single neuron to an MNIST CNN and an
LSTM forecaster. ``nerve train`` alone runs ``DEFAULT``."""

from __future__ import annotations


def _mlp(sizes: list[int], activation: str = "ReLU") -> list[dict]:
    layers: list[dict] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append({"type": "Linear", "in_features": a, "out_features": b})
        if i < len(sizes) - 2:
            layers.append({"type": activation})
    return layers


def _lstm(hidden: int) -> list[dict]:
    return [{"type": "LSTM", "input_size": 1, "hidden_size": hidden, "batch_first": True},
            {"type": "LastTimeStep"},
            {"type": "Linear", "in_features": hidden, "out_features": 1}]


_CNN = [
    {"type": "Conv2d", "in_channels": 1, "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "in_channels": 16, "out_channels": 32, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Linear", "in_features": 1568, "out_features": 128}, {"type": "ReLU"},
    {"type": "Linear", "in_features": 128, "out_features": 10},
]

PRESETS: dict[str, dict] = {
    "surfing": {
        "description": "the seed's surfing decision learned by Rosenblatt's perceptron",
        "data": {"source": "surfing"},
        "model": {"layers": [{"type": "Perceptron", "n_inputs": 3}]},
        "train": {"method": "perceptron", "lr": 1.0, "epochs": 100},
    },
    "xor": {
        "description": "XOR by a 2-4-1 sigmoid network and the seed's gradient descent: "
                       "step size = lr x slope until every step is at most 0.001",
        "data": {"source": "xor"},
        "model": {"layers": _mlp([2, 4, 1], "Sigmoid") + [{"type": "Sigmoid"}],
                  "init": "standard-normal"},
        "train": {"method": "gradient-descent", "loss": "ssr", "lr": 1.0, "tolerance": 0.001,
                  "max_steps": 5000},
    },
    "spirals": {
        "description": "a small MLP on two interleaved spirals (not linearly separable)",
        "data": {"source": "spirals", "n_samples": 600, "noise": 0.1},
        "model": {"layers": _mlp([2, 32, 32, 2])},
        "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "epochs": 40,
                  "batch_size": 32},
    },
    "digits-mlp": {
        "description": "an MLP on scikit-learn's 8x8 digits (needs scikit-learn)",
        "data": {"source": "digits"},
        "model": {"layers": _mlp([64, 64, 10])},
        "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.003, "epochs": 30,
                  "batch_size": 32},
    },
    "mnist-mlp": {
        "description": "a 784-256-128-10 MLP on MNIST (--data DIR or --download)",
        "data": {"source": "mnist", "flatten": True},
        "model": {"layers": _mlp([784, 256, 128, 10])},
        "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "epochs": 5,
                  "batch_size": 64},
    },
    "mnist-cnn": {
        "description": "the CNN of two 3x3 convolutions with max pooling on MNIST "
                       "(--data DIR or --download)",
        "data": {"source": "mnist", "flatten": False},
        "model": {"layers": _CNN},
        "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "epochs": 3,
                  "batch_size": 64},
    },
    "sine-lstm": {
        "description": "an LSTM forecasting a synthetic sum of sines, one step at a time",
        "data": {"source": "sine"},
        "model": {"layers": _lstm(32)},
        "train": {"loss": "mse", "optimizer": "adam", "lr": 0.005, "epochs": 15,
                  "batch_size": 32, "clip_grad_norm": 1.0},
    },
    "forecast-lstm": {
        "description": "an LSTM forecaster for a column of your CSV (--csv FILE --column NAME)",
        "data": {"source": "csv"},
        "model": {"layers": _lstm(32)},
        "train": {"loss": "mse", "optimizer": "adam", "lr": 0.005, "epochs": 40,
                  "batch_size": 16, "clip_grad_norm": 1.0},
    },
}
for _name, _preset in PRESETS.items():
    _preset["name"] = _name

DEFAULT = "spirals"
