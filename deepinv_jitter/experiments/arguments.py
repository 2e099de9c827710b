r"""Text parsers and checks of user input, shared by the command line and the benchmarks: each
raises one :class:`ValueError` naming the problem (the command line turns it into one line on
stderr and exit status 2)."""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import torch

from ..training import TRAINING_MODES, mode_name, parse_training_mode

__all__ = [
    "parse_setting",
    "parse_task",
    "parse_mode",
    "parse_modes",
    "parse_ints",
    "parse_positive_floats",
    "parse_positive",
    "parse_nonnegative",
    "check_device",
    "check_exists",
    "check_out_dir",
]


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_setting(text: str) -> tuple[str, object]:
    r"""A ``KEY=VALUE`` override as ``(key, value)``, the value read as a Python literal when it
    is one (``5``, ``0.1``, ``True``, ``(64, 64)``) and kept as text otherwise (``relative``).

    :param str text: the override.
    :return: ``(key, value)``; the value is checked later, by the task's settings.
    :raises ValueError: text without ``=`` or with an empty key.

    >>> parse_setting("epochs=5"), parse_setting("jitter_scale=relative")
    (('epochs', 5), ('jitter_scale', 'relative'))
    """
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        parsed = value.strip()
    return key.strip(), parsed


def parse_task(text: str) -> str:
    r"""A task: a registered name, one declared in the entry points, or ``module:ATTRIBUTE``
    (registered on the way).

    :param str text: e.g. ``"seismic"`` or ``"mytasks:SPEC"``.
    :return: the task's registered name.
    :raises ValueError: an unknown task, naming the known ones.

    >>> parse_task("seismic")
    'seismic'
    """
    from .tasks import get_spec

    return get_spec(text.strip()).name


def parse_mode(text: str) -> str:
    r"""One training mode: a single mode or a ``+``-joined set of perturbing modes, returned
    under its canonical name.

    :param str text: e.g. ``"input_jitter+sgd_jitter"``.
    :return: the canonical name.
    :raises ValueError: an unknown or repeated part, naming the allowed modes.

    >>> parse_mode("input_jitter+sgd_jitter")
    'sgd_jitter+input_jitter'
    """
    return mode_name(parse_training_mode(text))


def parse_modes(text: str) -> list[str]:
    r"""Comma-separated training modes (each a single mode or a ``+``-joined set), each known
    and none repeated, under their canonical names.

    :param str text: e.g. ``"mse,sgd_jitter,sgd_jitter+input_jitter"``.
    :return: the modes.
    :raises ValueError: an unknown or repeated mode, or none.

    >>> parse_modes("mse, sgd_jitter, input_jitter+sgd_jitter")
    ['mse', 'sgd_jitter', 'sgd_jitter+input_jitter']
    """
    names = _split(text)
    if not names:
        raise ValueError(
            f"no mode in {text!r}; choose from {', '.join(TRAINING_MODES)} or a '+'-joined "
            "set such as sgd_jitter+input_jitter"
        )
    modes = [parse_mode(m) for m in names]
    if len(set(modes)) != len(modes):
        raise ValueError(f"repeated mode in {text!r}")
    return modes


def parse_ints(text: str, what: str = "values", low: int = 0) -> list[int]:
    r"""Comma-separated distinct integers ``>= low`` (seeds, training-set sizes).

    :param str text: e.g. ``"0,1,2"``.
    :param str what: the option's name, for messages.
    :param int low: the smallest allowed value.
    :return: the integers.
    :raises ValueError: a non-integer, a value below ``low``, a repeat, or none.

    >>> parse_ints("16,64", "--n-train", 1)
    [16, 64]
    """
    try:
        values = [int(s) for s in _split(text)]
    except ValueError:
        raise ValueError(f"{what} must be integers, e.g. 0,1,2; got {text!r}") from None
    if not values or any(v < low for v in values) or len(set(values)) != len(values):
        raise ValueError(f"{what} must be distinct integers >= {low}; got {text!r}")
    return values


def parse_positive(text: str) -> float:
    r"""A finite number ``> 0``.

    :param str text: the number.
    :return: the value.
    :raises ValueError: not a number, not finite, or not positive.
    """
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"must be > 0, got {text!r}")
    return v


def parse_nonnegative(text: str) -> float:
    r"""A finite number ``>= 0``.

    :param str text: the number.
    :return: the value.
    :raises ValueError: not a number, not finite, or negative.
    """
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected a number >= 0, got {text!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"must be a finite number >= 0, got {text!r}")
    return v


def parse_positive_floats(text: str) -> list[float]:
    r"""Comma-separated positive numbers (jitter levels).

    :param str text: e.g. ``"0.05,0.1"``.
    :return: the values.
    :raises ValueError: a value that is not a positive number, a repeat, or none.
    """
    try:
        values = [parse_positive(s) for s in _split(text)] or [parse_positive("")]
    except ValueError as e:
        raise ValueError(f"sigmas must be positive numbers: {e}") from None
    if len({f"{v:g}" for v in values}) != len(values):
        raise ValueError(f"sigmas must be distinct, got {text!r}")
    return values


def check_device(text: str) -> str:
    r"""A torch device name that can be used here.

    :param str text: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ...
    :return: the name.
    :raises ValueError: an unknown device, or CUDA asked for without CUDA.
    """
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise ValueError(f"unknown device {text!r} (cpu, cuda, cuda:0, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {text!r} asked for but CUDA is not available")
    return text


def check_exists(text: str, file: bool = False) -> str:
    r"""A path that exists (a file, if asked).

    :param str text: the path.
    :param bool file: require a file.
    :return: the path as given.
    :raises ValueError: a missing path, or a folder where a file is asked.
    """
    path = Path(text)
    if not path.exists():
        raise ValueError(f"{'file' if file else 'path'} {text!r} does not exist")
    if file and not path.is_file():
        raise ValueError(f"{text!r} is a folder, not a file")
    return text


def check_out_dir(path: str | Path) -> Path:
    r"""An output folder that exists or can be created, and is writable.

    :param str path: the folder.
    :return: the path.
    :raises ValueError: an existing file, or a folder that cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is an existing file, not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--out {str(path)!r} is not writable")
    return path
