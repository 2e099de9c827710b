"""Training and evaluation time of the network's memory layout and compilation, alternated in one run.

Variants (task settings): ``contiguous`` (``channels_last=False``), ``channels_last`` (the
default), ``compile`` (``compile_prior=True``, contiguous) and ``compile_cl`` (both). Each repeat
trains every mode for ``--epochs`` epochs through ``deepinv_jitter.experiments.runner.train_mode``
(the code path of ``deepinv-jitter compare``) and evaluates it with ``evaluate_model``, once per
variant, the order of the variants reversed every other repeat so that drifts of machine load hit
them alike. Prints seconds per mode and variant, the median ratio of each variant to the first,
and the difference of the in-distribution PSNR to the first (same seed: the variants compute the
same function and differ only in rounding).

    python benchmarks/layout_speed.py --task seismic --preset quick --epochs 3 --repeats 2

Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from deepinv_jitter.experiments.runner import evaluate_model, train_mode
from deepinv_jitter.tasks import get_task

VARIANTS = {
    "contiguous": dict(channels_last=False),
    "channels_last": dict(channels_last=True),
    "compile": dict(channels_last=False, compile_prior=True),
    "compile_cl": dict(channels_last=True, compile_prior=True),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="seismic")
    p.add_argument("--preset", default="quick")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--modes", default="mse,sgd_jitter,adversarial")
    p.add_argument("--variants", default="contiguous,channels_last")
    p.add_argument("--no-eval", action="store_true", help="time training only")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    modes, variants = args.modes.split(","), args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    out = Path(tempfile.mkdtemp())
    train = {(m, v): [] for m in modes for v in variants}
    evals = {(m, v): [] for m in modes for v in variants}
    psnr = {}
    for r in range(args.repeats):
        for v in variants if r % 2 == 0 else variants[::-1]:
            task = get_task(args.task, args.preset, epochs=args.epochs, **VARIANTS[v])
            for m in modes:
                model, secs = train_mode(
                    task, m, out / f"{m}-{v}-{r}", progress=False, log=lambda *a: None
                )
                train[m, v].append(secs)
                line = f"repeat {r} {m:>12s} {v:>13s} train {secs:7.2f} s"
                if not args.no_eval:
                    t0 = time.perf_counter()
                    res = evaluate_model(task, model, progress=False)
                    evals[m, v].append(time.perf_counter() - t0)
                    psnr[m, v] = res.conditions["in_distribution"]["psnr"]
                    line += (
                        f"  evaluate {evals[m, v][-1]:6.2f} s  PSNR {psnr[m, v]:.2f}"
                    )
                print(line, flush=True)
    base = variants[0]
    for m in modes:
        for v in variants[1:]:
            ratio = statistics.median(
                a / b for a, b in zip(train[m, v], train[m, base])
            )
            line = f"{m:>12s} {v} / {base}: training {ratio:.2f}"
            if not args.no_eval:
                eratio = statistics.median(
                    a / b for a, b in zip(evals[m, v], evals[m, base])
                )
                diff = psnr[m, v] - psnr[m, base]
                line += f", evaluation {eratio:.2f}, PSNR difference {diff:+.2f} dB"
            print(line)


if __name__ == "__main__":
    main()
