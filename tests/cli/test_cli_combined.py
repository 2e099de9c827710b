"""Combined training modes from the command line: train, interrupt, resume exactly, compare."""

import json

import torch

import deepinv_jitter.experiments.runner as runner
from deepinv_jitter.cli import main
from deepinv_jitter.experiments.checkpoints import FINAL, load_checkpoint


def _interrupting(at_epoch):
    class Interrupted(runner.CheckpointingTrainer):
        def step(self, epoch, *args, **kwargs):
            if epoch == at_epoch:
                raise KeyboardInterrupt
            return super().step(epoch, *args, **kwargs)

    return Interrupted


BASE = ["--task", "seismic", "--preset", "smoke", "--quiet", "--set", "epochs=3"]


def test_combined_mode_trains_resumes_exactly_under_its_canonical_name(
    tmp_path, monkeypatch, capsys
):
    mode = "input_jitter+sgd_jitter"  # canonical: sgd_jitter+input_jitter
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", "--mode", mode, "--out", str(straight), *BASE]) == 0
    argv = ["train", "--mode", mode, "--out", str(resumed), *BASE]
    monkeypatch.setattr(runner, "CheckpointingTrainer", _interrupting(at_epoch=2))
    assert main(argv) == 130
    monkeypatch.undo()
    assert main(argv + ["--resume"]) == 0
    assert "resuming from epoch 3" in capsys.readouterr().out
    a, b = load_checkpoint(straight / FINAL), load_checkpoint(resumed / FINAL)
    assert a["meta"]["identity"]["mode"] == "sgd_jitter+input_jitter"
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    # the combination differs from each of its parts
    part = tmp_path / "part"
    assert main(["train", "--mode", "sgd_jitter", "--out", str(part), *BASE]) == 0
    c = load_checkpoint(part / FINAL)["state_dict"]
    assert not all(torch.equal(v, c[k]) for k, v in a["state_dict"].items())


def test_compare_lists_a_combined_mode_under_its_name(tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--modes", "mse,sgd_jitter+input_jitter", "--out", str(out)]
    assert main(argv + BASE[:-2] + ["--set", "epochs=1"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert list(res["results"]) == ["mse", "sgd_jitter+input_jitter"]
    assert "sgd_jitter+input_jitter" in (out / "results.md").read_text()
    assert (out / "sgd_jitter+input_jitter" / FINAL).is_file()
