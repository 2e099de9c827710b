r"""Short path to the task registry: :func:`get_task` and friends live in
:mod:`deepinv_jitter.experiments.tasks`."""

from .experiments.tasks import (
    PRESET_NAMES,
    TASKS,
    Task,
    TaskConfig,
    check_mode,
    get_task,
)

__all__ = ["get_task", "Task", "TaskConfig", "TASKS", "PRESET_NAMES", "check_mode"]
