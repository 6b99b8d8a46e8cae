"""fit / evaluate / predict, callbacks, metrics, History, NaN handling and exact resume."""

import io as _io
import sys
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.train import EarlyStopping, LambdaCallback, ModelCheckpoint, metrics


def xor_data():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    return np.repeat(x, 8, axis=0), np.repeat(y, 8)


def mlp(seed=0, n_in=2, hidden=8, n_out=2):
    nerve.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 2.0 * y[:, None]
    return x, y


def test_fit_xor_learns_end_to_end():
    x, y = xor_data()
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.05)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=60,
                     batch_size=8, verbose=0, seed=1)
    assert hist["accuracy"][-1] == 1.0
    assert hist["loss"][-1] < hist["loss"][0]
    assert (nerve.predict_classes(model, x[::8]) == [0, 1, 1, 0]).all()


def test_fit_history_has_val_prefix_and_one_entry_per_epoch():
    x, y = blobs()
    hist = nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=3, verbose=0,
                     validation_split=0.25, metrics=("accuracy", "top_2_accuracy"))
    assert set(hist) == {"loss", "accuracy", "top_2_accuracy", "val_loss", "val_accuracy",
                         "val_top_2_accuracy"}
    assert all(len(v) == 3 for v in hist.values()) and hist.epoch == [0, 1, 2]
    assert hist.history is hist


def test_fit_verbose0_prints_nothing(capsys):
    x, y = blobs(64)
    nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=2, verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_fit_not_a_terminal_prints_one_line_per_epoch(capsys):
    x, y = blobs(64)
    nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=3, verbose=1,
              validation_data=(x, y))
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "val_loss" in lines[0]


class FakeTTY(_io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_draws_a_tqdm_bar(monkeypatch):
    out = FakeTTY()
    monkeypatch.setattr(sys, "stderr", out)
    x, y = blobs(80)
    nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=2, batch_size=16)
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "5/5" in text and "\r" in text


def test_fit_same_seed_is_bitwise_identical_and_other_seed_differs():
    x, y = blobs()

    def run(seed):
        nerve.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 3))
        h = nerve.fit(model, x, y, loss="cross_entropy", optimizer=optim.SGD(
            model.parameters(), lr=0.1, momentum=0.9), epochs=3, batch_size=16, verbose=0,
            seed=seed)
        return weights(model), h

    (w1, h1), (w2, h2), (w3, _) = run(7), run(7), run(8)
    assert all(np.array_equal(w1[k], w2[k]) for k in w1) and h1 == h2
    assert any(not np.array_equal(w1[k], w3[k]) for k in w1)


def test_fit_resume_is_exact(tmp_path):
    x, y = blobs()

    def fresh():
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        nerve.manual_seed(5)
        for m in model:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        return model, optim.Adam(model.parameters(), lr=0.01)

    kw = dict(loss="cross_entropy", batch_size=16, verbose=0, seed=11, validation_data=(x, y))
    m1, o1 = fresh()
    h1 = nerve.fit(m1, x, y, optimizer=o1, epochs=4, **kw)
    m2, o2 = fresh()
    path = tmp_path / "ckpt.safetensors"
    nerve.fit(m2, x, y, optimizer=o2, epochs=2, callbacks=[ModelCheckpoint(path)], **kw)
    m3, o3 = fresh()
    nerve.manual_seed(999)  # resume must not depend on the global generator's state
    h3 = nerve.fit(m3, x, y, optimizer=o3, epochs=4, resume=path, **kw)
    w1, w3 = weights(m1), weights(m3)
    assert all(np.array_equal(w1[k], w3[k]) for k in w1)
    assert h1 == h3 and h1.epoch == h3.epoch


def test_early_stopping_restores_best_weights():
    x, y = blobs()
    xv, yv = x, (y + 1) % 3  # wrong labels: the better it learns, the worse val_loss gets
    model = mlp(n_in=4, n_out=3)
    seen = {}
    record = LambdaCallback(on_epoch_end=lambda e, logs: seen.__setitem__(e, weights(model)))
    stop = EarlyStopping(monitor="val_loss", patience=1)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=optim.Adam(
        model.parameters(), lr=0.05), epochs=30, verbose=0, validation_data=(xv, yv),
        callbacks=[record, stop])
    best = int(np.argmin(hist["val_loss"]))
    assert len(hist["loss"]) < 30 and stop.stopped_epoch is not None
    w = weights(model)
    assert all(np.array_equal(w[k], seen[best][k]) for k in w)


