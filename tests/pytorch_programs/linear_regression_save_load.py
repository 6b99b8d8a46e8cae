"""Linear regression on fifteen points (yunjey/pytorch-tutorial, "linear_regression"): NumPy
data through torch.from_numpy, nn.Linear, MSELoss, SGD; then ``torch.save(model.state_dict(),
path)`` and a fresh model restored with ``load_state_dict(torch.load(path))``."""

import os
import tempfile

import numpy as np
import torch
import torch.nn as nn

# Hyper-parameters
input_size = 1
output_size = 1
num_epochs = 60
learning_rate = 0.001

# Toy dataset
x_train = np.array([[3.3], [4.4], [5.5], [6.71], [6.93], [4.168],
                    [9.779], [6.182], [7.59], [2.167], [7.042],
                    [10.791], [5.313], [7.997], [3.1]], dtype=np.float32)

y_train = np.array([[1.7], [2.76], [2.09], [3.19], [1.694], [1.573],
                    [3.366], [2.596], [2.53], [1.221], [2.827],
                    [3.465], [1.65], [2.904], [1.3]], dtype=np.float32)


def make_init(rng: np.random.Generator) -> dict:
    return {"weight": rng.uniform(-1, 1, (1, 1)).astype(np.float32),
            "bias": rng.uniform(-1, 1, (1,)).astype(np.float32)}


def main(init: dict) -> dict:
    # Linear regression model
    model = nn.Linear(input_size, output_size)
    model.weight.data = torch.tensor(init["weight"])
    model.bias.data = torch.tensor(init["bias"])

    # Loss and optimizer
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

    # Train the model
    losses = []
    for epoch in range(num_epochs):
        # Convert numpy arrays to torch tensors
        inputs = torch.from_numpy(x_train)
        targets = torch.from_numpy(y_train)

        # Forward pass
        outputs = model(inputs)
        loss = criterion(outputs, targets)

        # Backward and optimize
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        if (epoch + 1) % 5 == 0:
            print(f'Epoch [{epoch + 1}/{num_epochs}], Loss: {loss.item():.4f}')
            losses.append(loss.item())

    # Plot the graph (here: keep the predictions)
    predicted = model(torch.from_numpy(x_train)).detach().numpy()

    # Save the model checkpoint, then restore it into a fresh model
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'model.ckpt')
        torch.save(model.state_dict(), path)
        restored = nn.Linear(input_size, output_size)
        restored.load_state_dict(torch.load(path))
    restored.eval()
    with torch.no_grad():
        reloaded = restored(torch.from_numpy(x_train)).numpy()

    return {"losses": losses, "weight": model.weight.item(), "bias": model.bias.item(),
            "predicted": predicted.ravel().tolist(),
            "predicted_is_ndarray": isinstance(predicted, np.ndarray),
            "predicted_dtype": str(predicted.dtype),
            "reloaded_equal": bool(np.array_equal(predicted, reloaded)),
            "x_train_untouched": float(x_train.sum())}
