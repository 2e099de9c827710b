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
