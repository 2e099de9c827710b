"""Statistics over seeds: t quantiles, intervals, paired differences, the sigma recommendation."""

import math

import pytest

from deepinv_jitter.experiments.runner import recommend_sigma
from deepinv_jitter.statistics import (
    mean_interval,
    paired_difference,
    summarize_seeds,
    t_quantile,
)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 30, 35, 50, 100, 1000])
def test_t_quantile_matches_scipy(df):
    stats = pytest.importorskip("scipy.stats")
    assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-3)


def test_mean_interval_by_hand():
    values = [20.0, 21.0, 23.0]
    r = mean_interval(values)
    mean = 64.0 / 3
    std = math.sqrt(((20 - mean) ** 2 + (21 - mean) ** 2 + (23 - mean) ** 2) / 2)
    half = 4.303 * std / math.sqrt(3)
    assert r["mean"] == pytest.approx(mean)
    assert r["std"] == pytest.approx(std)
    assert r["ci95"] == pytest.approx([mean - half, mean + half])
    assert mean_interval([5.0]) == {"mean": 5.0, "std": None, "ci95": None}
    with pytest.raises(ValueError, match="non-finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="no values"):
        mean_interval([])


def test_pairing_removes_what_a_seed_shares():
    # a seed effect of +-3 dB shared by both modes, a constant +0.5 dB difference: the paired
    # interval is a point, the unpaired intervals are wide and overlap
    mse = [20.0, 23.0, 26.0]
    jit = [20.5, 23.5, 26.5]
    d = paired_difference(jit, mse)
    assert d["mean"] == pytest.approx(0.5)
    assert d["ci95"] == pytest.approx([0.5, 0.5])
    a, b = mean_interval(jit)["ci95"], mean_interval(mse)["ci95"]
    assert a[0] < b[1]  # unpaired: no separation
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0], [1.0, 2.0])


def test_summarize_seeds_schema_and_values():
    per_seed = {
        s: {
            m: {"in_distribution": {"psnr": 20.0 + s + (m == "sgd") * 0.3, "ssim": 0.5}}
            for m in ("mse", "sgd")
        }
        for s in (0, 1, 2)
    }
    out = summarize_seeds(per_seed, [0, 1, 2])
    v = out["results"]["sgd"]["in_distribution"]
    assert v["psnr_per_seed"] == [20.3, 21.3, 22.3]
    assert v["psnr"] == pytest.approx(21.3)
    assert v["psnr_ci95"] == pytest.approx(mean_interval(v["psnr_per_seed"])["ci95"])
    assert out["paired_vs_mse"]["sgd"]["in_distribution"]["mean"] == pytest.approx(0.3)
    assert "mse" not in out["paired_vs_mse"]
    one = summarize_seeds({0: per_seed[0]}, [0])
    assert one["results"] == per_seed[0]
    d = one["paired_vs_mse"]["sgd"]["in_distribution"]
    want = (
        per_seed[0]["sgd"]["in_distribution"]["psnr"]
        - per_seed[0]["mse"]["in_distribution"]["psnr"]
    )
    assert d["mean"] == pytest.approx(want) and d["ci95"] is None


def _point(sigma, adv, diff_mean, ci):
    return {
        "mode": "sgd_jitter",
        "sigma": sigma,
        "results": {"adversarial": {"psnr": adv}},
        "paired_vs_mse": {"in_distribution": {"mean": diff_mean, "ci95": ci}},
    }


def test_recommendation_from_a_hand_made_frontier():
    frontier = [
        _point(0.05, 18.5, -0.05, [-0.15, 0.05]),  # loss at most 0.15: within 0.3
        _point(0.1, 19.0, -0.18, [-0.28, -0.08]),  # at most 0.28: within
        _point(0.15, 19.8, -0.25, [-0.45, -0.05]),  # mean within, upper end 0.45: not
        _point(0.3, 21.0, -2.0, [-2.5, -1.5]),  # far out
        {"mode": "mse", "sigma": None, "results": {"adversarial": {"psnr": 17.9}}},
    ]
    rec = recommend_sigma(frontier, 0.3)
    assert rec["sigma"] == 0.1 and "upper end" in rec["reason"]
    assert recommend_sigma(frontier, 0.5)["sigma"] == 0.15
    assert recommend_sigma(frontier, 0.0)["sigma"] is None
    assert recommend_sigma(frontier, 3.0)["sigma"] == 0.3
    # one seed: no interval, the point value decides
    one = [_point(0.1, 19.0, -0.2, None), _point(0.2, 20.0, -0.4, None)]
    assert recommend_sigma(one, 0.3)["sigma"] == 0.1
    assert "one seed" in recommend_sigma(one, 0.3)["reason"]
    with pytest.raises(ValueError, match="max_id_loss"):
        recommend_sigma(frontier, -1.0)
