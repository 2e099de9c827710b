r"""The experiment runner: train one mode (:func:`train_mode`), evaluate a model
(:func:`evaluate_model`), compare the modes (:func:`run_compare`), sweep the jitter level
(:func:`run_sweep`).

Checkpoints are written atomically and carry the run's identity, so ``resume`` continues only the
run that wrote them (see :mod:`deepinv_jitter.experiments.checkpoints`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..robustness.evaluate import RobustnessReport, evaluate_robustness
from ..training import TRAINING_MODES
from ..training.distributed import barrier, is_main_process
from .checkpoints import (
    FINAL,
    LAST,
    CheckpointingTrainer,
    CheckpointMismatchError,
    atomic_save,
    check_identity,
    load_checkpoint,
    run_identity,
)
from .figures import plot_tradeoff
from .reports import write_json, write_outputs
from .tasks import check_mode

__all__ = [
    "train_mode",
    "evaluate_model",
    "evaluate_checkpoint",
    "run_compare",
    "run_sweep",
    "summary_line",
]


def _log_distributed(log: Callable) -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        log(
            f"torch.distributed: world size {torch.distributed.get_world_size()}, "
            f"rank {torch.distributed.get_rank()}"
        )


def _usable(path: Path, task, mode: str, retrain_on_mismatch: bool, log: Callable):
    """The checkpoint at ``path`` if it exists and belongs to this run; else ``None``."""
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path, task.device)
    try:
        check_identity(ckpt["meta"], task, mode, path)
    except CheckpointMismatchError as e:
        if not retrain_on_mismatch:
            raise
        log(f"[{mode}] {e}; training this run again")
        return None
    return ckpt


def train_mode(
    task,
    mode: str,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable = print,
    retrain_on_mismatch: bool = False,
):
    r"""Train the task's network with one training mode, with resumable, atomic checkpoints.

    Writes ``out_dir/checkpoint_last.pt`` after every epoch from the second on (deepinv's Trainer
    saves none after the first) and ``out_dir/checkpoint_final.pt`` at the end, each atomically.
    With ``resume``, a final checkpoint of this run (same task, mode and settings) with all of
    ``task.epochs`` is loaded instead of training again; otherwise the last checkpoint is continued
    (model, optimizer, scheduler, epoch and every random state, so the result equals an
    uninterrupted run), e.g. after an interruption or with more epochs.

    :param deepinv_jitter.experiments.tasks.Task task: the task (data, physics, budget, seed).
    :param str mode: ``"mse"``, ``"sgd_jitter"``, ``"input_jitter"`` or ``"adversarial"``.
    :param str out_dir: folder of this run's checkpoints.
    :param bool resume: continue from existing checkpoints.
    :param bool progress: show deepinv's tqdm progress bars.
    :param Callable log: where messages go.
    :param bool retrain_on_mismatch: a checkpoint of another run is ignored (with a message)
        instead of raising.
    :return: ``(model, train_seconds)`` with the model in eval mode.
    :raises CheckpointMismatchError: with ``resume``, a checkpoint written by another run.
    :raises FloatingPointError: the training loss became NaN or infinite (no checkpoint is
        marked complete).
    """
    check_mode(mode)
    out_dir = Path(out_dir)
    last, final = out_dir / LAST, out_dir / FINAL
    model = task.build_model()
    if resume:
        ckpt = _usable(final, task, mode, retrain_on_mismatch, log)
        if ckpt is not None and ckpt["meta"].get("epochs_done", 0) >= task.epochs:
            model.load_state_dict(ckpt["state_dict"])
            log(f"[{mode}] already trained ({final}); skipping training")
            return model.eval(), float(ckpt["meta"]["train_seconds"])

    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=task.epochs)
    ckpt_pretrained, seconds_before = None, 0.0
    if resume:
        ckpt = _usable(last, task, mode, retrain_on_mismatch, log)
        if ckpt is not None:
            seconds_before = float(ckpt["meta"]["train_seconds"])
            ckpt_pretrained = str(last)
            done = ckpt["epoch"] + 1
            log(
                f"[{mode}] resuming from epoch {done + 1} of {task.epochs} "
                f"(checkpoint after epoch {done}: {last})"
            )
        else:
            log(f"[{mode}] no checkpoint of this run in {out_dir}; training from scratch")

    meta = {"identity": run_identity(task, mode), "epochs": task.epochs}
    torch.manual_seed(task.seed)
    trainer = CheckpointingTrainer(
        model=model,
        physics=task.physics,
        optimizer=optimizer,
        scheduler=scheduler,
        train_dataloader=task.train_loader(),
        epochs=task.epochs,
        online_measurements=True,
        device=task.device,
        save_path=None,
        ckpt_pretrained=ckpt_pretrained,
        compute_train_metrics=False,
        verbose=progress,
        show_progress_bar=progress,
        freq_update_progress_bar=4,
        jitter_seed=task.seed,
        non_blocking_transfers=torch.device(task.device).type == "cuda",
        checkpoint_path=last,
        run_meta=meta,
        seconds_before=seconds_before,
        **task.trainer_settings(mode),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _log_distributed(log)
    t0 = time.time()
    model = trainer.train()
    seconds = seconds_before + (time.time() - t0)
    _check_finite(model, mode)
    meta = dict(meta, train_seconds=seconds, epochs_done=task.epochs, complete=True)
    if is_main_process():  # under torchrun the replicas are identical: rank 0 writes
        atomic_save(
            {"epoch": task.epochs - 1, "state_dict": model.state_dict(), "meta": meta},
            final,
        )
    barrier()
    return model.eval(), seconds


def _check_finite(model, mode: str) -> None:
    # the trainer stops at the first non-finite loss; this catches weights that went non-finite
    # without one (e.g. an infinite step in the last batch)
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise FloatingPointError(
            f"[{mode}] training diverged: the weights hold NaN or infinite values; "
            "no final checkpoint was written (lower the learning rate or the noise levels)"
        )


def evaluate_model(task, model, progress: bool = True, **changes) -> RobustnessReport:
    r""":func:`deepinv_jitter.robustness.evaluate_robustness` on the task's test set, with the task's
    physics, budget, attack steps, curve, metrics and OOD edit.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param torch.nn.Module model: the trained network.
    :param bool progress: show a progress bar.
    :param changes: arguments of ``evaluate_robustness`` to change (e.g. ``data=``, ``eps=``,
        ``curve_eps=``).
    :return: a :class:`deepinv_jitter.robustness.RobustnessReport`.
    """
    kwargs = dict(
        data=task.test_loader(),
        eps=task.attack_eps,
        ood_edit=task.ood_edit,
        metrics=task.metrics(),
        relative=task.attack_relative,
        attack_steps=task.eval_attack_steps,
        attack_step_size=task.attack_step_size,
        curve_eps=task.curve_eps,
        gaussian_draws=task.gaussian_draws,
        seed=task.seed,
        progress=progress,
    )
    kwargs.update(changes)
    data = kwargs.pop("data")
    return evaluate_robustness(model, task.physics, data, **kwargs)


def evaluate_checkpoint(
    checkpoint: str | Path,
    task_name: str,
    out: str | Path,
    device: str = "cpu",
    eps: float | None = None,
    data_root: str | Path | None = None,
    progress: bool = True,
):
    r"""Rebuild a checkpoint's task from its recorded identity, evaluate the model, write
    ``evaluation.json``, ``evaluation.md`` and figures into ``out``.

    :param str checkpoint: a checkpoint written by :func:`train_mode`.
    :param str task_name: the task the caller expects (checked against the checkpoint).
    :param str out: output folder.
    :param str device: where to run.
    :param float, None eps: attack budget (``None``: the recorded one).
    :param str, None data_root: where the data is now (``None``: the recorded location).
    :param bool progress: progress bars.
    :return: ``(mode, train_seconds, report)``.
    :raises ValueError: a checkpoint without identity, of another task, that does not fit the
        task's network, or with non-finite weights.
    """
    from .tasks import get_task

    ckpt = load_checkpoint(checkpoint, device)
    identity = ckpt["meta"].get("identity")
    if not isinstance(identity, dict) or "settings" not in identity:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} records no run identity (written by an older version)"
        )
    if identity["task"] != task_name:
        raise ValueError(
            f"--task {task_name} does not match the checkpoint's task {identity['task']!r}"
        )
    recorded = identity["settings"]
    settings = {k: v for k, v in recorded.items() if k not in ("name", "preset", "seed", "device")}
    settings["data_root"] = data_root if data_root is not None else recorded.get("data_root")
    if eps is not None:
        settings["attack_eps"] = eps
    task = get_task(
        identity["task"], identity["preset"], seed=recorded["seed"], device=device, **settings
    )
    weights = ckpt["state_dict"]
    if not all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point()):
        raise ValueError(f"checkpoint {str(checkpoint)!r} holds NaN or infinite weights")
    model = task.build_model()
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} does not fit the task's network ({str(e)[:200]})"
        ) from None
    mode = identity["mode"]
    rep = evaluate_model(task, model, progress=progress)
    seconds = float(ckpt["meta"].get("train_seconds", float("nan")))
    run_settings = task.settings() | {"checkpoint": str(checkpoint)}
    write_outputs(Path(out), task, {mode: rep}, {mode: seconds}, run_settings, name="evaluation")
    return mode, seconds, rep


def summary_line(mode: str, seconds: float, conds: dict) -> str:
    r"""One line of results: mode, training time, PSNR per condition.

    :param str mode: the row's label.
    :param float seconds: training time.
    :param dict conds: ``{condition: {"psnr": ...}}``.
    :return: the line.
    """
    parts = [f"{c} {v['psnr']:.2f} dB" for c, v in conds.items()]
    return f"{mode:>12s} | train {seconds:7.1f} s | " + " | ".join(parts)


def run_compare(
    task,
    modes: Sequence[str] = TRAINING_MODES,
    out: str | Path = "results",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
) -> dict:
    r"""Train each mode with the same budget and seed, evaluate all, write the results.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param list[str] modes: training modes.
    :param str out: output folder (one sub-folder of checkpoints per mode).
    :param bool resume: skip modes already trained, continue interrupted ones (a checkpoint of
        another run is trained again, with a message).
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :return: the results dict (as in ``results.json``).
    """
    out = Path(out)
    reports, seconds = {}, {}
    log(f"compare: task {task.name}, preset {task.preset}, data {task.data}, modes {list(modes)}")
    for mode in modes:
        model, seconds[mode] = train_mode(
            task, mode, out / mode, resume=resume, progress=progress, log=log,
            retrain_on_mismatch=True,
        )
        reports[mode] = evaluate_model(task, model, progress=progress)
        log(summary_line(mode, seconds[mode], reports[mode].conditions))
    settings = task.settings() | {"modes": list(modes), "overrides": dict(overrides or {})}
    results = write_outputs(out, task, reports, seconds, settings)
    if "mse" in seconds and seconds["mse"] > 0:
        ratios = ", ".join(
            f"{m}/mse {seconds[m] / seconds['mse']:.2f}" for m in modes if m != "mse"
        )
        log(f"train-time ratios: {ratios}")
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, figures in {out}")
    return results


def _point(label, mode, sigma, rep, secs) -> dict:
    return {
        "label": label,
        "mode": mode,
        "sigma": sigma,
        "results": rep.conditions,
        "train_seconds": float(secs),
    }


def run_sweep(
    task,
    sigmas: Sequence[float],
    reference_modes: Sequence[str] = ("mse", "input_jitter", "adversarial"),
    out: str | Path = "sweep",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
) -> dict:
    r"""Train ``sgd_jitter`` at each :math:`\sigma` (and each reference mode once), evaluate all,
    write ``tradeoff.json`` and ``tradeoff.png`` (in-distribution against adversarial PSNR).

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param list[float] sigmas: jitter levels (positive).
    :param list[str] reference_modes: modes trained once as reference points.
    :param str out: output folder.
    :param bool resume: reuse finished runs, continue interrupted ones.
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :return: the trade-off dict (as in ``tradeoff.json``).
    """
    out = Path(out)
    points = []
    for mode in reference_modes:
        model, secs = train_mode(
            task, mode, out / mode, resume=resume, progress=progress, log=log,
            retrain_on_mismatch=True,
        )
        rep = evaluate_model(task, model, progress=progress)
        log(summary_line(mode, secs, rep.conditions))
        points.append(_point(mode, mode, None, rep, secs))
    for s in sigmas:
        t = task.replace(jitter_sigma=float(s))
        model, secs = train_mode(
            t, "sgd_jitter", out / f"sgd_jitter_sigma{s:g}", resume=resume, progress=progress,
            log=log, retrain_on_mismatch=True,
        )
        rep = evaluate_model(t, model, progress=progress)
        log(summary_line(f"sigma={s:g}", secs, rep.conditions))
        points.append(_point(f"sgd_jitter sigma={s:g}", "sgd_jitter", float(s), rep, secs))
    result = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "points": points,
        "settings": task.settings()
        | {"sigmas": [float(s) for s in sigmas], "overrides": dict(overrides or {})},
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "tradeoff.json")
    plot_tradeoff(
        [
            {
                "label": p["label"],
                **({"sigma": p["sigma"]} if p["sigma"] is not None else {}),
                "in_distribution": p["results"]["in_distribution"]["psnr"],
                "adversarial": p["results"]["adversarial"]["psnr"],
            }
            for p in points
        ],
        out / "tradeoff.png",
        title=f"{task.name} ({task.preset}): accuracy vs robustness",
    )
    log(f"wrote {out / 'tradeoff.json'} and {out / 'tradeoff.png'}")
    return result
