"""Nothing silently wrong in fit / predict: outputs decided from what is known, an optimizer of
another model, zero samples, non-finite weights, checkpoint path fields and monitors checked
before training, validation_data's shape, and OneCycleLR per batch as PyTorch's."""

import re
import warnings

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.optim import lr_scheduler
from nerve.train import (
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    metrics,
)


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 4)).astype(np.float32) + 2.0 * y[:, None], y


def binary(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x.sum(axis=1) > 0).astype(np.float32)[:, None]


def mlp(n_in=4, n_out=3, seed=0):
    nerve.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))


def arrays(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def quiet_fit(*args, **kwargs):
    return nerve.fit(*args, **{"verbose": 0, **kwargs})


# --- 1. predict_proba / predict_classes decide from what is known ------------------------------
def test_predict_proba_follows_the_loss_fit_trained_with():
    x, y = binary()
    model = mlp(2, 1)
    quiet_fit(model, x, y, loss="bce_with_logits", epochs=1)
    assert model.output_kind_ == "logits"
    out = nerve.predict(model, x)
    np.testing.assert_allclose(nerve.predict_proba(model, x), 1 / (1 + np.exp(-out)), rtol=1e-6)
    np.testing.assert_array_equal(nerve.predict_classes(model, x), (out > 0).astype(int).ravel())
    quiet_fit(model, x, y, loss="mse", epochs=1)  # the outputs now estimate the 0/1 targets
    out = nerve.predict(model, x)
    assert model.output_kind_ == "probabilities"
    np.testing.assert_array_equal(nerve.predict_proba(model, x), out)
    np.testing.assert_array_equal(nerve.predict_classes(model, x),
                                  (out > 0.5).astype(int).ravel())


def test_predict_proba_of_a_log_softmax_model_exponentiates():
    x, y = blobs(20)
    model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))
    p = nerve.predict_proba(model, x)
    np.testing.assert_allclose(p, np.exp(nerve.predict(model, x)), rtol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    quiet_fit(model, x, y, loss="nll", epochs=1)
    assert model.output_kind_ == "log_probabilities"
    np.testing.assert_allclose(nerve.predict_proba(model, x), np.exp(nerve.predict(model, x)),
                               rtol=1e-6)


def test_predict_proba_without_anything_known_asks_for_from_logits():
    x, _ = blobs(10)
    model = mlp()
    with pytest.raises(ValueError, match=re.escape("predict_proba: expected from_logits=True or "
                                                   "False: nothing says whether the model's "
                                                   "outputs are logits or probabilities")) as e:
        nerve.predict_proba(model, x)
    assert str(e.value).endswith("Received: from_logits=None")
    logits = nerve.predict(model, x)
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(nerve.predict_proba(model, x, from_logits=True), soft, rtol=1e-5)
    np.testing.assert_array_equal(nerve.predict_proba(model, x, from_logits=False), logits)
    with pytest.raises(TypeError, match="Received: from_logits='yes'"):
        nerve.predict_proba(model, x, from_logits="yes")


def test_predict_classes_of_a_single_unknown_output_raises_but_argmax_needs_nothing():
    x, _ = binary(10)
    with pytest.raises(ValueError, match=re.escape("predict_classes: expected from_logits=True "
                                                   "or False (or threshold=) for a single "
                                                   "output")):
        nerve.predict_classes(mlp(2, 1), x)
    out = nerve.predict(mlp(2, 3), x)
    np.testing.assert_array_equal(nerve.predict_classes(mlp(2, 3), x), out.argmax(axis=1))
    with pytest.raises(TypeError, match="threshold or from_logits, not both"):
        nerve.predict_classes(mlp(2, 1), x, threshold=0.5, from_logits=True)
    with pytest.raises(TypeError, match="Received: threshold='0.5'"):
        nerve.predict_classes(mlp(2, 1), x, threshold="0.5")


def test_fit_with_a_loss_of_its_own_records_nothing_and_the_layer_decides():
    x, y = binary()
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    quiet_fit(model, x, y, loss=lambda p, t: ((p - t) * (p - t)).mean(), epochs=1)
    assert model.output_kind_ is None
    np.testing.assert_array_equal(nerve.predict_proba(model, x), nerve.predict(model, x))


def test_fit_accuracy_of_a_single_output_nothing_explains_raises():
    x, y = binary()
    with pytest.raises(ValueError, match=re.escape("accuracy: expected a threshold for a single "
                                                   "output")):
        quiet_fit(mlp(2, 1), x, y, loss=lambda p, t: ((p - t) * (p - t)).mean(),
                  metrics=["accuracy"])
    hist = quiet_fit(mlp(2, 1), x, y, loss=lambda p, t: ((p - t) * (p - t)).mean(),
                     metrics=[metrics.Accuracy(threshold=0.5)])
    assert 0.0 <= hist["accuracy"][0] <= 1.0


# --- 2. an optimizer made for another model ------------------------------------------------------
def test_fit_with_another_models_optimizer_raises_before_training():
    x, y = blobs()
    model, other = mlp(), mlp(seed=1)
    before = arrays(model)
    with pytest.raises(ValueError, match=re.escape("fit: expected an optimizer over the model's "
                                                   "trainable parameters (this one holds 4 "
                                                   "parameters, none of them the model's: made "
                                                   "for another model?). "
                                                   "Received: optimizer=SGD(...)")):
        quiet_fit(model, x, y, loss="cross_entropy",
                  optimizer=optim.SGD(other.parameters(), lr=0.1))
    assert same(before, arrays(model))


def test_fit_with_an_optimizer_missing_some_parameters_warns():
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model[2].parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=re.escape("fit: 2 trainable parameters of the model are "
                                                   "not in the optimizer and will not train: "
                                                   "['0.weight', '0.bias']")):
        quiet_fit(model, x, y, loss="cross_entropy", optimizer=opt)
    model[0].requires_grad_(False)  # frozen on purpose: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet_fit(model, x, y, loss="cross_entropy", optimizer=opt)


