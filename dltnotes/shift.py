"""Covariate shift: importance weights, their variance price, and the distance between two domains.

Under *covariate shift* the inputs of the training (source) and test (target) domains have different densities
``p_S`` and ``p_T`` while the conditional law of the label given the input is the same. Every expectation under
the target is then an expectation under the source with the importance weight ``w = p_T / p_S``. This module
holds the pieces of the chapter's three arguments:

* **Shimodaira's toy** (polynomial regression, Gaussian inputs): :func:`gaussian_raw_moments`,
  :func:`population_polyfit` (the best polynomial of a given degree under a Gaussian input law, in closed
  form), :func:`polynomial_risk` (its exact risk), :func:`weighted_polyfit` (weighted least squares, batched);
* **the variance price**: :func:`gaussian_density_ratio`, :func:`gaussian_weight_second_moment` (the Rényi-2
  term ``d₂(P_T‖P_S) = E_S[w²]``, infinite when the target is too wide), :func:`gaussian_kl` and
  :func:`effective_sample_size`;
* **the distance between domains**: :func:`gaussian_tv` (total variation between two unit-covariance Gaussians),
  a logistic :func:`domain_classifier` fitted by Newton's method, its :func:`domain_error` (balanced) and
  :func:`classifier_density_ratio`.

**Conventions.** One-dimensional laws are given by a mean and a standard deviation (not a variance).
Polynomials are coefficient vectors in increasing powers, ``c[0] + c[1] x + c[2] x² + …``. Tensors are float64;
samples are the last dimension (``x (…, n)``), so a batch of ``R`` replicates is ``(R, n)``.

Taught in :ref:`chap-covariate-shift`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats

from ._validate import check_array, check_int, check_real, check_tensor

__all__ = [
    "gaussian_raw_moments",
    "population_polyfit",
    "polynomial_risk",
    "weighted_polyfit",
    "gaussian_density_ratio",
    "gaussian_weight_second_moment",
    "gaussian_kl",
    "effective_sample_size",
    "gaussian_tv",
    "DomainClassifier",
    "domain_classifier",
    "domain_error",
    "classifier_density_ratio",
]


def _sd(name: str, value) -> float:
    return check_real(name, value, min_value=0.0, min_inclusive=False)


def _coeffs(name: str, value) -> np.ndarray:
    arr = check_array(name, value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of polynomial coefficients, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------------------------- Gaussian moments
def gaussian_raw_moments(mean, sd, order: int) -> np.ndarray:
    """Raw moments ``E xᵏ`` of ``x ~ N(mean, sd²)`` for ``k = 0, …, order``, as a float64 array.

    Uses the recurrence ``m_k = mean·m_{k−1} + (k − 1)·sd²·m_{k−2}`` (integration by parts against the
    Gaussian density), with ``m_0 = 1``, ``m_1 = mean``. ``order`` is an integer ``≥ 0``; ``sd > 0``.
    See :ref:`chap-covariate-shift`.
    """
    mean, sd = check_real("mean", mean), _sd("sd", sd)
    order = check_int("order", order, min_value=0)
    m = [1.0, mean]
    for k in range(2, order + 1):
        m.append(mean * m[k - 1] + (k - 1) * sd**2 * m[k - 2])
    return np.array(m[: order + 1])


def _gram(mean: float, sd: float, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """The moment matrix ``E[φφᵀ]`` of ``φ(x) = (1, x, …, x^degree)`` and the moments up to ``2·degree``."""
    m = gaussian_raw_moments(mean, sd, 2 * degree)
    idx = np.arange(degree + 1)
    return m[idx[:, None] + idx[None, :]], m


def population_polyfit(target_coeffs, degree: int, mean, sd) -> np.ndarray:
    """The polynomial of degree ``degree`` closest to ``f`` in ``L²(N(mean, sd²))``: the population least squares.

    ``f(x) = Σ_k target_coeffs[k] xᵏ`` is the regression function ``E[y | x]``; the answer ``θ`` (length
    ``degree + 1``) solves the normal equations ``E[φφᵀ] θ = E[φ f]`` with ``φ(x) = (1, x, …, x^degree)``, whose
    entries are Gaussian moments. Label noise with mean zero does not change ``θ``. Under covariate shift the
    unweighted least squares on source data converges to ``population_polyfit(f, d, *source)`` and the
    importance-weighted one to ``population_polyfit(f, d, *target)`` (:ref:`chap-covariate-shift`;
    Shimodaira, 2000).
    """
    c = _coeffs("target_coeffs", target_coeffs)
    degree = check_int("degree", degree, min_value=0)
    mean, sd = check_real("mean", mean), _sd("sd", sd)
    gram, _ = _gram(mean, sd, degree)
    m = gaussian_raw_moments(mean, sd, degree + c.size - 1)
    rhs = np.array([sum(c[k] * m[j + k] for k in range(c.size)) for j in range(degree + 1)])
    return np.linalg.solve(gram, rhs)


def polynomial_risk(theta, target_coeffs, mean, sd, noise_sd=0.0) -> float:
    """Exact squared-error risk ``E (y − p_θ(x))²`` of a polynomial predictor under ``x ~ N(mean, sd²)``.

    ``y = f(x) + ε`` with ``f`` given by ``target_coeffs`` and independent noise of standard deviation
    ``noise_sd``; ``p_θ(x) = Σ_k theta[k] xᵏ``. With ``d = f − p_θ`` (coefficients padded to a common length)
    the risk is ``Σ_{j,k} d_j d_k E x^{j+k} + noise_sd²``: a quadratic form in Gaussian moments.
    See :ref:`chap-covariate-shift`.
    """
    theta, c = _coeffs("theta", theta), _coeffs("target_coeffs", target_coeffs)
    mean, sd = check_real("mean", mean), _sd("sd", sd)
    noise_sd = check_real("noise_sd", noise_sd, min_value=0.0)
    size = max(theta.size, c.size)
    d = np.zeros(size)
    d[: c.size] += c
    d[: theta.size] -= theta
    gram, _ = _gram(mean, sd, size - 1)
    return float(d @ gram @ d + noise_sd**2)


def weighted_polyfit(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None, *,
                     degree: int = 1) -> torch.Tensor:
    """Weighted least-squares polynomial fits, one per replicate: ``argmin_θ Σ_i w_i (y_i − p_θ(x_i))²``.

    Parameters
    ----------
    x, y : torch.Tensor
        Floating tensors of equal shape ``(…, n)``: the samples are the last dimension.
    weights : torch.Tensor, optional
        Non-negative weights of the same shape (importance weights ``p_T/p_S``); ``None`` for ordinary least
        squares.
    degree : int
        The degree of the polynomial, ``≥ 0``; each replicate needs more than ``degree`` points of positive
        weight at distinct ``x``.

    Returns
    -------
    torch.Tensor
        ``(…, degree + 1)`` coefficients in increasing powers, float64. Solved by least squares on the
        ``√w``-scaled Vandermonde matrix (better conditioned than the normal equations).
        See :ref:`chap-covariate-shift`.
    """
    check_tensor("x", x, floating=True)
    check_tensor("y", y, floating=True)
    degree = check_int("degree", degree, min_value=0)
    if x.shape != y.shape or x.ndim < 1:
        raise ValueError(f"x and y must have the same shape (…, n), got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-1] <= degree:
        raise ValueError(f"a degree-{degree} fit needs more than {degree} samples, got {x.shape[-1]}")
    x, y = x.to(torch.float64), y.to(torch.float64)
    if weights is None:
        root = torch.ones_like(x)
    else:
        check_tensor("weights", weights, floating=True)
        if weights.shape != x.shape:
            raise ValueError(f"weights must have the shape of x {tuple(x.shape)}, got {tuple(weights.shape)}")
        if bool((weights < 0).any()):
            raise ValueError("weights must be non-negative")
        root = weights.to(torch.float64).sqrt()
    design = x.unsqueeze(-1) ** torch.arange(degree + 1, device=x.device, dtype=torch.float64)
    design = design * root.unsqueeze(-1)
    if x.device.type == "cpu":
        sol = torch.linalg.lstsq(design, (root * y).unsqueeze(-1), driver="gelsd").solution
    else:  # CUDA's lstsq handles full-rank problems only (QR): fine for these tall systems
        sol = torch.linalg.lstsq(design, (root * y).unsqueeze(-1)).solution
    return sol.squeeze(-1)


# --------------------------------------------------------------------------------- weights and their price
def gaussian_density_ratio(x: torch.Tensor, source, target) -> torch.Tensor:
    """Importance weights ``w(x) = p_T(x) / p_S(x)`` for one-dimensional Gaussian domains.

    ``source`` and ``target`` are ``(mean, sd)`` pairs; ``x`` a floating tensor of any shape. Computed as
    ``exp(log p_T − log p_S)`` in float64. See :ref:`chap-covariate-shift`.
    """
    check_tensor("x", x, floating=True)
    (ms, ss), (mt, st) = _law("source", source), _law("target", target)
    x = x.to(torch.float64)
    log_w = math.log(ss / st) - (x - mt) ** 2 / (2 * st**2) + (x - ms) ** 2 / (2 * ss**2)
    return log_w.exp()


def _law(name: str, law) -> tuple[float, float]:
    if not isinstance(law, (tuple, list)) or len(law) != 2:
        raise TypeError(f"{name} must be a (mean, sd) pair, got {law!r}")
    return check_real(f"{name} mean", law[0]), _sd(f"{name} sd", law[1])


def gaussian_weight_second_moment(source, target) -> float:
    """``E_S[w²] = ∫ p_T²/p_S``, the Rényi-2 term ``d₂(P_T‖P_S)``, for one-dimensional Gaussian domains.

    ``source = (μ_S, σ_S)`` and ``target = (μ_T, σ_T)``. With ``v = 2σ_S² − σ_T²``,

    ``E_S[w²] = σ_S² / (σ_T √v) · exp((μ_T − μ_S)² / v)`` when ``v > 0``, and ``math.inf`` otherwise
    (the target at least √2 times as wide as the source). Cortes, Mansour and Mohri (2010) write
    ``d₂(P‖Q) = E_Q[(P/Q)²]``; ``E_S[w] = 1``, so ``Var_S(w) = d₂ − 1``. See :ref:`chap-covariate-shift`.
    """
    (ms, ss), (mt, st) = _law("source", source), _law("target", target)
    v = 2 * ss**2 - st**2
    if v <= 0:
        return math.inf
    return ss**2 / (st * math.sqrt(v)) * math.exp((mt - ms) ** 2 / v)


def gaussian_kl(p, q) -> float:
    """``KL(P‖Q)`` for one-dimensional Gaussians ``p = (μ_P, σ_P)``, ``q = (μ_Q, σ_Q)``, in nats.

    ``log(σ_Q/σ_P) + (σ_P² + (μ_P − μ_Q)²) / (2σ_Q²) − 1/2``. See :ref:`chap-covariate-shift`.
    """
    (mp, sp_), (mq, sq) = _law("p", p), _law("q", q)
    return math.log(sq / sp_) + (sp_**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


def effective_sample_size(weights: torch.Tensor) -> torch.Tensor:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` over the last dimension.

    ``weights``: a floating tensor ``(…, n)`` of non-negative weights, each row with a positive entry. Returns
    ``(…)``, between 1 and ``n``: ``n`` for equal weights, 1 when one weight carries everything. Invariant to
    rescaling the weights. As ``n → ∞`` with i.i.d. weights of mean 1, ``ESS/n → 1/E[w²]``
    (:ref:`chap-covariate-shift`).
    """
    check_tensor("weights", weights, ndim=tuple(range(1, 9)), floating=True)
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative")
    w = weights.to(torch.float64)
    top = w.amax(dim=-1, keepdim=True)
    if bool((top == 0).any()):
        raise ValueError("every row of weights needs a positive entry")
    w = w / top  # scale-free; avoids overflow of Σw² for huge weights
    return w.sum(-1) ** 2 / (w**2).sum(-1)