def test_model_checkpoint_save_best_only_keeps_the_best(tmp_path):
    x, y = blobs()
    xv, yv = x, (y + 1) % 3
    model = mlp(n_in=4, n_out=3)
    path = tmp_path / "best.safetensors"
    cb = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=optim.Adam(
        model.parameters(), lr=0.05), epochs=6, verbose=0, validation_data=(xv, yv),
        callbacks=[cb])
    state = nerve.io.load_checkpoint(path, mlp(n_in=4, n_out=3))
    assert state["epoch"] == int(np.argmin(hist["val_loss"])) + 1
    assert len(cb.saved) < 6


def test_fit_stops_on_nan_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32) * 1e3
    model = nn.Sequential(nn.Linear(4, 1))
    before = weights(model)
    with pytest.warns(RuntimeWarning, match=r"loss is (inf|nan) at epoch 1, batch 2"):
        hist = nerve.fit(model, x, y, loss="mse", optimizer=optim.SGD(model.parameters(),
                         lr=1e36), epochs=5, batch_size=32, metrics=(), verbose=0)
    assert "the last weights known good, those of the start of training" in \
        hist.stop_reason
    assert hist.epoch == [0] and not np.isfinite(hist["loss"][0])  # the stopped epoch
    after = weights(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_rejects_nan_in_x_naming_count_and_first(bad):
    x, y = blobs(20)
    x[3, 2] = bad
    x[7, 0] = bad
    msg = r"2 NaN or infinite values; the first is at index \(3, 2\)"
    with pytest.raises(ValueError, match=msg):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", verbose=0)


def test_fit_rejects_nan_in_y():
    x, _ = blobs(20)
    y = np.zeros((20, 3), np.float32)
    y[5, 1] = np.nan
    with pytest.raises(ValueError, match="training y holds 1 NaN"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="mse", verbose=0, metrics=())


def test_fit_rejects_length_mismatch():
    x, y = blobs(20)
    with pytest.raises(ValueError, match="x has 20 samples, y has 19"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y[:19], loss="cross_entropy", verbose=0)


def test_fit_unknown_loss_lists_valid_names():
    x, y = blobs(20)
    with pytest.raises(ValueError, match=r"fit: expected a loss name in \[.*'cross_entropy'.*"
                                         r"Received: loss='crossentropy'"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="crossentropy", verbose=0)


def test_fit_unknown_metric_lists_valid_names():
    x, y = blobs(20)
    with pytest.raises(ValueError, match=r"expected a metric name in \[.*'accuracy'.*"
                                         r"Received: metric='precision'"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", metrics=("precision",),
                  verbose=0)


def test_fit_validation_feature_count_mismatch():
    x, y = blobs(20)
    with pytest.raises(ValueError, match=r"validation x has samples of shape \(5,\), "
                                         r"training x has \(4,\)"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", verbose=0,
                  validation_data=(np.zeros((4, 5), np.float32), y[:4]))


@pytest.mark.parametrize("arg", ["batch_size", "epochs"])
@pytest.mark.parametrize("value", [0, -3])
def test_fit_rejects_non_positive_sizes(arg, value):
    x, y = blobs(20)
    with pytest.raises(ValueError, match=f"{arg}={value}"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", verbose=0, **{arg: value})


def test_resume_from_another_architecture_names_keys_and_shapes(tmp_path):
    x, y = blobs(40)
    path = tmp_path / "c.safetensors"
    nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=1, verbose=0,
              callbacks=[ModelCheckpoint(path)])
    other = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    with pytest.raises(ValueError, match=r"0\.weight: expected shape \(5, 4\), received \(8, 4\)"):
        nerve.fit(other, x, y, loss="cross_entropy", epochs=2, verbose=0, resume=path)


def test_evaluate_returns_loss_and_metrics():
    x, y = blobs()
    model = mlp(n_in=4, n_out=3)
    res = nerve.evaluate(model, x, y, loss="cross_entropy", metrics=("accuracy",),
                         batch_size=17)
    logits = nerve.predict(model, x)
    ref = nn.functional.cross_entropy(nerve.tensor(logits), y).item()
    assert res["loss"] == pytest.approx(ref, rel=1e-5)
    assert res["accuracy"] == pytest.approx(metrics.accuracy(logits, y))


def test_predict_builds_no_graph_and_restores_mode():
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.grad_modes, self.train_modes = [], []

        def forward(self, x):
            self.grad_modes.append(nerve.is_grad_enabled())
            self.train_modes.append(self.training)
            return self.lin(x)

    model = Probe()
    out = nerve.predict(model, blobs(10)[0], batch_size=4)
    assert out.shape == (10, 3) and not any(model.grad_modes) and not any(model.train_modes)
    assert model.training


def test_predict_proba_and_classes():
    x, _ = blobs(10)
    model = mlp(n_in=4, n_out=3)
    p = nerve.predict_proba(model, x, from_logits=True)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-6)
    assert (nerve.predict_classes(model, x) == p.argmax(axis=1)).all()