def test_fit_model_without_trainable_parameters_raises():
    x, y = blobs()
    model = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match=re.escape("fit: expected a model with trainable "
                                                   "parameters (none, or all frozen)")):
        quiet_fit(model, x, y, loss="cross_entropy", optimizer=optim.SGD(mlp().parameters(),
                                                                         lr=0.1))


# --- 3. zero samples ---------------------------------------------------------------------------
def test_fit_on_zero_samples_raises():
    x, y = blobs()
    with pytest.raises(ValueError, match=re.escape("fit: expected training data with at least "
                                                   "one sample. Received: len(x)=0")):
        quiet_fit(mlp(), x[:0], y[:0], loss="cross_entropy")
    with pytest.raises(ValueError, match=re.escape("fit: expected validation data with at least "
                                                   "one sample. Received: "
                                                   "len(validation_data[0])=0")):
        quiet_fit(mlp(), x, y, loss="cross_entropy", validation_data=(x[:0], y[:0]))


def test_fit_validation_split_that_takes_everything_raises():
    x, y = blobs(2)
    with pytest.raises(ValueError, match="leaves no training samples"):
        quiet_fit(mlp(), x[:1], y[:1], loss="cross_entropy", validation_split=0.9)


def test_fit_on_a_drop_last_loader_without_a_full_batch_raises_before_training():
    x, y = blobs(10)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16, drop_last=True)
    model = mlp()
    before = arrays(model)
    with pytest.raises(ValueError, match=re.escape("fit: expected training data that yields at "
                                                   "least one batch. Received: x=")):
        quiet_fit(model, loader, loss="cross_entropy")
    assert same(before, arrays(model)) and not hasattr(model, "output_kind_")
    with pytest.raises(ValueError, match="data that yields at least one batch"):
        quiet_fit(model, x, y, loss="cross_entropy", validation_data=loader)
    with pytest.raises(ValueError, match="evaluate: expected data that yields at least one"):
        nerve.evaluate(model, loader, loss="cross_entropy")


