"""``nerve explain TOPIC``: the arithmetic the seed walks through, computed by nerve itself.

Each topic returns its lines (``explain(topic)``); the command prints them. Every number comes
from nerve's own layers, autograd and optimizers on the seed's examples, never from pasted text.
"""

from __future__ import annotations

import numpy as np

TOPICS = {
    "neuron": "the surfing perceptron: weighted sum, bias, threshold, decision",
    "gradient-descent": "fitting one parameter: slope, step size = learning rate x slope, stop",
    "backprop": "a 2-2-1 network on one example: forward values and chain-rule derivatives",
    "softmax": "raw outputs, softmax probabilities, argmax and cross-entropy",
    "convolution": "a 6x6 image, a 3x3 filter with a bias, ReLU, 2x2 max pooling",
    "rnn": "a short sequence through one recurrent unit, step by step",
}


def explain(topic: str) -> list[str]:
    """The lines of one topic (see ``TOPICS``)."""
    if topic not in TOPICS:
        raise ValueError(f"explain: expected one of {', '.join(TOPICS)}. Received: "
                         f"topic={topic!r}")
    return _TOPIC_FUNCTIONS[topic]()


def _grid(values, indent: str = "    ") -> list[str]:
    return [indent + " ".join(f"{v:6.2f}" for v in row) for row in np.asarray(values)]


def neuron() -> list[str]:
    from nerve import nn

    x, w, threshold = [1, 0, 1], [5, 2, 4], 3
    surf = nn.Perceptron(weights=w, threshold=threshold)
    total = surf.weighted_sum(x)
    out = surf.predict(x)
    terms = " + ".join(f"({a} x {b})" for a, b in zip(x, w))
    return [
        "One neuron (Rosenblatt's perceptron), the seed's surfing decision:",
        "  inputs: waves are big (1), the line-up is not empty (0: the crowds are out), "
        "no shark was seen (1)",
        f"  weights {w}, threshold {threshold} (a bias of -{threshold})",
        f"  weighted sum - threshold = {terms} - {threshold} = {total:g}",
        f"  step activation: {total:g} {'>' if total > 0 else '<='} 0, so the output is {out}: "
        f"{'go surfing' if out else 'stay home'}",
    ]


_GD_X, _GD_Y, _GD_SLOPE = (0.5, 2.3, 2.9), (1.4, 1.9, 3.2), 0.64


def _descent_steps() -> tuple[list[tuple[float, float]], float]:
    """The seed's gradient descent on the intercept, run by nerve's GradientDescent: (intercept
    before, slope) of each step, and the final intercept."""
    import nerve
    from nerve import optim

    x = nerve.tensor(_GD_X, dtype=nerve.float64)
    y = nerve.tensor(_GD_Y, dtype=nerve.float64)
    intercept = nerve.tensor(0.0, dtype=nerve.float64, requires_grad=True)
    opt = optim.GradientDescent([intercept], lr=0.1, tolerance=0.001, max_steps=1000)
    steps = []
    while not opt.converged and len(steps) < 1000:
        ssr = ((y - (intercept + _GD_SLOPE * x)) ** 2).sum()
        opt.zero_grad()
        ssr.backward()
        steps.append((intercept.item(), intercept.grad.item()))
        opt.step()
    return steps, intercept.item()


def gradient_descent() -> list[str]:
    steps, final = _descent_steps()
    lines = ["Fitting the intercept of y = intercept + 0.64 x to three points, (0.5, 1.4),",
             "(2.3, 1.9), (2.9, 3.2), by gradient descent on the sum of squared residuals:",
             "  slope = d SSR / d intercept = sum of -2 (y - (intercept + 0.64 x))",
             "  step size = learning rate (0.1) x slope; new intercept = old - step size",
             "  stop when the step size is at most 0.001, or after 1,000 steps",
             "  step  intercept      slope  step size"]
    for k, (before, grad) in enumerate(steps, start=1):
        if k <= 8 or k == len(steps):
            lines.append(f"  {k:4}  {before:9.4f}  {grad:9.4f}  {0.1 * grad:9.4f}")
        elif k == 9:
            lines.append("   ...")
    lines.append(f"stopped after {len(steps)} steps: the step size {abs(0.1 * steps[-1][1]):.5f} "
                 f"is at most 0.001; intercept = {final:.4f}")
    return lines


