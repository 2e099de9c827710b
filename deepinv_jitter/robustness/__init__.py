"""Robustness evaluation: attacks in measurement space, out-of-distribution edits, metrics, and the
four-condition evaluation of a model."""

from .attacks import pgd_attack
from .evaluate import (
    CONDITIONS,
    RobustnessReport,
    evaluate_robustness,
    gaussian_perturbation,
)
from .metrics import MagnitudePSNR, MagnitudeSSIM, default_metrics
from .shifts import add_flat_segment, add_lesion

__all__ = [
    "pgd_attack",
    "evaluate_robustness",
    "gaussian_perturbation",
    "RobustnessReport",
    "CONDITIONS",
    "default_metrics",
    "add_flat_segment",
    "add_lesion",
    "MagnitudePSNR",
    "MagnitudeSSIM",
]
