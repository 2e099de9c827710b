"""Run identity: which settings may differ between a checkpoint and the run that reuses it."""

import pytest
import torch

from deepinv_jitter.experiments.checkpoints import (
    EVAL_ONLY,
    MODE_ONLY,
    CheckpointMismatchError,
    check_identity,
    run_identity,
)
from deepinv_jitter.experiments.runner import train_mode
from deepinv_jitter.tasks import get_task
from deepinv_jitter.training import TRAINING_MODES, parse_training_mode

# every single mode, and combinations (a setting is read when one of the parts reads it)
MODES = [*TRAINING_MODES, "sgd_jitter+input_jitter", "input_jitter+adversarial"]


def _reads(key, mode):
    return MODE_ONLY.get(key) in parse_training_mode(mode)


OTHER = dict(  # a value for every mode-only and evaluation-only setting
    jitter_sigma=0.3,
    jitter_scale="relative",
    input_sigma=0.2,
    train_attack_steps=3,
    attack_eps=2.0,
    attack_relative=True,
    attack_step_size=0.4,
    eval_attack_steps=2,
    curve_eps=[0.5],
    gaussian_draws=3,
    eval_batch_size=2,
)


def test_the_lists_cover_the_values_used_here():
    assert set(OTHER) == set(MODE_ONLY) | set(EVAL_ONLY)
    assert set(MODE_ONLY.values()) <= set(TRAINING_MODES)


@pytest.mark.parametrize("mode", MODES)
def test_only_the_settings_a_mode_reads_split_its_runs(mode):
    task = get_task("seismic", "smoke")
    meta = {"identity": run_identity(task, mode)}
    for key, value in OTHER.items():
        changed = task.replace(**{key: value})
        if _reads(key, mode):
            with pytest.raises(CheckpointMismatchError, match=key):
                check_identity(meta, changed, mode, "c.pt")
        else:
            check_identity(meta, changed, mode, "c.pt")
    with pytest.raises(CheckpointMismatchError, match="noise_sigma"):
        check_identity(meta, task.replace(noise_sigma=0.5), mode, "c.pt")


@pytest.mark.parametrize("mode", [*TRAINING_MODES, "sgd_jitter+input_jitter"])
def test_settings_ignored_for_a_mode_do_not_change_its_training(mode, tmp_path):
    # the oracle behind MODE_ONLY and EVAL_ONLY: the same weights, bit for bit
    task = get_task("seismic", "smoke", epochs=1)
    ignored = {k: v for k, v in OTHER.items() if not _reads(k, mode)}
    a, _ = train_mode(task, mode, tmp_path / "a", progress=False, log=lambda *_: None)
    b, _ = train_mode(
        task.replace(**ignored),
        mode,
        tmp_path / "b",
        progress=False,
        log=lambda *_: None,
    )
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # and a setting the mode does read changes them
    reads = {k: v for k, v in OTHER.items() if _reads(k, mode)}
    if reads:
        c, _ = train_mode(
            task.replace(**reads),
            mode,
            tmp_path / "c",
            progress=False,
            log=lambda *_: None,
        )
        assert not all(torch.equal(sa[k], c.state_dict()[k]) for k in sa)


# ------------------------------------------------------------------ what made the model


def _segy_line(path, seed):
    pytest.importorskip("segyio")
    from segy_files import random_line

    return random_line(path, seed=seed)


def _segy_task(path):
    return get_task(
        "seismic",
        "smoke",
        data_root=path,
        img_size=(16, 16),
        n_train=4,
        n_test=2,
        epochs=1,
    )


def test_the_data_is_part_of_the_identity(tmp_path):
    a, b = _segy_line(tmp_path / "a.sgy", 0), _segy_line(tmp_path / "b.sgy", 1)
    ta, tb = _segy_task(a), _segy_task(b)
    ident = ta.data_identity()
    assert ident["source"] == "file" and ident["size"] == a.stat().st_size
    assert ident["fingerprint"] != tb.data_identity()["fingerprint"]
    said = []
    train_mode(ta, "mse", tmp_path / "run", progress=False, log=said.append)
    with pytest.raises(CheckpointMismatchError, match="data .* differ"):
        train_mode(
            tb, "mse", tmp_path / "run", resume=True, progress=False, log=said.append
        )
    # the same file moved elsewhere keeps its identity: the run is reused
    moved = tmp_path / "moved"
    moved.mkdir()
    a.rename(moved / "a.sgy")
    said.clear()
    train_mode(
        _segy_task(moved / "a.sgy"),
        "mse",
        tmp_path / "run",
        resume=True,
        progress=False,
        log=said.append,
    )
    assert any("already trained" in line for line in said)


def test_the_epochs_are_part_of_the_identity_and_a_longer_budget_extends(tmp_path):
    from deepinv_jitter.experiments.checkpoints import FINAL, load_checkpoint
    from deepinv_jitter.experiments.runner import train_run

    task = get_task("seismic", "smoke", epochs=2, n_train=8)
    said = []
    train_run(task, "mse", tmp_path / "r", progress=False, log=said.append)
    # fewer epochs asked: never reused as if it had them
    one, meta = train_run(
        task.replace(epochs=1),
        "mse",
        tmp_path / "r",
        resume=True,
        progress=False,
        log=said.append,
        retrain_on_mismatch=True,
    )
    assert meta["epochs_done"] == 1 and not meta["extended_from"]
    assert any("epochs 2 (checkpoint) > 1 asked" in line for line in said)
    # more epochs asked: extended from the finished run, and recorded as such
    train_run(task, "mse", tmp_path / "e", progress=False, log=said.append)
    said.clear()
    model, meta = train_run(
        task.replace(epochs=3),
        "mse",
        tmp_path / "e",
        resume=True,
        progress=False,
        log=said.append,
    )
    assert any("extending from 2 to 3 epochs" in line for line in said)
    assert meta["epochs_done"] == 3 and meta["extended_from"] == [2]
    assert load_checkpoint(tmp_path / "e" / FINAL)["meta"]["extended_from"] == [2]
    fresh, _ = train_run(
        task.replace(epochs=3), "mse", tmp_path / "f", progress=False, log=said.append
    )
    sd, sf = model.state_dict(), fresh.state_dict()
    assert not all(
        torch.equal(sd[k], sf[k]) for k in sd
    )  # why the label says "extended"


def test_evaluate_records_the_epochs_the_checkpoint_has(tmp_path, monkeypatch, capsys):
    import json

    import deepinv_jitter.experiments.runner as runner
    from deepinv_jitter.cli import main

    class Interrupted(runner.CheckpointingTrainer):
        def step(self, epoch, *args, **kwargs):
            if epoch == 2:
                raise KeyboardInterrupt
            return super().step(epoch, *args, **kwargs)

    out = tmp_path / "run"
    argv = [
        "train",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--mode",
        "mse",
        "--out",
        str(out),
        "--quiet",
        "--set",
        "epochs=5",
    ]
    monkeypatch.setattr(runner, "CheckpointingTrainer", Interrupted)
    assert main(argv) == 130
    monkeypatch.undo()
    ev = tmp_path / "ev"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "seismic",
                "--checkpoint",
                str(out / "checkpoint_last.pt"),
                "--out",
                str(ev),
                "--quiet",
            ]
        )
        == 0
    )
    res = json.loads((ev / "evaluation.json").read_text())
    assert res["settings"]["epochs_done"] == 2 and res["settings"]["epochs"] == 5
    assert res["settings"]["complete_training"] is False
    assert "2 of 5 epochs" in capsys.readouterr().out
