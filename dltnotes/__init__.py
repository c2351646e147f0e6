"""dltnotes — the code behind *Deep Learning Theory, executable*.

Small modules by topic, each readable top to bottom:

* :mod:`dltnotes.runtime` — :func:`~dltnotes.runtime.device`, :func:`~dltnotes.runtime.seed_everything`, :func:`~dltnotes.runtime.progress`;
* :mod:`dltnotes.data` — the bundled digits and synthetic data;
* :mod:`dltnotes.book` — the typed checks (:func:`~dltnotes.book.check_exact`, :func:`~dltnotes.book.check_symbolic`,
  :func:`~dltnotes.book.check_close`, :func:`~dltnotes.book.check_slope`, :func:`~dltnotes.book.check_less`),
  :func:`~dltnotes.book.claim` and :func:`~dltnotes.book.glue`;
* :mod:`dltnotes.features` — random features and minimum-norm least squares;
* :mod:`dltnotes.stats` — Monte Carlo standard errors and log–log slopes;
* :mod:`dltnotes.training` — the MLP and the training loop;
* :mod:`dltnotes.optimization` — curvature, PL constants, max-margin directions, gradient-descent paths;
* :mod:`dltnotes.theory` — closed forms of generalisation theory (weak-features risk, Rademacher complexity,
  memorisation);
* :mod:`dltnotes.kernels` — infinite-width and empirical neural tangent kernels, kernel regression and flow;
* :mod:`dltnotes.attacks` — FGSM, PGD, robust accuracy and adversarial training;
* :mod:`dltnotes.certify` — certified robustness: interval bound propagation, certified accuracy, IBP training;
* :mod:`dltnotes.concentration` — concentration of measure on the sphere and the cube;
* :mod:`dltnotes.adaptive` — AdaGrad, RMSProp and Adam on least squares, and the data set on which they
  generalise badly;
* :mod:`dltnotes.linear_nets` — deep linear networks: Saxe's closed form, the exact map of gradient descent,
  mode tracking and the hierarchical data set;
* :mod:`dltnotes.shallow1d` — shallow ReLU networks on the line: representational cost, min-norm splines;
* :mod:`dltnotes.implicit` — implicit (equilibrium) models, their well-posedness and gradients, equilibrium
  propagation;
* :mod:`dltnotes.expressivity` — sawtooth and Yarotsky networks, exact activation breakpoints on a line;
* :mod:`dltnotes.symmetry` — symmetries of a loss, conserved quantities and their exact per-step change;
* :mod:`dltnotes.memorisation` — the Gram matrix H^∞ of a wide two-layer ReLU net, exact permutation means of
  label quadratic forms, the Arora et al. complexity bound;
* :mod:`dltnotes.bounds` — spectral complexity, normalised margins and the spectrally-normalised margin bound;
* :mod:`dltnotes.interp` — random projections and Fourier features, Gaussian and Laplace kernels,
  interpolating nearest neighbours;
* :mod:`dltnotes.factorization` — implicit bias of factorised models: diagonal networks, matrix sensing, the
  convex programmes (LP, entropy projection, minimum-trace SDP) that name their limits;
* :mod:`dltnotes.shift` — covariate shift: Gaussian moments and population fits, importance weights, effective
  sample size and the Rényi-2 term, total variation and domain classifiers;
* :mod:`dltnotes.autoencoders` — linear autoencoders by gradient descent, principal angles, projectors onto
  the span of the training set, Jacobian spectral radii and iterated maps;
* :mod:`dltnotes.explain` — exact Shapley values, Kernel SHAP and LIME for a model against a baseline;
* :mod:`dltnotes.plotting` — the book's figure style.
"""

from . import (adaptive, attacks, autoencoders, book, bounds, certify, concentration, data, explain,
               expressivity, factorization, features, implicit, interp, kernels, linear_nets, memorisation,
               optimization, plotting, shallow1d, shift, stats, symmetry, theory, training)
from .book import (ClaimFailed, check_close, check_exact, check_less, check_slope, check_symbolic, claim,
                   expect_failure, glue)
from .runtime import device, progress, seed_everything

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "adaptive",
    "attacks",
    "autoencoders",
    "book",
    "bounds",
    "certify",
    "check_close",
    "check_exact",
    "check_less",
    "check_slope",
    "check_symbolic",
    "claim",
    "ClaimFailed",
    "expect_failure",
    "explain",
    "expressivity",
    "concentration",
    "factorization",
    "data",
    "device",
    "features",
    "glue",
    "implicit",
    "interp",
    "kernels",
    "linear_nets",
    "memorisation",
    "optimization",
    "plotting",
    "progress",
    "seed_everything",
    "shallow1d",
    "shift",
    "stats",
    "symmetry",
    "theory",
    "training",
]
