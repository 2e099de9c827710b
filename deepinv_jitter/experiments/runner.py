r"""The experiment runner: train one mode (:func:`train_run`, :func:`train_mode`), evaluate a
model (:func:`evaluate_model`, :func:`evaluate_checkpoint`), and the three studies, each the one
study loop of :mod:`deepinv_jitter.experiments.study` configured with its runs: compare the modes
(:func:`run_compare`), sweep the jitter level (:func:`run_sweep`), train at several training-set
sizes (:func:`run_generalization`); :func:`report_runs` rebuilds a comparison from its run files.

Checkpoints are written atomically and carry the run's identity, so ``resume`` continues only the
run that wrote them (see :mod:`deepinv_jitter.experiments.checkpoints`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from ..robustness.evaluate import RobustnessReport, evaluate_robustness
from ..selection import recommend_sigma
from ..training import TRAINING_MODES
from ..training.data_parallel.process_group import barrier, is_main_process
from .checkpoints import (
    FINAL,
    LAST,
    CheckpointingTrainer,
    CheckpointMismatchError,
    _data_differs,
    atomic_save,
    compare_identity,
    load_checkpoint,
    run_identity,
)
from .figures import plot_tradeoff
from .reports import provenance, summarize_runs, write_json, write_study_outputs
from .tasks import check_mode
from .tasks.base import renamed_settings

__all__ = [
    "train_run",
    "train_mode",
    "evaluate_model",
    "evaluate_checkpoint",
    "run_compare",
    "run_sweep",
    "run_generalization",
    "report_runs",
    "model_from_checkpoint",
    "load_model",
    "generalization_epochs",
    "summary_line",
]


def _log_distributed(log: Callable) -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        log(
            f"torch.distributed: world size {torch.distributed.get_world_size()}, "
            f"rank {torch.distributed.get_rank()}"
        )


@contextmanager
def _threads(n: int | None):
    """Run with ``n`` CPU threads (``None``: unchanged), restored afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _usable(path: Path, task, mode: str, retrain_on_mismatch: bool, log: Callable):
    """``(checkpoint, epochs)`` for the checkpoint at ``path`` if it belongs to this run:
    ``epochs`` is ``None`` when its budget is the run's, else the fewer epochs it was planned for
    (an extendable run). ``(None, None)`` when there is none (or it belongs to another run and
    ``retrain_on_mismatch``)."""
    if not path.is_file():
        return None, None
    try:
        ckpt = load_checkpoint(path, task.device)
        had = compare_identity(ckpt["meta"], task, mode, path)
    except (CheckpointMismatchError, ValueError) as e:
        if not retrain_on_mismatch:
            raise
        log(f"[{mode}] {e}; training this run again")
        return None, None
    return ckpt, had


