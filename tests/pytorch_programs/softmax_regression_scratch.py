"""Softmax regression from scratch as in Dive into Deep Learning (3.6) on tiny 8x8 "images":
softmax by exp and a keepdim sum, cross-entropy by fancy indexing
``y_hat[range(len(y_hat)), y]``, an accuracy through ``argmax(axis=1)`` and ``.type(y.dtype)``,
an Accumulator, and minibatch SGD by hand over a DataLoader."""

import numpy as np
import torch
from torch.utils import data


def make_init(rng: np.random.Generator) -> dict:
    templates = rng.uniform(0.0, 1.0, (10, 1, 8, 8))
    labels = np.arange(100) % 10
    images = np.clip(templates[labels] + rng.normal(0.0, 0.3, (100, 1, 8, 8)), 0.0, 1.0)
    return {"images": images.astype(np.float32), "labels": labels.astype(np.int64),
            "W": rng.normal(0, 0.01, (64, 10)).astype(np.float32)}


def softmax(X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition  # The broadcasting mechanism is applied here


def cross_entropy(y_hat, y):
    return - torch.log(y_hat[range(len(y_hat)), y])


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


class Accumulator:
    """For accumulating sums over `n` variables."""
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def main(init: dict) -> dict:
    dataset = data.TensorDataset(torch.tensor(init["images"]), torch.tensor(init["labels"]))
    train_iter = data.DataLoader(dataset, batch_size=25, shuffle=False)

    num_inputs = 64
    num_outputs = 10
    W = torch.tensor(init["W"].reshape(num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    lr = 0.1

    def updater(batch_size):
        return sgd([W, b], lr, batch_size)

    history = []
    for _ in range(5):
        # Sum of training loss, sum of training accuracy, no. of examples
        metric = Accumulator(3)
        for X, y in train_iter:
            # Compute gradients and update parameters
            y_hat = net(X)
            l = cross_entropy(y_hat, y)
            l.sum().backward()
            updater(X.shape[0])
            metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        history.append((metric[0] / metric[2], metric[1] / metric[2]))

    probe = torch.tensor([[0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    return {"history": history, "b": b.tolist(), "W_row0": W[0].tolist(),
            "softmax_rows": softmax(torch.tensor([[1.0, 2.0], [0.5, 0.5]])).sum(1).tolist(),
            "picked": probe[[0, 1], torch.tensor([2, 0])].tolist(),
            "accuracy_probe": accuracy(probe, torch.tensor([2, 1]))}
