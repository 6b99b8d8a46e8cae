"""scikit-learn estimators on nerve's networks: ``NerveClassifier`` and ``NerveRegressor``.

They take the network as ``hidden_layer_sizes`` and ``activation`` (as ``MLPClassifier`` does)
or as ``module``, a function ``module(n_features, n_outputs)`` that returns a nerve Module,
and train it with ``nerve.fit``; so they clone, pickle and work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``::

    from nerve.sklearn import NerveClassifier
    clf = NerveClassifier(hidden_layer_sizes=(64,), epochs=50, random_state=0).fit(X, y)
    clf.predict(X), clf.predict_proba(X), clf.score(X, y), clf.model_  # the nerve Module

Repeatable: with an integer ``random_state`` the initial weights are drawn as after
``nerve.manual_seed(random_state)`` (from a private generator: nerve's global one is left as
it was) and ``nerve.fit`` runs with ``seed=random_state``, so the estimator's weights equal
those of the same network trained by ``nerve.fit`` with that seed. With ``random_state=None``
both draw from nerve's global generator (``nerve.manual_seed`` makes that repeatable too).

Pickling: nerve's own files are never pickles, but pickling is scikit-learn's contract for
its estimators (joblib, ``GridSearchCV(n_jobs=...)``). A fitted estimator pickles its network
as plain NumPy arrays (the ``state_dict``, and the optimizer's, for ``partial_fit`` to go on
exactly) with what rebuilds it: the architecture of ``nerve.io.describe`` when the network is
a Sequential of registered layers, else the ``module`` function that built it. Unpickling
rebuilds the Module and loads the arrays; no nerve Tensor or Module is ever in the pickle.

This module imports scikit-learn; ``import nerve`` does not import it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nerve import backend, io, nn
from nerve.checks import ShortRepr, check_bool, check_int, check_number, is_int, message
from nerve.nn.module import Module
from nerve.optim import Optimizer
from nerve.train.callbacks import EarlyStopping
from nerve.train.loop import OPTIMIZERS, fit, get_optimizer, model_dtype, predict

__all__ = ["NerveClassifier", "NerveRegressor"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "sigmoid": nn.Sigmoid,
               "identity": None}
CLASSIFIER_LOSSES = ("cross_entropy", "bce_with_logits")
REGRESSOR_LOSSES = ("mse", "l1", "mae", "ssr")
AUTO_BATCH = 200  # batch_size="auto": min(200, n_samples), as MLPClassifier
PREDICT_BATCH = 1024  # rows per forward pass in predict: fewer Python calls, bounded memory
# predict passes batches of a multiple of ROW_TILE rows (the last one padded with zeros): a
# float32 matrix product may round a row differently by the batch's row count (a single row
# goes through BLAS's matrix-vector kernel; 3 rows through an edge kernel), by ~1e-7, and
# scikit-learn asks that a sample's prediction not depend on the rest of its batch (measured
# with OpenBLAS: counts that are multiples of 4 agree; of 1, 2, 3, 5 differ)
ROW_TILE = 16
_MAX_SEED = 2**31 - 1


def _host(array) -> np.ndarray:
    """A NumPy copy of an array of the model's (a CuPy array's ``get()``)."""
    return np.array(array.get() if hasattr(array, "get") else array, copy=True)


class _Name(str):
    """A description that an error message shows as it is (without quotes)."""

    def __repr__(self) -> str:
        return str(self)


class _NerveEstimator(BaseEstimator):
    """What the classifier and the regressor share: the checks of the parameters, building the
    network, training it with ``nerve.fit``, predicting, pickling."""

    _losses: tuple[str, ...] = ()

    # --- parameters (checked in fit, never in __init__ or set_params, as scikit-learn asks) ---
    def _who(self, method: str = "fit") -> str:
        return f"{type(self).__name__}.{method}"

    def _check_params(self, who: str) -> None:
        if self.module is None:
            self._hidden_sizes(who)
            if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
                raise ValueError(message(who, f"an activation in {sorted(ACTIVATIONS)}",
                                         "activation", self.activation))
        elif not callable(self.module):
            raise TypeError(message(who, "a function module(n_features, n_outputs) that returns "
                                    "a nerve Module, or None", "module", ShortRepr(self.module)))
        if isinstance(self.loss, str):
            if self.loss not in self._losses:
                raise ValueError(message(who, f"a loss in {list(self._losses)} or a function "
                                         "(output, target) -> loss", "loss", self.loss))
        elif not callable(self.loss):
            raise TypeError(message(who, "a loss name or a function (output, target) -> loss",
                                    "loss", ShortRepr(self.loss)))
        if isinstance(self.optimizer, str):
            if self.optimizer.lower() not in OPTIMIZERS:
                raise ValueError(message(who, f"an optimizer name in {sorted(OPTIMIZERS)} or a "
                                         "factory f(params, lr=...)", "optimizer", self.optimizer))
        elif isinstance(self.optimizer, Optimizer):
            raise TypeError(message(who, "an optimizer name, class or factory (an Optimizer "
                                    "holds another model's parameters)", "optimizer",
                                    _Name(f"{type(self.optimizer).__name__}(...)")))
        elif not callable(self.optimizer):
            raise TypeError(message(who, "an optimizer name, class or factory f(params, lr=...)",
                                    "optimizer", ShortRepr(self.optimizer)))
        if self.lr is not None:
            check_number(self.lr, "lr", who, 0.0, low_open=True)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if not is_int(self.batch_size):
                raise TypeError(message(who, "a positive integer or 'auto'", "batch_size",
                                        self.batch_size))
            check_int(self.batch_size, "batch_size", who, minimum=1)
        check_int(self.epochs, "epochs", who, minimum=1)
        check_bool(self.early_stopping, "early_stopping", who)
        check_number(self.validation_fraction, "validation_fraction", who, 0.0, 1.0,
                     low_open=True, high_open=True)
        check_int(self.n_iter_no_change, "n_iter_no_change", who, minimum=1)
        check_number(self.tol, "tol", who, 0.0)
        if isinstance(self.verbose, (bool, np.bool_)):
            return
        if check_int(self.verbose, "verbose", who, minimum=0) > 2:
            raise ValueError(message(who, "0, 1, 2 or a bool", "verbose", self.verbose))

    def _hidden_sizes(self, who: str) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if is_int(sizes):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)) or not all(is_int(s) for s in sizes):
            raise TypeError(message(who, "a positive integer or a sequence of them",
                                    "hidden_layer_sizes", sizes))
        if any(s < 1 for s in sizes):
            raise ValueError(message(who, "positive layer sizes", "hidden_layer_sizes", sizes))
        return tuple(int(s) for s in sizes)

    def _seed(self, who: str) -> int | None:
        """The seed of a fit: random_state itself, or an int drawn from a RandomState or
        Generator; None for random_state=None (nerve's global generator is used)."""
        rs = self.random_state
        if rs is None:
            return None
        if is_int(rs):
            return check_int(rs, "random_state", who, minimum=0)
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(_MAX_SEED))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(_MAX_SEED))
        raise TypeError(message(who, "None, an integer >= 0, a numpy RandomState or Generator",
                                "random_state", ShortRepr(rs)))

    # --- the network -----------------------------------------------------------------------
    def _build(self, n_features: int, n_outputs: int, who: str) -> Module:
        if self.module is not None:
            model = self.module(n_features, n_outputs)
            if not isinstance(model, Module):
                raise TypeError(message(who, "module(n_features, n_outputs) to return a nerve "
                                        f"Module; module({n_features}, {n_outputs}) returned",
                                        "model", ShortRepr(model)))
            return model
        activation = ACTIVATIONS[self.activation]
        layers, width = [], n_features
        for size in self._hidden_sizes(who):
            layers.append(nn.Linear(width, size))
            if activation is not None:
                layers.append(activation())
            width = size
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)

    def _make_optimizer(self, model: Module, who: str):
        lr = None if self.lr is None else float(self.lr)  # None: the optimizer's own default
        return get_optimizer(self.optimizer, model, lr=lr, who=who)

    # --- training --------------------------------------------------------------------------
    def _train(self, X, targets, n_outputs: int, *, partial: bool, who: str, stratify=None):
        """Train on X (float32, checked) and ``targets`` (what the loss takes): from new
        weights for ``epochs`` epochs, or (``partial``) one more epoch of the network as it is
        (a new one on the first call). ``stratify``: labels for the early-stopping split."""
        if not partial or not hasattr(self, "model_"):
            seed = self._seed(who)
            with backend.use_generator(None if seed is None else backend.generator(seed)):
                model = self._build(X.shape[1], n_outputs, who)
            self._optimizer = self._make_optimizer(model, who)
            self.model_, self.n_outputs_, self._fit_seed = model, n_outputs, seed
            self._builder = self.module  # what rebuilds a network that describe cannot
            self.n_iter_, self.loss_curve_ = 0, []
            vars(self).pop("validation_loss_curve_", None)  # of an earlier fit's early stopping
        seed = self._fit_seed  # partial_fit: epoch k draws from generator(seed, k), as in fit
        callbacks, validation_data = [], None
        if self.early_stopping and not partial:
            split_seed = int(backend.rng().integers(_MAX_SEED)) if seed is None else seed
            X, X_val, targets, y_val = train_test_split(
                X, targets, test_size=self.validation_fraction, random_state=split_seed,
                stratify=stratify)
            validation_data = (X_val, y_val)
            callbacks.append(EarlyStopping("val_loss", patience=self.n_iter_no_change,
                                           min_delta=self.tol, restore_best_weights=True))
        if self.batch_size == "auto":
            batch_size = min(AUTO_BATCH, len(X))
        else:
            batch_size = min(self.batch_size, len(X))
        epochs = 1 if partial else self.epochs
        history = fit(self.model_, X, targets, loss=self.loss, optimizer=self._optimizer,
                      epochs=self.n_iter_ + epochs, initial_epoch=self.n_iter_,
                      batch_size=batch_size, validation_data=validation_data,
                      callbacks=callbacks, metrics=(), verbose=int(self.verbose), seed=seed)
        self.n_iter_ += len(history["loss"])
        self.loss_curve_ += list(history["loss"])
        if validation_data is not None:
            self.validation_loss_curve_ = list(history["val_loss"])
        return self

    def _outputs(self, X, method: str) -> np.ndarray:
        """The network's outputs for X, as float64 (scikit-learn's precision), shape (n, k)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        n = len(X)
        if n % ROW_TILE:  # zero rows up to a multiple of ROW_TILE (see ROW_TILE)
            X = np.concatenate([X, np.zeros((ROW_TILE - n % ROW_TILE, *X.shape[1:]), X.dtype)])
        out = predict(self.model_, X, batch_size=PREDICT_BATCH)[:n]
        return out.reshape(n, -1).astype(np.float64)

    # --- pickling: arrays and what rebuilds the network, never nerve objects ----------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            architecture = io.describe(model)
            state["_network"] = {
                "architecture": architecture,
                "dtype": np.dtype(model_dtype(model)).name,
                "state_dict": {k: _host(v) for k, v in model.state_dict().items()},
                "output_kind": getattr(model, "output_kind_", None),
            }
        opt = state.pop("_optimizer", None)
        if opt is not None:
            state["_optimizer_state"] = (type(opt), opt.state_dict())
        return state

    def __setstate__(self, state):
        state = dict(state)
        network = state.pop("_network", None)
        optimizer = state.pop("_optimizer_state", None)
        super().__setstate__(state)
        if network is None:
            return
        # building draws initial weights: from a private generator, nerve's is left as it was
        with backend.use_generator(backend.generator(0)):
            if network["architecture"] is not None:
                model = io.build(network["architecture"])
            else:
                model = self._builder(self.n_features_in_, self.n_outputs_)
        model.to(np.dtype(network["dtype"]))
        model.load_state_dict(network["state_dict"])
        model.output_kind_ = network["output_kind"]
        self.model_ = model
        if optimizer is not None:
            cls, opt_state = optimizer  # its hyper-parameters come back with its state
            self._optimizer = cls(model.parameters(), lr=opt_state["param_groups"][0]["lr"])
            self._optimizer.load_state_dict(opt_state)


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        The widths of the hidden layers, each a Linear layer followed by ``activation``.
    activation : {"relu", "tanh", "logistic" (or "sigmoid"), "identity"}, default "relu"
    module : callable or None, default None
        ``module(n_features, n_outputs)`` returns the nerve Module to train, instead of the
        network of ``hidden_layer_sizes`` and ``activation``. It must be picklable (a function
        of a module, not a lambda) for the estimator to pickle or to run in other processes.
    loss : str or callable
        A loss name of ``nerve.fit`` (see each estimator) or a function (output, target) -> loss.
    optimizer : str or callable, default "adam"
        An optimizer name of ``nerve.fit`` ("adam", "sgd", "adamw", "rmsprop", "adadelta"), a
        class of ``nerve.optim`` or a factory ``f(params, lr=...)``
        (``functools.partial(nerve.optim.SGD, momentum=0.9)``).
    lr : float or None, default None
        The learning rate; None takes the optimizer's own, as ``nerve.fit`` does (Adam and
        AdamW 1e-3, SGD 0.01, RMSprop 0.01, Adadelta 1.0). A fixed 1e-3 for every optimizer
        had left Adadelta barely training.
    batch_size : int or "auto", default "auto"
        Samples per step; "auto" is ``min(200, n_samples)``, as in ``MLPClassifier``.
    epochs : int, default 200
        Passes over the data in ``fit`` (``partial_fit`` makes one); 200 as ``MLPClassifier``'s
        ``max_iter``.
    early_stopping : bool, default False
        Set aside ``validation_fraction`` of the data (stratified for a classifier) and stop
        when its loss has not improved by ``tol`` for ``n_iter_no_change`` epochs; the network
        ends with the weights of its best epoch. Off: ``fit`` trains ``epochs`` epochs, as
        ``nerve.fit`` does. ``partial_fit`` never stops early.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    random_state : int, numpy RandomState or Generator, or None, default None
        Seeds the initial weights, the shuffling and dropout (see the module's docstring).
    verbose : int or bool, default 0
        ``nerve.fit``'s progress: 0 silent, 1 a progress bar, 2 a line per epoch.

    Attributes
    ----------
    model_ : nerve.nn.Module
        The trained network (save it with ``nerve.io.save``).
    n_features_in_, feature_names_in_, n_outputs_, n_iter_ (epochs trained), loss_curve_ (the
    training loss of each epoch), validation_loss_curve_ (with early stopping).
"""