def train_run(
    task,
    mode: str,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable = print,
    retrain_on_mismatch: bool = False,
):
    r"""Train the task's network with one training mode, with resumable, atomic checkpoints, and
    return the model with what it had (the checkpoint's ``meta``).

    Writes ``out_dir/checkpoint_last.pt`` (everything needed to continue: model, optimizer,
    scheduler, random states, ``meta``) after each epoch and ``out_dir/checkpoint_final.pt`` at the
    end, each atomically. With ``resume``:

    - a final checkpoint of this run (:func:`~deepinv_jitter.experiments.checkpoints.compare_identity`:
      the same task, mode, settings, data and epochs) is reused ("already trained");
    - a last checkpoint of this run, stopped before its end, is continued exactly where it stopped
      (the result equals an uninterrupted run);
    - a finished run of the same identity but fewer epochs is extended ("extending from N to M
      epochs"): training continues from its last state with the learning-rate schedule re-planned
      for M epochs; the result records ``extended_from``, as it differs from a run of M epochs
      from the start;
    - a checkpoint of another run (other settings, data or more epochs) is trained again with a
      message when ``retrain_on_mismatch``, refused otherwise.

    :param deepinv_jitter.experiments.tasks.Task task: the task (data, physics, budget, seed).
    :param str mode: a training mode (``"mse"``, ``"sgd_jitter"``, ``"sgd_jitter+input_jitter"``, ...).
    :param str out_dir: folder of this run's checkpoints.
    :param bool resume: continue from existing checkpoints.
    :param bool progress: show deepinv's tqdm progress bars.
    :param Callable log: where messages go.
    :param bool retrain_on_mismatch: a checkpoint of another run is ignored (with a message)
        instead of raising.
    :return: ``(model, meta)``, the model in eval mode; ``meta`` holds ``identity``, ``settings``,
        ``epochs_done``, ``train_seconds``, ``extended_from`` and ``provenance``.
    :raises CheckpointMismatchError: with ``resume``, a checkpoint written by another run.
    :raises FloatingPointError: the training loss became NaN or infinite (no checkpoint is
        marked complete).
    """
    mode = check_mode(mode)
    out_dir = Path(out_dir)
    last, final = out_dir / LAST, out_dir / FINAL
    model = task.build_model()
    if resume:
        ckpt, had = _usable(final, task, mode, retrain_on_mismatch, log)
        if ckpt is not None and had is None:
            model.load_state_dict(ckpt["state_dict"])
            log(f"[{mode}] already trained ({final}); skipping training")
            return model.eval(), dict(ckpt["meta"])

    optimizer = torch.optim.Adam(model.parameters(), lr=task.config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=task.config.epochs
    )
    ckpt_pretrained, seconds_before, extended = None, 0.0, []
    if resume:
        ckpt, had = _usable(last, task, mode, retrain_on_mismatch, log)
        if ckpt is not None:
            done = int(ckpt["meta"].get("epochs_done", ckpt["epoch"] + 1))
            extended = list(ckpt["meta"].get("extended_from", []))
            if had is None:
                log(
                    f"[{mode}] resuming from epoch {done + 1} of {task.config.epochs} "
                    f"(checkpoint after epoch {done}: {last})"
                )
            elif done == had:
                log(
                    f"[{mode}] extending from {had} to {task.config.epochs} epochs ({last})"
                )
                extended.append(had)
            else:
                log(
                    f"[{mode}] {last} stopped at epoch {done} of a {had}-epoch run; "
                    f"training {task.config.epochs} epochs from scratch"
                )
                ckpt = None
        if ckpt is not None:
            seconds_before = float(ckpt["meta"]["train_seconds"])
            ckpt_pretrained = str(last)
        else:
            log(
                f"[{mode}] no checkpoint of this run in {out_dir}; training from scratch"
            )

    meta = {
        "identity": run_identity(task, mode),
        "settings": task.settings(),
        "extended_from": extended,
        "provenance": provenance(task.device),
    }
    torch.manual_seed(task.seed)
    trainer = CheckpointingTrainer(
        model=model,
        physics=task.physics,
        optimizer=optimizer,
        scheduler=scheduler,
        train_dataloader=task.train_loader(),
        epochs=task.config.epochs,
        online_measurements=task.config.online_measurements,
        device=task.device,
        save_path=None,
        ckpt_pretrained=ckpt_pretrained,
        compute_train_metrics=False,
        verbose=progress,
        show_progress_bar=progress,
        freq_update_progress_bar=4,
        # about 50 checkpoints a run at most (long runs of tiny epochs: the toy task)
        ckp_interval=max(1, task.config.epochs // 50),
        jitter_seed=task.seed,
        non_blocking_transfers=torch.device(task.device).type == "cuda",
        mixed_precision=False
        if task.config.precision == "fp32"
        else task.config.precision,
        checkpoint_path=last,
        run_meta=meta,
        seconds_before=seconds_before,
        replan_epochs=task.config.epochs if extended and ckpt_pretrained else None,
        **task.trainer_settings(mode),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _log_distributed(log)
    t0 = time.time()
    with _threads(task.config.threads):
        model = trainer.train()
    seconds = seconds_before + (time.time() - t0)
    _check_finite(model, mode)
    meta = dict(
        meta, train_seconds=seconds, epochs_done=task.config.epochs, complete=True
    )
    if is_main_process():  # under torchrun the replicas are identical: rank 0 writes
        atomic_save(
            {
                "epoch": task.config.epochs - 1,
                "state_dict": model.state_dict(),
                "meta": meta,
            },
            final,
        )
    barrier()
    return model.eval(), meta


def train_mode(
    task,
    mode: str,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable = print,
    retrain_on_mismatch: bool = False,
):
    r"""Train the task's network with one training mode (:func:`train_run`), returning the
    training time instead of the checkpoint's ``meta``.

    :param deepinv_jitter.experiments.tasks.Task task: the task (data, physics, budget, seed).
    :param str mode: a training mode.
    :param str out_dir: folder of this run's checkpoints.
    :param bool resume: continue from existing checkpoints (see :func:`train_run`).
    :param bool progress: show deepinv's tqdm progress bars.
    :param Callable log: where messages go.
    :param bool retrain_on_mismatch: a checkpoint of another run is ignored (with a message)
        instead of raising.
    :return: ``(model, train_seconds)`` with the model in eval mode.
    :raises CheckpointMismatchError: with ``resume``, a checkpoint written by another run.
    :raises FloatingPointError: the training loss became NaN or infinite.
    """
    model, meta = train_run(
        task,
        mode,
        out_dir,
        resume=resume,
        progress=progress,
        log=log,
        retrain_on_mismatch=retrain_on_mismatch,
    )
    return model, float(meta["train_seconds"])


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
        eps=task.config.attack_eps,
        ood_edit=task.ood_edit,
        metrics=task.metrics(),
        relative=task.config.attack_relative,
        attack_steps=task.config.eval_attack_steps,
        attack_step_size=task.config.attack_step_size,
        curve_eps=task.config.curve_eps,
        gaussian_draws=task.config.gaussian_draws,
        seed=task.seed,
        progress=progress,
    )
    kwargs.update(changes)
    data = kwargs.pop("data")
    with _threads(task.config.threads):
        return evaluate_robustness(model, task.physics, data, **kwargs)


def model_from_checkpoint(
    checkpoint: str | Path,
    device: str = "cpu",
    task_name: str | None = None,
    data_root: str | Path | None = None,
    eps: float | None = None,
):
    r"""Rebuild a checkpoint's task from its recorded settings and load its weights.

    :param str checkpoint: a checkpoint written by :func:`train_run`.
    :param str device: where to put the model.
    :param str, None task_name: the task the caller expects (checked; ``None``: any).
    :param str, None data_root: where the data is now (``None``: the recorded location).
    :param float, None eps: attack budget of the rebuilt task (``None``: the recorded one).
    :return: ``(task, model, checkpoint)``, the model in eval mode.
    :raises ValueError: a checkpoint without identity, of another task, that does not fit the
        task's network, or with non-finite weights; data that is not the data it was trained on.
    """
    from .tasks import REGISTRY, get_task, load_task_spec

    ckpt = load_checkpoint(checkpoint, device)
    meta = ckpt["meta"]
    identity = meta.get("identity")
    if not isinstance(identity, dict) or "settings" not in identity:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} records no run identity (written by an older version)"
        )
    if identity["task"] not in REGISTRY and identity.get("task_source"):
        load_task_spec(identity["task_source"])  # a task of the user's own
    if task_name is not None and identity["task"] != task_name:
        raise ValueError(
            f"--task {task_name} does not match the checkpoint's task {identity['task']!r}"
        )
    with warnings.catch_warnings():  # settings saved under former names still load
        warnings.simplefilter("ignore", DeprecationWarning)
        recorded = renamed_settings(dict(meta.get("settings") or identity["settings"]))
    settings = {
        k: v
        for k, v in recorded.items()
        if k not in ("name", "preset", "seed", "device")
    }
    settings["data_root"] = (
        data_root if data_root is not None else recorded.get("data_root")
    )
    if eps is not None:
        settings["attack_eps"] = eps
    task = get_task(
        identity["task"],
        identity["preset"],
        seed=recorded["seed"],
        device=device,
        **settings,
    )
    data = _data_differs(identity.get("data"), task.data_identity())
    if data is not None:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} was trained on other data: {data}"
        )
    weights = ckpt["state_dict"]
    if not all(
        torch.isfinite(t).all() for t in weights.values() if t.is_floating_point()
    ):
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} holds NaN or infinite weights"
        )
    model = task.build_model()
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} does not fit the task's network ({str(e)[:200]})"
        ) from None
    return task, model.eval(), ckpt


