"""A small multi-layer perceptron classifies three Gaussian blobs: TensorDataset, DataLoader,
CrossEntropyLoss, SGD with momentum, then the accuracy as in the CIFAR-10 tutorial
("Training a Classifier": ``_, predicted = torch.max(outputs.data, 1)``)."""

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


def make_init(rng: np.random.Generator) -> dict:
    centers = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    labels = np.arange(96) % 3
    features = centers[labels] + rng.normal(0.0, 0.9, (96, 2))
    return {"features": features.astype(np.float32), "labels": labels.astype(np.int64),
            "0.weight": rng.uniform(-0.7, 0.7, (16, 2)).astype(np.float32),
            "0.bias": rng.uniform(-0.7, 0.7, (16,)).astype(np.float32),
            "2.weight": rng.uniform(-0.25, 0.25, (3, 16)).astype(np.float32),
            "2.bias": rng.uniform(-0.25, 0.25, (3,)).astype(np.float32)}


def main(init: dict) -> dict:
    features = torch.tensor(init["features"])
    labels = torch.tensor(init["labels"])
    dataset = TensorDataset(features, labels)
    trainloader = DataLoader(dataset, batch_size=16, shuffle=False)

    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    net.load_state_dict({name: torch.tensor(init[name]) for name in net.state_dict()})

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)

    epoch_losses = []
    for epoch in range(5):  # loop over the dataset multiple times
        running_loss = 0.0
        for data in trainloader:
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
        print(f'[{epoch + 1}] loss: {running_loss / len(trainloader):.3f}')
        epoch_losses.append(running_loss / len(trainloader))

    print('Finished Training')

    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in trainloader:
            images, labels = data
            # calculate outputs by running images through the network
            outputs = net(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    accuracy = 100 * correct // total
    print(f'Accuracy of the network on the {total} train points: {accuracy} %')
    return {"epoch_losses": epoch_losses, "correct": correct, "total": total,
            "accuracy": accuracy, "batches": len(trainloader), "samples": len(trainloader.dataset),
            "last_batch": list(images.shape), "predicted_dtype_long": predicted.dtype == torch.long}
