"""fit / evaluate / predict: the Keras-like training API on nerve's modules and optimizers.

``fit`` is one flat loop: for each epoch, for each batch, forward, loss, backward, step; five
hooks (train begin, epoch begin, batch end, epoch end, train end) let callbacks watch it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from nerve import backend, io, optim
from nerve.autograd import Tensor, no_grad
from nerve.checks import check_positive_int
from nerve.data import DataLoader, TensorDataset
from nerve.nn import loss as losses
from nerve.nn.module import Module
from nerve.ops import sigmoid, softmax
from nerve.train.callbacks import Callback
from nerve.train.history import History
from nerve.train.metrics import Metric, get_metric, predicted_classes
from nerve.train.progress import ProgressBar

LOSSES = {
    "cross_entropy": losses.CrossEntropyLoss, "mse": losses.MSELoss, "ssr": losses.SSRLoss,
    "l1": losses.L1Loss, "mae": losses.L1Loss, "bce": losses.BCELoss,
    "bce_with_logits": losses.BCEWithLogitsLoss, "nll": losses.NLLLoss,
}
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
              "rmsprop": optim.RMSprop}
_DEFAULT_LR = {"sgd": 0.01}


def get_loss(spec):
    """Return a loss callable for a name (see ``LOSSES``), a loss Module or a function."""
    if isinstance(spec, str):
        if spec not in LOSSES:
            raise ValueError(f"unknown loss {spec!r}; valid: {sorted(LOSSES)} or a callable")
        return LOSSES[spec]()
    if isinstance(spec, type) and issubclass(spec, Module):
        return spec()
    if callable(spec):
        return spec
    raise TypeError(f"loss must be a name or a callable, got {type(spec).__name__}")


def get_optimizer(spec, model: Module):
    """Return an optimizer: an Optimizer as given, or one made by name for the model."""
    if isinstance(spec, optim.Optimizer):
        return spec
    if isinstance(spec, str):
        if spec not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {spec!r}; valid: {sorted(OPTIMIZERS)} or an "
                             "Optimizer")
        kwargs = {"lr": _DEFAULT_LR[spec]} if spec in _DEFAULT_LR else {}
        return OPTIMIZERS[spec](model.parameters(), **kwargs)
    raise TypeError(f"optimizer must be a name or an Optimizer, got {type(spec).__name__}")


def _model_dtype(model: Module) -> np.dtype:
    for p in model.parameters():
        return p.dtype
    return backend.get_default_dtype()


def _array(a, what: str) -> np.ndarray:
    arr = a.data if isinstance(a, Tensor) else np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} holds {int(bad.sum())} NaN or infinite values; the first is "
                         f"at index {first}")
    return arr


def _dataset(x, y, dtype, what: str) -> TensorDataset:
    xa, ya = _array(x, f"{what} x"), _array(y, f"{what} y")
    if len(xa) != len(ya):
        raise ValueError(f"{what} x and y differ in length: x has {len(xa)} samples, "
                         f"y has {len(ya)}")
    if xa.dtype.kind == "f" or xa.dtype.kind in "iub":
        xa = xa.astype(dtype, copy=False)
    if ya.dtype.kind == "f":
        ya = ya.astype(dtype, copy=False)
    return TensorDataset(xa, ya)


def _loaders(x, y, batch_size, validation_data, validation_split, shuffle, seed, dtype):
    if isinstance(x, DataLoader):
        if y is not None:
            raise TypeError("fit: give y=None when x is a DataLoader")
        train = x
    else:
        if y is None:
            raise TypeError("fit: missing y (the targets); or pass a DataLoader as x")
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        data = _dataset(x, y, dtype, "training")
        if validation_split:
            cut = len(data) - max(1, int(round(len(data) * validation_split)))
            xs, ys = data.tensors[0].data, data.tensors[1].data
            data, validation_data = TensorDataset(xs[:cut], ys[:cut]), (xs[cut:], ys[cut:])
        train = DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    val = None
    if validation_data is not None:
        if isinstance(validation_data, DataLoader):
            val = validation_data
        else:
            xv, yv = validation_data
            vdata = _dataset(xv, yv, dtype, "validation")
            _check_features(train, vdata)
            val = DataLoader(vdata, batch_size=batch_size)
    return train, val


def _check_features(train: DataLoader, vdata: TensorDataset) -> None:
    ds = train.dataset
    if isinstance(ds, TensorDataset):
        a, b = ds.tensors[0].shape[1:], vdata.tensors[0].shape[1:]
        if a != b:
            raise ValueError(f"validation x has samples of shape {b}, training x has {a}")


class Trainer:
    """The state of one fit run, shared with callbacks."""

    def __init__(self, model, optimizer, loss_fn, history: History):
        self.model, self.optimizer, self.loss_fn, self.history = model, optimizer, loss_fn, history
        self.epoch = 0
        self.stop_training = False

    def save_checkpoint(self, path) -> None:
        """Save weights, optimizer state, the next epoch and the history, atomically."""
        io.save_checkpoint(path, self.model, self.optimizer, epoch=self.epoch + 1,
                           extra={"history": self.history.to_dict()})


def _metrics(specs, loss_fn) -> list[Metric]:
    metrics = [get_metric(m) for m in specs]
    if isinstance(loss_fn, losses.BCEWithLogitsLoss):  # logits decide at 0, not 0.5
        for m in metrics:
            if hasattr(m, "threshold"):
                m.threshold = 0.0
    return metrics


def _snapshot(model: Module) -> dict:
    return {k: v.copy() for k, v in model.state_dict().items()}


def _finite_weights(model: Module) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


def fit(model: Module, x, y=None, *, loss, optimizer="adam", epochs: int = 1,
        batch_size: int = 32, validation_data=None, validation_split: float = 0.0,
        callbacks=(), metrics=("accuracy",), verbose: int = 1, seed: int | None = None,
        shuffle: bool = True, initial_epoch: int = 0, resume=None) -> History:
    """Train ``model`` on (x, y) or a DataLoader for ``epochs`` epochs; return the History.

    Each epoch shuffles the data (seeded by ``seed`` and the epoch number, so a run is
    repeatable and a resumed run continues exactly), trains on mini-batches of ``batch_size``,
    then evaluates ``validation_data`` (or the last ``validation_split`` of the data), logging
    ``loss``, each metric, and their ``val_`` twins. A NaN or infinite loss stops training with
    a message naming the epoch and batch, and the model keeps its last finite weights.
    ``resume`` is a checkpoint path (from ``ModelCheckpoint``): weights, optimizer state,
    epoch and history are restored and training goes on up to ``epochs``.
    """
    check_positive_int(epochs, "epochs", "fit")
    check_positive_int(batch_size, "batch_size", "fit")
    loss_fn, opt = get_loss(loss), get_optimizer(optimizer, model)
    train, val = _loaders(x, y, batch_size, validation_data, validation_split, shuffle, seed,
                          _model_dtype(model))
    history = History()
    if resume is not None:
        state = io.load_checkpoint(resume, model, opt)
        initial_epoch = int(state["epoch"])
        history = History.from_dict(state["extra"]["history"])
    trainer = Trainer(model, opt, loss_fn, history)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        cb.set_trainer(trainer)
        cb.on_train_begin({})
    train_metrics, val_metrics = _metrics(metrics, loss_fn), _metrics(metrics, loss_fn)
    bar = ProgressBar(verbose, epochs, len(train))
    for epoch in range(initial_epoch, epochs):
        trainer.epoch = epoch
        train.set_epoch(epoch)
        for cb in callbacks:
            cb.on_epoch_begin(epoch, {})
        bar.epoch_begin(epoch)
        gen = None if seed is None else backend.generator(seed, epoch)  # dropout, per epoch
        with backend.use_generator(gen):
            logs = _train_epoch(trainer, train, train_metrics, callbacks, bar)
        if logs is None:
            break
        if val is not None:
            vlogs = _evaluate(model, val, loss_fn, val_metrics)
            logs.update({f"val_{k}": v for k, v in vlogs.items()})
        history.append(epoch, logs)
        bar.epoch_end(epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if trainer.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end(dict(zip(history, (v[-1] for v in history.values()))))
    return history


def _train_epoch(trainer: Trainer, loader, metrics, callbacks, bar) -> dict | None:
    """One pass over the training data; returns the epoch's logs, or None after a NaN."""
    model, opt, loss_fn = trainer.model, trainer.optimizer, trainer.loss_fn
    model.train()
    for m in metrics:
        m.reset()
    safe = _snapshot(model)
    total, count = 0.0, 0
    for b, (xb, yb) in enumerate(loader):
        out = model(xb)
        loss = loss_fn(out, yb)
        value = float(loss.data)
        if not math.isfinite(value):
            _stop_on_nan(trainer, value, b, safe, bar)
            return None
        opt.zero_grad()
        loss.backward()
        opt.step()
        n = len(yb)
        total += value * n
        count += n
        for m in metrics:
            m.update(out.data, yb.data)
        running = {"loss": total / count}
        bar.batch_end(running)
        for cb in callbacks:
            cb.on_batch_end(b, {"loss": value, "size": n})
    logs = {"loss": total / max(count, 1)}
    logs.update({m.name: m.result() for m in metrics})
    return logs


