"""``nerve.cuda``: what a program asks about GPUs, answered truthfully while nerve computes on the
CPU only (the GPU backend is a later step): no GPU is available, none is counted, and seeding
one is a no-op, so ``device = "cuda" if nerve.cuda.is_available() else "cpu"`` picks the CPU."""


def is_available() -> bool:
    """False: nerve has no GPU backend yet."""
    return False


def device_count() -> int:
    """0: nerve has no GPU backend yet."""
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed without a GPU backend (``nerve.manual_seed`` seeds the CPU's)."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed without a GPU backend."""
