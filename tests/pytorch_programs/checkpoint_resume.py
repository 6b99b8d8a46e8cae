"""Saving and loading a general checkpoint (PyTorch recipe): a dict with the epoch, the model's
and the optimizer's state_dicts and the loss goes through torch.save / torch.load, a fresh
model and optimizer resume from it, and the resumed run must match the uninterrupted one."""

import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def make_init(rng: np.random.Generator) -> dict:
    return {"x": rng.normal(0, 1, (32, 4)).astype(np.float32),
            "y": rng.normal(0, 1, (32, 1)).astype(np.float32),
            "0.weight": rng.uniform(-0.5, 0.5, (8, 4)).astype(np.float32),
            "0.bias": rng.uniform(-0.5, 0.5, (8,)).astype(np.float32),
            "2.weight": rng.uniform(-0.35, 0.35, (1, 8)).astype(np.float32),
            "2.bias": rng.uniform(-0.35, 0.35, (1,)).astype(np.float32)}


def make_model(init):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    return model


def train(model, optimizer, x, y, steps):
    loss_fn = nn.MSELoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def main(init: dict) -> dict:
    x, y = torch.tensor(init["x"]), torch.tensor(init["y"])

    model = make_model(init)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    EPOCH = 5
    LOSS = train(model, optimizer, x, y, EPOCH)

    with tempfile.TemporaryDirectory() as tmp:
        PATH = os.path.join(tmp, "model.pt")
        torch.save({
            'epoch': EPOCH,
            'model_state_dict': model.state_dict(),
            'optimizer_state_dict': optimizer.state_dict(),
            'loss': LOSS,
        }, PATH)

        resumed = make_model({**init, **{k: np.zeros_like(v) for k, v in init.items()
                                         if "." in k}})
        resumed_optimizer = optim.SGD(resumed.parameters(), lr=0.05, momentum=0.9)

        checkpoint = torch.load(PATH, weights_only=True)
        resumed.load_state_dict(checkpoint['model_state_dict'])
        resumed_optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
        epoch = checkpoint['epoch']
        loss = checkpoint['loss']

    resumed.train()
    continued = train(model, optimizer, x, y, 5)
    after_resume = train(resumed, resumed_optimizer, x, y, 5)
    return {"epoch": epoch, "loss": loss, "continued": continued, "after_resume": after_resume,
            "resume_is_exact": continued == after_resume,
            "momentum_keys": sorted(checkpoint['optimizer_state_dict'].keys()),
            "param_groups_lr": checkpoint['optimizer_state_dict']['param_groups'][0]['lr']}