def load_model(checkpoint: str | Path, device: str = "cpu"):
    r"""The trained reconstructor of a checkpoint, ready for evaluation (the implementation of
    :func:`deepinv_jitter.load_model`).

    :param str checkpoint: a checkpoint written by :func:`train_run`.
    :param str device: where to put the model.
    :return: the model in eval mode, with ``checkpoint_meta`` (the checkpoint's ``meta``).
    :raises ValueError: see :func:`model_from_checkpoint`.
    """
    _, model, ckpt = model_from_checkpoint(checkpoint, device)
    model.checkpoint_meta = dict(ckpt["meta"])
    return model


def evaluate_checkpoint(
    checkpoint: str | Path,
    task_name: str,
    out: str | Path,
    device: str = "cpu",
    eps: float | None = None,
    data_root: str | Path | None = None,
    progress: bool = True,
):
    r"""Rebuild a checkpoint's task from its recorded settings, evaluate the model, write
    ``evaluation.json``, ``evaluation.md`` and figures into ``out``.

    What the files record about the model is read from the checkpoint: its mode, its settings,
    the epochs it has trained (a ``checkpoint_last.pt`` of an unfinished run says so), the data it
    was trained on.

    :param str checkpoint: a checkpoint written by :func:`train_mode`.
    :param str task_name: the task the caller expects (checked against the checkpoint).
    :param str out: output folder.
    :param str device: where to run.
    :param float, None eps: attack budget (``None``: the recorded one).
    :param str, None data_root: where the data is now (``None``: the recorded location).
    :param bool progress: progress bars.
    :return: ``(mode, train_seconds, report)``.
    :raises ValueError: see :func:`model_from_checkpoint`.
    """
    from .study import RunSpec, _result

    task, model, ckpt = model_from_checkpoint(
        checkpoint, device, task_name=task_name, data_root=data_root, eps=eps
    )
    meta = ckpt["meta"]
    mode = meta["identity"]["mode"]
    t0 = time.time()
    rep = evaluate_model(task, model, progress=progress)
    done = meta.get("epochs_done", int(ckpt.get("epoch", -1)) + 1)
    run_meta = dict(meta, epochs_done=done)
    run = _result(
        task,
        RunSpec(label=mode, mode=mode, seed=task.seed, folder="."),
        "evaluate",
        run_meta,
        rep,
        {},
        time.time() - t0,
    )
    run["complete"] = bool(meta.get("complete", False)) or done >= task.config.epochs
    out = Path(out)
    write_study_outputs(
        out,
        [run],
        task.settings()
        | {
            "checkpoint": str(checkpoint),
            "epochs_done": done,
            "complete_training": run["complete"],
        },
        name="evaluation",
        examples={mode: rep.examples} if rep.examples else None,
        device=device,
    )
    seconds = float(meta.get("train_seconds", float("nan")))
    if not run["complete"]:
        print(
            f"note: {checkpoint} holds {done} of {task.config.epochs} epochs (an unfinished run); "
            "the evaluation says so"
        )
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


