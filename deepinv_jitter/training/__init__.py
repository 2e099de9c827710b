"""Training with the paper's four modes."""

from .trainer import JitterTrainer

__all__ = ["JitterTrainer"]
