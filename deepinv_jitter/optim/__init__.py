"""Jittering iterators for deepinv's unfolded optimisation algorithms."""

from .jitter import JitterGDIteration, JitterPGDIteration, jitterize

__all__ = ["JitterGDIteration", "JitterPGDIteration", "jitterize"]