def _run_dir(out: Path, mode_dir: str, seed: int, seeds: Sequence[int]) -> Path:
    """One seed: ``out/<mode>`` (as before seeds existed); several: ``out/seed<s>/<mode>``."""
    return out / mode_dir if len(seeds) == 1 else out / f"seed{seed}" / mode_dir


def _seeds(task, seeds) -> list[int]:
    seeds = [task.seed] if seeds is None else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    return seeds


def _runner(resume: bool, progress: bool, log: Callable, extra: Callable | None = None):
    """The ``run_one`` of the studies: train (or reuse) the run's model, evaluate it."""

    def run_one(task, spec, folder):
        model, meta = train_run(
            task,
            spec.mode,
            folder,
            resume=resume,
            progress=progress,
            log=log,
            retrain_on_mismatch=True,
        )
        report = evaluate_model(task, model, progress=progress)
        return meta, report, (extra(task, model, report) if extra else {})

    return run_one


def _line(spec, result) -> str:
    label = spec.label if spec.info.get("one_seed") else f"{spec.label} s{spec.seed}"
    conds = dict(result["conditions"]) | {
        k: v for k, v in result.get("extra", {}).items() if isinstance(v, dict)
    }
    return summary_line(label, result["train_seconds"], conds)


def _budget_note(study, log: Callable) -> None:
    if study.stopped:
        log(
            f"stopped by the time budget: {len(study.runs)} of {study.total} runs done; "
            "rerun the same command with --resume to continue"
        )


