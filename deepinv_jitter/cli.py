r"""The ``deepinv-jitter`` command line (also ``python -m deepinv_jitter``): argument parsing and
printing only; the work is done by :mod:`deepinv_jitter.experiments`.

Commands:

- ``train``: train one unrolled network with one training mode, with resumable checkpoints;
- ``evaluate``: measure a saved checkpoint in distribution, out of distribution, under random
  perturbations and under attack;
- ``compare``: train every mode with the same budget and seeds, evaluate all, write
  ``results.json``, ``results.md`` and figures (the paper's comparison);
- ``sweep``: train ``sgd_jitter`` at several noise levels (and the other modes once) and plot the
  accuracy-robustness trade-off, to choose :math:`\sigma`;
- ``generalization``: train every mode at several training-set sizes and plot test PSNR against
  size (the theory's first claim).

Bad arguments and bad input give one line on stderr and exit status 2 before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .__about__ import __version__
from .experiments import arguments as A
from .experiments.presets import PRESET_NAMES
from .experiments.tasks import TASKS
from .experiments.tasks.base import PRECISIONS
from .training import TRAINING_MODES


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _arg_type(fn):
    """An argparse type from a function that raises ValueError with a clear message."""

    def parse(text):
        try:
            return fn(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = fn.__name__
    return parse


_modes = _arg_type(A.parse_modes)
_sigmas = _arg_type(A.parse_positive_floats)


def _ints(what: str, low: int):
    return _arg_type(lambda text: A.parse_ints(text, what, low))


_existing_path = _arg_type(A.check_exists)
_existing_file = _arg_type(lambda text: A.check_exists(text, file=True))


# Every option once: (flags, argparse keyword arguments); commands pick theirs by name.
_OPTIONS = {
    "task": dict(
        required=True, choices=TASKS, help=f"inverse problem: {', '.join(TASKS)}"
    ),
    "preset": dict(
        default="quick",
        choices=PRESET_NAMES,
        help="size of the run: smoke (seconds, for tests), quick (minutes on a laptop CPU, "
        "the default), paper (the paper's scale, for a GPU)",
    ),
    "data-root": dict(
        type=_existing_path,
        metavar="PATH",
        help="real data instead of the built-in default: a SEG-Y file (seismic) or a folder "
        "of fastMRI single-coil .h5 files (mri)",
    ),
    "seed": dict(
        type=int, default=0, help="seed of data, weights and order (default 0)"
    ),
    "seeds": dict(
        type=_ints("--seeds", 0),
        help="comma-separated seeds, e.g. 0,1,2: every run once per seed, with 95%% intervals "
        "and paired differences to mse (default: --seed alone)",
    ),
    "device": dict(
        type=_arg_type(A.check_device),
        default="cpu",
        help="cpu or cuda[:N] (default cpu)",
    ),
    "precision": dict(
        choices=PRECISIONS,
        default="fp32",
        help="training precision: fp32 (default), or bf16/fp16 mixed precision (autocast; "
        "jitter noise, attacks and metrics stay in float32)",
    ),
    "eps": dict(
        type=_arg_type(A.parse_positive),
        help="attack budget (L2 norm of the change of y), > 0",
    ),
    "sigma": dict(
        type=_arg_type(A.parse_positive), help="SGD-jittering noise level sigma, > 0"
    ),
    "set": dict(
        type=_arg_type(A.parse_setting),
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change any other task setting, e.g. --set epochs=5 --set jitter_scale=relative",
    ),
    "quiet": dict(action="store_true", help="no progress bars"),
    "resume": dict(
        action="store_true", help="reuse finished runs, continue interrupted ones"
    ),
    "modes": dict(
        type=_modes,
        default=list(TRAINING_MODES),
        help=f"comma-separated training modes (default {','.join(TRAINING_MODES)}); a mode "
        "may combine perturbations with +, e.g. sgd_jitter+input_jitter",
    ),
}
_COMMON = (
    "task",
    "preset",
    "data-root",
    "seed",
    "device",
    "precision",
    "eps",
    "sigma",
    "set",
)


def _add(p, *names, **changes) -> None:
    for name in names:
        kwargs = dict(_OPTIONS[name]) | changes.get(name.replace("-", "_"), {})
        p.add_argument(f"--{name}", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    r"""The argument parser of ``deepinv-jitter`` (bad arguments exit with status 2).

    :return: an :class:`argparse.ArgumentParser`.

    >>> args = build_parser().parse_args(["compare", "--task", "seismic", "--preset", "smoke"])
    >>> args.command, args.modes, args.out, args.seeds
    ('compare', ['mse', 'sgd_jitter', 'input_jitter', 'adversarial'], None, None)
    """
    parser = _Parser(
        prog="deepinv-jitter",
        description="Train unrolled reconstruction networks with SGD jittering and compare them "
        "with MSE, input-jittering and adversarial training: in distribution, out of "
        "distribution, under random perturbations and under attack.",
        epilog="Example: deepinv-jitter compare --task seismic   (quick preset, ~4 min on 2 "
        "CPU cores)",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, help, description):
        return sub.add_parser(name, help=help, description=description)

    p = command(
        "train",
        "train one network with one training mode",
        "Train one unrolled network with one training mode; checkpoints after every epoch "
        "(atomic), --resume continues exactly where it stopped.",
    )
    _add(p, *_COMMON, "quiet", "resume")
    p.add_argument(
        "--mode",
        required=True,
        type=_arg_type(A.parse_mode),
        help=f"training mode: {', '.join(TRAINING_MODES)}, or a +-joined set of the "
        "perturbing ones, e.g. sgd_jitter+input_jitter",
    )
    p.add_argument("--out", help="checkpoint folder (default ./results/<task>/<mode>)")

    p = command(
        "evaluate",
        "evaluate a saved checkpoint",
        "Evaluate a checkpoint written by train/compare: PSNR/SSIM in distribution, OOD, "
        "under random perturbations, under attack, and PSNR against attack budget.",
    )
    _add(p, "task", "device", "eps", "data-root", "quiet")
    p.add_argument(
        "--checkpoint", required=True, type=_existing_file, help="checkpoint file"
    )
    p.add_argument("--out", help="output folder (default: the checkpoint's folder)")

    p = command(
        "compare",
        "train every mode and compare them (the paper's experiment)",
        "Train each mode with the same budget and seeds, evaluate all, and write results.json, "
        "results.md, attack_curves.png and examples.png into --out.",
    )
    _add(p, *_COMMON, "seeds", "modes", "quiet", "resume")
    p.add_argument("--out", help="output folder (default ./results/<task>)")

    p = command(
        "sweep",
        "accuracy-robustness trade-off over the SGD-jittering sigma",
        "Train sgd_jitter for each sigma and the reference modes once (per seed); write "
        "tradeoff.json and tradeoff.png; with --max-id-loss, recommend a sigma.",
    )
    _add(p, *_COMMON, "seeds", "quiet", "resume")
    p.add_argument(
        "--sigmas",
        type=_sigmas,
        required=True,
        help="comma-separated sigmas, e.g. 0.05,0.1,0.2",
    )
    p.add_argument(
        "--reference-modes",
        type=_arg_type(lambda t: [] if t.strip() in ("", "none") else A.parse_modes(t)),
        default=["mse", "input_jitter", "adversarial"],
        help="modes trained once as reference points, or 'none' (default "
        "mse,input_jitter,adversarial)",
    )
    p.add_argument(
        "--max-id-loss",
        type=_arg_type(A.parse_nonnegative),
        metavar="DB",
        help="accuracy budget: recommend the sigma with the highest adversarial PSNR whose "
        "in-distribution loss to mse (upper end of its 95%% interval) is at most DB",
    )
    p.add_argument("--out", help="output folder (default ./results/<task>_sweep)")

    p = command(
        "generalization",
        "test PSNR against training-set size, per mode",
        "Train every mode at each training-set size (per seed); write generalization.json and "
        "generalization.png (test PSNR, average-case PSNR and train-test gap against size).",
    )
    _add(p, *_COMMON, "seeds", "modes", "quiet", "resume")
    p.add_argument(
        "--n-train",
        type=_ints("--n-train", 1),
        required=True,
        help="comma-separated training-set sizes, e.g. 16,64,256,1024",
    )
    p.add_argument(
        "--budget",
        choices=("steps", "epochs"),
        default="steps",
        help="steps (default): every size gets the optimizer steps of the preset's own size; "
        "epochs: every size gets the preset's epochs",
    )
    p.add_argument(
        "--out", help="output folder (default ./results/<task>_generalization)"
    )
    return parser


def _task_from_args(args):
    from .experiments.tasks import get_task

    overrides = dict(args.set)
    for flag, key in (("eps", "attack_eps"), ("sigma", "jitter_sigma")):
        if getattr(args, flag, None) is not None:
            overrides[key] = getattr(args, flag)
    if getattr(args, "precision", "fp32") != "fp32":
        overrides["precision"] = args.precision
    task = get_task(
        args.task,
        args.preset,
        data_root=args.data_root,
        seed=args.seed,
        device=args.device,
        **overrides,
    )
    return task, overrides


def _out(args, default: Path) -> Path:
    return A.check_out_dir(args.out if args.out else default)


def _cmd_train(args) -> int:
    from .experiments.checkpoints import FINAL
    from .experiments.runner import train_mode

    out = _out(args, Path("results") / args.task / args.mode)
    task, _ = _task_from_args(args)
    print(f"train: task {task.name}, preset {task.preset}, mode {args.mode}, out {out}")
    _, secs = train_mode(
        task, args.mode, out, resume=args.resume, progress=not args.quiet
    )
    print(f"{args.mode}: trained in {secs:.1f} s; final checkpoint {out / FINAL}")
    return 0


def _cmd_evaluate(args) -> int:
    from .experiments.runner import evaluate_checkpoint, summary_line

    out = _out(args, Path(args.checkpoint).parent)
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


def _study(function: str, default_out: str, **keywords):
    """A command that runs one of the runner's studies over modes, seeds and settings."""

    def command(args) -> int:
        from .experiments import runner

        out = _out(args, Path("results") / default_out.format(task=args.task))
        task, overrides = _task_from_args(args)
        getattr(runner, function)(
            task,
            out=out,
            resume=args.resume,
            progress=not args.quiet,
            overrides=overrides,
            seeds=args.seeds,
            **{key: getattr(args, attr) for key, attr in keywords.items()},
        )
        return 0

    return command


_COMMANDS = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "compare": _study("run_compare", "{task}", modes="modes"),
    "sweep": _study(
        "run_sweep",
        "{task}_sweep",
        sigmas="sigmas",
        reference_modes="reference_modes",
        max_id_loss="max_id_loss",
    ),
    "generalization": _study(
        "run_generalization",
        "{task}_generalization",
        n_trains="n_train",
        modes="modes",
        budget="budget",
    ),
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
        # bad input found after parsing: a bad setting, a data folder with no files, a wrong
        # checkpoint, ... (checked before any training)
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
