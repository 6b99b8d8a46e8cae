"""The autograd pages of Learn the Basics ("Automatic Differentiation with torch.autograd")
and of "A Gentle Introduction to torch.autograd": a one-layer network's gradients, grad_fn,
requires_grad under no_grad and after detach, vector-Jacobian products with an explicit
gradient, accumulation across backward calls with retain_graph, and zeroing with grad.zero_()."""

import numpy as np
import torch


def make_init(rng: np.random.Generator) -> dict:
    return {"w": rng.standard_normal((5, 3)).astype(np.float32),
            "b": rng.standard_normal(3).astype(np.float32)}


def main(init: dict) -> dict:
    out = {}
    x = torch.ones(5)  # input tensor
    y = torch.zeros(3)  # expected output
    w = torch.tensor(init["w"], requires_grad=True)
    b = torch.tensor(init["b"], requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    out["loss"] = loss.item()
    out["z_has_grad_fn"] = z.grad_fn is not None
    out["loss_has_grad_fn"] = loss.grad_fn is not None

    loss.backward()
    out["w_grad"] = w.grad.tolist()
    out["b_grad"] = b.grad.tolist()

    z = torch.matmul(x, w) + b
    out["requires_grad"] = z.requires_grad
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    out["requires_grad_no_grad"] = z.requires_grad
    z = torch.matmul(x, w) + b
    z_det = z.detach()
    out["requires_grad_detached"] = z_det.requires_grad

    inp = torch.eye(4, 5, requires_grad=True)
    out_t = (inp + 1).pow(2).t()
    out_t.backward(torch.ones_like(out_t), retain_graph=True)
    out["first_call"] = inp.grad.tolist()
    out_t.backward(torch.ones_like(out_t), retain_graph=True)
    out["second_call"] = inp.grad.tolist()
    inp.grad.zero_()
    out_t.backward(torch.ones_like(out_t), retain_graph=True)
    out["after_zeroing"] = inp.grad.tolist()

    # A Gentle Introduction to torch.autograd
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    external_grad = torch.tensor([1., 1.])
    Q.backward(gradient=external_grad)
    # check if collected gradients are correct
    out["a_grad_ok"] = (9 * a ** 2 == a.grad).tolist()
    out["b_grad_ok"] = (-2 * b == b.grad).tolist()
    out["leaf"] = [a.is_leaf, Q.is_leaf]

    # torch.autograd.grad returns the gradients instead of accumulating them
    s = torch.tensor([0.5, -1.5], requires_grad=True)
    (ds,) = torch.autograd.grad((s ** 3).sum(), s)
    out["autograd_grad"] = ds.tolist()
    out["autograd_grad_left_grad_alone"] = s.grad is None
    return out