def run_compare(
    task,
    modes: Sequence[str] = TRAINING_MODES,
    out: str | Path = "results",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
    seeds: Sequence[int] | None = None,
    time_budget: float | None = None,
) -> dict:
    r"""Train each mode with the same budget and seed, evaluate all, write the results.

    The runs (every mode, once per seed) go through the study loop
    (:func:`deepinv_jitter.experiments.study.run_study`): each finished run writes its own
    ``run.json``, and ``results.json``, ``results.md`` and the figures are made from those files
    (:func:`deepinv_jitter.experiments.reports.write_study_outputs`). With several ``seeds``,
    ``results.json`` holds means, per-seed values, 95% intervals and the paired differences to
    ``mse`` (see :func:`deepinv_jitter.statistics.summarize_seeds`). With a
    ``time_budget`` the loop may stop before the last run: the files are then written for the runs
    done, marked ``"complete": false``, and a later call with ``resume`` continues.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param list[str] modes: training modes (``+``-joined combinations included).
    :param str out: output folder (one sub-folder per mode, and per seed when there are several).
    :param bool resume: reuse the runs already done, continue interrupted ones (a checkpoint of
        another run is trained again, with a message).
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :param list[int], None seeds: seeds (default: the task's own).
    :param float, None time_budget: seconds this call may take (``None``: no limit).
    :return: the results dict (as in ``results.json``; ``results["complete"]`` says whether every
        run is in).
    """
    from .study import RunSpec, run_study

    out = Path(out)
    seeds = _seeds(task, seeds)
    modes = [check_mode(m) for m in modes]
    if len(set(modes)) != len(modes):
        raise ValueError(f"modes must be distinct, got {modes}")
    log(
        f"compare: task {task.name}, preset {task.preset}, data {task.data}, "
        f"modes {list(modes)}, seeds {seeds}"
    )
    if task.size_note:
        log(f"note: {task.size_note}; the runs record these sizes")
    info = {
        "overrides": dict(overrides or {}),
        "one_seed": len(seeds) == 1,
        "labels": list(modes),
    }
    specs = [
        RunSpec(mode, mode, seed, str(_run_dir(Path(), mode, seed, seeds)), info=info)
        for seed in seeds
        for mode in modes
    ]
    study = run_study(
        task,
        specs,
        out,
        study="compare",
        run_one=_runner(resume, progress, log),
        resume=resume,
        log=log,
        time_budget=time_budget,
        summary=_line,
    )
    done = {(r["label"], r["seed"]) for r in study.runs}
    missing = [(s.label, s.seed) for s in specs if (s.label, s.seed) not in done]
    settings = task.settings() | {
        "modes": list(modes),
        "seeds": seeds,
        "overrides": dict(overrides or {}),
    }
    if not study.runs:
        log("no run done: nothing to write")
        return {"complete": False, "runs_done": 0, "runs_total": len(specs)}
    results = write_study_outputs(
        out,
        study.runs,
        settings,
        labels=modes,
        seeds=seeds,
        total=len(specs),
        missing=missing,
        device=task.device,
    )
    secs = results["train_seconds"]
    if study.complete and "mse" in secs and secs["mse"] > 0 and len(secs) > 1:
        ratios = ", ".join(
            f"{m}/mse {secs[m] / secs['mse']:.2f}" for m in modes if m != "mse"
        )
        log(
            f"train-time ratios: {ratios} (from this study's runs, "
            f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}; a timing comparison is "
            "measured by benchmarks/compare_timing.py)"
        )
    _budget_note(study, log)
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, figures in {out}")
    return results


def report_runs(
    folders: Sequence[str | Path],
    out: str | Path,
    log: Callable = print,
    reference: str = "mse",
) -> dict:
    r"""Rebuild a comparison's ``results.json``, ``results.md`` and figures from the run result
    files in one or more output folders of ``compare`` (runs made on different machines merge),
    without checkpoints.

    :param list[str] folders: output folders of ``compare``.
    :param str out: where to write.
    :param Callable log: where messages go.
    :param str reference: the mode the paired differences are taken against (``mse`` by default;
        e.g. ``sgd_jitter`` to compare ``sgd_jitter+input_jitter`` with its part).
    :return: the results dict.
    :raises ValueError: no run file, runs of another study, the same run twice, runs whose
        identities disagree on anything but the seed (naming the two and how), or a reference
        that is not among the runs.
    """
    from .study import check_runs_agree, load_runs

    runs = load_runs(folders)
    check_runs_agree(runs)
    if runs[0]["study"] != "compare":
        raise ValueError(
            f"report rebuilds comparisons; these runs come from {runs[0]['study']!r}"
        )
    present = list(dict.fromkeys(r["label"] for r in runs))
    planned = [m for r in runs for m in r.get("info", {}).get("labels", [])]
    modes = [m for m in dict.fromkeys(planned) if m in present]
    modes += [m for m in present if m not in modes]
    seeds = sorted({r["seed"] for r in runs})
    by = {(r["label"], r["seed"]) for r in runs}
    missing = [(m, s) for s in seeds for m in modes if (m, s) not in by]
    reference = check_mode(reference)
    if reference not in modes:
        raise ValueError(
            f"--reference {reference} is not among the runs ({', '.join(modes)})"
        )
    first = min(runs, key=lambda r: (seeds.index(r["seed"]), modes.index(r["label"])))
    overrides = first.get("info", {}).get("overrides", {})
    settings = first["settings"] | {
        "seed": seeds[0],
        "modes": modes,
        "seeds": seeds,
        "overrides": overrides,
    }
    results = write_study_outputs(
        Path(out),
        runs,
        settings,
        labels=modes,
        seeds=seeds,
        total=len(modes) * len(seeds),
        missing=missing,
        reference=reference,
    )
    log(
        f"report: {len(runs)} runs ({', '.join(modes)}; seeds {seeds}) from "
        f"{len(list(folders))} folder(s); wrote {Path(out) / 'results.json'}"
        + ("" if results["complete"] else f" (incomplete: {len(missing)} runs missing)")
    )
    return results


