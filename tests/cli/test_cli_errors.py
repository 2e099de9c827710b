"""Every error is one line naming the command and the problem: exit 2 for bad input before any
work, 1 for a failure during the work; the traceback only on request."""

import errno

import pytest
import torch

import deepinv_jitter.experiments.runner as runner
from deepinv_jitter.cli import main
from deepinv_jitter.robustness import pgd_attack

SMOKE = ["--task", "seismic", "--preset", "smoke", "--quiet"]


def _fail_with(error):
    def study(*args, **kwargs):
        raise error

    return study


@pytest.mark.parametrize(
    "error, words",
    [
        (
            RuntimeError("CUDA kernel failed"),
            ["during the work", "RuntimeError", "--debug"],
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "results/x.pt"),
            ["no space left", "results/x.pt"],
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "out/run.json"),
            ["permission denied", "out/run.json"],
        ),
    ],
)
def test_a_failure_during_the_work_is_one_line_and_exit_1(
    error, words, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(runner, "run_compare", _fail_with(error))
    assert main(["compare", *SMOKE, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("deepinv-jitter compare: error")
    for w in words:
        assert w in err, (w, err)
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "run_compare", _fail_with(RuntimeError("boom")))
    assert main(["compare", *SMOKE, "--out", str(tmp_path / "o"), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "boom" in err
    monkeypatch.setenv("DEEPINV_JITTER_DEBUG", "1")
    assert main(["compare", *SMOKE, "--out", str(tmp_path / "p")]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["compare", *SMOKE, "--seed", "5", "--seeds", "0,1"], ["--seed and --seeds"]),
        (["compare", *SMOKE, "--out", ""], ["--out is empty"]),
        (
            ["train", *SMOKE, "--mode", "adversarial", "--eps", "1e30"],
            ["attack_eps", "<= 1e+18"],
        ),
        (["compare", *SMOKE, "--set", "device=cuda"], ["use --device"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_work(
    argv, words, capsys, tmp_path
):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def test_a_huge_budget_never_becomes_a_zero_attack():
    model = lambda y, physics: 2 * y  # noqa: E731
    x, y = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    big = pgd_attack(model, None, x, y, eps=1e17, steps=2)
    assert torch.allclose(
        big.flatten(1).double().norm(dim=1),
        torch.full((2,), 1e17, dtype=torch.float64),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="too large"):
        pgd_attack(model, None, x, y, eps=1e30, steps=2)


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["sweep", "--task", "seismic", "--sigmas", "0.1", "--sigma", "0.2"],
            ["--sigmas", "--sigma would be recorded unused"],
        ),
        (
            ["compare", "--task", "denoising", "--set", "depth=3"],
            ["does not read depth"],
        ),
    ],
)
def test_settings_that_would_not_run_are_refused(argv, words, capsys):
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def test_runs_record_the_sizes_the_data_gave_not_the_ones_asked(tmp_path):
    pytest.importorskip("segyio")
    from segy_files import random_line

    from deepinv_jitter.tasks import get_task

    path = random_line(tmp_path / "line.sgy")
    task = get_task(
        "seismic", "smoke", data_root=path, img_size=(16, 16), n_train=1000, n_test=50
    )
    assert task.config.n_train == len(task.train_dataset) < 1000
    assert task.config.n_test == len(task.test_dataset) < 50
    assert task.settings()["n_train"] == task.config.n_train  # what results record
    assert "of 1000 asked" in task.size_note and "of 50 asked" in task.size_note


def test_the_trainer_checks_its_epochs():
    import deepinv as dinv

    from deepinv_jitter import JitterTrainer

    model = dinv.optim.GD(dinv.optim.L2(), unfold=True, max_iter=2, g_param=0.0)
    data = dinv.datasets.TensorDataset(x=torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="epochs"):
        JitterTrainer(
            model,
            dinv.physics.Denoising(),
            None,
            torch.utils.data.DataLoader(data),
            epochs=0,
            training_mode="mse",
        )


def test_quiet_silences_every_progress_bar(tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    argv = ["train", "--task", "seismic", "--preset", "smoke", "--mode", "mse"]
    assert (
        main(argv + ["--quiet", "--set", "epochs=1", "--out", str(tmp_path / "r")]) == 0
    )
    assert (
        os.environ.get("TQDM_DISABLE") == "1"
    )  # deepinv's own bars (fastMRI scan) too
