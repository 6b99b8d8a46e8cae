"""ModuleList and ModuleDict: PyTorch's API, registered children and PyTorch's state_dict keys."""

import re
from collections import OrderedDict

import numpy as np
import pytest

import nerve
from nerve import nn


class Tower(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(n)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "reg": nn.Linear(4, 1)})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return self.heads["cls"](x)


def test_module_list_registers_children_with_torch_keys():
    torch = pytest.importorskip("torch")

    class TorchTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
            self.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(4, 2),
                                              "reg": torch.nn.Linear(4, 1)})

    ours, ref = Tower(), TorchTower()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    tx = torch.tensor(x)
    for layer in ref.layers:
        tx = layer(tx).relu()
    np.testing.assert_allclose(ours(nerve.tensor(x)).detach().numpy(),
                               ref.heads["cls"](tx).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_list_trains_through_its_children():
    model = Tower()
    model(nerve.ones(2, 4)).sum().backward()
    assert all(p.grad is not None for p in model.layers.parameters())
    assert len(list(model.parameters())) == 3 * 2 + 2 * 2


def test_module_list_indexing_slicing_len_iteration():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    ml = nn.ModuleList([a, b, c])
    assert len(ml) == 3 and list(ml) == [a, b, c]
    assert ml[0] is a and ml[-1] is c
    sliced = ml[1:]
    assert isinstance(sliced, nn.ModuleList) and list(sliced) == [b, c]
    assert list(sliced._modules) == ["0", "1"]
    assert b in ml


def test_module_list_append_extend_insert_pop_renumber():
    a, b, c, d = nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity()
    ml = nn.ModuleList()
    assert ml.append(a) is ml
    ml.extend([b, c])
    ml.insert(1, d)
    assert list(ml) == [a, d, b, c] and list(ml._modules) == ["0", "1", "2", "3"]
    assert ml.pop(1) is d and list(ml) == [a, b, c]
    del ml[0]
    assert list(ml) == [b, c] and list(ml._modules) == ["0", "1"]
    ml += [a]
    assert list(ml) == [b, c, a]
    both = ml + nn.ModuleList([d])
    assert list(both) == [b, c, a, d] and len(ml) == 3
    ml[1] = d
    assert list(ml) == [b, d, a]
    del ml[:2]
    assert list(ml) == [a]


def test_module_list_replacing_an_item_keeps_the_state_dict_order():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    ml[0] = nn.Linear(2, 2, bias=False)
    assert list(ml.state_dict()) == ["0.weight", "1.weight", "1.bias"]


def test_module_list_repr_is_torchs():
    expected = "ModuleList(\n  (0): ReLU()\n  (1): Tanh()\n)"
    assert repr(nn.ModuleList([nn.ReLU(), nn.Tanh()])) == expected


@pytest.mark.parametrize("action, error, message", [
    (lambda ml: ml[5], IndexError, "ModuleList: expected an index in [-2, 1]. Received: index=5"),
    (lambda ml: ml["a"], TypeError, "Received: index='a'"),
    (lambda ml: ml.append(3), TypeError, "ModuleList.append: expected Modules. "
                                         "Received: modules[0]=3"),
    (lambda ml: ml.extend(nn.ReLU()), TypeError, "ModuleList.extend: expected an iterable of "
                                                 "Modules"),
    (lambda ml: ml.extend([nn.ReLU(), "relu"]), TypeError, "Received: modules[1]='relu'"),
    (lambda ml: ml.insert(0, [nn.ReLU()]), TypeError, "ModuleList.insert: expected Modules"),
    (lambda ml: ml.__setitem__(0, 1.5), TypeError, "Received: modules[0]=1.5"),
])
def test_module_list_bad_use_raises_and_changes_nothing(action, error, message):
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    before = list(ml)
    with pytest.raises(error, match=re.escape(message)):
        action(ml)
    assert list(ml) == before


def test_module_list_has_no_forward():
    with pytest.raises(NotImplementedError, match="ModuleList defines no forward"):
        nn.ModuleList([nn.ReLU()])(nerve.zeros(1))


def test_module_dict_api():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    md = nn.ModuleDict({"a": a, "b": b})
    assert len(md) == 2 and list(md) == ["a", "b"] and "a" in md and "z" not in md
    assert md["a"] is a and list(md.keys()) == ["a", "b"]
    assert list(md.values()) == [a, b] and list(md.items()) == [("a", a), ("b", b)]
    md["c"] = c
    md.update([("a", b)])  # replaced in its place
    assert list(md.items()) == [("a", b), ("b", b), ("c", c)]
    md.update(OrderedDict([("d", a)]))
    assert md.pop("b") is b and list(md) == ["a", "c", "d"]
    del md["a"]
    assert list(md) == ["c", "d"] and md.d is a
    md.clear()
    assert len(md) == 0 and list(md.parameters()) == []
    with pytest.raises(KeyError):
        md["a"]


def test_module_dict_state_dict_keys():
    md = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]


@pytest.mark.parametrize("modules, error, message", [
    ({"a": nn.ReLU(), "b": 3}, TypeError, "ModuleDict.update: expected Modules. "
                                          "Received: modules[0]=3"),
    ({"a.b": nn.ReLU()}, ValueError, "Received: name='a.b'"),
    ({"keys": nn.ReLU()}, ValueError, "expected a name that is not an attribute of ModuleDict. "
                                      "Received: name='keys'"),
    ([("a", nn.ReLU()), ("b",)], TypeError, "expected (name, module) pairs. "
                                            "Received: modules[1]=('b',)"),
    (nn.ReLU(), TypeError, "ModuleDict.update: expected a mapping or (name, module) pairs"),
    ([(1, nn.ReLU())], TypeError, "Received: name=1"),
])
def test_module_dict_bad_update_raises_and_adds_nothing(modules, error, message):
    md = nn.ModuleDict({"x": nn.Tanh()})
    with pytest.raises(error, match=re.escape(message)):
        md.update(modules)
    assert list(md) == ["x"]


def test_reassigning_a_child_keeps_its_place():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    setattr(model, "0", nn.Linear(2, 3))
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
