"""Robustness evaluation: attacks in measurement space, out-of-distribution edits, tables, curves."""

from .attacks import pgd_attack
from .evaluate import evaluate_robustness
from .metrics import MagnitudePSNR, MagnitudeSSIM
from .shifts import add_flat_segment, add_lesion

__all__ = [
    "pgd_attack",
    "evaluate_robustness",
    "add_flat_segment",
    "add_lesion",
    "MagnitudePSNR",
    "MagnitudeSSIM",
]
