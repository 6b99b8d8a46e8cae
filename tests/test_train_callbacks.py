"""fit's one callback list: hook order, hooks called only where used, History and the progress
bar as callbacks, gradient clipping, learning-rate schedules and exact resume with their state."""

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.nn.utils import clip_grad_norm_, clip_grad_value_
from nerve.optim import lr_scheduler
from nerve.train import (
    Callback,
    CallbackList,
    EarlyStopping,
    GradientClipping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    Trainer,
)


def blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 2.0 * y[:, None]
    return x, y


def mlp(seed=0, dropout=0.0):
    nerve.manual_seed(seed)
    layers = [nn.Linear(4, 16), nn.ReLU()]
    layers += [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(*layers, nn.Linear(16, 3))


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


class Recorder(Callback):
    """Records every hook it receives."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(f"epoch_begin {epoch}")

    def on_batch_begin(self, batch, logs):
        self.calls.append(f"batch_begin {batch} size={logs['size']}")

    def on_after_backward(self, batch, logs):
        self.calls.append(f"after_backward {batch}")

    def on_batch_end(self, batch, logs):
        self.calls.append(f"batch_end {batch}")

    def on_epoch_end(self, epoch, logs):
        self.calls.append(f"epoch_end {epoch}")

    def on_train_end(self, logs):
        self.calls.append("train_end")


# --- the callback list ------------------------------------------------------------------------
def test_fit_calls_every_hook_in_order():
    x, y = blobs(24)
    rec = Recorder()
    nerve.fit(mlp(), x, y, loss="cross_entropy", epochs=2, batch_size=16, verbose=0,
              callbacks=[rec])
    batch = ["batch_begin {b} size={n}", "after_backward {b}", "batch_end {b}"]
    expected = ["train_begin"]
    for epoch in range(2):
        expected.append(f"epoch_begin {epoch}")
        for b, n in ((0, 16), (1, 8)):
            expected += [c.format(b=b, n=n) for c in batch]
        expected.append(f"epoch_end {epoch}")
    assert rec.calls == expected + ["train_end"]


def test_a_hook_is_called_only_on_the_callbacks_that_use_it():
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs):
            pass

    epoch_only, lam = EpochOnly(), LambdaCallback(on_batch_end=lambda b, logs: None)
    cbs = CallbackList([epoch_only, lam, History(), ProgressBar(verbose=2)])
    assert cbs.hooks["on_batch_end"] == [lam.on_batch_end]
    assert cbs.hooks["on_batch_begin"] == cbs.hooks["on_after_backward"] == []
    assert len(cbs.hooks["on_epoch_end"]) == 3  # EpochOnly, History, ProgressBar


def test_fit_with_its_own_callbacks_has_no_batch_hooks():
    model = mlp()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                      verbose=2)
    assert isinstance(trainer.callbacks.callbacks[-1], ProgressBar)
    assert trainer.callbacks.callbacks[-2] is trainer.history
    assert not any(trainer.callbacks.hooks[h] for h in
                   ("on_batch_begin", "on_after_backward", "on_batch_end"))


def test_history_is_a_callback_after_the_users_and_sees_what_they_log():
    x, y = blobs()
    tag = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__("tag", epoch * 10))
    hist = nerve.fit(mlp(), x, y, loss="cross_entropy", epochs=3, verbose=0, callbacks=[tag])
    assert isinstance(hist, Callback) and hist["tag"] == [0.0, 10.0, 20.0]


def test_verbose_lines_show_what_callbacks_log(capsys):
    x, y = blobs()
    nerve.fit(mlp(), x, y, loss="cross_entropy", epochs=1, verbose=2,
              callbacks=[LearningRateScheduler(lambda epoch: 0.05)])
    assert "lr: 0.0500" in capsys.readouterr().err


def test_stop_training_from_a_batch_hook_ends_the_epoch_there():
    x, y = blobs(64)
    seen = []

    def stop(batch, logs):
        seen.append(batch)
        if batch == 1:
            stopper.trainer.stop_training = True

    stopper = LambdaCallback(on_batch_end=stop)
    hist = nerve.fit(mlp(), x, y, loss="cross_entropy", epochs=3, batch_size=16, verbose=0,
                     callbacks=[stopper])
    assert seen == [0, 1] and hist.epoch == [0]


def test_fit_rejects_what_is_not_a_callback():
    x, y = blobs()
    with pytest.raises(TypeError, match="Callback instances"):
        nerve.fit(mlp(), x, y, loss="cross_entropy", verbose=0, callbacks=[print])


def test_lambda_callback_rejects_unknown_hooks_and_takes_after_backward():
    with pytest.raises(ValueError, match="on_batch_finish"):
        LambdaCallback(on_batch_finish=print)
    assert LambdaCallback(on_after_backward=print).uses("on_after_backward")


# --- gradients between backward and step ------------------------------------------------------
def test_on_after_backward_sees_the_gradients_before_the_step():
    x, y = blobs(32)
    model = mlp()
    seen = []

    def look(batch, logs):
        seen.append((all(p.grad is not None for p in model.parameters()), weights(model)))

    before = weights(model)
    nerve.fit(model, x, y, loss="cross_entropy", epochs=1, batch_size=32, verbose=0,
              callbacks=[LambdaCallback(on_after_backward=look)])
    has_grads, at_hook = seen[0]
    assert has_grads and all(np.array_equal(before[k], at_hook[k]) for k in before)
    assert not same_weights(model, mlp())  # the step came after the hook


def plain_clipped_epoch(x, y, clip):
    """One epoch in order, batch 16, SGD lr 0.5, clipping with ``clip`` after backward."""
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.5)
    for i in range(0, len(x), 16):
        loss = nn.functional.cross_entropy(model(nerve.tensor(x[i:i + 16])), y[i:i + 16])
        opt.zero_grad()
        loss.backward()
        clip(list(model.parameters()))
        opt.step()
    return model


@pytest.mark.parametrize("kwargs, clip", [
    ({"clip_grad_norm": 0.01}, lambda ps: clip_grad_norm_(ps, 0.01)),
    ({"clip_grad_value": 0.001}, lambda ps: clip_grad_value_(ps, 0.001)),
], ids=["norm", "value"])
def test_fit_clips_gradients_as_a_plain_loop_does(kwargs, clip):
    x, y = blobs(48)
    model = mlp()
    nerve.fit(model, x, y, loss="cross_entropy", optimizer=optim.SGD(model.parameters(),
              lr=0.5), epochs=1, batch_size=16, shuffle=False, verbose=0, **kwargs)
    assert same_weights(model, plain_clipped_epoch(x, y, clip))
    unclipped = mlp()
    nerve.fit(unclipped, x, y, loss="cross_entropy", optimizer=optim.SGD(
        unclipped.parameters(), lr=0.5), epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert not same_weights(model, unclipped)


@pytest.mark.parametrize("kwargs, error", [
    ({}, ValueError), ({"max_norm": 0.0}, ValueError), ({"max_value": -1.0}, ValueError),
    ({"max_norm": "1"}, TypeError), ({"max_norm": 1.0, "norm_type": 0}, ValueError),
])
def test_gradient_clipping_checks_its_arguments(kwargs, error):
    with pytest.raises(error, match="GradientClipping: expected"):
        GradientClipping(**kwargs)


def test_fit_checks_clip_grad_norm():
    x, y = blobs()
    with pytest.raises(ValueError, match="max_norm=-1"):
        nerve.fit(mlp(), x, y, loss="cross_entropy", verbose=0, clip_grad_norm=-1)


# --- learning-rate schedules ------------------------------------------------------------------
def lrs_of(hist):
    return [round(v, 10) for v in hist["lr"]]


@pytest.mark.parametrize("make", [
    lambda opt: LearningRateScheduler(lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)),
    lambda opt: LearningRateScheduler(lr_scheduler.StepLR, step_size=2, gamma=0.5),
    lambda opt: LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** (epoch // 2)),
], ids=["schedule", "class", "function"])
def test_learning_rate_scheduler_per_epoch_logs_each_epochs_lr(make):
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=5, verbose=0,
                     callbacks=[make(opt)])
    assert lrs_of(hist) == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_learning_rate_scheduler_per_batch_steps_after_every_optimizer_step():
    x, y = blobs(64)  # 4 batches of 16 per epoch
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = LearningRateScheduler(lr_scheduler.ExponentialLR, interval="batch", gamma=0.5)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=2,
                     batch_size=16, verbose=0, callbacks=[sched])
    assert lrs_of(hist) == [round(0.1 * 0.5**3, 10), round(0.1 * 0.5**7, 10)]  # last batches
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**8)


def test_learning_rate_function_per_batch_counts_steps_across_epochs():
    x, y = blobs(64)
    seen = []
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    record = LambdaCallback(on_after_backward=lambda b, logs: seen.append(
        opt.param_groups[0]["lr"]))
    nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=16,
              verbose=0, callbacks=[LearningRateScheduler(lambda step: step / 100,
                                                          interval="batch"), record])
    assert seen == [step / 100 for step in range(8)]


def test_learning_rate_scheduler_with_a_name_made_optimizer():
    x, y = blobs()
    hist = nerve.fit(mlp(), x, y, loss="cross_entropy", optimizer="sgd", epochs=3, verbose=0,
                     callbacks=[LearningRateScheduler(lr_scheduler.ExponentialLR, gamma=0.1)])
    assert lrs_of(hist) == [0.01, 0.001, 0.0001]


def test_learning_rate_scheduler_refuses_a_schedule_of_another_optimizer():
    x, y = blobs()
    other = optim.SGD(mlp().parameters(), lr=0.1)
    sched = LearningRateScheduler(lr_scheduler.StepLR(other, step_size=1))
    with pytest.raises(ValueError, match="another optimizer"):
        nerve.fit(mlp(), x, y, loss="cross_entropy", optimizer="sgd", verbose=0,
                  callbacks=[sched])


@pytest.mark.parametrize("args, kwargs, error, text", [
    ((lambda e: 0.1,), {"interval": "step"}, ValueError, "interval='step'"),
    ((lambda e: 0.1,), {"gamma": 0.5}, TypeError, "schedule class"),
    ((0.1,), {}, TypeError, "schedule=0.1"),
    ((lr_scheduler.ReduceLROnPlateau,), {}, TypeError, "nerve.train.ReduceLROnPlateau"),
])
def test_learning_rate_scheduler_checks_its_arguments(args, kwargs, error, text):
    with pytest.raises(error, match=text):
        LearningRateScheduler(*args, **kwargs)


def test_learning_rate_function_must_give_a_number():
    x, y = blobs()
    with pytest.raises(ValueError, match="lr=-1"):
        nerve.fit(mlp(), x, y, loss="cross_entropy", verbose=0,
                  callbacks=[LearningRateScheduler(lambda epoch: -1)])


def test_reduce_lr_on_plateau_lowers_the_lr_when_the_monitor_stalls():
    x, y = blobs()
    xv, yv = x, (y + 1) % 3  # wrong labels: val_loss gets worse as the model learns
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.05)
    plateau = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=8, verbose=0,
                     validation_data=(xv, yv), callbacks=[plateau])
    lrs = hist["lr"]
    assert lrs[0] == 0.05 and lrs[-1] < 0.05 and all(b <= a for a, b in zip(lrs, lrs[1:]))
    assert set(np.round(np.log2(np.array(lrs) / 0.05), 6)) <= {0.0, -1.0, -2.0, -3.0, -4.0}


@pytest.mark.parametrize("kwargs, error", [
    ({"factor": 1.0}, ValueError), ({"patience": -1}, ValueError), ({"mode": "up"}, ValueError),
    ({"min_delta": -0.1}, ValueError), ({"cooldown": 1.5}, TypeError),
])
def test_reduce_lr_on_plateau_checks_its_arguments(kwargs, error):
    with pytest.raises(error, match="ReduceLROnPlateau: expected"):
        ReduceLROnPlateau(**kwargs)


# --- state in checkpoints and exact resume ----------------------------------------------------
def scheduled_callbacks():
    """Schedules whose next step depends on their state, not only on the optimizer's lr."""
    return [LearningRateScheduler(lr_scheduler.StepLR, step_size=3, gamma=0.5),
            ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=0.0),
            EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=False)]


