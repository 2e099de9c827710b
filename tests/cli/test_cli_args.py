"""Command-line parsing: bad arguments exit 2 with one clear line; --help documents every option."""

import argparse
import subprocess
import sys

import pytest
import torch

from deepinv_jitter.cli import build_parser, main
from deepinv_jitter.experiments.checkpoints import atomic_save, load_checkpoint


def _exit_and_message(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    return e.value.code, err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["compare", "--task", "ct"], ["--task", "task must be one of", "seismic"]),
        (
            ["train", "--task", "seismic", "--mode", "l1"],
            ["--mode", "unknown training_mode 'l1'", "mse", "sgd_jitter+input_jitter"],
        ),
        (["compare", "--task", "seismic", "--preset", "huge"], ["--preset", "smoke"]),
        (
            ["compare", "--task", "seismic", "--modes", "mse,l1"],
            ["--modes", "l1", "sgd_jitter"],
        ),
        (["compare", "--task", "seismic", "--eps", "0"], ["--eps", "> 0"]),
        (["compare", "--task", "seismic", "--eps", "-1"], ["--eps", "> 0"]),
        (
            ["compare", "--task", "seismic", "--eps", "abc"],
            ["--eps", "positive number"],
        ),
        (["sweep", "--task", "seismic", "--sigmas", "1,-2"], ["--sigmas", "positive"]),
        (
            ["sweep", "--task", "seismic", "--sigmas", "0.1,0.1"],
            ["--sigmas", "distinct"],
        ),
        (
            ["compare", "--task", "mri", "--data-root", "/no/such/dir"],
            ["--data-root", "/no/such"],
        ),
        (
            ["evaluate", "--task", "mri", "--checkpoint", "/no/ckpt.pt"],
            ["--checkpoint", "exist"],
        ),
        (
            ["evaluate", "--task", "mri", "--checkpoint", "/"],
            ["--checkpoint", "'/' is a folder, not a file"],
        ),
        (["train", "--task", "seismic"], ["--mode", "required"]),
        (["compare", "--task", "seismic", "--set", "epochs"], ["--set", "KEY=VALUE"]),
        (["fit", "--task", "seismic"], ["invalid choice", "fit"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, words, capsys):
    code, err = _exit_and_message(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def test_bad_values_found_after_parsing_exit_2(capsys, tmp_path):
    # an unknown task setting passes argparse but is refused by get_task, before any work
    assert main(["compare", "--task", "seismic", "--set", "nonsense=1"]) == 2
    err = capsys.readouterr().err
    assert "nonsense" in err and len(err.strip().splitlines()) == 1
    # a file that is not a checkpoint
    bad = tmp_path / "x.pt"
    bad.write_text("not torch")
    assert main(["evaluate", "--task", "seismic", "--checkpoint", str(bad)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "deepinv_jitter", "compare", "--task", "nope"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "got 'nope'" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "deepinv_jitter", "--version"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.startswith("deepinv-jitter ")


def test_every_option_has_help(capsys):
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) == {
        "train",
        "evaluate",
        "compare",
        "sweep",
        "report",
        "generalization",
    }
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.option_strings)
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert ("--task" in out) != (name == "report") and "--debug" in out
        assert "--quiet" in out  # scripts pass it to every command


def test_defaults():
    args = build_parser().parse_args(["compare", "--task", "mri"])
    assert args.preset == "quick" and args.seed == 0 and args.device == "cpu"
    assert args.modes == ["mse", "sgd_jitter", "input_jitter", "adversarial"]
    args = build_parser().parse_args(
        ["sweep", "--task", "seismic", "--sigmas", "0.5,1,2,4"]
    )
    assert args.sigmas == [0.5, 1.0, 2.0, 4.0]
    assert args.reference_modes == ["mse", "input_jitter", "adversarial"]
    args = build_parser().parse_args(
        ["sweep", "--task", "seismic", "--sigmas", "1", "--reference-modes", "none"]
    )
    assert args.reference_modes == []
    assert main([]) == 0


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    atomic_save({"state_dict": {}, "meta": {"v": 1}}, path)

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"trunc")  # a partial write, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"state_dict": {}, "meta": {"v": 2}}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["meta"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize(
    "setting, words",
    [
        ("epochs=abc", ["epochs", "integer"]),
        ("epochs=1.5", ["epochs", "integer"]),
        ("epochs=-1", ["epochs", ">= 1"]),
        ("epochs=0", ["epochs", ">= 1"]),
        ("lr=nan", ["lr", "finite"]),
        ("input_sigma=1e999", ["input_sigma", "finite", "inf"]),
        ("attack_step_size=inf", ["attack_step_size", "finite"]),
        ("jitter_sigma=0.2", ["--set jitter_sigma", "use --sigma"]),
        ("attack_eps=inf", ["--set attack_eps", "use --eps"]),
        ("device=cpu", ["--set device", "use --device"]),
        ("seed=3", ["--set seed", "use --seed"]),
        ("data_root=x", ["--set data_root", "use --data-root"]),
        ("input_sigma=-0.1", ["input_sigma", ">= 0"]),
        ("noise_sigma=-1", ["noise_sigma", ">= 0"]),
        ("img_size=7", ["img_size", "pair"]),
        ("img_size=(64,64,64)", ["img_size", "pair"]),
        ("attack_relative=yes", ["attack_relative", "True or False"]),
        ("batch_size='4'", ["batch_size", "integer"]),
        ("jitter_scale=huge", ["jitter_scale", "iterate"]),
    ],
)
def test_bad_settings_exit_2_before_any_work(setting, words, capsys, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "train",
                "--task",
                "seismic",
                "--mode",
                "mse",
                "--out",
                str(out),
                "--set",
                setting,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()  # nothing was written


def test_unusable_out_exits_2_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    argv = ["compare", "--task", "seismic", "--preset", "smoke", "--out", str(a_file)]
    assert main(argv) == 2
    assert "existing file" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as a user who can write anywhere")
        assert main(["compare", "--task", "seismic", "--out", str(locked / "sub")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_cuda_without_cuda_is_refused_at_parsing(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = _exit_and_message(
        ["compare", "--task", "seismic", "--device", "cuda"], capsys
    )
    assert code == 2 and "CUDA is not available" in err


def test_interrupted_evaluate_does_not_suggest_resume(monkeypatch, capsys, tmp_path):
    import deepinv_jitter.experiments.runner as runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "evaluate_checkpoint", interrupted)
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"")
    assert main(["evaluate", "--task", "seismic", "--checkpoint", str(ckpt)]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "run it again" in err


def test_repeated_seeds_are_refused_by_the_parser(capsys):
    # Planted fault: repeats not rejected by parse_ints (the runner refused them later, after
    # the task was built; the parser must refuse them first, with one line).
    from deepinv_jitter.experiments.arguments import parse_ints

    with pytest.raises(ValueError, match="distinct"):
        parse_ints("0,1,0", "--seeds")
    with pytest.raises(ValueError, match="distinct"):
        parse_ints("16,16", "--n-train", 1)
    code, err = _exit_and_message(
        ["compare", "--task", "seismic", "--preset", "smoke", "--seeds", "0,1,0"],
        capsys,
    )
    assert code == 2 and "--seeds" in err and len(err.strip().splitlines()) == 1


def test_set_overrides_reach_the_task_and_bad_ones_exit_2(capsys, tmp_path):
    # Planted fault: --set dropped, so a bad setting is never checked (and a good one never
    # applied). The smoke preset keeps the failure fast if --set is ever ignored again.
    from deepinv_jitter.cli import _task_from_args

    args = build_parser().parse_args(
        [
            "train",
            "--task",
            "denoising",
            "--preset",
            "smoke",
            "--mode",
            "mse",
            "--sigma",
            "0.3",
            "--set",
            "epochs=3",
            "--set",
            "jitter_scale=relative",
        ]
    )
    task, overrides = _task_from_args(args)
    assert (task.config.epochs, task.config.jitter_scale, task.config.jitter_sigma) == (
        3,
        "relative",
        0.3,
    )
    assert overrides == {"epochs": 3, "jitter_scale": "relative", "jitter_sigma": 0.3}
    out = tmp_path / "out"
    argv = ["train", "--task", "denoising", "--preset", "smoke", "--mode", "mse"]
    assert main(argv + ["--out", str(out), "--set", "epochs=0"]) == 2
    err = capsys.readouterr().err
    assert "epochs" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_repeated_sigmas_are_refused_by_the_runner_too(tmp_path):
    # the same label names the same run folder: two entries would train it twice
    from deepinv_jitter.experiments.runner import run_sweep
    from deepinv_jitter.tasks import get_task

    with pytest.raises(ValueError, match="sigmas must be distinct"):
        run_sweep(get_task("seismic", "smoke"), [0.1, 0.1000000001], out=tmp_path)
    assert not any(tmp_path.iterdir())
