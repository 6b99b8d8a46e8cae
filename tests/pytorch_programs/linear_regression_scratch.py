"""Linear regression from scratch as in Dive into Deep Learning (3.2): a minibatch iterator
over shuffled indices (Python's random, seeded), ``features[batch_indices]``, a linreg and a
squared loss written with tensor operations, and a hand-written minibatch SGD that updates
the parameters under torch.no_grad() and zeroes their gradients with ``param.grad.zero_()``."""

import random

import numpy as np
import torch


def make_init(rng: np.random.Generator) -> dict:
    return {"X": rng.normal(0, 1, (200, 2)).astype(np.float32),
            "noise": rng.normal(0, 0.01, (200,)).astype(np.float32),
            "w": rng.normal(0, 0.01, (2, 1)).astype(np.float32)}


def synthetic_data(w, b, X, noise):
    """Generate y = Xw + b + noise (the draws come from the harness)."""
    y = torch.matmul(X, w) + b
    y += noise
    return X, y.reshape((-1, 1))


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    # The examples are read at random, in no particular order
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


def linreg(X, w, b):
    """The linear regression model."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat, y):
    """Squared loss."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def main(init: dict) -> dict:
    random.seed(0)
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, torch.tensor(init["X"]),
                                      torch.tensor(init["noise"]))

    w = torch.tensor(init["w"], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)

    batch_size = 10
    lr = 0.03
    num_epochs = 3
    net = linreg
    loss = squared_loss
    epoch_losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)  # Minibatch loss in `X` and `y`
            # Compute gradient on `l` with respect to [`w`, `b`]
            l.sum().backward()
            sgd([w, b], lr, batch_size)  # Update parameters using their gradient
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')
            epoch_losses.append(float(train_l.mean()))

    print(f'error in estimating w: {true_w - w.reshape(true_w.shape)}')
    print(f'error in estimating b: {true_b - b}')
    return {"epoch_losses": epoch_losses, "w": w.reshape(true_w.shape).tolist(),
            "b": b.item(), "w_error": (true_w - w.reshape(true_w.shape)).tolist(),
            "labels_shape": list(labels.shape)}
