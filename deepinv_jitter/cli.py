r"""The ``deepinv-jitter`` command line (also ``python -m deepinv_jitter``).

Commands:

- ``train``: train one unrolled network with one training mode, with resumable checkpoints;
- ``evaluate``: measure a saved checkpoint in distribution, out of distribution, under Gaussian noise
  and under attack;
- ``compare``: train every mode with the same budget and seed, evaluate all, write ``results.json``,
  ``results.md`` and figures (the paper's comparison);
- ``sweep``: train ``sgd_jitter`` at several noise levels (and the other modes once) and plot the
  accuracy-robustness trade-off, to choose :math:`\sigma`.

Checkpoints are written to a temporary file and renamed (``os.replace``), so an interrupted run always
leaves complete files; ``--resume`` continues from the last one. Every function behind a command is
importable (:func:`train_mode`, :func:`run_compare`, :func:`run_sweep`).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .__about__ import __version__

MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")
TASKS = ("seismic", "mri")
PRESETS = ("smoke", "quick", "paper")
LAST = "checkpoint_last.pt"
FINAL = "checkpoint_final.pt"


# --------------------------------------------------------------------------------------------------
# checkpoints


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
    r"""Read a checkpoint written by :func:`train_mode`.

    :param str path: the ``.pt`` file.
    :param str device: where to map tensors.
    :return: the checkpoint dict (``state_dict``, ``epoch``, ``meta``, ...).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not such a
    checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ValueError(f"checkpoint {str(path)!r} is not a readable torch file ({e})") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise ValueError(f"checkpoint {str(path)!r} was not written by deepinv-jitter train")
    return ckpt


def _log_distributed(log: Callable) -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        log(
            f"torch.distributed: world size {torch.distributed.get_world_size()}, "
            f"rank {torch.distributed.get_rank()}"
        )


def _trainer_class():
    """JitterTrainer whose checkpoints go, atomically, to one fixed file with our metadata."""
    from .training.trainer import JitterTrainer

    class _CheckpointingTrainer(JitterTrainer):
        # deepinv's Trainer writes ckp_{epoch}.pth.tar into a fresh timestamped folder with a plain
        # torch.save (a kill mid-write leaves a truncated file). We keep one "last" file per run:
        # the full checkpoint (deepinv's + JitterTrainer's noise-generator state + our metadata) is
        # written under a temporary name, then renamed over the last one.
        def setup_train(self, train: bool = True, **kwargs):
            super().setup_train(train=train, **kwargs)
            self.save_path = str(self._ckpt_path.parent)

        def save_model(self, filename, epoch, state=None):
            meta = dict(self._ckpt_meta)
            meta["train_seconds"] = self._ckpt_seconds_before + (time.time() - self._ckpt_t0)
            meta["epochs_done"] = epoch + 1
            tmp = f".{self._ckpt_path.name}.{os.getpid()}.tmp"
            state = dict(state or {}) | {"meta": meta}
            try:
                super().save_model(tmp, epoch, state=state)
                os.replace(self._ckpt_path.parent / tmp, self._ckpt_path)
            finally:
                (self._ckpt_path.parent / tmp).unlink(missing_ok=True)

    return _CheckpointingTrainer


