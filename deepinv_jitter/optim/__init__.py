"""SGD jittering for deepinv's unfolded optimisation algorithms: the noise rule and its hook."""

from .jitter import (
    SUPPORTED_ALGORITHMS,
    IterateNoise,
    JitterGDIteration,
    JitterPGDIteration,
    jitterize,
    strip_jitter,
)

__all__ = [
    "IterateNoise",
    "JitterGDIteration",
    "JitterPGDIteration",
    "SUPPORTED_ALGORITHMS",
    "jitterize",
    "strip_jitter",
]
