"""The study loop: run files, a time budget that stops cleanly, resuming, and the report that
merges run files of several output folders into the same tables as one uninterrupted study."""

import json

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.experiments.runner import report_runs, run_compare
from deepinv_jitter.experiments.study import RUN_FILE, check_runs_agree, load_runs
from deepinv_jitter.tasks import get_task

SMALL = dict(epochs=1, n_train=8, n_test=4, gaussian_draws=2, eval_attack_steps=2)
MODES = ["mse", "sgd_jitter"]


def _task(**changes):
    return get_task("seismic", "smoke", **(SMALL | changes))


def _quiet(*args):
    pass


def _tables(results: dict) -> dict:
    """What must agree between studies: everything but timings and provenance."""
    keep = ("task", "preset", "data", "results", "paired_vs_mse", "seeds", "oracle")
    return {k: results.get(k) for k in keep} | {
        "settings": {k: v for k, v in results["settings"].items()},
        "complete": results["complete"],
    }


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    res = run_compare(_task(), MODES, out, progress=False, log=_quiet, seeds=[0, 1])
    return out, res


def test_every_run_writes_its_own_result_file(straight):
    out, res = straight
    assert res["complete"] and res["runs_done"] == res["runs_total"] == 4
    runs = load_runs([out])
    assert {(r["label"], r["seed"]) for r in runs} == {
        (m, s) for m in MODES for s in (0, 1)
    }
    r = next(r for r in runs if r["label"] == "sgd_jitter" and r["seed"] == 1)
    assert r["identity"]["mode"] == "sgd_jitter" and r["epochs_done"] == 1
    assert r["identity"]["settings"]["seed"] == 1
    assert len(r["per_sample"]["in_distribution"]) == 4
    assert set(r["provenance"]["versions"]) == {
        "deepinv_jitter",
        "deepinv",
        "torch",
        "python",
    }
    assert r["train_seconds"] > 0 and r["wall_seconds"] >= r["train_seconds"] * 0.5
    assert "provenance" in res


def test_budgeted_calls_on_two_folders_merge_into_the_same_tables(straight, tmp_path):
    _, full = straight
    a, b = tmp_path / "a", tmp_path / "b"
    tiny = 1e-6  # seconds: one run per call
    first = run_compare(
        _task(), MODES, a, progress=False, log=_quiet, seeds=[0], time_budget=tiny
    )
    assert not first["complete"] and first["runs_done"] == 1
    assert "Incomplete: 1 of 2 runs" in (a / "results.md").read_text()
    assert json.loads((a / "results.json").read_text())["missing"] == [
        {"label": "sgd_jitter", "seed": 0}
    ]
    second = run_compare(
        _task(),
        MODES,
        a,
        resume=True,
        progress=False,
        log=_quiet,
        seeds=[0],
        time_budget=tiny,
    )
    assert second["complete"]
    third = run_compare(
        _task(seed=1), MODES, b, progress=False, log=_quiet, seeds=[1], time_budget=1e6
    )
    assert third["complete"]
    merged = report_runs([a, b], tmp_path / "merged", log=_quiet)
    assert _tables(merged) == _tables(full)
    for name in ("results.md", "attack_curves.png", "examples.png", "curves.json"):
        assert (tmp_path / "merged" / name).is_file(), name


def test_report_refuses_runs_that_disagree_on_more_than_the_seed(straight, tmp_path):
    out, _ = straight
    other = tmp_path / "other"
    run_compare(
        _task(noise_sigma=0.05), ["mse"], other, progress=False, log=_quiet, seeds=[2]
    )
    with pytest.raises(ValueError, match="noise_sigma"):
        report_runs([out, other], tmp_path / "m", log=_quiet)
    with pytest.raises(ValueError, match="twice"):
        check_runs_agree(load_runs([out, out]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run result file"):
        load_runs([tmp_path / "empty"])


def test_resume_reuses_run_files_and_reevaluates_when_evaluation_changes(tmp_path):
    seen = []
    run_compare(_task(), ["mse"], tmp_path, progress=False, log=seen.append)
    before = json.loads((tmp_path / "mse" / RUN_FILE).read_text())
    seen.clear()
    run_compare(
        _task(), ["mse"], tmp_path, resume=True, progress=False, log=seen.append
    )
    assert any("reusing its results" in line for line in seen)
    assert json.loads((tmp_path / "mse" / RUN_FILE).read_text()) == before
    seen.clear()
    run_compare(
        _task(gaussian_draws=3),
        ["mse"],
        tmp_path,
        resume=True,
        progress=False,
        log=seen.append,
    )
    assert any("already trained" in line for line in seen)  # training reused...
    after = json.loads((tmp_path / "mse" / RUN_FILE).read_text())
    assert after["evaluation"]["gaussian_draws"] == 3  # ... evaluation redone


def test_the_cli_stops_by_the_budget_and_says_how_to_continue(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = [
        "compare",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--modes",
        "mse,sgd_jitter",
        "--out",
        str(out),
        "--quiet",
        "--time-budget",
        "0.000001",
        *[a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")],
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "stopped by the time budget: 1 of 2 runs done" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("incomplete:"))
    assert line.endswith("--resume") and "deepinv-jitter compare" in line
    assert main(argv + ["--resume"]) == 0
    text = capsys.readouterr().out
    assert "incomplete" not in text
    assert json.loads((out / "results.json").read_text())["complete"]
    assert main(["report", str(out), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "results.json").is_file()


def test_the_budget_stops_before_the_run_that_would_exceed_it(tmp_path):
    """Not after the budget is spent: before a run the mean of the runs done says would pass it."""
    import time
    from types import SimpleNamespace

    from deepinv_jitter.experiments.study import RunSpec, run_study

    task = _task()
    report = SimpleNamespace(
        conditions={}, per_sample={}, curve={}, n_samples=0, examples=None
    )

    def run_one(t, spec, folder):
        time.sleep(0.4)
        return {"identity": {}}, report, {}

    specs = [RunSpec("mse", "mse", s, f"s{s}") for s in range(3)]
    seen = []
    study = run_study(
        task,
        specs,
        tmp_path,
        study="compare",
        run_one=run_one,
        log=seen.append,
        time_budget=0.6,  # one run (0.4 s) fits, a second would end at 0.8 s
        make_task=lambda spec: task,
    )
    assert study.stopped and len(study.runs) == 1 and not study.complete
    assert any("stopping before run 2 of 3" in line for line in seen)
