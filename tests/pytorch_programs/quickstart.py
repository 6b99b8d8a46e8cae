"""The Learn the Basics quickstart on a tiny synthetic image set (8x8 "images" of ten
classes): a custom Dataset, DataLoader, a NeuralNetwork Module with nn.Flatten and
nn.Sequential, the train/test functions of the tutorial, saving and reloading with
``torch.load(..., weights_only=True)`` and a prediction through ``classes[pred[0].argmax(0)]``."""

import os
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def make_init(rng: np.random.Generator) -> dict:
    templates = rng.uniform(0.0, 1.0, (10, 1, 8, 8))
    labels = np.arange(80) % 10
    images = np.clip(templates[labels] + rng.normal(0.0, 0.2, (80, 1, 8, 8)), 0.0, 1.0)
    init = {"images": images.astype(np.float32), "labels": labels.astype(np.int64)}
    for i, (n_in, n_out) in zip((0, 2, 4), ((64, 32), (32, 32), (32, 10))):
        bound = 1 / np.sqrt(n_in)
        init[f"linear_relu_stack.{i}.weight"] = rng.uniform(
            -bound, bound, (n_out, n_in)).astype(np.float32)
        init[f"linear_relu_stack.{i}.bias"] = rng.uniform(
            -bound, bound, (n_out,)).astype(np.float32)
    return init


class TinyImages(Dataset):
    def __init__(self, images, labels, transform=None):
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = torch.from_numpy(self.images[idx])
        label = int(self.labels[idx])
        if self.transform:
            image = self.transform(image)
        return image, label


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 32),
            nn.ReLU(),
            nn.Linear(32, 32),
            nn.ReLU(),
            nn.Linear(32, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def train(dataloader, model, loss_fn, optimizer, device):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 2 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn, device):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


def main(init: dict) -> dict:
    training_data = TinyImages(init["images"][:60], init["labels"][:60])
    test_data = TinyImages(init["images"][60:], init["labels"][60:])

    batch_size = 16

    # Create data loaders.
    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)

    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        first_batch = {"X": list(X.shape), "y": list(y.shape), "y_long": y.dtype == torch.int64}
        break

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"Using {device} device")

    model = NeuralNetwork().to(device)
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    print(model)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)

    epochs = 5
    results = []
    for t in range(epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train(train_dataloader, model, loss_fn, optimizer, device)
        results.append(test(test_dataloader, model, loss_fn, device))
    print("Done!")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pth")
        torch.save(model.state_dict(), path)
        print("Saved PyTorch Model State to model.pth")
        model = NeuralNetwork().to(device)
        model.load_state_dict(torch.load(path, weights_only=True))

    model.eval()
    x, y = test_data[0][0], test_data[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model(x)
        predicted, actual = classes[pred[0].argmax(0)], classes[y]
        print(f'Predicted: "{predicted}", Actual: "{actual}"')

    return {"first_batch": first_batch, "test_losses": [loss for loss, _ in results],
            "test_accuracies": [acc for _, acc in results], "predicted": predicted,
            "actual": actual, "logits": pred[0].tolist()}
