"""XOR with a two-layer sigmoid network, weights set through ``model.apply(init_weights)``
(the weights copied in with ``.data.copy_``, the biases by ``m.bias.data.fill_(0.01)``),
BCELoss on sigmoid outputs, plain SGD, and the usual parameter count."""

import numpy as np
import torch
import torch.nn as nn


def make_init(rng: np.random.Generator) -> dict:
    return {"hidden": rng.normal(0.0, 1.0, (4, 2)).astype(np.float32),
            "output": rng.normal(0.0, 1.0, (1, 4)).astype(np.float32)}


def main(init: dict) -> dict:
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)

    model = nn.Sequential(
        nn.Linear(2, 4),
        nn.Sigmoid(),
        nn.Linear(4, 1),
        nn.Sigmoid(),
    )
    weights = iter([init["hidden"], init["output"]])

    def init_weights(m):
        if isinstance(m, nn.Linear):
            m.weight.data.copy_(torch.from_numpy(next(weights)))
            m.bias.data.fill_(0.01)

    model.apply(init_weights)
    total_params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    loss_func = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

    losses = []
    for epoch in range(300):
        y_hat = model(X)
        loss = loss_func(y_hat, Y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 50 == 0:
            losses.append(loss.item())

    with torch.no_grad():
        outputs = model(X)
    predictions = outputs.round()
    return {"total_params": total_params, "losses": losses, "outputs": outputs.squeeze().tolist(),
            "predictions": predictions.view(-1).tolist(),
            "named": [name for name, _ in model.named_parameters()],
            "bias0": model[0].bias.tolist()}
