"""Pictures of a network and its training, drawn with matplotlib (an optional extra:
``pip install matplotlib``, or ``pip install ".[viz]"`` in a checkout of nerve).

- ``plot_filters(conv_layer)``: the learned kernels of a convolutional layer, on one colour
  scale centred at zero;
- ``plot_feature_maps(model, image, layer)``: what each filter of ``layer`` makes of one image,
  and what the activation and the pooling that follow it make of that;
- ``plot_history(history)``: loss and metrics per epoch, training and validation;
- ``plot_confusion_matrix(y_true, y_pred)``: which classes are taken for which;
- ``plot_forecast(series, forecast, start)``: a series, a forecast of it, the training part;
- ``plot_decision_boundary(model, x, y)``: the class a model decides at every point of a
  plane, with the examples on it.

Each returns the matplotlib Figure (pyplot's: ``plt.show()`` shows it, ``plt.close(fig)``
frees it) and, given ``path``, also writes it atomically, as PNG unless the path ends in
another format matplotlib writes (``.svg``, ``.pdf``). matplotlib is imported when a function
is called, never by ``import nerve`` or ``import nerve.viz``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping

import numpy as np

from nerve import backend
from nerve.autograd import Tensor, no_grad
from nerve.checks import ShortRepr, as_array, is_int, message
from nerve.files import atomic_write
from nerve.nn import activation as _activation_module
from nerve.nn.container import Sequential
from nerve.nn.module import Module, kept_modes

__all__ = ["plot_filters", "plot_feature_maps", "plot_history", "plot_confusion_matrix",
           "plot_forecast", "plot_decision_boundary"]

_MISSING = ('nerve.viz needs matplotlib, which is not installed: pip install "matplotlib>=3.6" '
            '(or, in a checkout of nerve, pip install ".[viz]")')
DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = "viridis"
COUNTS = "Blues"
DPI = 150  # of the files written
COLORBAR = "<colorbar>"  # matplotlib's label of a colour bar's axes (panels have none)


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(_MISSING) from err
    return plt


# --- shared helpers --------------------------------------------------------------------------
def _check_path(path, who: str) -> str | None:
    """``path`` as a str (None stays None); raise for anything that is not a path, a folder
    that does not exist or a format matplotlib does not write, before anything is drawn."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(message(who, "a file path (str or os.PathLike) or None", "path",
                                ShortRepr(path)))
    path = os.fsdecode(os.fspath(path))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} of path={path!r} does not exist")
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    if _format(path) not in supported:
        raise ValueError(message(who, "a path ending in .png (or another format matplotlib "
                                 f"writes: {', '.join(sorted(supported))})", "path", path))
    return path


def _format(path: str) -> str:
    return os.path.splitext(path)[1].lower().lstrip(".") or "png"


def _save(fig, path: str | None) -> None:
    """Write ``fig`` to ``path`` (checked by ``_check_path``) atomically."""
    if path is not None:
        with atomic_write(path) as f:
            fig.savefig(f, format=_format(path), dpi=DPI)


@contextlib.contextmanager
def _figure_or_nothing(plt, fig):
    """Close ``fig`` if drawing or saving it fails, so that a failed call leaves no figure
    open in pyplot."""
    try:
        yield fig
    except BaseException:
        plt.close(fig)
        raise


def _host(x, name: str, who: str) -> np.ndarray:
    """``x`` (a Tensor, an array, nested lists) as a NumPy array on the host."""
    try:
        arr = as_array(x)
    except (TypeError, ValueError) as err:
        raise TypeError(message(who, "a Tensor or an array", name, ShortRepr(x))) from err
    if not isinstance(arr, np.ndarray):
        arr = arr.get() if hasattr(arr, "get") else np.asarray(arr)  # CuPy: copy to the host
    return arr


