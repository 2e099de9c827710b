"""Seed study: SGD jittering against MSE training, per seed, with the train-test gap.

For each seed, trains ``mse`` and ``sgd_jitter`` at each ``--sigmas`` value with
``deepinv_jitter.experiments.runner.train_mode`` (the code path of ``deepinv-jitter compare``), evaluates them with
``evaluate_robustness`` (in distribution, OOD, Gaussian, adversarial) and measures the PSNR on as many
training sections as there are test sections. Prints, per seed and sigma, the PSNR differences to the
MSE model of the same seed, their means over seeds, and each model's train-minus-test gap (how much
variance there is for the implicit regularisation of jittering to remove).

    python benchmarks/jitter_seeds.py --task seismic --preset quick --seeds 0,1,2 --sigmas 0.1,0.12

Settings of the task can be changed with ``--set KEY=VALUE`` (as on the command line), e.g.
``--set epochs=120 --set n_train=16``. Not a test: the default takes about 15 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from pathlib import Path

import torch

from deepinv_jitter.experiments.arguments import parse_setting
from deepinv_jitter.experiments.runner import evaluate_model, train_mode
from deepinv_jitter.tasks import get_task

CONDITIONS = ("in_distribution", "ood", "adversarial")


def train_psnr(task, model) -> float:
    """Mean PSNR on the first ``n_test`` training sections, measured as the test set is."""
    n = min(len(task.test_dataset), len(task.train_dataset))
    subset = torch.utils.data.Subset(task.train_dataset, range(n))
    # budget 0 and no curve: clean reconstructions only
    report = evaluate_model(
        task, model, progress=False, data=subset, eps=0.0, curve_eps=[]
    )
    return report.conditions["in_distribution"]["psnr"]


def run(task, mode, sigma=None):
    if sigma is not None:
        task = task.replace(jitter_sigma=sigma)
    with tempfile.TemporaryDirectory() as d:
        model, secs = train_mode(
            task, mode, Path(d), progress=False, log=lambda *a: None
        )
    conds = evaluate_model(task, model, progress=False).conditions
    row = {c: conds[c]["psnr"] for c in CONDITIONS}
    row["gap"] = train_psnr(task, model) - row["in_distribution"]
    row["seconds"] = secs
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="seismic")
    p.add_argument("--preset", default="quick")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sigmas", default="0.1")
    p.add_argument(
        "--set", action="append", default=[], type=parse_setting, metavar="KEY=VALUE"
    )
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    seeds = [int(s) for s in args.seeds.split(",")]
    sigmas = [float(s) for s in args.sigmas.split(",")]
    overrides = dict(args.set)
    diffs = {s: {c: [] for c in CONDITIONS} for s in sigmas}
    for seed in seeds:
        task = get_task(args.task, args.preset, seed=seed, **overrides)
        base = run(task, "mse")
        print(
            f"seed {seed} mse: ID {base['in_distribution']:.2f} OOD {base['ood']:.2f} "
            f"adv {base['adversarial']:.2f} dB, train-test gap {base['gap']:.2f} dB",
            flush=True,
        )
        for sigma in sigmas:
            row = run(task, "sgd_jitter", sigma)
            for c in CONDITIONS:
                diffs[sigma][c].append(row[c] - base[c])
            print(
                f"seed {seed} sgd_jitter sigma {sigma:g}: "
                + " ".join(f"{c} {row[c] - base[c]:+.2f}" for c in CONDITIONS)
                + f" dB vs mse, train-test gap {row['gap']:.2f} dB, "
                f"time ratio {row['seconds'] / base['seconds']:.2f}",
                flush=True,
            )
    for sigma in sigmas:
        means = " ".join(
            f"{c} {statistics.mean(diffs[sigma][c]):+.2f}" for c in CONDITIONS
        )
        print(f"mean over {len(seeds)} seeds, sigma {sigma:g}: {means} dB vs mse")


if __name__ == "__main__":
    main()
