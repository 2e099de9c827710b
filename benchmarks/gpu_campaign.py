"""The paper-scale campaign on a lent GPU, cut into pieces that survive a session boundary.

One call does, within ``--budget`` minutes of wall time:

1. unless ``--no-throughput``: ``benchmarks/gpu_throughput.py`` at the preset for float32 and bf16
   (``--amp bf16``; with ``--psnr-epochs N`` also the PSNR after N epochs in both precisions),
   written to ``OUT/throughput.json``;
2. for each task in order (``--tasks seismic,mri``): ``deepinv-jitter compare --task T --preset P
   --seeds 0,1,2 --resume --time-budget <what is left>`` in a work folder (``--work``; checkpoints
   stay there, outside ``OUT``), first seeded with the
   run files of the earlier sessions (``--previous``, default ``results/paper/T``: the committed
   ones), so that only the missing runs are trained; then every run file of the task is bundled
   into ``OUT/T_runs.json`` and the table into ``OUT/T_results.md``.

``OUT`` (``$OUT`` on the device machine) then holds at most seven files, none deeper than one
folder, as the device tool brings back. Back here, ``unpack`` writes each bundled run into its
folder and ``deepinv-jitter report`` rebuilds the tables and figures from all run files::

    python benchmarks/gpu_campaign.py unpack OUT/seismic_runs.json --into results/paper/seismic
    deepinv-jitter report results/paper/seismic --out results/paper/seismic

and the next session with a GPU continues from the committed files. On a CPU, ``--device cpu
--preset smoke`` runs the same steps in seconds (that is how the script is tested).

    python benchmarks/gpu_campaign.py run [--budget 11] [--tasks seismic,mri] [--seeds 0,1,2]
        [--preset paper] [--device cuda] [--out $OUT] [--previous results/paper]
        [--no-throughput] [--psnr-epochs 0] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_FILE = "run.json"


def _log(out: Path, text: str) -> None:
    print(text, flush=True)
    with open(out / "campaign.log", "a") as f:
        f.write(text + "\n")


def _python(args: list[str], out: Path, timeout: float) -> int:
    """Run ``python args`` with the repository on the path, its output into the log."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    with open(out / "campaign.log", "a") as log:
        log.write(f"$ python {' '.join(args)}\n")
        log.flush()
        try:
            proc = subprocess.run(
                [sys.executable, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=out,
                timeout=max(timeout, 1.0),
            )
        except subprocess.TimeoutExpired:
            log.write(f"stopped after {timeout:.0f} s\n")
            return 124
    return proc.returncode


def _seed_previous(previous: Path, work: Path) -> int:
    """Copy the run files of earlier sessions into ``work`` (same relative folders)."""
    n = 0
    if previous.is_dir():
        for path in previous.rglob(RUN_FILE):
            target = work / path.relative_to(previous)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                n += 1
    return n


def _bundle(work: Path, task: str) -> dict:
    runs = {}
    for path in sorted(work.rglob(RUN_FILE)):
        runs[path.parent.relative_to(work).as_posix()] = json.loads(path.read_text())
    return {"format": 1, "task": task, "runs": runs}


def cmd_run(args) -> int:
    started = time.time()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    budget = 60.0 * args.budget

    def left() -> float:
        return budget - (time.time() - started)

    summary = {"budget_minutes": args.budget, "tasks": {}, "started": time.time()}
    _log(
        out,
        f"campaign: budget {args.budget:g} min, tasks {args.tasks}, seeds {args.seeds}",
    )
    if args.throughput:
        code = _python(
            [
                str(ROOT / "benchmarks" / "gpu_throughput.py"),
                "--tasks",
                args.tasks,
                "--preset",
                args.preset,
                "--device",
                args.device,
                "--amp",
                "bf16",
                "--steps",
                str(args.throughput_steps),
                "--psnr-epochs",
                str(args.psnr_epochs),
                "--json",
                str(out / "throughput.json"),
            ],
            out,
            timeout=min(left() * 0.4, args.throughput_minutes * 60.0),
        )
        summary["throughput_exit"] = code
        _log(out, f"throughput: exit {code}, {left() / 60:.1f} min left")
    settings = [a for kv in args.set for a in ("--set", kv)]
    work_root = (
        Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="campaign_"))
    )
    for task in args.tasks.split(","):
        work = work_root / task
        work.mkdir(parents=True, exist_ok=True)
        seeded = _seed_previous(Path(args.previous) / task, work)
        minutes = (left() - args.margin) / 60.0
        if args.task_budget is not None:
            minutes = min(minutes, args.task_budget)
        entry = {"seeded_runs": seeded}
        if left() - args.margin < args.min_run_seconds:
            _log(out, f"{task}: {minutes:.1f} min left, too little for a run; skipped")
            entry["skipped"] = True
        else:
            code = _python(
                [
                    "-m",
                    "deepinv_jitter",
                    "compare",
                    "--task",
                    task,
                    "--preset",
                    args.preset,
                    "--seeds",
                    args.seeds,
                    "--modes",
                    args.modes,
                    "--device",
                    args.device,
                    "--out",
                    str(work),
                    "--resume",
                    "--quiet",
                    "--time-budget",
                    f"{max(minutes, 0.01):.3f}",
                    *settings,
                ],
                out,
                timeout=max(left(), 1.0),
            )
            entry["exit"] = code
        bundle = _bundle(work, task)
        (out / f"{task}_runs.json").write_text(json.dumps(bundle))
        if (work / "results.md").is_file():
            shutil.copy2(work / "results.md", out / f"{task}_results.md")
        entry["runs"] = sorted(bundle["runs"])
        summary["tasks"][task] = entry
        _log(
            out,
            f"{task}: {len(bundle['runs'])} runs in hand, {left() / 60:.1f} min left",
        )
    summary["seconds"] = time.time() - started
    (out / "campaign.json").write_text(json.dumps(summary, indent=2))
    return 0


