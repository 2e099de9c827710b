"""Training throughput (samples/s) of each training mode on a GPU.

For each task and each training mode, builds the task's unrolled network at the chosen preset on
``cuda``, trains a few warm-up batches, then times ``--steps`` batches of :class:`deepinv_jitter.JitterTrainer`
(online measurements, no metrics) between two ``torch.cuda.synchronize()`` calls, and prints samples/s,
the ratio to ``mse`` and the peak GPU memory. The training images are generated once and held in memory
before timing, so the figures measure training, not synthetic-data generation.

Without a CUDA device it prints one line and exits with status 0.

    python benchmarks/gpu_throughput.py [--tasks seismic,mri] [--preset paper] [--steps 20]
        [--modes mse,sgd_jitter,input_jitter,adversarial] [--amp bf16] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import torch

MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")


def _cached(dataset, n):
    """The first ``n`` items of ``dataset`` as an in-memory TensorDataset (deepinv's format)."""
    import deepinv as dinv

    items = [dataset[i] for i in range(n)]
    items = [it[0] if isinstance(it, (tuple, list)) else it for it in items]
    return dinv.datasets.TensorDataset(x=torch.stack(items))


def _trainer(task, model, loader, mode, steps, amp):
    from deepinv_jitter import JitterTrainer

    return JitterTrainer(
        model=model,
        physics=task.physics,
        optimizer=torch.optim.Adam(model.parameters(), lr=task.lr),
        train_dataloader=loader,
        epochs=1,
        max_batch_steps=steps,
        online_measurements=True,
        compute_train_metrics=False,
        metrics=[],
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        device=task.device,
        mixed_precision=amp,
        jitter_seed=task.seed,
        distributed=False,
        **task.trainer_settings(mode),
    )


def measure(task, mode, data, steps, warmup, amp=False) -> dict:
    """Throughput of one mode: ``steps`` timed batches after ``warmup`` untimed ones.

    :return: dict with ``samples_per_s``, ``seconds``, ``steps``, ``batch_size``, ``peak_mem_gb``.
    """
    torch.manual_seed(task.seed)
    model = task.build_model()
    loader = torch.utils.data.DataLoader(
        data, batch_size=task.batch_size, shuffle=True, drop_last=True, pin_memory=True
    )
    _trainer(task, model, loader, mode, warmup, amp).train()
    trainer = _trainer(task, model, loader, mode, steps, amp)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.train()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "samples_per_s": steps * task.batch_size / seconds,
        "seconds": seconds,
        "steps": steps,
        "batch_size": task.batch_size,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="seismic,mri", help="comma-separated tasks")
    p.add_argument("--preset", default="paper", help="task preset (default paper)")
    p.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated training modes"
    )
    p.add_argument("--steps", type=int, default=20, help="timed batches per mode")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches per mode")
    p.add_argument(
        "--amp", default=None, help="mixed precision: bf16 or fp16 (default off)"
    )
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_throughput: no CUDA device available; skipping (nothing measured)")
        return 0
    from deepinv_jitter.tasks import get_task

    warnings.filterwarnings("ignore")
    device_name = torch.cuda.get_device_name()
    print(
        f"gpu_throughput: {device_name}, torch {torch.__version__}, preset {args.preset}"
    )
    results = {"device": device_name, "preset": args.preset, "tasks": {}}
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        probe = get_task(name, args.preset, device="cuda")
        n = probe.batch_size * max(args.steps, args.warmup)
        task = get_task(name, args.preset, device="cuda", n_train=n)
        data = _cached(task.train_dataset, n)
        print(
            f"\n{name}: img {tuple(data[0].shape)}, batch {task.batch_size}, {task.n_iter} unrolled "
            f"iterations, channels {task.channels}, train attack steps {task.train_attack_steps}"
        )
        print(f"{'mode':>13s} | {'samples/s':>10s} | {'x mse':>6s} | {'peak GB':>7s}")
        rows = {}
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            rows[mode] = measure(
                task, mode, data, args.steps, args.warmup, amp=args.amp or False
            )
            ratio = (
                rows["mse"]["samples_per_s"] / rows[mode]["samples_per_s"]
                if "mse" in rows
                else float("nan")
            )
            rows[mode]["time_ratio_to_mse"] = ratio
            print(
                f"{mode:>13s} | {rows[mode]['samples_per_s']:10.1f} | {ratio:6.2f} | "
                f"{rows[mode]['peak_mem_gb']:7.2f}"
            )
        results["tasks"][name] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
