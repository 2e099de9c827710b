r"""Reports of the application: JSON files (atomic, never NaN), markdown tables, and the set of
files a comparison writes (:func:`write_outputs`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..robustness.evaluate import CONDITIONS
from .figures import LABELS, plot_attack_curves, plot_examples

__all__ = ["write_json", "json_safe", "results_markdown", "write_outputs", "LABELS"]


def json_safe(obj):
    r"""``obj`` with every non-finite float replaced by ``None`` (JSON has no NaN or infinity).

    :param obj: nested dicts, lists and numbers.
    :return: the cleaned copy.

    >>> json_safe({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(obj, path: str | Path) -> Path:
    r"""Write ``obj`` as JSON atomically (temporary file, then rename), non-finite numbers as null.

    :param obj: the data.
    :param str path: destination.
    :return: the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(json_safe(obj), indent=2, allow_nan=False))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path




def results_markdown(
    results: dict[str, dict[str, dict[str, float]]],
    train_seconds: dict[str, float] | None = None,
    title: str | None = None,
) -> str:
    r"""A paper-style markdown table: one row per training mode, one column per condition,
    cells ``PSNR / SSIM`` (and a training-time column when given).

    :param dict results: ``{mode: {condition: {"psnr": float, "ssim": float}}}``.
    :param dict, None train_seconds: ``{mode: seconds}``.
    :param str, None title: heading line above the table.
    :return: the markdown text.

    >>> print(results_markdown({"mse": {"in_distribution": {"psnr": 30.0, "ssim": 0.91}}}))
    | mode | In distribution PSNR / SSIM |
    | --- | --- |
    | mse | 30.00 / 0.910 |
    """
    conds = [c for c in CONDITIONS if any(c in r for r in results.values())]
    header = ["mode"] + [f"{LABELS[c]} PSNR / SSIM" for c in conds]
    if train_seconds:
        header.append("train time (s)")
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for mode, res in results.items():
        cells = [mode]
        for c in conds:
            v = res.get(c)
            cells.append(f"{v['psnr']:.2f} / {v['ssim']:.3f}" if v else "-")
        if train_seconds:
            t = train_seconds.get(mode)
            cells.append(f"{t:.1f}" if t is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_outputs(
    out: Path,
    task,
    reports: dict,
    train_seconds: dict,
    settings: dict,
    name: str = "results",
) -> dict:
    r"""Write ``<name>.json`` (the comparison's schema), ``<name>.md``, ``curves.json`` and figures.

    :param pathlib.Path out: output folder.
    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :param dict reports: ``{mode: RobustnessReport}``.
    :param dict train_seconds: ``{mode: seconds}``.
    :param dict settings: the run's settings.
    :param str name: base name of the json and markdown files.
    :return: the results dict written to json.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "results": {m: r.conditions for m, r in reports.items()},
        "train_seconds": {m: float(s) for m, s in train_seconds.items()},
        "settings": settings,
    }
    oracle = task.oracle()
    if oracle is not None:
        results["oracle"] = oracle
    write_json(results, out / f"{name}.json")
    write_json({m: r.curve for m, r in reports.items()}, out / "curves.json")
    title = f"{task.name} ({task.preset} preset): PSNR (dB) / SSIM"
    md = results_markdown(results["results"], results["train_seconds"], title=title)
    if oracle is not None:
        parts = [f"{LABELS.get(c, c)} {v['psnr']:.2f} dB" for c, v in oracle.items()]
        md += "\n\nOracle (the best achievable reconstruction): " + ", ".join(parts) + "."
    md += (
        f"\n\nData: {task.data}. Attack: L2 PGD, eps = {task.attack_eps:g}"
        f"{' x ||y||' if task.attack_relative else ''}, {task.eval_attack_steps} steps; "
        f"Gaussian: random perturbations of the same norm ({task.gaussian_draws} per sample). "
        f"SGD jittering: sigma = {settings.get('jitter_sigma', task.jitter_sigma):g} "
        f"({task.jitter_scale} scale). Adversarial training: {task.train_attack_steps} attack "
        "steps per batch.\n"
    )
    (out / f"{name}.md").write_text(md)
    oracle_psnr = None if oracle is None else oracle.get("in_distribution", {}).get("psnr")
    plot_attack_curves(
        {m: r.curve for m, r in reports.items()},
        out / "attack_curves.png",
        title=f"{task.name}: PSNR under attack",
        oracle=oracle_psnr,
    )
    plot_examples(
        {m: r.examples for m, r in reports.items()},
        out / "examples.png",
        title=f"{task.name}: reconstructions and error maps",
    )
    return results
