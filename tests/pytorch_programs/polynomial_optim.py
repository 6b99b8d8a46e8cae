"""Fit y = sin(x) with a third order polynomial, an nn model and an optimizer from torch.optim
(RMSprop) taking the steps ("Learning PyTorch with Examples": PyTorch: optim)."""

import math

import numpy as np
import torch

STEPS = 300  # the tutorial runs 2000


def make_init(rng: np.random.Generator) -> dict:
    bound = 1 / math.sqrt(3)
    return {"0.weight": rng.uniform(-bound, bound, (1, 3)).astype(np.float32),
            "0.bias": rng.uniform(-bound, bound, (1,)).astype(np.float32)}


def main(init: dict) -> dict:
    # Create Tensors to hold input and outputs.
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # Prepare the input tensor (x, x^2, x^3).
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    # Use the nn package to define our model and loss function.
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    model.load_state_dict({name: torch.tensor(value) for name, value in init.items()})
    loss_fn = torch.nn.MSELoss(reduction='sum')

    # Use the optim package to define an Optimizer that will update the weights of
    # the model for us. Here we will use RMSprop; the optim package contains many other
    # optimization algorithms. The first argument to the RMSprop constructor tells the
    # optimizer which Tensors it should update.
    learning_rate = 1e-3
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(STEPS):
        # Forward pass: compute predicted y by passing x to the model.
        y_pred = model(xx)

        # Compute and print loss.
        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())

        # Before the backward pass, use the optimizer object to zero all of the
        # gradients for the variables it will update (which are the learnable
        # weights of the model). This is because by default, gradients are
        # accumulated in buffers( i.e, not overwritten) whenever .backward()
        # is called. Checkout docs of torch.autograd.backward for more details.
        optimizer.zero_grad()

        # Backward pass: compute gradient of the loss with respect to model
        # parameters
        loss.backward()

        # Calling the step function on an Optimizer makes an update to its
        # parameters
        optimizer.step()

    linear_layer = model[0]
    result = (f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x'
              f' + {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    print(result)
    optimizer.zero_grad()  # set_to_none=True by default: the grads become None
    return {"losses": losses, "result": result,
            "grads_none_after_zero_grad": [p.grad is None for p in model.parameters()],
            "lr": optimizer.param_groups[0]["lr"],
            "state_keys": sorted(model.state_dict().keys())}
