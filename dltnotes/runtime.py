"""Where tensors live, how runs are seeded, and when progress bars show.

One place decides each of these for the whole book:

* :func:`device` — CUDA when available, else CPU, overridable with the ``DLTNOTES_DEVICE`` environment variable;
* :func:`seed_everything` — seeds Python, numpy and torch (CPU and CUDA) and asks for deterministic kernels;
* :func:`progress` — a tqdm bar for long loops, silent in CI, in tests and in the book build.

Taught in :ref:`chap-intro` (how to run the book).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from contextlib import contextmanager

import numpy as np
import torch

from ._validate import check_int

__all__ = ["device", "seed_everything", "quiet", "progress", "torch_threads"]

_TRUTHY = {"1", "true", "yes", "on"}


def device() -> torch.device:
    """Return the device every tensor of the book is put on.

    ``cuda`` when a CUDA GPU is visible, else ``cpu``. Set the environment variable ``DLTNOTES_DEVICE``
    (e.g. ``cpu`` or ``cuda:1``) to override; an override naming CUDA on a machine without it raises
    ``ValueError`` rather than silently falling back.
    """
    override = os.environ.get("DLTNOTES_DEVICE", "").strip()
    if override:
        try:
            dev = torch.device(override)
        except RuntimeError as err:
            raise ValueError(f"DLTNOTES_DEVICE={override!r} is not a torch device: {err}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"DLTNOTES_DEVICE={override!r} asks for CUDA, but no CUDA device is available")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, numpy's legacy global RNG and torch (all devices); return a seeded generator.

    On a GPU it also makes cuDNN pick deterministic convolution kernels (and no benchmarking). That is all it
    changes: it does *not* call ``torch.use_deterministic_algorithms`` (a global switch that would outlive the
    chapter and raise on ops without a deterministic kernel), so CUDA ops that accumulate with atomics
    (``index_add``, ``scatter_add``, some reductions) may still differ in the last bits between runs. On the CPU,
    where CI runs, a rerun gives bitwise the same numbers; a chapter's tolerances never rely on the last bits.
    Code that needs randomness should prefer the returned ``torch.Generator`` (on the CPU) or
    ``numpy.random.default_rng(seed)`` over the global generators.

    Parameters
    ----------
    seed : int
        In ``[0, 2**32 - 1]`` (numpy's limit).
    """
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def quiet() -> bool:
    """True when progress bars should stay silent: in CI (``CI``), tests and the book build (``DLTNOTES_QUIET``)."""
    return any(os.environ.get(var, "").strip().lower() in _TRUTHY for var in ("CI", "DLTNOTES_QUIET"))


def progress(iterable: Iterable, *, desc: str | None = None, total: int | None = None, **kwargs):
    """Wrap ``iterable`` in a tqdm progress bar, disabled when :func:`quiet` is true.

    In Jupyter with ipywidgets (e.g. Colab) the bar is a widget; without ipywidgets it falls back to text
    quietly instead of warning.
    """
    if quiet():
        from tqdm.std import tqdm

        return tqdm(iterable, desc=desc, total=total, disable=True, **kwargs)
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, **kwargs)


@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch intra-op threads, and restore the previous number after it.

    For cells whose small tensors run faster on one thread. A chapter must not call ``torch.set_num_threads``
    directly: on Colab the change would outlive the chapter (a test forbids it)::

        with torch_threads(1):
            kernel = empirical_ntk(model, x)
    """
    n = check_int("n", n, min_value=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
