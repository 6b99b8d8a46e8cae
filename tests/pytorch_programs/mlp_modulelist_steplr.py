"""A regression MLP whose layers live in an nn.ModuleList, with F.relu between them, Adam,
gradient clipping, and a StepLR schedule read back through optimizer.param_groups."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = [3, 16, 16, 1]


def make_init(rng: np.random.Generator) -> dict:
    init = {"inputs": rng.uniform(-1.0, 1.0, (48, 3)).astype(np.float32)}
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        bound = 1 / np.sqrt(n_in)
        init[f"layers.{i}.weight"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        init[f"layers.{i}.bias"] = rng.uniform(-bound, bound, (n_out,)).astype(np.float32)
    return init


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def main(init: dict) -> dict:
    inputs = torch.tensor(init["inputs"])
    targets = (torch.sin(2 * inputs[:, 0]) + inputs[:, 1] ** 2 - 0.5 * inputs[:, 2]).unsqueeze(1)

    model = MLP(SIZES)
    state = {name: torch.tensor(init[name]) for name in model.state_dict()}
    model.load_state_dict(state)

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    loss_fn = nn.MSELoss()

    lrs, losses, norms = [], [], []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)))
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])
        losses.append(loss.item())

    return {"losses": losses[::5] + [losses[-1]], "grad_norms": norms[:3], "lrs": lrs,
            "last_lr": scheduler.get_last_lr(), "n_layers": len(model.layers),
            "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "output_bias": model.layers[-1].bias.item()}