def test_resume_with_schedules_is_bitwise_exact(tmp_path):
    x, y = blobs(96)
    xv, yv = blobs(32, seed=1)

    def fresh():
        model = mlp(seed=5, dropout=0.3)
        return model, optim.Adam(model.parameters(), lr=0.02)

    kw = dict(loss="cross_entropy", batch_size=16, verbose=0, seed=11, validation_data=(xv, yv))
    m1, o1, cbs1 = *fresh(), scheduled_callbacks()
    h1 = nerve.fit(m1, x, y, optimizer=o1, epochs=4, callbacks=cbs1, **kw)
    path = tmp_path / "ckpt.safetensors"
    m2, o2 = fresh()  # the checkpoint first in the list: it still saves the state after the
    nerve.fit(m2, x, y, optimizer=o2, epochs=2,  # schedules have stepped for the epoch
              callbacks=[ModelCheckpoint(path), *scheduled_callbacks()], **kw)
    m3, o3, cbs3 = *fresh(), scheduled_callbacks()
    nerve.manual_seed(999)  # resume must not depend on the global generator's state
    h3 = nerve.fit(m3, x, y, optimizer=o3, epochs=4, resume=path, callbacks=cbs3, **kw)
    assert same_weights(m1, m3)
    assert h1 == h3 and h1.epoch == h3.epoch == [0, 1, 2, 3]
    assert h1["lr"][-1] < h1["lr"][0]  # the schedules did change the lr
    assert cbs1[1].scheduler.state_dict() == cbs3[1].scheduler.state_dict()
    assert (cbs1[2].wait, cbs1[2].best) == (cbs3[2].wait, cbs3[2].best)


