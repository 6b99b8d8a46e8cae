"""The training script of pytorch/examples' MNIST, on tiny 8x8 digits and with fully connected
layers instead of convolutions: train()/test() with their log lines, ``data.to(device)``,
F.log_softmax with F.nll_loss (reduction='sum' in test), ``output.argmax(dim=1,
keepdim=True)`` and ``pred.eq(target.view_as(pred)).sum().item()``, Adadelta and StepLR."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Args:
    batch_size = 16
    test_batch_size = 40
    epochs = 3
    lr = 1.0
    gamma = 0.7
    log_interval = 2


def make_init(rng: np.random.Generator) -> dict:
    templates = rng.uniform(0.0, 1.0, (10, 1, 8, 8))
    labels = np.arange(120) % 10
    images = np.clip(templates[labels] + rng.normal(0.0, 0.3, (120, 1, 8, 8)), 0.0, 1.0)
    return {"images": images.astype(np.float32), "labels": labels.astype(np.int64),
            "fc1.weight": rng.uniform(-0.125, 0.125, (32, 64)).astype(np.float32),
            "fc1.bias": rng.uniform(-0.125, 0.125, (32,)).astype(np.float32),
            "fc2.weight": rng.uniform(-0.18, 0.18, (10, 32)).astype(np.float32),
            "fc2.bias": rng.uniform(-0.18, 0.18, (10,)).astype(np.float32)}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(  # noqa: UP032
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            losses.append(loss.item())
    return losses


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(  # noqa: UP032
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct


def main(init: dict) -> dict:
    args = Args()
    torch.manual_seed(1)
    device = torch.device("cpu")

    images, labels = torch.tensor(init["images"]), torch.tensor(init["labels"])
    dataset1 = TensorDataset(images[:80], labels[:80])
    dataset2 = TensorDataset(images[80:], labels[80:])
    train_loader = DataLoader(dataset1, batch_size=args.batch_size)
    test_loader = DataLoader(dataset2, batch_size=args.test_batch_size)

    model = Net().to(device)
    model.load_state_dict({k: torch.tensor(init[k]) for k in model.state_dict()})
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    train_losses, tests = [], []
    for epoch in range(1, args.epochs + 1):
        train_losses += train(args, model, device, train_loader, optimizer, epoch)
        tests.append(test(model, device, test_loader))
        scheduler.step()
    return {"train_losses": train_losses, "test_losses": [loss for loss, _ in tests],
            "correct": [correct for _, correct in tests], "lr": scheduler.get_last_lr()}
