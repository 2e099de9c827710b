r"""Argument checks shared by the library: numbers that must be finite, and ``rng`` arguments.

Every public function and class of the package checks its numeric settings with
:func:`check_number`, so a bad value (a string, a bool, NaN, infinity, out of range) gets the
same one-line error naming the setting, before any work starts.
"""

from __future__ import annotations

import math
import numbers

import torch


def check_number(
    value,
    name: str,
    *,
    low: float | None = None,
    strict: bool = False,
    integer: bool = False,
    high: float | None = None,
) -> float | int:
    r"""Check a numeric setting: a real number (an integer if asked), finite, within bounds.

    :param value: the value to check.
    :param str name: the setting's name, used in the error message.
    :param float, None low: lower bound (``None``: none).
    :param bool strict: the lower bound is excluded (``value > low``).
    :param bool integer: require an integer (``bool`` is never accepted).
    :param float, None high: inclusive upper bound (``None``: none).
    :return: the value as ``float`` (or ``int`` when ``integer``).
    :raises ValueError: naming ``name``, the expected range and the value received.

    >>> check_number(0.5, "sigma", low=0)
    0.5
    >>> check_number(float("inf"), "sigma", low=0)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be a finite number >= 0, got inf
    """
    kind = "an integer" if integer else "a finite number"
    bound = ""
    if low is not None:
        bound = f" {'>' if strict else '>='} {low:g}"
    if high is not None:
        bound += f"{' and' if bound else ''} <= {high:g}"
    message = f"{name} must be {kind}{bound}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    if integer:
        if not isinstance(value, numbers.Integral):  # int, numpy integers
            raise ValueError(message)
    elif not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(message)
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(message)
    if high is not None and value > high:
        raise ValueError(message)
    return int(value) if integer else float(value)


def positive_int(value, name: str) -> int:
    r"""Check a size or count: a positive integer (``bool`` is never accepted).

    :param value: the value to check.
    :param str name: the setting's name, used in the error message.
    :return: the value as ``int``.
    :raises ValueError: naming ``name`` and the value received.

    >>> positive_int(3, "patch_size[0]")
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_rng(
    rng, where: str, allow_seed: bool = False
) -> torch.Generator | int | None:
    r"""Check an ``rng`` argument (deepinv's name for a random generator).

    :param rng: the value passed as ``rng``.
    :param str where: the function's name, for messages.
    :param bool allow_seed: also accept an integer seed (returned as is).
    :return: the generator, the seed, or ``None``.
    :raises TypeError: a value that is not a :class:`torch.Generator` (or a seed, if allowed).
    """
    seed_ok = (
        allow_seed and isinstance(rng, numbers.Integral) and not isinstance(rng, bool)
    )
    if rng is not None and not isinstance(rng, torch.Generator) and not seed_ok:
        kinds = (
            "a torch.Generator, an int seed or None"
            if allow_seed
            else "a torch.Generator or None"
        )
        raise TypeError(f"{where}: rng must be {kinds}, got {type(rng).__name__}")
    return rng
