"""Fit y = sin(x) with a third order polynomial, computing the forward pass, the loss and the
backward pass by hand on tensors ("Learning PyTorch with Examples": PyTorch: Tensors)."""

import math

import numpy as np
import torch

STEPS = 300  # the tutorial runs 2000; 300 keep the run short and show the same descent


def make_init(rng: np.random.Generator) -> dict:
    return {name: np.asarray(rng.standard_normal(), dtype=np.float32) for name in "abcd"}


def main(init: dict) -> dict:
    dtype = torch.float
    device = torch.device("cpu")

    # Create random input and output data
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # Randomly initialize weights (here: the harness's random numbers, the same in both runs)
    a = torch.tensor(init["a"], device=device, dtype=dtype)
    b = torch.tensor(init["b"], device=device, dtype=dtype)
    c = torch.tensor(init["c"], device=device, dtype=dtype)
    d = torch.tensor(init["d"], device=device, dtype=dtype)

    losses = []
    learning_rate = 1e-6
    for t in range(STEPS):
        # Forward pass: compute predicted y
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            print(t, loss)
            losses.append(loss)

        # Backprop to compute gradients of a, b, c, d with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()

        # Update weights using gradient descent
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d

    result = f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3'
    print(result)
    return {"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()],
            "result": result, "x_is_float32": x.dtype == torch.float32,
            "a_is_scalar": a.dim() == 0}
