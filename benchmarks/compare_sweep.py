"""Grid of comparison runs for tuning a task's defaults (architecture, attack budget, jitter sigma).

Runs, in one process, a list of configurations (a training mode plus any Task overrides), each
trained with ``deepinv_jitter.experiments.runner.train_mode`` and evaluated with ``evaluate_robustness``, and prints
one line per run plus a JSON summary. With ``--calibrate`` it first trains the MSE baseline and
measures the PSNR drop under Gaussian noise and under attack for a list of budgets, then uses the
budget whose attack costs closest to ``--target-drop`` dB (and Gaussian noise < 0.5 dB) for every run.

    python benchmarks/compare_sweep.py --task seismic --preset quick --device cuda \\
        --configs '{"mse": {"mode": "mse"}, "j05": {"mode": "sgd_jitter", "jitter_sigma": 0.05}}'

Not a test: it takes minutes (seconds per run on a GPU).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from deepinv_jitter.experiments.reports import json_safe, write_json
from deepinv_jitter.experiments.runner import evaluate_model, train_mode
from deepinv_jitter.tasks import get_task


def calibrate(task, model, eps_list):
    """PSNR drops of a model under Gaussian noise and under attack, per budget."""
    base = evaluate_model(
        task, model, progress=False, eps=0.0, curve_eps=[0.0]
    ).conditions
    rows = []
    for eps in eps_list:
        c = evaluate_model(
            task, model, progress=False, eps=eps, curve_eps=[0.0]
        ).conditions
        rows.append(
            {
                "eps": eps,
                "gauss_drop": base["in_distribution"]["psnr"] - c["gaussian"]["psnr"],
                "adv_drop": base["in_distribution"]["psnr"] - c["adversarial"]["psnr"],
            }
        )
        print(
            f"  calibrate eps={eps:g}: gaussian -{rows[-1]['gauss_drop']:.2f} dB, "
            f"attack -{rows[-1]['adv_drop']:.2f} dB",
            flush=True,
        )
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="seismic")
    p.add_argument("--preset", default="quick")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--configs", required=True, help="JSON {name: {mode, **overrides}}")
    p.add_argument("--common", default="{}", help="JSON overrides applied to every run")
    p.add_argument(
        "--calibrate", default="", help="comma-separated eps list for calibration"
    )
    p.add_argument("--target-drop", type=float, default=4.5)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    configs = json.loads(args.configs)
    common = json.loads(args.common)
    out = Path(args.out or tempfile.mkdtemp())
    summary = {"common": common, "runs": {}}
    if args.calibrate:
        task = get_task(
            args.task, args.preset, seed=args.seed, device=args.device, **common
        )
        model, _ = train_mode(
            task, "mse", out / "calib_mse", progress=False, log=lambda *a: None
        )
        rows = calibrate(task, model, [float(e) for e in args.calibrate.split(",")])
        ok = [r for r in rows if r["gauss_drop"] < 0.5] or rows
        best = min(ok, key=lambda r: abs(r["adv_drop"] - args.target_drop))
        common["attack_eps"] = best["eps"]
        summary["calibration"] = rows
        print(f"chosen eps {best['eps']:g}", flush=True)
    for name, cfg in configs.items():
        cfg = dict(cfg)
        mode = cfg.pop("mode")
        seed = cfg.pop("seed", args.seed)
        task = get_task(
            args.task, args.preset, seed=seed, device=args.device, **(common | cfg)
        )
        t0 = time.time()
        model, secs = train_mode(
            task, mode, out / name, progress=False, log=lambda *a: None
        )
        rep = evaluate_model(task, model, progress=False)
        c = {k: round(v["psnr"], 3) for k, v in rep.conditions.items()}
        step = [
            float(v.detach().mean())
            for k, v in model.named_parameters()
            if "stepsize" in k
        ]
        summary["runs"][name] = {
            "mode": mode,
            "cfg": cfg,
            "psnr": c,
            "train_s": secs,
            "ssim": {k: round(v["ssim"], 4) for k, v in rep.conditions.items()},
            "stepsize": step,
        }
        print(
            f"{name:>20s} {mode:>12s} train {secs:6.1f}s (total {time.time() - t0:5.1f}s) "
            f"ID {c['in_distribution']:.2f} OOD {c['ood']:.2f} G {c['gaussian']:.2f} "
            f"ADV {c['adversarial']:.2f} step {step}",
            flush=True,
        )
    write_json(summary, out / "sweep_summary.json")  # atomic; NaN as null
    print("SUMMARY", json.dumps(json_safe(summary)))


if __name__ == "__main__":
    torch.backends.cudnn.benchmark = True
    main()
