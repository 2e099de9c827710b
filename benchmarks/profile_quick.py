r"""Where the time of the quick comparison goes: a profile of training epochs and one evaluation.

Trains each mode for ``--epochs`` epochs of a task's preset (through the runner, as
``deepinv-jitter compare`` does) and evaluates it once, under :mod:`cProfile`, and prints, per
mode, the share of the time spent in each part of a training step (data loading, the operator,
the prior, the jitter noise, the attack, backward, the optimizer, checkpoints, deepinv's
bookkeeping) and per evaluation condition.

Categories are cumulative times of the functions named below (inclusive, so a category such as
"prior" also counts its own backward only when autograd calls back into Python, which it does not:
backward time is reported on its own).

Usage::

    python benchmarks/profile_quick.py --task seismic --preset quick --epochs 2
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import warnings
from pathlib import Path

from deepinv_jitter.experiments.runner import evaluate_model, train_mode
from deepinv_jitter.tasks import get_task
from deepinv_jitter.training import TRAINING_MODES

# (label, substrings of "file:function" whose cumulative time is counted)
TRAIN_PARTS = [
    ("whole training", ["trainer.py:train"]),
    ("data loading (dataset __getitem__ + collate)", ["dataloader.py:__next__"]),
    ("measurement y = A x + n", ["trainer.py:get_samples_online"]),
    ("forward pass (model_inference)", ["deepinv/training/trainer.py:model_inference"]),
    (
        "  operator A / A^T (physics)",
        ["seismic.py:A", "seismic.py:A_adjoint", "mri.py:A"],
    ),
    ("  prior network", ["priors.py:forward", "linear.py:forward"]),
    ("  jitter noise", ["jitter.py:jitter_noise"]),
    ("backward", ["_tensor.py:backward"]),
    ("optimizer step", ["optimizer.py:wrapper"]),
    ("attack (adversarial training)", ["attacks.py:pgd_attack"]),
    ("input noise", ["trainer.py:perturb_measurement"]),
    ("checkpoints", ["trainer.py:save_model"]),
    ("training metrics", ["trainer.py:compute_metrics"]),
]
EVAL_PARTS = [
    ("whole evaluation", ["evaluate.py:evaluate_robustness"]),
    ("in distribution / OOD reconstructions", ["evaluate.py:recon"]),
    ("average case (random perturbations)", ["evaluate.py:average_case"]),
    ("attack (adversarial + curve)", ["evaluate.py:adversarial"]),
    ("metrics", ["metric.py:forward", "metric/base.py:forward"]),
]


def _cumulative(stats: pstats.Stats, patterns) -> float:
    total = 0.0
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        key = f"{file}:{func}"
        if any(key.endswith(p) or p in key for p in patterns):
            total += ct
    return total


def _table(title, parts, stats, whole):
    print(f"\n{title}")
    print(f"{'part':48s} {'seconds':>9s} {'share':>7s}")
    for label, patterns in parts:
        t = _cumulative(stats, patterns)
        print(f"{label:48s} {t:9.2f} {100 * t / whole:6.1f}%")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="seismic")
    p.add_argument("--preset", default="quick")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--modes", default=",".join(TRAINING_MODES))
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    task = get_task(args.task, args.preset, epochs=args.epochs)
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as d:
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            model, _ = train_mode(
                task, mode, Path(d), progress=False, log=lambda *a: None
            )
            prof.disable()
            train_wall = time.perf_counter() - t0
        stats = pstats.Stats(prof)
        _table(
            f"[{mode}] training, {args.epochs} epochs: {train_wall:.1f} s",
            TRAIN_PARTS,
            stats,
            train_wall,
        )
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        evaluate_model(task, model, progress=False)
        prof.disable()
        eval_wall = time.perf_counter() - t0
        _table(
            f"[{mode}] evaluation: {eval_wall:.1f} s",
            EVAL_PARTS,
            pstats.Stats(prof),
            eval_wall,
        )


if __name__ == "__main__":
    main()
