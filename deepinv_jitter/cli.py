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
  size (the theory's first claim);
- ``report``: rebuild a comparison's tables and figures from the run result files of one or more
  output folders (runs made on several machines merge).

Bad arguments and bad input give one line on stderr and exit status 2 before any work starts;
a failure during the work gives one line and exit status 1 (``--debug`` adds the traceback).
Every command that writes holds a lock on its output folder (one writer per folder).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from .__about__ import __version__
from .experiments import arguments as A
from .experiments.presets import PRESET_NAMES
from .experiments.tasks import TASKS
from .experiments.tasks.base import PRECISIONS, RENAMED, renamed_settings, settings_help
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
        required=True,
        type=_arg_type(A.parse_task),
        metavar="TASK",
        help=f"inverse problem: {', '.join(TASKS)}, or your own as module:ATTRIBUTE (a "
        "TaskSpec importable from your environment, e.g. mytasks:SPEC) or a name declared "
        "in the entry points group deepinv_jitter.tasks",
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
    "quiet": dict(
        action="store_true",
        help="no progress bars (also off when stderr is not a terminal: one line per run)",
    ),
    "time-budget": dict(
        type=_arg_type(A.parse_positive),
        metavar="MINUTES",
        help="stop cleanly before the run that would exceed this many minutes (estimated "
        "from the runs done); the files then cover the runs done, marked incomplete, and "
        "the same command with --resume continues",
    ),
    "debug": dict(
        action="store_true",
        help="on an unexpected error, print the traceback (also with DEEPINV_JITTER_DEBUG=1)",
    ),
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


_WITH_SETTINGS = ("train", "compare", "sweep", "generalization")
_SETTINGS_EPILOG = (
    "task settings (--set KEY=VALUE; the preset and the task set their defaults; task options "
    "are listed in the user guide):\n" + settings_help()
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
        return sub.add_parser(
            name,
            help=help,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=_SETTINGS_EPILOG if name in _WITH_SETTINGS else None,
        )

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
    _add(p, *_COMMON, "seeds", "modes", "quiet", "resume", "time-budget")
    p.add_argument("--out", help="output folder (default ./results/<task>)")

    p = command(
        "sweep",
        "accuracy-robustness trade-off over the SGD-jittering sigma",
        "Train sgd_jitter for each sigma and the reference modes once (per seed); write "
        "tradeoff.json and tradeoff.png; with --max-id-loss, recommend a sigma.",
    )
    _add(p, *_COMMON, "seeds", "quiet", "resume", "time-budget")
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
    _add(p, *_COMMON, "seeds", "modes", "quiet", "resume", "time-budget")
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

    p = command(
        "report",
        "rebuild a comparison's tables and figures from its run files",
        "Rebuild results.json, results.md and the figures of a comparison from the run result "
        "files (run.json) in one or more output folders of compare, e.g. runs made on "
        "different machines; no checkpoint is read. Runs whose identities disagree on "
        "anything but the seed are refused.",
    )
    p.add_argument(
        "folders",
        nargs="+",
        type=_existing_path,
        metavar="DIR",
        help="output folders of compare",
    )
    p.add_argument("--out", required=True, help="where to write the rebuilt files")
    p.add_argument(
        "--reference",
        type=_arg_type(A.parse_mode),
        default="mse",
        help="the mode the paired differences are taken against (default mse), e.g. "
        "sgd_jitter to compare sgd_jitter+input_jitter with its part",
    )
    _add(p, "quiet")
    for q in sub.choices.values():
        _add(q, "debug")
    return parser


#: ``--set`` keys that have their own flag
_OWN_FLAGS = {
    "device": "--device",
    "seed": "--seed (or --seeds)",
    "data_root": "--data-root",
    "precision": "--precision",
    "attack_eps": "--eps",
    "jitter_sigma": "--sigma",
    "name": "--task",
    "preset": "--preset",
}


def _task_from_args(args):
    from .experiments.tasks import get_task

    overrides = dict(args.set)
    for key in overrides:
        if key in _OWN_FLAGS:
            raise ValueError(f"--set {key}=...: use {_OWN_FLAGS[key]} instead")
    for old, new in RENAMED.items():
        if old in overrides:
            print(f"note: --set {old} is now --set {new}", file=sys.stderr)
    with warnings.catch_warnings():  # the note above says it once, in the CLI's words
        warnings.simplefilter("ignore", DeprecationWarning)
        overrides = renamed_settings(overrides)  # refuses both names given
    for flag, key in (("eps", "attack_eps"), ("sigma", "jitter_sigma")):
        if getattr(args, flag, None) is not None:
            overrides[key] = getattr(args, flag)
    if getattr(args, "precision", "fp32") != "fp32":
        overrides["precision"] = args.precision
    if args.command == "sweep" and args.sigma is not None:
        raise ValueError(
            "sweep takes its levels from --sigmas; --sigma would be recorded unused"
        )
    seeds = getattr(args, "seeds", None)
    seed = args.seed
    if seeds is not None:
        if args.seed_given:
            raise ValueError("--seed and --seeds: give one of them")
        seed = seeds[0]
    task = get_task(
        args.task,
        args.preset,
        data_root=args.data_root,
        seed=seed,
        device=args.device,
        **overrides,
    )
    return task, overrides


def _out(args, default: Path) -> Path:
    if args.out is not None and not str(args.out).strip():
        raise ValueError("--out is empty: give a folder")
    return A.check_out_dir(args.out if args.out else default)


def _progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


@contextmanager
def _writing(args, out: Path):
    """Hold the output folder's lock; from then on an error is a failure of the work (exit 1)."""
    from .experiments.lock import OutputLock

    with OutputLock(out, _command_line(args)):
        _WORK.started = True
        yield


def _cmd_train(args) -> int:
    from .experiments.checkpoints import FINAL
    from .experiments.runner import train_mode

    out = _out(args, Path("results") / args.task / args.mode)
    task, _ = _task_from_args(args)
    with _writing(args, out):
        print(
            f"train: task {task.name}, preset {task.preset}, mode {args.mode}, out {out}"
        )
        _, secs = train_mode(
            task, args.mode, out, resume=args.resume, progress=_progress(args)
        )
    print(f"{args.mode}: trained in {secs:.1f} s; final checkpoint {out / FINAL}")
    return 0


def _cmd_evaluate(args) -> int:
    from .experiments.runner import evaluate_checkpoint, summary_line

    out = _out(args, Path(args.checkpoint).parent)
    with _writing(args, out):
        mode, seconds, rep = evaluate_checkpoint(
            args.checkpoint,
            args.task,
            out,
            device=args.device,
            eps=args.eps,
            data_root=args.data_root,
            progress=_progress(args),
        )
    print(summary_line(mode, seconds, rep.conditions))
    print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.md'}")
    return 0


def _cmd_report(args) -> int:
    from .experiments.runner import report_runs

    out = _out(args, Path("report"))
    with _writing(args, out):
        report_runs(args.folders, out, reference=args.reference)
    return 0


def _study(function: str, default_out: str, **keywords):
    """A command that runs one of the runner's studies over modes, seeds and settings."""

    def command(args) -> int:
        from .experiments import runner

        out = _out(args, Path("results") / default_out.format(task=args.task))
        task, overrides = _task_from_args(args)
        budget = None if args.time_budget is None else 60.0 * args.time_budget
        with _writing(args, out):
            result = getattr(runner, function)(
                task,
                out=out,
                resume=args.resume,
                progress=_progress(args),
                overrides=overrides,
                seeds=args.seeds,
                time_budget=budget,
                **{key: getattr(args, attr) for key, attr in keywords.items()},
            )
        if not result.get("complete", True):
            again = _command_line(args, resume=True)
            print(
                f"incomplete: {result.get('runs_done', 0)} of {result.get('runs_total')} "
                f"runs done; continue with: {again}"
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
    "report": _cmd_report,
}


class _Work:
    """Whether the current command has started its work (errors after it exit 1, before it 2)."""

    started = False


_WORK = _Work()
_ARGV: list[str] = []


def _command_line(args, resume: bool = False) -> str:
    import shlex

    argv = list(_ARGV)
    if resume and "--resume" not in argv:
        argv.append("--resume")
    return "deepinv-jitter " + shlex.join(argv)


def _message(e: BaseException) -> str:
    """One line for an error that was not foreseen as bad input."""
    import errno

    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        where = f" writing {e.filename}" if e.filename else ""
        return f"no space left on the device{where}; free some space and rerun with --resume"
    if isinstance(e, PermissionError):
        where = f" {e.filename!r}" if e.filename else ""
        return f"permission denied{where}: the output folder must stay writable"
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        return f"{e.strerror}{where}"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    r"""Run the command line.

    Every error becomes one line on stderr naming the command and the problem: exit status 2 for
    bad input found before any work starts (arguments, settings, data, checkpoints, an output
    folder held by another writer), 1 for a failure during the work (training diverged, the disk
    filled up, ...), 130 when interrupted. ``--debug`` (or ``DEEPINV_JITTER_DEBUG=1``) adds the
    traceback.

    :param list[str], None argv: arguments (default ``sys.argv[1:]``).
    :return: the exit status.

    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as text:
    ...     code = main([])  # no command: prints the help
    >>> code, "compare" in text.getvalue()
    (0, True)
    """
    import os

    from .experiments.lock import LockedError

    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    _WORK.started = False
    args = None
    debug = "--debug" in _ARGV or os.environ.get("DEEPINV_JITTER_DEBUG") == "1"
    prog = "deepinv-jitter"
    try:
        parser = build_parser()
        args = parser.parse_args(_ARGV)
        if args.command is None:
            parser.print_help()
            return 0
        args.seed_given = any(a == "--seed" or a.startswith("--seed=") for a in _ARGV)
        if getattr(args, "quiet", False) or not sys.stderr.isatty():
            # every tqdm bar, deepinv's dataset scans included
            os.environ["TQDM_DISABLE"] = "1"
        prog = f"deepinv-jitter {args.command}"
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        resumable = getattr(args, "resume", None) is not None
        if not _WORK.started:
            hint = "nothing was written"
        elif resumable:
            hint = "the checkpoints written so far are complete; rerun with --resume"
        else:
            hint = "it did not finish; run it again"
        print(f"\ninterrupted: {hint}", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except (LockedError, FloatingPointError) as e:
        code = 2 if isinstance(e, LockedError) else 1
        print(f"{prog}: error: {e}", file=sys.stderr)
        return code
    except (ValueError, TypeError, FileNotFoundError) as e:
        # bad input: a bad setting, a data folder with no files, a wrong checkpoint, ... (found
        # before the work starts; after it, the same errors are a failure of the run)
        if debug:
            import traceback

            traceback.print_exc()
        print(f"{prog}: error: {str(e).strip() or type(e).__name__}", file=sys.stderr)
        return 1 if _WORK.started and not isinstance(e, ValueError) else 2
    except Exception as e:  # noqa: BLE001 - any other failure: one line, traceback on request
        if debug:
            import traceback

            traceback.print_exc()
        stage = "during the work" if _WORK.started else "before any work started"
        print(
            f"{prog}: error {stage}: {_message(e)}"
            + ("" if debug else " (--debug shows the traceback)"),
            file=sys.stderr,
        )
        return 1 if _WORK.started else 2


if __name__ == "__main__":
    sys.exit(main())
