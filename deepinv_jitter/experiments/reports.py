r"""Reports of the application: JSON files (atomic, never NaN), markdown tables, and the set of
files a comparison writes (:func:`write_outputs`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..robustness.evaluate import CONDITIONS
from .figures import LABELS, plot_attack_curves, plot_examples

__all__ = [
    "write_json",
    "json_safe",
    "results_markdown",
    "paired_markdown",
    "precision_markdown",
    "write_outputs",
    "LABELS",
]


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


def _cell(v: dict) -> str:
    ci = v.get("psnr_ci95")
    if ci:
        return f"{v['psnr']:.2f} ± {(ci[1] - ci[0]) / 2:.2f} / {v['ssim']:.3f}"
    return f"{v['psnr']:.2f} / {v['ssim']:.3f}"


def results_markdown(
    results: dict[str, dict[str, dict[str, float]]],
    train_seconds: dict[str, float] | None = None,
    title: str | None = None,
) -> str:
    r"""A paper-style markdown table: one row per training mode, one column per condition,
    cells ``PSNR / SSIM`` (``mean ± half-width of the 95% interval / SSIM`` over several seeds),
    and a training-time column when given.

    :param dict results: ``{mode: {condition: {"psnr": float, "ssim": float, ...}}}``.
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
            cells.append(_cell(v) if v else "-")
        if train_seconds:
            t = train_seconds.get(mode)
            cells.append(f"{t:.1f}" if t is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_markdown(paired: dict) -> str:
    r"""The table of paired PSNR differences to ``mse``: ``mean [low, high]`` per condition.

    :param dict paired: ``{mode: {condition: {"mean": float, "ci95": [low, high]}}}``.
    :return: the markdown text.

    >>> paired = {"sgd_jitter": {"adversarial": {"mean": 0.8, "ci95": [0.3, 1.3]}}}
    >>> print(paired_markdown(paired))
    | mode - mse (dB) | Adversarial |
    | --- | --- |
    | sgd_jitter | +0.80 [+0.30, +1.30] |
    """
    conds = [c for c in CONDITIONS if any(c in r for r in paired.values())]
    lines = ["| mode - mse (dB) | " + " | ".join(LABELS[c] for c in conds) + " |"]
    lines.append("|" + " --- |" * (len(conds) + 1))
    for mode, res in paired.items():
        cells = [mode]
        for c in conds:
            v = res.get(c)
            if v is None:
                cells.append("-")
            elif v["ci95"] is None:
                cells.append(f"{v['mean']:+.2f}")
            else:
                lo, hi = v["ci95"]
                cells.append(f"{v['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def precision_markdown(results: dict) -> str:
    r"""How much of each interval is test-set sampling and how much is seed to seed.

    :param dict results: several seeds' ``results`` (with ``psnr_test_sem`` and
        ``psnr_seed_sem``).
    :return: the markdown text (empty without those entries).
    """
    rows = []
    for mode, conds in results.items():
        for cond, v in conds.items():
            if "psnr_test_sem" in v and v.get("psnr_seed_sem") is not None:
                rows.append(
                    f"| {mode} | {LABELS[cond]} | {v['psnr_test_sem']:.3f} "
                    f"| {v['psnr_seed_sem']:.3f} |"
                )
    if not rows:
        return ""
    head = [
        "| mode | condition | test-set sampling: std over samples / sqrt(n_test) (dB) "
        "| seed to seed: std over seeds / sqrt(n_seeds) (dB) |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows)


def _test_sem(report) -> dict:
    """``{condition: std of the per-sample PSNRs / sqrt(n)}`` of one report."""
    from .statistics import mean_interval

    return {
        cond: mean_interval(values)["std"] / math.sqrt(len(values))
        for cond, values in getattr(report, "per_sample", {}).items()
        if len(values) > 1
    }


def _mean_curves(reports_by_seed: dict) -> dict:
    """``{mode: {"eps", "psnr", "psnr_std"}}``: attack curves averaged over seeds."""
    from .statistics import mean_interval

    seeds = list(reports_by_seed)
    curves = {}
    for mode in reports_by_seed[seeds[0]]:
        rows = [reports_by_seed[s][mode].curve for s in seeds]
        eps = rows[0]["eps"]
        stats = [mean_interval([r["psnr"][i] for r in rows]) for i in range(len(eps))]
        curves[mode] = {
            "eps": eps,
            "psnr": [v["mean"] for v in stats],
            "psnr_std": [v["std"] or 0.0 for v in stats],
        }
    return curves


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
    :param dict reports: ``{mode: RobustnessReport}`` (one seed) or
        ``{seed: {mode: RobustnessReport}}`` (several seeds, see
        :func:`deepinv_jitter.experiments.statistics.summarize_seeds`).
    :param dict train_seconds: ``{mode: seconds}`` (mean over seeds).
    :param dict settings: the run's settings.
    :param str name: base name of the json and markdown files.
    :return: the results dict written to json.
    """
    from .statistics import summarize_seeds

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    by_seed = (
        reports if all(isinstance(k, int) for k in reports) else {task.seed: reports}
    )
    seeds = list(by_seed)
    per_seed = {}
    for s, reps in by_seed.items():
        per_seed[s] = {}
        for mode, rep in reps.items():
            sems = _test_sem(rep)
            per_seed[s][mode] = {
                c: dict(v)
                | ({"psnr_test_sem": sems[c]} if c in sems and len(seeds) > 1 else {})
                for c, v in rep.conditions.items()
            }
    summary = summarize_seeds(per_seed, seeds)
    results = {
        "task": task.name,
        "preset": task.preset,
        "data": task.data,
        "results": summary["results"],
        "train_seconds": {m: float(s) for m, s in train_seconds.items()},
        "settings": settings,
    }
    if len(seeds) > 1:
        results["seeds"] = seeds
        results["paired_vs_mse"] = summary["paired_vs_mse"]
    oracle = task.oracle()
    if oracle is not None:
        results["oracle"] = oracle
    write_json(results, out / f"{name}.json")
    curves = _mean_curves(by_seed)
    write_json(curves, out / "curves.json")
    title = f"{task.name} ({task.preset} preset): PSNR (dB) / SSIM"
    if len(seeds) > 1:
        title += f", mean ± 95% interval over seeds {', '.join(map(str, seeds))}"
    md = results_markdown(results["results"], results["train_seconds"], title=title)
    if len(seeds) == 1:
        md += (
            f"\n\nOne seed ({seeds[0]}): no intervals. Differences between modes smaller than "
            "the seed-to-seed spread are not findings; run with --seeds 0,1,2 for 95% "
            "intervals and paired differences."
        )
    else:
        md += "\n\n#### Paired PSNR differences to mse, mean [95% interval] over seeds\n\n"
        md += paired_markdown(results["paired_vs_mse"])
        precision = precision_markdown(results["results"])
        if precision:
            md += "\n\n#### Where the uncertainty comes from\n\n" + precision
    if oracle is not None:
        parts = [f"{LABELS.get(c, c)} {v['psnr']:.2f} dB" for c, v in oracle.items()]
        md += (
            "\n\nOracle (the best achievable reconstruction): " + ", ".join(parts) + "."
        )
    md += (
        f"\n\nData: {task.data}. Attack: L2 PGD, eps = {task.attack_eps:g}"
        f"{' x ||y||' if task.attack_relative else ''}, {task.eval_attack_steps} steps; "
        f"Gaussian: random perturbations of the same norm ({task.gaussian_draws} per sample). "
        f"SGD jittering: sigma = {settings.get('jitter_sigma', task.jitter_sigma):g} "
        f"({task.jitter_scale} scale). Adversarial training: {task.train_attack_steps} attack "
        "steps per batch.\n"
    )
    (out / f"{name}.md").write_text(md)
    oracle_psnr = (
        None if oracle is None else oracle.get("in_distribution", {}).get("psnr")
    )
    plot_attack_curves(
        curves,
        out / "attack_curves.png",
        title=f"{task.name}: PSNR under attack"
        + (f" (mean ± std over {len(seeds)} seeds)" if len(seeds) > 1 else ""),
        oracle=oracle_psnr,
    )
    plot_examples(
        {m: r.examples for m, r in by_seed[seeds[0]].items()},
        out / "examples.png",
        title=f"{task.name}: reconstructions and error maps of the first test sample, "
        f"PSNR per panel (seed {seeds[0]})",
    )
    return results