def _numbers(arr: np.ndarray, name: str, who: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise TypeError(message(who, "numbers (bool, int or float)", f"{name}.dtype", arr.dtype))
    return arr.astype(np.float64, copy=False)


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def _bare(ax) -> None:
    """An image panel: no ticks (pixel numbers say nothing), a thin frame."""
    ax.set_xticks([])
    ax.set_yticks([])


def _value_scale(values: np.ndarray) -> dict:
    """imshow's colour arguments for ``values``: centred at zero on a diverging map when they
    hold both signs, else a sequential map over their range."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0 < hi:
        m = max(-lo, hi)
        return {"cmap": DIVERGING, "vmin": -m, "vmax": m}
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return {"cmap": SEQUENTIAL, "vmin": lo, "vmax": hi}


# --- filters ---------------------------------------------------------------------------------
def _filter_weight(conv_layer, who: str) -> tuple[np.ndarray, str]:
    """The layer's kernels as a float array (out, in, kh, kw) and what to call them."""
    if isinstance(conv_layer, Tensor) or backend.is_array(conv_layer) or isinstance(
            conv_layer, (list, tuple, np.ndarray)):
        weight, what = conv_layer, "weight"
    elif hasattr(conv_layer, "weight"):
        weight, what = conv_layer.weight, type(conv_layer).__name__
        if weight is None:
            raise ValueError(message(who, "a layer with a weight", "conv_layer.weight", None))
    else:
        raise TypeError(message(who, "a convolutional layer (a module with a 4-D weight) or its "
                                "weight (a Tensor or an array)", "conv_layer",
                                ShortRepr(conv_layer)))
    w = _numbers(_host(weight, "weight", who), "weight", who)
    if w.ndim != 4 or w.size == 0:
        raise ValueError(message(who, "a non-empty 4-D weight of shape (out_channels, "
                                 "in_channels, kernel_height, kernel_width)", "weight.shape",
                                 tuple(w.shape)))
    return w, what


def plot_filters(conv_layer, path=None, *, max_filters: int | None = None,
                 max_in_channels: int = 8):
    """Draw the kernels of a convolutional layer as a grid of small images.

    ``conv_layer`` is a module with a 4-D ``weight`` of shape (out_channels, in_channels,
    kernel_height, kernel_width) (``nn.Conv2d``), or that weight itself (a Tensor or an array).
    With one input channel each panel is one filter; with several, each row is a filter and
    each column one of its input channels. All panels share one colour scale centred at zero
    (blue negative, white zero, red positive), shown by the colour bar. At most ``max_filters``
    filters are drawn (default 64 with one input channel, 16 with several) and at most
    ``max_in_channels`` input channels; the title says when some are left out.
    Returns the Figure; writes it to ``path`` if given.
    """
    who = "plot_filters"
    w, what = _filter_weight(conv_layer, who)
    out_ch, in_ch, kh, kw = w.shape
    if max_filters is None:
        max_filters = 64 if in_ch == 1 else 16
    for name, value in (("max_filters", max_filters), ("max_in_channels", max_in_channels)):
        if not is_int(value) or value < 1:
            raise (ValueError if is_int(value) else TypeError)(
                message(who, "a positive integer", name, value))
    path = _check_path(path, who)
    n_out, n_in = min(out_ch, max_filters), min(in_ch, max_in_channels)
    shown = w[:n_out, :n_in]
    finite = np.abs(shown[np.isfinite(shown)])
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    title = f"{what}: {out_ch} filter{'s' * (out_ch != 1)} of {kh}x{kw}"
    if n_out < out_ch:
        title += f" (first {n_out} shown)"
    if in_ch == 1:
        rows, cols = _grid(n_out, 8)
        cells = [(i, 0) for i in range(n_out)]
    else:
        rows, cols = n_out, n_in
        cells = [(i, j) for i in range(n_out) for j in range(n_in)]
        title += (f" over {in_ch} input channels\none row per filter, one column per input "
                  "channel" + (f" (first {n_in} of {in_ch} shown)" if n_in < in_ch else ""))

    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained",
                             figsize=(1.0 * cols + 1.4, 1.05 * rows + 0.9))
    with _figure_or_nothing(plt, fig):
        flat = axes.ravel()
        for ax, (i, j) in zip(flat, cells):
            image = ax.imshow(shown[i, j], cmap=DIVERGING, vmin=-vmax, vmax=vmax,
                              interpolation="nearest")
            ax.set_title(f"filter {i}" if in_ch == 1 else f"filter {i}, in {j}", fontsize=8)
            _bare(ax)
        for ax in flat[len(cells):]:
            ax.remove()  # the grid's empty places: the figure holds one panel per kernel
        fig.colorbar(image, ax=list(flat[:len(cells)]), label="weight (0 = white)",
                     shrink=min(1.0, 0.3 + 0.15 * rows))
        fig.suptitle(title)
        _save(fig, path)
    return fig


# --- feature maps ----------------------------------------------------------------------------
def _activation_classes() -> tuple[type, ...]:
    """The activation modules of ``nerve.nn.activation`` (a subclass counts too)."""
    return tuple(v for v in vars(_activation_module).values()
                 if isinstance(v, type) and issubclass(v, Module)
                 and v.__module__ == _activation_module.__name__)


