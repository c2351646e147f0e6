"""Random features and minimum-norm least squares: the simplest over-parameterised models.

A random-features model fixes a random first layer and fits only the readout: with ``p`` features
``φ(x) = ReLU(W x + b) / sqrt(p)`` (``W (d, p)``, ``b (p,)`` i.i.d. ``N(0, 1)``) and a readout ``B (p, k)``,
the prediction is ``φ(x) B``. When ``p ≥ n`` the readout can interpolate the ``n`` training targets, and the
minimum-norm interpolant is ``B = Φ⁺ Y``.

Taught in :ref:`chap-intro` (a first look) and in the double-descent chapter.
"""

from __future__ import annotations

import torch

from ._validate import check_int, check_tensor

__all__ = ["RandomReLUFeatures", "min_norm_least_squares"]


class RandomReLUFeatures:
    """The feature map ``x ↦ ReLU(x W + b) / sqrt(p)`` with ``W (d, p)`` and ``b (p,)`` drawn once from ``N(0, 1)``.

    Parameters
    ----------
    d : int
        Input dimension.
    p : int
        Number of features.
    seed : int
        Seed of the draw of ``W`` and ``b``.
    dtype, device
        Of ``W`` and ``b``; inputs are cast to them. ``device=None`` means the CPU.
    """

    def __init__(self, d: int, p: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, device=None):
        self.d = check_int("d", d, min_value=1)
        self.p = check_int("p", p, min_value=1)
        seed = check_int("seed", seed, min_value=0, max_value=2**63 - 1)
        gen = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(self.d, self.p, generator=gen, dtype=dtype).to(device or "cpu")
        self.bias = torch.randn(self.p, generator=gen, dtype=dtype).to(device or "cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x (n, d)``: shape ``(n, p)``."""
        check_tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.d:
            raise ValueError(f"x must have {self.d} columns, got shape {tuple(x.shape)}")
        x = x.to(dtype=self.weight.dtype, device=self.weight.device)
        return torch.relu(x @ self.weight + self.bias) / self.p**0.5


def min_norm_least_squares(features: torch.Tensor, targets: torch.Tensor, *, rcond: float | None = None) -> torch.Tensor:
    """The minimum-norm minimiser of ``‖features @ B − targets‖²``: ``B = features⁺ targets`` (Moore–Penrose).

    ``features (n, p)``, ``targets (n,)`` or ``(n, k)``; returns ``B (p,)`` or ``(p, k)``. Below the interpolation
    threshold (``p < n``) this is ordinary least squares; above it, the interpolant of smallest norm.
    ``rcond``: singular values below ``rcond · σ_max`` count as zero (``None``: torch's default, ``max(n, p) · eps``).
    Both routes are SVD-based: on the CPU LAPACK's ``gelsd`` (which never forms the pseudo-inverse, several times
    faster for wide matrices), elsewhere ``torch.linalg.pinv`` (CUDA's ``lstsq`` has no minimum-norm driver).
    """
    check_tensor("features", features, ndim=2, floating=True)
    check_tensor("targets", targets, ndim=(1, 2), floating=True)
    if targets.shape[0] != features.shape[0]:
        raise ValueError(f"features has {features.shape[0]} rows but targets has {targets.shape[0]}")
    targets = targets.to(dtype=features.dtype, device=features.device)
    if features.device.type == "cpu":
        rhs = targets[:, None] if targets.ndim == 1 else targets
        B = torch.linalg.lstsq(features, rhs, rcond=rcond, driver="gelsd").solution
        return B[:, 0] if targets.ndim == 1 else B
    pinv = torch.linalg.pinv(features) if rcond is None else torch.linalg.pinv(features, rtol=rcond)
    return pinv @ targets
