r"""The task registry: one module per inverse problem, one line each in :data:`REGISTRY`.

A task is a module that defines ``SPEC = TaskSpec(...)`` (see
:mod:`deepinv_jitter.experiments.tasks.base`). The package's own are listed below; your own task
needs no change to the package: name it as ``module:ATTRIBUTE`` (e.g. ``--task mytasks:SPEC``, the
module importable from your environment) or declare it in your package's entry points, group
``deepinv_jitter.tasks`` (``mytask = "mytasks:SPEC"``); :func:`get_spec` finds both, and
:func:`register_task` adds a spec from Python.
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
    "register_task",
    "load_task_spec",
    "Task",
    "TaskConfig",
    "TaskData",
    "TaskSpec",
    "REGISTRY",
    "TASKS",
    "PRESET_NAMES",
    "check_mode",
]


#: where each task registered at run time came from (``"module:ATTRIBUTE"``)
SOURCES: dict[str, str] = {}


def register_task(spec: TaskSpec, source: str | None = None) -> TaskSpec:
    r"""Add a task to the registry (under ``spec.name``).

    :param TaskSpec spec: the task.
    :param str, None source: where it came from (``"module:ATTRIBUTE"``), recorded in the runs'
        identities so that their checkpoints load again.
    :return: ``spec``.
    :raises TypeError: ``spec`` that is not a :class:`TaskSpec`.
    :raises ValueError: a name taken by another task.
    """
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"a task must be a TaskSpec, got {type(spec).__name__}")
    if spec.name in REGISTRY and REGISTRY[spec.name] is not spec:
        raise ValueError(f"task name {spec.name!r} is already taken by another task")
    REGISTRY[spec.name] = spec
    if source is not None:
        SOURCES[spec.name] = source
    return spec


def load_task_spec(text: str) -> TaskSpec:
    r"""A task given as ``"module:ATTRIBUTE"`` (a :class:`TaskSpec` importable from your
    environment), registered under its name.

    :param str text: e.g. ``"mytasks:SPEC"``.
    :return: the spec.
    :raises ValueError: a text without ``:``, a module that cannot be imported, or an attribute
        that is missing or not a :class:`TaskSpec`.

    >>> load_task_spec("deepinv_jitter.experiments.tasks.seismic:SPEC").name
    'seismic'
    """
    import importlib

    module, _, attr = text.partition(":")
    if not module or not attr:
        raise ValueError(
            f"a task from a module is written module:ATTRIBUTE, got {text!r}"
        )
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(
            f"task {text!r}: cannot import module {module!r} ({e})"
        ) from None
    spec = getattr(mod, attr, None)
    if not isinstance(spec, TaskSpec):
        raise ValueError(
            f"task {text!r}: {module}.{attr} is "
            f"{'missing' if spec is None else type(spec).__name__}, not a TaskSpec"
        )
    if REGISTRY.get(spec.name) is spec:
        return spec
    return register_task(spec, source=text)


def _entry_point(name: str) -> TaskSpec | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="deepinv_jitter.tasks"):
        if ep.name == name:
            return load_task_spec(ep.value)
    return None


def get_spec(name: str) -> TaskSpec:
    r"""The :class:`TaskSpec` of a task: a registered name, a name declared in the entry points
    (group ``deepinv_jitter.tasks``), or ``"module:ATTRIBUTE"``.

    :param str name: a task name.
    :return: its spec.
    :raises ValueError: an unknown name, listing the known ones.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        return load_task_spec(name)
    spec = _entry_point(name)
    if spec is None:
        raise ValueError(
            f"task must be one of {', '.join(REGISTRY)} or module:ATTRIBUTE (a TaskSpec of "
            f"your own); got {name!r}"
        )
    return spec


def get_task(
    name: str,
    preset: str = DEFAULT_PRESET,
    data_root: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    **overrides,
) -> Task:
    r"""Build a task at a preset size.

    :param str name: a registered task (``"seismic"``, ``"mri"``, ...), or one of your own as
        ``"module:ATTRIBUTE"`` (see :func:`get_spec`).
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
    >>> task.name, task.config.max_iter, task.seed
    ('seismic', 3, 1)
    """
    spec = get_spec(name)
    if data_root is not None and not Path(data_root).exists():
        raise FileNotFoundError(f"data_root {str(data_root)!r} does not exist")
    config = spec.config(
        preset, data_root=data_root, seed=seed, device=device, **overrides
    )
    return Task(spec, config)
