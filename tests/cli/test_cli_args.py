"""Command-line parsing: bad arguments exit 2 with one clear line; --help documents every option."""

import argparse
import subprocess
import sys

import pytest
import torch

from deepinv_jitter.cli import atomic_save, build_parser, load_checkpoint, main


def _exit_and_message(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    return e.value.code, err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["compare", "--task", "ct"], ["--task", "invalid choice", "seismic"]),
        (["train", "--task", "seismic", "--mode", "l1"], ["--mode", "invalid choice", "mse"]),
        (["compare", "--task", "seismic", "--preset", "huge"], ["--preset", "smoke"]),
        (["compare", "--task", "seismic", "--modes", "mse,l1"], ["--modes", "l1", "sgd_jitter"]),
        (["compare", "--task", "seismic", "--eps", "0"], ["--eps", "> 0"]),
        (["compare", "--task", "seismic", "--eps", "-1"], ["--eps", "> 0"]),
        (["compare", "--task", "seismic", "--eps", "abc"], ["--eps", "positive number"]),
        (["sweep", "--task", "seismic", "--sigmas", "1,-2"], ["--sigmas", "positive"]),
        (["compare", "--task", "mri", "--data-root", "/no/such/dir"], ["--data-root", "/no/such"]),
        (["evaluate", "--task", "mri", "--checkpoint", "/no/ckpt.pt"], ["--checkpoint", "exist"]),
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
    assert r.returncode == 2 and "invalid choice: 'nope'" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "deepinv_jitter", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("deepinv-jitter ")


def test_every_option_has_help(capsys):
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) == {"train", "evaluate", "compare", "sweep"}
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.option_strings)
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "--task" in out


def test_defaults():
    args = build_parser().parse_args(["compare", "--task", "mri"])
    assert args.preset == "quick" and args.seed == 0 and args.device == "cpu"
    assert args.modes == ["mse", "sgd_jitter", "input_jitter", "adversarial"]
    args = build_parser().parse_args(["sweep", "--task", "seismic", "--sigmas", "0.5,1,2,4"])
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
