"""Checkpoints: weights, optimizer state, epoch and extra state in one safetensors file.

Arrays are stored as tensors named ``model/<key>``, ``optimizer/state/0/exp_avg``,
``extra/...``; everything else (step counts, learning rates, betas, the epoch, a History, an
RNG state) is JSON in the header's ``__metadata__``. Nothing is pickled, so loading a
checkpoint runs no code, and training resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nerve.checks import check_int
from nerve.io.safetensors_file import FileFormatError, parse_json, read_tensors, write_tensors
from nerve.io.state import flatten_state, unflatten_state
from nerve.io.weights import (
    KIND_KEY,
    MODEL_PREFIX,
    check_model,
    load_into,
    model_arrays,
    model_metadata,
)

CHECKPOINT_KEY = "nerve.checkpoint"


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
    write_tensors(path, arrays, metadata)


def _read_info(path, metadata: dict[str, str]) -> dict:
    if metadata.get(KIND_KEY) != "checkpoint" or CHECKPOINT_KEY not in metadata:
        raise ValueError(f"{os.fspath(path)}: not a nerve checkpoint (written by nerve.io.save "
                         "or another program); use nerve.io.load_weights(model, path)")
    info = parse_json(path, metadata[CHECKPOINT_KEY], "the checkpoint record")
    if not isinstance(info, dict) or set(info) != {"epoch", "optimizer", "extra"}:
        raise FileFormatError(f"{os.fspath(path)}: the checkpoint record must hold epoch, "
                              f"optimizer and extra, got {str(info)[:200]}")
    epoch = info["epoch"]
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise FileFormatError(f"{os.fspath(path)}: epoch must be an integer or null, "
                              f"got {str(epoch)[:50]}")
    return info


def _unflatten(path, arrays: dict, skeleton, what: str):
    try:
        return unflatten_state(arrays, skeleton)
    except (ValueError, RecursionError) as e:
        raise FileFormatError(f"{os.fspath(path)}: {what}: {e}") from None


def load_checkpoint(path: str | os.PathLike, model, optimizer=None) -> dict:
    """Load a checkpoint into ``model`` (and ``optimizer``); return ``{"epoch", "extra"}``."""
    check_model(model, "load_checkpoint")
    arrays, metadata = read_tensors(path)
    state = model_arrays(path, arrays, metadata)
    info = _read_info(path, metadata)
    opt_state = _unflatten(path, arrays, info["optimizer"], "optimizer state")
    extra = _unflatten(path, arrays, info["extra"], "extra state")
    if optimizer is not None and opt_state is None:
        raise ValueError(f"{os.fspath(path)}: the checkpoint holds no optimizer state, but an "
                         f"optimizer ({type(optimizer).__name__}) was given to load it into")
    load_into(model, path, state)
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    return {"epoch": info["epoch"], "extra": extra}