def test_fit_accepts_a_dataloader():
    x, y = blobs(64)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16, shuffle=True,
                                   seed=0)
    hist = nerve.fit(mlp(n_in=4, n_out=3), loader, loss="cross_entropy", epochs=2, verbose=0)
    assert len(hist["loss"]) == 2


def test_fit_regression_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = nn.Sequential(nn.Linear(3, 1))
    hist = nerve.fit(model, x, y, loss="mse", optimizer=optim.Adam(model.parameters(), lr=0.1),
                     epochs=40, metrics=("mse", "mae", "r2"), verbose=0, seed=0)
    assert hist["r2"][-1] > 0.99 and hist["mse"][-1] < 0.05


def test_metrics_against_definitions():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(50, 4))
    y = rng.integers(0, 4, 50)
    assert metrics.accuracy(scores, y) == np.mean(scores.argmax(1) == y)
    ranks = (scores > scores[np.arange(50), y][:, None]).sum(1)
    assert metrics.top_k_accuracy(scores, y, k=2) == np.mean(ranks < 2)
    cm = metrics.confusion_matrix(y, scores.argmax(1), num_classes=4)
    assert cm.sum() == 50 and np.trace(cm) == (scores.argmax(1) == y).sum()
    assert cm[y[0], scores[0].argmax()] >= 1
    p, t = rng.normal(size=30), rng.normal(size=30)
    assert metrics.mean_squared_error(p, t) == pytest.approx(np.mean((p - t) ** 2))
    assert metrics.mean_absolute_error(p, t) == pytest.approx(np.mean(np.abs(p - t)))
    r2 = 1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2)
    assert metrics.r2_score(p, t) == pytest.approx(r2)


def test_running_r2_equals_whole_epoch_r2():
    rng = np.random.default_rng(2)
    p, t = rng.normal(size=40), rng.normal(size=40)
    m = metrics.R2()
    for i in range(0, 40, 7):
        m.update(p[i:i + 7], t[i:i + 7])
    assert m.result() == pytest.approx(metrics.r2_score(p, t))


def test_no_warning_in_a_clean_run():
    x, y = blobs(64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=1, verbose=0)


# --- one dtype decision per data path ---------------------------------------------------------
def dtype_probe(model):
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    return seen


def test_float64_model_sees_float64_batches_in_fit_evaluate_and_predict():
    x, y = blobs(40)
    model = mlp(n_in=4, n_out=3).double()
    seen = dtype_probe(model)
    nerve.fit(model, x, y, loss="cross_entropy", epochs=1, batch_size=16, verbose=0,
              validation_split=0.25)
    nerve.evaluate(model, x, y, loss="cross_entropy")
    out = nerve.predict(model, x)
    assert len(seen) == 2 + 1 + 2 + 2 and set(seen) == {np.dtype(np.float64)}
    assert out.dtype == np.float64 and model[0].weight.dtype == np.float64