def _is_pooling(m: Module) -> bool:
    return "Pool" in type(m).__name__  # MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ...


def _passes_through(m: Module) -> bool:
    """A module that may sit between a convolution and its activation or pooling without
    ending the block (conv -> BatchNorm2d -> ReLU -> Dropout -> MaxPool2d)."""
    name = type(m).__name__
    return "Norm" in name or "Dropout" in name or name == "Identity"


def _find_layer(model: Module, layer, who: str) -> Module:
    if isinstance(layer, Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(message(who, "a module of model (one of model.modules())", "layer",
                                     ShortRepr(layer)))
        return layer
    if is_int(layer):
        if not isinstance(model, Sequential):
            raise TypeError(message(who, "a module or a name from model.named_modules() (an "
                                    "index needs a Sequential model)", "layer", layer))
        n = len(model)
        if not -n <= layer < n:
            raise ValueError(message(who, f"an index into the Sequential in [{-n}, {n - 1}]",
                                     "layer", layer))
        return model[int(layer)]
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            names = [k for k in modules if k]
            raise ValueError(message(who, f"a name from model.named_modules() "
                                     f"({ShortRepr(names)!r})", "layer", layer))
        return modules[layer]
    raise TypeError(message(who, "a module of model, an index into a Sequential, or a name "
                            "from model.named_modules()", "layer", ShortRepr(layer)))


def _image_batch(image, model: Module, who: str) -> Tensor:
    """``image`` (C, H, W) or (1, C, H, W) as a (1, C, H, W) Tensor of the model's floating
    dtype (an 8-bit picture holds integers; NumPy's images are float64, which a float32 model's
    convolution refuses)."""
    if not isinstance(image, Tensor) and not backend.is_array(image) and not isinstance(
            image, (np.ndarray, list, tuple)):
        raise TypeError(message(who, "an image as a Tensor or an array of shape (C, H, W) or "
                                "(1, C, H, W)", "image", ShortRepr(image)))
    data = as_array(image)
    if data.dtype.kind not in "biuf":
        raise TypeError(message(who, "an image of numbers", "image.dtype", data.dtype))
    if not (data.ndim == 3 or (data.ndim == 4 and data.shape[0] == 1)) or data.size == 0:
        hint = " (a grey image (H, W) is image[None], shape (1, H, W))" if data.ndim == 2 else ""
        raise ValueError(message(who, "one image of shape (C, H, W) or (1, C, H, W)" + hint,
                                 "image.shape", tuple(data.shape)))
    if data.ndim == 3:
        data = data[None]
    dtype = next((p._data.dtype for p in model.parameters() if p._data.dtype.kind == "f"),
                 data.dtype if data.dtype.kind == "f" else backend.get_default_dtype())
    if data.dtype != dtype:
        data = data.astype(dtype)
    return Tensor._wrap(data)


def _maps(output) -> np.ndarray | None:
    """A recorded output as host maps (C, H, W), or None if it is not one image's maps."""
    if not (isinstance(output, Tensor) or backend.is_array(output)):
        return None
    arr = _host(output, "output", "")
    if arr.ndim != 4 or arr.shape[0] != 1 or arr.dtype.kind not in "biuf":
        return None
    return arr[0].astype(np.float64, copy=False)


def _run_and_record(model: Module, x: Tensor, layer: Module) -> list[tuple[Module, object]]:
    """Run ``model(x)`` in eval mode without graph; return (module, output) for each call of a
    leaf module and of ``layer``, in the order they finished. Every module's mode is restored
    and every hook removed afterwards, also when the forward raises."""
    records = []

    def record(module, args, output):
        records.append((module, output))

    watched = [m for m in model.modules() if m is layer or not any(True for _ in m.children())]
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for m in watched:
            handles.append(m.register_forward_hook(record))
        with no_grad():
            model.eval()
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return records


def plot_feature_maps(model: Module, image, layer, path=None, *, max_channels: int = 16):
    """Draw what each filter of ``layer`` makes of one image.

    Runs ``model`` on ``image`` (a Tensor or an array, (C, H, W) or (1, C, H, W)) in eval
    mode without building a graph, watching the modules with forward hooks, and draws three
    rows of maps, one column per channel: ``layer``'s output ("conv output"), the output of
    the activation that follows it ("after activation") and of the pooling that follows it
    ("after pooling"), each row when the model has one. "Follows" means: among the modules
    that run after ``layer``, before any module other than normalization, dropout or Identity
    (an activation is a module of ``nerve.nn.activation``, a pooling one whose class name holds
    "Pool"). ``layer`` is the module itself, an index into a Sequential ``model``, or a name
    from ``model.named_modules()`` ("features.0"). At most ``max_channels`` channels are drawn
    (the title says so). Each row has its own colour scale and colour bar (centred at zero
    when the maps hold both signs). Every module's train/eval mode is restored and the hooks
    removed afterwards, also when the forward raises. Returns the Figure; writes it to
    ``path`` if given.
    """
    who = "plot_feature_maps"
    if not isinstance(model, Module):
        raise TypeError(message(who, "a Module", "model", ShortRepr(model)))
    if not is_int(max_channels) or max_channels < 1:
        raise (ValueError if is_int(max_channels) else TypeError)(
            message(who, "a positive integer", "max_channels", max_channels))
    target = _find_layer(model, layer, who)
    x = _image_batch(image, model, who)
    path = _check_path(path, who)
    names = {id(m): name for name, m in model.named_modules()}
    records = _run_and_record(model, x, target)

    start = next((i for i, (m, _) in enumerate(records) if m is target), None)
    if start is None:
        raise ValueError(f"{who}: layer {names[id(target)] or 'model'!r} "
                         f"({type(target).__name__}) did not run in model's forward")
    first = _maps(records[start][1])
    if first is None:
        out = records[start][1]
        shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(message(who, "a layer whose output has shape (1, channels, height, "
                                 "width)", "layer output shape", shape))
    kind = "conv output" if "Conv" in type(target).__name__ else "layer output"
    rows = [(kind, target, first, [])]
    activations, seen, between = _activation_classes(), set(), []
    for m, out in records[start + 1:]:
        if isinstance(m, activations) and "activation" not in seen:
            step = "activation"
        elif _is_pooling(m) and "pooling" not in seen:
            step = "pooling"
        elif _passes_through(m):
            between.append(type(m).__name__)  # shown in the next row's label
            continue
        else:
            break
        maps = _maps(out)
        if maps is None:
            break
        seen.add(step)
        rows.append((f"after {step}", m, maps, between))
        between = []
        if len(seen) == 2:
            break

    channels = first.shape[0]
    if first.size == 0:
        raise ValueError(message(who, "a layer whose output holds at least one map",
                                 "layer output shape", (1, *first.shape)))
    cols = min(channels, max_channels)
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), cols, squeeze=False, layout="constrained",
                             figsize=(1.45 * cols + 2.2, 1.55 * len(rows) + 0.9))
    with _figure_or_nothing(plt, fig):
        for r, (kind, m, maps, through) in enumerate(rows):
            shown = maps[:cols]
            scale = _value_scale(shown)
            for c in range(cols):
                ax = axes[r, c]
                if c < shown.shape[0]:
                    image_ = ax.imshow(shown[c], interpolation="nearest", **scale)
                _bare(ax)
                if r == 0:
                    ax.set_title(f"channel {c}", fontsize=9)
            label = names.get(id(m)) or "model"
            via = f"\n(after {', '.join(through)})" if through else ""
            axes[r, 0].set_ylabel(f"{kind}\n{label}: {type(m).__name__}{via}\n"
                                  f"{maps.shape[1]}x{maps.shape[2]}", fontsize=9)
            fig.colorbar(image_, ax=list(axes[r]), label="value", shrink=0.9, pad=0.01)
        layer_name = names.get(id(target)) or "model"
        more = (f"first {cols} of {channels} channels" if cols < channels
                else f"{channels} channels")
        fig.suptitle(f"feature maps of layer {layer_name} ({type(target).__name__}) for one "
                     f"image of shape {tuple(x.shape[1:])}; {more}")
        _save(fig, path)
    return fig


