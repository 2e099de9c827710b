"""train, an interrupted train, --resume, and evaluate on the saved checkpoint, through the CLI."""

import json
import math

import pytest
import torch

import deepinv_jitter.cli as cli
from deepinv_jitter.cli import FINAL, LAST, load_checkpoint, main


def _interrupting(real_factory, at_epoch):
    def factory():
        cls = real_factory()

        class Interrupted(cls):
            def step(self, epoch, *args, **kwargs):
                if epoch == at_epoch:
                    raise KeyboardInterrupt  # as Ctrl-C in the middle of an epoch
                return super().step(epoch, *args, **kwargs)

        return Interrupted

    return factory


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
    monkeypatch.setattr(cli, "_trainer_class", _interrupting(cli._trainer_class, at_epoch=2))
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.undo()
    # the interruption left a complete checkpoint after epoch 2 (index 1) and no final one
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["epoch"] == 1 and ckpt["meta"]["mode"] == "sgd_jitter"
    assert "optimizer" in ckpt and "jitter_rng" in ckpt
    assert not (out / FINAL).exists()
    assert sorted(p.name for p in out.iterdir()) == [LAST]

    assert main(argv + ["--resume"]) == 0
    assert "resuming from epoch 3" in capsys.readouterr().out
    final = load_checkpoint(out / FINAL)
    assert final["meta"]["epochs_done"] == 3 and final["meta"]["train_seconds"] > 0
    assert not torch.equal(
        final["state_dict"]["params_algo.stepsize.0"], ckpt["state_dict"]["params_algo.stepsize.0"]
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
    assert set(res) == {"task", "preset", "data", "results", "train_seconds", "settings"}
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
    assert final["meta"]["task"] == "mri" and final["meta"]["data"].startswith("embedded")
    assert all(torch.isfinite(v).all() for v in final["state_dict"].values())
