"""Training-time ratios of the four modes on a task preset, measured the way ``compare`` trains.

Each repeat trains every mode for ``--epochs`` epochs with ``deepinv_jitter.experiments.runner.train_mode`` (the
same code path as ``deepinv-jitter compare``: JitterTrainer, online measurements, checkpoints), the
modes alternating inside a repeat so that drifts of machine load hit them alike. Prints the median
seconds per mode and the median ratio of each mode to ``mse``.

    python benchmarks/compare_timing.py --task seismic --preset quick --epochs 2 --repeats 3

Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from pathlib import Path

from deepinv_jitter.experiments.runner import train_mode
from deepinv_jitter.tasks import get_task
from deepinv_jitter.training import TRAINING_MODES as MODES


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="seismic")
    p.add_argument("--preset", default="quick")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    task = get_task(args.task, args.preset, device=args.device, epochs=args.epochs)
    modes = args.modes.split(",")
    times = {m: [] for m in modes}
    out = Path(tempfile.mkdtemp())
    for r in range(args.repeats):
        order = modes if r % 2 == 0 else modes[::-1]
        for m in order:
            _, secs = train_mode(
                task, m, out / f"{m}{r}", progress=False, log=lambda *a: None
            )
            times[m].append(secs)
            print(f"repeat {r} {m:>12s} {secs:7.2f} s", flush=True)
    med = {m: statistics.median(t) for m, t in times.items()}
    ratios = {
        m: statistics.median(a / b for a, b in zip(times[m], times["mse"]))
        for m in modes
    }
    for m in modes:
        print(
            f"{m:>12s} median {med[m]:7.2f} s   ratio to mse (median of pairs) {ratios[m]:.2f}"
        )


if __name__ == "__main__":
    main()
