"""Robustness evaluation: attacks in measurement space, out-of-distribution edits, tables, curves."""

from .attacks import pgd_attack
from .evaluate import evaluate_robustness

__all__ = ["pgd_attack", "evaluate_robustness"]
