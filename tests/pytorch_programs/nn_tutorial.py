""""What is torch.nn really?" on tiny 8x8 images: logistic regression from scratch (log_softmax
by hand, nll by fancy indexing, ``weights.requires_grad_()``, in-place updates), then refactored
step by step: F.cross_entropy, an nn.Module with nn.Parameter, nn.Linear, optim.SGD,
TensorDataset slicing, DataLoader, and the tutorial's fit/loss_batch with a validation set."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

bs = 16  # batch size
lr = 0.5  # learning rate
epochs = 2  # how many epochs to train for


def make_init(rng: np.random.Generator) -> dict:
    templates = rng.uniform(0.0, 1.0, (10, 64))
    labels = np.arange(140) % 10
    images = np.clip(templates[labels] + rng.normal(0.0, 0.3, (140, 64)), 0.0, 1.0)
    return {"x": images.astype(np.float32), "y": labels.astype(np.int64),
            "weights": rng.standard_normal((64, 10)).astype(np.float32),
            "lin.weight": rng.uniform(-0.125, 0.125, (10, 64)).astype(np.float32),
            "lin.bias": rng.uniform(-0.125, 0.125, (10,)).astype(np.float32)}


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, xb):
        return self.lin(xb)


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    val_losses = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        print(epoch, val_loss)
        val_losses.append(float(val_loss))
    return val_losses


def main(init: dict) -> dict:
    out = {}
    x_train, y_train, x_valid, y_valid = map(
        torch.tensor, (init["x"][:100], init["y"][:100], init["x"][100:], init["y"][100:])
    )
    n, c = x_train.shape
    out["n_c"] = [n, c]
    out["range"] = [x_train.min().item(), x_train.max().item()]

    # Neural net from scratch (no torch.nn)
    weights = torch.tensor(init["weights"]) / math.sqrt(64)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    xb = x_train[0:bs]  # a mini-batch from x
    preds = model(xb)  # predictions
    out["preds0"] = preds[0].tolist()
    loss_func = nll
    yb = y_train[0:bs]
    out["first_loss"] = loss_func(preds, yb).item()
    out["first_accuracy"] = accuracy(preds, yb).item()

    for _ in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
    out["scratch"] = [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()]

    # Using torch.nn.functional: the same model, cross_entropy on the raw scores
    loss_func = F.cross_entropy

    def model(xb):
        return xb @ weights + bias

    out["functional"] = [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()]

    # nn.Linear, optim, Dataset and DataLoader, validation
    train_ds = TensorDataset(x_train, y_train)
    xb, yb = train_ds[0 * bs: 0 * bs + bs]
    out["ds_slice"] = [list(xb.shape), yb.tolist()]
    train_dl = DataLoader(train_ds, batch_size=bs)  # the tutorial shuffles; kept in order here
    valid_ds = TensorDataset(x_valid, y_valid)
    valid_dl = DataLoader(valid_ds, batch_size=bs * 2)

    model = Mnist_Logistic()
    model.load_state_dict({"lin.weight": torch.tensor(init["lin.weight"]),
                           "lin.bias": torch.tensor(init["lin.bias"])})
    opt = optim.SGD(model.parameters(), lr=lr)
    out["val_losses"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    model.eval()
    with torch.no_grad():
        valid_loss = sum(loss_func(model(xb), yb) for xb, yb in valid_dl)
    out["valid_loss_sum"] = (valid_loss / len(valid_dl)).item()
    return out
