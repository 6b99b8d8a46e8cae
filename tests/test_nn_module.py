"""Module: registration, traversal, state_dict with PyTorch's keys, modes, repr and summary."""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn.parameter import Parameter


def mlp() -> nn.Sequential:
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


class Block(nn.Module):
    """A hand-written module with a child, its own parameter, a buffer and a plain tensor."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = Parameter(np.ones(2))
        self.cache = nerve.zeros(2)  # plain tensor: not a parameter
        self.register_buffer("count", np.zeros(1, np.float32))

    def forward(self, x):
        return self.fc(x) * self.scale


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Block()
        self.head = nn.Sequential(nn.Linear(2, 2), nn.Tanh())

    def forward(self, x):
        return self.head(self.body(x))


# --- registration and traversal ------------------------------------------------------------
def test_module_named_parameters_dotted_names():
    names = [n for n, _ in Outer().named_parameters()]
    assert names == ["body.scale", "body.fc.weight", "body.fc.bias", "head.0.weight",
                     "head.0.bias"]


def test_module_parameters_match_named_parameters():
    m = Outer()
    assert [id(p) for p in m.parameters()] == [id(p) for _, p in m.named_parameters()]


def test_module_shared_parameter_counted_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert sum(p.numel() for p in model.parameters()) == 12


def test_module_shared_module_visited_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]


def test_module_children_direct_only():
    m = Outer()
    assert [type(c).__name__ for c in m.children()] == ["Block", "Sequential"]
    assert [n for n, _ in m.named_children()] == ["body", "head"]
    assert len(list(m.modules())) == 6


def test_module_parameter_registered_on_assignment():
    m = Block()
    assert "scale" in m._parameters and "cache" not in m._parameters
    assert all(p is not m.cache for p in m.parameters())


def test_module_plain_tensor_not_registered():
    m = nn.Module()
    m.w = nerve.tensor([1.0, 2.0], requires_grad=True)
    assert list(m.parameters()) == [] and m.state_dict() == OrderedDict()


@pytest.mark.parametrize("value", [3.0, np.ones(2), nerve.ones(2), nn.ReLU()])
def test_module_assign_non_parameter_to_parameter_raises(value):
    m = Block()
    with pytest.raises(TypeError, match=f"cannot assign {type(value).__name__} as parameter "
                                        f"'scale' of Block: expected a Parameter or None"):
        m.scale = value
    assert "scale" in dict(m.named_parameters())


def test_module_assign_none_to_parameter_keeps_the_slot():
    m = Block()
    m.scale = None
    assert "scale" not in dict(m.named_parameters()) and "scale" in m._parameters
    m.scale = Parameter(np.zeros(2))
    assert "scale" in dict(m.named_parameters())


def test_module_assign_new_parameter_replaces():
    m = nn.Linear(2, 2)
    w = Parameter(np.zeros((2, 2)))
    m.weight = w
    assert dict(m.named_parameters())["weight"] is w


def test_module_delattr_unregisters():
    m = Block()
    del m.scale
    assert "scale" not in dict(m.named_parameters())


def test_module_register_buffer_saved_in_state_dict():
    m = Block()
    sd = m.state_dict()
    assert "count" in sd and "count" not in dict(m.named_parameters())
    assert list(sd) == ["scale", "count", "fc.weight", "fc.bias"]  # PyTorch's order


def test_module_buffer_stays_registered_when_reassigned():
    m = Block()
    m.count = nerve.ones(1)
    np.testing.assert_array_equal(m.state_dict()["count"], [1.0])


@pytest.mark.parametrize("name, error", [("", ValueError), ("a.b", ValueError),
                                         (3, TypeError), ("train", ValueError)])
def test_module_add_module_bad_name_raises(name, error):
    with pytest.raises(error, match=re.escape("Module.add_module: expected a ") + ".*" +
                       re.escape(f"Received: name={name!r}")):
        nn.Module().add_module(name, nn.ReLU())


def test_module_add_module_not_a_module_raises():
    with pytest.raises(TypeError, match=re.escape("Module.add_module: expected a Module. "
                                                  "Received: x=3")):
        nn.Module().add_module("x", 3)


def test_module_setattr_before_init_raises():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=re.escape("super().__init__()")):
        Forgetful()


# --- calling, modes, gradients ---------------------------------------------------------------
def test_module_call_runs_forward():
    m = Outer()
    x = nerve.tensor(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(m(x).detach().numpy(), m.forward(x).detach().numpy())


def test_module_forward_not_defined_raises():
    with pytest.raises(NotImplementedError, match="Module defines no forward"):
        nn.Module()(nerve.zeros(1))


def test_module_train_eval_propagate_to_children():
    m = Outer()
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.head.train(False)
    assert m.training and not m.head[1].training


@pytest.mark.parametrize("set_to_none", [True, False])
def test_module_zero_grad(set_to_none):
    m = mlp()
    m(nerve.tensor(np.ones((2, 4), np.float32))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=set_to_none)
    for p in m.parameters():
        if set_to_none:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad, np.zeros(p.shape))


def test_module_requires_grad_switches_all():
    m = mlp().requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_module_double_converts_parameters():
    m = mlp().double()
    assert {p.dtype for p in m.parameters()} == {np.dtype(np.float64)}
    assert m(nerve.tensor(np.ones((1, 4)), dtype=np.float64)).dtype == np.float64


# --- repr ------------------------------------------------------------------------------------
def test_module_repr_nested():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 3, bias=False),
                                                                    nn.Softmax(dim=1)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=8, out_features=3, bias=False)\n"
        "    (1): Softmax(dim=1)\n"
        "  )\n"
        ")"
    )


def test_module_repr_extra_and_children_on_separate_lines():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def extra_repr(self):
            return "k=3"

    assert repr(Scaled()).splitlines() == [
        "Scaled(", "  k=3", "  (fc): Linear(in_features=2, out_features=2, bias=True)", ")"]


# --- state_dict ------------------------------------------------------------------------------
def test_module_state_dict_keys_and_shapes_match_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = mlp().state_dict()
    theirs = ref.state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_module_state_dict_shared_parameter_keys_match_torch():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(3, 3)
    ref = torch.nn.Sequential(lin, torch.nn.ReLU(), lin)
    ours = nn.Linear(3, 3)
    assert list(nn.Sequential(ours, nn.ReLU(), ours).state_dict()) == list(ref.state_dict())


def test_module_load_state_dict_ndarrays():
    src, dst = mlp(), mlp()
    rng = np.random.default_rng(1)
    state = {k: rng.normal(size=v.shape) for k, v in src.state_dict().items()}  # float64
    assert dst.load_state_dict(state) == ([], [])
    for k, v in dst.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, state[k], rtol=1e-6)


def test_module_load_state_dict_keeps_the_parameter_arrays():
    m = mlp()
    before = [p.detach().numpy() for p in m.parameters()]
    m.load_state_dict({k: v + 1 for k, v in m.state_dict().items()})
    # the same arrays: optimizers keep working
    assert all(p.detach().numpy() is a for p, a in zip(m.parameters(), before))


def test_module_load_state_dict_from_torch_numpy():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    m = mlp()
    m.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k], v.detach().numpy())


def test_module_load_state_dict_from_torch_tensors_directly():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    m = mlp()
    m.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(m[2].bias.detach().numpy(), ref[2].bias.detach().numpy())


def test_module_load_state_dict_accepts_tensors():
    m = mlp()
    m.load_state_dict({k: nerve.zeros(*v.shape) for k, v in m.state_dict().items()})
    assert all((p.detach().numpy() == 0).all() for p in m.parameters())


def test_module_load_state_dict_strict_lists_all_problems():
    m = mlp()
    state = dict(m.state_dict())
    del state["0.bias"], state["2.weight"]
    state["0.weight"] = np.zeros((8, 5))
    state["3.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        m.load_state_dict(state)
    msg = str(err.value)
    for part in ["missing keys", "'0.bias'", "'2.weight'", "unexpected keys", "'3.weight'",
                 "0.weight: expected shape (8, 4), received (8, 5)"]:
        assert part in msg


def test_module_load_state_dict_failure_changes_nothing():
    m = mlp()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    state = {k: np.zeros(v.shape) for k, v in before.items()}
    state["2.bias"] = np.zeros(4)
    with pytest.raises(ValueError, match="2.bias"):
        m.load_state_dict(state)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_module_load_state_dict_non_strict_returns_missing_and_unexpected():
    m = mlp()
    state = {k: v for k, v in m.state_dict().items() if k != "2.bias"}
    state["extra"] = np.zeros(2)
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert (missing, unexpected) == (["2.bias"], ["extra"])


def test_module_load_state_dict_non_strict_wrong_shape_raises():
    m = mlp()
    with pytest.raises(ValueError, match=re.escape("2.bias: expected shape (3,), received (4,)")):
        m.load_state_dict({"2.bias": np.zeros(4)}, strict=False)


def test_module_load_state_dict_not_a_mapping_raises():
    with pytest.raises(TypeError, match=re.escape("load_state_dict into Sequential: expected a "
                                                  "mapping of names to arrays or tensors. "
                                                  "Received: state_dict=[1, 2]")):
        mlp().load_state_dict([1, 2])


def test_module_load_state_dict_buffer():
    m = Block()
    state = dict(m.state_dict())
    state["count"] = np.array([7.0])
    m.load_state_dict(state)
    np.testing.assert_array_equal(m.count.detach().numpy(), [7.0])


# --- summary ---------------------------------------------------------------------------------
def test_summary_prints_shapes_and_counts():
    lines = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(8, 3))
    info = nn.summary(model, (3, 4), print_fn=lines.append)
    text = "\n".join(lines)
    assert [(name, shape, n) for name, _, shape, n in info["layers"]] == [
        ("0", (-1, 12), 0), ("1", (-1, 8), 104), ("2", (-1, 8), 0), ("3", (-1, 8), 0),
        ("4", (-1, 3), 27)]
    for row in ["1 (Linear)", "(-1, 8)", "104", "4 (Linear)", "(-1, 3)", "27"]:
        assert row in text
    assert "Total params: 131" in text and "Trainable params: 131" in text
    assert info["total_params"] == sum(p.numel() for p in model.parameters()) == 131


def test_summary_counts_frozen_parameters():
    model = mlp()
    model[0].requires_grad_(False)
    info = nn.summary(model, 4, print_fn=lambda *a: None)
    assert info["trainable_params"] == 8 * 3 + 3
    assert info["total_params"] == 4 * 8 + 8 + 8 * 3 + 3


def test_summary_restores_modes_and_forward():
    model = mlp()
    model[1].eval()
    nn.summary(model, 4, print_fn=lambda *a: None)
    assert model.training and not model[1].training
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_summary_wrong_input_shape_raises_and_restores():
    model = mlp()
    with pytest.raises(ValueError, match=re.escape("received (2, 5)")):
        nn.summary(model, 5, print_fn=lambda *a: None)
    assert all(m.training for m in model.modules())
    assert all("forward" not in m.__dict__ for m in model.modules())


# --- the review's cases: what the same PyTorch code does -------------------------------------
def test_a_reassigned_non_persistent_buffer_stays_out_of_state_dict():
    m = nn.Module()
    m.register_buffer("cache", nerve.zeros(2), persistent=False)
    m.cache = nerve.ones(2)
    assert list(m.state_dict()) == [] and m.cache.numpy().tolist() == [1, 1]


def test_train_and_eval_call_each_childs_own_train():
    class AlwaysOn(nn.Dropout):  # Monte Carlo dropout: on in eval too
        def train(self, mode=True):
            return super().train(True)

    model = nn.Sequential(nn.Linear(2, 2), AlwaysOn(0.5))
    model.eval()
    assert not model.training and not model[0].training and model[1].training


def test_a_child_held_twice_is_visited_once_but_saved_under_every_name():
    lin = nn.Linear(1, 1, bias=False)
    with nerve.no_grad():
        lin.weight.fill_(1.0)
    layers = nn.ModuleList([lin, lin, lin])
    with nerve.no_grad():
        layers.apply(lambda m: m.weight.mul_(0.5) if isinstance(m, nn.Linear) else None)
    assert lin.weight.item() == 0.5 and len(list(layers.children())) == 1
    assert list(layers.state_dict()) == ["0.weight", "1.weight", "2.weight"]  # as PyTorch
    assert repr(layers).count("Linear") == 3


def test_sequential_without_grad_runs_a_forward_set_by_a_mixin_or_on_the_instance():
    class Doubler:
        def forward(self, x):
            return super().forward(x) * 2

    class DLinear(Doubler, nn.Linear):
        pass

    nerve.manual_seed(0)
    model = nn.Sequential(DLinear(2, 2), nn.ReLU())
    x = nerve.randn(3, 2)
    with nerve.no_grad():
        fast = model(x).numpy()
    np.testing.assert_array_equal(fast, model(x).detach().numpy())
    model[1].forward = lambda t: t * 0 + 5
    with nerve.no_grad():
        assert model(x).numpy().tolist() == [[5, 5]] * 3


def test_assignments_that_would_drop_a_child_or_a_parameter_are_refused():
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="child module '0'"):
        setattr(seq, "0", nerve.zeros(2))
    assert len(seq) == 1
    lin = nn.Linear(2, 2)
    with pytest.raises(KeyError, match="already exists"):
        lin.register_buffer("weight", nerve.zeros(2, 2))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_clip_grad_norm_inf_sees_a_nan_in_any_parameter():
    a, b = nn.Parameter(nerve.zeros(1)), nn.Parameter(nerve.zeros(2))
    a.grad, b.grad = nerve.tensor([2.0]), nerve.tensor([1.0, float("nan")])
    with pytest.raises(RuntimeError, match="nan"):
        nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=float("inf"), error_if_nonfinite=True)


def test_load_state_dict_names_the_missing_and_unexpected_keys_as_pytorch():
    result = nn.Linear(2, 2).load_state_dict({"weight": nerve.zeros(2, 2), "extra": nerve.ones(1)},
                                             strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result  # still the pair it was
    assert (missing, unexpected) == (["bias"], ["extra"])
