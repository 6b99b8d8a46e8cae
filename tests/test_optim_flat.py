"""Flat optimizer buffers (nerve.optim.flat): a group updated as one array gives the same
numbers as parameter by parameter, keeps state_dict as it was, takes gradients written in place
by backward, and never cuts off an array someone else holds."""

import gc

import numpy as np
import pytest

import nerve
from nerve import nn, optim

OPTIMIZERS = [
    (optim.SGD, {"lr": 0.05}),
    (optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (optim.Adam, {"lr": 0.01}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    (optim.AdamW, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5}),
    (optim.Adadelta, {"weight_decay": 0.01}),
]
IDS = [f"{cls.__name__}-{'-'.join(k for k in kw if k != 'lr') or 'plain'}"
       for cls, kw in OPTIMIZERS]


def make(flat, cls=optim.Adam, kwargs=None, seed=0):
    nerve.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = cls(model.parameters(), **(kwargs or {"lr": 0.01}))
    opt.flat = flat
    return model, opt


def data(seed=1):
    rng = np.random.default_rng(seed)
    return nerve.tensor(rng.normal(size=(16, 4)).astype(np.float32)), nerve.tensor(
        rng.integers(0, 3, 16))


def train(model, opt, steps, x, y):
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def weights(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def assert_same(a, b):
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_flat_equals_per_parameter_bit_for_bit(cls, kwargs):
    x, y = data()
    runs = [make(flat, cls, kwargs) for flat in (True, False)]
    for model, opt in runs:
        train(model, opt, 6, x, y)
    assert runs[0][1]._flats[0] is not None and runs[1][1]._flats == {}
    assert_same(weights(runs[0][0]), weights(runs[1][0]))
    flat_state, plain_state = (opt.state_dict() for _, opt in runs)
    assert flat_state["param_groups"] == plain_state["param_groups"]
    for i, entry in plain_state["state"].items():
        assert flat_state["state"][i].keys() == entry.keys()
        for key, value in entry.items():
            np.testing.assert_array_equal(flat_state["state"][i][key], value)


def test_parameters_live_in_one_array_and_gradients_are_written_in_place():
    x, y = data()
    model, opt = make(True)
    train(model, opt, 2, x, y)
    flat = opt._flats[0]
    params = list(model.parameters())
    assert all(p._data.base is flat.data for p in params)
    assert all(opt.state[p]["exp_avg"].base is flat.state["exp_avg"] for p in params)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    # the linear layer wrote its weight and bias gradients into the optimizer's buffer
    assert all(p._grad.base is flat.grad for p in params)
    before = weights(model)
    opt.step()
    assert not any(np.array_equal(a, b) for a, b in zip(before, weights(model)))


def test_a_kept_gradient_keeps_its_values_after_the_next_backward():
    x, y = data()
    model, opt = make(True)
    train(model, opt, 2, x, y)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    kept = model[0].weight.grad
    values = kept.numpy().copy()
    opt.step()
    train(model, opt, 2, x[:5] * 3, y[:5])
    np.testing.assert_array_equal(kept.numpy(), values)


def test_an_array_held_elsewhere_is_not_moved():
    x, y = data()
    model, opt = make(True)
    held = model[0].weight.detach().numpy()  # aliases the weight, as in PyTorch
    train(model, opt, 3, x, y)
    assert opt._flats[0] is None  # the group was updated parameter by parameter
    np.testing.assert_array_equal(held, model[0].weight.detach().numpy())
    assert np.shares_memory(held, model[0].weight.detach().numpy())
    reference, ref_opt = make(False)
    train(reference, ref_opt, 3, x, y)
    assert_same(weights(model), weights(reference))


def test_a_view_of_a_parameter_keeps_following_it():
    x, y = data()
    model, opt = make(True)
    with nerve.no_grad():
        row = model[0].weight[0]
    train(model, opt, 3, x, y)
    np.testing.assert_array_equal(row.numpy(), model[0].weight.detach().numpy()[0])


def _scenario(flat, change):
    x, y = data()
    model, opt = make(flat)
    train(model, opt, 1, x, y)
    opt.early = opt.state_dict()
    train(model, opt, 2, x, y)
    change(model, opt)
    train(model, opt, 3, x, y)
    return model, opt


@pytest.mark.parametrize("name, change", [
    ("rebound .data", lambda m, o: setattr(m[2].bias, "data", nerve.ones(3))),
    ("load_state_dict", lambda m, o: o.load_state_dict(o.early)),
    ("model load_state_dict", lambda m, o: m.load_state_dict(
        {k: v * 0.5 for k, v in m.state_dict().items()})),
    ("new group", lambda m, o: o.add_param_group(
        {"params": [nerve.nn.Parameter(nerve.ones(2))], "lr": 0.1})),
    ("lr changed", lambda m, o: o.param_groups[0].update(lr=0.1)),
])
def test_changes_between_steps_give_the_per_parameter_numbers(name, change):
    flat_model, flat_opt = _scenario(True, change)
    plain_model, _ = _scenario(False, change)
    assert_same(weights(flat_model), weights(plain_model))
    params = list(flat_model.parameters())
    assert flat_opt._flats[0] is not None and all(
        p._data.base is flat_opt._flats[0].data for p in params)


def test_a_parameter_without_gradient_falls_back_and_stays_correct():
    x, y = data()
    runs = [make(flat) for flat in (True, False)]
    for model, opt in runs:
        for step in range(6):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            if step % 2:
                loss = loss + 0 * model[0].weight.sum()  # the bias of layer 2 still gets one
            loss.backward()
            if step == 2:
                model[2].bias.grad = None  # skipped at this step: its step count falls behind
            opt.step()
    assert_same(weights(runs[0][0]), weights(runs[1][0]))
    assert runs[0][1].state[runs[0][0][2].bias]["step"] == 5


def test_shared_weight_and_accumulated_backwards_match_per_parameter():
    x, y = data()
    results = []
    for flat in (True, False):
        nerve.manual_seed(0)
        layer, head = nn.Linear(4, 4), nn.Linear(4, 3)
        opt = optim.Adam(list(layer.parameters()) + list(head.parameters()), lr=0.01)
        opt.flat = flat
        for _ in range(3):
            opt.zero_grad()
            for half in (x[:8], x[8:]):  # two backwards into one step
                loss = nn.functional.cross_entropy(head(layer(layer(half).tanh())), y[:8])
                loss.backward()
            opt.step()
        results.append([p.detach().numpy().copy() for p in opt.param_groups[0]["params"]])
    assert_same(*results)


def test_autograd_grad_and_hooks_do_not_use_the_buffers():
    x, y = data()
    model, opt = make(True)
    train(model, opt, 2, x, y)
    opt.zero_grad()  # the homes are set and the gradients empty
    loss = nn.functional.cross_entropy(model(x), y)
    grads = nerve.autograd.grad(loss, list(model.parameters()))
    values = [g.numpy().copy() for g in grads]
    assert all(p.grad is None for p in model.parameters())
    x2, y2 = x[:8] * 2, y[:8]
    expected = nerve.autograd.grad(nn.functional.cross_entropy(model(x2), y2),
                                   model[0].weight)[0].numpy().copy()
    model[0].weight.register_hook(lambda g: g * 2)
    nn.functional.cross_entropy(model(x2), y2).backward()
    for g, v in zip(grads, values):
        np.testing.assert_array_equal(g.numpy(), v)
    np.testing.assert_allclose(model[0].weight.grad.numpy(), 2 * expected, rtol=1e-6)
    assert model[0].weight._grad.base is not opt._flats[0].grad


def test_a_checkpoint_resumes_bit_for_bit(tmp_path):
    x, y = data()
    straight, s_opt = make(True)
    train(straight, s_opt, 6, x, y)
    first, f_opt = make(True)
    train(first, f_opt, 3, x, y)
    nerve.save({"model": first.state_dict(), "opt": f_opt.state_dict()}, tmp_path / "c.nrv")
    resumed, r_opt = make(True, seed=5)
    saved = nerve.load(tmp_path / "c.nrv")
    resumed.load_state_dict(saved["model"])
    r_opt.load_state_dict(saved["opt"])
    train(resumed, r_opt, 3, x, y)
    assert_same(weights(straight), weights(resumed))


def test_model_double_after_steps_moves_the_group_to_float64():
    x, y = data()
    model, opt = make(True)
    train(model, opt, 2, x, y)
    model.double()
    train(model, opt, 2, x.double(), y)
    flat = opt._flats[0]
    assert flat is not None and flat.data.dtype == np.float64
    assert all(p._data.dtype == np.float64 for p in model.parameters())


class _TwoHomes(nerve.Function):
    """y = a b^2; da = g b^2, db = 2 g a b, each written into a home where it may (a test of
    the contract)."""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b * b

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        out = []
        for i, grad in enumerate((g * b * b, 2 * g * a * b)):
            home = ctx.grad_home(i)
            if home is not None:
                home[...] = grad
                grad = home
            out.append(grad)
        return tuple(out)


def test_a_tensor_given_twice_to_one_node_gets_no_home():
    results = []
    for flat in (True, False):
        w, v = nerve.nn.Parameter(nerve.tensor([1.0, 2.0])), nerve.nn.Parameter(nerve.ones(2))
        opt = optim.SGD([w, v], lr=0.1)
        opt.flat = flat
        for _ in range(3):
            opt.zero_grad()
            (_TwoHomes.apply(w, w) + v).sum().backward()  # d(w^3)/dw = 3 w^2
            opt.step()
        results.append(w.detach().numpy().copy())
    assert_same(*results)
    expected = np.array([1.0, 2.0])
    for _ in range(3):
        expected = expected - 0.1 * 3 * expected**2
    np.testing.assert_allclose(results[0], expected, rtol=1e-5)


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_a_large_group_updated_in_pieces_gives_the_same_numbers(cls, kwargs, monkeypatch):
    from nerve.optim import flat as flat_module

    monkeypatch.setattr(flat_module, "CHUNKED_MIN", 16)
    monkeypatch.setattr(flat_module, "CHUNK", 7)  # pieces that cut across parameters
    x, y = data()
    runs = [make(flat, cls, kwargs) for flat in (True, False)]
    pieces = []
    real = runs[0][1]._update
    runs[0][1]._update = lambda data, *rest: (pieces.append(data.size), real(data, *rest))
    for model, opt in runs:
        train(model, opt, 4, x, y)
    assert max(pieces[-9:]) <= 7  # the later steps ran in pieces
    assert_same(weights(runs[0][0]), weights(runs[1][0]))
    assert runs[0][1].state_dict()["state"][0].get("step") == runs[1][1].state_dict()[
        "state"][0].get("step")


def test_state_created_on_a_later_step_is_not_made_in_pieces(monkeypatch):
    from nerve.optim import flat as flat_module

    monkeypatch.setattr(flat_module, "CHUNKED_MIN", 16)
    monkeypatch.setattr(flat_module, "CHUNK", 7)
    x, y = data()
    runs = [make(flat, optim.Adam) for flat in (True, False)]
    for model, opt in runs:
        train(model, opt, 2, x, y)
        opt.param_groups[0]["amsgrad"] = True  # max_exp_avg_sq appears at the next step
        train(model, opt, 2, x, y)
    assert_same(weights(runs[0][0]), weights(runs[1][0]))
    assert runs[0][1]._flats[0].state["max_exp_avg_sq"].size == runs[0][1]._flats[0].data.size


def _follows(row, model):
    return np.array_equal(row.numpy(), model[0].weight.detach().numpy()[0])


@pytest.mark.parametrize("rebuild", ["load_state_dict", "missing gradient"])
def test_a_view_taken_after_the_first_step_keeps_following_through_a_rebuild(rebuild):
    x, y = data()
    model, opt = make(True)
    train(model, opt, 1, x, y)
    with nerve.no_grad():
        row = model[0].weight[0]
    if rebuild == "load_state_dict":
        opt.load_state_dict(opt.state_dict())
    else:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        model[2].bias.grad = None
        opt.step()  # per parameter; the step counts now differ
    train(model, opt, 2, x, y)
    assert _follows(row, model)
    reference, ref_opt = make(False)
    train(reference, ref_opt, 1, x, y)
    if rebuild == "missing gradient":
        ref_opt.zero_grad()
        nn.functional.cross_entropy(reference(x), y).backward()
        reference[2].bias.grad = None
        ref_opt.step()
    train(reference, ref_opt, 2, x, y)
    assert_same(weights(model), weights(reference))


def test_the_flat_path_comes_back_and_a_second_optimizer_reuses_the_array():
    x, y = data()
    model, opt = make(True)
    train(model, opt, 1, x, y)
    first_array = opt._flats[0].data
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    model[2].bias.grad = None  # this step falls back to per parameter
    opt.step()
    assert opt._flats[0] is None
    opt.load_state_dict(opt.state_dict())  # the step counts were saved unequal: stays per param
    second = optim.SGD(model.parameters(), lr=0.1)  # a new optimizer over the same model
    train(model, second, 2, x, y)
    assert second._flats[0] is not None and second._flats[0].data is first_array
    del opt, first_array
    moved, moved_opt = make(True)
    train(moved, moved_opt, 1, x, y)
    del moved_opt
    third = optim.Adam(list(moved.parameters())[:2], lr=0.01)  # a part: it would have to move
    train(moved, third, 1, x, y)
    assert third._flats[0] is None  # the other parameters' arrays share the array: not moved
    head = optim.Adam(moved.parameters(), lr=0.01)
    train(moved, head, 1, x, y)
    assert head._flats[0] is not None and head._flats[0].data is moved[0].weight._data.base


def test_fit_keeps_the_group_flat():
    """fit's batch loop once held the first parameter's array for the whole epoch (to learn the
    model's device), which counted as a holder: the group could never be laid out flat, and
    every step updated the parameters one by one."""
    x, y = data()
    model, opt = make(True)
    nerve.fit(model, x.numpy(), y.numpy(), loss="cross_entropy", optimizer=opt, epochs=2,
              batch_size=8, verbose=0)
    flat = opt._flats[0]
    assert flat is not None and all(p._data.base is flat.data for p in model.parameters())


def test_a_second_optimizer_never_cuts_off_arrays_the_user_holds():
    """From the review: after one optimizer laid the body out flat, a second one over the body
    and a new head moved the body's parameters although the user held their arrays
    (``state_dict()`` and ``p.detach().numpy()`` hand out those very arrays): the held arrays
    stopped following the parameters, where PyTorch's keep sharing their memory."""
    nerve.manual_seed(0)
    body, head = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 3)), nn.Linear(3, 2)
    model, x = nn.Sequential(body, head), nerve.ones(2, 4)

    def train(opt, net):
        for _ in range(2):
            opt.zero_grad()
            net(x).sum().backward()
            opt.step()

    opt = optim.SGD(body.parameters(), lr=0.1)
    train(opt, body)
    held, w = body.state_dict(), body[0].weight.detach().numpy()
    opt = optim.SGD([*body.parameters(), *head.parameters()], lr=0.1)
    gc.collect()
    train(opt, model)
    assert np.array_equal(w, body[0].weight.detach().numpy())
    for value, p in zip(held.values(), body.parameters()):
        np.testing.assert_array_equal(np.asarray(value), p.detach().numpy())


def test_parameters_on_a_dead_flat_buffer_are_laid_out_again():
    """A leftover reference in the check counted as a holder of the old buffer: a group whose
    last parameter was a view never became flat again (slower, not wrong)."""
    nerve.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), nerve.ones(2, 4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    del opt
    gc.collect()
    again = optim.SGD(list(model.parameters())[::-1], lr=0.1)
    for _ in range(2):
        again.zero_grad()
        model(x).sum().backward()
        again.step()
    assert again._flats.get(0) is not None
