"""The "Build the Neural Network" page of Learn the Basics: a NeuralNetwork Module, its
printed structure, nn.Softmax(dim=1) on the logits and argmax, the model layers one by one
(nn.Flatten, nn.Linear(in_features=..., out_features=...), nn.ReLU, nn.Sequential), and the
named parameters with their sizes."""

import numpy as np
import torch
from torch import nn


def make_init(rng: np.random.Generator) -> dict:
    init = {"X": rng.uniform(0, 1, (1, 8, 8)).astype(np.float32),
            "input_image": rng.uniform(0, 1, (3, 8, 8)).astype(np.float32),
            "layer1.weight": rng.uniform(-0.125, 0.125, (20, 64)).astype(np.float32),
            "layer1.bias": rng.uniform(-0.125, 0.125, (20,)).astype(np.float32),
            "layer2.weight": rng.uniform(-0.2, 0.2, (10, 20)).astype(np.float32),
            "layer2.bias": rng.uniform(-0.2, 0.2, (10,)).astype(np.float32)}
    for i, (n_in, n_out) in zip((0, 2, 4), ((64, 32), (32, 32), (32, 10))):
        bound = 1 / np.sqrt(n_in)
        init[f"linear_relu_stack.{i}.weight"] = rng.uniform(
            -bound, bound, (n_out, n_in)).astype(np.float32)
        init[f"linear_relu_stack.{i}.bias"] = rng.uniform(
            -bound, bound, (n_out,)).astype(np.float32)
    return init


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 32),
            nn.ReLU(),
            nn.Linear(32, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def main(init: dict) -> dict:
    out = {}
    device = "cpu"
    model = NeuralNetwork().to(device)
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    print(model)
    out["model"] = str(model)

    X = torch.tensor(init["X"], device=device)
    logits = model(X)
    pred_probab = nn.Softmax(dim=1)(logits)
    y_pred = pred_probab.argmax(1)
    print(f"Predicted class: {y_pred}")
    out["logits"] = logits.tolist()
    out["y_pred"] = y_pred.tolist()

    input_image = torch.tensor(init["input_image"])
    print(input_image.size())
    flatten = nn.Flatten()
    flat_image = flatten(input_image)
    out["flat_image"] = list(flat_image.size())

    layer1 = nn.Linear(in_features=8 * 8, out_features=20)
    layer1.weight.data = torch.tensor(init["layer1.weight"])
    layer1.bias.data = torch.tensor(init["layer1.bias"])
    hidden1 = layer1(flat_image)
    out["hidden1"] = list(hidden1.size())
    hidden1 = nn.ReLU()(hidden1)
    out["relu_zeros"] = int((hidden1 == 0).sum())

    layer2 = nn.Linear(20, 10)
    layer2.load_state_dict({"weight": torch.tensor(init["layer2.weight"]),
                            "bias": torch.tensor(init["layer2.bias"])})
    seq_modules = nn.Sequential(
        flatten,
        layer1,
        nn.ReLU(),
        layer2,
    )
    logits = seq_modules(input_image)
    softmax = nn.Softmax(dim=1)
    pred_probab = softmax(logits)
    out["seq_modules"] = str(seq_modules)
    out["pred_probab"] = pred_probab.tolist()

    out["parameters"] = []
    for name, param in model.named_parameters():
        print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2]} \n")
        out["parameters"].append([name, list(param.size()), param[:2].sum().item()])
    return out
