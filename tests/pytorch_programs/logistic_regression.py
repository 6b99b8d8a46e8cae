"""Binary logistic regression in the usual beginner form: a Module around nn.Linear,
nn.init for the bias, BCEWithLogitsLoss, then model.eval() and torch.no_grad() for
torch.sigmoid probabilities, thresholded predictions and the accuracy."""

import numpy as np
import torch
from torch import nn


def make_init(rng: np.random.Generator) -> dict:
    X = rng.normal(0.0, 1.0, (64, 4))
    true_w = np.array([1.5, -2.0, 0.5, 0.0])
    y = (X @ true_w + rng.normal(0.0, 0.5, 64) > 0).astype(np.float32)
    return {"X": X.astype(np.float32), "y": y,
            "weight": rng.normal(0.0, 0.1, (1, 4)).astype(np.float32)}


class LogisticRegression(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x):
        return self.linear(x)


def main(init: dict) -> dict:
    X = torch.tensor(init["X"])
    y = torch.tensor(init["y"]).view(-1, 1)

    model = LogisticRegression(X.shape[1])
    nn.init.zeros_(model.linear.bias)
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(init["weight"]))

    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

    history = []
    for epoch in range(100):
        model.train()
        logits = model(X)
        loss = criterion(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 20 == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
            history.append(loss.item())

    model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(model(X))
        preds = (probs > 0.5).float()
        accuracy = (preds == y).float().mean().item()
        manual = 1 / (1 + torch.exp(-model(X)))

    return {"history": history, "accuracy": accuracy,
            "weight": model.linear.weight.squeeze().tolist(), "bias": model.linear.bias.item(),
            "first_probs": probs[:5].squeeze(1).tolist(),
            "sigmoid_matches_formula": torch.allclose(probs, manual),
            "training_flag": model.training, "preds_sum": preds.sum().item(),
            "probs_requires_grad": probs.requires_grad}
