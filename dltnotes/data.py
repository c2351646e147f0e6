"""Data sets the book uses: scikit-learn's bundled handwritten digits, and small synthetic generators.

Nothing here downloads anything. Every generator takes a ``seed`` and returns the same tensors for the same
arguments; every loader returns tensors on :func:`dltnotes.runtime.device` unless told otherwise.

**Conventions.**

* Features are rows: ``x`` has shape ``(n, d)``; labels ``y`` have shape ``(n,)``.
* Class labels are ``int64`` in ``{0, …, C-1}``; binary labels for margin-based chapters are ``±1`` floats.

Taught in :ref:`chap-intro` (the digits) and used by every experiment chapter.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ._validate import check_int, check_real
from .runtime import device as default_device

__all__ = [
    "Split",
    "Separable",
    "load_digits",
    "gaussian_features",
    "gaussian_linear_regression",
    "linearly_separable",
]


class Split(NamedTuple):
    """A train/test split: ``x_train (n_train, d)``, ``y_train (n_train,)``, ``x_test (n_test, d)``, ``y_test (n_test,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


class Separable(NamedTuple):
    """A linearly separable sample: ``x (n, d)``, labels ``y (n,)`` in ``{-1, +1}`` and the unit normal ``w_star (d,)``."""

    x: torch.Tensor
    y: torch.Tensor
    w_star: torch.Tensor


def _resolve(dtype, device):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype, default_device() if device is None else torch.device(device)


def load_digits(
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    classes=None,
    flatten: bool = True,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> Split:
    """The 1,797 handwritten 8×8 digits shipped with scikit-learn, scaled to ``[0, 1]`` and split in two.

    The split is stratified by class and fixed by ``seed``: the same arguments give the same tensors.

    Parameters
    ----------
    test_fraction : float
        Fraction of the images held out for testing, in ``(0, 1)``.
    seed : int
        Seed of the split.
    classes : sequence of int, optional
        Keep only these digits, relabelled ``0, 1, …`` in the order given (e.g. ``(3, 8)`` gives a binary task
        with 3 → 0 and 8 → 1). Default: all ten digits, labels unchanged.
    flatten : bool
        ``True``: images as rows of 64 pixels, shape ``(n, 64)``; ``False``: shape ``(n, 1, 8, 8)``.
    dtype, device
        Floating dtype and device of the images (labels are ``int64`` on the same device);
        ``device=None`` means :func:`dltnotes.runtime.device`.

    Returns
    -------
    Split
        ``x_train, y_train, x_test, y_test``; pixel values in ``[0, 1]`` (the raw data are integers 0–16).
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = check_real("test_fraction", test_fraction, min_value=0.0, max_value=1.0,
                               min_inclusive=False, max_inclusive=False)
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    dtype, device = _resolve(dtype, device)
    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float64) / 16.0
    labels = bunch.target.astype(np.int64)
    if classes is not None:
        classes = [check_int("classes[i]", c, min_value=0, max_value=9) for c in classes]
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes must list at least two distinct digits, got {classes}")
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
        labels = np.array([classes.index(int(c)) for c in labels], dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    shape = (-1, 64) if flatten else (-1, 1, 8, 8)

    def as_x(a):
        return torch.as_tensor(a.reshape(shape), dtype=dtype, device=device)

    def as_y(a):
        return torch.as_tensor(a, dtype=torch.int64, device=device)

    return Split(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te))


def gaussian_features(
    n: int, d: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """An ``(n, d)`` matrix of independent standard normal entries (rows are samples ``x ~ N(0, I_d)``)."""
    n = check_int("n", n, min_value=1)
    d = check_int("d", d, min_value=1)
    seed = check_int("seed", seed, min_value=0, max_value=2**63 - 1)
    dtype, device = _resolve(dtype, device)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=dtype).to(device)


def gaussian_linear_regression(
    n: int,
    beta,
    *,
    noise_std: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``x ~ N(0, I_d)`` and ``y = x·beta + noise_std·ε`` with ``ε ~ N(0, 1)``; return ``(x (n, d), y (n,))``.

    The model of the double-descent chapter (the "weak features" model with all ``d = len(beta)`` features).
    """
    n = check_int("n", n, min_value=1)
    noise_std = check_real("noise_std", noise_std, min_value=0.0)
    beta = torch.as_tensor(beta, dtype=torch.float64)
    if beta.ndim != 1 or beta.numel() == 0:
        raise ValueError(f"beta must be a non-empty vector, got shape {tuple(beta.shape)}")
    if not bool(torch.isfinite(beta).all()):
        raise ValueError("beta contains NaN or infinite entries")
    dtype, device = _resolve(dtype, device)
    x = gaussian_features(n, beta.numel(), seed=seed, dtype=torch.float64, device="cpu")
    gen = torch.Generator().manual_seed(seed + 1)
    y = x @ beta + noise_std * torch.randn(n, generator=gen, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def linearly_separable(
    n: int,
    d: int,
    *,
    margin: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> Separable:
    """``n`` Gaussian points in ``R^d`` labelled by a random hyperplane through the origin, with a margin.

    A unit vector ``w_star`` is drawn uniformly; points ``x ~ N(0, I_d)`` with ``|x·w_star| < margin`` are
    rejected and redrawn; labels are ``y = sign(x·w_star)``. So ``y_i x_i·w_star ≥ margin`` for every ``i``:
    the sample is separable with no bias term, as the implicit-bias chapter assumes. Both classes occur
    whenever ``n ≥ 2`` (a one-class draw is redrawn).

    Returns
    -------
    Separable
        ``x (n, d)``, ``y (n,)`` in ``{-1., +1.}`` and ``w_star (d,)``.
    """
    n = check_int("n", n, min_value=2)
    d = check_int("d", d, min_value=1)
    margin = check_real("margin", margin, min_value=0.0, max_value=3.0)
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    dtype, device = _resolve(dtype, device)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    x = np.empty((0, d))
    for _ in range(10_000):
        batch = rng.standard_normal((2 * n, d))
        x = np.concatenate([x, batch[np.abs(batch @ w) >= margin]])
        if len(x) >= n:
            x = x[:n]
            if len(np.unique(np.sign(x @ w))) == 2:
                break
            x = np.empty((0, d))  # one class only (probability 2^(1-n)): draw again
    else:  # pragma: no cover - needs an absurd margin
        raise RuntimeError(f"could not draw {n} points with margin {margin}; lower the margin")
    y = np.sign(x @ w)
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return Separable(as_t(x), as_t(y), as_t(w))