# --- 4. non-finite weights --------------------------------------------------------------------
def regression(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (rng.normal(size=(n, 1)) * 1e3).astype(np.float32)


def test_fit_whose_last_step_makes_the_weights_infinite_keeps_the_finite_ones():
    x, y = regression()
    model = nn.Sequential(nn.Linear(4, 1))
    before = arrays(model)
    with pytest.warns(RuntimeWarning, match=re.escape("the weights are not finite at the end of "
                                                      "epoch 1: training stopped; the model "
                                                      "goes back to the last weights known good, "
                                                      "those of the start of training")):
        hist = quiet_fit(model, x, y, loss="mse", optimizer=optim.SGD(model.parameters(),
                                                                      lr=1e36),
                         epochs=3, batch_size=32, metrics=())
    assert same(before, arrays(model))
    assert hist.epoch == [0] and np.isfinite(hist["loss"][0])  # the loss was finite


def lr_jump(model, opt, epoch: int, lr: float):
    """A callback that sets the lr to ``lr`` when ``epoch`` begins, and the weights it then
    found (filled in by the callback)."""
    kept = {}

    def on_epoch_begin(e, logs):
        if e == epoch:
            kept.update(arrays(model))
            opt.param_groups[0]["lr"] = lr

    return LambdaCallback(on_epoch_begin=on_epoch_begin), kept


def test_fit_blowing_up_in_a_later_epoch_goes_back_to_the_last_finite_epoch():
    x, y = regression()
    model = nn.Sequential(nn.Linear(4, 1))
    opt = optim.SGD(model.parameters(), lr=1e-4)
    jump, kept = lr_jump(model, opt, 2, 1e36)
    with pytest.warns(RuntimeWarning, match="those of the end of epoch 2"):
        hist = quiet_fit(model, x, y, loss="mse", optimizer=opt, epochs=5, batch_size=32,
                         metrics=(), validation_split=0.25, callbacks=[jump])
    assert same(kept, arrays(model))
    assert hist.epoch == [0, 1, 2] and len(hist["loss"]) == len(hist["val_loss"]) == 3
    assert np.isnan(hist["val_loss"][2]) and np.isfinite(hist["val_loss"][1])


def test_fit_nan_in_the_first_epoch_returns_what_was_recorded():
    x, y = regression(64)
    model = nn.Sequential(nn.Linear(4, 1))
    with pytest.warns(RuntimeWarning, match=r"loss is (inf|nan) at epoch 1, batch 2"):
        hist = quiet_fit(model, x, y, loss="mse", optimizer=optim.SGD(model.parameters(),
                                                                      lr=1e36),
                         epochs=5, batch_size=32, metrics=("mae",), validation_split=0.25)
    assert hist  # not an empty dict
    assert set(hist) == {"loss", "mae", "val_loss", "val_mae"} and hist.epoch == [0]
    assert not np.isfinite(hist["loss"][0]) and np.isfinite(hist["mae"][0])  # batch 1's mae
    assert all(np.isfinite(v).all() for v in arrays(model).values())


# --- 5. ModelCheckpoint path fields and monitors, checked before training -----------------------
@pytest.mark.parametrize("path, field", [("ckpt-{val_acc}.safetensors", "val_acc"),
                                         ("ckpt-{epoch}-{accuracy:.2f}", "accuracy")])
def test_checkpoint_path_with_a_field_nobody_logs_raises_before_training(tmp_path, path, field):
    x, y = blobs()
    model = mlp()
    before = arrays(model)
    with pytest.raises(ValueError, match=re.escape(f"({{{field}}} is not logged)")) as err:
        quiet_fit(model, x, y, loss="mse", metrics=(), epochs=2,
                  callbacks=[ModelCheckpoint(tmp_path / path)])
    assert "['epoch', 'loss']" in str(err.value) and "Received: path=" in str(err.value)
    assert same(before, arrays(model)) and not list(tmp_path.iterdir())


def test_checkpoint_path_may_name_what_the_run_logs(tmp_path):
    x, y = blobs()
    cb = ModelCheckpoint(tmp_path / "c-{epoch:02d}-{val_accuracy:.2f}-{lr:.3f}.safetensors")
    quiet_fit(mlp(), x, y, loss="cross_entropy", epochs=2, validation_split=0.25,
              callbacks=[cb, LearningRateScheduler(lambda e: 0.01)])  # lr is logged after cb
    assert [p.split("/")[-1] for p in cb.saved] == [
        f"c-0{e}-{v:.2f}-0.010.safetensors" for e, v in ((1, cb.trainer.history["val_accuracy"][0]),
                                                        (2, cb.trainer.history["val_accuracy"][1]))]


def test_checkpoint_path_field_a_callback_of_the_users_may_log_is_checked_at_the_epoch_end(
        tmp_path):
    x, y = blobs()
    tag = LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("tag", 7))
    cb = ModelCheckpoint(tmp_path / "c-{tag}.safetensors")
    quiet_fit(mlp(), x, y, loss="cross_entropy", callbacks=[cb, tag])
    assert cb.saved[0].endswith("c-7.safetensors")
    cb = ModelCheckpoint(tmp_path / "c-{nope}.safetensors")
    with pytest.raises(ValueError, match=re.escape("({nope} is not logged)")):
        quiet_fit(mlp(), x, y, loss="cross_entropy", callbacks=[cb, tag])


