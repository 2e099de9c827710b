"""Robustness tables and curves (placeholder: being built under the comparison issue)."""


def evaluate_robustness(*args, **kwargs):
    raise NotImplementedError("being built under the comparison issue")