# ------------------------------------------------------------------------------------ distance of domains
def gaussian_tv(distance) -> float:
    """Total variation ``sup_A |P(A) − Q(A)|`` between ``N(0, I)`` and ``N(μ, I)`` with ``‖μ‖ = distance``.

    ``TV = 2Φ(‖μ‖/2) − 1``: the supremum is attained on the half-space ``{μᵀx > ‖μ‖²/2}``, where the second
    density exceeds the first. The Bayes error of telling the two apart with equal priors is ``(1 − TV)/2``.
    ``distance ≥ 0``. Note that Ben-David et al. (2010) write ``d₁ = 2 TV``. See :ref:`chap-covariate-shift`.
    """
    distance = check_real("distance", distance, min_value=0.0)
    return float(2 * stats.norm.cdf(distance / 2) - 1)


class DomainClassifier(NamedTuple):
    """A logistic model of ``P(target | x)``: ``logit = x @ weight + bias``; ``weight (d,)``, ``bias`` a float."""

    weight: torch.Tensor
    bias: float


def _points(name: str, x) -> torch.Tensor:
    check_tensor(name, x, ndim=2, floating=True)
    if x.shape[0] < 1:
        raise ValueError(f"{name} has no points")
    return x.to(torch.float64)


def domain_classifier(source: torch.Tensor, target: torch.Tensor, *, ridge: float = 1e-8,
                      iters: int = 50) -> DomainClassifier:
    """Fit logistic regression telling target (label 1) from source (label 0) points, by Newton's method.

    Parameters
    ----------
    source, target : torch.Tensor
        ``(n_S, d)`` and ``(n_T, d)`` floating tensors on one device.
    ridge : float
        ``≥ 0``: the penalty ``ridge·‖weight‖²/2`` added to the mean log-loss; a tiny value keeps Newton's
        steps finite when the two samples are separable.
    iters : int
        Newton steps (``≥ 1``); the loop stops early once the step is below ``1e-12``.

    Returns
    -------
    DomainClassifier
        The fitted weight ``(d,)`` and bias. The class-probability model ``P(T | x)`` it fits is the one of
        Ben-David et al.'s proxy distance and of the classifier-based importance weights
        (:func:`classifier_density_ratio`). See :ref:`chap-covariate-shift`.
    """
    xs, xt = _points("source", source), _points("target", target)
    if xs.shape[1] != xt.shape[1] or xs.device != xt.device:
        raise ValueError(f"source and target must have the same width and device, got {tuple(xs.shape)} on "
                         f"{xs.device} and {tuple(xt.shape)} on {xt.device}")
    ridge = check_real("ridge", ridge, min_value=0.0)
    iters = check_int("iters", iters, min_value=1)
    x = torch.cat([xs, xt])
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype, device=x.device)], dim=1)
    lab = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(x)
    theta = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    pen = torch.full_like(theta, ridge)
    pen[-1] = 0.0  # the bias is not penalised
    for _ in range(iters):
        p = torch.sigmoid(x @ theta)
        grad = x.T @ (p - lab) / len(x) + pen * theta
        hess = (x.T * (p * (1 - p))) @ x / len(x) + torch.diag(pen)
        step = torch.linalg.solve(hess, grad)
        theta = theta - step
        if float(step.abs().max()) < 1e-12:
            break
    return DomainClassifier(theta[:-1], float(theta[-1]))