# --- training history ------------------------------------------------------------------------
def _history_logs(history, who: str) -> tuple[dict[str, np.ndarray], list | None]:
    """The per-epoch figures by name as float arrays, and the epoch numbers if known."""
    epochs = getattr(history, "epoch", None)
    if not isinstance(history, Mapping) and isinstance(getattr(history, "history", None),
                                                       Mapping):
        history = history.history  # Keras' History object
    if not isinstance(history, Mapping):
        raise TypeError(message(who, "a History (what fit returns) or a dict of per-epoch "
                                "lists", "history", ShortRepr(history)))
    if set(history) == {"epoch", "logs"} and isinstance(history["logs"], Mapping):
        epochs, history = history["epoch"], history["logs"]  # History.to_dict()
    logs = {}
    for key, values in history.items():
        if not isinstance(key, str):
            raise TypeError(message(who, "names (str) as keys", "history key", ShortRepr(key)))
        try:
            arr = np.asarray(as_array(values) if isinstance(values, Tensor) else values)
        except (TypeError, ValueError) as err:
            raise TypeError(message(who, "a list of numbers per name", f"history[{key!r}]",
                                    ShortRepr(values))) from err
        if arr.dtype.kind not in "biuf" or arr.ndim != 1:
            error = TypeError if arr.dtype.kind not in "biuf" else ValueError
            raise error(message(who, "a list of numbers (one per epoch) per name",
                                f"history[{key!r}]", ShortRepr(values)))
        if arr.size:
            logs[key] = arr.astype(np.float64)
    if not logs:
        raise ValueError(message(who, "a history with at least one epoch of figures", "history",
                                 ShortRepr(dict(history))))
    if epochs is not None:
        try:
            epochs = [int(e) for e in epochs]
        except (TypeError, ValueError):
            epochs = None
    return logs, epochs


