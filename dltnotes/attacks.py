"""Gradient attacks (FGSM, PGD), minimal-perturbation attacks (Carlini–Wagner ℓ2, DeepFool), their evaluation,
and adversarial training.

**Conventions.**

* One gradient core serves every attack: the loss (cross-entropy of the logits by default, or any
  ``loss_fn(outputs, labels) -> scalar``) is differentiated with respect to the *input* only, by
  ``torch.autograd.grad``; the parameters' ``.grad`` fields are never touched, and the attacks work when called
  under ``torch.no_grad()``. :func:`fgsm` and :func:`pgd` leave the model's train/eval mode as it is (attack a
  model in the mode you want attacked); :func:`adversarial_training` attacks in eval mode and restores the mode.
* Untargeted attacks ascend the loss of the true label ``y``; targeted ones (``targeted=True``, ``y`` the target)
  descend the loss of the target.
* Inputs have any shape ``(B, …)``; norms are per sample, over all non-batch dimensions.
* Every iterate is projected onto the threat model and then clipped to the explicit ``bounds`` of the input
  domain (foolbox-style): for ``"linf"`` the perturbation is clamped entrywise to ``[−ε, ε]``; for ``"l2"`` it is
  rescaled by ``min(1, ε/‖δ‖₂)``. Clipping to a box containing ``x`` only shrinks each entry of ``δ``, so every
  iterate satisfies ``‖x' − x‖ ≤ ε`` and ``lo ≤ x' ≤ hi`` (up to float round-off).
* **Defaults are the plain iteration**, weaker than the evaluation of Madry et al. (2018): :func:`pgd` starts at
  ``x``, runs once and returns its last iterate. ``random_start=True``, ``restarts=R`` and ``keep_best=True``
  give Madry's protocol: ``R`` runs from random points of the ball, and per sample the best of all their
  iterates (see :func:`pgd`).
* Randomised models are attacked with expectation over transformation (``eot_draws=K``): the objective at each
  step is the average of the loss over ``K`` independent calls of the model, so its gradient is the average of
  the ``K`` per-draw gradients.
* The minimal-perturbation attacks (:func:`carlini_wagner_l2`, :func:`deepfool`) have no radius: they look for
  the nearest misclassified point, use the logits ``(B, C)`` of the model and class labels, and return a
  point of the box per sample (what they return where they fail is stated in each docstring).
* :func:`square_attack` is a gradient-free (score-based, black-box) attack for the ℓ∞ ball: it queries only the
  model's outputs, so it is blind to masked gradients, which makes it a check on gradient-based evaluations.

Taught in :ref:`chap-adversarial` (the attacks) and :ref:`chap-adversarial-training` (adversarial training);
the iteration is that of Madry et al. (2018) and of torchattacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_bool, check_int, check_real, check_tensor
from .training import History, train

__all__ = ["NORMS", "fgsm", "pgd", "predict", "robust_accuracy", "attack_success_rate", "carlini_wagner_l2",
           "deepfool", "adversarial_training", "QuantizedInput", "square_attack"]

#: The threat models :func:`pgd` knows: ``"linf"`` (sign steps, entrywise clamp) and ``"l2"`` (normalised
#: gradient steps, radial rescaling).
NORMS = ("linf", "l2")


# ----------------------------------------------------------------------------------------------- validation
def _check_bounds(bounds) -> tuple[float, float]:
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"bounds must be a pair (lo, hi), got {bounds!r}")
    lo = check_real("bounds[0]", bounds[0])
    hi = check_real("bounds[1]", bounds[1])
    if not lo < hi:
        raise ValueError(f"bounds must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi


def _check_attack_args(model, x, y, eps, bounds, loss_fn, targeted):
    if not isinstance(model, nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or a callable, got {type(model).__name__}")
    check_tensor("x", x, floating=True)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (B, …), got shape {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if loss_fn is None:
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must hold one label per input, shape ({x.shape[0]},), got {tuple(y.shape)}")
        if y.dtype != torch.int64:
            raise TypeError(f"y must be int64 class labels for the cross-entropy loss, got {y.dtype}")
    else:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be a callable (outputs, labels) -> scalar, got {type(loss_fn).__name__}")
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must have the batch size {x.shape[0]} as its first dimension, got {tuple(y.shape)}")
    eps = check_real("eps", eps, min_value=0.0)
    lo, hi = _check_bounds(bounds)
    targeted = check_bool("targeted", targeted)
    tol = 1e-6 * max(1.0, abs(lo), abs(hi))  # round-off of a float32 image rescaled to [lo, hi]
    xmin, xmax = torch.aminmax(x.detach())
    if xmin.item() < lo - tol or xmax.item() > hi + tol:
        raise ValueError(f"x must lie within bounds [{lo}, {hi}], got values in [{xmin.item():.6g}, {xmax.item():.6g}]")
    return eps, lo, hi, targeted


# ----------------------------------------------------------------------------------------------- the core
def _input_gradient(model, x_adv: torch.Tensor, y: torch.Tensor, loss_fn, sign: float,
                    draws: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``sign · ∇ₓ (1/K) Σₖ loss(model(x_adv), y)`` over ``K = draws`` calls of the model, and the first outputs.

    Each call of a randomised model is a fresh draw of its randomness, so the average is the expectation over
    transformation (EOT): the gradient of the average loss is the average of the per-draw gradients, computed
    one draw at a time. The outputs of the first call (detached) serve to score the iterate.
    """
    grad, first = None, None
    with torch.enable_grad():
        x_adv = x_adv.detach().requires_grad_(True)
        for _ in range(draws):
            out = model(x_adv)
            loss = F.cross_entropy(out, y) if loss_fn is None else loss_fn(out, y)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError("the loss must be a scalar tensor")
            if not loss.requires_grad:
                raise ValueError("the loss does not depend on x (it carries no gradient); check the model and "
                                 "loss_fn")
            (g,) = torch.autograd.grad(loss, x_adv, allow_unused=True)
            if g is None:
                raise ValueError("the loss does not depend on x (its gradient is undefined); check the model and "
                                 "loss_fn")
            grad = g if grad is None else grad + g
            first = out.detach() if first is None else first
    grad = grad / draws
    return (grad if sign > 0 else -grad), first


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """``‖t_b‖₂`` for each sample, shaped ``(B, 1, …, 1)`` to broadcast against ``t``."""
    return t.reshape(t.shape[0], -1).norm(dim=1).reshape((-1,) + (1,) * (t.ndim - 1))


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    scale = (eps / _per_sample_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    return alpha * grad / _per_sample_norm(grad).clamp_min(1e-12)


def _random_start(x: torch.Tensor, eps: float, norm: str, generator) -> torch.Tensor:
    """A uniform draw from the ε-ball (cube for ``"linf"``, Euclidean ball for ``"l2"``), on x's device."""
    shape, dt = x.shape, x.dtype
    if norm == "linf":
        u = torch.rand(shape, generator=generator, dtype=dt)
        return ((2 * u - 1) * eps).to(x.device)
    z = torch.randn(shape, generator=generator, dtype=dt)
    dim = z[0].numel()
    radius = eps * torch.rand(shape[0], generator=generator, dtype=dt) ** (1.0 / dim)
    direction = z / _per_sample_norm(z).clamp_min(1e-12)
    return (direction * radius.reshape((-1,) + (1,) * (z.ndim - 1))).to(x.device)


def _score(out: torch.Tensor, y: torch.Tensor, targeted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: (the attack succeeds, its objective): misclassified / CE for untargeted attacks, target hit /
    −CE for targeted ones."""
    ce = F.cross_entropy(out, y, reduction="none")
    pred = out.argmax(1)
    return (pred.eq(y), -ce) if targeted else (pred.ne(y), ce)


def _keep_better(best, best_score, cand: torch.Tensor, score):
    """Per sample, keep ``cand`` where it beats ``best``: a success beats a failure, then a higher objective."""
    if best is None:
        return cand.clone(), score
    hit, val = score
    best_hit, best_val = best_score
    better = (hit & ~best_hit) | ((hit == best_hit) & (val > best_val))
    mask = better.reshape((-1,) + (1,) * (cand.ndim - 1))
    return torch.where(mask, cand, best), (torch.where(better, hit, best_hit), torch.where(better, val, best_val))


def _check_pgd_args(alpha, steps, norm, random_start, *, steps_name: str) -> tuple[float, int, bool]:
    """Validate the step size, number of steps, norm and random start of a PGD attack."""
    alpha = check_real("alpha", alpha, min_value=0.0, min_inclusive=False)
    steps = check_int(steps_name, steps, min_value=1)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return alpha, steps, check_bool("random_start", random_start)


def _check_search_args(restarts, keep_best, eot_draws, random_start: bool, loss_fn) -> tuple[int, bool, int]:
    """Validate the restarts, best-iterate tracking and EOT draws of a PGD attack."""
    restarts = check_int("restarts", restarts, min_value=1)
    keep_best = check_bool("keep_best", keep_best)
    eot_draws = check_int("eot_draws", eot_draws, min_value=1)
    if restarts > 1 and not random_start:
        raise ValueError("restarts > 1 needs random_start=True (runs from x are all the same run)")
    if (restarts > 1 or keep_best) and loss_fn is not None:
        raise ValueError("restarts and keep_best choose per sample by prediction and cross-entropy, so they need "
                         "the default loss (loss_fn=None) and class labels y")
    return restarts, keep_best, eot_draws


def _attack(model, x, y, *, eps, alpha, steps, norm, random_start, targeted, lo, hi, loss_fn, generator,
            eot_draws=1, restarts=1, keep_best=False):
    x = x.detach()
    sign = -1.0 if targeted else 1.0
    select = keep_best or restarts > 1
    best, best_score = None, None
    for _ in range(restarts):
        if random_start and eps > 0:
            x_adv = (x + _random_start(x, eps, norm, generator)).clamp(lo, hi)
        else:
            x_adv = x.clone()
        for _ in range(steps):
            grad, out = _input_gradient(model, x_adv, y, loss_fn, sign, eot_draws)
            if keep_best:
                best, best_score = _keep_better(best, best_score, x_adv, _score(out, y, targeted))
            x_adv = x_adv + _step(grad, alpha, norm)
            x_adv = (x + _project(x_adv - x, eps, norm)).clamp(lo, hi)
        if select:
            with torch.no_grad():
                best, best_score = _keep_better(best, best_score, x_adv, _score(model(x_adv), y, targeted))
    return (best if select else x_adv).detach()


# ----------------------------------------------------------------------------------------------- attacks
def fgsm(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False,
         bounds=(0.0, 1.0), loss_fn: Callable | None = None, eot_draws: int = 1) -> torch.Tensor:
    """The fast gradient sign method: ``x' = clip(x + ε·sign ∇ₓℓ(f(x), y))`` (Goodfellow et al. 2015).

    ``ε·sign g`` maximises the linearised loss ``⟨g, δ⟩`` over the ℓ∞ ball ``‖δ‖∞ ≤ ε``
    (see :ref:`chap-adversarial`). With ``targeted=True`` the step descends the loss of the target ``y``.

    It is one step of :func:`pgd` with ``alpha = eps``, ``norm="linf"`` and no random start; the result is
    clipped to ``bounds``.

    Parameters
    ----------
    model, x, y, targeted, bounds, loss_fn, eot_draws
        As in :func:`pgd`.
    eps : float
        Radius of the ℓ∞ ball (≥ 0).

    Returns
    -------
    torch.Tensor
        The adversarial batch, with x's shape, dtype and device.
    """
    eps, lo, hi, targeted = _check_attack_args(model, x, y, eps, bounds, loss_fn, targeted)
    eot_draws = check_int("eot_draws", eot_draws, min_value=1)
    return _attack(model, x, y, eps=eps, alpha=eps, steps=1, norm="linf", random_start=False, targeted=targeted,
                   lo=lo, hi=hi, loss_fn=loss_fn, generator=None, eot_draws=eot_draws)


def pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int, *, norm: str = "linf",
        random_start: bool = False, restarts: int = 1, keep_best: bool = False, eot_draws: int = 1,
        targeted: bool = False, bounds=(0.0, 1.0), loss_fn: Callable | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent on the attack objective (Madry et al. 2018).

    Each step moves ``α·sign g`` (``"linf"``) or ``α·g/‖g‖₂`` per sample (``"l2"``), projects the perturbation
    onto the ε-ball around ``x`` and clips to ``bounds``. See :ref:`chap-adversarial`.

    **The defaults are the plain iteration**: start at ``x``, one run, return the last iterate (torchattacks'
    ``PGD(random_start=False)``). This is weaker than the evaluation of Madry et al., who start from random
    points of the ball and keep the best of several restarts: pass ``random_start=True``, ``restarts=R`` and
    ``keep_best=True`` for that. The selection is per sample: among the candidates (the last iterate of each
    run, or with ``keep_best`` every iterate ``x⁽⁰⁾, …, x⁽ᵀ⁾`` of every run) it returns one on which the attack
    succeeds (untargeted: misclassified; targeted: classified as the target) if there is one, else the one of
    highest cross-entropy of ``y`` (targeted: lowest cross-entropy of the target). Hence, by construction, the
    attack succeeds on a sample whenever one of its candidates does: with ``keep_best`` more steps or more
    restarts (with the same random starts) can only add successes, and a run from ``x`` never does worse than
    ``x`` itself. Nothing makes PGD at least as strong as :func:`fgsm`: FGSM's point ``x + ε sign g`` is not a
    candidate unless ``alpha = eps``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps ``(B, …)`` inputs to outputs the loss accepts (logits ``(B, C)`` for the default loss).
    x : torch.Tensor
        Clean inputs ``(B, …)``, floating, inside ``bounds``.
    y : torch.Tensor
        ``(B,)`` int64 labels (true labels, or targets when ``targeted``); any ``(B, …)`` with ``loss_fn``.
    eps : float
        Radius of the threat model (≥ 0).
    alpha : float
        Step size (> 0).
    steps : int
        Number of steps per run (≥ 1).
    norm : str
        ``"linf"`` or ``"l2"``.
    random_start : bool
        Start each run from a uniform draw in the ε-ball (clipped to ``bounds``) instead of ``x``.
    restarts : int
        Number of runs (≥ 1; > 1 needs ``random_start``); the best per sample is returned.
    keep_best : bool
        Choose among all iterates of all runs, not only the last ones. With a randomised model the choice
        uses one draw of the model per candidate.
    eot_draws : int
        Expectation over transformation (≥ 1): the objective of each step is the average of the loss over
        ``eot_draws`` calls of the model, each a fresh draw of a randomised model's randomness, and its gradient
        the average of the per-draw gradients (Athalye et al. 2018). ``1`` for deterministic models.
    targeted : bool
        Descend the target's loss instead of ascending the true label's.
    bounds : tuple of float
        ``(lo, hi)``, the input domain.
    loss_fn : callable, optional
        ``loss_fn(outputs, y) -> scalar``; default: mean cross-entropy. Not with ``restarts > 1`` or
        ``keep_best``.
    generator : torch.Generator, optional
        A CPU generator for the random starts (drawn run after run).

    Returns
    -------
    torch.Tensor
        The adversarial batch, with x's shape, dtype and device.
    """
    eps, lo, hi, targeted = _check_attack_args(model, x, y, eps, bounds, loss_fn, targeted)
    alpha, steps, random_start = _check_pgd_args(alpha, steps, norm, random_start, steps_name="steps")
    restarts, keep_best, eot_draws = _check_search_args(restarts, keep_best, eot_draws, random_start, loss_fn)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return _attack(model, x, y, eps=eps, alpha=alpha, steps=steps, norm=norm, random_start=random_start,
                   targeted=targeted, lo=lo, hi=hi, loss_fn=loss_fn, generator=generator, eot_draws=eot_draws,
                   restarts=restarts, keep_best=keep_best)


# ----------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Predicted classes ``argmax_c f(x)_c`` as int64 ``(B,)``, computed in batches without gradients."""
    check_tensor("x", x, floating=True)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def robust_accuracy(model, x: torch.Tensor, y: torch.Tensor, eps_list: Sequence[float], *, attack: str = "pgd",
                    alpha_fraction: float = 0.25, steps: int = 20, norm: str = "linf", random_start: bool = False,
                    restarts: int = 1, keep_best: bool = False, bounds=(0.0, 1.0),
                    generator: torch.Generator | None = None, per_sample: bool = False) -> np.ndarray:
    """Accuracy under attack at each radius of ``eps_list`` (the robust-accuracy curve).

    The defaults are those of :func:`pgd` (the plain iteration, weaker than Madry et al.'s evaluation); pass
    ``random_start=True, restarts=R, keep_best=True`` for the stronger protocol.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The classifier (logits ``(B, C)``).
    x, y : torch.Tensor
        Inputs ``(B, …)`` inside ``bounds`` and int64 labels ``(B,)``.
    eps_list : sequence of float
        Radii (≥ 0); ``0`` gives the clean accuracy.
    attack : str
        ``"fgsm"`` or ``"pgd"``.
    alpha_fraction : float
        PGD's step is ``alpha_fraction · ε`` (> 0).
    steps : int
        PGD's number of steps.
    norm, random_start, restarts, keep_best, bounds, generator
        As in :func:`pgd` (``"fgsm"`` is always ℓ∞ and ignores them).
    per_sample : bool
        Return the correctness of every sample instead of the accuracy: two attacks (or two models) on the same
        points are then compared with the standard error of the per-sample differences (paired).

    Returns
    -------
    numpy.ndarray
        ``(len(eps_list),)`` accuracies in ``[0, 1]`` (the binomial standard error of each is
        ``sqrt(a(1 − a)/B)``), or with ``per_sample`` a ``(len(eps_list), B)`` array of 0.0/1.0.
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    eps_values = [check_real("eps_list[i]", e, min_value=0.0) for e in eps_list]
    if not eps_values:
        raise ValueError("eps_list must hold at least one radius")
    alpha_fraction = check_real("alpha_fraction", alpha_fraction, min_value=0.0, min_inclusive=False)
    per_sample = check_bool("per_sample", per_sample)
    rows = []
    for eps in eps_values:
        if eps == 0:
            x_adv = x
            _check_attack_args(model, x, y, 0.0, bounds, None, False)
        elif attack == "fgsm":
            x_adv = fgsm(model, x, y, eps, bounds=bounds)
        else:
            x_adv = pgd(model, x, y, eps, alpha_fraction * eps, steps, norm=norm, random_start=random_start,
                        restarts=restarts, keep_best=keep_best, bounds=bounds, generator=generator)
        rows.append(predict(model, x_adv).eq(y).double().cpu().numpy())
    correct = np.stack(rows)
    return correct if per_sample else correct.mean(1)


def attack_success_rate(model, x_adv: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
                        x: torch.Tensor | None = None) -> float:
    """Fraction of samples on which an attack succeeds, untargeted or targeted, over a stated population.

    ``y`` holds the **true labels** in both cases. Untargeted (``target=None``): the attack succeeds on a sample
    when the prediction at ``x_adv`` differs from ``y``. Targeted: when it equals ``target`` (which must differ
    from ``y`` on every sample).

    The population: when the clean inputs ``x`` are given, the samples the model classifies correctly at ``x``
    (the same population for both kinds of attack, so that the model's own errors are not credited to the
    attack and a targeted and an untargeted rate on the same ``x`` count the same points); otherwise every
    sample (the untargeted rate is then one minus the accuracy at ``x_adv``). On one ``x_adv`` the targeted rate
    is at most the untargeted one, since hitting a target ``≠ y`` is a misclassification.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The classifier (logits ``(B, C)``).
    x_adv : torch.Tensor
        The attacked inputs ``(B, …)``.
    y : torch.Tensor
        ``(B,)`` int64 true labels.
    target : torch.Tensor, optional
        ``(B,)`` int64 targets of a targeted attack, ``target ≠ y``.
    x : torch.Tensor, optional
        The clean inputs ``(B, …)``, to restrict the count to the correctly classified samples.

    Returns
    -------
    float
        In ``[0, 1]``; ``nan`` when no sample counts.
    """
    check_tensor("x_adv", x_adv, floating=True)
    check_tensor("y", y, ndim=1, floating=False)
    if y.shape[0] != x_adv.shape[0]:
        raise ValueError(f"y must have one label per input ({x_adv.shape[0]}), got {tuple(y.shape)}")
    pred = predict(model, x_adv)
    if target is None:
        success = pred.ne(y)
    else:
        check_tensor("target", target, ndim=1, floating=False)
        if target.shape != y.shape:
            raise ValueError(f"target must have one label per input, shape {tuple(y.shape)}, got "
                             f"{tuple(target.shape)}")
        if bool(target.eq(y).any()):
            raise ValueError("target must differ from the true label y on every sample")
        success = pred.eq(target)
    if x is not None:
        check_tensor("x", x, floating=True)
        if x.shape != x_adv.shape:
            raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
        success = success[predict(model, x).eq(y)]
    return success.double().mean().item() if success.numel() else math.nan


# ----------------------------------------------------------------------------------------------- minimal perturbations
def _check_classifier_args(model, x, y, bounds, targeted):
    """Validate a minimal-perturbation attack's model, batch, labels and bounds (labels must be int64)."""
    _, lo, hi, targeted = _check_attack_args(model, x, y, 0.0, bounds, None, targeted)
    return lo, hi, targeted


def _logits(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``model(x)`` checked to be ``(B, C)`` logits with ``C ≥ 2`` and every label ``< C``."""
    z = model(x)
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] != x.shape[0] or z.shape[1] < 2:
        raise ValueError(f"the model must return logits (B, C) with C >= 2, got "
                         f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    if int(y.min()) < 0 or int(y.max()) >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got values in [{int(y.min())}, {int(y.max())}]")
    return z


def _margin(z: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per sample, how far the attack is from success: ``Z_y − max_{j≠y} Z_j`` (untargeted) or
    ``max_{j≠t} Z_j − Z_t`` (targeted, ``y = t``). The attack has succeeded when it is ``< 0``."""
    own = z.gather(1, y[:, None])[:, 0]
    others = z.scatter(1, y[:, None], -math.inf).amax(1)
    return others - own if targeted else own - others


def carlini_wagner_l2(model, x: torch.Tensor, y: torch.Tensor, *, c: float = 1e-2, steps: int = 1000,
                      lr: float = 1e-2, binary_search_steps: int = 9, kappa: float = 0.0,
                      targeted: bool = False, bounds=(0.0, 1.0)) -> torch.Tensor:
    """The ℓ2 attack of Carlini & Wagner (2017): the smallest perturbation found that changes the class.

    The minimal-perturbation problem ``min ‖δ‖₂ s.t. the class of x + δ is not y, lo ≤ x + δ ≤ hi`` is relaxed
    to the penalised problem (see :ref:`chap-adversarial`)

        ``min_w  ‖x'(w) − x‖₂² + c · max(Z_y(x') − max_{j≠y} Z_j(x'), −κ)``,
        ``x'(w) = lo + (hi − lo)(tanh w + 1)/2``,

    where ``Z`` are the logits (their margin is the loss f₆ of the paper). The change of variables makes every
    ``w`` give a point of the box, so the problem is unconstrained; it is solved by ``steps`` steps of Adam on
    ``w`` (β = (0.9, 0.999), started at ``x``). A **binary search on c**, per sample, finds the smallest
    penalty that still succeeds: after a search round the sample's ``c`` is halved towards the largest
    failing value if the round succeeded, and bisected (or multiplied by 10 while no round has succeeded)
    otherwise. Over all steps of all rounds the attack keeps, per sample, the successful iterate (``Z_y + κ <
    max_{j≠y} Z_j``, hence misclassified) of smallest ``‖x' − x‖₂``.

    With ``targeted=True``, ``y`` holds the targets and the margin is ``max_{j≠t} Z_j − Z_t``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps ``(B, …)`` inputs to logits ``(B, C)``, ``C ≥ 2``, each sample's logits depending only on that
        sample (BatchNorm in train mode breaks this). Its train/eval mode is left as it is.
    x : torch.Tensor
        Clean inputs ``(B, …)``, floating, inside ``bounds``.
    y : torch.Tensor
        ``(B,)`` int64 true labels (targets when ``targeted``).
    c : float
        Initial penalty (> 0), the same for every sample.
    steps : int
        Adam steps per search round (≥ 1).
    lr : float
        Adam's step size on ``w`` (> 0). Each coordinate of ``w`` moves by about ``lr`` per step, so ``x'``
        moves by at most about ``lr · (hi − lo)/2`` per coordinate.
    binary_search_steps : int
        Number of search rounds on ``c`` (≥ 1).
    kappa : float
        Confidence κ ≥ 0: success needs the margin below ``−κ``.
    targeted : bool
        Reach the class ``y`` instead of leaving it.
    bounds : tuple of float
        ``(lo, hi)``, the input domain. Inputs on the boundary start a hair inside it (``tanh`` never reaches
        ±1): at relative distance ``1e-6`` for float64 inputs, ``1e-4`` for lower precision.

    Returns
    -------
    torch.Tensor
        ``(B, …)`` with x's shape, dtype and device: per sample, the successful point of smallest ℓ2 distance
        to ``x``, and **the clean input x itself where the attack failed** (so a failure shows as a zero
        perturbation that is still classified ``y``; check with :func:`predict`). An input that is already
        misclassified is returned at (nearly) zero distance.
    """
    lo, hi, targeted = _check_classifier_args(model, x, y, bounds, targeted)
    c = check_real("c", c, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    binary_search_steps = check_int("binary_search_steps", binary_search_steps, min_value=1)
    kappa = check_real("kappa", kappa, min_value=0.0)
    x = x.detach()
    B = x.shape[0]
    squeeze = 1e-6 if x.dtype == torch.float64 else 1e-4          # keep atanh finite on the boundary
    w0 = torch.atanh(((x - lo) / (hi - lo) * 2 - 1).clamp(-1 + squeeze, 1 - squeeze))
    const = torch.full((B,), c, dtype=x.dtype, device=x.device)
    lower = torch.zeros_like(const)
    upper = torch.full_like(const, math.inf)
    best = x.clone()
    best_l2 = torch.full_like(const, math.inf)
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    with torch.enable_grad():
        for _ in range(binary_search_steps):
            w = w0.clone()
            m, v = torch.zeros_like(w), torch.zeros_like(w)
            round_success = torch.zeros(B, dtype=torch.bool, device=x.device)
            for t in range(1, steps + 1):
                w.requires_grad_(True)
                x_new = lo + (hi - lo) * (torch.tanh(w) + 1) / 2
                l2 = (x_new - x).reshape(B, -1).pow(2).sum(1)         # ‖x' − x‖₂², per sample
                margin = _margin(_logits(model, x_new, y), y, targeted)
                loss = (l2 + const * margin.clamp_min(-kappa)).sum()
                (g,) = torch.autograd.grad(loss, w)
                with torch.no_grad():                                 # keep the best success so far
                    success = margin < -kappa
                    better = success & (l2 < best_l2)
                    best_l2 = torch.where(better, l2, best_l2)
                    best = torch.where(better.reshape((-1,) + (1,) * (x.ndim - 1)), x_new, best)
                    round_success |= success
                    m = beta1 * m + (1 - beta1) * g                   # Adam on w
                    v = beta2 * v + (1 - beta2) * g * g
                    step = (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + adam_eps)
                    w = w.detach() - lr * step
            # the binary search on c: smaller after a success, larger after a failure
            upper = torch.where(round_success, torch.minimum(upper, const), upper)
            lower = torch.where(round_success, lower, torch.maximum(lower, const))
            const = torch.where(torch.isfinite(upper), (lower + upper) / 2, const * 10)
    return best.detach()


def deepfool(model, x: torch.Tensor, y: torch.Tensor, *, steps: int = 50, overshoot: float = 0.02,
             bounds=(0.0, 1.0)) -> torch.Tensor:
    """DeepFool, multi-class ℓ2 version (Moosavi-Dezfooli et al. 2016): step to the nearest linearised boundary.

    At the current point ``x_i`` each rival class ``k ≠ y`` has the margin ``f_k = Z_k − Z_y < 0`` and its
    gradient ``w_k = ∇Z_k − ∇Z_y``; the linearised boundary of class ``k`` is at distance ``|f_k| / ‖w_k‖₂``.
    The attack takes the nearest one, ``l``, and the step ``r_i = (|f_l| / ‖w_l‖₂ + ξ) · w_l / ‖w_l‖₂`` that
    reaches it and goes ``ξ = 10⁻⁴ (hi − lo)`` beyond (the paper's ``10⁻⁴``: without it an iterate whose
    step is eaten by the clipping can stall on the boundary); the steps add up to ``r = Σ r_i`` and the next
    point is ``x_{i+1} = clip(x + (1 + overshoot)·r)``. It stops on each sample as soon as the sample is
    misclassified. For an affine classifier the linearisation is exact, so, where the bounds do not bind, one
    step reaches the nearest boundary and the result is at distance exactly ``(1 + overshoot)(D + ξ)`` from
    ``x``, ``D`` the minimal distance (see :ref:`chap-adversarial`).

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps ``(B, …)`` inputs to logits ``(B, C)``, ``C ≥ 2``, each sample's logits depending only on that
        sample. Its train/eval mode is left as it is. Each step costs ``C`` gradient evaluations.
    x : torch.Tensor
        Clean inputs ``(B, …)``, floating, inside ``bounds``.
    y : torch.Tensor
        ``(B,)`` int64 labels to move away from (the true labels; the paper uses the clean prediction).
    steps : int
        Maximal number of linearisation steps (≥ 1).
    overshoot : float
        ``η ≥ 0``: the accumulated step is multiplied by ``1 + η``, to land across the boundary rather than
        on it.
    bounds : tuple of float
        ``(lo, hi)``, the input domain; every iterate is clipped to it.

    Returns
    -------
    torch.Tensor
        ``(B, …)`` with x's shape, dtype and device: per sample, the first iterate that is misclassified
        (``x`` itself if it already is), or **the last iterate where the attack failed** within ``steps``
        (check with :func:`predict`).
    """
    lo, hi, _ = _check_classifier_args(model, x, y, bounds, False)
    steps = check_int("steps", steps, min_value=1)
    overshoot = check_real("overshoot", overshoot, min_value=0.0)
    x = x.detach()
    B = x.shape[0]
    push = 1e-4 * (hi - lo)                # the paper's extra 1e-4: progress even where clipping bites
    r_total = torch.zeros_like(x)
    x_i = x.clone()
    with torch.enable_grad():
        for _ in range(steps):
            x_var = x_i.detach().requires_grad_(True)
            z = _logits(model, x_var, y)
            active = z.argmax(1).eq(y)                      # still classified y: keep going
            if not bool(active.any()):
                break
            grads = torch.stack([torch.autograd.grad(z[:, k].sum(), x_var, retain_graph=True)[0]
                                 for k in range(z.shape[1])], 1)            # (B, C, …)
            with torch.no_grad():
                f = z - z.gather(1, y[:, None])                              # f_k = Z_k − Z_y
                w = (grads - grads[torch.arange(B), y][:, None]).reshape(B, z.shape[1], -1)
                w_norm = w.norm(dim=2)
                dist = f.abs() / w_norm.clamp_min(1e-30)
                dist.scatter_(1, y[:, None], math.inf)                       # k = y is no rival
                l = dist.argmin(1)
                w_l, f_l = w[torch.arange(B), l], f[torch.arange(B), l]
                w_l_norm = w_norm[torch.arange(B), l].clamp_min(1e-30)
                r = ((f_l.abs() / w_l_norm + push) / w_l_norm)[:, None] * w_l
                r_total += torch.where(active[:, None], r, 0.0).reshape(x.shape)
                x_i = (x + (1 + overshoot) * r_total).clamp(lo, hi)
    return x_i.detach()


# ----------------------------------------------------------------------------------------------- training
def _attack_in_eval_mode(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, **attack) -> torch.Tensor:
    """Attack ``model`` in eval mode (BatchNorm uses, and does not update, its running statistics; dropout is
    off), then restore its train/eval mode."""
    was_training = model.training
    model.eval()
    try:
        return _attack(model, xb, yb, **attack)
    finally:
        model.train(was_training)


def adversarial_training(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, alpha: float,
                         attack_steps: int, norm: str = "linf", random_start: bool = True, bounds=(0.0, 1.0),
                         attack_seed: int = 0, **train_kwargs) -> History:
    """Madry's min–max training: each minibatch is replaced by its PGD attack before the update.

    Solves ``min_θ E max_{‖δ‖ ≤ ε} ℓ(f_θ(x + δ), y)`` approximately: the inner maximum by :func:`pgd` (from a
    random start by default, last iterate), the outer minimum by :func:`dltnotes.training.train` through its
    ``batch_transform`` hook. The attack sees the model in **eval mode** (as torchattacks does): its forward
    passes neither update BatchNorm's running statistics nor use dropout; the model's mode is restored before
    the update, which runs in train mode. See :ref:`chap-adversarial-training`.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier to train (in place).
    x, y : torch.Tensor
        Training inputs ``(n, …)`` inside ``bounds`` and int64 labels ``(n,)``.
    eps, alpha, attack_steps, norm, random_start, bounds
        The inner attack, as in :func:`pgd`.
    attack_seed : int
        Seed of the random starts.
    **train_kwargs
        Passed to :func:`dltnotes.training.train` (``lr``, ``steps``, ``batch_size``, ``optimizer``, …); the loss
        is cross-entropy.

    Returns
    -------
    History
        The training history (its losses and accuracies are on the *clean* training set).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    eps, lo, hi, _ = _check_attack_args(model, x, y, eps, bounds, None, False)
    alpha, attack_steps, random_start = _check_pgd_args(alpha, attack_steps, norm, random_start,
                                                        steps_name="attack_steps")
    attack_seed = check_int("attack_seed", attack_seed, min_value=0)
    if "loss" in train_kwargs or "batch_transform" in train_kwargs:
        raise ValueError("adversarial_training sets the loss (cross-entropy) and the batch_transform itself")
    gen = torch.Generator().manual_seed(attack_seed)

    def attack_batch(m, xb, yb):
        return _attack_in_eval_mode(m, xb, yb, eps=eps, alpha=alpha, steps=attack_steps, norm=norm,
                                    random_start=random_start, targeted=False, lo=lo, hi=hi, loss_fn=None,
                                    generator=gen)

    return train(model, x, y, loss="cross_entropy", batch_transform=attack_batch, **train_kwargs)


# ----------------------------------------------------------------------------------------------- a masked "defence"
class QuantizedInput(nn.Module):
    """A gradient-masking "defence": classify a quantised copy of the input (Athalye et al. 2018).

    Each pixel in ``[0, 1]`` is mapped to ``floor(levels · x + u) / levels`` with ``u = ½`` (rounding to the
    nearest of ``levels + 1`` values) or, with ``dither=True``, ``u ~ Uniform[0, 1)`` drawn afresh for every
    pixel and every call (a randomised quantiser whose output has mean ``x``). The quantiser's derivative is zero
    almost everywhere, so plain gradient attacks see no gradient at all.

    The attacker's tools: ``straight_through=True`` uses BPDA (backward pass differentiable approximation):
    the forward pass is unchanged but the backward pass treats the quantiser as the identity. Against the
    randomised quantiser, expectation over transformation (EOT) is a property of the attack, not of the model:
    ``pgd(..., eot_draws=K)`` averages the loss over ``K`` calls, each a fresh dither. See
    :ref:`chap-adversarial-training`.

    The output is the model's output (logits ``(B, C)``) on the quantised input.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier behind the quantiser (logits ``(B, C)``).
    levels : int
        Number of quantisation steps (≥ 1); the quantised pixels take ``levels + 1`` values.
    dither : bool
        Randomise the quantiser.
    straight_through : bool
        Differentiate the quantiser as the identity (BPDA).
    generator : torch.Generator, optional
        CPU generator of the dithers.
    """

    def __init__(self, model: nn.Module, levels: int, *, dither: bool = False, straight_through: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.levels = check_int("levels", levels, min_value=1)
        self.dither = check_bool("dither", dither)
        self.straight_through = check_bool("straight_through", straight_through)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self.generator = generator

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """The quantised input, same shape as ``x`` (one dither draw when ``dither``)."""
        if self.dither:
            u = torch.rand(x.shape, generator=self.generator, dtype=x.dtype).to(x.device)
        else:
            u = torch.full_like(x, 0.5)
        q = (torch.floor(self.levels * x + u) / self.levels).clamp(0.0, 1.0)
        return x + (q - x).detach() if self.straight_through else q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs ``(B, C)`` on the quantised input (one dither draw per call when ``dither``)."""
        return self.model(self.quantize(x))


# ----------------------------------------------------------------------------------------------- a gradient-free attack
def _window_side(p_init: float, query: int, queries: int, area: int, side_max: int) -> int:
    """Side of the square window at ``query`` (0-based): it covers a fraction ``p`` of the image, ``p`` halving
    at the fractions 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8 of the query budget (the schedule of
    Andriushchenko et al. 2020 for 10,000 queries, rescaled)."""
    halvings = sum(query >= f * queries for f in (0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8))
    p = p_init / 2 ** halvings
    return int(min(side_max, max(1, round(math.sqrt(p * area)))))


@torch.no_grad()
def square_attack(model, x: torch.Tensor, y: torch.Tensor, eps: float, queries: int, *,
                  image_shape: Sequence[int] | None = None, p_init: float = 0.3, bounds=(0.0, 1.0),
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A simplified Square Attack for the ℓ∞ ball: random search over the vertices, without gradients.

    The attack of Andriushchenko et al. (2020), simplified: it starts at a random vertex of the ball,
    ``x' = clip(x + ε·s)`` with independent signs ``s = ±1``, and at each query re-draws the signs of one random
    square window (the same position for all channels of a sample, independent signs per channel and pixel).
    The proposal is kept, per sample, when it increases the margin loss ``max_{j≠y} z_j − z_y`` of the logits
    ``z``; the attack has succeeded on a sample once its margin is positive, and later queries only increase it.
    The window covers a fraction ``p`` of the image that starts at ``p_init`` and halves on the paper's schedule,
    down to a single pixel. Each query costs one forward pass of the batch and no gradient: the attack sees
    only the model's outputs, so masked gradients do not stop it (:ref:`chap-adversarial-training`). It works
    entirely on the vertices ``x ± ε`` (clipped), where the maximum of a linear margin lies.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps ``(B, …)`` inputs to logits ``(B, C)``, ``C ≥ 2``.
    x : torch.Tensor
        Clean inputs ``(B, …)``, floating, inside ``bounds``.
    y : torch.Tensor
        ``(B,)`` int64 true labels.
    eps : float
        Radius of the ℓ∞ ball (≥ 0).
    queries : int
        Number of proposals (≥ 0); the attack makes ``queries + 1`` forward passes of the batch.
    image_shape : sequence of int, optional
        The shape of one sample seen as an image, ``(H, W)`` or ``(C, H, W)``, with as many entries as a sample
        of ``x`` (e.g. ``(8, 8)`` for flattened 8×8 digits). Default: the shape of one sample, which must then
        have 2 or 3 dimensions.
    p_init : float
        Initial fraction of the image covered by the window, in ``(0, 1]``.
    bounds : tuple of float
        ``(lo, hi)``, the input domain.
    generator : torch.Generator, optional
        CPU generator of all the random draws (the same generator state gives the same result).

    Returns
    -------
    torch.Tensor
        The adversarial batch, with x's shape, dtype and device; ``‖x' − x‖∞ ≤ ε`` and ``lo ≤ x' ≤ hi``.
    """
    eps, lo, hi, _ = _check_attack_args(model, x, y, eps, bounds, None, False)
    queries = check_int("queries", queries, min_value=0)
    p_init = check_real("p_init", p_init, min_value=0.0, max_value=1.0, min_inclusive=False)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    shape = tuple(x.shape[1:]) if image_shape is None else tuple(image_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (C, H, W), got {shape}")
    shape = tuple(check_int("image_shape[i]", s, min_value=1) for s in shape)
    if math.prod(shape) != x[0].numel():
        raise ValueError(f"image_shape {shape} does not hold the {x[0].numel()} entries of one sample")
    img = (1,) * (3 - len(shape)) + shape                   # (C, H, W)
    n, (c, h, w) = x.shape[0], img
    x = x.detach()
    xi = x.reshape(n, *img)

    def signs(*size):                                      # independent ±1, on x's device
        return (2 * torch.randint(0, 2, size, generator=generator) - 1).to(x.device, x.dtype)

    def margin_of(xv):
        return -_margin(model(xv.reshape(x.shape)), y, False)   # > 0 once misclassified

    x_adv = (xi + eps * signs(n, c, h, w)).clamp(lo, hi)   # a random vertex
    best = margin_of(x_adv)
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    for q in range(queries):
        side = _window_side(p_init, q, queries, h * w, min(h, w))
        r = torch.randint(0, h - side + 1, (n,), generator=generator).to(x.device)
        s = torch.randint(0, w - side + 1, (n,), generator=generator).to(x.device)
        in_r = (rows >= r[:, None]) & (rows < r[:, None] + side)           # (n, H)
        in_c = (cols >= s[:, None]) & (cols < s[:, None] + side)           # (n, W)
        window = (in_r[:, :, None] & in_c[:, None, :])[:, None]            # (n, 1, H, W)
        proposal = torch.where(window, (xi + eps * signs(n, c, h, w)).clamp(lo, hi), x_adv)
        m = margin_of(proposal)
        better = m > best
        x_adv = torch.where(better[:, None, None, None], proposal, x_adv)
        best = torch.where(better, m, best)
    return x_adv.reshape(x.shape)
