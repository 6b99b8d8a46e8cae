"""Parity with PyTorch: a nerve model and its torch twin given the same state_dict produce the
same outputs and the same gradients, for the input and for every parameter, on one batch.

Each case builds the layers in both libraries, copies torch's weights into nerve with
``load_state_dict({k: v.detach().numpy()})``, runs forward (a loss or the logits with a fixed
upstream gradient), then backward, and compares in float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def close(got, expected, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    expected = np.asarray(expected)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))  # atol relative to the magnitude
    assert got is not None, f"{what}: no gradient"
    assert np.shape(got) == expected.shape, f"{what}: shape {np.shape(got)} != {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def twins(*pairs) -> tuple[nn.Sequential, tnn.Sequential]:
    """A nerve Sequential and a torch Sequential from (nerve layer, torch layer) pairs, with
    torch's initial weights copied into nerve."""
    torch.manual_seed(0)
    ours, ref = nn.Sequential(*[a for a, _ in pairs]), tnn.Sequential(*[b for _, b in pairs])
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    return ours, ref


def check(record_op, name, ours, ref, x, forward=None, rtol=1e-5, atol=1e-6) -> None:
    """Forward both models on x (through ``forward(model, x, lib)`` if given), then backward
    (a fixed upstream gradient for a non-scalar output) and compare everything."""
    forward = forward or (lambda model, inp, lib: model(inp))
    xn = nerve.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, expected = forward(ours, xn, nerve), forward(ref, xt, torch)
    assert out.dtype == np.float32 and expected.dtype == torch.float32
    close(out.detach().numpy(), expected.detach().numpy(), f"{name}: output", rtol, atol)
    upstream = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    close(xn.grad, xt.grad.detach().numpy(), f"{name}: input gradient", rtol, atol)
    ref_params = dict(ref.named_parameters())
    assert [k for k, _ in ours.named_parameters()] == list(ref_params)
    for key, p in ours.named_parameters():
        close(p.grad, ref_params[key].grad.detach().numpy(), f"{name}: gradient of {key}", rtol,
              atol)
    record_op("parity", name)


def batch(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- layers and activations ------------------------------------------------------------------
def test_parity_linear(record_op):
    check(record_op, "nn.Linear", *twins((nn.Linear(5, 3), tnn.Linear(5, 3))), batch((4, 5)))


def test_parity_linear_no_bias_3d_input(record_op):
    ours, ref = twins((nn.Linear(5, 3, bias=False), tnn.Linear(5, 3, bias=False)))
    check(record_op, "nn.Linear(bias=False)", ours, ref, batch((2, 4, 5)))


def test_parity_linear_state_dict_roundtrip():
    ours, ref = twins((nn.Linear(4, 8), tnn.Linear(4, 8)), (nn.ReLU(), tnn.ReLU()),
                      (nn.Linear(8, 3), tnn.Linear(8, 3)))
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.detach().numpy())


ACTIVATIONS = {
    "Sigmoid": (nn.Sigmoid, tnn.Sigmoid, {}),
    "ReLU": (nn.ReLU, tnn.ReLU, {}),
    "Softplus": (nn.Softplus, tnn.Softplus, {}),
    "Softplus(beta=2,threshold=1)": (nn.Softplus, tnn.Softplus, {"beta": 2.0, "threshold": 1.0}),
    "Tanh": (nn.Tanh, tnn.Tanh, {}),
    "LeakyReLU": (nn.LeakyReLU, tnn.LeakyReLU, {}),
    "LeakyReLU(0.2)": (nn.LeakyReLU, tnn.LeakyReLU, {"negative_slope": 0.2}),
    "Softmax(dim=1)": (nn.Softmax, tnn.Softmax, {"dim": 1}),
    "LogSoftmax(dim=1)": (nn.LogSoftmax, tnn.LogSoftmax, {"dim": 1}),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_parity_mlp_activation(record_op, name):
    ours_cls, ref_cls, kwargs = ACTIVATIONS[name]
    ours, ref = twins((nn.Linear(5, 8), tnn.Linear(5, 8)), (ours_cls(**kwargs), ref_cls(**kwargs)),
                      (nn.Linear(8, 3), tnn.Linear(8, 3)))
    check(record_op, f"nn.{name}", ours, ref, 2 * batch((6, 5)))


def test_parity_mlp_every_activation(record_op):
    pairs = [(nn.Flatten(), tnn.Flatten())]
    width = 6
    for ours_cls, ref_cls, kwargs in ACTIVATIONS.values():
        pairs += [(nn.Linear(width, 7), tnn.Linear(width, 7)),
                  (ours_cls(**kwargs), ref_cls(**kwargs))]
        width = 7
    pairs += [(nn.Dropout(0.5), tnn.Dropout(0.5)), (nn.Identity(), tnn.Identity()),
              (nn.Linear(7, 3), tnn.Linear(7, 3))]
    ours, ref = twins(*pairs)
    ours.eval(), ref.eval()
    check(record_op, "MLP(every activation)", ours, ref, 2 * batch((4, 2, 3)))


def test_parity_softmax_dim0(record_op):
    ours, ref = twins((nn.Linear(4, 3), tnn.Linear(4, 3)), (nn.Softmax(0), tnn.Softmax(0)))
    check(record_op, "nn.Softmax(dim=0)", ours, ref, batch((5, 4)))


# --- losses ----------------------------------------------------------------------------------
def _indices(shape, n_cls, seed=2):
    return np.random.default_rng(seed).integers(0, n_cls, size=shape)


def _probs(shape, seed=2):
    p = np.random.default_rng(seed).uniform(0.05, 1.0, size=shape)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def _unit(shape, seed=2):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)


def _t(a):
    return torch.from_numpy(a) if isinstance(a, np.ndarray) else a


