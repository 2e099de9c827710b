r"""The ``deepinv-jitter`` command line (also ``python -m deepinv_jitter``): argument parsing and
printing only; the work is done by :mod:`deepinv_jitter.experiments`.

Commands:

- ``train``: train one unrolled network with one training mode, with resumable checkpoints;
- ``evaluate``: measure a saved checkpoint in distribution, out of distribution, under random
  perturbations and under attack;
- ``compare``: train every mode with the same budget and seed, evaluate all, write ``results.json``,
  ``results.md`` and figures (the paper's comparison);
- ``sweep``: train ``sgd_jitter`` at several noise levels (and the other modes once) and plot the
  accuracy-robustness trade-off, to choose :math:`\sigma`.

Bad arguments and bad input give one line on stderr and exit status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import torch

from .__about__ import __version__
from .experiments.presets import PRESET_NAMES, parse_setting
from .experiments.tasks import TASKS
from .training import TRAINING_MODES



class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in TRAINING_MODES]
    if not modes or bad:
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(bad) or repr(text)}; choose from {', '.join(TRAINING_MODES)}"
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
    try:
        return parse_setting(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_common(p: argparse.ArgumentParser, preset_default: str = "quick") -> None:
    p.add_argument(
        "--task", required=True, choices=TASKS, help=f"inverse problem: {', '.join(TASKS)} (required)"
    )
    p.add_argument(
        "--preset",
        default=preset_default,
        choices=PRESET_NAMES,
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
    p.add_argument("--mode", required=True, choices=TRAINING_MODES, help="training mode (required)")
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
        "--data-root",
        type=_existing_path,
        default=None,
        metavar="PATH",
        help="the data the checkpoint was trained on, if it has moved since",
    )
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
        default=list(TRAINING_MODES),
        help=f"comma-separated training modes (default {','.join(TRAINING_MODES)})",
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


def _check_out(path: Path) -> Path:
    """An output folder that exists or can be created, and is writable (checked before any work)."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is an existing file, not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--out {str(path)!r} is not writable")
    return path


def _task_from_args(args):
    from .experiments.tasks import get_task

    overrides = dict(args.set)
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
    from .experiments.checkpoints import FINAL
    from .experiments.runner import train_mode

    out = _check_out(Path(args.out) if args.out else Path("results") / args.task / args.mode)
    task, _ = _task_from_args(args)
    print(f"train: task {task.name}, preset {task.preset}, mode {args.mode}, out {out}")
    _, secs = train_mode(task, args.mode, out, resume=args.resume, progress=not args.quiet)
    print(f"{args.mode}: trained in {secs:.1f} s; final checkpoint {out / FINAL}")
    return 0


def _cmd_evaluate(args) -> int:
    from .experiments.runner import evaluate_checkpoint, summary_line

    out = _check_out(Path(args.out) if args.out else Path(args.checkpoint).parent)
    mode, seconds, rep = evaluate_checkpoint(
        args.checkpoint,
        args.task,
        out,
        device=args.device,
        eps=args.eps,
        data_root=args.data_root,
        progress=not args.quiet,
    )
    print(summary_line(mode, seconds, rep.conditions))
    print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.md'}")
    return 0


def _cmd_compare(args) -> int:
    from .experiments.runner import run_compare

    out = _check_out(Path(args.out) if args.out else Path("results") / args.task)
    task, overrides = _task_from_args(args)
    run_compare(
        task, args.modes, out, resume=args.resume, progress=not args.quiet, overrides=overrides
    )
    return 0


def _cmd_sweep(args) -> int:
    from .experiments.runner import run_sweep

    out = _check_out(Path(args.out) if args.out else Path("results") / f"{args.task}_sweep")
    task, overrides = _task_from_args(args)
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
    :return: exit status: 0 on success, 2 for bad arguments or input, 1 when training diverged,
        130 when interrupted.

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
    prog = f"deepinv-jitter {args.command}"
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError) as e:
        # bad input found after parsing (a bad setting, a data folder with no files, a wrong
        # checkpoint, ...)
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = (
            "the checkpoints written so far are complete; rerun with --resume"
            if hasattr(args, "resume")
            else "nothing was written"
        )
        print(f"\ninterrupted: {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
