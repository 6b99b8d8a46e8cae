"""A run's spec: what ``nerve train`` reads from a preset or a TOML file, checked and resolved.

A spec has four parts (``config.toml`` in a run folder holds the whole resolved spec, so that
``nerve train runs/<run>/config.toml`` repeats the run)::

    name = "spirals"                  # the run folder's prefix
    seed = 0

    [data]                            # where the examples come from (see ``SOURCES``)
    source = "spirals"
    n_samples = 600
    validation_split = 0.2

    [model]                           # a Sequential of registered layers, in order
    layers = [{ type = "Linear", in_features = 2, out_features = 32 }, { type = "ReLU" }]

    [train]                           # how: fit, the seed's gradient descent, or a perceptron
    method = "fit"
    loss = "cross_entropy"
    optimizer = "adam"
    lr = 0.01
    epochs = 40
    batch_size = 32
    schedule = { type = "StepLR", step_size = 10, gamma = 0.5 }     # optional
    callbacks = [{ type = "EarlyStopping", patience = 5 }]          # optional

Every error names the file, the key and what was valid (``SpecError``, a ValueError).
"""

from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path


class SpecError(ValueError):
    """A spec that cannot run: the message names the file, the key and the valid choices."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v)))


# --- the kinds of value a key takes: (description, test) ------------------------------------
def positive_int(v) -> bool:
    return _is_int(v) and v > 0


def non_negative_int(v) -> bool:
    return _is_int(v) and v >= 0


def positive_number(v) -> bool:
    return _is_number(v) and v > 0


def non_negative_number(v) -> bool:
    return _is_number(v) and v >= 0


def fraction(v) -> bool:
    return _is_number(v) and 0 <= v < 1


def text(v) -> bool:
    return isinstance(v, str) and v != ""


def flag(v) -> bool:
    return isinstance(v, bool)


def numbers(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(_is_number(x) for x in v)


def table(v) -> bool:
    return isinstance(v, dict)


def tables(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) for x in v)


KINDS = {
    positive_int: "a positive integer", non_negative_int: "an integer >= 0",
    positive_number: "a positive number", non_negative_number: "a number >= 0",
    fraction: "a number in [0, 1)", text: "a non-empty string", flag: "true or false",
    numbers: "a non-empty list of numbers", table: "a table", tables: "a list of tables",
}

TOP = {"name": text, "description": text, "seed": non_negative_int, "data": table,
       "model": table, "train": table}
MODEL = {"layers": tables, "init": text}
INITS = ("default", "standard-normal")
METHODS = ("fit", "gradient-descent", "perceptron")
TRAIN = {
    "method": text, "loss": text, "optimizer": text, "lr": positive_number,
    "epochs": positive_int, "batch_size": positive_int, "weight_decay": non_negative_number,
    "momentum": non_negative_number, "clip_grad_norm": positive_number,
    "clip_grad_value": positive_number, "schedule": table, "callbacks": tables,
    "tolerance": non_negative_number, "max_steps": positive_int,
}
SCHEDULES = {  # the schedule tables that [train] schedule may hold, and their keys
    "StepLR": {"step_size": positive_int, "gamma": positive_number},
    "ExponentialLR": {"gamma": positive_number},
    "CosineAnnealingLR": {"T_max": positive_int, "eta_min": non_negative_number},
    "OneCycleLR": {"max_lr": positive_number, "pct_start": fraction},
}
CALLBACKS = {
    "EarlyStopping": {"monitor": text, "patience": non_negative_int,
                      "min_delta": non_negative_number, "restore_best_weights": flag},
    "ReduceLROnPlateau": {"monitor": text, "factor": positive_number,
                          "patience": non_negative_int, "min_lr": non_negative_number},
}


def where(path) -> str:
    return "the preset" if path is None else str(path)


def fail(path, key: str, problem: str) -> SpecError:
    return SpecError(f"{where(path)}: {key}: {problem}")


def check_keys(path, section: str, given: dict, allowed: dict) -> None:
    """Raise SpecError for a key that ``allowed`` does not hold or a value of the wrong kind."""
    for key, value in given.items():
        name = f"{section}.{key}" if section else key
        if key not in allowed:
            of = f" of [{section}]" if section else ""
            raise fail(path, name, f"unknown key; the valid keys{of} are "
                       f"{', '.join(sorted(allowed))}")
        kind = allowed[key]
        if kind is not None and not kind(value):
            raise fail(path, name, f"expected {KINDS[kind]}, received {value!r}")


def choose(path, key: str, value, choices) -> str:
    if value not in choices:
        raise fail(path, key, f"unknown {value!r}; the valid choices are {', '.join(choices)}")
    return value


def read(path: str | os.PathLike) -> dict:
    """Return the spec in a TOML file (checked by ``resolve`` next)."""
    import tomllib  # Python 3.11+

    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file (a spec is a preset name or a TOML file)") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: a folder, not a TOML file (a run folder's spec is "
                        f"{path / 'config.toml'})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a text file: {e}") from None


def resolve(spec: dict, path=None) -> dict:
    """Check a spec and fill in every default; return a new dict (the spec is not changed).

    ``path`` is the file the spec came from, for the messages (None for a preset).
    """
    from nerve.runs import sources  # the data sources' own keys

    spec = copy.deepcopy(spec)
    check_keys(path, "", spec, TOP)
    for part in ("data", "model"):
        if part not in spec:
            raise fail(path, f"[{part}]", "missing; a spec needs [data], [model] and [train]")
    spec.setdefault("train", {})
    spec.setdefault("seed", 0)
    data = spec["data"]
    if "source" not in data:
        raise fail(path, "data.source", f"missing; the sources are {', '.join(sources.SOURCES)}")
    source = sources.get(choose(path, "data.source", data["source"], tuple(sources.SOURCES)))
    check_keys(path, "data", {k: v for k, v in data.items() if k != "source"}, source.keys)
    spec["data"] = {"source": source.name, **source.defaults, **data}
    spec.setdefault("name", source.name)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", spec["name"]):
        raise fail(path, "name", "expected up to 64 letters, digits, '.', '_' or '-' (it names "
                   f"the run folder), received {spec['name']!r}")
    _resolve_model(spec["model"], path)
    _resolve_train(spec["train"], path, source, spec["model"])
    _check_task(spec, path, source)
    return spec


# The losses each task's outputs are read by (nerve predict, the metrics), and the last layer
# they need: a loss that reads probabilities needs a layer that makes them.
TASK_LOSSES = {
    "classification": {"cross_entropy": None, "nll": "LogSoftmax"},
    "binary": {"bce_with_logits": None, "bce": "Sigmoid", "mse": "Sigmoid", "ssr": "Sigmoid"},
    "forecast": {"mse": None, "l1": None, "mae": None, "ssr": None},
}
RECURRENT = ("RNN", "LSTM", "GRU")


def _check_task(spec: dict, path, source) -> None:
    """The loss fits the task and the last layer fits the loss; recurrent layers read the
    source's batch-first windows; a validation monitor has validation examples."""
    layers, train = spec["model"]["layers"], spec["train"]
    if train["method"] != "perceptron":
        losses = TASK_LOSSES[source.task]
        loss = choose(path, "train.loss", train["loss"], tuple(losses))
        last = losses[loss]
        if last is not None and layers[-1]["type"] != last:
            raise fail(path, "model.layers", f'loss = "{loss}" reads what a {last} layer makes: '
                       f'end the layers with {{ type = "{last}" }} (the last is '
                       f'{layers[-1]["type"]})')
    elif source.task != "classification" or spec["data"].get("n_classes", 2) != 2:
        raise fail(path, "train.method", 'method = "perceptron" decides between two classes')
    previous = None
    for i, layer in enumerate(layers):
        first = layer.get("batch_first", True if layer["type"] == "LastTimeStep" else False)
        if layer["type"] in RECURRENT and source.task == "forecast" and not first:
            raise fail(path, f"model.layers[{i}].batch_first", f"the {source.name} source gives "
                       "windows as (batch, time, features): set batch_first = true")
        if layer["type"] == "LastTimeStep" and previous is not None and first != previous:
            raise fail(path, f"model.layers[{i}].batch_first", "must equal the recurrent "
                       f"layer's before it ({previous}), or the steps of different examples "
                       "would be taken for one another's")
        if layer["type"] in RECURRENT:
            previous = first
    no_val = spec["data"].get("validation_split", None) == 0 or source.name in ("surfing",
                                                                                 "xor")
    for i, cb in enumerate(train.get("callbacks", ())):
        if no_val and cb.get("monitor", "val_loss").startswith("val_"):
            raise fail(path, f"train.callbacks[{i}].monitor", "there are no validation "
                       "examples (validation_split = 0): monitor a training figure such as "
                       '"loss", or hold some out')