def train_mode(
    task,
    mode: str,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
):
    r"""Train the task's network with one training mode, with resumable, atomic checkpoints.

    Writes ``out_dir/checkpoint_last.pt`` after every epoch from the second on (deepinv's Trainer
    saves none after the first) and ``out_dir/checkpoint_final.pt`` at the end, each atomically.
    With ``resume``, a final checkpoint that has all of ``task.epochs`` is loaded instead of training
    again; otherwise the last checkpoint is continued (model, optimizer, scheduler, noise generator;
    printing ``resuming from epoch N``), e.g. after an interruption or with more epochs.

    :param deepinv_jitter.tasks.Task task: the task (data, physics, budget, seed).
    :param str mode: ``"mse"``, ``"sgd_jitter"``, ``"input_jitter"`` or ``"adversarial"``.
    :param str out_dir: folder of this run's checkpoints.
    :param bool resume: continue from existing checkpoints.
    :param bool progress: show deepinv's tqdm progress bars.
    :param dict overrides: the task settings that were changed from the preset (recorded so that
        ``evaluate`` can rebuild the same task).
    :param Callable log: where messages go.
    :return: ``(model, train_seconds)`` with the model in eval mode.
    """
    from .tasks import check_mode

    check_mode(mode)
    out_dir = Path(out_dir)
    last, final = out_dir / LAST, out_dir / FINAL
    model = task.build_model()
    if resume and final.is_file():
        ckpt = load_checkpoint(final, task.device)
        if ckpt["meta"].get("epochs_done", 0) >= task.epochs:
            model.load_state_dict(ckpt["state_dict"])
            log(f"[{mode}] already trained ({final}); skipping training")
            return model.eval(), float(ckpt["meta"]["train_seconds"])

    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=task.epochs)
    ckpt_pretrained, seconds_before = None, 0.0
    if resume and last.is_file():
        ckpt = load_checkpoint(last, task.device)
        seconds_before = float(ckpt["meta"]["train_seconds"])
        ckpt_pretrained = str(last)
        done = ckpt["epoch"] + 1
        log(
            f"[{mode}] resuming from epoch {done + 1} of {task.epochs} "
            f"(checkpoint after epoch {done}: {last})"
        )
    elif resume:
        log(f"[{mode}] no checkpoint in {out_dir}; training from scratch")

    meta = {
        "task": task.name,
        "preset": task.preset,
        "mode": mode,
        "seed": task.seed,
        "data": task.data,
        "data_root": task.extra.get("data_root"),
        "overrides": dict(overrides or {}),
        "epochs": task.epochs,
        "version": __version__,
    }
    cls = _trainer_class()
    torch.manual_seed(task.seed)
    trainer = cls(
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
        **task.trainer_settings(mode),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer._ckpt_path = last
    trainer._ckpt_meta = meta
    trainer._ckpt_seconds_before = seconds_before
    trainer._ckpt_t0 = time.time()
    _log_distributed(log)
    t0 = time.time()
    model = trainer.train()
    seconds = seconds_before + (time.time() - t0)
    meta = dict(meta, train_seconds=seconds, epochs_done=task.epochs, complete=True)
    from .training.distributed import barrier, is_main_process

    if is_main_process():  # under torchrun the replicas are identical: rank 0 writes
        atomic_save(
            {"epoch": task.epochs - 1, "state_dict": model.state_dict(), "meta": meta},
            final,
        )
    barrier()
    return model.eval(), seconds


# --------------------------------------------------------------------------------------------------
# evaluation and outputs


def _summary(mode: str, seconds: float, conds: dict) -> str:
    parts = [f"{c} {v['psnr']:.2f} dB" for c, v in conds.items()]
    return f"{mode:>12s} | train {seconds:7.1f} s | " + " | ".join(parts)


def _write_json(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=True))
    os.replace(tmp, path)


def evaluate_model(task, model, progress: bool = True):
    r""":func:`deepinv_jitter.robustness.evaluate.evaluate_robustness` on the task's test set.

    :param deepinv_jitter.tasks.Task task: the task.
    :param torch.nn.Module model: the trained network.
    :param bool progress: show a progress bar.
    :return: a :class:`deepinv_jitter.robustness.evaluate.RobustnessReport`.
    """
    from .robustness.evaluate import evaluate_robustness

    return evaluate_robustness(model, task=task, seed=task.seed, progress=progress)


def write_outputs(
    out: Path,
    task,
    reports: dict,
    train_seconds: dict,
    settings: dict,
    name: str = "results",
) -> dict:
    r"""Write ``<name>.json`` (the comparison's schema), ``<name>.md``, ``curves.json`` and figures.

    :param pathlib.Path out: output folder.
    :param deepinv_jitter.tasks.Task task: the task.
    :param dict reports: ``{mode: RobustnessReport}``.
    :param dict train_seconds: ``{mode: seconds}``.
    :param dict settings: the run's settings.
    :param str name: base name of the json and markdown files.
    :return: the results dict written to json.
    """
    from .robustness.evaluate import plot_attack_curves, plot_examples, results_markdown

    out.mkdir(parents=True, exist_ok=True)
    results = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "results": {m: r.conditions for m, r in reports.items()},
        "train_seconds": {m: float(s) for m, s in train_seconds.items()},
        "settings": settings,
    }
    _write_json(results, out / f"{name}.json")
    _write_json({m: r.curve for m, r in reports.items()}, out / "curves.json")
    title = f"{task.name} ({task.preset} preset): PSNR (dB) / SSIM"
    md = results_markdown(results["results"], results["train_seconds"], title=title)
    md += (
        f"\n\nData: {task.data}. Attack: L2 PGD, eps = {task.attack_eps:g}"
        f"{' x ||y||' if task.attack_relative else ''}, {task.eval_attack_steps} steps; "
        f"Gaussian: a random perturbation of the same norm. SGD jittering: sigma = "
        f"{settings.get('jitter_sigma', task.jitter_sigma):g} ({task.jitter_scale} scale). "
        f"Adversarial training: {task.train_attack_steps} attack steps per batch.\n"
    )
    (out / f"{name}.md").write_text(md)
    plot_attack_curves(
        {m: r.curve for m, r in reports.items()},
        out / "attack_curves.png",
        title=f"{task.name}: PSNR under attack",
    )
    plot_examples(
        {m: r.examples for m, r in reports.items()},
        out / "examples.png",
        title=f"{task.name}: reconstructions and error maps",
    )
    return results


