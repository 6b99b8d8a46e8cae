"""Side-by-side speed of nerve and PyTorch (CPU) on the same inputs: ``python -m benchmarks``.

A case is a function registered with :func:`~benchmarks.harness.case` that builds its inputs
once and returns a :class:`~benchmarks.harness.Pair`: one callable per library that runs the
workload once, and optionally the results to compare::

    @case("tanh_mean", "tanh(x).mean() fwd+bwd, x 256x256")
    def tanh_mean() -> Pair:
        nx, tx = _both(_inputs((256, 256))[0], requires_grad=True)
        return Pair(  # (gradients accumulate call after call, alike in both libraries)
            lambda: nerve.tanh(nx).mean().backward(),
            lambda: torch.tanh(tx).mean().backward())

Cases live in the ``cases_*`` modules; a new module is imported in :mod:`benchmarks.__main__`.
"""