def test_float64_model_with_float32_loader_gets_cast_batches():
    x, y = blobs(32)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16)
    model = mlp(n_in=4, n_out=3).double()
    seen = dtype_probe(model)
    nerve.fit(model, loader, loss="cross_entropy", epochs=1, verbose=0, validation_data=loader)
    nerve.evaluate(model, loader, loss="cross_entropy")
    nerve.predict(model, loader)
    assert len(seen) == 8 and set(seen) == {np.dtype(np.float64)}


def test_float32_model_keeps_float32_batches_from_float64_arrays():
    x, y = blobs(32)
    model = mlp(n_in=4, n_out=3)
    seen = dtype_probe(model)
    nerve.fit(model, x.astype(np.float64), y, loss="cross_entropy", epochs=1, verbose=0)
    assert seen == [np.float32]


def test_fit_integer_inputs_become_the_models_float():
    x, y = xor_data()
    model = mlp().double()
    seen = dtype_probe(model)
    nerve.fit(model, x.astype(np.int64), y, loss="cross_entropy", epochs=1, verbose=0)
    assert set(seen) == {np.dtype(np.float64)}


def test_validation_split_takes_the_last_samples():
    x, y = blobs(40)
    seen = []
    model = mlp(n_in=4, n_out=3)
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].numpy().copy())
                                    if not m.training else None)
    nerve.fit(model, x, y, loss="cross_entropy", epochs=1, batch_size=64, verbose=0,
              validation_split=0.25)
    assert np.array_equal(seen[0], x[30:].astype(np.float32))


def test_validation_split_needs_arrays_and_leaves_training_samples():
    x, y = blobs(4)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=2)
    with pytest.raises(ValueError, match="validation_split=0.5"):
        nerve.fit(mlp(n_in=4, n_out=3), loader, loss="cross_entropy", verbose=0,
                  validation_split=0.5)
    with pytest.raises(ValueError, match="leaves no training samples"):
        nerve.fit(mlp(n_in=4, n_out=3), x[:1], y[:1], loss="cross_entropy", verbose=0,
                  validation_split=0.5)
    with pytest.raises(ValueError, match="validation_split=1.0"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", verbose=0,
                  validation_split=1.0)


# --- metrics chosen by the loss, one decision threshold ---------------------------------------
@pytest.mark.parametrize("loss, expected", [
    ("cross_entropy", ("accuracy",)), ("nll", ("accuracy",)), ("bce", ("accuracy",)),
    ("bce_with_logits", ("accuracy",)), (nn.functional.cross_entropy, ("accuracy",)),
    ("mse", ()), ("l1", ()), ("ssr", ()), (nn.functional.mse_loss, ()),
])
def test_default_metrics_follow_the_loss(loss, expected):
    assert metrics.default_metrics(nerve.train.get_loss(loss)) == expected


def test_default_metrics_without_a_known_loss_follow_the_targets():
    assert metrics.default_metrics(None, np.array([0, 1])) == ("accuracy",)
    assert metrics.default_metrics(lambda p, t: p, np.array([0.5])) == ()
    assert metrics.default_metrics(None) == ()


def test_fit_regression_logs_no_accuracy_and_classification_does():
    x, _ = blobs(40)
    y = x.sum(axis=1, keepdims=True)
    hist = nerve.fit(nn.Sequential(nn.Linear(4, 1)), x, y, loss="mse", epochs=1, verbose=0,
                     validation_split=0.25)
    assert set(hist) == {"loss", "val_loss"}
    x, y = blobs(40)
    hist = nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert set(hist) == {"loss", "accuracy"}


def test_evaluate_auto_metrics():
    x, y = blobs(40)
    model = mlp(n_in=4, n_out=3)
    assert set(nerve.evaluate(model, x, y)) == {"accuracy"}
    assert set(nerve.evaluate(model, x, y, loss="cross_entropy")) == {"loss", "accuracy"}
    assert set(nerve.evaluate(model, x, y.astype(np.float32)[:, None].repeat(3, 1),
                              loss="mse")) == {"loss"}