def cmd_unpack(args) -> int:
    bundle = json.loads(Path(args.bundle).read_text())
    if bundle.get("format") != 1 or not isinstance(bundle.get("runs"), dict):
        print(f"{args.bundle}: not a campaign bundle", file=sys.stderr)
        return 2
    into = Path(args.into)
    for folder, run in bundle["runs"].items():
        if Path(folder).is_absolute() or ".." in Path(folder).parts:
            print(f"{args.bundle}: refusing folder {folder!r}", file=sys.stderr)
            return 2
        path = into / folder / RUN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run, indent=2))
    print(f"unpacked {len(bundle['runs'])} runs of {bundle['task']} into {into}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the campaign within a budget")
    r.add_argument("--budget", type=float, default=11.0, help="minutes of wall time")
    r.add_argument("--tasks", default="seismic,mri")
    r.add_argument("--seeds", default="0,1,2")
    r.add_argument("--modes", default="mse,sgd_jitter,input_jitter,adversarial")
    r.add_argument("--preset", default="paper")
    r.add_argument("--device", default="cuda")
    r.add_argument("--out", default=os.environ.get("OUT", "campaign_out"))
    r.add_argument("--previous", default=str(ROOT / "results" / "paper"))
    r.add_argument(
        "--work",
        default=None,
        help="where the runs' checkpoints go (default: a temporary folder, outside OUT, whose "
        "files the device tool would not bring back anyway)",
    )
    r.add_argument("--no-throughput", dest="throughput", action="store_false")
    r.add_argument("--throughput-steps", type=int, default=20)
    r.add_argument("--throughput-minutes", type=float, default=3.0)
    r.add_argument("--psnr-epochs", type=int, default=0)
    r.add_argument(
        "--margin", type=float, default=30.0, help="seconds kept for bundling"
    )
    r.add_argument(
        "--task-budget",
        type=float,
        default=None,
        help="at most this many minutes per task (default: all that is left)",
    )
    r.add_argument("--min-run-seconds", type=float, default=60.0)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument(
        "--task-set",
        action="append",
        default=[],
        metavar="TASK:KEY=VALUE",
        help="a setting for one task, e.g. seismic:epochs=6",
    )
    u = sub.add_parser("unpack", help="write a bundle's runs into their folders")
    u.add_argument("bundle")
    u.add_argument("--into", required=True)
    args = p.parse_args(argv)
    return cmd_run(args) if args.command == "run" else cmd_unpack(args)


if __name__ == "__main__":
    sys.exit(main())