def backprop() -> list[str]:
    import nerve
    from nerve import nn

    nerve.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1)).double()
    with nerve.no_grad():
        net[0].weight.copy_(nerve.tensor([[0.5, -1.0], [1.5, 0.8]], dtype=nerve.float64))
        net[0].bias.copy_(nerve.tensor([0.1, -0.2], dtype=nerve.float64))
        net[2].weight.copy_(nerve.tensor([[1.2, -0.7]], dtype=nerve.float64))
        net[2].bias.copy_(nerve.tensor([0.3], dtype=nerve.float64))
    x, target = np.array([0.6, 0.2]), 1.0
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy()[0], net[2].bias.item()
    z = w1 @ x + b1
    h = 1 / (1 + np.exp(-z))
    out = w2 @ h + b2
    loss = (target - out) ** 2
    xt = nerve.tensor(x[None], dtype=nerve.float64)
    ssr = ((net(xt) - target) ** 2).sum()
    ssr.backward()
    lines = ["A 2-2-1 network (sigmoid hidden neurons, linear output) on one example,",
             f"x = {x.tolist()}, target {target}; loss = (target - output)^2",
             "forward:"]
    for j in range(2):
        lines.append(f"  hidden {j + 1}: z = {w1[j, 0]} x {x[0]} + {w1[j, 1]} x {x[1]} + "
                     f"{b1[j]} = {z[j]:.4f}; sigmoid(z) = {h[j]:.4f}")
    lines.append(f"  output = {w2[0]} x {h[0]:.4f} + {w2[1]} x {h[1]:.4f} + {b2} = {out:.4f}; "
                 f"loss = {loss:.4f}")
    lines.append("backward, by the chain rule (dL/d output = -2 (target - output) = "
                 f"{-2 * (target - out):.4f}):")
    lines.append("  weight            chain rule    autograd   finite difference")
    d_out = -2 * (target - out)
    rows = []
    for j in range(2):
        rows.append((f"output w{j + 1}", d_out * h[j], net[2].weight.grad.numpy()[0, j],
                     ("2", 0, j)))
    for j in range(2):
        for k in range(2):
            chain = d_out * w2[j] * h[j] * (1 - h[j]) * x[k]
            rows.append((f"hidden {j + 1} w{k + 1}", chain, net[0].weight.grad.numpy()[j, k],
                         ("0", j, k)))
    for name, chain, auto, (layer, i, k) in rows:
        lines.append(f"  {name:14}  {chain:11.6f}  {auto:10.6f}  "
                     f"{_finite_difference(net, xt, target, layer, i, k):17.6f}")
    return lines


def _finite_difference(net, x, target, layer: str, i: int, k: int, eps: float = 1e-6) -> float:
    import nerve

    weight = net[int(layer)].weight
    values = []
    for sign in (1, -1):
        with nerve.no_grad():
            weight[i, k] += sign * eps
            values.append(((net(x) - target) ** 2).sum().item())
            weight[i, k] -= sign * eps
    return (values[0] - values[1]) / (2 * eps)


def softmax() -> list[str]:
    import nerve
    from nerve import nn

    raw = nerve.tensor([1.43, -0.4, 0.23], dtype=nerve.float64, requires_grad=True)
    names = ["setosa", "versicolor", "virginica"]
    probs = nn.functional.softmax(raw, dim=0)
    p = probs.detach().numpy()
    e = np.exp(raw.detach().numpy())
    loss = nn.functional.cross_entropy(raw[None], nerve.tensor([0]))
    loss.backward()
    choice = int(np.argmax(p))
    lines = ["Raw outputs of a network for three classes (the seed's iris example):"]
    for n, r in zip(names, raw.detach().numpy()):
        lines.append(f"  {n:11} {r:6.2f}")
    lines.append(f"softmax: e^raw / sum of e^raw (sum = {e.sum():.4f}):")
    for n, ei, pi in zip(names, e, p):
        lines.append(f"  {n:11} e^raw = {ei:.4f}  probability = {pi:.4f}")
    lines.append(f"  the probabilities sum to {p.sum():.4f}")
    lines.append(f"argmax picks {names[choice]}; argmax's output does not move when a raw "
                 "value moves a little (its slope is 0), so it cannot train a network")
    lines.append(f"cross-entropy when the true class is {names[0]}: -log({p[0]:.4f}) = "
                 f"{loss.item():.4f}")
    lines.append("its gradient with respect to the raw outputs is probability - 1 for the true "
                 "class, probability for the others: "
                 + ", ".join(f"{g:.4f}" for g in raw.grad.numpy()))
    return lines


