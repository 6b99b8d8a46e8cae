"""The seed's convolutional network, step by step: is a 6x6 picture an O or an X?

One 3x3 filter with a bias slides over the image; each overlay's dot product plus the bias is
one value of the 4x4 feature map. ReLU makes a new feature map, 2x2 max pooling shrinks it to
2x2, and a small dense layer decides between O and X. The network learns from the two centred
letters only, then meets them shifted by one pixel, left, right, up and down. An MLP trained the
same way on the 36 pixels meets the same shifted letters, for comparison: its inputs are tied to
pixel positions, while the filter is the same at every position and the pooling keeps only the
strongest response of each 2x2 region. (With one filter and two training pictures the CNN's
tolerance is partial; examples/cnn_shifted_mnist.py measures it at scale.)

    python examples/cnn_letters.py
"""

import numpy as np

import nerve
from nerve import nn, optim


def letter(name: str, dx: int = 0, dy: int = 0) -> np.ndarray:
    """A 4x4 letter drawn inside a 6x6 grid of zeros, moved by (dx, dy) pixels."""
    img = np.zeros((6, 6), np.float32)
    if name == "O":
        img[1:5, 1:5] = 1
        img[2:4, 2:4] = 0
    else:  # X: the two diagonals
        for i in range(4):
            img[1 + i, 1 + i] = img[1 + i, 4 - i] = 1
    return np.roll(img, (dy, dx), axis=(0, 1))


def show(title: str, grid) -> None:
    print(title)
    for row in np.asarray(grid):
        print("  " + " ".join(f"{v:5.2f}" for v in row))


def train(model, steps: int = 200) -> float:
    """Adam on the two centred letters; returns the last loss."""
    x = nerve.tensor(np.stack([letter("O"), letter("X")])[:, None])  # (2, 1, 6, 6)
    y = nerve.tensor(np.array([0, 1]))
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def decide(model, image) -> str:
    with nerve.no_grad():
        scores = model(nerve.tensor(image[None, None]))
    return LABELS[int(scores.argmax(axis=1).item())]


LABELS = ["O", "X"]
SHIFTS = [(1, 0), (-1, 0), (0, 1), (0, -1)]
nerve.manual_seed(0)
conv = nn.Conv2d(1, 1, 3)  # one 3x3 filter and its bias
model = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2))
print(f"CNN trained on the centred O and X: loss {train(model):.4f} after 200 steps\n")

show("the learned filter (3x3 weights)", conv.weight.detach().numpy()[0, 0])
print(f"and its bias: {conv.bias.item():.2f}\n")

image = letter("X")
show("the X (6x6 input)", image)
with nerve.no_grad():
    feature = conv(nerve.tensor(image[None, None]))
    relu = nn.functional.relu(feature)
    pooled = nn.functional.max_pool2d(relu, 2)
show("feature map: filter overlaid on each 3x3 patch, dot product + bias (4x4)",
     feature.numpy()[0, 0])
show("after ReLU", relu.numpy()[0, 0])
show("after 2x2 max pooling: the dense layer's 4 inputs", pooled.numpy()[0, 0])
print()

for name in LABELS:
    print(f"{name} centred -> {decide(model, letter(name))}")
cnn_right = 0
for name in LABELS:
    for dx, dy in SHIFTS:
        decided = decide(model, letter(name, dx, dy))
        cnn_right += decided == name
        print(f"{name} shifted by ({dx:+d}, {dy:+d}) -> {decided}")

nerve.manual_seed(0)
mlp = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
train(mlp)
mlp_right = sum(decide(mlp, letter(name, dx, dy)) == name for name in LABELS
                for dx, dy in SHIFTS)
total = len(LABELS) * len(SHIFTS)
print(f"\nshifted letters right: CNN {cnn_right} of {total}, MLP {mlp_right} of {total}")