@pytest.mark.parametrize("path, message", [
    ("c-{}.safetensors", "expected named fields in the path"),
    ("c-{0}.safetensors", "expected named fields in the path"),
    ("c-{epoch.safetensors", "expected a path template"),
])
def test_checkpoint_bad_template_raises_when_made(path, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelCheckpoint(path)


def test_checkpoint_bad_format_spec_raises_before_training(tmp_path):
    x, y = blobs()
    with pytest.raises(ValueError, match="ModelCheckpoint: expected a path that formats"):
        quiet_fit(mlp(), x, y, loss="cross_entropy",
                  callbacks=[ModelCheckpoint(tmp_path / "c-{loss:.3q}")])


@pytest.mark.parametrize("callback", [EarlyStopping(), ReduceLROnPlateau(),
                                      ModelCheckpoint("c.safetensors", save_best_only=True)],
                         ids=["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"])
def test_a_monitor_that_needs_validation_raises_before_training(callback):
    x, y = blobs()
    model = mlp()
    before = arrays(model)
    name = type(callback).__name__
    with pytest.raises(ValueError, match=re.escape(
            f"{name}: expected a name that the run logs, one of ['accuracy', 'loss'"
            ) + r".*\(val_ names need validation_data or validation_split\)\. "
                r"Received: monitor='val_loss'"):
        quiet_fit(model, x, y, loss="cross_entropy", epochs=3, callbacks=[callback])
    assert same(before, arrays(model))


def test_a_callback_that_declares_its_logs_can_be_monitored():
    class Tagger(nerve.train.Callback):
        logs = ("tag",)

        def on_epoch_end(self, epoch, logs):
            logs["tag"] = -epoch

    x, y = blobs()
    hist = quiet_fit(mlp(), x, y, loss="cross_entropy", epochs=3,
                     callbacks=[Tagger(), EarlyStopping("tag", mode="max", patience=0)])
    assert hist.epoch == [0, 1]


# --- 6. validation_data of the wrong shape ------------------------------------------------------
@pytest.mark.parametrize("data, error, message", [
    ("one", TypeError, "fit: expected a pair (x, y) or a DataLoader. "
                       "Received: validation_data='one'"),
    (None, None, None),
])
def test_validation_data_must_be_a_pair(data, error, message):
    x, y = blobs()
    if error is None:
        for bad in [(x,), (x, y, y)]:
            with pytest.raises(ValueError, match=re.escape(
                    f"fit: expected a pair (x, y) or a DataLoader (a tuple of {len(bad)} was "
                    "given). Received: validation_data=(")):
                quiet_fit(mlp(), x, y, loss="cross_entropy", validation_data=bad)
        return
    with pytest.raises(error, match=re.escape(message)):
        quiet_fit(mlp(), x, y, loss="cross_entropy", validation_data=data)


# --- 7. OneCycleLR through fit, per batch ---------------------------------------------------------
def test_one_cycle_lr_through_fit_follows_torchs_sequence_per_batch():
    torch = pytest.importorskip("torch")
    x, y = blobs(64)
    model = mlp()
    seen = []
    probe = LambdaCallback(on_batch_begin=lambda b, logs: seen.append(
        (probe.trainer.optimizer.param_groups[0]["lr"],
         probe.trainer.optimizer.param_groups[0]["momentum"])))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    quiet_fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=16,
              callbacks=[probe, LearningRateScheduler(lr_scheduler.OneCycleLR, interval="batch",
                                                      max_lr=0.5)])
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=12)
    expected = []
    for _ in range(12):
        expected.append((topt.param_groups[0]["lr"], topt.param_groups[0]["momentum"]))
        topt.step()
        tsched.step()
    np.testing.assert_allclose(seen, expected, rtol=1e-12)