def _logit(clf: DomainClassifier, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(clf, DomainClassifier):
        raise TypeError(f"clf must be a DomainClassifier, got {type(clf).__name__}")
    if x.shape[1] != clf.weight.shape[0]:
        raise ValueError(f"points have {x.shape[1]} features, the classifier {clf.weight.shape[0]}")
    return x @ clf.weight.to(x) + clf.bias


def domain_error(clf: DomainClassifier, source: torch.Tensor, target: torch.Tensor) -> float:
    """Balanced error of a domain classifier: ``½ P_S(says T) + ½ P_T(says S)``, on the given points.

    ``source (n_S, d)``, ``target (n_T, d)``. Evaluate on points the classifier was *not* fitted on. Ben-David
    et al.'s proxy distance is ``2(1 − 2·error)``; the Bayes value of the error is ``(1 − TV)/2``.
    See :ref:`chap-covariate-shift`.
    """
    xs, xt = _points("source", source), _points("target", target)
    wrong_s = (_logit(clf, xs) > 0).to(torch.float64).mean()
    wrong_t = (_logit(clf, xt) <= 0).to(torch.float64).mean()
    return float((wrong_s + wrong_t) / 2)


def classifier_density_ratio(clf: DomainClassifier, x: torch.Tensor, n_source: int,
                             n_target: int) -> torch.Tensor:
    """Importance weights from a domain classifier: ``w(x) = (n_S/n_T) · P(T|x)/P(S|x) = (n_S/n_T) e^{logit}``.

    ``x (m, d)``; ``n_source``, ``n_target``: the sizes of the samples the classifier was fitted on (the odds
    of the classes must be removed). Exact when the logistic model is right, e.g. for two Gaussians of equal
    covariance. Returns ``(m,)``. See :ref:`chap-covariate-shift`.
    """
    x = _points("x", x)
    n_source = check_int("n_source", n_source, min_value=1)
    n_target = check_int("n_target", n_target, min_value=1)
    return (n_source / n_target) * _logit(clf, x).exp()
