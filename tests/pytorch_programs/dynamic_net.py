"""A dynamic graph: each forward pass adds a random number (0, 1 or 2) of higher order terms
that reuse the same Parameter e ("Learning PyTorch with Examples": PyTorch: Control Flow +
Weight Sharing). The random choice comes from Python's ``random``, seeded in ``main``."""

import math
import random

import numpy as np
import torch

STEPS = 300  # the tutorial runs 30000


def make_init(rng: np.random.Generator) -> dict:
    return {name: np.asarray(rng.standard_normal(), dtype=np.float32) for name in "abcde"}


class DynamicNet(torch.nn.Module):
    def __init__(self, init):
        """
        In the constructor we instantiate five parameters and assign them as members.
        """
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(init["a"]))
        self.b = torch.nn.Parameter(torch.tensor(init["b"]))
        self.c = torch.nn.Parameter(torch.tensor(init["c"]))
        self.d = torch.nn.Parameter(torch.tensor(init["d"]))
        self.e = torch.nn.Parameter(torch.tensor(init["e"]))

    def forward(self, x):
        """
        For the forward pass of the model, we randomly choose either 4, 5
        and reuse the e parameter to compute the contribution of these orders.

        Since each forward pass builds a dynamic computation graph, we can use normal
        Python control-flow operators like loops or conditional statements when
        defining the forward pass of the model.

        Here we also see that it is perfectly safe to reuse the same parameter many
        times when defining a computational graph.
        """
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        """
        Just like any class in Python, you can also define custom method on PyTorch modules
        """
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


def main(init: dict) -> dict:
    random.seed(0)  # the same sequence of graphs in both runs

    # Create Tensors to hold input and outputs.
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # Construct our model by instantiating the class defined above
    model = DynamicNet(init)

    # Construct our loss function and an Optimizer. Training this strange model with
    # vanilla stochastic gradient descent is tough, so we use momentum
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    losses = []
    for t in range(STEPS):
        # Forward pass: Compute predicted y by passing x to the model
        y_pred = model(x)

        # Compute and print loss
        loss = criterion(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
        losses.append(loss.item())

        # Zero gradients, perform a backward pass, and update the weights.
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f'Result: {model.string()}')
    return {"first_losses": losses[:5], "last_loss": losses[-1], "result": model.string(),
            "e_grad": model.e.grad.item()}
