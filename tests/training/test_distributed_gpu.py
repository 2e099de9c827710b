"""The CUDA path: ``--device cuda`` puts everything on the GPU, and torchrun uses NCCL there.

Marked ``gpu``: skipped (by conftest) where no CUDA device is present.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.gpu


def _tensors(obj, prefix="", seen=None):
    """Every tensor reachable from a module: parameters, buffers and plain tensor attributes
    (e.g. a sampling mask stored as an attribute), recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.nn.Module):
        for name, t in list(obj.named_parameters(recurse=False)) + list(
            obj.named_buffers(recurse=False)
        ):
            if t is not None:
                yield prefix + name, t
        for name, child in obj.named_children():
            yield from _tensors(child, f"{prefix}{name}.", seen)
    for name, v in vars(obj).items():
        if isinstance(v, torch.Tensor) and not isinstance(v, torch.nn.Parameter):
            yield prefix + name, v
        elif isinstance(v, torch.Generator):
            yield prefix + name, v


@pytest.mark.parametrize("task_name", ["seismic", "mri"])
@pytest.mark.parametrize("mode", ["sgd_jitter", "input_jitter"])
def test_device_cuda_moves_everything(task_name, mode, tmp_path):
    from deepinv_jitter.experiments.runner import train_mode
    from deepinv_jitter.optim.jitter import iterate_noises
    from deepinv_jitter.tasks import get_task
    from deepinv_jitter.training.trainer import JitterTrainer

    task = get_task(task_name, "smoke", device="cuda", n_train=8, epochs=1)
    model = task.build_model()
    where = {n: t.device.type for n, t in _tensors(model)}
    where |= {f"physics.{n}": t.device.type for n, t in _tensors(task.physics)}
    off = {n: d for n, d in where.items() if d != "cuda"}
    assert not off, f"not on the GPU: {off}"
    trainer = JitterTrainer(
        model=model,
        physics=task.physics,
        optimizer=torch.optim.Adam(model.parameters(), 1e-3),
        train_dataloader=task.train_loader(),
        epochs=1,
        online_measurements=True,
        device="cuda",
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        jitter_seed=0,
        **task.trainer_settings(mode),
    )
    assert all(p.rng.device.type == "cuda" for p in trainer.perturbations if p.draws)
    if mode == "sgd_jitter":
        assert all(h.rng.device.type == "cuda" for h in iterate_noises(model))
    x = next(iter(task.train_loader())).to("cuda")
    y = task.physics(x)
    assert trainer.perturb_measurement(x, y, task.physics).device.type == "cuda"
    trained = trainer.train()
    assert all(
        p.device.type == "cuda" and torch.isfinite(p).all()
        for p in trained.parameters()
    )
    # the CLI's function end to end on the GPU
    model, secs = train_mode(task, mode, tmp_path, progress=False, log=lambda *a: None)
    assert secs > 0 and next(model.parameters()).device.type == "cuda"


def test_torchrun_one_process_uses_nccl(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=1",
    ]
    cmd += [
        "-m",
        "deepinv_jitter",
        "train",
        "--task",
        "seismic",
        "--mode",
        "sgd_jitter",
    ]
    cmd += [
        "--preset",
        "smoke",
        "--set",
        "epochs=1",
        "--device",
        "cuda",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "world size 1" in log and "backend nccl" in log and "device cuda:0" in log
    ckpt = torch.load(
        tmp_path / "checkpoint_last.pt", weights_only=False, map_location="cpu"
    )
    assert ckpt["world_size"] == 1
