"""fit / evaluate / predict: the Keras-like training API on nerve's modules and optimizers.

``Trainer.run`` is the one training loop (fit and find_lr are its front doors): for each epoch,
for each batch, forward, loss, backward, step, with the hooks of one ``CallbackList`` around
them (History and the progress bar are callbacks in it).

The dtype of the data is decided once: fit, evaluate and predict build their datasets in the
model's dtype; a batch from a user's DataLoader is cast to it in ``_batches``, only when it
differs.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from nerve import backend, io, optim
from nerve.autograd import Tensor, no_grad
from nerve.checks import (
    ShortRepr,
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    finite_samples,
    message,
)
from nerve.data import DataLoader, TensorDataset
from nerve.nn import functional as F
from nerve.nn import loss as losses
from nerve.nn.module import Module, kept_modes
from nerve.ops import sigmoid, softmax
from nerve.train.callbacks import CallbackList, GradientClipping, snapshot
from nerve.train.history import History
from nerve.train.metrics import (
    LOG_PROBABILITIES,
    LOGITS,
    PROBABILITIES,
    THRESHOLDS,
    binary_loss,
    decision_threshold,
    default_metrics,
    loss_outputs,
    make_metrics,
    output_kind,
    predicted_classes,
)
from nerve.train.progress import ProgressBar

LOSSES = {
    "cross_entropy": losses.CrossEntropyLoss, "mse": losses.MSELoss, "ssr": losses.SSRLoss,
    "l1": losses.L1Loss, "mae": losses.L1Loss, "bce": losses.BCELoss,
    "bce_with_logits": losses.BCEWithLogitsLoss, "nll": losses.NLLLoss,
}
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
              "rmsprop": optim.RMSprop, "adadelta": optim.Adadelta}
_DEFAULT_LR = {"sgd": 0.01}


def check_model(model, who: str) -> Module:
    """Return ``model``; raise TypeError unless it is a Module."""
    if not isinstance(model, Module):
        raise TypeError(message(who, "a Module as model", "model", ShortRepr(model)))
    return model


def get_loss(spec, who: str = "get_loss"):
    """Return a loss callable for a name (see ``LOSSES``), a loss Module or class, or a function."""
    if isinstance(spec, str):
        if spec not in LOSSES:
            raise ValueError(message(who, f"a loss name in {sorted(LOSSES)}, a loss Module or "
                                     "a function (output, target) -> loss", "loss", spec))
        return LOSSES[spec]()
    if isinstance(spec, type) and issubclass(spec, Module):
        spec = spec()
    if isinstance(spec, _MULTI_INPUT_LOSSES):
        raise ValueError(message(who, "a loss of (output, target): fit calls loss(output, "
                                 f"target), and {type(spec).__name__} takes more inputs (write "
                                 "the loop, or pass a function of (output, target))", "loss",
                                 spec))
    if callable(spec):
        return spec
    raise TypeError(message(who, "a loss name, a loss Module or a function", "loss", spec))


# losses whose forward takes more than (output, target): fit cannot call them
_MULTI_INPUT_LOSSES = (losses.MarginRankingLoss, losses.CosineEmbeddingLoss,
                       losses.TripletMarginLoss, losses.TripletMarginWithDistanceLoss,
                       losses.GaussianNLLLoss)


def get_optimizer(spec, model: Module, lr: float | None = None, who: str = "get_optimizer"):
    """Return an optimizer: an Optimizer as given, or one made for the model's parameters from
    a name (see ``OPTIMIZERS``), an Optimizer class or a factory ``f(params, lr=...)``
    (``functools.partial(SGD, momentum=0.9)``), with learning rate ``lr`` when one is given."""
    if isinstance(spec, optim.Optimizer):
        return spec
    kwargs = {} if lr is None else {"lr": lr}
    if isinstance(spec, str):
        name = spec.lower()
        if name not in OPTIMIZERS:
            raise ValueError(message(who, f"an optimizer name in {sorted(OPTIMIZERS)}, an "
                                     "Optimizer or a factory", "optimizer", spec))
        if lr is None and name in _DEFAULT_LR:
            kwargs = {"lr": _DEFAULT_LR[name]}
        spec = OPTIMIZERS[name]
    if not callable(spec):
        raise TypeError(message(who, "an optimizer name, an Optimizer or a factory",
                                "optimizer", spec))
    opt = spec(model.parameters(), **kwargs)
    if not isinstance(opt, optim.Optimizer):
        raise TypeError(message(who, "a factory that returns an Optimizer", "optimizer()", opt))
    return opt


class _Text(str):
    """A description that an error message shows as it is (without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def check_optimizer(opt, model: Module, who: str) -> None:
    """Raise when the optimizer holds none of the model's trainable parameters (made for another
    model: fit would train nothing); warn when it leaves some of them out (they would not
    train: freeze them with ``requires_grad_(False)`` to say so). Parameters of the optimizer
    that are not the model's are allowed (a learnable weight in a loss of one's own)."""
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(message(who, "a model with trainable parameters (none, or all "
                                 "frozen)", "model", ShortRepr(model)))
    missing = [name for name, p in trainable if id(p) not in held]
    if len(missing) == len(trainable):
        raise ValueError(message(who, "an optimizer over the model's trainable parameters "
                                 f"(this one holds {len(held)} parameters, none of them the "
                                 "model's: made for another model?)", "optimizer",
                                 _Text(f"{type(opt).__name__}(...)")))
    if missing:
        warnings.warn(f"{who}: {len(missing)} trainable parameters of the model are not in the "
                      f"optimizer and will not train: {missing[:5]}; freeze them with "
                      f"requires_grad_(False) if that is meant", UserWarning, stacklevel=3)


def model_dtype(model: Module) -> np.dtype:
    """The floating dtype of the model's parameters (the default dtype when it has none)."""
    for p in model.parameters():
        if p._data.dtype.kind == "f":
            return p._data.dtype
    return backend.get_default_dtype()


# --- data ----------------------------------------------------------------------------------
def _arrays(x, y, what: str, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y as arrays of numbers, finite, with as many samples each."""
    xa, ya = finite_samples(x, f"{what} x", who), finite_samples(y, f"{what} y", who)
    if len(xa) != len(ya):
        raise ValueError(f"{who}: {what} x and y differ in length: x has {len(xa)} samples, "
                         f"y has {len(ya)}")
    return xa, ya


def _dataset(dtype, x, *rest) -> TensorDataset:
    """The dataset of inputs x (and targets) in ``dtype``; integer inputs (pixels, 0/1
    features) become floating too, as a model takes them."""
    if x.dtype.kind in "biu":
        x = x.astype(dtype)
    return TensorDataset(x, *rest, dtype=dtype)


def make_loaders(x, y, batch_size: int, dtype, *, validation_data=None,
                 validation_split: float = 0.0, shuffle: bool = True, who: str = "fit"):
    """Return fit's training and validation loaders (or None) in ``dtype``, and the training
    targets (None for a DataLoader). The training loader shuffles from nerve's generator."""
    if isinstance(x, DataLoader):
        if y is not None:
            raise TypeError(f"{who}: give y=None when x is a DataLoader")
        if validation_split:
            raise ValueError(message(who, "validation_data when x is a DataLoader (it cannot "
                                     "be split)", "validation_split", validation_split))
        return x, _validation_loader(validation_data, batch_size, dtype, None, who), None
    if y is None:
        raise TypeError(f"{who}: missing y (the targets); or pass a DataLoader as x")
    xa, ya = _arrays(x, y, "training", who)
    if not len(xa):
        raise ValueError(message(who, "training data with at least one sample", "len(x)", 0))
    if validation_split:  # the last fraction of the arrays, before any dataset is made
        cut = len(xa) - max(1, round(len(xa) * validation_split))
        if cut < 1:
            raise ValueError(f"{who}: validation_split={validation_split} leaves no training "
                             f"samples of {len(xa)}")
        xa, ya, validation_data = xa[:cut], ya[:cut], (xa[cut:], ya[cut:])
    train = DataLoader(_dataset(dtype, xa, ya), batch_size=batch_size, shuffle=shuffle)
    return train, _validation_loader(validation_data, batch_size, dtype, xa.shape[1:], who), ya


def _validation_loader(data, batch_size: int, dtype, sample_shape, who) -> DataLoader | None:
    if data is None or isinstance(data, DataLoader):
        return data
    if not isinstance(data, (tuple, list)):
        raise TypeError(message(who, "a pair (x, y) or a DataLoader", "validation_data",
                                ShortRepr(data)))
    if len(data) != 2:
        raise ValueError(message(who, f"a pair (x, y) or a DataLoader (a {type(data).__name__} "
                                 f"of {len(data)} was given)", "validation_data", ShortRepr(data)))
    xv, yv = _arrays(*data, "validation", who)
    if not len(xv):
        raise ValueError(message(who, "validation data with at least one sample",
                                 "len(validation_data[0])", 0))
    if sample_shape is not None and xv.shape[1:] != sample_shape:
        raise ValueError(f"validation x has samples of shape {xv.shape[1:]}, training x has "
                         f"{sample_shape}")
    return DataLoader(_dataset(dtype, xv, yv), batch_size=batch_size)


def model_device(model: Module):
    """The device of the model's first parameter (batches go there), None without one. A
    name, not the array: a generator that kept the array through an epoch would count as a
    holder of the parameter, and the optimizer could not lay its group out flat."""
    return next((backend.device(backend.device_of(p._data)) for p in model.parameters()), None)


def _batches(loader, dtype, device=None):
    """Yield the loader's batches as tuples, floating tensors in the model's dtype: the one
    cast on fit's path (only a user's DataLoader of another dtype needs it), on ``device`` (the
    model's: a copy to the GPU when the model is there)."""
    move = device is not None and device.type != "cpu"
    for batch in loader:
        if not isinstance(batch, tuple):
            batch = (batch,)
        if any(t._data.dtype != dtype and t._data.dtype.kind == "f" for t in batch):
            batch = tuple(Tensor._wrap(t._data.astype(dtype)) if t._data.dtype.kind == "f" else t
                          for t in batch)
        if move:
            batch = tuple(t if backend.device_of(t._data) == str(device) else
                          Tensor._wrap(backend.to_device(t._data, device)) for t in batch)
        yield batch


def _weighted(value: float, weight: float | None) -> tuple[float, float]:
    """A batch's share of the epoch's loss sums (total, weights): ``value`` times its weight,
    the value itself for a summed loss (weight None), nothing for a batch with no target
    counted (weight 0, a NaN mean)."""
    if weight is None:
        return value, 0.0
    return (value * weight, weight) if weight else (0.0, 0.0)


def _mean(loss_fn, total: float, weights: float) -> float:
    """The epoch's loss from its sums: the total of a summed loss, else the weighted mean
    (NaN when no target counted)."""
    if _summed(loss_fn):
        return total
    return total / weights if weights else math.nan


def _summed(loss_fn) -> bool:
    return getattr(loss_fn, "reduction", "mean") == "sum" or loss_fn is F.ssr_loss


def loss_weight(loss_fn, target, n: int) -> float | None:
    """What a batch's loss is the mean over, so that an epoch's (or evaluate's) loss is the
    loss of all its samples at once, at any batch size: the samples (``n``); for cross-entropy
    and NLL with class weights or an ``ignore_index``, the weights of the targets counted (as
    PyTorch's mean divides by); None for ``reduction="sum"``, whose batch losses add up."""
    if _summed(loss_fn):
        return None
    if isinstance(loss_fn, (losses.CrossEntropyLoss, losses.NLLLoss)):
        t = target._data
        if t.dtype.kind in "iu":  # class indices (probabilities: the mean over the samples)
            counted = t != loss_fn.ignore_index
            if loss_fn.weight is None:
                return float(backend.array_module(t).count_nonzero(counted))
            w = loss_fn.weight._data
            return float(w[backend.on_device_of(t[counted], w)].sum())
    return float(n)


def _update(metrics, out, target) -> None:
    """Add a batch to each metric, on the host (a GPU batch is copied once for all)."""
    if metrics:
        pred, target = backend.to_host(out._data), backend.to_host(target._data)
        for m in metrics:
            m.update(pred, target)


@contextlib.contextmanager
def _inference(model: Module):
    """A block without graph and in eval mode; every module's mode is restored after."""
    with kept_modes(model), no_grad():
        model.eval()
        yield


# --- the training loop -----------------------------------------------------------------------
class NotFiniteLoss(Exception):
    """Raised by a callback's ``on_after_backward`` to stop training as a NaN or infinite loss
    does: a distributed run's processes learn of one on any of them there, and stop together
    (``nerve.distributed.FitSync``)."""

    def __init__(self, value: float, batch: int):
        super().__init__(value, batch)
        self.value, self.batch = value, batch


def _not_finite(value: float, epoch: int, batch: int) -> str:
    return f"loss is {value} at epoch {epoch + 1}, batch {batch + 1}"


class Trainer:
    """One training run: the model, optimizer, loss, metrics and callbacks that ``run`` drives;
    callbacks see it as ``self.trainer``.

    ``metrics`` are names or Metrics (fresh copies are kept for training and validation);
    ``verbose`` adds a progress bar. History and the progress bar go after ``callbacks`` in the
    one callback list, so that they see what the others log. ``who`` names the front door in
    error messages (fit, find_lr). ``sync`` is a distributed run's ``nerve.distributed.FitSync``
    (also first among ``callbacks``): the loop asks it to add up each epoch's figures over the
    processes and to average BatchNorm's statistics; None for a run in one process.
    """

    def __init__(self, model: Module, optimizer, loss_fn, metrics=(), callbacks=(),
                 verbose: int = 0, history: History | None = None, who: str = "fit",
                 sync=None):
        self.model, self.optimizer, self.loss_fn, self.sync = model, optimizer, loss_fn, sync
        self.dtype = model_dtype(model)
        threshold = decision_threshold(loss_fn, model)
        options = (threshold, binary_loss(loss_fn), getattr(loss_fn, "ignore_index", None))
        self.metrics = make_metrics(metrics, *options)
        self.val_metrics = make_metrics(metrics, *options)
        self.history = History() if history is None else history
        self.progress = ProgressBar(verbose) if verbose else None
        defaults = [self.history] + ([self.progress] if self.progress else [])
        self.callbacks = CallbackList([*callbacks, *defaults])
        self.callbacks.set_trainer(self)
        self.epoch, self.epochs, self.steps = 0, 0, 0
        self.stop_training, self.validating, self.who = False, False, who
        self._requested: list = []
        # the optimizer's groups before fit made any schedule on them (LearningRateScheduler)
        self.groups_before_schedules: list | None = None
        self._safe, self._safe_at = None, "the start of training"

    def logged_names(self) -> tuple[set[str], bool]:
        """The names that each epoch's logs will hold (``loss``, the metrics, their ``val_``
        twins, what callbacks declare in ``logs``), and whether that set is complete: False
        when a callback of the user's may log names it does not declare."""
        names = {"loss", *(m.name for m in self.metrics)}
        if self.validating:
            names |= {f"val_{n}" for n in names}
        for cb in self.callbacks.callbacks:
            names |= set(cb.logs)
        return names, all(cb.declares_logs() for cb in self.callbacks.callbacks)

    def check(self, train, val=None) -> None:
        """Raise, before anything changes, what would fail later in a run: a loader that
        yields no batch, a logged name that a callback needs (a monitor, a checkpoint path's
        field) and that the run will not log."""
        if not len(train):
            raise ValueError(message(self.who, "training data that yields at least one batch",
                                     "x", train))
        self.validating = val is not None
        names, complete = self.logged_names()
        for cb in self.callbacks.callbacks:
            cb.check_run(names, complete)

    def save_checkpoint(self, path) -> None:
        """Save weights, optimizer state, the next epoch, the history and the callbacks' state,
        atomically; in a distributed run, on process 0 only."""
        if self.sync is not None and not self.sync.main:
            return
        extra = {"history": self.history.to_dict(), "callbacks": self.callbacks.state_dict()}
        io.save_checkpoint(path, self.model, self.optimizer, epoch=self.epoch + 1, extra=extra)

    def request_checkpoint(self, path) -> None:
        """Save a checkpoint at ``path`` once every callback has seen this epoch; ``path`` may
        be a function of the epoch's logs (called then, when every callback has logged)."""
        self._requested.append(path)

    def run(self, train, val=None, *, epochs: int, initial_epoch: int = 0,
            seed: int | None = None, states: dict | None = None) -> History:
        """Train on ``train`` for epochs ``initial_epoch`` to ``epochs - 1``; return the History.

        With a ``seed``, everything random in epoch k (the shuffled order, dropout) draws from
        a generator seeded by (seed, k), so a run repeats and a resumed one goes on exactly;
        the global generator is left untouched (in a distributed run, process r > 0 draws
        from (seed, k, r): its own dropout). ``states`` (from a checkpoint) are loaded into the
        callbacks after ``on_train_begin``. A loader that yields no batch raises.
        """
        self.check(train, val)
        self.epochs, self.steps, self.stop_training = epochs, len(train), False
        self.callbacks.on_train_begin({})
        if states:
            self.callbacks.load_state_dict(states)
        self._safe, self._safe_at = snapshot(self.model), "the start of training"
        stream = () if self.sync is None or self.sync.main else (self.sync.world.rank,)
        for epoch in range(initial_epoch, epochs):
            gen = None if seed is None else backend.generator(seed, epoch, *stream)
            with backend.use_generator(gen):
                finished = self._epoch(epoch, train, val)
            if not finished or self.stop_training:
                break
        self.callbacks.on_train_end(self.history.last())
        return self.history

    def _epoch(self, epoch: int, train, val) -> bool:
        """Run one epoch; return False when a non-finite loss or weights stopped it."""
        self.epoch = epoch
        if isinstance(train, DataLoader):
            train.set_epoch(epoch)  # a seeded loader of the user's: this epoch's order
        self.callbacks.on_epoch_begin(epoch, {})
        try:
            logs, trouble = self._train_epoch(train)
        except NotFiniteLoss as stop:
            logs = {"loss": stop.value, **{m.name: m.result() for m in self.metrics}}
            trouble = _not_finite(stop.value, epoch, stop.batch)
        if trouble is None and self.sync is not None:
            self.sync.average_buffers()  # BatchNorm's running statistics, before validation
        if trouble is None and not _finite(self.model):
            trouble = f"the weights are not finite at the end of epoch {epoch + 1}"
        if trouble is not None:
            self._stop_not_finite(logs, trouble)
            return False
        self._safe, self._safe_at = snapshot(self.model), f"the end of epoch {epoch + 1}"
        if val is not None:
            vlogs = _evaluate(self.model, val, self.loss_fn, self.val_metrics, self.dtype,
                              self.who, self.sync)
            logs.update({f"val_{k}": v for k, v in vlogs.items()})
        self.callbacks.on_epoch_end(epoch, logs)
        for path in self._requested:
            self.save_checkpoint(path(logs) if callable(path) else path)
        self._requested.clear()
        return True

    def _train_epoch(self, loader) -> tuple[dict, str | None]:
        """One pass over the training data; returns the epoch's logs and None, or after a
        non-finite loss, the logs so far (that loss and the metrics of the batches before it)
        and what happened."""
        model, opt, loss_fn, metrics = self.model, self.optimizer, self.loss_fn, self.metrics
        hooks = self.callbacks.hooks
        begin, after_backward, end = (hooks["on_batch_begin"], hooks["on_after_backward"],
                                      hooks["on_batch_end"])
        model.train()
        for m in metrics:
            m.reset()
        total, count, weights, logs = 0.0, 0, 0.0, {}
        for b, (xb, yb) in enumerate(_batches(loader, self.dtype, model_device(model))):
            n = len(yb)
            if begin or after_backward or end:  # a logs dict only for callbacks that read it
                logs = {"size": n}
                for hook in begin:
                    hook(b, logs)
            out = model(xb)
            loss = loss_fn(out, yb)
            value = float(loss._data)
            weight = loss_weight(loss_fn, yb, n)  # 0: every target ignored, a NaN mean with
            # gradients of 0 (as PyTorch): a step that learns nothing, not a failure
            if not math.isfinite(value) and weight != 0 and self.sync is None:
                logs = {"loss": value, **{m.name: m.result() for m in metrics}}
                return logs, _not_finite(value, self.epoch, b)
            opt.zero_grad()
            loss.backward()
            logs["loss"], logs["loss_weight"] = value, weight
            for hook in after_backward:
                hook(b, logs)
            opt.step()
            share = _weighted(value, weight)
            total, weights = total + share[0], weights + share[1]
            count += n
            _update(metrics, out, yb)
            for hook in end:
                hook(b, logs)
            if self.stop_training:
                break
        if not count:
            raise ValueError(message(self.who, "training data that yields at least one batch",
                                     "x", loader))
        if self.sync is not None:  # a distributed run: the figures of every process's samples
            (total, weights), count = self.sync.sum_up((total, weights), count, metrics)
        logs = {"loss": _mean(loss_fn, total, weights)}
        logs.update({m.name: m.result() for m in metrics})
        return logs, None

    def _stop_not_finite(self, logs: dict, trouble: str) -> None:
        """Stop training and go back to the last weights known good: those of the last epoch
        that ended with finite losses and weights (checked at each epoch's end), since the
        current ones gave the non-finite loss even where they are finite (an lr far too large
        leaves weights near 1e33); record the epoch (its validation figures as NaN) and say
        why in ``history.stop_reason``."""
        self.model.load_state_dict(self._safe)
        msg = (f"{trouble}: training stopped; the model goes back to the last weights known "
               f"good, those of {self._safe_at}")
        if self.validating:
            logs.update({f"val_{k}": math.nan for k in list(logs)})
        self.history.append(self.epoch, logs)
        self.history.stop_reason = msg
        self.stop_training = True
        if self.progress is not None:
            self.progress.message(msg)




def _finite(model: Module) -> bool:
    """Whether every floating parameter and buffer of the model is finite."""
    for _, t in model._state_tensors():
        arr = t._data
        if arr.dtype.kind == "f" and not backend.array_module(arr).isfinite(arr).all():
            return False
    return True


def _evaluate(model: Module, loader, loss_fn, metrics, dtype, who: str, sync=None) -> dict:
    for m in metrics:
        m.reset()
    total, count, weights = 0.0, 0, 0.0
    with _inference(model):
        for xb, yb in _batches(loader, dtype, model_device(model)):
            out = model(xb)
            n = len(yb)
            if loss_fn is not None:
                share = _weighted(float(loss_fn(out, yb)._data), loss_weight(loss_fn, yb, n))
                total, weights = total + share[0], weights + share[1]
            count += n
            _update(metrics, out, yb)
    if sync is not None:  # a distributed run: each process evaluated its share
        (total, weights), count = sync.sum_up((total, weights), count, metrics)
    if not count:
        raise ValueError(message(who, "data that yields at least one batch", "loader", loader))
    logs = {"loss": _mean(loss_fn, total, weights)} if loss_fn is not None else {}
    logs.update({m.name: m.result() for m in metrics})
    return logs


# --- the front doors -------------------------------------------------------------------------
def _metric_specs(metrics, loss_fn, targets, who: str) -> tuple:
    """The metrics asked for: "auto" (chosen by the loss), one name, or a list."""
    if isinstance(metrics, str):
        return default_metrics(loss_fn, targets) if metrics == "auto" else (metrics,)
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(message(who, "'auto', a metric name or a list of metrics", "metrics",
                                metrics))
    return tuple(metrics)


def _check_fit_args(epochs, batch_size, validation_split, verbose, seed, shuffle,
                    initial_epoch, distributed) -> None:
    check_positive_int(epochs, "epochs", "fit")
    check_positive_int(batch_size, "batch_size", "fit")
    check_number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    if check_int(verbose, "verbose", "fit", minimum=0) > 2:
        raise ValueError(message("fit", "0, 1 or 2", "verbose", verbose))
    if seed is not None:
        check_int(seed, "seed", "fit", minimum=0)
    check_bool(shuffle, "shuffle", "fit")
    check_int(initial_epoch, "initial_epoch", "fit", minimum=0)
    check_bool(distributed, "distributed", "fit")


def _resume(path, model, opt) -> tuple[int, History, dict]:
    state = io.load_checkpoint(path, model, opt)
    extra = state["extra"]
    if not isinstance(extra, dict) or "history" not in extra or state["epoch"] is None:
        raise ValueError(f"fit: {path} holds no training run to resume (save it with "
                         "ModelCheckpoint or Trainer.save_checkpoint)")
    return int(state["epoch"]), History.from_dict(extra["history"]), extra.get("callbacks", {})


def fit(model: Module, x, y=None, *, loss, optimizer="adam", epochs: int = 1,
        batch_size: int = 32, validation_data=None, validation_split: float = 0.0,
        callbacks=(), metrics="auto", verbose: int = 1, seed: int | None = None,
        shuffle: bool = True, initial_epoch: int = 0, resume=None,
        clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
        distributed: bool = False) -> History:
    """Train ``model`` on (x, y) or a DataLoader for ``epochs`` epochs; return the History.

    Each epoch shuffles the data, trains on mini-batches of ``batch_size``, then evaluates
    ``validation_data`` (or the last ``validation_split`` of the data), logging ``loss``, each
    metric, and their ``val_`` twins. ``metrics="auto"`` picks them by the loss (accuracy for
    a classification loss, none for a regression one; see ``default_metrics``). With a
    ``seed``, the shuffling and dropout of epoch k come from a private generator seeded by
    (seed, k): a run is repeatable, a resumed run continues exactly, and nerve's global
    generator is left as it was. ``clip_grad_norm`` / ``clip_grad_value`` clip the gradients
    before each step (``GradientClipping``).

    Nothing is silently wrong: an optimizer made for another model (holding none of its
    trainable parameters) raises, one that leaves some of them out warns; data with no sample,
    or a loader that yields no batch, raises; a callback's monitor or checkpoint path field
    that the run will not log raises before training. A NaN or infinite loss, or weights that
    are not finite at an epoch's end, stop training with a warning naming the epoch (and
    batch); the model keeps its weights if they are finite, else the last ones that were (at
    an epoch's end), and the History records the stopped epoch (its loss NaN or infinite).
    fit records what the loss takes the outputs for in ``model.output_kind_`` ("logits",
    "probabilities", "log_probabilities", or None), which ``predict_proba`` and
    ``predict_classes`` read. ``resume`` is a checkpoint path (from ``ModelCheckpoint``):
    weights, optimizer and callback state, epoch and history are restored and training goes
    on up to ``epochs``.

    ``distributed=True`` trains data-parallel on every process of an MPI launch (``mpirun -n 4
    python train.py``; it needs mpi4py, see ``nerve.distributed``): the parameters and buffers
    of process 0 go to all; each epoch's order is the same everywhere and each process takes
    every P-th sample of it (P processes), padded with the order's first samples so that all
    make the same number of steps (those few samples count twice in the epoch's figures; a
    DataLoader with ``DistributedSampler(..., drop_last=True)`` leaves the last ones out
    instead). After each backward() the gradients are averaged, so P processes with batches of
    ``batch_size`` take the steps of one process with batches of P x ``batch_size``; the loss
    and metrics add up every process's samples, validation data is shared out without padding,
    BatchNorm's running statistics are averaged after each epoch, and only process 0 prints
    and writes checkpoints. Every process returns the same History. A callback must decide to
    stop training the same way on every process (from the epoch's logs, which are the same).
    """
    check_model(model, "fit")
    _check_fit_args(epochs, batch_size, validation_split, verbose, seed, shuffle, initial_epoch,
                    distributed)
    loss_fn, opt = get_loss(loss, "fit"), get_optimizer(optimizer, model, who="fit")
    check_optimizer(opt, model, "fit")
    dtype = model_dtype(model)
    train, val, targets = make_loaders(x, y, batch_size, dtype, validation_data=validation_data,
                                       validation_split=validation_split, shuffle=shuffle)
    callbacks = list(callbacks)
    if clip_grad_norm is not None or clip_grad_value is not None:
        callbacks.append(GradientClipping(clip_grad_norm, clip_grad_value))
    sync = None
    if distributed:  # imported only when asked for: it needs mpi4py
        from nerve.distributed import FitSync

        sync = FitSync(train, val, seed)
        train, val, callbacks = sync.train, sync.val, [sync, *callbacks]
        verbose = verbose if sync.main else 0
    specs = _metric_specs(metrics, loss_fn, targets, "fit")
    history = History()
    trainer = Trainer(model, opt, loss_fn, specs, callbacks, verbose, history, sync=sync)
    trainer.check(train, val)  # everything is checked: from here on, state changes
    states = None
    if resume is not None:
        initial_epoch, saved, states = _resume(resume, model, opt)
        history.update(saved)
        history.epoch = saved.epoch
    model.output_kind_ = loss_outputs(loss_fn)  # what predict_proba and predict_classes read
    trainer.run(train, val, epochs=epochs, initial_epoch=initial_epoch, seed=seed,
                states=states)
    if history.stop_reason is not None and (sync is None or sync.main):
        warnings.warn(history.stop_reason, RuntimeWarning, stacklevel=2)
    return history


def _input_loader(model: Module, x, y, batch_size: int, who: str):
    """Return a loader over x (and y) in the model's dtype, and the targets (or None)."""
    if isinstance(x, DataLoader):
        if y is not None:
            raise TypeError(f"{who}: give y=None when x is a DataLoader")
        return x, None
    check_positive_int(batch_size, "batch_size", who)
    dtype = model_dtype(model)
    if y is None:
        return DataLoader(_dataset(dtype, finite_samples(x, "x", who)), batch_size=batch_size), None
    xa, ya = _arrays(x, y, "evaluation", who)
    return DataLoader(_dataset(dtype, xa, ya), batch_size=batch_size), ya


def evaluate(model: Module, x, y=None, *, loss=None, metrics="auto",
             batch_size: int = 32) -> dict:
    """Return the loss (when ``loss`` is given) and each metric over (x, y) or a DataLoader.

    ``metrics="auto"`` picks them as fit does (by the loss, or with no loss, accuracy for
    integer class targets). Data with no sample raises.
    """
    check_model(model, "evaluate")
    loss_fn = get_loss(loss, "evaluate") if loss is not None else None
    if y is None and not isinstance(x, DataLoader):
        raise TypeError("evaluate: missing y (the targets); or pass a DataLoader as x")
    loader, targets = _input_loader(model, x, y, batch_size, "evaluate")
    specs = _metric_specs(metrics, loss_fn, targets, "evaluate")
    chosen = make_metrics(specs, decision_threshold(loss_fn, model), binary_loss(loss_fn),
                          getattr(loss_fn, "ignore_index", None))
    return _evaluate(model, loader, loss_fn, chosen, model_dtype(model), "evaluate")


def predict(model: Module, x, batch_size: int = 32) -> np.ndarray:
    """Return the model's outputs for x (or a DataLoader's inputs), computed in batches without
    building a graph."""
    check_model(model, "predict")
    loader, _ = _input_loader(model, x, None, batch_size, "predict")
    with _inference(model):
        outs = [backend.to_host(model(batch[0])._data)
                for batch in _batches(loader, model_dtype(model), model_device(model))]
        if not outs and isinstance(getattr(loader, "dataset", None), TensorDataset):
            empty = loader.dataset.arrays[0][:0]  # no rows: the model says the output's shape
            outs = [backend.to_host(model(Tensor._wrap(empty))._data)]
    return np.concatenate(outs) if outs else np.empty((0,))


def _output_kind(model: Module, from_logits, who: str) -> str | None:
    """What the outputs are: as ``from_logits`` says, else as ``output_kind`` knows."""
    check_model(model, who)
    if from_logits is None:
        return output_kind(model=model)
    return LOGITS if check_bool(from_logits, "from_logits", who) else PROBABILITIES


def _unknown(who: str, what: str) -> ValueError:
    return ValueError(message(who, f"from_logits=True or False{what}: nothing says whether the "
                              "model's outputs are logits or probabilities (fit records its "
                              "loss on the model; a final Sigmoid, Softmax or LogSoftmax says "
                              "it too)", "from_logits", None))


def predict_proba(model: Module, x, batch_size: int = 32, *, from_logits=None) -> np.ndarray:
    """Class probabilities, decided from what is known about the outputs, never their values.

    ``from_logits=True``: the outputs are logits (softmax over classes, sigmoid for a single
    output); ``False``: they are probabilities, returned as they are. None: as the loss that fit
    trained the model with says (``model.output_kind_``), else as its last layer says (Sigmoid
    or Softmax: as they are; LogSoftmax: exponentiated); ValueError when nothing says.
    """
    kind = _output_kind(model, from_logits, "predict_proba")
    if kind is None:
        raise _unknown("predict_proba", "")
    out = predict(model, x, batch_size)
    if kind == PROBABILITIES:
        return out
    if kind == LOG_PROBABILITIES:
        return backend.array_module(out).exp(out)
    logits = Tensor._wrap(out)
    if logits.ndim >= 2 and logits.shape[1] > 1:
        return softmax(logits, axis=1)._data
    return sigmoid(logits)._data


def predict_classes(model: Module, x, batch_size: int = 32, threshold: float | None = None,
                    *, from_logits=None) -> np.ndarray:
    """Decided classes: argmax of the outputs, or for one output, output > threshold.

    Without ``threshold``, one output is decided where ``from_logits`` says (True: at 0,
    False: at 0.5), else where ``decision_threshold`` says from the loss fit trained the model
    with or its last layer; ValueError when nothing says (a single output only: several are
    decided by their argmax whatever they are).
    """
    if threshold is not None and from_logits is not None:
        raise TypeError(message("predict_classes", "threshold or from_logits, not both",
                                "from_logits", from_logits))
    if threshold is not None:
        threshold = check_number(threshold, "threshold", "predict_classes")
    kind = _output_kind(model, from_logits, "predict_classes")
    out = predict(model, x, batch_size)
    if threshold is None and not (out.ndim >= 2 and out.shape[1] > 1):
        if kind is None:
            raise _unknown("predict_classes", " (or threshold=) for a single output")
        threshold = THRESHOLDS[kind]
    return predicted_classes(out, 0.0 if threshold is None else threshold)