def run_sweep(
    task,
    sigmas: Sequence[float],
    reference_modes: Sequence[str] = ("mse", "input_jitter", "adversarial"),
    out: str | Path = "sweep",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
    seeds: Sequence[int] | None = None,
    max_id_loss: float | None = None,
    time_budget: float | None = None,
) -> dict:
    r"""Train ``sgd_jitter`` at each :math:`\sigma` (and each reference mode once), per seed,
    evaluate all, write ``tradeoff.json`` and ``tradeoff.png`` (in-distribution against
    adversarial PSNR) and, with ``max_id_loss``, recommend a :math:`\sigma`
    (:func:`recommend_sigma`). The runs go through the study loop (one ``run.json`` each,
    resumable, ``time_budget`` as in :func:`run_compare`).

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param list[float] sigmas: jitter levels (positive).
    :param list[str] reference_modes: modes trained once per seed as reference points.
    :param str out: output folder.
    :param bool resume: reuse finished runs, continue interrupted ones.
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :param list[int], None seeds: seeds (default: the task's own).
    :param float, None max_id_loss: accuracy budget in dB for the recommendation (needs ``mse``
        among the reference modes).
    :param float, None time_budget: seconds this call may take (``None``: no limit).
    :return: the trade-off dict (as in ``tradeoff.json``; ``"complete"`` says whether every run
        is in).
    :raises ValueError: ``max_id_loss`` without ``mse`` among the reference modes, or two
        sigmas that name the same run (equal to 6 significant digits).
    """
    from .study import RunSpec, run_study

    out = Path(out)
    labels = [f"{s:g}" for s in sigmas]
    if len(set(labels)) != len(labels):
        raise ValueError(f"sigmas must be distinct, got {', '.join(labels)}")
    seeds = _seeds(task, seeds)
    reference_modes = [check_mode(m) for m in reference_modes]
    if max_id_loss is not None and "mse" not in reference_modes:
        raise ValueError(
            "--max-id-loss compares with mse: keep mse among --reference-modes"
        )
    runs = [(mode, mode, None) for mode in reference_modes]
    runs += [(f"sgd_jitter_sigma{s:g}", "sgd_jitter", float(s)) for s in sigmas]
    names = [name for name, _, _ in runs]
    info = {"overrides": dict(overrides or {}), "one_seed": len(seeds) == 1}
    specs = [
        RunSpec(
            name,
            mode,
            seed,
            str(_run_dir(Path(), name, seed, seeds)),
            changes={} if sigma is None else {"jitter_sigma": sigma},
            info=info | {"sigma": sigma, "labels": names},
        )
        for seed in seeds
        for name, mode, sigma in runs
    ]
    study = run_study(
        task,
        specs,
        out,
        study="sweep",
        run_one=_runner(resume, progress, log),
        resume=resume,
        log=log,
        time_budget=time_budget,
        summary=_line,
    )
    summary = summarize_runs(study.runs, names, seeds)
    points = []
    for name, mode, sigma in runs:
        if name not in summary["results"]:
            continue
        p = {
            "label": mode if sigma is None else f"sgd_jitter sigma={sigma:g}",
            "mode": mode,
            "sigma": sigma,
            "results": summary["results"][name],
            "train_seconds": summary["train_seconds"][name],
        }
        if name in summary["paired_vs_mse"]:
            p["paired_vs_mse"] = summary["paired_vs_mse"][name]
        points.append(p)
    result = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "seeds": seeds,
        "points": points,
        "settings": task.settings()
        | {"sigmas": [float(s) for s in sigmas], "overrides": dict(overrides or {})},
        "complete": study.complete,
        "runs_done": len(study.runs),
        "runs_total": study.total,
        "provenance": provenance(task.device),
    }
    if max_id_loss is not None:
        result["max_id_loss"] = float(max_id_loss)
        result["recommended"] = recommend_sigma(points, max_id_loss)
        if not study.complete:
            result["recommended"]["reason"] += " (incomplete sweep: runs missing)"
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "tradeoff.json")
    if points:
        plot_tradeoff(
            [
                {
                    "label": p["label"],
                    **({"sigma": p["sigma"]} if p["sigma"] is not None else {}),
                    "in_distribution": p["results"]["in_distribution"]["psnr"],
                    "adversarial": p["results"]["adversarial"]["psnr"],
                    "in_distribution_ci95": p["results"]["in_distribution"].get(
                        "psnr_ci95"
                    ),
                    "adversarial_ci95": p["results"]["adversarial"].get("psnr_ci95"),
                }
                for p in points
            ],
            out / "tradeoff.png",
            title=f"{task.name} ({task.preset}): accuracy vs robustness",
            recommended=(result.get("recommended") or {}).get("sigma"),
        )
    _budget_note(study, log)
    log(f"wrote {out / 'tradeoff.json'} and {out / 'tradeoff.png'}")
    if "recommended" in result:
        rec = result["recommended"]
        if rec["sigma"] is None:
            log(f"recommended: none ({rec['reason']})")
        else:
            log(f"recommended: --sigma {rec['sigma']:g}  ({rec['reason']})")
    return result


