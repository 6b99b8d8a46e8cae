"""XOR, which no single perceptron can learn, learned by a 2-4-1 network of sigmoid neurons.

Trained the seed's way: weights from a standard normal, biases from zero, the sum of squared
residuals as the loss, and plain gradient descent on the whole data set (step size =
learning rate x slope; new parameter = old parameter - step size) until every step is at
most 0.001.

    python examples/xor_gradient_descent.py
"""

import nerve
from nerve import nn, optim

x = nerve.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
y = nerve.tensor([[0], [1], [1], [0]], dtype="float32")

nerve.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())
for layer in model:
    if isinstance(layer, nn.Linear):
        nn.init.normal_(layer.weight)  # the seed: a standard normal for the weights
        nn.init.zeros_(layer.bias)  # ... and 0 for the biases

loss_fn = nn.SSRLoss()
# XOR needs about 1,150 steps at this rate: more than the seed's default of 1,000.
opt = optim.GradientDescent(model.parameters(), lr=1.0, tolerance=0.001, max_steps=5000)
while not opt.done:
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    if opt.steps % 200 == 0 or opt.done:
        print(f"step {opt.steps:5d}  SSR {loss.item():.5f}  largest step {opt.last_step_size:.5f}")

print("converged" if opt.converged else "stopped at max_steps", f"after {opt.steps} steps")
with nerve.no_grad():
    out = model(x).numpy().ravel()
for inputs, p in zip(x.tolist(), out):
    print(f"XOR{tuple(int(v) for v in inputs)} = {p:.3f} -> {int(p > 0.5)}")
