"""Checkpoints: weights, optimizer state, epoch and extra state in one safetensors file.

Arrays are stored as tensors named ``model/<key>``, ``optimizer/state/0/exp_avg``,
``extra/...``; everything else (step counts, learning rates, betas, the epoch, a History, an
RNG state) is JSON in the header's ``__metadata__``, with the optimizer's class name. Nothing
is pickled, so loading a checkpoint runs no code, and training resumes exactly where it
stopped. Loading checks the model's state (names, shapes, dtypes) and the optimizer (its class,
its hyper-parameters) against the file before it writes into either.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from nerve import backend
from nerve.checks import check_int, message
from nerve.io.safetensors_file import FileFormatError, parse_json, read_tensors, write_tensors
from nerve.io.state import flatten_state, unflatten_state
from nerve.io.weights import (
    KIND_KEY,
    MODEL_PREFIX,
    check_fits,
    check_model,
    layout,
    model_arrays,
    model_metadata,
)

CHECKPOINT_KEY = "nerve.checkpoint"
OPTIMIZER_KEY = "nerve.optimizer_class"


def _optimizer_state(optimizer) -> Any:
    if optimizer is None:
        return None
    if not callable(getattr(optimizer, "state_dict", None)):
        raise TypeError(f"save_checkpoint expects an optimizer with state_dict(), got "
                        f"{type(optimizer).__name__}")
    return optimizer.state_dict()


def save_checkpoint(path: str | os.PathLike, model, optimizer=None, epoch: int | None = None,
                    extra: Any = None) -> None:
    """Write weights, optimizer state, epoch and ``extra`` to ``path``, atomically."""
    check_model(model, "save_checkpoint")
    epoch = None if epoch is None else check_int(epoch, "epoch", "save_checkpoint", minimum=0)
    arrays = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    opt_arrays, opt_skeleton = flatten_state(_optimizer_state(optimizer), "optimizer")
    extra_arrays, extra_skeleton = flatten_state(extra, "extra")
    arrays.update(opt_arrays)
    arrays.update(extra_arrays)
    info = {"epoch": epoch, "optimizer": opt_skeleton, "extra": extra_skeleton}
    metadata = {**model_metadata(model, "checkpoint"), CHECKPOINT_KEY: json.dumps(info)}
    if optimizer is not None:
        metadata[OPTIMIZER_KEY] = type(optimizer).__name__
    write_tensors(path, arrays, metadata)


def _read_info(path, metadata: dict[str, str]) -> dict:
    if metadata.get(KIND_KEY) != "checkpoint" or CHECKPOINT_KEY not in metadata:
        raise ValueError(f"{os.fspath(path)}: not a nerve checkpoint (written by nerve.io.save "
                         "or another program); use nerve.io.load_weights(model, path)")
    # a History may hold a NaN loss: Python's json writes it and reads it back
    info = parse_json(path, metadata[CHECKPOINT_KEY], "the checkpoint record", finite=False)
    if not isinstance(info, dict) or set(info) != {"epoch", "optimizer", "extra"}:
        raise FileFormatError(f"{os.fspath(path)}: the checkpoint record must hold epoch, "
                              f"optimizer and extra, got {str(info)[:200]}")
    epoch = info["epoch"]
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)
                              or epoch < 0):
        raise FileFormatError(f"{os.fspath(path)}: epoch must be an integer >= 0 or null, "
                              f"got {str(epoch)[:50]}")
    return info


def _unflatten(path, arrays: dict, skeleton, what: str):
    try:
        return unflatten_state(arrays, skeleton)
    except (ValueError, RecursionError) as e:
        raise FileFormatError(f"{os.fspath(path)}: {what}: {e}") from None


def _check_optimizer(path, optimizer, opt_state, metadata: dict[str, str]) -> None:
    """Raise unless ``optimizer`` can take the checkpoint's optimizer state."""
    path, name = os.fspath(path), type(optimizer).__name__
    if opt_state is None:
        raise ValueError(f"{path}: the checkpoint holds no optimizer state, but an "
                         f"optimizer ({name}) was given to load it into")
    saved = metadata.get(OPTIMIZER_KEY)
    if saved is not None and saved != name:
        raise TypeError(f"{path}: " + message(
            "load_checkpoint", f"an optimizer of class {saved[:100]} (the checkpoint holds its "
            "state)", "type(optimizer).__name__", name))
    if not isinstance(opt_state, dict):
        raise FileFormatError(f"{path}: the optimizer state must be an object, got "
                              f"{str(opt_state)[:100]}")
    groups, saved_groups = getattr(optimizer, "param_groups", None), opt_state.get("param_groups")
    if not (isinstance(groups, list) and isinstance(saved_groups, list)):
        return  # not a nerve optimizer: its load_state_dict checks what it needs
    for i, (group, saved_group) in enumerate(zip(groups, saved_groups)):
        if not isinstance(saved_group, dict):
            raise FileFormatError(f"{path}: parameter group {i} of the optimizer state is not "
                                  f"an object, got {str(saved_group)[:100]}")
        lacking = sorted(set(group) - set(saved_group) - set(getattr(optimizer, "later_keys",
                                                                       ())))
        if lacking:  # an older checkpoint without the class name, of another optimizer
            raise TypeError(f"{path}: " + message(
                "load_checkpoint", f"optimizer state with the hyper-parameters of {name}",
                f"keys missing from parameter group {i}", lacking))
    _check_state_dtypes(path, opt_state.get("state"))


def _check_state_dtypes(path, state) -> None:
    """Refuse optimizer state arrays that would lose a part cast into float parameters."""
    for index, entries in (state.items() if isinstance(state, dict) else ()):
        for key, value in (entries.items() if isinstance(entries, dict) else ()):
            if isinstance(value, np.ndarray) and not backend.can_cast(value.dtype, np.float64):
                raise TypeError(f"{os.fspath(path)}: " + message(
                    "load_checkpoint", "optimizer state that casts safely into float "
                    "parameters", f"state[{index!r}][{key!r}].dtype", value.dtype.name))


def load_checkpoint(path: str | os.PathLike, model, optimizer=None) -> dict:
    """Load a checkpoint into ``model`` (and ``optimizer``); return ``{"epoch", "extra"}``.

    Everything is checked before anything is written: the model's state (names, shapes,
    dtypes that cast safely) and the optimizer (the class the checkpoint was saved with, its
    hyper-parameters, its parameters' shapes); a failed call leaves both as they were.
    """
    check_model(model, "load_checkpoint")
    arrays, metadata = read_tensors(path)
    state = model_arrays(path, arrays, metadata)
    info = _read_info(path, metadata)
    opt_state = _unflatten(path, arrays, info["optimizer"], "optimizer state")
    extra = _unflatten(path, arrays, info["extra"], "extra state")
    check_fits(path, f"load_checkpoint into {type(model).__name__}", layout(model), state)
    if optimizer is not None:
        _check_optimizer(path, optimizer, opt_state, metadata)
        try:  # nerve's optimizers check the whole state before they take any of it
            optimizer.load_state_dict(opt_state)
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)}: load_checkpoint into "
                             f"{type(optimizer).__name__}: {e}") from None
    model.load_state_dict(state)
    return {"epoch": info["epoch"], "extra": extra}
