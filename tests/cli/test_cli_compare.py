"""End to end through the CLI: the smoke comparison for seismic, then --resume skips finished modes."""

import json
import math

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.robustness.evaluate import CONDITIONS

MODES = ["mse", "sgd_jitter", "input_jitter", "adversarial"]


@pytest.fixture(scope="module")
def smoke_compare(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "seismic"
    code = main(
        [
            "compare",
            "--task",
            "seismic",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    return code, out


def test_smoke_compare_writes_results_with_the_schema(smoke_compare, capsys):
    code, out = smoke_compare
    assert code == 0
    for name in (
        "results.json",
        "results.md",
        "curves.json",
        "attack_curves.png",
        "examples.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "results.json").read_text())
    assert set(res) == {
        "task",
        "preset",
        "data",
        "results",
        "train_seconds",
        "settings",
        "complete",
        "runs_done",
        "runs_total",
        "provenance",
    }
    assert res["complete"] and res["runs_done"] == res["runs_total"] == 4
    assert set(res["provenance"]) == {"versions", "device", "date"}
    assert res["task"] == "seismic" and res["preset"] == "smoke"
    assert res["data"].startswith("synthetic")
    assert list(res["results"]) == MODES and list(res["train_seconds"]) == MODES
    for mode in MODES:
        assert list(res["results"][mode]) == list(CONDITIONS)
        for cond in CONDITIONS:
            v = res["results"][mode][cond]
            assert {"psnr", "ssim"} <= set(v)
            assert math.isfinite(v["psnr"]) and -1 <= v["ssim"] <= 1
        assert res["train_seconds"][mode] > 0
        assert (out / mode / "checkpoint_final.pt").is_file()
    assert res["settings"]["attack_eps"] > 0 and res["settings"]["img_size"] == [64, 64]
    md = (out / "results.md").read_text().splitlines()
    rows = [
        ln
        for ln in md
        if ln.startswith("| ") and not ln.startswith(("| mode", "| ---"))
    ]
    assert [r.split("|")[1].strip() for r in rows] == MODES
    curves = json.loads((out / "curves.json").read_text())
    assert list(curves) == MODES and curves["mse"]["eps"][0] == 0.0


def test_compare_resume_skips_trained_modes_and_reproduces(smoke_compare, capsys):
    code, out = smoke_compare
    before = json.loads((out / "results.json").read_text())
    # without its run file, a run is evaluated again from its checkpoint
    (out / "mse" / "run.json").unlink()
    assert (
        main(
            [
                "compare",
                "--task",
                "seismic",
                "--preset",
                "smoke",
                "--out",
                str(out),
                "--quiet",
                "--resume",
                "--modes",
                "mse,sgd_jitter",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.count("already trained") == 1 and text.count("reusing its results") == 1
    after = json.loads((out / "results.json").read_text())
    # evaluation is seeded: the same checkpoints give the same numbers
    for mode in ("mse", "sgd_jitter"):
        assert after["results"][mode] == before["results"][mode]
        assert after["train_seconds"][mode] == before["train_seconds"][mode]