# --- relatives: arguments of the wrong kind, found before training ------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: nerve.fit([1, 2], np.zeros((2, 4)), np.zeros(2), loss="mse"),
     "fit: expected a Module as model. Received: model=[1, 2]"),
    (lambda: nerve.evaluate("model", np.zeros((2, 4)), np.zeros(2)),
     "evaluate: expected a Module as model. Received: model='model'"),
    (lambda: nerve.predict(None, np.zeros((2, 4))), "predict: expected a Module as model"),
    (lambda: nerve.predict_proba(None, np.zeros((2, 4))), "predict_proba: expected a Module"),
    (lambda: nerve.train.find_lr(3, "mse", np.zeros((2, 4)), np.zeros(2)),
     "find_lr: expected a Module as model. Received: model=3"),
    (lambda: EarlyStopping(restore_best_weights="yes"),
     "EarlyStopping: expected True or False. Received: restore_best_weights='yes'"),
    (lambda: ModelCheckpoint("c", save_best_only=1),
     "ModelCheckpoint: expected True or False. Received: save_best_only=1"),
])
def test_front_doors_and_callbacks_check_the_kind_of_their_arguments(call, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        call()


def test_a_schedule_of_another_optimizer_raises_before_anything_changes():
    x, y = blobs()
    model = mlp()
    other = optim.SGD(mlp(seed=1).parameters(), lr=0.1)
    before = arrays(model)
    cb = LearningRateScheduler(lr_scheduler.StepLR(other, step_size=1))
    with pytest.raises(ValueError, match="made on another optimizer"):
        quiet_fit(model, x, y, loss="cross_entropy", callbacks=[cb])
    assert same(before, arrays(model)) and not hasattr(model, "output_kind_")


def test_find_lr_on_zero_samples_raises():
    with pytest.raises(ValueError, match=re.escape("find_lr: expected training data with at "
                                                   "least one sample. Received: len(x)=0")):
        nerve.train.find_lr(mlp(), "mse", np.zeros((0, 4)), np.zeros((0, 3)))


def test_lambda_lr_through_fit_per_epoch():
    x, y = blobs()
    hist = quiet_fit(mlp(), x, y, loss="cross_entropy", epochs=4,
                     optimizer="sgd",
                     callbacks=[LearningRateScheduler(lr_scheduler.LambdaLR,
                                                      lr_lambda=lambda e: 0.5 ** e)])
    np.testing.assert_allclose(hist["lr"], [0.01, 0.005, 0.0025, 0.00125], rtol=1e-12)


def test_weights_that_diverged_but_stayed_finite_are_not_kept():
    """An lr far too large leaves finite weights near 1e33 whose loss is infinite: the run
    goes back to the last good epoch's weights instead of keeping those."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32) * 1e3
    model = nn.Sequential(nn.Linear(4, 1))
    opt = optim.SGD(model.parameters(), lr=1e-6)
    jump, kept = lr_jump(model, opt, 1, 1e15)
    hist = quiet_fit(model, x, y, loss="mse", optimizer=opt, epochs=5, batch_size=16,
                     metrics=(), callbacks=[jump])
    assert "those of the end of epoch 1" in hist.stop_reason
    assert same(kept, arrays(model))
    with nerve.no_grad():
        assert np.isfinite(nn.functional.mse_loss(model(nerve.tensor(x)), nerve.tensor(y)).item())