def _train_psnr(task, model, k: int) -> dict:
    """PSNR on the first ``k`` training images: with the fixed measurements the model was
    trained on (``online_measurements=False``), else with fresh measurements as the test set."""
    if task.config.online_measurements:
        subset = torch.utils.data.Subset(task.train_dataset, range(k))
        rep = evaluate_model(
            task,
            model,
            progress=False,
            data=subset,
            eps=0.0,
            curve_eps=[],
            ood_edit=None,
            gaussian_draws=1,
        )
        return rep.conditions["in_distribution"]
    x, y = task.fixed_measurements()[:k]
    psnr, ssim = task.metrics()
    was_training = model.training
    model.eval()
    with torch.no_grad(), _threads(task.config.threads):
        x_hat = model(y.to(task.device), task.physics)
    model.train(was_training)
    x = x.to(task.device)
    return {
        "psnr": float(psnr(x_hat, x).double().mean()),
        "ssim": float(ssim(x_hat, x).double().mean()),
    }


def generalization_epochs(task, n_train: int, budget: str = "steps") -> int:
    r"""Training epochs at another training-set size.

    ``"steps"``: the same number of optimizer steps as the task's own size and epochs (so a
    smaller set is seen more often; at least one epoch); ``"epochs"``: the task's epochs.

    :param deepinv_jitter.experiments.tasks.Task task: the task (its ``n_train``, ``epochs``,
        ``batch_size``).
    :param int n_train: the training-set size.
    :param str budget: ``"steps"`` or ``"epochs"``.
    :return: the epochs.
    :raises ValueError: an unknown budget.

    >>> from deepinv_jitter.experiments.tasks import get_task
    >>> t = get_task("seismic", "smoke")  # 16 sections, batch 4, 2 epochs: 8 steps
    >>> generalization_epochs(t, 4), generalization_epochs(t, 64), generalization_epochs(t, 4, "epochs")
    (8, 1, 2)
    """
    if budget == "epochs":
        return task.config.epochs
    if budget != "steps":
        raise ValueError(f"budget must be 'steps' or 'epochs', got {budget!r}")
    steps = task.config.epochs * math.ceil(task.config.n_train / task.config.batch_size)
    return max(1, round(steps / math.ceil(n_train / task.config.batch_size)))


