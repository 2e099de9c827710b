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