# name: (nerve loss, torch loss, last nerve/torch layers or None, target, output layout)
LOSSES = {}
for r in ("mean", "sum", "none"):
    LOSSES[f"MSELoss({r})"] = (nn.MSELoss(reduction=r), tnn.MSELoss(reduction=r), None,
                               batch((6, 3), 5))
    LOSSES[f"L1Loss({r})"] = (nn.L1Loss(reduction=r), tnn.L1Loss(reduction=r), None,
                              batch((6, 3), 5))
    LOSSES[f"CrossEntropyLoss(indices,{r})"] = (
        nn.CrossEntropyLoss(reduction=r), tnn.CrossEntropyLoss(reduction=r), None,
        _indices((6,), 3))
    LOSSES[f"CrossEntropyLoss(probabilities,{r})"] = (
        nn.CrossEntropyLoss(reduction=r), tnn.CrossEntropyLoss(reduction=r), None,
        _probs((6, 3)))
    LOSSES[f"NLLLoss({r})"] = (nn.NLLLoss(reduction=r), tnn.NLLLoss(reduction=r),
                               (nn.LogSoftmax(dim=1), tnn.LogSoftmax(dim=1)), _indices((6,), 3))
    LOSSES[f"BCELoss({r})"] = (nn.BCELoss(reduction=r), tnn.BCELoss(reduction=r),
                               (nn.Sigmoid(), tnn.Sigmoid()), _unit((6, 3)))
    LOSSES[f"BCEWithLogitsLoss({r})"] = (
        nn.BCEWithLogitsLoss(reduction=r), tnn.BCEWithLogitsLoss(reduction=r), None,
        _unit((6, 3)))
LOSSES["SSRLoss=MSELoss(sum)"] = (nn.SSRLoss(), tnn.MSELoss(reduction="sum"), None,
                                  batch((6, 3), 5))


@pytest.mark.parametrize("name", LOSSES)
def test_parity_loss(record_op, name):
    ours_loss, ref_loss, last, target = LOSSES[name]
    pairs = [(nn.Linear(4, 3), tnn.Linear(4, 3))] + ([last] if last else [])
    ours, ref = twins(*pairs)

    def forward(model, x, lib):
        loss = ours_loss if lib is nerve else ref_loss
        return loss(model(x), target if lib is nerve else _t(target))

    check(record_op, name, ours, ref, 2 * batch((6, 4)), forward)


SPATIAL = {  # (N, C, d1, d2) logits from a Linear over the last axis, moved to axis 1
    "indices": _indices((2, 3, 5), 4), "probabilities": _probs((2, 4, 3, 5)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", SPATIAL)
def test_parity_cross_entropy_spatial(record_op, kind, reduction):
    ours, ref = twins((nn.Linear(6, 4), tnn.Linear(6, 4)))
    target = SPATIAL[kind]

    def forward(model, x, lib):
        logits = model(x).permute(0, 3, 1, 2)  # (N, d1, d2, C) -> (N, C, d1, d2)
        if lib is nerve:
            return nn.CrossEntropyLoss(reduction=reduction)(logits, target)
        return tnn.CrossEntropyLoss(reduction=reduction)(logits, _t(target))

    check(record_op, f"CrossEntropyLoss(spatial {kind},{reduction})", ours, ref,
          batch((2, 3, 5, 6)), forward)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_parity_nll_spatial(record_op, reduction):
    ours, ref = twins((nn.Linear(6, 4), tnn.Linear(6, 4)))
    target = _indices((2, 5), 4)

    def forward(model, x, lib):
        logp = (nn.LogSoftmax(dim=1) if lib is nerve else tnn.LogSoftmax(dim=1))(
            model(x).transpose(1, 2))
        if lib is nerve:
            return nn.NLLLoss(reduction=reduction)(logp, target)
        return tnn.NLLLoss(reduction=reduction)(logp, _t(target))

    check(record_op, f"NLLLoss(spatial,{reduction})", ours, ref, batch((2, 5, 6)), forward)


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_parity_cross_entropy_huge_logits(record_op, scale):
    ours, ref = twins((nn.Identity(), tnn.Identity()))
    x = (batch((4, 5)) * scale).astype(np.float32)
    target = _indices((4,), 5)

    def forward(model, inp, lib):
        if lib is nerve:
            return nn.CrossEntropyLoss()(model(inp), target)
        return tnn.CrossEntropyLoss()(model(inp), _t(target))

    check(record_op, f"CrossEntropyLoss(logits x{scale:g})", ours, ref, x, forward)


def test_parity_bce_with_logits_extreme(record_op):
    ours, ref = twins((nn.Identity(), tnn.Identity()))
    x = np.array([[100.0, -100.0, 30.0, -30.0]], np.float32)
    target = np.array([[1.0, 1.0, 0.0, 0.5]], np.float32)

    def forward(model, inp, lib):
        if lib is nerve:
            return nn.BCEWithLogitsLoss()(model(inp), target)
        return tnn.BCEWithLogitsLoss()(model(inp), _t(target))

    check(record_op, "BCEWithLogitsLoss(logits +-100)", ours, ref, x, forward)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_parity_embedding(record_op, padding_idx):
    torch.manual_seed(0)
    ref = tnn.Embedding(6, 4, padding_idx=padding_idx)
    ours = nn.Embedding(6, 4, padding_idx=padding_idx)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    out, expected = ours(nerve.tensor(idx)), ref(torch.from_numpy(idx))
    close(out.detach().numpy(), expected.detach().numpy(), "nn.Embedding: output")
    upstream = batch(out.shape, 1)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    close(ours.weight.grad, ref.weight.grad.numpy(), "nn.Embedding: gradient of weight")
    record_op("parity", "nn.Embedding" + ("" if padding_idx is None else " (padding_idx)"))
