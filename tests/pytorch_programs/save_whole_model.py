"""Saving and loading an entire model (the "Save and Load the Model" page): torch.save(model,
PATH) pickles the module itself, torch.load(PATH, weights_only=False) gives it back, ready
for model.eval() and inference, without rebuilding it first."""

import os
import tempfile

import numpy as np
import torch
from torch import nn


def make_init(rng: np.random.Generator) -> dict:
    return {"x": rng.normal(0, 1, (5, 3)).astype(np.float32),
            "0.weight": rng.uniform(-0.5, 0.5, (6, 3)).astype(np.float32),
            "0.bias": rng.uniform(-0.5, 0.5, (6,)).astype(np.float32),
            "2.weight": rng.uniform(-0.4, 0.4, (2, 6)).astype(np.float32),
            "2.bias": rng.uniform(-0.4, 0.4, (2,)).astype(np.float32)}


def main(init: dict) -> dict:
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    x = torch.tensor(init["x"])

    with tempfile.TemporaryDirectory() as tmp:
        PATH = os.path.join(tmp, "model.pth")
        torch.save(model, PATH)
        loaded = torch.load(PATH, weights_only=False)

    loaded.eval()
    with torch.no_grad():
        before, after = model(x), loaded(x)
    return {"same_outputs": torch.equal(before, after), "outputs": after.tolist(),
            "type": type(loaded).__name__, "layers": [type(m).__name__ for m in loaded],
            "is_new_object": loaded is not model}