def plot_history(history, path=None, *, xlabel: str = "epoch"):
    """Draw loss and each metric per epoch, training and validation, one panel per quantity.

    ``history`` is what ``fit`` returns (a History), or a plain dict of per-epoch lists
    (``history.history``, Keras' spelling: ``{"loss": [...], "val_loss": [...], ...}``).
    ``val_x`` is drawn in the panel of ``x``; the learning rate (``lr``) and gradient
    descent's ``step_size`` on a log scale.
    Epochs are numbered from 1, as fit's progress lines count them; ``xlabel`` names them
    (``"step"`` for a history of gradient-descent steps). Returns the Figure; writes it to
    ``path`` if given.
    """
    who = "plot_history"
    logs, epochs = _history_logs(history, who)
    path = _check_path(path, who)
    quantities: dict[str, dict[str, np.ndarray]] = {}
    for key in sorted(logs, key=lambda k: k.removeprefix("val_") != "loss"):  # loss first
        base = key.removeprefix("val_") or key
        quantities.setdefault(base, {})["validation" if key != base else "train"] = logs[key]

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(quantities)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained",
                             figsize=(4.3 * cols, 3.3 * rows + 0.4))
    with _figure_or_nothing(plt, fig):
        flat = axes.ravel()
        longest = 0
        for ax, (name, series) in zip(flat, quantities.items()):
            for which in ("train", "validation"):
                if which not in series:
                    continue
                y = series[which]
                longest = max(longest, len(y))
                x = (np.asarray(epochs[:len(y)]) + 1 if epochs and len(epochs) == len(y)
                     else np.arange(1, len(y) + 1))
                label = "schedule" if name == "lr" else which
                ax.plot(x, y, marker="o" if len(y) <= 30 else None, markersize=3.5,
                        label=label, color="C0" if which == "train" else "C1")
            title = "learning rate" if name == "lr" else name
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(title)
            if name in ("lr", "step_size") and all((s > 0).all() for s in series.values()):
                ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
        for ax in flat[n:]:
            ax.remove()
        title = f"training history ({longest} {xlabel}{'s' * (longest != 1)})"
        stop = getattr(history, "stop_reason", None)
        if isinstance(stop, str) and stop:
            title += f": {stop}"
        fig.suptitle(title)
        _save(fig, path)
    return fig


# --- confusion matrix ------------------------------------------------------------------------
def _class_labels(y, name: str, who: str) -> np.ndarray:
    """``y`` as a 1-D array of class labels (integers or strings); scores or one-hot rows
    (N, classes) become the index of their largest value."""
    arr = _host(y, name, who)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2 and arr.dtype.kind in "biuf":
        arr = arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(message(who, "class labels of shape (N,), or scores of shape (N, "
                                 "classes)", f"{name}.shape", tuple(arr.shape)))
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(message(who, "class labels (whole numbers) or scores of shape "
                                     "(N, classes)", name, ShortRepr(arr.tolist())))
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "biu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "US":
        raise TypeError(message(who, "class labels (integers or strings)", f"{name}.dtype",
                                arr.dtype))
    return arr


def _normalize_mode(normalize, who: str) -> str | None:
    if normalize is False or normalize is None:
        return None
    if normalize is True:
        return "true"
    if isinstance(normalize, str) and normalize in ("true", "pred", "all"):
        return normalize
    raise ValueError(message(who, "False, True (= 'true': each true class sums to 1), 'pred' "
                             "or 'all'", "normalize", ShortRepr(normalize)))


