"""The training function of the transfer-learning tutorial around a small "pretrained" body:
the body frozen with ``param.requires_grad = False``, a new head assigned as ``model.fc``,
an optimizer over the head's parameters only, the train/val phases with
``torch.set_grad_enabled(phase == 'train')``, ``torch.sum(preds == labels.data)``,
``running_corrects.double() / dataset_sizes[phase]``, StepLR, and the best weights kept with
copy.deepcopy and loaded back."""

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset


def make_init(rng: np.random.Generator) -> dict:
    x = rng.normal(0, 1, (64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    return {"x": x, "y": y,
            "body.0.weight": rng.uniform(-0.4, 0.4, (12, 6)).astype(np.float32),
            "body.0.bias": rng.uniform(-0.4, 0.4, (12,)).astype(np.float32),
            "fc.weight": rng.uniform(-0.3, 0.3, (4, 12)).astype(np.float32),
            "fc.bias": rng.uniform(-0.3, 0.3, (4,)).astype(np.float32),
            "new_fc.weight": rng.uniform(-0.3, 0.3, (2, 12)).astype(np.float32),
            "new_fc.bias": rng.uniform(-0.3, 0.3, (2,)).astype(np.float32)}


class Pretrained(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 12), nn.ReLU())
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        return self.fc(self.body(x))


def train_model(model, criterion, optimizer, scheduler, dataloaders, dataset_sizes,
                num_epochs=25):
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0
    history = []

    for epoch in range(num_epochs):
        print(f'Epoch {epoch}/{num_epochs - 1}')
        print('-' * 10)

        # Each epoch has a training and validation phase
        for phase in ['train', 'val']:
            if phase == 'train':
                model.train()  # Set model to training mode
            else:
                model.eval()   # Set model to evaluate mode

            running_loss = 0.0
            running_corrects = 0

            # Iterate over data.
            for inputs, labels in dataloaders[phase]:
                # zero the parameter gradients
                optimizer.zero_grad()

                # forward
                # track history if only in train
                with torch.set_grad_enabled(phase == 'train'):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)

                    # backward + optimize only if in training phase
                    if phase == 'train':
                        loss.backward()
                        optimizer.step()

                # statistics
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            if phase == 'train':
                scheduler.step()

            epoch_loss = running_loss / dataset_sizes[phase]
            epoch_acc = running_corrects.double() / dataset_sizes[phase]

            print(f'{phase} Loss: {epoch_loss:.4f} Acc: {epoch_acc:.4f}')
            history.append([epoch_loss, epoch_acc.item()])

            # deep copy the model
            if phase == 'val' and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())

    # load best model weights
    model.load_state_dict(best_model_wts)
    return model, history, float(best_acc)


def main(init: dict) -> dict:
    x, y = torch.tensor(init["x"]), torch.tensor(init["y"])
    image_datasets = {'train': TensorDataset(x[:48], y[:48]), 'val': TensorDataset(x[48:], y[48:])}
    dataloaders = {phase: DataLoader(image_datasets[phase], batch_size=8)
                   for phase in ['train', 'val']}
    dataset_sizes = {phase: len(image_datasets[phase]) for phase in ['train', 'val']}

    model_conv = Pretrained()
    model_conv.load_state_dict({k: torch.tensor(init[k]) for k in model_conv.state_dict()})
    body_before = model_conv.body[0].weight.clone()
    for param in model_conv.parameters():
        param.requires_grad = False

    # Parameters of newly constructed modules have requires_grad=True by default
    num_ftrs = model_conv.fc.in_features
    model_conv.fc = nn.Linear(num_ftrs, 2)
    model_conv.fc.weight.data.copy_(torch.tensor(init["new_fc.weight"]))
    model_conv.fc.bias.data.copy_(torch.tensor(init["new_fc.bias"]))

    criterion = nn.CrossEntropyLoss()

    # Observe that only parameters of final layer are being optimized as
    # opposed to before.
    optimizer_conv = optim.SGD(model_conv.fc.parameters(), lr=0.1, momentum=0.9)

    # Decay LR by a factor of 0.1 every 7 epochs
    exp_lr_scheduler = lr_scheduler.StepLR(optimizer_conv, step_size=7, gamma=0.1)

    model_conv, history, best_acc = train_model(model_conv, criterion, optimizer_conv,
                                                exp_lr_scheduler, dataloaders, dataset_sizes,
                                                num_epochs=10)
    return {"history": history[::3], "best_acc": best_acc,
            "body_unchanged": torch.equal(model_conv.body[0].weight, body_before),
            "body_grad_is_none": model_conv.body[0].weight.grad is None,
            "trainable": [n for n, p in model_conv.named_parameters() if p.requires_grad],
            "fc_weight": model_conv.fc.weight.tolist()}
