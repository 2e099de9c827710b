"""Training with the paper's four modes (:class:`JitterTrainer`), and its data-parallel layer
(:class:`DistributedJitterTrainer`, for ``torchrun``)."""

from .data_parallel import DataParallelMixin, DistributedJitterTrainer
from .trainer import TRAINING_MODES, JitterTrainer

__all__ = [
    "JitterTrainer",
    "TRAINING_MODES",
    "DistributedJitterTrainer",
    "DataParallelMixin",
]
