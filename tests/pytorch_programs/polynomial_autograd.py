"""Fit y = sin(x) with a third order polynomial, letting autograd compute the backward pass
("Learning PyTorch with Examples": PyTorch: Tensors and autograd)."""

import math

import numpy as np
import torch

STEPS = 300  # the tutorial runs 2000


def make_init(rng: np.random.Generator) -> dict:
    return {name: np.asarray(rng.standard_normal(), dtype=np.float32) for name in "abcd"}


def main(init: dict) -> dict:
    dtype = torch.float
    device = "cpu"

    # Create Tensors to hold input and outputs.
    # By default, requires_grad=False, which indicates that we do not need to
    # compute gradients with respect to these Tensors during the backward pass.
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype, device=device)
    y = torch.sin(x)

    # Create Tensors for weights. Setting requires_grad=True indicates that we want to
    # compute gradients with respect to these Tensors during the backward pass.
    a = torch.tensor(init["a"], dtype=dtype, device=device, requires_grad=True)
    b = torch.tensor(init["b"], dtype=dtype, device=device, requires_grad=True)
    c = torch.tensor(init["c"], dtype=dtype, device=device, requires_grad=True)
    d = torch.tensor(init["d"], dtype=dtype, device=device, requires_grad=True)

    losses, first_grads = [], None
    learning_rate = 1e-6
    for t in range(STEPS):
        # Forward pass: compute predicted y using operations on Tensors.
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        # Compute and print loss using operations on Tensors.
        # Now loss is a Tensor of shape (1,)
        # loss.item() gets the scalar value held in the loss.
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())

        # Use autograd to compute the backward pass.
        loss.backward()
        if first_grads is None:
            first_grads = [a.grad.item(), b.grad.item(), c.grad.item(), d.grad.item()]

        # Manually update weights using gradient descent. Wrap in torch.no_grad()
        # because weights have requires_grad=True, but we don't need to track this
        # in autograd.
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            # Manually zero the gradients after updating weights
            a.grad = None
            b.grad = None
            c.grad.zero_()
            d.grad.zero_()

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    return {"losses": losses, "first_grads": first_grads,
            "coefficients": [a.item(), b.item(), c.item(), d.item()],
            "still_leaves": [a.is_leaf, b.is_leaf, c.requires_grad, d.requires_grad],
            "grads_after": [a.grad is None, b.grad is None, c.grad.item(), d.grad.item()]}
