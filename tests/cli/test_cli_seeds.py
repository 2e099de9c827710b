"""compare and sweep over several seeds: intervals, paired differences, the recommended sigma."""

import json

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.statistics import mean_interval, paired_difference

FAST = ["--preset", "smoke", "--quiet", "--set", "epochs=1", "--set", "n_train=8"]


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "cmp"
    argv = [
        "compare",
        "--task",
        "seismic",
        "--modes",
        "mse,sgd_jitter",
        "--seeds",
        "0,1",
    ]
    assert main(argv + FAST + ["--out", str(out)]) == 0
    return out


def test_compare_over_seeds_writes_intervals_and_paired_differences(two_seeds):
    res = json.loads((two_seeds / "results.json").read_text())
    assert res["seeds"] == [0, 1]
    for mode in ("mse", "sgd_jitter"):
        for v in res["results"][mode].values():
            per_seed = v["psnr_per_seed"]
            assert len(per_seed) == 2
            direct = mean_interval(per_seed)
            assert v["psnr"] == pytest.approx(direct["mean"])
            assert v["psnr_ci95"] == pytest.approx(direct["ci95"])
            assert v["psnr_std"] == pytest.approx(direct["std"])
            assert v["psnr_test_sem"] > 0 and v["psnr_seed_sem"] >= 0
            # each seed's run is in its own folder and matches its own evaluation
            assert (two_seeds / "seed1" / mode / "checkpoint_final.pt").is_file()
    for cond, d in res["paired_vs_mse"]["sgd_jitter"].items():
        direct = paired_difference(
            res["results"]["sgd_jitter"][cond]["psnr_per_seed"],
            res["results"]["mse"][cond]["psnr_per_seed"],
        )
        assert d["mean"] == pytest.approx(direct["mean"])
        assert d["ci95"] == pytest.approx(direct["ci95"])
    md = (two_seeds / "results.md").read_text()
    assert "±" in md and "Paired PSNR differences to mse" in md
    assert "Where the uncertainty comes from" in md


def test_seeds_differ_and_resume_reuses_each_run(two_seeds, capsys):
    res = json.loads((two_seeds / "results.json").read_text())
    a, b = res["results"]["mse"]["in_distribution"]["psnr_per_seed"]
    assert a != b  # data, weights and order come from the seed
    argv = [
        "compare",
        "--task",
        "seismic",
        "--modes",
        "mse,sgd_jitter",
        "--seeds",
        "0,1",
    ]
    assert main(argv + FAST + ["--out", str(two_seeds), "--resume"]) == 0
    assert capsys.readouterr().out.count("reusing its results") == 4
    again = json.loads((two_seeds / "results.json").read_text())
    assert again["results"] == res["results"]


def test_one_seed_keeps_the_old_schema(tmp_path):
    out = tmp_path / "one"
    argv = ["compare", "--task", "seismic", "--modes", "mse", "--out", str(out)]
    assert main(argv + FAST) == 0
    res = json.loads((out / "results.json").read_text())
    assert "paired_vs_mse" not in res and "seeds" not in res
    for v in res["results"]["mse"].values():
        assert {"psnr", "ssim"} <= set(v) and "psnr_per_seed" not in v
    assert "intervals and paired differences" in (out / "results.md").read_text()


def test_sweep_max_id_loss_recommends_and_prints_a_sigma(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--task",
        "seismic",
        "--sigmas",
        "0.05,3",
        "--reference-modes",
        "mse",
    ]
    argv += ["--seeds", "0,1", "--out", str(out)]
    # a budget every sigma meets: the most robust one is recommended, and printed
    assert main(argv + ["--max-id-loss", "1000"] + FAST) == 0
    res = json.loads((out / "tradeoff.json").read_text())
    rec = res["recommended"]
    jittered = [p for p in res["points"] if p["mode"] == "sgd_jitter"]
    best = max(jittered, key=lambda p: p["results"]["adversarial"]["psnr"])
    assert rec["sigma"] == best["sigma"] and set(rec) == {"sigma", "reason"}
    assert f"--sigma {best['sigma']:g}" in capsys.readouterr().out
    assert (out / "tradeoff.png").is_file()
    # the rule on the written frontier, at the 0.3 dB budget (runs reused)
    from deepinv_jitter.experiments.runner import recommend_sigma

    assert main(argv + ["--max-id-loss", "0.3", "--resume"] + FAST) == 0
    res = json.loads((out / "tradeoff.json").read_text())
    assert recommend_sigma(res["points"], 0.3) == res["recommended"]


def test_sweep_max_id_loss_needs_mse(capsys):
    argv = [
        "sweep",
        "--task",
        "seismic",
        "--sigmas",
        "0.1",
        "--reference-modes",
        "none",
    ]
    assert main(argv + ["--max-id-loss", "0.3"] + FAST) == 2
    assert "mse" in capsys.readouterr().err
