"""Training-time overhead of SGD jittering (and adversarial training) over plain MSE training.

Trains the same unrolled GD network (5 iterations, small CNN prior) on the same data with
``training_mode`` = mse, sgd_jitter and adversarial, alternating the runs in one process so that
machine-load drifts hit all modes alike, and prints the median time of each mode and the median ratios
to mse. Target: sgd_jitter / mse <= 1.02 (the noise is O(n) next to the CNN's O(n k^2 c^2)).

    python benchmarks/jitter_overhead.py [--repeats 5] [--steps 20] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import deepinv as dinv
import torch

from deepinv_jitter import JitterTrainer
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.training import TRAINING_MODES

MODES = tuple(
    m for m in TRAINING_MODES if m != "input_jitter"
)  # input noise: no overhead


def time_mode(mode, data, physics, args, seed=0):
    """Seconds to train ``args.steps`` batches in ``mode`` (model built outside the timed region)."""
    torch.manual_seed(seed)
    model = build_unrolled(
        physics, "seismic", "gd", max_iter=5, stepsize=0.5, hidden=args.hidden, depth=5
    ).to(args.device)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=False)
    trainer = JitterTrainer(
        model,
        physics,
        torch.optim.Adam(model.parameters(), 1e-3),
        loader,
        epochs=1,
        max_batch_steps=args.steps,
        online_measurements=False,
        compute_train_metrics=False,
        metrics=[],
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        device=args.device,
        training_mode=mode,
        jitter_sigma=0.1,
        attack_steps=args.attack_steps,
        jitter_seed=seed,
    )
    if args.device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    trainer.train()
    if args.device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="training batches per run")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument(
        "--size", type=int, nargs=2, default=(128, 64), help="T N of each section"
    )
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--attack-steps", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--skip-adversarial", action="store_true")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")

    g = torch.Generator().manual_seed(0)
    n = args.batch * (args.steps + 1)
    x = torch.randn(n, 1, *args.size, generator=g)
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1)).to(args.device)
    data = dinv.datasets.TensorDataset(
        x=x, y=x + 0.1 * torch.randn(x.shape, generator=g)
    )
    modes = [m for m in MODES if not (args.skip_adversarial and m == "adversarial")]

    time_mode("mse", data, physics, args)  # warm-up (allocator, kernels)
    times = {m: [] for m in modes}
    ratios = {m: [] for m in modes if m != "mse"}
    for r in range(args.repeats):
        order = modes if r % 2 == 0 else modes[::-1]  # alternate the order too
        t = {m: time_mode(m, data, physics, args, seed=r) for m in order}
        for m in modes:
            times[m].append(t[m])
        for m in ratios:
            ratios[m].append(t[m] / t["mse"])
    print(
        f"device={args.device} threads={torch.get_num_threads()} steps={args.steps} "
        f"batch={args.batch} size={tuple(args.size)} repeats={args.repeats}"
    )
    for m in modes:
        print(f"{m:12s} median {statistics.median(times[m]):8.3f} s")
    for m, rs in ratios.items():
        print(
            f"{m}/mse median ratio {statistics.median(rs):.3f}  (runs: {[round(v, 3) for v in rs]})"
        )


if __name__ == "__main__":
    main()