def absolute_paths(spec: dict, base) -> dict:
    """The spec with its data files relative to ``base`` (the spec file's folder) made
    absolute, so that a run's config.toml repeats it from anywhere."""
    data = spec.get("data")
    if isinstance(data, dict):
        for key in ("path", "checksums"):
            if isinstance(data.get(key), str) and data[key]:
                data[key] = str((Path(base) / data[key]).resolve())
    return spec


def _resolve_model(model: dict, path) -> None:
    from nerve.io import registered_layers

    check_keys(path, "model", model, MODEL)
    model.setdefault("init", "default")
    choose(path, "model.init", model["init"], INITS)
    layers = model.get("layers")
    if not layers:
        raise fail(path, "model.layers", "missing or empty; give a list of layers such as "
                   "[{ type = \"Linear\", in_features = 2, out_features = 8 }]")
    known = registered_layers()
    for i, layer in enumerate(layers):
        key = f"model.layers[{i}]"
        kind = layer.get("type")
        if not isinstance(kind, str) or kind not in known or kind == "Sequential":
            raise fail(path, f"{key}.type", f"unknown layer {kind!r}; the known layers are "
                       f"{', '.join(sorted(k for k in known if k != 'Sequential'))}")
        args = layer_args(kind)
        unknown = sorted(set(layer) - {"type"} - set(args))
        if unknown:
            raise fail(path, f"{key}.{unknown[0]}", f"not an argument of {kind}; it takes "
                       f"{', '.join(args) or 'no arguments'}")


