"""The GPU campaign script, on the CPU at the smoke preset: a budgeted call, its bundle unpacked
here, and a second call (another session) that reuses the runs already committed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepinv_jitter.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_campaign.py"
BASE = [
    "--device",
    "cpu",
    "--preset",
    "smoke",
    "--tasks",
    "seismic",
    "--modes",
    "mse,sgd_jitter",
    "--set",
    "epochs=1",
    "--set",
    "n_train=8",
]


def _campaign(*args, cwd):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


@pytest.mark.slow
def test_a_campaign_in_two_sessions_continues_from_the_committed_runs(tmp_path):
    prev = tmp_path / "results" / "paper"
    out1 = tmp_path / "out1"
    first = _campaign(
        "run",
        *BASE,
        "--seeds",
        "0,1",
        "--budget",
        "10",
        "--out",
        str(out1),
        "--previous",
        str(prev),
        "--throughput-steps",
        "1",
        "--task-budget",
        "0.001",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    # what the device tool brings back: a few files, none deeper than one folder
    files = [p for p in out1.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out1).parts) <= 2 for p in files)
    assert {p.name for p in files} >= {
        "throughput.json",
        "seismic_runs.json",
        "campaign.json",
    }
    bundle = json.loads((out1 / "seismic_runs.json").read_text())
    assert sorted(bundle["runs"]) == [
        "seed0/mse"
    ]  # the budget stopped it after one run
    # back here: unpack, commit (simulated), rebuild the tables from the run files alone
    unpack = _campaign(
        "unpack",
        str(out1 / "seismic_runs.json"),
        "--into",
        str(prev / "seismic"),
        cwd=tmp_path,
    )
    assert unpack.returncode == 0, unpack.stderr
    assert main(["report", str(prev / "seismic"), "--out", str(prev / "seismic")]) == 0
    partial = json.loads((prev / "seismic" / "results.json").read_text())
    assert partial["runs_done"] == 1 and partial["results"]["mse"]
    # the next session: the committed run reused, the three others trained
    out2 = tmp_path / "out2"
    second = _campaign(
        "run",
        *BASE,
        "--seeds",
        "0,1",
        "--budget",
        "10",
        "--out",
        str(out2),
        "--previous",
        str(prev),
        "--no-throughput",
        cwd=tmp_path,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    log = (out2 / "campaign.log").read_text()
    assert log.count("reusing its results") == 1
    assert log.count("training from scratch") == 3
    runs = json.loads((out2 / "seismic_runs.json").read_text())["runs"]
    assert sorted(runs) == [
        "seed0/mse",
        "seed0/sgd_jitter",
        "seed1/mse",
        "seed1/sgd_jitter",
    ]
    assert runs["seed0/mse"]["conditions"] == bundle["runs"]["seed0/mse"]["conditions"]


def test_unpack_refuses_folders_outside_its_target(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"format": 1, "task": "x", "runs": {"../evil": {}}}))
    r = _campaign("unpack", str(bad), "--into", str(tmp_path / "t"), cwd=tmp_path)
    assert r.returncode == 2 and "refusing" in r.stderr
