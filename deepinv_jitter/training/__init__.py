"""Training with the paper's modes (:class:`JitterTrainer`) composed from perturbations
(:class:`IterateJitter`, :class:`MeasurementNoise`, :class:`MeasurementAttack`), and its
data-parallel layer (:class:`DistributedJitterTrainer`, for ``torchrun``)."""

from .data_parallel import DataParallelMixin, DistributedJitterTrainer
from .perturbations import (
    PERTURBING_MODES,
    TRAINING_MODES,
    IterateJitter,
    MeasurementAttack,
    MeasurementNoise,
    TrainingPerturbation,
    mode_name,
    parse_training_mode,
    perturbations_for_mode,
)
from .trainer import JitterTrainer

__all__ = [
    "JitterTrainer",
    "TRAINING_MODES",
    "PERTURBING_MODES",
    "TrainingPerturbation",
    "IterateJitter",
    "MeasurementNoise",
    "MeasurementAttack",
    "parse_training_mode",
    "mode_name",
    "perturbations_for_mode",
    "DistributedJitterTrainer",
    "DataParallelMixin",
]
