"""The ``nerve`` command: a table of subcommands, each importing what it needs when it runs.

    nerve                        train the default preset (spirals) and print where the run is
    nerve train [SPEC]           a preset name, a TOML spec or a run folder's config.toml
    nerve evaluate RUN           a run's model on its validation examples again
    nerve predict RUN INPUT      a CSV, .npy or picture in, predictions with probabilities out
    nerve summary SPEC|RUN       layers, output shapes, parameter counts
    nerve explain [TOPIC]        the seed's arithmetic, step by step, computed by nerve
    nerve export RUN --onnx FILE the run's model as an ONNX file

Exit codes: 0 on success, 2 for bad usage (arguments, a spec that cannot run), 1 for a run
that failed (missing data, a download that did not check out, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

COMMANDS = ("train", "evaluate", "predict", "summary", "explain", "export")


class UsageError(Exception):
    """Bad usage found after parsing (a spec that cannot run): exit code 2."""


def _number(kind: type, what: str, ok):
    """An argparse type: ``kind`` (int or float) for which ``ok(value)`` holds, else a usage
    error saying ``what`` was expected."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return convert


_positive_int = _number(int, "a positive integer", lambda v: v > 0)
_seed = _number(int, "an integer >= 0", lambda v: v >= 0)
_positive_float = _number(float, "a positive number", lambda v: 0 < v < float("inf"))


