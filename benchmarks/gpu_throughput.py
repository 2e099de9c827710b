"""Training throughput (samples/s) of each training mode on a GPU (or the CPU), in float32 and
mixed precision.

For each task and each training mode, builds the task's unrolled network at the chosen preset on
``cuda``, trains a few warm-up batches, then times ``--steps`` batches of :class:`deepinv_jitter.JitterTrainer`
(online measurements, no metrics) between two ``torch.cuda.synchronize()`` calls, and prints samples/s,
the ratio to ``mse`` and the peak GPU memory. The training images are generated once and held in memory
before timing, so the figures measure training, not synthetic-data generation.

With ``--amp bf16`` (or ``fp16``) every mode is timed in float32 and in mixed precision in the
same run, and the ratio of their throughputs is printed; ``--psnr-epochs N`` also trains
``mse`` and ``sgd_jitter`` for ``N`` epochs in both precisions (same seed) and prints the
difference of their in-distribution PSNR. ``--device cpu`` is the CPU counterpart (for the
quick preset). Without a CUDA device and ``--device cuda`` it prints one line and exits with
status 0.

    python benchmarks/gpu_throughput.py [--tasks seismic,mri] [--preset paper] [--steps 20]
        [--modes mse,sgd_jitter,input_jitter,adversarial] [--amp bf16] [--psnr-epochs 2]
        [--device cuda] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import torch

from deepinv_jitter.training import TRAINING_MODES as MODES


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
        optimizer=torch.optim.Adam(model.parameters(), lr=task.config.lr),
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
        **task.trainer_settings(mode),
    )


def measure(task, mode, data, steps, warmup, amp=False) -> dict:
    """Throughput of one mode: ``steps`` timed batches after ``warmup`` untimed ones.

    :return: dict with ``samples_per_s``, ``seconds``, ``steps``, ``batch_size``, ``peak_mem_gb``.
    """
    torch.manual_seed(task.seed)
    model = task.build_model()
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=task.config.batch_size,
        shuffle=True,
        drop_last=True,
        pin_memory=True,
    )
    _trainer(task, model, loader, mode, warmup, amp).train()
    trainer = _trainer(task, model, loader, mode, steps, amp)
    cuda = torch.device(task.device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.train()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "samples_per_s": steps * task.config.batch_size / seconds,
        "seconds": seconds,
        "steps": steps,
        "batch_size": task.config.batch_size,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30
        if cuda
        else float("nan"),
    }


def psnr_difference(name, preset, device, amp, epochs) -> dict:
    """In-distribution PSNR of mse and sgd_jitter trained in float32 and in ``amp``."""
    import tempfile

    from deepinv_jitter.experiments.runner import evaluate_model, train_mode
    from deepinv_jitter.tasks import get_task

    out = {}
    for mode in ("mse", "sgd_jitter"):
        psnr = {}
        for precision in ("fp32", amp):
            task = get_task(
                name, preset, device=device, epochs=epochs, precision=precision
            )
            with tempfile.TemporaryDirectory() as d:
                model, _ = train_mode(
                    task, mode, d, progress=False, log=lambda *a: None
                )
            rep = evaluate_model(task, model, progress=False, curve_eps=[], eps=0.0)
            psnr[precision] = rep.conditions["in_distribution"]["psnr"]
        out[mode] = {
            "fp32": psnr["fp32"],
            amp: psnr[amp],
            "difference": psnr[amp] - psnr["fp32"],
        }
        print(
            f"{mode:>13s} | PSNR fp32 {psnr['fp32']:.2f} dB | {amp} {psnr[amp]:.2f} dB | "
            f"difference {psnr[amp] - psnr['fp32']:+.3f} dB ({epochs} epochs)"
        )
    return out


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
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument(
        "--psnr-epochs",
        type=int,
        default=0,
        help="with --amp: train N epochs in both precisions",
    )
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_throughput: no CUDA device available; skipping (nothing measured)")
        return 0
    from deepinv_jitter.experiments.reports import write_json
    from deepinv_jitter.experiments.tasks import REGISTRY
    from deepinv_jitter.tasks import get_task

    warnings.filterwarnings("ignore")
    device_name = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"CPU x{torch.get_num_threads()}"
    )
    print(
        f"gpu_throughput: {device_name}, torch {torch.__version__}, preset {args.preset}"
    )
    results = {"device": device_name, "preset": args.preset, "tasks": {}}
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        # the batch size from the settings alone (building the task would build its data)
        n = REGISTRY[name].config(args.preset).batch_size * max(args.steps, args.warmup)
        task = get_task(name, args.preset, device=args.device, n_train=n)
        data = _cached(task.train_dataset, n)
        print(
            f"\n{name}: img {tuple(data[0].shape)}, batch {task.config.batch_size}, {task.config.max_iter} unrolled "
            f"iterations, channels {task.config.hidden}, train attack steps {task.config.train_attack_steps}"
        )
        print(f"{'mode':>13s} | {'samples/s':>10s} | {'x mse':>6s} | {'peak GB':>7s}")
        rows = {}
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            if args.amp:  # float32 first, in the same run, for the ratio
                ref = measure(task, mode, data, args.steps, args.warmup, amp=False)
            rows[mode] = measure(
                task, mode, data, args.steps, args.warmup, amp=args.amp or False
            )
            if args.amp:
                rows[mode]["fp32_samples_per_s"] = ref["samples_per_s"]
                rows[mode]["speedup_vs_fp32"] = (
                    rows[mode]["samples_per_s"] / ref["samples_per_s"]
                )
                print(
                    f"{mode:>13s} | fp32 {ref['samples_per_s']:10.1f} samples/s | {args.amp} "
                    f"x{rows[mode]['speedup_vs_fp32']:.2f}"
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
        if args.amp and args.psnr_epochs > 0:
            results["tasks"][name]["psnr"] = psnr_difference(
                name, args.preset, args.device, args.amp, args.psnr_epochs
            )
    if args.json:
        write_json(results, args.json)  # atomic; NaN (no GPU memory on a CPU) as null
    return 0


if __name__ == "__main__":
    sys.exit(main())
