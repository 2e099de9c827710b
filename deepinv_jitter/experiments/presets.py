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
