"""Train/validation split with Subset, a validation loop under torch.no_grad(), the best
weights kept with copy.deepcopy(model.state_dict()) and restored at the end, Adam with
weight_decay, nn.Tanh and nn.SmoothL1Loss, the loader's batches shuffled by nobody."""

import copy

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset, TensorDataset


def make_init(rng: np.random.Generator) -> dict:
    x = rng.uniform(-2.0, 2.0, (60, 2)).astype(np.float32)
    y = (np.tanh(x[:, :1] * 1.5) - 0.3 * x[:, 1:] + rng.normal(0, 0.1, (60, 1)))
    return {"x": x, "y": y.astype(np.float32),
            "0.weight": rng.uniform(-0.7, 0.7, (8, 2)).astype(np.float32),
            "0.bias": rng.uniform(-0.7, 0.7, (8,)).astype(np.float32),
            "2.weight": rng.uniform(-0.35, 0.35, (1, 8)).astype(np.float32),
            "2.bias": rng.uniform(-0.35, 0.35, (1,)).astype(np.float32)}


def main(init: dict) -> dict:
    dataset = TensorDataset(torch.tensor(init["x"]), torch.tensor(init["y"]))
    train_set = Subset(dataset, list(range(0, 45)))
    val_set = Subset(dataset, list(range(45, 60)))
    train_loader = DataLoader(train_set, batch_size=9)
    val_loader = DataLoader(val_set, batch_size=15)

    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    criterion = nn.SmoothL1Loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02, weight_decay=1e-3)

    best_loss, best_epoch, best_state = float("inf"), -1, None
    val_history = []
    for epoch in range(25):
        model.train()
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()

        model.eval()
        val_loss = 0.0
        with torch.no_grad():
            for xb, yb in val_loader:
                val_loss += criterion(model(xb), yb).item() * xb.size(0)
        val_loss /= len(val_loader.dataset)
        val_history.append(val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())

    last_bias = model[2].bias.item()
    model.load_state_dict(best_state)
    return {"val_history": val_history[::4], "best_loss": best_loss, "best_epoch": best_epoch,
            "restored_bias": model[2].bias.item(),
            "restored_differs_from_last": model[2].bias.item() != last_bias or best_epoch == 24,
            "best_state_keys": list(best_state.keys()), "train_size": len(train_set)}
