"""Fit y = sin(x) with a custom nn.Module whose four coefficients are Parameters
("Learning PyTorch with Examples": PyTorch: Custom nn Modules)."""

import math

import numpy as np
import torch

STEPS = 300  # the tutorial runs 2000


def make_init(rng: np.random.Generator) -> dict:
    return {name: np.asarray(rng.standard_normal(), dtype=np.float32) for name in "abcd"}


class Polynomial3(torch.nn.Module):
    def __init__(self, init):
        """
        In the constructor we instantiate four parameters and assign them as
        member parameters. (The tutorial draws them with torch.randn(()); here they come
        from the harness so that both libraries start from the same point.)
        """
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(init["a"]))
        self.b = torch.nn.Parameter(torch.tensor(init["b"]))
        self.c = torch.nn.Parameter(torch.tensor(init["c"]))
        self.d = torch.nn.Parameter(torch.tensor(init["d"]))

    def forward(self, x):
        """
        In the forward function we accept a Tensor of input data and we must return
        a Tensor of output data. We can use Modules defined in the constructor as
        well as arbitrary operators on Tensors.
        """
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        """
        Just like any class in Python, you can also define custom method on PyTorch modules
        """
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3')


def main(init: dict) -> dict:
    # Create Tensors to hold input and outputs.
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # Construct our model by instantiating the class defined above
    model = Polynomial3(init)

    # Construct our loss function and an Optimizer. The call to model.parameters()
    # in the SGD constructor will contain the learnable parameters (defined
    # with torch.nn.Parameter) which are members of the model.
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
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
    return {"losses": losses, "result": model.string(),
            "parameter_names": [name for name, _ in model.named_parameters()],
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "a_is_parameter": isinstance(model.a, torch.nn.Parameter),
            "a_requires_grad": model.a.requires_grad}