def run_compare(
    task,
    modes: Sequence[str] = MODES,
    out: str | Path = "results",
    resume: bool = False,
    progress: bool = True,
    overrides: dict | None = None,
    log: Callable = print,
) -> dict:
    r"""Train each mode with the same budget and seed, evaluate all, write the results.

    :param deepinv_jitter.tasks.Task task: the task.
    :param list[str] modes: training modes.
    :param str out: output folder (one sub-folder of checkpoints per mode).
    :param bool resume: skip modes already trained, continue interrupted ones.
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
            task, mode, out / mode, resume=resume, progress=progress, overrides=overrides, log=log
        )
        reports[mode] = evaluate_model(task, model, progress=progress)
        log(_summary(mode, seconds[mode], reports[mode].conditions))
    settings = task.settings() | {"modes": list(modes), "overrides": dict(overrides or {})}
    results = write_outputs(out, task, reports, seconds, settings)
    if "mse" in seconds and seconds["mse"] > 0:
        ratios = ", ".join(
            f"{m}/mse {seconds[m] / seconds['mse']:.2f}" for m in modes if m != "mse"
        )
        log(f"train-time ratios: {ratios}")
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, figures in {out}")
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
) -> dict:
    r"""Train ``sgd_jitter`` at each :math:`\sigma` (and each reference mode once), evaluate all,
    write ``tradeoff.json`` and ``tradeoff.png`` (in-distribution against adversarial PSNR).

    :param deepinv_jitter.tasks.Task task: the task.
    :param list[float] sigmas: jitter levels (positive).
    :param list[str] reference_modes: modes trained once as reference points.
    :param str out: output folder.
    :param bool resume: reuse finished runs, continue interrupted ones.
    :param bool progress: progress bars.
    :param dict overrides: task settings changed from the preset (recorded).
    :param Callable log: where messages go.
    :return: the trade-off dict (as in ``tradeoff.json``).
    """
    from .robustness.evaluate import plot_tradeoff

    out = Path(out)
    overrides = dict(overrides or {})
    points = []
    for mode in reference_modes:
        model, secs = train_mode(
            task, mode, out / mode, resume=resume, progress=progress, overrides=overrides, log=log
        )
        rep = evaluate_model(task, model, progress=progress)
        log(_summary(mode, secs, rep.conditions))
        points.append(_point(mode, mode, None, rep, secs))
    for s in sigmas:
        t = task.replace(jitter_sigma=float(s))
        model, secs = train_mode(
            t,
            "sgd_jitter",
            out / f"sgd_jitter_sigma{s:g}",
            resume=resume,
            progress=progress,
            overrides=overrides | {"jitter_sigma": float(s)},
            log=log,
        )
        rep = evaluate_model(t, model, progress=progress)
        log(_summary(f"sigma={s:g}", secs, rep.conditions))
        points.append(_point(f"sgd_jitter sigma={s:g}", "sgd_jitter", float(s), rep, secs))
    result = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "points": points,
        "settings": task.settings() | {"sigmas": [float(s) for s in sigmas]},
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_json(result, out / "tradeoff.json")
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


def _point(label, mode, sigma, rep, secs) -> dict:
    return {
        "label": label,
        "mode": mode,
        "sigma": sigma,
        "results": rep.conditions,
        "train_seconds": float(secs),
    }


# --------------------------------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(bad) or repr(text)}; choose from {', '.join(MODES)}"
        )
    if len(set(modes)) != len(modes):
        raise argparse.ArgumentTypeError(f"repeated mode in {text!r}")
    return modes


def _ref_modes(text: str) -> list[str]:
    return [] if text.strip() in ("", "none") else _modes(text)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def _sigmas(text: str) -> list[float]:
    try:
        return [_positive_float(s) for s in text.split(",") if s.strip()] or _positive_float("")
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"sigmas must be positive numbers: {e}") from None


def _existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"path {text!r} does not exist")
    return text


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"file {text!r} does not exist")
    return text


def _device(text: str) -> str:
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r} (cpu, cuda, cuda:0, ...)"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"device {text!r} asked for but CUDA is not available")
    return text


def _setting(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.strip(), parsed


def _add_common(p: argparse.ArgumentParser, preset_default: str = "quick") -> None:
    p.add_argument(
        "--task", required=True, choices=TASKS, help="inverse problem: seismic or mri (required)"
    )
    p.add_argument(
        "--preset",
        default=preset_default,
        choices=PRESETS,
        help=(
            "size of the run: smoke (tiny, seconds, for tests), quick (minutes on a laptop CPU), "
            f"paper (the paper's scale, for a GPU); default {preset_default}"
        ),
    )
    p.add_argument(
        "--data-root",
        type=_existing_path,
        default=None,
        metavar="PATH",
        help=(
            "real data instead of the built-in default: a SEG-Y file (seismic) or a folder of "
            "fastMRI single-coil .h5 files (mri); default: synthetic sections / embedded anatomy"
        ),
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of data, weights and order (default 0)"
    )
    p.add_argument("--device", type=_device, default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument(
        "--eps",
        type=_positive_float,
        default=None,
        help="attack budget (L2 norm of the perturbation of y), > 0; default: the task's",
    )
    p.add_argument(
        "--sigma",
        type=_positive_float,
        default=None,
        help="SGD-jittering noise level sigma, > 0; default: the task's (chosen by a sweep)",
    )
    p.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change any other task setting, e.g. --set epochs=5 --set jitter_scale=relative",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    r"""The argument parser of ``deepinv-jitter`` (bad arguments exit with status 2).

    :return: an :class:`argparse.ArgumentParser`.

    >>> args = build_parser().parse_args(["compare", "--task", "seismic", "--preset", "smoke"])
    >>> args.command, args.modes, args.out
    ('compare', ['mse', 'sgd_jitter', 'input_jitter', 'adversarial'], None)
    """
    parser = _Parser(
        prog="deepinv-jitter",
        description=(
            "Train unrolled reconstruction networks with SGD jittering and compare them with "
            "MSE, input-jittering and adversarial training: in distribution, out of distribution, "
            "under Gaussian noise and under attack."
        ),
        epilog="Example: deepinv-jitter compare --task seismic   (quick preset, ~15 min on a CPU)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train one network with one training mode",
        description="Train one unrolled network with one training mode; checkpoints after every "
        "epoch (atomic), --resume continues.",
    )
    _add_common(p)
    p.add_argument("--mode", required=True, choices=MODES, help="training mode (required)")
    p.add_argument(
        "--out", default=None, help="checkpoint folder (default ./results/<task>/<mode>)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --out"
    )

    p = sub.add_parser(
        "evaluate",
        help="evaluate a saved checkpoint",
        description="Evaluate a checkpoint written by train/compare: PSNR/SSIM in distribution, "
        "OOD, Gaussian, adversarial, and PSNR against attack budget.",
    )
    p.add_argument("--task", required=True, choices=TASKS, help="the checkpoint's task (required)")
    p.add_argument(
        "--checkpoint",
        required=True,
        type=_existing_file,
        help="checkpoint file (checkpoint_final.pt or checkpoint_last.pt) (required)",
    )
    p.add_argument("--out", default=None, help="output folder (default: the checkpoint's folder)")
    p.add_argument(
        "--eps", type=_positive_float, default=None, help="attack budget, > 0 (default: task's)"
    )
    p.add_argument("--device", type=_device, default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser(
        "compare",
        help="train every mode and compare them (the paper's experiment)",
        description="Train each mode with the same budget and seed, evaluate all, and write "
        "results.json, results.md, attack_curves.png and examples.png into --out.",
    )
    _add_common(p)
    p.add_argument(
        "--modes",
        type=_modes,
        default=list(MODES),
        help=f"comma-separated training modes (default {','.join(MODES)})",
    )
    p.add_argument("--out", default=None, help="output folder (default ./results/<task>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip modes whose final checkpoint exists; continue interrupted ones",
    )

    p = sub.add_parser(
        "sweep",
        help="accuracy-robustness trade-off over the SGD-jittering sigma",
        description="Train sgd_jitter for each sigma and the reference modes once; write "
        "tradeoff.json and tradeoff.png (in-distribution against adversarial PSNR).",
    )
    _add_common(p)
    p.add_argument(
        "--sigmas",
        type=_sigmas,
        required=True,
        help="comma-separated positive sigmas, e.g. 0.5,1,2,4 (required)",
    )
    p.add_argument(
        "--reference-modes",
        type=_ref_modes,
        default=["mse", "input_jitter", "adversarial"],
        help="modes trained once as reference points, or 'none' (default "
        "mse,input_jitter,adversarial)",
    )
    p.add_argument("--out", default=None, help="output folder (default ./results/<task>_sweep)")
    p.add_argument("--resume", action="store_true", help="reuse finished runs")
    return parser


def _task_from_args(args, extra: dict | None = None):
    from .tasks import get_task

    overrides = dict(args.set) | dict(extra or {})
    if getattr(args, "eps", None) is not None:
        overrides["attack_eps"] = args.eps
    if getattr(args, "sigma", None) is not None:
        overrides["jitter_sigma"] = args.sigma
    task = get_task(
        args.task,
        args.preset,
        data_root=args.data_root,
        seed=args.seed,
        device=args.device,
        **overrides,
    )
    return task, overrides


def _cmd_train(args) -> int:
    task, overrides = _task_from_args(args)
    out = Path(args.out) if args.out else Path("results") / args.task / args.mode
    print(f"train: task {task.name}, preset {task.preset}, mode {args.mode}, out {out}")
    model, secs = train_mode(
        task, args.mode, out, resume=args.resume, progress=not args.quiet, overrides=overrides
    )
    print(f"{args.mode}: trained in {secs:.1f} s; final checkpoint {out / FINAL}")
    return 0


def _cmd_evaluate(args) -> int:
    from .tasks import get_task

    ckpt = load_checkpoint(args.checkpoint, args.device)
    meta = ckpt["meta"]
    if meta["task"] != args.task:
        raise ValueError(
            f"--task {args.task} does not match the checkpoint's task {meta['task']!r}"
        )
    overrides = dict(meta.get("overrides") or {})
    if args.eps is not None:
        overrides["attack_eps"] = args.eps
    task = get_task(
        meta["task"],
        meta["preset"],
        data_root=meta.get("data_root"),
        seed=meta["seed"],
        device=args.device,
        **overrides,
    )
    model = task.build_model()
    model.load_state_dict(ckpt["state_dict"])
    rep = evaluate_model(task, model, progress=not args.quiet)
    out = Path(args.out) if args.out else Path(args.checkpoint).parent
    mode = meta["mode"]
    settings = task.settings() | {"checkpoint": str(args.checkpoint), "overrides": overrides}
    write_outputs(
        out,
        task,
        {mode: rep},
        {mode: meta.get("train_seconds", float("nan"))},
        settings,
        name="evaluation",
    )
    print(_summary(mode, meta.get("train_seconds", float("nan")), rep.conditions))
    print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.md'}")
    return 0


def _cmd_compare(args) -> int:
    task, overrides = _task_from_args(args)
    out = Path(args.out) if args.out else Path("results") / args.task
    run_compare(
        task, args.modes, out, resume=args.resume, progress=not args.quiet, overrides=overrides
    )
    return 0


def _cmd_sweep(args) -> int:
    task, overrides = _task_from_args(args)
    out = Path(args.out) if args.out else Path("results") / f"{args.task}_sweep"
    run_sweep(
        task,
        args.sigmas,
        args.reference_modes,
        out,
        resume=args.resume,
        progress=not args.quiet,
        overrides=overrides,
    )
    return 0


_COMMANDS = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "compare": _cmd_compare,
    "sweep": _cmd_sweep,
}


def main(argv: list[str] | None = None) -> int:
    r"""Run the command line.

    :param list[str], None argv: arguments (default ``sys.argv[1:]``).
    :return: exit status: 0 on success, 2 for bad arguments or input, 130 when interrupted.

    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as text:
    ...     code = main([])  # no command: prints the help
    >>> code, "compare" in text.getvalue()
    (0, True)
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError) as e:
        # bad input found after parsing (a data folder with no files, a wrong checkpoint, ...)
        print(f"deepinv-jitter {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the checkpoints written so far are complete; rerun with --resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
