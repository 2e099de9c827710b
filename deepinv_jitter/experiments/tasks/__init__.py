r"""The task registry: one module per inverse problem, one line each in :data:`REGISTRY`.

Adding a task is one new module that defines ``SPEC = TaskSpec(...)`` (see
:mod:`deepinv_jitter.experiments.tasks.base`) plus one line below.
"""

from __future__ import annotations

from pathlib import Path

from ..presets import DEFAULT_PRESET, PRESET_NAMES
from . import denoising, mri, seismic
from .base import Task, TaskConfig, TaskData, TaskSpec, check_mode

REGISTRY: dict[str, TaskSpec] = {
    "seismic": seismic.SPEC,
    "mri": mri.SPEC,
    "denoising": denoising.SPEC,
}
"""``{task name: TaskSpec}``."""

TASKS = tuple(REGISTRY)
"""Task names accepted by :func:`get_task`."""

__all__ = [
    "get_task",
    "get_spec",
    "Task",
    "TaskConfig",
    "TaskData",
    "TaskSpec",
    "REGISTRY",
    "TASKS",
    "PRESET_NAMES",
    "check_mode",
]


def get_spec(name: str) -> TaskSpec:
    r"""The registered :class:`TaskSpec` of a task.

    :param str name: a task name.
    :return: its spec.
    :raises ValueError: an unknown name, listing the known ones.
    """
    if name not in REGISTRY:
        raise ValueError(f"task must be one of {', '.join(REGISTRY)}; got {name!r}")
    return REGISTRY[name]


def get_task(
    name: str,
    preset: str = DEFAULT_PRESET,
    data_root: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    **overrides,
) -> Task:
    r"""Build a task at a preset size.

    :param str name: a registered task (``"seismic"``, ``"mri"``, ...).
    :param str preset: ``"smoke"``, ``"quick"`` (default) or ``"paper"``.
    :param str, pathlib.Path, None data_root: real data instead of the task's default (a SEG-Y
        file for seismic, a folder of fastMRI single-coil ``.h5`` files for MRI).
    :param int seed: seed of the data, the weights and the training order.
    :param str device: ``"cpu"`` or ``"cuda"``.
    :param overrides: any setting of :class:`TaskConfig` or task option (e.g. ``epochs=5``).
    :return: a :class:`Task`.
    :raises ValueError: an unknown task, preset or setting, or a bad value (naming the setting).
    :raises FileNotFoundError: a missing ``data_root``.

    >>> task = get_task("seismic", "smoke", seed=1)
    >>> task.name, task.n_iter, task.seed
    ('seismic', 3, 1)
    """
    spec = get_spec(name)
    if data_root is not None and not Path(data_root).exists():
        raise FileNotFoundError(f"data_root {str(data_root)!r} does not exist")
    config = spec.config(
        preset, data_root=data_root, seed=seed, device=device, **overrides
    )
    return Task(spec, config)
