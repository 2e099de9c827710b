"""deepinv-jitter: SGD jittering for unrolled reconstruction networks, as a DeepInverse plugin.

SGD jittering (Guan & Davenport, ICML 2025) injects fresh Gaussian noise into every iteration of an
unrolled network while it trains, and never at evaluation. This package provides the jittering
iterators for deepinv's unfolded GD and PGD, a :class:`JitterTrainer` with the paper's four training
modes, a seismic deconvolution physics, and robustness evaluation.
"""

from .__about__ import __version__
from .optim.jitter import JitterGDIteration, JitterPGDIteration, jitterize
from .physics.seismic import SeismicDeconvolution, ricker
from .training.trainer import JitterTrainer

__all__ = [
    "__version__",
    "JitterTrainer",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "SeismicDeconvolution",
    "ricker",
]
