r"""Preset names: the three sizes every task defines, as plain data.

- ``"smoke"``: tiny, seconds; for tests (its numbers mean nothing).
- ``"quick"``: the default; a task's four-mode comparison in minutes on 2 CPU cores.
- ``"paper"``: the paper's scale, for a GPU.

Each task module (:mod:`deepinv_jitter.experiments.tasks`) holds its own ``PRESETS`` dict with
one entry per name here.
"""

PRESET_NAMES = ("smoke", "quick", "paper")
"""The preset names, smallest first."""

DEFAULT_PRESET = "quick"
"""The preset used when none is given."""


def parse_setting(text: str) -> tuple[str, object]:
    r"""A ``KEY=VALUE`` override as ``(key, value)``, the value read as a Python literal when it is
    one (``5``, ``0.1``, ``True``, ``(64, 64)``) and kept as text otherwise (``relative``).

    :param str text: the override.
    :return: ``(key, value)``; the value is checked later, by the task's settings.
    :raises ValueError: text without ``=`` or with an empty key.

    >>> parse_setting("epochs=5"), parse_setting("jitter_scale=relative")
    (('epochs', 5), ('jitter_scale', 'relative'))
    """
    import ast

    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        parsed = value.strip()
    return key.strip(), parsed
