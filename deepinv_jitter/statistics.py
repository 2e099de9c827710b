r"""Statistics over seeds: means, Student-t confidence intervals, paired differences.

A comparison of training modes is a measurement with uncertainty. With the per-seed values
:math:`v_1, \dots, v_n` of one mode and condition, the 95% interval is
:math:`\bar v \pm t_{0.975, n-1}\, s / \sqrt n` (:math:`s` the sample standard deviation). The
paired difference to ``mse`` takes the differences seed by seed first, which removes what a seed
shares across modes (the data, the initial weights, the order), then the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["t_quantile", "mean_interval", "paired_difference", "summarize_seeds"]

# two-sided 95% critical values of Student's t, by degrees of freedom
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    21: 2.080,
    22: 2.074,
    23: 2.069,
    24: 2.064,
    25: 2.060,
    26: 2.056,
    27: 2.052,
    28: 2.048,
    29: 2.045,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def t_quantile(df: int) -> float:
    r"""The 0.975 quantile of Student's t with ``df`` degrees of freedom (3 decimals; between
    tabulated values, linear in :math:`1/\text{df}`; 1.960 in the limit).

    :param int df: degrees of freedom, ``>= 1``.
    :return: the quantile.
    :raises ValueError: ``df < 1``.

    >>> t_quantile(2), t_quantile(10**9)
    (4.303, 1.96)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    hi = next((k for k in keys if k > df), None)
    lo = max(k for k in keys if k < df)
    v_hi, inv_hi = (1.960, 0.0) if hi is None else (_T975[hi], 1.0 / hi)
    w = (1.0 / df - inv_hi) / (1.0 / lo - inv_hi)
    return round(v_hi + w * (_T975[lo] - v_hi), 3)


def mean_interval(values: Sequence[float]) -> dict:
    r"""Mean, sample standard deviation and 95% Student-t interval of per-seed values.

    :param list[float] values: one value per seed.
    :return: ``{"mean", "std", "ci95": [low, high]}``; ``std`` and ``ci95`` are ``None`` for a
        single value (an interval needs at least two seeds).
    :raises ValueError: no values, or a non-finite value.

    >>> r = mean_interval([1.0, 2.0, 3.0])
    >>> r["mean"], r["std"], [round(v, 3) for v in r["ci95"]]
    (2.0, 1.0, [-0.484, 4.484])
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to summarise")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"non-finite value among {values}")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "std": None, "ci95": None}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def paired_difference(values: Sequence[float], reference: Sequence[float]) -> dict:
    r"""The mean and 95% interval of the seed-by-seed differences ``values - reference``.

    :param list[float] values: one value per seed.
    :param list[float] reference: the reference's value for the same seeds, in the same order.
    :return: ``{"mean", "ci95": [low, high] or None}``.
    :raises ValueError: lists of different lengths.

    >>> paired_difference([2.0, 3.0, 4.5], [1.0, 2.0, 3.0])["mean"]
    1.1666666666666667
    """
    if len(values) != len(reference):
        raise ValueError(
            f"paired values need the same seeds: {len(values)} and {len(reference)} values"
        )
    r = mean_interval([a - b for a, b in zip(values, reference)])
    return {"mean": r["mean"], "ci95": r["ci95"]}


def summarize_seeds(per_seed: dict, seeds: Sequence[int]) -> dict:
    r"""Combine per-seed results into the comparison's schema.

    :param dict per_seed: ``{seed: {mode: {condition: {"psnr", "ssim", "psnr_test_sem", ...}}}}``.
    :param list[int] seeds: the seeds, in order.
    :return: ``{"results": ..., "paired_vs_mse": ...}``. With one seed, ``results`` is that
        seed's results unchanged. With several, ``results[mode][condition]`` holds the means of
        ``psnr`` and ``ssim``, ``psnr_per_seed``, ``ssim_per_seed``, ``psnr_std``, ``psnr_ci95``,
        ``psnr_test_sem`` (the test-set sampling error, mean over seeds) and ``psnr_seed_sem``
        (:math:`s/\sqrt n`, the seed-to-seed part); ``paired_vs_mse[mode][condition]`` holds
        ``{"mean", "ci95"}`` of the PSNR difference to ``mse`` (when ``mse`` is among the modes;
        with one seed the difference itself and ``ci95`` ``None``).
    """
    seeds = list(seeds)
    first = per_seed[seeds[0]]
    paired: dict = {}
    if "mse" in first:
        for mode, conds in first.items():
            if mode == "mse":
                continue
            paired[mode] = {
                cond: paired_difference(
                    [per_seed[s][mode][cond]["psnr"] for s in seeds],
                    [per_seed[s]["mse"][cond]["psnr"] for s in seeds],
                )
                for cond in conds
                if cond in first["mse"]
            }
    if len(seeds) == 1:
        return {"results": first, "paired_vs_mse": paired}
    results: dict = {}
    for mode, conds in first.items():
        results[mode] = {}
        for cond in conds:
            psnr = [per_seed[s][mode][cond]["psnr"] for s in seeds]
            ssim = [per_seed[s][mode][cond]["ssim"] for s in seeds]
            r = mean_interval(psnr)
            entry = {
                "psnr": r["mean"],
                "ssim": sum(ssim) / len(ssim),
                "psnr_per_seed": psnr,
                "ssim_per_seed": ssim,
                "psnr_std": r["std"],
                "psnr_ci95": r["ci95"],
                "psnr_seed_sem": r["std"] / math.sqrt(len(seeds)),
            }
            sems = [per_seed[s][mode][cond].get("psnr_test_sem") for s in seeds]
            if all(v is not None for v in sems):
                entry["psnr_test_sem"] = sum(sems) / len(sems)
            results[mode][cond] = entry
    return {"results": results, "paired_vs_mse": paired}
