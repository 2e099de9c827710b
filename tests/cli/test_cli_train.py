"""train, an interrupted train, --resume, and evaluate on the saved checkpoint, through the CLI."""

import json
import math

import pytest
import torch

import deepinv_jitter.experiments.runner as runner
from deepinv_jitter.cli import main
from deepinv_jitter.experiments.checkpoints import FINAL, LAST, load_checkpoint


def _interrupting(at_epoch):
    class Interrupted(runner.CheckpointingTrainer):
        def step(self, epoch, *args, **kwargs):
            if epoch == at_epoch:
                raise KeyboardInterrupt  # as Ctrl-C in the middle of an epoch
            return super().step(epoch, *args, **kwargs)

    return Interrupted


def test_train_interrupt_resume_then_evaluate(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--mode",
        "sgd_jitter",
        "--out",
        str(out),
        "--quiet",
        "--set",
        "epochs=3",
    ]
    monkeypatch.setattr(runner, "CheckpointingTrainer", _interrupting(at_epoch=2))
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.undo()
    # the interruption left a complete checkpoint after epoch 2 (index 1) and no final one
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["epoch"] == 1 and ckpt["meta"]["identity"]["mode"] == "sgd_jitter"
    assert "optimizer" in ckpt and "perturbation_rng" in ckpt
    assert not (out / FINAL).exists()
    assert sorted(p.name for p in out.iterdir()) == [LAST]

    assert main(argv + ["--resume"]) == 0
    assert "resuming from epoch 3" in capsys.readouterr().out
    final = load_checkpoint(out / FINAL)
    assert final["meta"]["epochs_done"] == 3 and final["meta"]["train_seconds"] > 0
    assert not torch.equal(
        final["state_dict"]["params_algo.stepsize.0"],
        ckpt["state_dict"]["params_algo.stepsize.0"],
    )

    assert main(argv + ["--resume"]) == 0
    assert "already trained" in capsys.readouterr().out

    ev = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "seismic",
                "--checkpoint",
                str(out / FINAL),
                "--out",
                str(ev),
                "--quiet",
            ]
        )
        == 0
    )
    res = json.loads((ev / "evaluation.json").read_text())
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
    assert res["settings"]["epochs_done"] == 3 and res["settings"]["complete_training"]
    assert (
        res["settings"]["epochs"] == 3
    )  # the checkpoint's own settings, not the preset's
    conds = res["results"]["sgd_jitter"]
    assert set(conds) == {"in_distribution", "ood", "gaussian", "adversarial"}
    assert all(math.isfinite(v["psnr"]) for v in conds.values())
    assert conds["adversarial"]["psnr"] < conds["in_distribution"]["psnr"]
    assert (ev / "evaluation.md").is_file() and (ev / "examples.png").is_file()

    # a checkpoint of another task is refused with one line and exit 2
    assert main(["evaluate", "--task", "mri", "--checkpoint", str(out / FINAL)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_mri_smoke_train(tmp_path, capsys):
    out = tmp_path / "mri"
    argv = [
        "train",
        "--task",
        "mri",
        "--preset",
        "smoke",
        "--mode",
        "adversarial",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    final = load_checkpoint(out / FINAL)
    assert final["meta"]["identity"]["task"] == "mri"
    assert final["meta"]["settings"]["data_root"] is None
    assert final["meta"]["identity"]["data"] == {"source": "built-in"}
    assert all(torch.isfinite(v).all() for v in final["state_dict"].values())


def _train_argv(out, mode="sgd_jitter", *extra):
    return [
        "train",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--mode",
        mode,
        "--out",
        str(out),
        "--quiet",
        "--set",
        "epochs=4",
        "--set",
        "n_train=8",
        *extra,
    ]


@pytest.mark.parametrize("mode", ["sgd_jitter", "input_jitter"])
def test_interrupted_and_resumed_train_is_bit_identical(tmp_path, monkeypatch, mode):
    # uninterrupted run
    assert main(_train_argv(tmp_path / "a", mode)) == 0
    whole = load_checkpoint(tmp_path / "a" / FINAL)["state_dict"]
    # the same run, interrupted in its third epoch, then resumed
    monkeypatch.setattr(runner, "CheckpointingTrainer", _interrupting(at_epoch=2))
    assert main(_train_argv(tmp_path / "b", mode)) == 130
    monkeypatch.undo()
    torch.manual_seed(123)  # the resumed process's global state must not matter
    assert main(_train_argv(tmp_path / "b", mode, "--resume")) == 0
    resumed = load_checkpoint(tmp_path / "b" / FINAL)["state_dict"]
    assert whole.keys() == resumed.keys()
    for k in whole:
        assert torch.equal(whole[k], resumed[k]), k


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_argv(out, "mse")) == 0
    capsys.readouterr()
    # another mode, another sigma: one line naming the difference, exit 2, nothing overwritten
    before = (out / FINAL).read_bytes()
    assert main(_train_argv(out, "sgd_jitter", "--resume")) == 2
    err = capsys.readouterr().err
    assert (
        "mode 'mse' (checkpoint) != 'sgd_jitter'" in err
        and len(err.strip().splitlines()) == 1
    )
    assert main(_train_argv(out, "mse", "--resume", "--set", "noise_sigma=0.5")) == 2
    assert "noise_sigma" in capsys.readouterr().err
    assert main(_train_argv(out, "mse", "--resume", "--set", "hidden=4")) == 2
    assert "hidden 8 (checkpoint) != 4" in capsys.readouterr().err
    assert (out / FINAL).read_bytes() == before
    # the same run resumes (and finds it finished)
    assert main(_train_argv(out, "mse", "--resume")) == 0
    assert "already trained" in capsys.readouterr().out


def test_checkpoint_with_pickled_code_is_refused_and_not_run(tmp_path, capsys):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": {}, "x": Payload()}, bad)
    assert main(["evaluate", "--task", "seismic", "--checkpoint", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "would run code" in err and len(err.strip().splitlines()) == 1
    assert "weights_only=False" not in err  # never advise loading it anyway
    assert not marker.exists()
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    assert main(["evaluate", "--task", "seismic", "--checkpoint", str(text)]) == 2
    err = capsys.readouterr().err
    assert "not a torch checkpoint" in err and "weights_only" not in err


def test_diverging_training_stops_with_one_line_and_no_final_checkpoint(
    tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(_train_argv(out, "mse", "--set", "lr=1e30")) == 1
    err = capsys.readouterr().err
    assert "training loss is" in err and "epoch" in err and "batch" in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / FINAL).exists()


@pytest.mark.parametrize("mode", ["sgd_jitter", "adversarial"])
def test_bf16_training_on_cpu(tmp_path, mode):
    out = tmp_path / "bf16"
    assert main(_train_argv(out, mode, "--precision", "bf16", "--set", "epochs=2")) == 0
    final = load_checkpoint(out / FINAL)
    assert final["meta"]["identity"]["settings"]["precision"] == "bf16"
    weights = final["state_dict"]
    assert all(
        v.dtype == torch.float32 for v in weights.values() if v.is_floating_point()
    )
    assert all(torch.isfinite(v).all() for v in weights.values())
    # fp32 and bf16 runs are different runs: resuming one as the other is refused
    assert main(_train_argv(out, mode, "--resume", "--set", "epochs=2")) == 2


def test_attack_and_noise_stay_float32_under_autocast():
    import deepinv as dinv

    from deepinv_jitter.optim.jitter import jitter_noise
    from deepinv_jitter.robustness import pgd_attack

    physics = dinv.physics.Denoising()
    seen = []

    def model(y, physics):
        seen.append(y.dtype)
        return torch.nn.functional.conv2d(y, torch.ones(1, 1, 3, 3) / 9, padding=1)

    x, y = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        delta = pgd_attack(model, physics, x, y, eps=0.5, steps=3)
        noise = jitter_noise(torch.ones(2, 1, 8, 8), 0.1, rng=torch.Generator())
    assert delta.dtype == torch.float32 and noise.dtype == torch.float32
    assert torch.allclose(
        delta.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]), atol=1e-5
    )


def test_a_setting_added_later_matches_only_at_its_default(tmp_path):
    from deepinv_jitter.experiments.checkpoints import (
        CheckpointMismatchError,
        check_identity,
        run_identity,
    )
    from deepinv_jitter.tasks import get_task

    task = get_task("seismic", "smoke")
    meta = {"identity": run_identity(task, "mse")}
    del meta["identity"]["settings"]["threads"]  # as written before the setting existed
    check_identity(meta, task, "mse", "c.pt")
    with pytest.raises(CheckpointMismatchError, match="threads"):
        check_identity(meta, task.replace(threads=1), "mse", "c.pt")


def test_evaluate_refuses_a_checkpoint_with_non_finite_weights(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_argv(out, "mse", "--set", "epochs=1")) == 0
    ckpt = load_checkpoint(out / FINAL)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name] = ckpt["state_dict"][name] * float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(ckpt, bad)
    capsys.readouterr()
    code = main(
        [
            "evaluate",
            "--task",
            "seismic",
            "--checkpoint",
            str(bad),
            "--out",
            str(tmp_path / "e"),
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and "NaN or infinite weights" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "e" / "evaluation.json").exists()