@pytest.mark.parametrize("loss, model, expected", [
    (nn.BCEWithLogitsLoss(), nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), 0.0),
    (nn.BCELoss(), nn.Sequential(nn.Linear(2, 1)), 0.5),
    (nn.functional.binary_cross_entropy_with_logits, None, 0.0),
    (nn.functional.binary_cross_entropy, None, 0.5),
    (None, nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), 0.5),
    (None, nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)), 0.5),
    (None, nn.Sequential(nn.Linear(2, 3), nn.LogSoftmax(dim=1)), np.log(0.5)),
    (nn.MSELoss(), nn.Sequential(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())), 0.5),
    (None, nn.Sequential(nn.Linear(2, 1)), None),  # nothing says: no guess
    (None, nn.Sigmoid(), 0.5),
    (None, None, None),
    (nn.MSELoss(), nn.Sequential(nn.Linear(2, 1)), 0.5),  # trained to equal the 0/1 targets
    (nn.NLLLoss(), None, np.log(0.5)),
])
def test_decision_threshold_logits_at_0_probabilities_at_half(loss, model, expected):
    assert metrics.decision_threshold(loss, model) == expected


class Constant(nn.Module):
    """A model whose single output is ``value`` for every sample."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return nerve.full((x.shape[0], 1), self.value)


def test_predict_classes_threshold_follows_the_model():
    x = np.zeros((3, 2), np.float32)
    logits = nn.Sequential(Constant(0.3))
    probabilities = nn.Sequential(Constant(-0.85), nn.Sigmoid())  # sigmoid(-0.85) = 0.3
    assert nerve.predict_classes(probabilities, x).tolist() == [0, 0, 0]
    assert nerve.predict_classes(logits, x, from_logits=True).tolist() == [1, 1, 1]
    assert nerve.predict_classes(logits, x, from_logits=False).tolist() == [0, 0, 0]
    assert nerve.predict_classes(logits, x, threshold=0.5).tolist() == [0, 0, 0]


def test_fit_bce_on_probabilities_decides_at_half():
    x = np.zeros((8, 2), np.float32)
    y = np.zeros((8, 1), np.float32)
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    nn.init.zeros_(model[0].weight)
    nn.init.constant_(model[0].bias, -0.85)  # outputs 0.3: class 0 at 0.5, class 1 at 0
    opt = optim.SGD(model.parameters(), lr=0.0)
    hist = nerve.fit(model, x, y, loss="bce", optimizer=opt, epochs=1, verbose=0)
    assert hist["accuracy"] == [1.0]
    assert nerve.evaluate(model, x, y, loss="bce")["accuracy"] == 1.0


def test_predict_proba_of_a_probability_model_is_its_output():
    x, _ = blobs(10)
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    assert np.array_equal(nerve.predict_proba(model, x), nerve.predict(model, x))


def test_a_metric_given_to_fit_is_neither_shared_nor_changed():
    x, y = blobs(40)
    acc = metrics.Accuracy()
    hist = nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=1, verbose=0,
                     metrics=[acc], validation_split=0.5)
    assert acc.threshold is None and acc.count == 0
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy"}


# --- a seeded fit draws from its own generator ------------------------------------------------
def test_seeded_fit_leaves_the_global_generator_untouched():
    x, y = blobs(64)

    def model():
        return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))

    m = model()
    nerve.manual_seed(123)
    expected = nerve.randn(5).detach().numpy()
    nerve.manual_seed(123)
    nerve.fit(m, x, y, loss="cross_entropy", epochs=2, batch_size=8, verbose=0, seed=4,
              validation_split=0.25)
    assert np.array_equal(nerve.randn(5).detach().numpy(), expected)


def test_unseeded_fit_draws_from_the_global_generator():
    x, y = blobs(64)

    def run():
        model = mlp(n_in=4, n_out=3)
        nerve.manual_seed(8)
        nerve.fit(model, x, y, loss="cross_entropy", epochs=1, batch_size=8, verbose=0)
        return weights(model)

    w1, w2 = run(), run()
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    nerve.manual_seed(8)
    before = nerve.randn(3).detach().numpy()
    nerve.manual_seed(8)
    nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert not np.array_equal(nerve.randn(3).detach().numpy(), before)


@pytest.mark.parametrize("kwargs, error", [
    ({"seed": -1}, ValueError), ({"verbose": 3}, ValueError), ({"shuffle": "yes"}, TypeError),
    ({"initial_epoch": -1}, ValueError), ({"metrics": 5}, TypeError),
])
def test_fit_checks_its_arguments(kwargs, error):
    x, y = blobs(20)
    (name, value), = kwargs.items()
    with pytest.raises(error, match=rf"^fit: expected .*Received: {name}={value!r}"):
        nerve.fit(mlp(n_in=4, n_out=3), x, y, loss="cross_entropy", **{"verbose": 0, **kwargs})


def test_evaluate_and_predict_accept_a_dataloader():
    x, y = blobs(20)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=8)
    model = mlp(n_in=4, n_out=3)
    assert np.array_equal(nerve.predict(model, loader), nerve.predict(model, x))
    assert nerve.evaluate(model, loader, loss="cross_entropy") == nerve.evaluate(
        model, x, y, loss="cross_entropy", batch_size=8)


# --- metrics: the review's cases, against scikit-learn ---------------------------------------
def test_accuracy_of_a_multilabel_model_counts_each_output():
    """Binary cross-entropy trains each output as its own yes or no: accuracy compares each
    output's decision with its 0/1 target, not the argmax of a multi-hot row."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5)).astype(np.float32)
    nerve.manual_seed(0)
    model = nn.Linear(5, 3)
    y = (nerve.predict(model, x) > 0).astype(np.float32)  # the model's own decisions
    assert (y.sum(axis=1) != 1).any()  # multi-hot rows
    assert nerve.evaluate(model, x, y, loss="bce_with_logits")["accuracy"] == 1.0
    flipped = y.copy()
    flipped[:10, 0] = 1 - flipped[:10, 0]  # 10 of 300 decisions wrong
    got = nerve.evaluate(model, x, flipped, loss="bce_with_logits", batch_size=7)["accuracy"]
    assert got == pytest.approx(290 / 300)
    with pytest.raises(ValueError, match="multilabel"):  # argmax of multi-hot rows: refused
        metrics.accuracy(nerve.predict(model, x), y)
    h = nerve.fit(model, x, y, loss="bce_with_logits", epochs=1, verbose=0)
    assert 0.5 < h["accuracy"][0] <= 1.0


