"""deepinv-jitter: SGD jittering for unrolled reconstruction networks, as a DeepInverse plugin.

SGD jittering (Guan & Davenport, ICML 2025) injects fresh Gaussian noise into every iteration of an
unrolled network while it trains, and never at evaluation. This package provides the jittering
hook for deepinv's unfolded algorithms (GD, PGD, FISTA, HQS, DRS, ADMM, PDCP, DEQ), a
:class:`JitterTrainer` with the paper's training modes composed from perturbations, a seismic
deconvolution physics, and robustness evaluation.
"""

from .__about__ import __version__
from .optim.jitter import JitterGDIteration, JitterPGDIteration, jitterize, strip_jitter
from .physics.seismic import SeismicDeconvolution, ricker
from .training.trainer import JitterTrainer

__all__ = [
    "__version__",
    "JitterTrainer",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "strip_jitter",
    "SeismicDeconvolution",
    "ricker",
]