@pytest.mark.parametrize("schedule", [
    lambda: LearningRateScheduler(lr_scheduler.LambdaLR, lr_lambda=lambda e: 0.5 ** e),
    lambda: LearningRateScheduler(lr_scheduler.OneCycleLR, interval="batch", max_lr=0.05,
                                  total_steps=24),  # the 4 epochs, also in the 2-epoch run
    lambda: LearningRateScheduler(lr_scheduler.OneCycleLR, interval="batch", max_lr=0.05,
                                  total_steps=24, cycle_momentum=False),
    lambda: LearningRateScheduler(lr_scheduler.LinearLR, start_factor=0.2, total_iters=3),
    lambda: LearningRateScheduler(lr_scheduler.ConstantLR, factor=0.5, total_iters=2),
], ids=["LambdaLR", "OneCycleLR", "OneCycleLR-no-momentum", "LinearLR", "ConstantLR"])
def test_resume_with_a_schedule_made_by_fit_keeps_the_checkpoints_lr(tmp_path, schedule):
    """A schedule class is made on fit's optimizer when training begins, and its first step
    sets the lr (and OneCycleLR's momentum): in a resumed run it must not overwrite the
    checkpoint's, or the resumed epochs train with the lr of epoch 0."""
    x, y = blobs(96)

    def fresh():
        model = mlp(seed=5)
        return model, optim.SGD(model.parameters(), lr=0.02, momentum=0.9)

    kw = dict(loss="cross_entropy", batch_size=16, verbose=0, seed=11)
    m1, o1 = fresh()
    h1 = nerve.fit(m1, x, y, optimizer=o1, epochs=4, callbacks=[schedule()], **kw)
    path = tmp_path / "ckpt.safetensors"
    m2, o2 = fresh()
    nerve.fit(m2, x, y, optimizer=o2, epochs=2, callbacks=[ModelCheckpoint(path), schedule()],
              **kw)
    m3, o3 = fresh()
    h3 = nerve.fit(m3, x, y, optimizer=o3, epochs=4, resume=path, callbacks=[schedule()], **kw)
    assert h1["lr"] == h3["lr"] and len(set(h1["lr"])) > 1  # the schedule moved the lr
    assert same_weights(m1, m3)
    assert o1.param_groups[0]["momentum"] == o3.param_groups[0]["momentum"]