def _classes(y_true: np.ndarray, y_pred: np.ndarray, labels, who: str):
    """The classes in the order drawn and their names."""
    if labels is None:
        classes = np.union1d(y_true, y_pred)
        return classes, [str(c) for c in classes.tolist()]
    if isinstance(labels, (str, bytes, Mapping)) or not hasattr(labels, "__len__"):
        raise TypeError(message(who, "a sequence of class names", "labels", ShortRepr(labels)))
    names = [str(v) for v in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    if not names:
        raise ValueError(message(who, "at least one class name", "labels", ShortRepr(labels)))
    if y_true.dtype.kind in "US":
        return np.asarray(names), names  # the classes themselves, in the order to draw them
    return np.arange(len(names)), names  # names of the classes 0, 1, ..., len(labels) - 1


def _indices(y: np.ndarray, classes: np.ndarray, name: str, labels, who: str) -> np.ndarray:
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    pos = np.searchsorted(ordered, y).clip(0, len(ordered) - 1)
    bad = ordered[pos] != y
    if bad.any():
        first = y[bad][0].item()
        expected = (f"labels among the {len(classes)} classes of labels"
                    if y.dtype.kind in "US" else
                    f"class indices in [0, {len(classes)}) for the {len(classes)} labels")
        raise ValueError(message(who, expected + f" ({ShortRepr(labels)!r})", f"a value of "
                                 f"{name}", first))
    return order[pos]


def plot_confusion_matrix(y_true, y_pred, labels=None, normalize=False, path=None):
    """Draw the confusion matrix: row = true class, column = predicted class, the count in
    each cell.

    ``y_true`` and ``y_pred`` are class labels (integers or strings; a Tensor, an array or a
    list) of the same length; scores or one-hot rows of shape (N, classes) are read as their
    argmax (``predict``'s logits can go in as they are). ``labels`` names the classes 0, 1, ...
    for integer labels (the matrix then has one row per name, even for a class never seen), or
    lists the classes in the order to draw them for string labels; by default the classes that
    occur, sorted. ``normalize``: False draws counts; True or "true" divides each row by its
    true class's count (recall on the diagonal), "pred" each column, "all" the whole matrix.
    Returns the Figure; writes it to ``path`` if given.
    """
    who = "plot_confusion_matrix"
    t = _class_labels(y_true, "y_true", who)
    p = _class_labels(y_pred, "y_pred", who)
    if len(t) != len(p):
        raise ValueError(message(who, f"y_pred as long as y_true ({len(t)} labels)",
                                 "len(y_pred)", len(p)))
    if len(t) == 0:
        raise ValueError(message(who, "at least one label", "len(y_true)", 0))
    if (t.dtype.kind in "US") != (p.dtype.kind in "US"):
        raise TypeError(message(who, "y_true and y_pred of one kind (both integers or both "
                                "strings)", "dtypes", (str(t.dtype), str(p.dtype))))
    mode = _normalize_mode(normalize, who)
    path = _check_path(path, who)
    classes, names = _classes(t, p, labels, who)
    k = len(classes)
    it = _indices(t, classes, "y_true", labels, who)
    ip = _indices(p, classes, "y_pred", labels, who)
    counts = np.bincount(it * k + ip, minlength=k * k).reshape(k, k)
    values = counts.astype(np.float64)
    if mode is not None:
        total = {"true": counts.sum(axis=1, keepdims=True),
                 "pred": counts.sum(axis=0, keepdims=True), "all": counts.sum()}[mode]
        values = np.divide(values, total, out=np.zeros_like(values), where=total != 0)
    accuracy = np.trace(counts) / counts.sum()

    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    side = min(12.0, max(4.5, 0.5 * k + 2.5))
    fig, ax = plt.subplots(layout="constrained", figsize=(side + 1.0, side))
    with _figure_or_nothing(plt, fig):
        vmax = 1.0 if mode is not None else max(1.0, float(values.max()))
        image = ax.imshow(values, cmap=COUNTS, vmin=0, vmax=vmax, interpolation="nearest")
        tick_size = 10 if k <= 20 else 7 if k <= 40 else 5
        step = math.ceil(k / 60)  # beyond 60 classes, every step-th name (they would overlap)
        ticks, shown = np.arange(0, k, step), names[::step]
        slanted = k > 15 or max(map(len, shown)) > 6
        ax.set_xticks(ticks, shown, fontsize=tick_size, rotation=45 if slanted else 0,
                      ha="right" if slanted else "center", rotation_mode="anchor")
        ax.set_yticks(ticks, shown, fontsize=tick_size)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if k <= 30:  # beyond, the numbers would not fit in the cells
            size = 10 if k <= 10 else 7
            for i in range(k):
                for j in range(k):
                    text = (f"{counts[i, j]}" if mode is None else
                            f"{values[i, j]:.2f}" + (f"\n({counts[i, j]})" if k <= 10 else ""))
                    dark = values[i, j] > 0.55 * vmax
                    ax.text(j, i, text, ha="center", va="center", fontsize=size,
                            color="white" if dark else "black")
        what = {None: "count", "true": "fraction of the true class (row)",
                "pred": "fraction of the predicted class (column)",
                "all": "fraction of all samples"}[mode]
        bar = fig.colorbar(image, ax=ax, label=what, shrink=0.85)
        if mode is None:
            bar.locator = MaxNLocator(integer=True)  # counts: no ticks at 1.25
            bar.update_ticks()
        title = f"confusion matrix: {len(t)} samples, accuracy {accuracy:.1%}"
        if k > 30:
            title += f"\n({k} classes: counts not written in the cells)"
        ax.set_title(title)
        _save(fig, path)
    return fig


# --- forecast --------------------------------------------------------------------------------
def _curve(values, name: str, who: str) -> np.ndarray:
    """One curve: a 1-D series of numbers ((T, 1) is read as (T,))."""
    arr = _numbers(_host(values, name, who), name, who)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(message(who, "a non-empty series of one feature, shape (T,) or (T, 1)",
                                 f"{name}.shape", arr.shape))
    return arr


def _position(value, name: str, low: int, high: int, who: str) -> int:
    if not is_int(value):
        raise TypeError(message(who, "a position in the series (an int)", name,
                                ShortRepr(value)))
    if not low <= value <= high:
        raise ValueError(message(who, f"a position in [{low}, {high}]", name, value))
    return int(value)


def plot_forecast(series, forecast, start, path=None, train_end=None, *, index=None,
                  xlabel: str = "time step", ylabel: str = "value", title: str | None = None):
    """Draw a series, a forecast of it, and the part the model was trained on.

    ``series`` holds the actual values (T,); ``forecast`` the forecast values (H,), or a dict
    of them by label (a model's and a baseline's) drawn in turn; ``start`` is the position in
    ``series`` of the first forecast value (``len(series)`` for a forecast of the future; a
    forecast may run past the series' end). ``train_end``, when given, is the position of the
    last training step: the training part is shaded up to it. ``index`` gives the time of each
    step (years, say) for the horizontal axis: positions stay positions in the series, and a
    forecast past its end goes on at its last spacing. Returns the Figure; writes it to
    ``path`` if given.
    """
    who = "plot_forecast"
    actual = _curve(series, "series", who)
    n = len(actual)
    if isinstance(forecast, Mapping):
        if not forecast:
            raise ValueError(message(who, "at least one forecast", "forecast", dict(forecast)))
        curves = {str(k): _curve(v, f"forecast[{k!r}]", who) for k, v in forecast.items()}
    else:
        curves = {"forecast": _curve(forecast, "forecast", who)}
    start = _position(start, "start", 0, n, who)
    if train_end is not None:
        train_end = _position(train_end, "train_end", 0, n - 1, who)
    for label, values in curves.items():
        if not np.isfinite(values).all():
            raise ValueError(f"{who}: the forecast {label!r} holds NaN or infinite values")
    if index is None:
        times = np.arange(n, dtype=np.float64)
    else:
        times = _host(index, "index", who)
        if times.dtype.kind not in "biufM" or times.shape != (n,):
            raise ValueError(message(who, f"an index of numbers or datetime64, shape ({n},)",
                                     "index.shape", (times.shape, str(times.dtype))))
    longest = max(len(v) for v in curves.values())
    step = times[-1] - times[-2] if n > 1 else (times[0] - times[0]) + 1
    ahead = np.arange(1, max(0, start + longest - n) + 1)
    x_all = np.concatenate([times, times[-1] + ahead * step]) if len(ahead) else times
    path = _check_path(path, who)

    plt = _pyplot()
    fig, ax = plt.subplots(layout="constrained", figsize=(9.0, 4.0))
    with _figure_or_nothing(plt, fig):
        if train_end is not None:
            ax.axvspan(x_all[0], x_all[train_end], color="0.85", alpha=0.6,
                       label="training part", zorder=0)
            ax.axvline(x_all[train_end], color="0.4", linestyle=":", linewidth=1)
        ax.plot(times, actual, color="black", linewidth=1.2, label="actual")
        for i, (label, values) in enumerate(curves.items()):
            ax.plot(x_all[start:start + len(values)], values, color=f"C{i}",
                    linewidth=1.6 if i == 0 else 1.1, linestyle="-" if i == 0 else "--",
                    label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        horizon = f"{longest} step{'s' * (longest != 1)}"
        ax.set_title(title if title is not None else f"forecast of {horizon}")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        _save(fig, path)
    return fig


# --- decision boundary -----------------------------------------------------------------------
def _decide(model: Module, points: np.ndarray) -> np.ndarray:
    """The class ``model`` decides for each point: the largest output, or output > 0.5 for a
    single output (a probability; give ``predict`` for a single logit)."""
    with kept_modes(model), no_grad():
        model.eval()
        dtype = next((p.dtype for p in model.parameters()), backend.get_default_dtype())
        out = model(Tensor._wrap(backend.array_module().asarray(points, dtype=dtype)))
    scores = _host(out, "model(x)", "plot_decision_boundary")
    scores = scores.reshape(len(points), -1)
    return (scores[:, 0] > 0.5).astype(np.int64) if scores.shape[1] == 1 else scores.argmax(1)


def plot_decision_boundary(model: Module, x, y, path=None, *, predict=None, labels=None,
                           resolution: int = 200, title: str | None = None):
    """Draw the class a model decides at every point of the plane around 2-D examples.

    ``x`` (N, 2) and their classes ``y`` (N,) are drawn as points over the regions of the
    plane that ``model`` assigns to each class (on a ``resolution`` x ``resolution`` grid
    reaching 10% beyond the examples). The model decides by its largest output, or by
    output > 0.5 when it has one output; ``predict``, a function from an (M, 2) array to M
    classes, replaces that rule (for a single logit, say). ``labels`` names the classes.
    Returns the Figure; writes it to ``path`` if given.
    """
    who = "plot_decision_boundary"
    if not isinstance(model, Module) and predict is None:
        raise TypeError(message(who, "a Module as model (or a predict function)", "model",
                                ShortRepr(model)))
    points = _numbers(_host(x, "x", who), "x", who)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(message(who, "examples of shape (N, 2), N > 0", "x.shape",
                                 points.shape))
    classes = _host(y, "y", who).reshape(-1)
    if len(classes) != len(points) or classes.dtype.kind not in "biu":
        raise ValueError(message(who, f"{len(points)} integer classes", "y",
                                 (classes.shape, str(classes.dtype))))
    if not is_int(resolution) or not 2 <= resolution <= 2000:
        raise ValueError(message(who, "an integer resolution in [2, 2000]", "resolution",
                                 resolution))
    path = _check_path(path, who)
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    decided = np.asarray(predict(grid) if predict is not None else _decide(model, grid))
    decided = decided.reshape(resolution, resolution)
    k = int(max(decided.max(), classes.max())) + 1
    names = list(labels) if labels is not None else [str(i) for i in range(k)]

    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    colours = [plt.get_cmap("tab10")(i % 10) for i in range(k)]
    fig, ax = plt.subplots(layout="constrained", figsize=(5.5, 5.0))
    with _figure_or_nothing(plt, fig):
        ax.contourf(gx, gy, decided, levels=np.arange(k + 1) - 0.5,
                    cmap=ListedColormap(colours), alpha=0.25)
        ax.contour(gx, gy, decided, levels=np.arange(k) + 0.5, colors="0.3", linewidths=0.8)
        for c in range(k):
            mine = classes == c
            if mine.any():
                ax.scatter(points[mine, 0], points[mine, 1], s=12, color=colours[c],
                           edgecolors="white", linewidths=0.4,
                           label=names[c] if c < len(names) else str(c))
        at_points = predict(points) if predict is not None else _decide(model, points)
        right = float((np.asarray(at_points).reshape(-1) == classes).mean())  # exact, not
        # the nearest grid cell's: near the boundary the two differ
        ax.set_title(title if title is not None else
                     f"decision boundary ({right:.0%} of the examples on their side)")
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")
        ax.legend(loc="best", fontsize="small")
        _save(fig, path)
    return fig


