r"""Reports of the application: JSON files (atomic, never NaN), provenance, markdown tables, and
the set of files a comparison writes from its run results (:func:`write_study_outputs`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..robustness.evaluate import CONDITIONS
from .figures import LABELS, plot_attack_curves, plot_examples

__all__ = [
    "write_json",
    "read_json",
    "json_safe",
    "provenance",
    "results_markdown",
    "paired_markdown",
    "precision_markdown",
    "summarize_runs",
    "write_study_outputs",
    "load_examples",
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


def read_json(path: str | Path):
    r"""Read a JSON file written by :func:`write_json`.

    :param str path: the file.
    :return: the data.
    :raises ValueError: a missing, unreadable or invalid file, naming it.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{str(path)!r} is not a readable JSON file ({e})") from None


def provenance(device=None) -> dict:
    r"""Where a result comes from: package versions, the device and the date.

    :param str, torch.device, None device: the device the work ran on.
    :return: ``{"versions": {"deepinv_jitter", "deepinv", "torch", "python"}, "device", "date"}``.

    >>> sorted(provenance("cpu")["versions"])
    ['deepinv', 'deepinv_jitter', 'python', 'torch']
    """
    import datetime
    import platform

    import deepinv
    import torch

    from ..__about__ import __version__

    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(dev)
    else:
        name = (
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"
        )
    return {
        "versions": {
            "deepinv_jitter": str(__version__),
            "deepinv": str(deepinv.__version__),
            "torch": str(
                torch.__version__
            ),  # a str subclass torch.load(weights_only) refuses
            "python": platform.python_version(),
        },
        "device": f"{dev.type}: {name}",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


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


def paired_markdown(paired: dict, reference: str = "mse") -> str:
    r"""The table of paired PSNR differences to a reference mode: ``mean [low, high]`` per
    condition.

    :param dict paired: ``{mode: {condition: {"mean": float, "ci95": [low, high]}}}``.
    :param str reference: the reference mode's name.
    :return: the markdown text.

    >>> paired = {"sgd_jitter": {"adversarial": {"mean": 0.8, "ci95": [0.3, 1.3]}}}
    >>> print(paired_markdown(paired))
    | mode - mse (dB) | Adversarial |
    | --- | --- |
    | sgd_jitter | +0.80 [+0.30, +1.30] |
    """
    conds = [c for c in CONDITIONS if any(c in r for r in paired.values())]
    lines = [
        f"| mode - {reference} (dB) | " + " | ".join(LABELS[c] for c in conds) + " |"
    ]
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


def _test_sem(per_sample: dict) -> dict:
    """``{condition: std of the per-sample PSNRs / sqrt(n)}`` of one run."""
    from ..statistics import mean_interval

    return {
        cond: mean_interval(values)["std"] / math.sqrt(len(values))
        for cond, values in per_sample.items()
        if len(values) > 1
    }


def _mean_curves(runs_by_label: dict) -> dict:
    """``{label: {"eps", "psnr", "psnr_std"}}``: attack curves averaged over seeds."""
    from ..statistics import mean_interval

    curves = {}
    for label, runs in runs_by_label.items():
        rows = [r["curve"] for r in runs if r.get("curve", {}).get("eps")]
        if not rows:
            continue
        eps = rows[0]["eps"]
        stats = [mean_interval([r["psnr"][i] for r in rows]) for i in range(len(eps))]
        curves[label] = {
            "eps": eps,
            "psnr": [v["mean"] for v in stats],
            "psnr_std": [v["std"] or 0.0 for v in stats],
        }
    return curves


def summarize_runs(
    runs: list[dict],
    labels: list[str] | None = None,
    seeds: list[int] | None = None,
    reference: str = "mse",
) -> dict:
    r"""The comparison's tables from run results (``run.json`` contents): per label and condition
    the mean over its seeds (with ``psnr_per_seed``, ``psnr_ci95``, ... when the study has several
    seeds, see :func:`deepinv_jitter.statistics.summarize_seeds`), and the paired PSNR
    differences to the ``reference`` label over the seeds both have. A label missing some seeds
    (an incomplete study) is summarised over the seeds it has.

    :param list[dict] runs: run results.
    :param list[str], None labels: the rows, in order (default: the labels in run order).
    :param list[int], None seeds: the study's seeds (default: the seeds in run order).
    :param str reference: the label the paired differences are taken against.
    :return: ``{"results", "paired_vs_mse", "train_seconds", "seeds"}`` (the paired differences
        under ``paired_vs_mse`` whatever the reference, with ``"reference"`` naming it).
    """
    from ..statistics import paired_difference, summarize_seeds

    labels = labels or list(dict.fromkeys(r["label"] for r in runs))
    seeds = seeds or list(dict.fromkeys(r["seed"] for r in runs))
    by = {(r["label"], r["seed"]): r for r in runs}
    multi = len(seeds) > 1
    results, train_seconds = {}, {}
    for label in labels:
        have = [s for s in seeds if (label, s) in by]
        if not have:
            continue
        per_seed = {}
        for s in have:
            run = by[(label, s)]
            sems = _test_sem(run.get("per_sample", {})) if multi else {}
            per_seed[s] = {
                label: {
                    c: dict(v) | ({"psnr_test_sem": sems[c]} if c in sems else {})
                    for c, v in run["conditions"].items()
                }
            }
        results[label] = summarize_seeds(per_seed, have)["results"][label]
        secs = [by[(label, s)]["train_seconds"] for s in have]
        train_seconds[label] = float(sum(secs) / len(secs))
    paired = {}
    ref = reference
    if ref in results:
        for label in results:
            if label == ref:
                continue
            common = [s for s in seeds if (label, s) in by and (ref, s) in by]
            if not common:
                continue
            conds = by[(label, common[0])]["conditions"]
            paired[label] = {
                c: paired_difference(
                    [by[(label, s)]["conditions"][c]["psnr"] for s in common],
                    [by[(ref, s)]["conditions"][c]["psnr"] for s in common],
                )
                for c in conds
                if c in by[(ref, common[0])]["conditions"]
            }
    return {
        "results": results,
        "paired_vs_mse": paired,
        "reference": ref,
        "train_seconds": train_seconds,
        "seeds": seeds,
    }


def load_examples(run: dict, folder: str | Path | None = None) -> dict | None:
    r"""The example images a run saved (``examples.pt`` next to its ``run.json``), or ``None``.

    :param dict run: a run result with ``"path"``, or any dict when ``folder`` is given.
    :param str, None folder: the run's folder.
    :return: ``{condition: {"x": tensor, "x_hat": tensor}}`` or ``None``.
    """
    import torch

    from .study import EXAMPLES_FILE

    folder = Path(folder) if folder is not None else Path(run.get("path", ".")).parent
    path = folder / EXAMPLES_FILE
    if not path.is_file():
        return None
    try:
        examples = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a missing figure, not a failed study
        return None
    return examples if isinstance(examples, dict) else None


def write_study_outputs(
    out: Path,
    runs: list[dict],
    settings: dict,
    *,
    labels: list[str] | None = None,
    seeds: list[int] | None = None,
    total: int | None = None,
    missing: list | None = None,
    name: str = "results",
    examples: dict | None = None,
    device=None,
    reference: str = "mse",
) -> dict:
    r"""Write ``<name>.json`` (the comparison's schema), ``<name>.md``, ``curves.json``,
    ``attack_curves.png`` and ``examples.png`` from run results alone.

    :param pathlib.Path out: output folder.
    :param list[dict] runs: run results (``run.json`` contents; their ``path`` locates the example
        images).
    :param dict settings: the study's settings, recorded as ``settings``.
    :param list[str], None labels: the rows, in order.
    :param list[int], None seeds: the study's seeds.
    :param int, None total: the number of runs of the study (more than ``len(runs)``: incomplete).
    :param list, None missing: the ``(label, seed)`` runs not done, for the incomplete note.
    :param str name: base name of the json and markdown files.
    :param dict, None examples: ``{label: {condition: {"x", "x_hat"}}}`` for the examples figure
        (default: read from the first seed's runs).
    :param device: the device, for the provenance.
    :param str reference: the mode the paired differences are taken against (written as
        ``paired_vs_<reference>``; ``mse`` by default).
    :return: the results dict written to json.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_runs(runs, labels, seeds, reference)
    seeds = summary["seeds"]
    first = (
        next(r for r in runs if r["seed"] == seeds[0])
        if any(r["seed"] == seeds[0] for r in runs)
        else runs[0]
    )
    total = len(runs) if total is None else total
    results = {
        "task": first["task"],
        "preset": first["preset"],
        "data": first["data"],
        "results": summary["results"],
        "train_seconds": summary["train_seconds"],
        "settings": settings,
        "complete": len(runs) >= total,
        "runs_done": len(runs),
        "runs_total": total,
    }
    if missing:
        results["missing"] = [{"label": lab, "seed": s} for lab, s in missing]
    if len(seeds) > 1:
        results["seeds"] = seeds
        results[f"paired_vs_{reference}"] = summary["paired_vs_mse"]
    oracle = first.get("oracle")
    if oracle is not None:
        results["oracle"] = oracle
    results["provenance"] = provenance(device)
    write_json(results, out / f"{name}.json")
    by_label = {}
    for r in runs:
        by_label.setdefault(r["label"], []).append(r)
    curves = _mean_curves(by_label)
    write_json(curves, out / "curves.json")
    cfg = first["settings"]
    title = f"{first['task']} ({first['preset']} preset): PSNR (dB) / SSIM"
    if len(seeds) > 1:
        title += f", mean ± 95% interval over seeds {', '.join(map(str, seeds))}"
    md = ""
    if not results["complete"]:
        md += (
            f"**Incomplete: {len(runs)} of {total} runs done**"
            + (
                " (missing: " + ", ".join(f"{lab} seed {s}" for lab, s in missing) + ")"
                if missing
                else ""
            )
            + "; rows average the seeds they have.\n\n"
        )
    md += results_markdown(results["results"], results["train_seconds"], title=title)
    if len(seeds) == 1:
        md += (
            f"\n\nOne seed ({seeds[0]}): no intervals. Differences between modes smaller than "
            "the seed-to-seed spread are not findings; run with --seeds 0,1,2 for 95% "
            "intervals and paired differences."
        )
    else:
        md += (
            f"\n\n#### Paired PSNR differences to {reference}, mean [95% interval] over "
            "seeds\n\n"
        )
        md += paired_markdown(results[f"paired_vs_{reference}"], reference)
        precision = precision_markdown(results["results"])
        if precision:
            md += "\n\n#### Where the uncertainty comes from\n\n" + precision
    if oracle is not None:
        parts = [f"{LABELS.get(c, c)} {v['psnr']:.2f} dB" for c, v in oracle.items()]
        md += (
            "\n\nOracle (the best achievable reconstruction): " + ", ".join(parts) + "."
        )
    md += (
        f"\n\nData: {first['data']}. Attack: L2 PGD, eps = {cfg['attack_eps']:g}"
        f"{' x ||y||' if cfg['attack_relative'] else ''}, {cfg['eval_attack_steps']} steps; "
        f"Gaussian: random perturbations of the same norm ({cfg['gaussian_draws']} per "
        f"sample). SGD jittering: sigma = {cfg['jitter_sigma']:g} ({cfg['jitter_scale']} "
        f"scale). Adversarial training: {cfg['train_attack_steps']} attack steps per batch."
    )
    if first.get("metrics"):
        md += (
            f" Metrics: {' / '.join(first['metrics'])} over {first['n_samples']} test "
            f"samples (measurements {first.get('measurements', 'simulated')}); the attack "
            f"curve over {first.get('curve_samples', first['n_samples'])}."
        )
    md += "\n"
    (out / f"{name}.md").write_text(md)
    oracle_psnr = (
        None if oracle is None else oracle.get("in_distribution", {}).get("psnr")
    )
    if curves:
        plot_attack_curves(
            curves,
            out / "attack_curves.png",
            title=f"{first['task']}: PSNR under attack"
            + (f" (mean ± std over {len(seeds)} seeds)" if len(seeds) > 1 else ""),
            oracle=oracle_psnr,
        )
    if examples is None:
        examples = {}
        for r in runs:
            if r["seed"] == seeds[0]:
                ex = load_examples(r)
                if ex:
                    examples[r["label"]] = ex
    if examples:
        plot_examples(
            examples,
            out / "examples.png",
            title=f"{first['task']}: reconstructions and error maps of the first test "
            f"sample, PSNR per panel (seed {seeds[0]})",
        )
    return results
