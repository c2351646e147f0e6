"""dltnotes — the code behind *Deep Learning Theory, executable*.

Small modules by topic, each readable top to bottom:

* :mod:`dltnotes.runtime` — :func:`~dltnotes.runtime.device`, :func:`~dltnotes.runtime.seed_everything`, :func:`~dltnotes.runtime.progress`;
* :mod:`dltnotes.data` — the bundled digits and synthetic data;
* :mod:`dltnotes.book` — :func:`~dltnotes.book.claim` (checked claims for the ledger) and :func:`~dltnotes.book.glue`;
* :mod:`dltnotes.features` — random features and minimum-norm least squares;
* :mod:`dltnotes.stats` — Monte Carlo standard errors and log–log slopes;
* :mod:`dltnotes.training` — the MLP and the training loop;
* :mod:`dltnotes.kernels` — NNGP/NTK kernels, the empirical NTK, kernel regression and kernel flow;
* :mod:`dltnotes.plotting` — the book's figure style.
"""

from . import book, data, features, kernels, plotting, stats, training
from .book import claim, glue
from .runtime import device, progress, seed_everything

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "book",
    "claim",
    "data",
    "device",
    "features",
    "glue",
    "kernels",
    "plotting",
    "progress",
    "seed_everything",
    "stats",
    "training",
]
