r"""The application on top of the library: the task registry (:mod:`.tasks`), presets
(:mod:`.presets`), the runner (:mod:`.runner`), checkpoints (:mod:`.checkpoints`), reports
(:mod:`.reports`) and figures (:mod:`.figures`).

Benchmarks, examples and the command line use this package; the library (everything outside it
and ``cli.py``) never imports it.
"""

from .runner import (
    evaluate_checkpoint,
    evaluate_model,
    run_compare,
    run_sweep,
    train_mode,
)
from .tasks import TASKS, Task, TaskConfig, get_task

__all__ = [
    "get_task",
    "Task",
    "TaskConfig",
    "TASKS",
    "train_mode",
    "evaluate_model",
    "evaluate_checkpoint",
    "run_compare",
    "run_sweep",
]
