r"""Checkpoints of the application: atomic files, safe loading, and the run identity.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so it is read with
``torch.load(..., weights_only=True)``: a file that carries pickled code is refused, never run.
Every checkpoint holds a ``meta`` dict with the run's identity (task, mode, every setting that can
change the weights, the data's identity, the package version) and the epochs it has trained;
:func:`compare_identity` compares it with the run about to resume or reuse it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..__about__ import __version__
from ..training.data_parallel import DistributedJitterTrainer
from ..training.perturbations import parse_training_mode
from .tasks.base import EVAL_ONLY, MODE_ONLY, PLACE_ONLY, TaskConfig

__all__ = [
    "LAST",
    "FINAL",
    "atomic_save",
    "load_checkpoint",
    "run_identity",
    "training_settings",
    "compare_identity",
    "check_identity",
    "CheckpointMismatchError",
    "CheckpointingTrainer",
]

LAST = "checkpoint_last.pt"
"""File name of the checkpoint written after each epoch."""
FINAL = "checkpoint_final.pt"
"""File name of the checkpoint written when training completes."""

# Which settings a run's identity ignores comes from each setting's declaration
# (:func:`deepinv_jitter.experiments.tasks.base.setting`): where it runs (PLACE_ONLY: the data's
# identity is compared instead), what only evaluation reads (EVAL_ONLY), what only one perturbing
# mode reads (MODE_ONLY).


def _ignored(key: str, mode: str) -> bool:
    """Whether setting ``key`` cannot change what training mode ``mode`` (a single mode or a
    ``+``-joined set) learns."""
    if key in PLACE_ONLY or key in EVAL_ONLY:
        return True
    return key in MODE_ONLY and MODE_ONLY[key] not in parse_training_mode(mode)


class CheckpointMismatchError(ValueError):
    r"""A checkpoint was written by another run (another mode, task, setting, data or budget)."""


def atomic_save(obj, path: str | Path) -> Path:
    r"""``torch.save`` to a temporary file in the same folder, then rename it over ``path``.

    A rename within one file system is atomic, so a reader (or a run killed mid-write) sees either
    the old complete file or the new complete file, never a truncated one.

    :param obj: what to save.
    :param str path: destination.
    :return: the destination path.

    >>> import tempfile, os
    >>> p = atomic_save({"a": 1}, os.path.join(tempfile.mkdtemp(), "c.pt"))
    >>> torch.load(p)["a"], sorted(os.listdir(p.parent))
    (1, ['c.pt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | Path, device: str = "cpu") -> dict:
    r"""Read a checkpoint written by :func:`deepinv_jitter.experiments.runner.train_mode`, safely.

    :param str path: the ``.pt`` file.
    :param str device: where to map tensors.
    :return: the checkpoint dict (``state_dict``, ``epoch``, ``meta``, ...).
    :raises FileNotFoundError: a missing file.
    :raises ValueError: a file that is not such a checkpoint, or one that holds anything but
        tensors, numbers, strings, lists and dicts (pickled code is refused, not run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        kind = (
            "it holds objects other than tensors, numbers and strings (refused: loading "
            "them would run code)"
            if "Unsupported global" in str(e) or "GLOBAL " in str(e)
            else "it is not a torch checkpoint or it is truncated"
        )
        raise ValueError(
            f"checkpoint {str(path)!r} is not a readable deepinv-jitter checkpoint: {kind}"
        ) from None
    if (
        not isinstance(ckpt, dict)
        or not isinstance(ckpt.get("state_dict"), dict)
        or not isinstance(ckpt.get("meta"), dict)
    ):
        raise ValueError(
            f"checkpoint {str(path)!r} was not written by deepinv-jitter train"
        )
    return ckpt


def training_settings(task, mode: str) -> dict:
    r"""The settings that can change what ``mode`` learns on ``task``: every setting except where it
    runs (:data:`PLACE_ONLY`), those only evaluation reads (:data:`EVAL_ONLY`) and those only other
    modes read (:data:`MODE_ONLY`). The number of epochs is one of them.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param str mode: the training mode.
    :return: a dict of plain values.
    """
    unused = getattr(task.spec, "unused", frozenset())
    return {
        k: v
        for k, v in task.settings().items()
        if not _ignored(k, mode) and k not in unused
    }


def run_identity(task, mode: str) -> dict:
    r"""What identifies a training run: task, preset, mode, every setting that can change the
    weights (:func:`training_settings`, the epochs included), the data's identity
    (:meth:`~deepinv_jitter.experiments.tasks.Task.data_identity`) and the package version.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param str mode: the training mode.
    :return: a dict of plain values.
    """
    from .tasks import SOURCES

    identity = {
        "task": task.name,
        "preset": task.preset,
        "mode": mode,
        "settings": training_settings(task, mode),
        "data": task.data_identity(),
        "version": __version__,
    }
    if task.name in SOURCES:  # a task of the user's own: where to find it again
        identity["task_source"] = SOURCES[task.name]
    return identity


def _data_differs(have: dict | None, want: dict) -> str | None:
    if not isinstance(have, dict):
        return "the checkpoint records no data identity (written by an older version)"
    keys = ("source", "size", "fingerprint", "read_sha256")
    diff = [k for k in keys if have.get(k) != want.get(k)]
    if not diff:
        return None
    return (
        f"data {have.get('path') or have.get('source')!r} (checkpoint) != "
        f"{want.get('path') or want.get('source')!r}: {', '.join(diff)} differ"
    )


def compare_identity(meta: dict, task, mode: str, path: str | Path) -> int | None:
    r"""Compare a checkpoint's identity with the run about to use it.

    Everything in :func:`run_identity` must match, except that the run may ask for more epochs
    than the checkpoint holds (it is then extended). A setting the checkpoint does not record
    (added by a later version) matches when it has its default.

    :param dict meta: the checkpoint's ``meta``.
    :param deepinv_jitter.experiments.tasks.Task task: the run's task.
    :param str mode: the run's training mode.
    :param str path: the checkpoint (for the message).
    :return: ``None`` when everything matches, else the checkpoint's epochs (fewer than asked).
    :raises CheckpointMismatchError: naming every difference (more epochs than asked included).
    """
    want = run_identity(task, mode)
    have = meta.get("identity")
    if not isinstance(have, dict):
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} records no run identity (written by an older version)"
        )
    diffs = []
    for key in ("task", "preset", "mode", "version"):
        if have.get(key) != want[key]:
            diffs.append(f"{key} {have.get(key)!r} (checkpoint) != {want[key]!r}")
    old, new = have.get("settings", {}), want["settings"]
    defaults = {f.name: f.default for f in dataclasses.fields(TaskConfig)}
    for key in sorted(set(old) | set(new)):
        if key == "epochs" or _ignored(key, mode):
            continue
        before = old[key] if key in old else defaults.get(key, None)
        if before != new.get(key):
            diffs.append(f"{key} {old.get(key)!r} (checkpoint) != {new.get(key)!r}")
    data = _data_differs(have.get("data"), want["data"])
    if data:
        diffs.append(data)
    had = int(old.get("epochs", 0))
    if had > task.config.epochs:
        diffs.append(f"epochs {had} (checkpoint) > {task.config.epochs} asked")
    if diffs:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} belongs to another run: " + "; ".join(diffs)
        )
    return had if had < task.config.epochs else None


def check_identity(meta: dict, task, mode: str, path: str | Path) -> None:
    r"""Check that a checkpoint was written by the run that is about to use it, with the same
    budget (see :func:`compare_identity`).

    :param dict meta: the checkpoint's ``meta``.
    :param deepinv_jitter.experiments.tasks.Task task: the run's task.
    :param str mode: the run's training mode.
    :param str path: the checkpoint (for the message).
    :raises CheckpointMismatchError: naming every difference.
    """
    had = compare_identity(meta, task, mode, path)
    if had is not None:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} belongs to another run: epochs {had} (checkpoint) "
            f"!= {task.config.epochs}"
        )


@dataclass
class CheckpointingTrainer(DistributedJitterTrainer):
    r"""The application's trainer: one ``checkpoint_last.pt`` per run, written atomically with the
    run's metadata after each epoch (deepinv's Trainer writes ``ckp_{epoch}.pth.tar`` into a
    fresh timestamped folder with a plain ``torch.save``, which a kill mid-write truncates).

    The checkpoint it continues from (``ckpt_pretrained``) is read safely first
    (:func:`load_checkpoint`: tensors and plain values only), since deepinv's ``load_model`` reads it
    with ``weights_only=False``.

    :param str, pathlib.Path checkpoint_path: the file to write (``save_path`` is set to its folder).
    :param dict run_meta: metadata stored in every checkpoint (``meta``).
    :param float seconds_before: training time already spent (a resumed run).
    :param int, None replan_epochs: extend a finished run: after loading its checkpoint, the cosine
        learning-rate schedule is re-planned for this many epochs from the epoch it reached.
    """

    checkpoint_path: str | Path | None = None
    run_meta: dict = field(default_factory=dict)
    seconds_before: float = 0.0
    replan_epochs: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self._started = time.time()

    def setup_train(self, train: bool = True, **kwargs):
        r"""The trainer's set-up; checkpoints go next to :attr:`checkpoint_path`.

        :param bool train: whether the model is being trained.
        """
        super().setup_train(train=train, **kwargs)
        if self.checkpoint_path is not None:
            self.save_path = str(Path(self.checkpoint_path).parent)

    def load_model(self, ckpt_pretrained=None, strict: bool = True):
        r"""The trainer's ``load_model``, after a safe read of the file; then the schedule is
        re-planned when extending a run (:attr:`replan_epochs`).

        :return: the checkpoint dict, or ``None``.
        :raises ValueError: a checkpoint that holds anything but tensors and plain values.
        """
        path = ckpt_pretrained if ckpt_pretrained is not None else self.ckpt_pretrained
        if path is not None:
            load_checkpoint(path, "cpu")  # refuses pickled code before deepinv reads it
        checkpoint = super().load_model(ckpt_pretrained, strict=strict)
        if checkpoint is not None and self.replan_epochs is not None:
            self._replan(self.replan_epochs, int(checkpoint["epoch"]) + 1)
        return checkpoint

    def _replan(self, epochs: int, done: int) -> None:
        sched = self.scheduler
        if not isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR):
            return
        sched.T_max = epochs
        lrs = [
            sched.eta_min
            + (base - sched.eta_min) * (1 + math.cos(math.pi * done / epochs)) / 2
            for base in sched.base_lrs
        ]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        sched._last_lr = lrs

    def write_checkpoint(self, filename, epoch, state: dict):
        r"""Write the whole checkpoint (deepinv's entries, the random states, ``meta``) under a
        temporary name, then rename it over :attr:`checkpoint_path` (rank 0 only under DDP).

        :param str filename: ignored (the file is :attr:`checkpoint_path`).
        :param int epoch: current epoch.
        :param dict state: the trainer's extra state.
        """
        if self.checkpoint_path is None:
            return super().write_checkpoint(filename, epoch, state)
        path = Path(self.checkpoint_path)
        meta = dict(self.run_meta)
        meta["train_seconds"] = self.seconds_before + (time.time() - self._started)
        meta["epochs_done"] = epoch + 1
        tmp = f".{path.name}.{os.getpid()}.tmp"
        try:
            super().write_checkpoint(tmp, epoch, dict(state) | {"meta": meta})
            os.replace(path.parent / tmp, path)
        finally:
            (path.parent / tmp).unlink(missing_ok=True)
