"""``nerve train``, ``evaluate``, ``predict`` and ``summary``: a spec in, a run folder out.

A run folder holds ``config.toml`` (the resolved spec: ``nerve train <folder>/config.toml``
repeats the run), ``model.safetensors`` (weights and architecture, ``nerve.load`` reads it),
``history.csv``, ``metrics.json``, ``data.json`` (what ``predict`` needs to read new inputs:
the task, the input shape, the classes, a series' scaler) and PNG pictures when matplotlib is
installed. Training happens before anything is written, and every file is written
atomically: a run that fails leaves no folder and no half-written model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

import nerve
from nerve import nn, optim
from nerve.files import atomic_write_bytes
from nerve.nn.module import kept_modes
from nerve.runs import presets, sources
from nerve.runs import spec as S
from nerve.runs.spec import SpecError

FILES = ("config.toml", "model.safetensors", "history.csv", "metrics.json", "data.json")
VIZ_HINT = ("pictures need matplotlib, which is not installed: pip install matplotlib (or, in "
            'a checkout of nerve, pip install ".[viz]"); the run wrote everything else')


# --- specs -----------------------------------------------------------------------------------
def load_spec(name: str | os.PathLike | None) -> tuple[dict, Path | None]:
    """The spec a name gives (a preset, a TOML file, or a run folder), resolved; and its file."""
    if name is None:
        name = presets.DEFAULT
    if isinstance(name, str) and name in presets.PRESETS:
        return S.resolve(presets.PRESETS[name]), None
    path = Path(name)
    if path.is_dir():
        path = path / "config.toml"
    if path.suffix != ".toml" and not path.exists():
        raise SpecError(f"{name!r} is neither a preset nor a file; the presets are "
                        f"{', '.join(presets.PRESETS)}, or give a TOML file or a run folder")
    return S.resolve(S.absolute_paths(S.read(path), path.parent), path), path


def override(spec: dict, path, **changes) -> dict:
    """Apply command-line options (``data.path``, ``train.epochs``, ...) and check again."""
    spec = json.loads(json.dumps(spec))  # a deep copy of plain data
    for key, value in changes.items():
        if value is None:
            continue
        part, _, name = key.partition(".")
        if name:
            spec.setdefault(part, {})[name] = value
        else:
            spec[part] = value
    return S.resolve(spec, path)


def build_model(spec: dict, path=None) -> nn.Module:
    """The spec's layers as a Sequential, seeded, with the spec's initialisation."""
    from nerve.io import build

    layers = [{"type": layer["type"], "args": {k: v for k, v in layer.items() if k != "type"}}
              for layer in spec["model"]["layers"]]
    nerve.manual_seed(spec["seed"])
    try:
        model = build({"type": "Sequential", "layers": layers})
    except ValueError as e:
        raise SpecError(f"{S.where(path)}: model.layers: {e}") from None
    if spec["model"]["init"] == "standard-normal":  # the seed's: N(0, 1) weights, zero biases
        norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)  # keep their ones and zeros
        for m in model.modules():  # every layer with weights: Linear, Conv, the recurrent ones
            for leaf, p in ([] if isinstance(m, norms) else m._parameters.items()):
                if p is not None and leaf.startswith("weight") and p.ndim >= 2:
                    nn.init.normal_(p)
                elif p is not None and leaf.startswith("bias"):
                    nn.init.zeros_(p)
    return model


def input_shape(spec: dict) -> tuple:
    return tuple(sources.get(spec["data"]["source"]).input_shape(spec["data"]))


def check_fits(model: nn.Module, spec: dict, path, n_classes: int | None) -> None:
    """Run two zero inputs through the model: layers that do not fit the data's input, or an
    output that does not fit the task, are a SpecError before any training."""
    shape, source = input_shape(spec), sources.get(spec["data"]["source"])
    try:
        with kept_modes(model), nerve.no_grad():
            model.eval()
            out = model(nerve.zeros((2, *shape)))
    except (ValueError, TypeError, IndexError) as e:
        raise SpecError(f"{S.where(path)}: model.layers: the layers do not fit the data's "
                        f"input of shape {shape} per example: {e}") from None
    if spec["train"]["method"] == "perceptron":
        return
    got = tuple(out.shape[1:]) if isinstance(out, nerve.Tensor) else type(out).__name__
    want = {"classification": (n_classes,), "binary": (1,), "forecast": (1,)}[source.task]
    if source.task == "classification" and spec["train"].get("loss") not in (
            "cross_entropy", "nll"):
        want = got  # a loss of the user's choice (mse on one-hot targets, say): not checked
    if got != want:
        what = (f"{n_classes} classes need {n_classes} outputs" if source.task ==
                "classification" else "the task needs one output per example")
        raise SpecError(f"{S.where(path)}: model.layers: the last layer gives outputs of "
                        f"shape {got} per example; {what}, shape {want}")


# --- training --------------------------------------------------------------------------------
def _optimizer(model, train: dict, path):
    from nerve.train.loop import OPTIMIZERS

    kwargs = {"lr": train["lr"]}
    for name in ("weight_decay", "momentum"):
        if name in train:
            kwargs[name] = train[name]
    try:
        return OPTIMIZERS[train["optimizer"]](model.parameters(), **kwargs)
    except ValueError as e:
        raise SpecError(f"{S.where(path)}: train: {e}") from None
    except TypeError:
        extra = [k for k in kwargs if k != "lr"]
        raise SpecError(f"{S.where(path)}: train.{extra[0] if extra else 'optimizer'}: not "
                        f"taken by the {train['optimizer']} optimizer") from None


def _callbacks(train: dict, path, task: str) -> list:
    """The spec's callbacks and schedule, made and checked before training: a bad argument is
    a SpecError naming its key."""
    from nerve import train as T

    logged = {"loss", "val_loss"}
    if train["loss"] in ("cross_entropy", "nll", "bce", "bce_with_logits"):
        logged |= {"accuracy", "val_accuracy"}
    made = []
    for i, cb in enumerate(train.get("callbacks", ())):
        args = {k: v for k, v in cb.items() if k != "type"}
        key = f"train.callbacks[{i}]"
        if args.get("monitor", "val_loss") not in logged:
            raise SpecError(f"{S.where(path)}: {key}.monitor: unknown {args['monitor']!r}; "
                            f"this run logs {', '.join(sorted(logged))}")
        try:
            made.append({"EarlyStopping": T.EarlyStopping,
                         "ReduceLROnPlateau": T.ReduceLROnPlateau}[cb["type"]](**args))
        except (TypeError, ValueError) as e:
            raise SpecError(f"{S.where(path)}: {key}: {e}") from None
    if "schedule" in train:
        args = {k: v for k, v in train["schedule"].items() if k != "type"}
        kind = train["schedule"]["type"]
        if kind == "CosineAnnealingLR":
            args.setdefault("T_max", train["epochs"])
        schedule = getattr(optim.lr_scheduler, kind)
        try:  # made once on a stand-in optimizer, so that a bad argument is found now
            probe = optim.SGD([nn.Parameter(nerve.zeros(1))], lr=train["lr"])
            schedule(probe, **({"total_steps": 1} if kind == "OneCycleLR" else {}), **args)
        except (TypeError, ValueError) as e:
            raise SpecError(f"{S.where(path)}: train.schedule: {e}") from None
        made.append(T.LearningRateScheduler(schedule, interval="batch" if kind == "OneCycleLR"
                                            else "epoch", **args))
    return made


def _fit(model, data: sources.Data, spec: dict, path, verbose: int,
         distributed: bool = False):
    train = spec["train"]
    opt = _optimizer(model, train, path)
    callbacks = _callbacks(train, path, data.task)
    clip = {k: train[k] for k in ("clip_grad_norm", "clip_grad_value") if k in train}
    validation = None if data.extra.get("val_is_train") else (data.x_val, data.y_val)
    with warnings.catch_warnings():  # a stopped run is reported by the run, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return nerve.fit(model, data.x_train, data.y_train, loss=train["loss"], optimizer=opt,
                         epochs=train["epochs"], batch_size=train["batch_size"],
                         validation_data=validation, callbacks=callbacks, verbose=verbose,
                         seed=spec["seed"], distributed=distributed, **clip)


def _gradient_descent(model, data: sources.Data, spec: dict, quiet: bool):
    """The seed's loop: full-batch steps of lr x slope until every step is at most tolerance."""
    from nerve.train import History
    from nerve.train.loop import get_loss

    train = spec["train"]
    loss_fn = get_loss(train["loss"], "nerve train")
    opt = optim.GradientDescent(model.parameters(), lr=train["lr"],
                                tolerance=train["tolerance"], max_steps=train["max_steps"])
    x, y = nerve.tensor(data.x_train), nerve.tensor(data.y_train)
    history, every = History(), max(1, train["max_steps"] // 10)
    while not opt.done:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        if not math.isfinite(loss.item()):
            history.stop_reason = f"the loss became {loss.item()} at step {opt.steps + 1}"
            break
        loss.backward()
        opt.step()
        history.append(opt.steps - 1, {"loss": loss.item(), "step_size": opt.last_step_size})
        if not quiet and (opt.steps % every == 0 or opt.done):
            print(f"step {opt.steps:5d}  {train['loss']} {loss.item():.5f}  largest step size "
                  f"{opt.last_step_size:.5f}", flush=True)
    end = (f"converged (every step size at most {train['tolerance']:g})" if opt.converged
           else f"did not converge (max_steps={train['max_steps']} reached)")
    return history, {"steps": opt.steps, "converged": opt.converged, "stopped": end}


def _perceptron(model, data: sources.Data, spec: dict):
    from nerve.train import History

    neuron = model[0]  # the spec checked: one Perceptron
    neuron.lr, neuron.max_epochs = float(spec["train"]["lr"]), int(spec["train"]["epochs"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nn.ConvergenceWarning)  # reported in the metrics
        neuron.fit(data.x_train, data.y_train)
    model = neuron
    history = History()
    for epoch, errors in enumerate(model.errors_):
        history.append(epoch, {"errors": errors})
    return history, {"epochs": len(model.errors_), "converged": bool(model.converged_),
                     "neuron": _neuron(model)}


# --- measuring -------------------------------------------------------------------------------
def probabilities(model, x, spec: dict) -> np.ndarray:
    """Class probabilities (N, C) of a classifier as the spec's loss reads its outputs."""
    if spec["train"]["method"] == "perceptron":
        decided = np.asarray(model[0].predict(x), dtype=np.float64).reshape(-1)
        return np.stack([1 - decided, decided], axis=1)
    # logits for the two logit losses; for the others the spec made the last layer a Sigmoid
    # or a LogSoftmax, which predict_proba reads as nerve's one decision rule does
    logits = True if spec["train"].get("loss") in ("cross_entropy", "bce_with_logits") else None
    out = nerve.predict_proba(model, x, batch_size=256, from_logits=logits).astype(np.float64)
    out = out.reshape(len(out), -1)
    if out.shape[1] == 1:  # one probability: of class 1
        out = np.concatenate([1 - out, out], axis=1)
    return out


def measure(model, data: sources.Data, spec: dict) -> tuple[dict, dict]:
    """The run's figures on the validation examples (JSON-able), and what the pictures need."""
    from nerve.train.forecasting import mae, naive_forecast, rmse, skill
    from nerve.train.metrics import confusion_matrix

    if data.task == "forecast":
        e = data.extra
        scaler, n_train = e["scaler"], e["n_train"]
        held = e["target_positions"] >= n_train  # validation and test, in time order
        scaled = nerve.predict(model, e["x_all"][held], batch_size=256)
        pred = scaler.inverse_transform(scaled.reshape(-1)).astype(np.float64)
        actual = e["series"][e["target_positions"][held]].astype(np.float64)
        naive = e["series"][e["target_positions"][held] - 1].astype(np.float64)
        val = slice(0, e["n_val"])
        figures = {"mae": mae(actual[val], pred[val]), "rmse": rmse(actual[val], pred[val]),
                   "naive_mae": mae(actual[val], naive[val]),
                   "naive_rmse": rmse(actual[val], naive[val])}
        figures["skill_mae"] = skill(figures["mae"], figures["naive_mae"])
        if len(actual) > e["n_val"]:
            test = slice(e["n_val"], None)
            figures.update({"test_mae": mae(actual[test], pred[test]),
                            "test_naive_mae": mae(actual[test], naive[test])})
        free = nerve.forecast(model, e["series"][:n_train], e["n_val"], scaler,
                              window=e["window"])
        figures["free_running_mae"] = mae(actual[val], np.asarray(free, np.float64).reshape(-1))
        figures["free_running_steps"] = e["n_val"]
        return figures, {"one_step": pred, "free": np.asarray(free).reshape(-1),
                         "naive": naive_forecast(e["series"][:n_train], 1)}
    probs = probabilities(model, data.x_val, spec)
    decided = probs.argmax(axis=1)
    target = np.asarray(data.y_val).reshape(-1).astype(np.int64)
    figures = {"examples": int(len(target)), "accuracy": float((decided == target).mean())}
    if spec["train"]["method"] == "fit":
        figures["loss"] = float(nerve.evaluate(model, data.x_val, data.y_val,
                                               loss=spec["train"]["loss"], metrics=[],
                                               batch_size=256)["loss"])
    n = len(data.classes) if data.classes else int(probs.shape[1])
    figures["confusion_matrix"] = confusion_matrix(target, decided, n).tolist()
    return figures, {"decided": decided, "target": target}


# --- the run folder --------------------------------------------------------------------------
def _folder(out, runs_dir, name: str) -> Path:
    if out is not None:
        folder = Path(out)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise SpecError(f"--out {folder}: exists and is not an empty folder; give a new "
                            "folder (a run never overwrites another)")
        return folder
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, k = Path(runs_dir) / f"{name}-{stamp}", 1
    while folder.exists():
        k += 1
        folder = Path(runs_dir) / f"{name}-{stamp}-{k}"
    return folder


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _history_csv(history) -> str:
    out = io.StringIO()
    names = list(history)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for i, epoch in enumerate(history.epoch):
        writer.writerow([epoch + 1, *(repr(history[k][i]) if i < len(history[k]) else ""
                                      for k in names)])
    return out.getvalue()


def _data_json(spec: dict, data: sources.Data) -> dict:
    info = {"task": data.task, "input_shape": list(input_shape(spec)), "classes": data.classes}
    info["data_sha256"] = fingerprint(data)
    if spec["data"]["source"] in ("mnist", "digits"):  # pixels scaled to [0, 1] for training
        info["input_range"] = [0.0, 1.0]
        info["raw_pixel_max"] = 255 if spec["data"]["source"] == "mnist" else 16
    if data.task == "forecast":
        scaler = data.extra["scaler"]
        info.update({"window": data.extra["window"],
                     "scaler": {"mean": np.atleast_1d(scaler.mean_).tolist(),
                                "scale": np.atleast_1d(scaler.scale_).tolist()}})
    return info


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN
    return value


def has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _pictures(folder: Path, model, data: sources.Data, history, drawn: dict, spec: dict,
              say) -> list[str]:
    """Draw what helps for this run; return the files written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from nerve import viz

    written = []

    def draw(name: str, make) -> None:
        try:
            make(folder / name)
            written.append(name)
        except (ValueError, TypeError) as e:  # a picture that cannot be drawn loses nothing
            say(f"could not draw {name}: {e}", err=True)
        finally:
            plt.close("all")

    if history is not None and len(history.epoch):
        unit = {"gradient-descent": "step"}.get(spec["train"]["method"], "epoch")
        draw("history.png", lambda p: viz.plot_history(history, p, xlabel=unit))
    if data.task in ("classification", "binary"):
        draw("confusion_matrix.png", lambda p: viz.plot_confusion_matrix(
            drawn["target"], drawn["decided"], labels=data.classes, path=p))
    if data.x_val.ndim == 2 and data.x_val.shape[1] == 2:
        draw("decision_boundary.png", lambda p: viz.plot_decision_boundary(
            model, data.x_val, np.asarray(data.y_val).reshape(-1).astype(np.int64), path=p,
            labels=data.classes,
            predict=lambda x: probabilities(model, x, spec).argmax(axis=1)))
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is not None:
        draw("filters.png", lambda p: viz.plot_filters(conv, p))
        draw("feature_maps.png", lambda p: viz.plot_feature_maps(model, data.x_val[0], conv, p))
    if data.task == "forecast":
        e = data.extra
        curves = {"one step ahead": drawn["one_step"],
                  f"free-running, {len(drawn['free'])} steps": drawn["free"]}
        draw("forecast.png", lambda p: viz.plot_forecast(
            e["series"], curves, e["n_train"], path=p, train_end=e["n_train"] - 1,
            index=e["index"], title=f"{spec['name']}: forecast of the held-out part",
            ylabel=spec["data"].get("column", "value"),
            xlabel=spec["data"].get("index_column", "time step")))
    return written


class Printer:
    """What a command says: notes on stdout (none if quiet), warnings on stderr, and its
    result (``result=True``: what a run ends with) always."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def __call__(self, text: str = "", err: bool = False, result: bool = False) -> None:
        if err:
            print(text, file=sys.stderr, flush=True)
        elif result or not self.quiet:
            print(text, flush=True)


def train(spec: dict, path=None, *, out=None, runs_dir="runs", quiet: bool = False,
          distributed: bool = False) -> Path | None:
    """Train as the spec says and write the run folder; return its path.

    ``distributed``: data-parallel on every process of an MPI launch (``mpirun -n P nerve
    train ... --distributed``); process 0 prints and writes the run folder, the others return
    None.
    """
    main = True
    if distributed:
        from nerve import distributed as dist

        dist.init()
        main = dist.is_main()
    say = Printer(quiet or not main)
    folder = _folder(out, runs_dir, spec["name"])  # checked first: a bad --out costs no training
    if main:
        _check_writable(folder.parent)
    source = sources.get(spec["data"]["source"])
    say(f"nerve train {spec['name']}: {spec.get('description') or source.what}")
    data = source.load(spec["data"], spec["seed"])
    model = build_model(spec, path)
    check_fits(model, spec, path, len(data.classes) if data.classes else None)
    method, start = spec["train"]["method"], time.perf_counter()
    if method == "fit":
        history, info = _fit(model, data, spec, path, 0 if quiet else 1, distributed), {}
    elif method == "gradient-descent":
        history, info = _gradient_descent(model, data, spec, quiet)
    else:
        history, info = _perceptron(model, data, spec)
    seconds = time.perf_counter() - start
    if not main:  # the same model on every process: process 0 measures and writes it
        return None
    figures, drawn = measure(model, data, spec)
    on = "training" if data.extra.get("val_is_train") else "validation"
    metrics = {"preset_or_spec": spec["name"], "task": data.task, "method": method,
               "train_examples": int(len(data.x_train)), "seconds": round(seconds, 3),
               **info, "evaluated_on": on, on: figures}
    if spec["data"]["source"] != "surfing":
        metrics.pop("neuron", None)  # the seed's day is a surfing day
    if history is not None and history.stop_reason:
        metrics["stop_reason"] = history.stop_reason
    pictures = _write_folder(folder, model, spec, history, metrics, data, drawn, say)
    report(metrics, lambda text: say(text, result=True))
    say(f"run folder: {folder}  ({', '.join([*FILES, *pictures])})", result=True)
    if history is not None and history.stop_reason:
        raise RunStopped(f"training stopped early: {history.stop_reason}; the run folder "
                         f"{folder} holds the last weights that were finite")
    return folder


class RunStopped(RuntimeError):
    """Training stopped before its end (a loss or weights that were not finite): the run
    folder is written, with the last finite weights, and the command fails (exit code 1)."""


def _check_writable(folder: Path) -> None:
    """Make the folder (and its parents) now, so that a path that cannot hold a run folder
    (a file in the way, no permission) fails before any training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot write a run folder in {folder}: {e}") from None
    if not os.access(folder, os.W_OK):
        raise OSError(f"cannot write a run folder in {folder}: permission denied")


def _write_folder(folder: Path, model, spec, history, metrics, data, drawn, say) -> list[str]:
    """Write the run into a hidden folder beside ``folder``, then rename it: the run folder
    appears whole or not at all."""
    import shutil

    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        nerve.save(model, partial / "model.safetensors", metadata={"run": spec["name"]})
        _write_text(partial / "config.toml", S.dumps(spec))
        _write_text(partial / "history.csv", _history_csv(history))
        _write_text(partial / "metrics.json", json.dumps(_jsonable(metrics), indent=2) + "\n")
        _write_text(partial / "data.json", json.dumps(_data_json(spec, data), indent=2) + "\n")
        pictures = []
        if has_matplotlib():
            pictures = _pictures(partial, model, data, history, drawn, spec, say)
        else:
            say(VIZ_HINT, err=True)
        os.replace(partial, folder)  # onto nothing, or onto the empty folder --out named
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return pictures


def _neuron(model) -> dict:
    w = model.weight.numpy().reshape(-1).tolist()
    b = float(model.bias.numpy().reshape(-1)[0]) + 0.0  # + 0.0: no "-0" threshold
    surf = [1.0, 0.0, 1.0]
    total = sum(a * c for a, c in zip(w, surf)) + b
    return {"weights": w, "bias": b, "threshold": 0.0 - b, "seed_day": surf,
            "seed_day_weighted_sum": total + 0.0,
            "seed_day_decision": "go" if total > 0 else "stay"}


def report(metrics: dict, say) -> None:
    """Print a run's figures in words."""
    on = metrics.get("evaluated_on", "validation")
    v = metrics[on]
    if metrics["task"] == "forecast":
        say(f"one step ahead on the validation part: MAE {v['mae']:.4g} (naive forecast: "
            f"{v['naive_mae']:.4g}, skill {v['skill_mae']:+.2f}), RMSE {v['rmse']:.4g}; "
            f"free-running over {v['free_running_steps']} steps: MAE "
            f"{v['free_running_mae']:.4g}")
        return
    if metrics.get("method") == "gradient-descent":
        say(f"gradient descent {metrics['stopped']} after {metrics['steps']} steps")
    if "neuron" in metrics:
        n = metrics["neuron"]
        how = (f"learned weights {[round(x, 3) for x in n['weights']]} and threshold "
               f"{n['threshold']:g} in {metrics['epochs']} epochs" if metrics.get("converged")
               else f"did not converge in {metrics['epochs']} epochs (some training examples "
               f"are still on the wrong side); it stopped at weights "
               f"{[round(x, 3) for x in n['weights']]} and threshold {n['threshold']:g}")
        say(f"the perceptron {how}; the seed's day (1, 0, 1) sums to "
            f"{n['seed_day_weighted_sum']:g}: {n['seed_day_decision']}")
    loss = f", loss {v['loss']:.4f}" if "loss" in v else ""
    held = ("validation examples" if on == "validation" else
            "training examples (none held out for validation)")
    say(f"accuracy {v['accuracy']:.2%} on {v['examples']} {held}{loss}")
    if metrics.get("stop_reason"):
        say(f"training stopped early: {metrics['stop_reason']}")


# --- using a run -----------------------------------------------------------------------------
def open_run(folder) -> tuple[dict, Path, nn.Module, dict]:
    """A run folder's spec, path, model and data.json."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a run folder (nerve train writes one and prints its "
                        "path)")
    missing = [f for f in ("config.toml", "model.safetensors", "data.json")
               if not (folder / f).is_file()]
    if missing:
        raise SpecError(f"{folder}: not a complete run folder: {', '.join(missing)} missing")
    spec = S.resolve(S.read(folder / "config.toml"), folder / "config.toml")
    model = nerve.load(folder / "model.safetensors")
    info = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    return spec, folder, model, info


def evaluate(folder, *, data_path=None, quiet: bool = False) -> dict:
    """Measure a run's model on its validation examples again (the same split); return the
    figures. ``data_path`` replaces the spec's ``data.path`` (MNIST's folder, a CSV file)."""
    say = Printer(quiet)
    spec, folder, model, info = open_run(folder)
    if data_path is not None:
        if "path" not in sources.get(spec["data"]["source"]).keys:
            raise SpecError(f"--data: the source {spec['data']['source']!r} of this run reads "
                            "no files")
        spec = override(spec, folder / "config.toml", **{"data.path": str(data_path),
                                                          "data.download": None})
        spec["data"]["download"] = False
    data = sources.get(spec["data"]["source"]).load(spec["data"], spec["seed"])
    if info.get("data_sha256") not in (None, fingerprint(data)):
        raise ValueError(f"the data that {spec['data'].get('path') or 'the source'} gives now "
                         f"differ from the run's (another file, or one that changed since): "
                         "evaluate measures the run on the examples it was measured on")
    figures, _ = measure(model, data, spec)
    method = spec["train"]["method"]
    on = "training" if data.extra.get("val_is_train") else "validation"
    say(f"nerve evaluate {folder}: {spec['name']}")
    report({"task": data.task, "evaluated_on": on, on: figures, "method": None},
           lambda text: say(text, result=True))
    return {"task": data.task, "method": method, "evaluated_on": on, on: figures}


def fingerprint(data: sources.Data) -> str:
    """The SHA-256 of a run's examples (and of a series), as data.json keeps it."""
    import hashlib

    digest = hashlib.sha256()
    parts = [data.x_train, data.y_train, data.x_val, data.y_val]
    if data.task == "forecast":
        parts.append(data.extra["series"])
    for part in parts:
        a = np.ascontiguousarray(part)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_inputs(path, info: dict, column: str | None = None) -> np.ndarray:
    """The examples (or the series) in a CSV, .npy or image file, as float32."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)  # never unpickle
        except (ValueError, OSError, EOFError) as e:
            kind = ("an array of Python objects, which nerve never unpickles" if "pickle"
                    in str(e) else f"not a NumPy .npy file ({e})")
            raise ValueError(f"{path}: {kind}") from None
        if values.dtype.kind not in "biuf":
            raise ValueError(f"{path}: expected numbers, found an array of {values.dtype}")
        return values.astype(np.float32)
    if suffix in IMAGE_SUFFIXES:
        return _read_image(path, info)
    if suffix == ".csv":
        return _read_csv(path, info, column)
    raise ValueError(f"{path}: expected a .csv, a .npy or an image ({', '.join(IMAGE_SUFFIXES)}) "
                     f"file, received {suffix or 'a file without a suffix'}")


def _read_csv(path: Path, info: dict, column: str | None) -> np.ndarray:
    from nerve.data import load_csv

    with open(path, encoding="utf-8-sig") as f:
        first = f.readline().strip()
    header = bool(first) and any(_not_number(v) for v in first.split(","))
    if info["task"] == "forecast" and header:
        names = [n.strip().strip('"') for n in first.split(",")]
        if column is None and len(names) != 1:
            raise ValueError(f"{path}: several columns ({', '.join(names)}): say which "
                             "holds the series with --column NAME")
        return load_csv(path, column or names[0]).astype(np.float32)
    if column is not None and info["task"] != "forecast":
        raise ValueError(f"{path}: --column picks the series of a forecast run; this run "
                         "classifies rows of numbers")
    if column is not None:
        raise ValueError(f"{path}: --column names a column of the header, and this file has "
                         "no header row")
    try:
        with warnings.catch_warnings():  # an empty file: our error, not NumPy's warning
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64,
                                skiprows=1 if header else 0, encoding="utf-8-sig")
    except ValueError as e:
        raise ValueError(f"{path}: expected rows of numbers separated by commas: {e}") from None
    if values.size == 0:
        raise ValueError(f"{path}: holds no rows of numbers")
    if info["task"] == "forecast" and values.shape[1] != 1:
        raise ValueError(f"{path}: {values.shape[1]} columns and no header: give the series as "
                         "one column, or a header and --column NAME")
    return values.astype(np.float32)


def _not_number(value: str) -> bool:
    try:
        float(value)
        return False
    except ValueError:
        return True


def _read_image(path: Path, info: dict) -> np.ndarray:
    """A picture as one example for an image model: grey, resized to the model's side, in
    [0, 1], light strokes on dark (as MNIST's are: a dark-on-light picture is inverted)."""
    shape = tuple(info["input_shape"])
    side = int(round(math.sqrt(math.prod(shape))))
    if info["task"] != "classification" or side * side != math.prod(shape) or side < 4:
        raise ValueError(f"{path}: pictures are inputs of image models (MNIST, digits); this "
                         f"run's model takes inputs of shape {shape}")
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading pictures needs Pillow, which comes with the viz extra: pip "
                          'install pillow (or, in a checkout of nerve, pip install ".[viz]")'
                          ) from None
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and
                                                     "transparency" in image.info):
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, image.convert("RGBA"))  # see-through: paper
            grey = image.convert("L").resize((side, side), Image.Resampling.LANCZOS)
    except (OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a picture nerve can read ({e})") from None
    pixels = np.asarray(grey, dtype=np.float32) / 255.0
    if pixels.max() - pixels.min() < 0.1:
        raise ValueError(f"{path}: the picture is blank (one shade of grey): there is nothing "
                         "to classify")
    if pixels.mean() > 0.5:
        pixels = 1.0 - pixels
    return pixels.reshape(1, *shape)


def _examples(values: np.ndarray, shape: tuple, path) -> np.ndarray:
    if values.size == 0:
        raise ValueError(f"{path}: holds no examples")
    if values.shape == shape:
        return values.reshape(1, *shape)
    if values.shape[1:] == shape:
        return values
    if values.ndim == 2 and values.shape[1] == math.prod(shape):
        return values.reshape(len(values), *shape)
    raise ValueError(f"{path}: expected examples of shape {shape} (one, or N of them: "
                     f"(N, {', '.join(map(str, shape))})), received an array of shape "
                     f"{values.shape}")


def predict(folder, input_path, *, steps: int = 1, column: str | None = None, out=None,
            quiet: bool = False) -> np.ndarray:
    """A run's predictions for the examples in a file (a forecast of ``steps`` values after a
    series); printed, and written as CSV to ``out`` when given. Returns them."""
    say = Printer(quiet)
    spec, folder, model, info = open_run(folder)
    if out is not None and (Path(out).is_dir() or not Path(out).parent.is_dir()):
        raise SpecError(f"--out {out}: expected a file in a folder that exists")
    if steps != 1 and info["task"] != "forecast":
        raise SpecError(f"--steps {steps}: forecasts several values of a forecast run; this "
                        "run classifies")
    values = read_inputs(input_path, info, column)
    rows: list[list] = []
    if info["task"] == "forecast":
        from nerve.data import StandardScaler

        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(f"{input_path}: expected one series, (T,) or (T, 1); received an "
                             f"array of shape {values.shape}")
        series = values
        window = info["window"]
        if len(series) < window:
            raise ValueError(f"{input_path}: the model reads windows of {window} values; the "
                             f"series holds {len(series)}")
        scaler = StandardScaler()
        scaler.mean_ = np.asarray(info["scaler"]["mean"], np.float64).reshape(())
        scaler.scale_ = np.asarray(info["scaler"]["scale"], np.float64).reshape(())
        result = np.asarray(nerve.forecast(model, series, steps, scaler, window=window))
        header = ["step", "forecast"]
        rows = [[i + 1, float(v)] for i, v in enumerate(result.reshape(-1))]
        say(f"forecast of the {steps} value{'s' * (steps != 1)} after the {len(series)} in "
            f"{input_path}:")
        for i, v in rows:
            say(f"  +{i}: {v:.6g}", result=True)  # the result: printed when quiet too
    else:
        x = _examples(values, tuple(info["input_shape"]), input_path)
        if not np.isfinite(x).all():
            raise ValueError(f"{input_path}: holds NaN or infinite values")
        low, high = info.get("input_range", (-np.inf, np.inf))
        if x.size and (x.min() < low or x.max() > high):
            top = info.get("raw_pixel_max", 255)
            hint = f" (pixels of 0-{top}: divide them by {top})" if x.max() > 1.5 else ""
            raise ValueError(f"{input_path}: the model was trained on inputs in [{low:g}, "
                             f"{high:g}]; these range from {x.min():g} to {x.max():g}{hint}")
        result = probabilities(model, x, spec)
        names = info.get("classes") or [str(i) for i in range(result.shape[1])]
        decided = result.argmax(axis=1)
        header = ["example", "class", "probability", *[f"p({n})" for n in names]]
        for i, (c, p) in enumerate(zip(decided, result)):
            rows.append([i, names[c], float(p[c]), *map(float, p)])
            top = np.argsort(-p)[:3]
            others = ", ".join(f"{names[j]} {p[j]:.3f}" for j in top[1:])
            say(f"  {i}: {names[c]} (probability {p[c]:.3f}; then {others})" if others else
                f"  {i}: {names[c]} (probability {p[c]:.3f})", result=True)
    if out is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        _write_text(Path(out), buffer.getvalue())
        say(f"predictions written to {out}")
    return result


def summary(name, quiet: bool = False) -> dict:
    """The layers, output shapes and parameter counts of a spec's (or a run's) model."""
    target = Path(name) if not (isinstance(name, str) and name in presets.PRESETS) else None
    if target is not None and target.is_dir() and (target / "model.safetensors").is_file():
        spec, _, model, _ = open_run(target)
    else:
        spec, path = load_spec(name)
        model = build_model(spec, path)
    try:
        return nn.summary(model, input_shape(spec), print_fn=Printer(quiet))
    except (ValueError, TypeError, IndexError) as e:
        raise SpecError(f"{name}: model.layers: the layers do not fit the data's input of "
                        f"shape {input_shape(spec)} per example: {e}") from None