def test_r2_of_several_outputs_is_the_mean_of_each_outputs_as_in_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    t = np.stack([rng.normal(size=50), 100 + rng.normal(size=50)], axis=1)
    p = t + rng.normal(scale=0.9, size=t.shape)
    expected = sk.r2_score(t, p)
    assert metrics.r2_score(p, t) == pytest.approx(expected, rel=1e-9)
    running = metrics.R2()
    for i in range(0, 50, 16):  # batches of 16, the last of 2
        running.update(p[i:i + 16], t[i:i + 16])
    assert running.result() == pytest.approx(expected, rel=1e-9)
    far = 1e8 + t[:, 0]  # a large offset: the running sums must not cancel the variance
    running = metrics.R2()
    for i in range(0, 50, 16):
        running.update(far[i:i + 16] + (p - t)[i:i + 16, 0], far[i:i + 16])
    assert running.result() == pytest.approx(sk.r2_score(far, far + (p - t)[:, 0]), rel=1e-6)


def test_confusion_matrix_refuses_labels_outside_its_classes():
    assert metrics.confusion_matrix([0, 1, 1], [0, 1, 0], num_classes=2).tolist() == [[1, 0],
                                                                                       [1, 1]]
    for target, pred in (([0], [3]), ([1], [-1]), ([-1], [0])):
        with pytest.raises(ValueError, match=r"class indices in \[0, "):
            metrics.confusion_matrix(target, pred, num_classes=2 if pred != [-1] else 3)


@pytest.mark.parametrize("monitor, mode", [("val_loss", "min"), ("mse", "min"),
                                           ("val_accuracy", "max"), ("val_auc", "max"),
                                           ("val_f1", "max"), ("r2", "max"),
                                           ("val_error_rate", "min")])