def layer_args(kind: str) -> tuple[str, ...]:
    from nerve.io.architecture import layer_arguments

    return layer_arguments(kind)


def _resolve_train(train: dict, path, source, spec_model: dict) -> None:
    check_keys(path, "train", train, TRAIN)
    train.setdefault("method", source.method)
    method = choose(path, "train.method", train["method"], METHODS)
    if method == "fit":
        from nerve.train.loop import LOSSES, OPTIMIZERS

        train.setdefault("loss", source.loss)
        choose(path, "train.loss", train["loss"], tuple(LOSSES))  # then by task: _check_task
        train.setdefault("optimizer", "adam")
        choose(path, "train.optimizer", train["optimizer"], tuple(OPTIMIZERS))
        train.setdefault("lr", 0.01 if train["optimizer"] == "sgd" else 0.001)
        train.setdefault("epochs", 10)
        train.setdefault("batch_size", 32)
        for name in ("tolerance", "max_steps"):
            if name in train:
                raise fail(path, f"train.{name}", 'only for method = "gradient-descent"')
    elif method == "gradient-descent":
        train.setdefault("loss", "ssr")
        from nerve.train.loop import LOSSES

        choose(path, "train.loss", train["loss"], tuple(LOSSES))
        train.setdefault("lr", 0.1)
        train.setdefault("tolerance", 0.001)
        train.setdefault("max_steps", 1000)
        for name in ("optimizer", "batch_size", "epochs", "schedule", "callbacks",
                     "clip_grad_norm", "clip_grad_value", "momentum", "weight_decay"):
            if name in train:
                raise fail(path, f"train.{name}", "not used by method = \"gradient-descent\" "
                           "(full-batch steps of lr x slope until every step is at most "
                           "tolerance or max_steps)")
    else:
        layers = spec_model["layers"]
        if len(layers) != 1 or layers[0].get("type") != "Perceptron":
            raise fail(path, "model.layers", 'method = "perceptron" trains one layer: '
                       f'[{{ type = "Perceptron", n_inputs = ... }}], received {layers}')
        for name in train:
            if name not in ("method", "lr", "epochs"):
                raise fail(path, f"train.{name}", "not used by method = \"perceptron\" (the "
                           "learning rule takes lr and epochs)")
        train.setdefault("lr", 1.0)
        train.setdefault("epochs", 100)
    if "schedule" in train:
        schedule = dict(train["schedule"])
        kind = choose(path, "train.schedule.type", schedule.pop("type", None), tuple(SCHEDULES))
        check_keys(path, "train.schedule", schedule, SCHEDULES[kind])
    for i, cb in enumerate(train.get("callbacks", ())):
        cb = dict(cb)
        kind = choose(path, f"train.callbacks[{i}].type", cb.pop("type", None), tuple(CALLBACKS))
        check_keys(path, f"train.callbacks[{i}]", cb, CALLBACKS[kind])


def without_none(value):
    """The spec as TOML can hold it: no None values (TOML has no null)."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def dumps(spec: dict) -> str:
    """The spec as TOML text (``tomli-w``)."""
    import tomli_w

    return tomli_w.dumps(without_none(spec))