class NerveClassifier(ClassifierMixin, _NerveEstimator):
    __doc__ = """A classifier: a nerve network trained with ``nerve.fit`` on cross-entropy.

    Any labels (numbers, strings), two classes or more; ``classes_`` holds them sorted. The
    network has one output per class (its logits) with ``loss="cross_entropy"``; with
    ``loss="bce_with_logits"`` (two classes only) one output, the logit of ``classes_[1]``.
    """ + _PARAMS_DOC

    _losses = CLASSIFIER_LOSSES

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, module=None,
                 loss="cross_entropy", optimizer="adam", lr=None, batch_size="auto",
                 epochs=200, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Train a new network on X (n_samples, n_features) and the labels y; return self."""
        return self._fit(X, y, partial=False, classes=None)

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on (X, y), going on from the network as it is (a new one on the
        first call, which needs ``classes``: every label that will ever come); return self."""
        return self._fit(X, y, partial=True, classes=classes)

    def _fit(self, X, y, *, partial: bool, classes):
        who = self._who("partial_fit" if partial else "fit")
        self._check_params(who)
        first = not partial or not hasattr(self, "model_")
        if first and partial and classes is None:
            raise ValueError(f"{who}: the first call needs classes, every label that will ever "
                             "come (as in scikit-learn's partial_fit)")
        X, y = validate_data(self, X, y, reset=first, dtype=np.float32)
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
        else:
            labels = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                          labels):
                raise ValueError(message(who, f"the classes of the first call, {labels!r}",
                                         "classes", ShortRepr(classes)))
        unknown = np.setdiff1d(y, labels)
        if len(unknown):
            raise ValueError(f"{who}: y holds labels that are not in classes_ {labels!r}: "
                             f"{ShortRepr(unknown.tolist())!r}")
        if len(labels) < 2:
            raise ValueError(message(who, "samples of at least 2 classes (a classifier cannot "
                                     "train on one class)", "classes", labels))
        index = np.searchsorted(labels, y)
        if self.loss == "bce_with_logits":
            if len(labels) != 2:
                raise ValueError(message(who, "2 classes for loss='bce_with_logits' (use "
                                         "'cross_entropy' for more)", "classes", labels))
            targets, n_outputs = index.astype(np.float32).reshape(-1, 1), 1
        else:
            targets, n_outputs = index, len(labels)
        self.classes_ = labels
        return self._train(X, targets, n_outputs, partial=partial, who=who,
                           stratify=self._stratify(index))

    def _stratify(self, index):
        """The labels that stratify the early-stopping split, when every class can be on both
        sides of it (else None: a shuffled split)."""
        if not self.early_stopping:
            return None
        counts = np.bincount(index, minlength=len(self.classes_))
        n_val = int(np.ceil(self.validation_fraction * len(index)))
        if counts.min() >= 2 and len(self.classes_) <= min(n_val, len(index) - n_val):
            return index
        return None

    def predict_proba(self, X):
        """The probability of each class of ``classes_`` for each sample, (n_samples, n_classes)."""
        out = self._outputs(X, "predict_proba")
        if out.shape[1] == 1:  # bce_with_logits: the logit of classes_[1]
            p = 1.0 / (1.0 + np.exp(-out[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        if out.shape[1] != len(self.classes_):
            raise ValueError(f"{self._who('predict_proba')}: the network gives {out.shape[1]} "
                             f"outputs per sample for {len(self.classes_)} classes")
        out -= out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def predict_log_proba(self, X):
        """The log of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable label of ``classes_`` for each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class NerveRegressor(RegressorMixin, _NerveEstimator):
    __doc__ = """A regressor: a nerve network trained with ``nerve.fit`` on the mean squared error.

    y of shape (n_samples,) or (n_samples, n_targets); the network has one output per target.
    ``loss``: "mse" (default), "l1" (or "mae"), "ssr" (sum of squared residuals), or a function.
    """ + _PARAMS_DOC

    _losses = REGRESSOR_LOSSES

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, module=None,
                 loss="mse", optimizer="adam", lr=None, batch_size="auto",
                 epochs=200, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train a new network on X (n_samples, n_features) and y; return self."""
        return self._fit(X, y, partial=False)

    def partial_fit(self, X, y):
        """Train one epoch on (X, y), going on from the network as it is; return self."""
        return self._fit(X, y, partial=True)

    def _fit(self, X, y, *, partial: bool):
        who = self._who("partial_fit" if partial else "fit")
        self._check_params(who)
        first = not partial or not hasattr(self, "model_")
        X, y = validate_data(self, X, y, reset=first, dtype=np.float32, multi_output=True,
                             y_numeric=True)
        if y.ndim > 2:
            raise ValueError(message(who, "y of shape (n_samples,) or (n_samples, n_targets)",
                                     "y.shape", y.shape))
        targets = y.astype(np.float32).reshape(len(y), -1)
        if first:
            self._y_1d = y.ndim == 1
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(message(who, f"y with {self.n_outputs_} targets, as in the first "
                                     "call", "y.shape", y.shape))
        return self._train(X, targets, targets.shape[1], partial=partial, who=who)

    def predict(self, X):
        """The predicted targets, (n_samples,) or (n_samples, n_targets) as y was in fit."""
        out = self._outputs(X, "predict")
        return out[:, 0] if self._y_1d and out.shape[1] == 1 else out