def run_generalization(
    task,
    n_trains: Sequence[int],
    modes: Sequence[str] = TRAINING_MODES,
    out: str | Path = "generalization",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
    seeds: Sequence[int] | None = None,
    budget: str = "steps",
    time_budget: float | None = None,
) -> dict:
    r"""Train every mode at each training-set size and seed; measure test PSNR (clean, random
    perturbations, OOD, attack) and the PSNR on the training images (the train-test gap); write
    ``generalization.json`` and ``generalization.png``. The training PSNR uses the fixed
    measurements the model was trained on when the task has them (``online_measurements=False``).
    The runs go through the study loop (one ``run.json`` each, resumable, ``time_budget`` as in
    :func:`run_compare`); no attack curve is measured.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param list[int] n_trains: training-set sizes.
    :param list[str] modes: training modes.
    :param str out: output folder (``n<size>/<mode>`` or ``n<size>/seed<s>/<mode>`` checkpoints).
    :param bool resume: reuse finished runs, continue interrupted ones.
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :param list[int], None seeds: seeds (default: the task's own).
    :param str budget: ``"steps"`` (default) or ``"epochs"``, see :func:`generalization_epochs`.
    :param float, None time_budget: seconds this call may take (``None``: no limit).
    :return: the dict written to ``generalization.json``: ``results[mode][str(n)][condition]``
        with ``psnr`` (mean over seeds), ``psnr_per_seed`` (and ``psnr_std``, ``psnr_ci95`` with
        several seeds), ``results[mode][str(n)]["train"]`` and ``["gap"]``, and ``oracle`` where
        the task knows it.
    :raises ValueError: a training-set size below 1 or above what the task's data holds.
    """
    from ..statistics import mean_interval
    from .figures import plot_generalization
    from .study import RunSpec, run_study

    out = Path(out)
    seeds = _seeds(task, seeds)
    modes = [check_mode(m) for m in modes]
    n_trains = [int(n) for n in n_trains]
    for n in n_trains:
        if n < 1:
            raise ValueError(f"training-set sizes must be >= 1, got {n}")
    epochs = {str(n): generalization_epochs(task, n, budget) for n in n_trains}
    tasks = {}
    for n in n_trains:  # sizes checked before any training
        for seed in seeds:
            t = task.replace(
                n_train=n, epochs=epochs[str(n)], seed=seed, curve_eps=[0.0]
            )
            if len(t.train_dataset) < n:
                raise ValueError(
                    f"the task's data holds {len(t.train_dataset)} training items, fewer than "
                    f"--n-train {n}"
                )
            tasks[(n, seed)] = t
    log(
        f"generalization: task {task.name}, preset {task.preset}, sizes {n_trains}, "
        f"modes {list(modes)}, seeds {seeds}"
    )
    labels = [f"{mode} n{n}" for n in n_trains for mode in modes]
    specs = [
        RunSpec(
            f"{mode} n{n}",
            mode,
            seed,
            str(Path(f"n{n}") / _run_dir(Path(), mode, seed, seeds)),
            changes={"n_train": n, "epochs": epochs[str(n)], "curve_eps": [0.0]},
            info={
                "overrides": dict(overrides or {}),
                "n_train": n,
                "base_mode": mode,
                "labels": labels,
                "varies": ["n_train", "epochs"],
            },
        )
        for n in n_trains
        for seed in seeds
        for mode in modes
    ]

    def extra(t, model, report):
        train = _train_psnr(t, model, min(t.config.n_train, len(t.test_dataset)))
        gap = train["psnr"] - report.conditions["in_distribution"]["psnr"]
        return {
            "train": train,
            "gap": {"psnr": gap},
        }  # summarised over seeds like the others

    study = run_study(
        task,
        specs,
        out,
        study="generalization",
        run_one=_runner(resume, progress, log, extra=extra),
        resume=resume,
        log=log,
        time_budget=time_budget,
        summary=_line,
        make_task=lambda spec: tasks[(spec.info["n_train"], spec.seed)],
    )
    by = {
        (r["info"]["base_mode"], r["info"]["n_train"], r["seed"]): r for r in study.runs
    }
    results: dict = {m: {} for m in modes}
    for n in n_trains:
        for mode in modes:
            have = [s for s in seeds if (mode, n, s) in by]
            if not have:
                continue
            per = {s: dict(by[(mode, n, s)]["conditions"]) for s in have}
            for s in have:
                per[s] |= by[(mode, n, s)]["extra"]
            entry = {}
            for cond in per[have[0]]:
                values = [per[s][cond]["psnr"] for s in have]
                r = mean_interval(values)
                entry[cond] = {"psnr": r["mean"], "psnr_per_seed": values}
                if len(have) > 1:
                    entry[cond] |= {"psnr_std": r["std"], "psnr_ci95": r["ci95"]}
            results[mode][str(n)] = entry
    result = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "seeds": seeds,
        "n_train": n_trains,
        "epochs": epochs,
        "budget": budget,
        "results": results,
        "settings": task.settings()
        | {"modes": list(modes), "overrides": dict(overrides or {})},
        "complete": study.complete,
        "runs_done": len(study.runs),
        "runs_total": study.total,
        "provenance": provenance(task.device),
    }
    oracle = task.oracle()
    if oracle is not None:
        result["oracle"] = {"psnr": oracle["in_distribution"]["psnr"]} | oracle
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "generalization.json")
    if study.runs:
        plot_generalization(result, out / "generalization.png")
    _budget_note(study, log)
    log(f"wrote {out / 'generalization.json'} and {out / 'generalization.png'}")
    return result