def _stop_on_nan(trainer: Trainer, value: float, batch: int, safe: dict, bar) -> None:
    kept = "its current weights, which are finite"
    if not _finite_weights(trainer.model):
        trainer.model.load_state_dict(safe)
        kept = "the weights it had at the start of this epoch"
    msg = (f"loss is {value} at epoch {trainer.epoch + 1}, batch {batch + 1}: training "
           f"stopped; the model keeps {kept}")
    trainer.history.stop_reason = msg
    trainer.stop_training = True
    bar.message(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


@no_grad()
def _evaluate(model: Module, loader, loss_fn, metrics) -> dict:
    was_training = model.training
    model.eval()
    for m in metrics:
        m.reset()
    total, count = 0.0, 0
    for xb, yb in loader:
        out = model(xb)
        n = len(yb)
        if loss_fn is not None:
            total += float(loss_fn(out, yb).data) * n
        count += n
        for m in metrics:
            m.update(out.data, yb.data)
    model.train(was_training)
    logs = {"loss": total / max(count, 1)} if loss_fn is not None else {}
    logs.update({m.name: m.result() for m in metrics})
    return logs


def _eval_loader(model, x, y, batch_size):
    if isinstance(x, DataLoader):
        return x
    check_positive_int(batch_size, "batch_size", "evaluate")
    return DataLoader(_dataset(x, y, _model_dtype(model), "evaluation"), batch_size=batch_size)


def evaluate(model: Module, x, y=None, *, loss=None, metrics=("accuracy",),
             batch_size: int = 32) -> dict:
    """Return the loss (when ``loss`` is given) and each metric over (x, y) or a DataLoader."""
    loss_fn = get_loss(loss) if loss is not None else None
    return _evaluate(model, _eval_loader(model, x, y, batch_size), loss_fn,
                     _metrics(metrics, loss_fn))


def predict(model: Module, x, batch_size: int = 32) -> np.ndarray:
    """Return the model's outputs for x, computed in batches without building a graph."""
    check_positive_int(batch_size, "batch_size", "predict")
    xa = _array(x, "x").astype(_model_dtype(model), copy=False)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [model(Tensor._wrap(xa[i:i + batch_size])).data
                    for i in range(0, len(xa), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs) if outs else np.empty((0,))


def predict_proba(model: Module, x, batch_size: int = 32) -> np.ndarray:
    """Class probabilities: softmax of the logits, or sigmoid for a single output."""
    logits = Tensor._wrap(predict(model, x, batch_size))
    if logits.ndim >= 2 and logits.shape[1] > 1:
        return softmax(logits, axis=1).data
    return sigmoid(logits).data


def predict_classes(model: Module, x, batch_size: int = 32,
                    threshold: float = 0.0) -> np.ndarray:
    """Decided classes: argmax of the outputs, or output > threshold (logits: 0) for one."""
    return predicted_classes(predict(model, x, batch_size), threshold)