def test_auto_mode_reads_the_direction_from_the_name(monitor, mode):
    assert EarlyStopping(monitor=monitor).mode == mode


def test_auto_mode_refuses_a_name_that_says_no_direction():
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        EarlyStopping(monitor="val_custom")
    assert EarlyStopping(monitor="val_custom", mode="max").mode == "max"
    ModelCheckpoint("m.safetensors", monitor="val_custom")  # watches nothing: saves every epoch
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        ModelCheckpoint("m.safetensors", monitor="val_custom", save_best_only=True)


@pytest.mark.parametrize("loss", [
    lambda: nn.CrossEntropyLoss(ignore_index=2),
    lambda: nn.CrossEntropyLoss(weight=nerve.tensor([0.2, 1.0, 3.0])),
    lambda: nn.CrossEntropyLoss(weight=nerve.tensor([0.2, 1.0, 3.0]), ignore_index=0),
    lambda: nn.NLLLoss(ignore_index=1),
    lambda: nn.SSRLoss(),
    lambda: nn.MSELoss(reduction="sum"),
    lambda: nn.functional.ssr_loss,
], ids=["ignore_index", "class weights", "both", "nll", "ssr", "mse sum", "ssr function"])
def test_the_loss_of_an_epoch_is_the_loss_of_all_its_samples_at_any_batch_size(loss):
    """evaluate and fit report the loss of the whole data as if it were one batch: a weighted
    or masked mean divides by the weights counted, a sum adds up."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    regression = loss() is nn.functional.ssr_loss or isinstance(loss(), (nn.SSRLoss,
                                                                           nn.MSELoss))
    y = rng.normal(size=(10, 3)).astype(np.float32) if regression else rng.integers(0, 3, 10)
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(1)) if isinstance(loss(), nn.NLLLoss) \
        else nn.Linear(4, 3)
    whole = nerve.evaluate(model, x, y, loss=loss(), batch_size=10)["loss"]
    with nerve.no_grad():
        direct = float(loss()(model(nerve.tensor(x)), nerve.tensor(y)).item())
    assert whole == pytest.approx(direct, rel=1e-6)
    for batch_size in (3, 4, 7):
        assert nerve.evaluate(model, x, y, loss=loss(), batch_size=batch_size)["loss"] == \
            pytest.approx(whole, rel=1e-5)
    h = nerve.fit(model, x, y, loss=loss(), optimizer=optim.SGD(model.parameters(), lr=0.0),
                  epochs=1, batch_size=4, verbose=0, shuffle=False, metrics=[])
    assert h["loss"][0] == pytest.approx(whole, rel=1e-5)  # lr 0: the same weights all epoch


def test_accuracy_leaves_out_the_targets_the_loss_ignores_and_counts_each_position():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    nerve.manual_seed(0)
    model = nn.Linear(4, 3)
    decided = nerve.predict(model, x).argmax(1)
    y = decided.copy()
    y[:3] = -100  # ignored
    y[3] = (decided[3] + 1) % 3  # one of the 7 counted is wrong
    got = nerve.evaluate(model, x, y, loss=nn.CrossEntropyLoss(), batch_size=4)
    assert got["accuracy"] == pytest.approx(6 / 7)
    # a class per position: outputs (N, C, T), targets (N, T), as cross-entropy takes them
    seq = rng.normal(size=(8, 3, 5)).astype(np.float32)
    conv = nn.Conv1d(3, 4, 1)
    labels = nerve.predict(conv, seq).argmax(1)
    labels[0, :2] = (labels[0, :2] + 1) % 4
    h = nerve.fit(conv, seq, labels, loss="cross_entropy", epochs=1, batch_size=4, verbose=0,
                  optimizer=optim.SGD(conv.parameters(), lr=0.0))
    assert h["accuracy"][0] == pytest.approx(38 / 40)


def test_predict_on_no_rows_gives_the_outputs_shape():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 3))
    assert nerve.predict(model, np.zeros((0, 1, 5, 5), np.float32)).shape == (0, 3)
    assert nerve.zeros(0, 2, 3).flatten(1).shape == (0, 6)  # as PyTorch: 0 rows flatten too