def _parser() -> argparse.ArgumentParser:
    from nerve.runs.presets import DEFAULT, PRESETS  # plain data: no layers are imported

    parser = argparse.ArgumentParser(
        prog="nerve", description="nerve: neural networks from the single neuron to deep "
        "networks, on NumPy. Without a command, `nerve` runs `nerve train` on the default "
        f"preset ({DEFAULT}).")
    parser.add_argument("--version", action="store_true", help="print nerve's version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    presets = "; ".join(f"{name}: {p['description']}" for name, p in PRESETS.items())
    train = sub.add_parser("train", help="train from a preset or a TOML spec; write a run "
                           "folder", description=f"Train and write a run folder. Presets: "
                           f"{presets}.")
    train.add_argument("spec", nargs="?", default=DEFAULT, metavar="SPEC",
                       help=f"a preset ({', '.join(PRESETS)}), a TOML file or a run folder "
                       f"(default {DEFAULT})")
    train.add_argument("--out", metavar="DIR", help="the run folder (default "
                       "runs/<name>-<time>)")
    train.add_argument("--runs-dir", default="runs", metavar="DIR",
                       help="where run folders go without --out (default runs)")
    train.add_argument("--epochs", type=_positive_int, help="training epochs (or steps of "
                       "gradient descent: max_steps)")
    train.add_argument("--seed", type=_seed, help="the random seed (an integer >= 0)")
    train.add_argument("--lr", type=_positive_float, help="the learning rate")
    train.add_argument("--batch-size", type=_positive_int, help="examples per mini-batch")
    train.add_argument("--data", metavar="DIR", help="MNIST's folder (t10k-*-ubyte.gz)")
    train.add_argument("--download", action="store_true", help="fetch MNIST (checked "
                       "against its published SHA-256) into --data or data/mnist")
    train.add_argument("--base-url", metavar="URL", help="where --download fetches from")
    train.add_argument("--checksums", metavar="FILE", help="a sha256sum file for a mirror "
                       "that serves other bytes than the original files")
    train.add_argument("--csv", metavar="FILE", help="your series for forecast-lstm")
    train.add_argument("--column", metavar="NAME", help="the CSV column that holds it")
    train.add_argument("--distributed", action="store_true", help="data-parallel on MPI: "
                       "start with mpirun -n P nerve train ... --distributed (needs mpi4py)")
    train.add_argument("--quiet", action="store_true", help="print the result only")

    evaluate = sub.add_parser("evaluate", help="a run's model on its validation examples")
    evaluate.add_argument("run", metavar="RUN", help="a run folder")
    evaluate.add_argument("--data", metavar="PATH", help="MNIST's folder or the CSV file, "
                          "if it moved")
    evaluate.add_argument("--quiet", action="store_true")

    predict = sub.add_parser("predict", help="predictions of a run's model for new inputs")
    predict.add_argument("run", metavar="RUN", help="a run folder")
    predict.add_argument("input", metavar="INPUT", help="a .csv (rows of features, or a "
                         "series), a .npy, or a picture (.png) for image models")
    predict.add_argument("--steps", type=_positive_int, default=1,
                         help="values to forecast after a series (default 1)")
    predict.add_argument("--column", metavar="NAME", help="the CSV column of a series")
    predict.add_argument("--out", metavar="FILE", help="also write the predictions as CSV")
    predict.add_argument("--quiet", action="store_true")

    summary = sub.add_parser("summary", help="layers, output shapes and parameter counts")
    summary.add_argument("spec", metavar="SPEC|RUN", help="a preset, a TOML spec or a run "
                         "folder")

    explain = sub.add_parser("explain", help="the seed's arithmetic, step by step, computed "
                             "by nerve (nerve explain lists the topics)")
    explain.add_argument("topic", nargs="?", help="neuron, gradient-descent, backprop, "
                         "softmax, convolution or rnn")
    explain.add_argument("--plot", metavar="FILE", help="also draw the topic as a PNG "
                         "(gradient-descent, softmax, convolution, rnn; needs matplotlib)")

    export = sub.add_parser("export", help="a run's model as ONNX (needs onnx)")
    export.add_argument("run", metavar="RUN", help="a run folder")
    export.add_argument("--onnx", metavar="FILE", required=True, help="the .onnx file")
    export.add_argument("--opset", type=_positive_int, default=17)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["train", *argv]  # `nerve` and `nerve --epochs 5` train the default preset
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        import nerve

        print(f"nerve {nerve.__version__}")
        return 0
    if args.command == "explain":
        return _explain(parser, args.topic, args.plot)
    from nerve.runs.spec import SpecError

    run = {"train": _train, "evaluate": _evaluate, "predict": _predict, "summary": _summary,
           "export": _export}[args.command]
    try:
        run(args)
    except (SpecError, UsageError) as e:
        print(f"nerve {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nerve {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError, ImportError, RuntimeError, ArithmeticError) as e:
        print(f"nerve {args.command}: failed: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"nerve {args.command}: failed: out of memory (a spec asking for more data or a "
              "larger model than this machine holds?)", file=sys.stderr)
        return 1
    return 0


def _train(args) -> None:
    from nerve.runs import run

    spec, path = run.load_spec(args.spec)
    data_path = args.data or args.csv
    if data_path is None and args.download:
        data_path = run.sources.MNIST_FOLDER
    if data_path is not None:  # absolute: the run's config.toml repeats it from anywhere
        data_path = str(Path(data_path).resolve())
    changes = {"seed": args.seed, "data.path": data_path, "data.column": args.column,
               "data.base_url": args.base_url, "data.checksums": args.checksums,
               "train.lr": args.lr, "train.batch_size": args.batch_size}
    if args.download:
        changes["data.download"] = True
    if args.epochs is not None:
        key = {"gradient-descent": "max_steps"}.get(spec["train"]["method"], "epochs")
        changes[f"train.{key}"] = args.epochs
    source = spec["data"]["source"]
    for option, sources_of in (("--data", ("mnist",)), ("--download", ("mnist",)),
                               ("--base-url", ("mnist",)), ("--checksums", ("mnist",)),
                               ("--csv", ("csv",)), ("--column", ("csv",))):
        if getattr(args, option[2:].replace("-", "_")) and source not in sources_of:
            raise UsageError(f"{option} does not apply to {spec['name']!r}, whose data source "
                             f"is {source!r}")
    for option in ("--base-url", "--checksums"):
        if getattr(args, option[2:].replace("-", "_")) and not args.download:
            raise UsageError(f"{option} goes with --download (it says where and how to "
                             "fetch MNIST)")
    if args.base_url and not args.base_url.startswith(("http://", "https://", "file:")):
        raise UsageError(f"--base-url: expected an http://, https:// or file: URL, got "
                         f"{args.base_url!r}")
    if args.checksums:
        changes["data.checksums"] = str(Path(args.checksums).resolve())
    if args.batch_size is not None and spec["train"]["method"] != "fit":
        raise UsageError(f"--batch-size does not apply to {spec['name']!r}, trained by "
                         f"{spec['train']['method']}")
    if args.distributed and spec["train"]["method"] != "fit":
        raise UsageError(f"--distributed trains with fit on MPI; {spec['name']!r} is trained by "
                         f"{spec['train']['method']}")
    spec = run.override(spec, path, **changes)
    run.train(spec, path, out=args.out, runs_dir=args.runs_dir, quiet=args.quiet,
              distributed=args.distributed)


def _evaluate(args) -> None:
    from nerve.runs import run

    run.evaluate(args.run, data_path=args.data, quiet=args.quiet)


def _predict(args) -> None:
    from nerve.runs import run

    run.predict(args.run, args.input, steps=args.steps, column=args.column, out=args.out,
                quiet=args.quiet)


def _summary(args) -> None:
    from nerve.runs import run

    run.summary(args.spec)


def _export(args) -> None:
    from nerve.runs import run

    _, folder, model, info = run.open_run(args.run)
    try:
        from nerve import onnx as nerve_onnx
    except ImportError as e:
        raise ImportError("ONNX export needs the onnx package: pip install onnx (or, in a "
                          f'checkout of nerve, pip install ".[onnx]") ({e})') from None
    import nerve

    example = nerve.zeros((1, *info["input_shape"]))
    nerve_onnx.export(model, args.onnx, example, opset=args.opset)
    print(f"ONNX model written to {args.onnx}")


def _explain(parser, topic, plot_path=None) -> int:
    from nerve.explain import PICTURES, TOPICS, explain, plot

    if topic is None:
        print("nerve explain TOPIC, where TOPIC is one of:")
        for name, what in TOPICS.items():
            print(f"  {name:17} {what}")
        return 0
    if topic not in TOPICS:
        parser.error(f"unknown topic {topic!r}; the topics are: {', '.join(TOPICS)}")
    print("\n".join(explain(topic)))
    if plot_path is not None:
        if topic not in PICTURES:
            parser.error(f"no picture for {topic!r}; --plot draws {', '.join(PICTURES)}")
        try:
            plot(topic, plot_path)
        except (ImportError, OSError, ValueError, TypeError) as e:
            print(f"nerve explain: {e}", file=sys.stderr)
            return 1
        print(f"picture written to {plot_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