_CONV_BIAS = -2.0


def _convolution_maps() -> dict:
    """The 6x6 X, the diagonal filter, and what nerve's Conv2d, ReLU and max pooling make."""
    import nerve
    from nerve import nn

    img = np.zeros((6, 6))
    for i in range(4):  # an X
        img[1 + i, 1 + i] = img[1 + i, 4 - i] = 1
    kernel = np.eye(3)  # a diagonal
    conv = nn.Conv2d(1, 1, 3).double()
    with nerve.no_grad():
        conv.weight.copy_(nerve.tensor(kernel[None, None], dtype=nerve.float64))
        conv.bias.copy_(nerve.tensor([_CONV_BIAS], dtype=nerve.float64))
        fmap = conv(nerve.tensor(img[None, None], dtype=nerve.float64))
        relu = nn.functional.relu(fmap)
        pooled = nn.functional.max_pool2d(relu, 2)
    return {"image": img, "filter": kernel, "feature map": fmap.numpy()[0, 0],
            "after ReLU": relu.numpy()[0, 0], "after pooling": pooled.numpy()[0, 0]}


def convolution() -> list[str]:
    m = _convolution_maps()
    img, kernel, bias = m["image"], m["filter"], _CONV_BIAS
    patch = img[1:4, 1:4]
    terms = " + ".join(f"{a:g}x{b:g}" for a, b in zip(patch.ravel(), kernel.ravel()))
    lines = ["A 6x6 image of an X:"] + _grid(img)
    lines += ["a 3x3 filter (a diagonal) with a bias of -2:"] + _grid(kernel)
    lines.append("overlay at row 1, column 1: " + terms + f" + ({bias:g}) = "
                 f"{(patch * kernel).sum() + bias:g}")
    lines += ["the feature map (every overlay's dot product plus the bias), 4x4:"]
    lines += _grid(m["feature map"])
    lines += ["after ReLU (negative values become 0):"] + _grid(m["after ReLU"])
    lines += ["after 2x2 max pooling (the largest value of each 2x2 block):"]
    lines += _grid(m["after pooling"])
    return lines


_RNN_SEQ, _RNN_W = (0.5, 1.0, -0.5, 0.2), (1.2, 0.5, -0.3)  # inputs; w_x, w_h, b


def _rnn_states() -> list[float]:
    """h_1..h_T of nerve's RNN(1, 1) with the weights of ``_RNN_W`` on ``_RNN_SEQ``."""
    import nerve
    from nerve import nn

    cell = nn.RNN(1, 1).double()
    w_x, w_h, b = _RNN_W
    with nerve.no_grad():
        cell.weight_ih_l0.copy_(nerve.tensor([[w_x]], dtype=nerve.float64))
        cell.weight_hh_l0.copy_(nerve.tensor([[w_h]], dtype=nerve.float64))
        cell.bias_ih_l0.copy_(nerve.tensor([b], dtype=nerve.float64))
        cell.bias_hh_l0.copy_(nerve.tensor([0.0], dtype=nerve.float64))
        out, _ = cell(nerve.tensor(np.array(_RNN_SEQ)[:, None, None], dtype=nerve.float64))
    return out.numpy()[:, 0, 0].tolist()


def rnn() -> list[str]:
    w_x, w_h, b = _RNN_W
    lines = ["One recurrent unit: h_t = tanh(w_x x_t + w_h h_(t-1) + b), with w_x = 1.2, "
             "w_h = 0.5 (the feedback loop), b = -0.3, h_0 = 0:"]
    h = 0.0
    for t, (xv, o) in enumerate(zip(_RNN_SEQ, _rnn_states()), start=1):
        pre = w_x * xv + w_h * h + b
        lines.append(f"  t={t}: tanh({w_x} x {xv} + {w_h} x {h:.4f} + ({b})) = tanh({pre:.4f}) "
                     f"= {o:.4f}")
        h = o
    lines.append("each step reuses the same weights; the state h carries the past forward")
    return lines


