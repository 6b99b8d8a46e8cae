"""The ``nerve`` command. ``nerve`` (or ``python -m nerve``) alone runs the built-in demo."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    import nerve
    from nerve import data, nn, optim

    print("1. One neuron, the seed's surfing perceptron: inputs (1, 0, 1), weights (5, 2, 4), "
          "threshold 3")
    surf = nn.Perceptron(weights=[5, 2, 4], threshold=3)
    decision = "go" if surf.predict([1, 0, 1]) else "stay"
    print(f"   weighted sum = {surf.weighted_sum([1, 0, 1]):g} -> output "
          f"{surf.predict([1, 0, 1])}: {decision}\n")
    print("2. A multi-layer perceptron learns two interleaved spirals (not linearly separable)")
    nerve.manual_seed(args.seed)
    x, y = data.make_spirals(n_samples=600, n_classes=2, noise=0.1, seed=args.seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 2))
    nn.summary(model, (2,))
    opt = optim.Adam(model.parameters(), lr=0.01)
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=args.epochs,
                     batch_size=32, validation_split=0.2, seed=args.seed,
                     verbose=0 if args.quiet else 2)
    print(f"\n   validation accuracy after {len(hist['loss'])} epochs: "
          f"{hist['val_accuracy'][-1]:.1%}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: neural networks from "
                                     "the single neuron to deep networks, on NumPy.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the surfing perceptron, then an MLP on spirals "
                          "(the default)")
    for p in (parser, demo):
        p.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    explain = sub.add_parser("explain", help="the seed's arithmetic, step by step, computed by "
                             "nerve (nerve explain lists the topics)")
    explain.add_argument("topic", nargs="?", help="neuron, gradient-descent, backprop, softmax, "
                         "convolution or rnn")
    explain.add_argument("--plot", metavar="FILE", help="also draw the topic as a PNG "
                         "(gradient-descent, softmax, convolution, rnn; needs matplotlib)")
    parser.add_argument("--version", action="store_true", help="print nerve's version")
    args = parser.parse_args(argv)
    if args.version:
        import nerve

        print(f"nerve {nerve.__version__}")
        return 0
    if args.command == "explain":
        return _explain(parser, args.topic, args.plot)
    if args.epochs <= 0:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    return _demo(args)


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
