r"""Checkpoints of the application: atomic files, safe loading, and the run identity.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so it is read with
``torch.load(..., weights_only=True)``: a file that carries pickled code is refused, never run.
Every checkpoint holds a ``meta`` dict with the run's identity (task, mode, every setting, package
version); :func:`check_identity` compares it with the run about to resume.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..__about__ import __version__
from ..training.data_parallel import DistributedJitterTrainer
from ..training.perturbations import parse_training_mode
from .tasks.base import TaskConfig

__all__ = [
    "LAST",
    "FINAL",
    "atomic_save",
    "load_checkpoint",
    "run_identity",
    "check_identity",
    "CheckpointMismatchError",
    "CheckpointingTrainer",
]

LAST = "checkpoint_last.pt"
"""File name of the checkpoint written after each epoch."""
FINAL = "checkpoint_final.pt"
"""File name of the checkpoint written when training completes."""

# settings that may differ between a checkpoint and the run that continues it
_FREE = {"device", "epochs", "data_root"}
#: settings read by evaluation only: a trained run is reused when they change
EVAL_ONLY = frozenset(
    {"eval_attack_steps", "curve_eps", "gaussian_draws", "eval_batch_size"}
)
#: settings that only one perturbing mode reads (a mode without it, alone or in a combination,
#: trains the same without them)
MODE_ONLY = {
    "jitter_sigma": "sgd_jitter",
    "jitter_scale": "sgd_jitter",
    "input_sigma": "input_jitter",
    "train_attack_steps": "adversarial",
    "attack_eps": "adversarial",
    "attack_relative": "adversarial",
    "attack_step_size": "adversarial",
}


def _ignored(key: str, mode: str) -> bool:
    """Whether setting ``key`` cannot change what training mode ``mode`` (a single mode or a
    ``+``-joined set) learns."""
    if key in _FREE or key in EVAL_ONLY:
        return True
    return key in MODE_ONLY and MODE_ONLY[key] not in parse_training_mode(mode)


class CheckpointMismatchError(ValueError):
    r"""A checkpoint was written by another run (another mode, task or setting)."""


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
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"checkpoint {str(path)!r} is not a readable deepinv-jitter checkpoint "
            f"(torch.load with weights_only=True refused it: {first})"
        ) from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise ValueError(
            f"checkpoint {str(path)!r} was not written by deepinv-jitter train"
        )
    return ckpt


def run_identity(task, mode: str) -> dict:
    r"""What identifies a training run: task, preset, mode, every setting, package version.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param str mode: the training mode.
    :return: a dict of plain values.
    """
    return {
        "task": task.name,
        "preset": task.preset,
        "mode": mode,
        "settings": task.settings(),
        "version": __version__,
    }


def check_identity(meta: dict, task, mode: str, path: str | Path) -> None:
    r"""Check that a checkpoint was written by the run that is about to use it.

    The device, the number of epochs (a run may be continued with more), the data location, the
    settings only evaluation reads (``EVAL_ONLY``) and those only another training mode reads
    (``MODE_ONLY``: e.g. ``jitter_sigma`` for an ``mse`` run) may differ; everything else must
    match (a setting the checkpoint does not record, added by a later version, matches when it has
    its default).

    :param dict meta: the checkpoint's ``meta``.
    :param deepinv_jitter.experiments.tasks.Task task: the run's task.
    :param str mode: the run's training mode.
    :param str path: the checkpoint (for the message).
    :raises CheckpointMismatchError: naming every differing setting.
    """
    want = run_identity(task, mode)
    have = meta.get("identity")
    if not isinstance(have, dict):
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} records no run identity (written by an older version); "
            "train again without --resume, or into another --out"
        )
    diffs = []
    for key in ("task", "preset", "mode", "version"):
        if have.get(key) != want[key]:
            diffs.append(f"{key} {have.get(key)!r} (checkpoint) != {want[key]!r}")
    old, new = have.get("settings", {}), want["settings"]
    defaults = {f.name: f.default for f in dataclasses.fields(TaskConfig)}
    for key in sorted(set(old) | set(new)):
        if _ignored(key, mode):
            continue
        # a setting added after the checkpoint was written matches when it has its default
        before = old[key] if key in old else defaults.get(key, None)
        if before != new.get(key):
            diffs.append(f"{key} {old.get(key)!r} (checkpoint) != {new.get(key)!r}")
    if diffs:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} belongs to another run: " + "; ".join(diffs)
        )


@dataclass
class CheckpointingTrainer(DistributedJitterTrainer):
    r"""The application's trainer: one ``checkpoint_last.pt`` per run, written atomically with the
    run's metadata after each epoch (deepinv's Trainer writes ``ckp_{epoch}.pth.tar`` into a
    fresh timestamped folder with a plain ``torch.save``, which a kill mid-write truncates).

    :param str, pathlib.Path checkpoint_path: the file to write (``save_path`` is set to its folder).
    :param dict run_meta: metadata stored in every checkpoint (``meta``).
    :param float seconds_before: training time already spent (a resumed run).
    """

    checkpoint_path: str | Path | None = None
    run_meta: dict = field(default_factory=dict)
    seconds_before: float = 0.0

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