def test_checkpoint_holds_the_callbacks_state(tmp_path):
    x, y = blobs()
    path = tmp_path / "c.safetensors"
    nerve.fit(mlp(), x, y, loss="cross_entropy", optimizer="sgd", epochs=3, verbose=0,
              validation_data=(x, y),
              callbacks=[*scheduled_callbacks()[:2], EarlyStopping(patience=5),
                         ModelCheckpoint(path), LearningRateScheduler(lambda epoch: 0.01)])
    extra = nerve.io.load_checkpoint(path, mlp())["extra"]
    states = extra["callbacks"]
    assert set(states) == {"LearningRateScheduler", "LearningRateScheduler_1",
                           "ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint"}
    assert states["LearningRateScheduler"]["scheduler"]["last_epoch"] == 3
    assert states["LearningRateScheduler_1"] == {}
    assert extra["history"]["epoch"] == [0, 1, 2]  # this epoch included: saved after History
    assert set(states["EarlyStopping"]["best_weights"]) == set(mlp().state_dict())


def test_resume_needs_a_training_checkpoint(tmp_path):
    x, y = blobs()
    model = mlp()
    path = tmp_path / "plain.safetensors"
    opt = optim.SGD(model.parameters(), lr=0.1)
    nerve.io.save_checkpoint(path, model, opt)
    with pytest.raises(ValueError, match="no training run to resume"):
        nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, verbose=0, resume=path)


def test_resume_with_two_chained_schedules_made_by_fit(tmp_path):
    """A LinearLR warm-up and an ExponentialLR decay, each a class in its own callback: on
    resume the second put back the lr the first had just set, so the warm-up factor was
    applied twice (the resumed epochs trained at a fifth of the lr)."""
    x, y = blobs(96)

    def run(epochs, **more):
        model = mlp(seed=5)
        opt = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        schedules = [LearningRateScheduler(lr_scheduler.LinearLR, start_factor=0.2,
                                           total_iters=3),
                     LearningRateScheduler(lr_scheduler.ExponentialLR, gamma=0.8)]
        history = nerve.fit(model, x, y, optimizer=opt, epochs=epochs, loss="cross_entropy",
                            batch_size=16, verbose=0, seed=11,
                            callbacks=[*more.pop("extra", []), *schedules], **more)
        return model, history

    m1, h1 = run(5)
    path = tmp_path / "ckpt.safetensors"
    run(2, extra=[ModelCheckpoint(path)])
    m3, h3 = run(5, resume=path)
    assert h1["lr"] == pytest.approx(h3["lr"], rel=1e-12)
    assert same_weights(m1, m3)