_TOPIC_FUNCTIONS = {"neuron": neuron, "gradient-descent": gradient_descent,
                    "backprop": backprop, "softmax": softmax, "convolution": convolution,
                    "rnn": rnn}


# --- pictures (matplotlib, the viz extra) ------------------------------------------------------
PICTURES = ("gradient-descent", "softmax", "convolution", "rnn")


def plot(topic: str, path=None):
    """Draw a topic as a picture (for the topics in ``PICTURES``); return the figure and write
    it to ``path`` (a PNG, atomically) when given."""
    from nerve import viz

    if topic not in PICTURES:
        raise ValueError(f"explain: a picture exists for {', '.join(PICTURES)}. Received: "
                         f"topic={topic!r}")
    path = viz._check_path(path, "explain")
    plt = viz._pyplot()
    fig = plt.figure(figsize=(11, 2.8) if topic == "convolution" else (7, 4))
    with viz._figure_or_nothing(plt, fig):
        _DRAW[topic](fig)
        fig.tight_layout()
        viz._save(fig, path)
    return fig


def _draw_gradient_descent(fig) -> None:
    x, y = np.array(_GD_X), np.array(_GD_Y)
    ssr = (lambda b: ((y - (b + _GD_SLOPE * x)) ** 2).sum())  # noqa: E731
    steps = [before for before, _ in _descent_steps()[0]]
    grid = np.linspace(-0.3, 2.0, 200)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(grid, [ssr(b) for b in grid], color="0.4", label="sum of squared residuals")
    ax.plot(steps, [ssr(b) for b in steps], "o-", color="tab:red", label="gradient descent steps")
    ax.set_xlabel("intercept")
    ax.set_ylabel("sum of squared residuals")
    ax.set_title("gradient descent: step size = 0.1 x slope, until it is at most 0.001")
    ax.legend()


def _draw_softmax(fig) -> None:
    raw = np.array([1.43, -0.4, 0.23])
    p = np.exp(raw) / np.exp(raw).sum()
    names = ["setosa", "versicolor", "virginica"]
    for k, (values, title) in enumerate(((raw, "raw outputs"), (p, "softmax probabilities"))):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.bar(names, values, color=["tab:blue", "tab:orange", "tab:green"])
        for i, v in enumerate(values):
            ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom")
        ax.set_title(title)
        ax.set_ylabel("value" if k == 0 else "probability")
        ax.axhline(0, color="0.5", linewidth=0.8)


def _draw_convolution(fig) -> None:
    titles = {"image": "6x6 image", "filter": "3x3 filter (bias -2)",
              "after pooling": "after 2x2 max pooling"}
    maps = _convolution_maps()
    for k, (name, values) in enumerate(maps.items()):
        ax = fig.add_subplot(1, len(maps), k + 1)
        ax.imshow(values, cmap="RdBu_r", vmin=-2, vmax=2)
        for (i, j), v in np.ndenumerate(values):
            ax.annotate(f"{v:g}", (j, i), ha="center", va="center", fontsize=8)
        ax.set_title(titles.get(name, name), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])


def _draw_rnn(fig) -> None:
    seq, states = _RNN_SEQ, _rnn_states()
    ax = fig.add_subplot(1, 1, 1)
    t = np.arange(1, len(seq) + 1)
    ax.plot(t, seq, "s--", label="input x_t")
    ax.plot(t, states, "o-", label="state h_t = tanh(1.2 x_t + 0.5 h_(t-1) - 0.3)")
    ax.set_xlabel("time step t")
    ax.set_ylabel("value")
    ax.set_xticks(t)
    ax.set_title("one recurrent unit: the state carries the past forward")
    ax.legend()


_DRAW = {"gradient-descent": _draw_gradient_descent, "softmax": _draw_softmax,
         "convolution": _draw_convolution, "rnn": _draw_rnn}
