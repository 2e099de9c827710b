"""JitterTrainer under torchrun: 2-process gloo runs on CPU, through the CLI and directly.

The 2-process runs are real ``torchrun --standalone`` subprocesses (free port chosen by torchrun). This
file is also the worker script they run (``python tests/training/test_distributed.py --worker OUT``): each rank
trains a tiny unrolled network and saves what it ended with; the tests compare ranks with each other
and with a single-process run in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
REPO = ROOT.parent  # the package under test, first on the subprocesses' path

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)

N_TRAIN, N_EVAL, EPOCHS = (
    8,
    5,
    2,
)  # 5 eval samples: unequal shards (3 + 2) test exact averaging


def _problem():
    import deepinv as dinv

    g = torch.Generator().manual_seed(123)
    x_train = torch.rand(N_TRAIN, 1, 8, 8, generator=g)
    x_eval = torch.rand(N_EVAL, 1, 8, 8, generator=g)
    # noise-free blur: measurements do not depend on any rank's random stream
    physics = dinv.physics.BlurFFT(
        (1, 8, 8), filter=dinv.physics.functional.gaussian_blur(sigma=1.0), device="cpu"
    )
    return physics, x_train, x_eval


def _train(mode, batch_size, save_path=None, sigma=0.2):
    """Train a tiny unrolled GD net; the same initial weights in every process."""
    import deepinv as dinv

    from deepinv_jitter.models import build_unrolled
    from deepinv_jitter.training import DistributedJitterTrainer as JitterTrainer

    physics, x_train, x_eval = _problem()
    torch.manual_seed(0)
    model = build_unrolled(physics, "seismic", "gd", stepsize=0.5, hidden=4, depth=2)
    data = dinv.datasets.TensorDataset(x=x_train)
    trainer = JitterTrainer(
        model,
        physics,
        torch.optim.Adam(model.parameters(), 1e-2),
        torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False),
        eval_dataloader=torch.utils.data.DataLoader(
            dinv.datasets.TensorDataset(x=x_eval), batch_size=2
        ),
        metrics=dinv.metric.PSNR(),
        epochs=EPOCHS,
        online_measurements=True,
        training_mode=mode,
        jitter_sigma=sigma,
        jitter_scale="iterate",
        jitter_seed=7,
        save_path=save_path,
        verbose=False,
        show_progress_bar=False,
        device="cpu",
    )
    rngs = [p.rng for p in trainer.perturbations if p.rng is not None]
    rng0 = rngs[0].get_state() if rngs else None
    model = trainer.train()
    return model, trainer, rng0


def _initial_state():
    from deepinv_jitter.models import build_unrolled

    torch.manual_seed(0)
    return build_unrolled(
        _problem()[0], "seismic", "gd", stepsize=0.5, hidden=4, depth=2
    ).state_dict()


def _worker(out: str) -> None:
    """Run by each torchrun rank."""
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    result = {"world_size": int(os.environ["WORLD_SIZE"])}
    for mode in ("mse", "sgd_jitter"):
        ckpt = os.path.join(out, f"ckpt_{mode}") if mode == "sgd_jitter" else None
        model, trainer, rng0 = _train(mode, batch_size=2, save_path=ckpt)
        result[mode] = {
            "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
            "rng0": rng0,
            "eval_psnr": list(trainer.eval_metrics_history["PSNR"]),
            "loss": list(trainer.loss_history["SupLoss"]),
            "save_path": None if trainer.save_path is None else str(trainer.save_path),
            "ddp": trainer._ddp_active,
            "test": trainer.test(
                torch.utils.data.DataLoader(
                    __import__("deepinv").datasets.TensorDataset(x=_problem()[2]),
                    batch_size=2,
                ),
                compare_no_learning=False,
            ),
        }
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))


def _torchrun(args, tmp_path, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
    ]
    return subprocess.run(
        cmd + args,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = _torchrun([str(HERE), "--worker", str(out)], out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


@needs_gloo
@pytest.mark.slow
def test_ranks_end_with_identical_weights(ranks):
    _, (r0, r1) = ranks
    assert r0["world_size"] == r1["world_size"] == 2
    for mode in ("mse", "sgd_jitter"):
        assert r0[mode]["ddp"] and r1[mode]["ddp"]
        sd0, sd1 = r0[mode]["state_dict"], r1[mode]["state_dict"]
        assert sd0.keys() == sd1.keys()
        for k in sd0:
            assert torch.equal(sd0[k], sd1[k]), (mode, k)
        # it trained: the weights moved away from the common initial ones
        assert any(not torch.equal(sd0[k], v) for k, v in _initial_state().items())


@needs_gloo
@pytest.mark.slow
def test_jitter_noise_is_seeded_per_rank(ranks):
    _, (r0, r1) = ranks
    # oracle: a generator seeded jitter_seed + rank (jitter_seed = 7)
    for rank, r in enumerate((r0, r1)):
        expected = torch.Generator().manual_seed(7 + rank).get_state()
        assert torch.equal(r["sgd_jitter"]["rng0"], expected)
    assert not torch.equal(r0["sgd_jitter"]["rng0"], r1["sgd_jitter"]["rng0"])


@needs_gloo
@pytest.mark.slow
def test_mse_two_processes_match_one_process_on_same_global_batch(ranks):
    _, (r0, r1) = ranks
    # one process, batch 4 = 2 ranks x batch 2; unshuffled DistributedSampler gives rank 0 samples
    # 0, 2, 4, 6 and rank 1 samples 1, 3, 5, 7, so every step sees the same 4 samples
    model, trainer, _ = _train("mse", batch_size=4)
    assert not trainer._ddp_active
    single = model.state_dict()
    dist_sd = r0["mse"]["state_dict"]
    for k in single:
        torch.testing.assert_close(dist_sd[k], single[k], rtol=1e-4, atol=1e-5)
    # metrics averaged over all ranks: equal on both ranks and equal to the single process's
    # (5 eval samples split 3 + 2: a plain mean of rank means would differ)
    assert r0["mse"]["eval_psnr"] == r1["mse"]["eval_psnr"]
    for a, b in zip(
        r0["mse"]["eval_psnr"], trainer.eval_metrics_history["PSNR"], strict=True
    ):
        assert abs(a - b) < 1e-3
    for a, b in zip(r0["mse"]["loss"], trainer.loss_history["SupLoss"], strict=True):
        assert abs(a - b) < 1e-5 * max(1.0, abs(b))
    # test(): each rank tests its shard; the result is the mean over all 5 samples, on both ranks
    single_test = trainer.test(
        torch.utils.data.DataLoader(
            __import__("deepinv").datasets.TensorDataset(x=_problem()[2]), batch_size=2
        ),
        compare_no_learning=False,
    )
    assert r0["mse"]["test"]["PSNR"] == pytest.approx(
        r1["mse"]["test"]["PSNR"], abs=1e-9
    )
    assert r0["mse"]["test"]["PSNR"] == pytest.approx(single_test["PSNR"], abs=1e-3)
    assert r0["mse"]["test"]["PSNR"] == pytest.approx(
        r0["mse"]["eval_psnr"][-1], abs=1e-9
    )


@needs_gloo
@pytest.mark.slow
def test_checkpoints_written_by_rank_zero_only(ranks):
    out, (r0, r1) = ranks
    folders = list((out / "ckpt_sgd_jitter").iterdir())
    assert len(folders) == 1, folders  # one timestamped folder, not one per rank
    assert (
        r0["sgd_jitter"]["save_path"]
        == r1["sgd_jitter"]["save_path"]
        == str(folders[0])
    )
    ckpt = torch.load(folders[0] / f"ckp_{EPOCHS - 1}.pth.tar", weights_only=False)
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(v, r0["sgd_jitter"]["state_dict"][k])
    states = ckpt["perturbation_rng_ranks"]  # per rank: one state per perturbation
    assert len(states) == 2 and not torch.equal(states[0][0], states[1][0])
    assert torch.equal(ckpt["perturbation_rng"][0], states[0][0])


@needs_gloo
@pytest.mark.slow
def test_cli_train_under_torchrun(tmp_path):
    out = tmp_path / "run"
    proc = _torchrun(
        [
            "-m",
            "deepinv_jitter",
            "train",
            "--task",
            "seismic",
            "--mode",
            "sgd_jitter",
            "--preset",
            "smoke",
            "--set",
            "epochs=1",
            "--set",
            "n_train=8",
            "--out",
            str(out),
            "--quiet",
        ],
        tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "world size 2" in log
    assert "differ across ranks" not in log
    last = torch.load(out / "checkpoint_last.pt", weights_only=False)
    final = torch.load(out / "checkpoint_final.pt", weights_only=False)
    ranks = last["perturbation_rng_ranks"]
    assert last["world_size"] == 2 and len(ranks) == 2
    assert not torch.equal(ranks[0][0], ranks[1][0])
    for k, v in final["state_dict"].items():
        assert torch.equal(v, last["state_dict"][k])
        assert not k.startswith("module.")  # the plain model, not the DDP wrapper
    assert not list(out.glob(".*.tmp"))


def test_shards_partition_and_reshuffle():
    from deepinv_jitter.training.data_parallel.process_group import (
        EpochDistributedSampler,
        shard_dataloader,
    )

    loader = torch.utils.data.DataLoader(
        list(range(10)),
        batch_size=3,
        shuffle=True,
        generator=torch.Generator().manual_seed(5),
    )
    shards = [shard_dataloader(loader, r, 2) for r in range(2)]
    assert all(isinstance(s.sampler, EpochDistributedSampler) for s in shards)
    assert all(
        s.sampler.seed == 5 for s in shards
    )  # the loader's seed, the same on every rank
    epochs = [[torch.cat(list(s)).tolist() for s in shards] for _ in range(2)]
    for e in epochs:
        assert sorted(e[0] + e[1]) == list(range(10))  # 10 = 2 x 5: no padding needed
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    # evaluation shards: exact partition, no padding, even for unequal sizes
    ev = torch.utils.data.DataLoader(list(range(5)), batch_size=2)
    parts = [
        torch.cat(list(shard_dataloader(ev, r, 2, pad=False))).tolist()
        for r in range(2)
    ]
    assert parts == [[0, 2, 4], [1, 3]]
    # one process: the loader itself
    assert shard_dataloader(loader, 0, 1) is loader


def test_single_process_is_not_distributed():
    from deepinv_jitter.training.data_parallel.process_group import (
        init_distributed,
        rank_device,
    )

    assert not init_distributed("cpu")
    assert rank_device("cpu") == torch.device("cpu")
    model, trainer, _ = _train("mse", batch_size=4)
    assert (
        not trainer._ddp_active
        and trainer.world_size == 1
        and trainer._ddp_model is None
    )
    with pytest.raises(RuntimeError, match="distributed=True"):
        _train_required()
    with pytest.raises(ValueError, match="distributed"):
        _train_bad_flag()


def _trainer_kwargs():
    import deepinv as dinv

    physics, x_train, _ = _problem()
    model = torch.nn.Identity()
    return dict(
        model=model,
        physics=physics,
        optimizer=None,
        train_dataloader=torch.utils.data.DataLoader(
            dinv.datasets.TensorDataset(x=x_train), batch_size=2
        ),
        training_mode="mse",
        save_path=None,
        verbose=False,
        device="cpu",
    )


def _train_required():
    from deepinv_jitter.training import DistributedJitterTrainer as JitterTrainer

    JitterTrainer(**_trainer_kwargs(), distributed=True)


def _train_bad_flag():
    from deepinv_jitter.training import DistributedJitterTrainer as JitterTrainer

    JitterTrainer(**_trainer_kwargs(), distributed="yes")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--worker":
    sys.path.insert(0, str(ROOT))
    _worker(sys.argv[2])


def _train_until_killed(argv, out, env=None):
    """Start a command, SIGKILL its process group as soon as a resumable checkpoint exists."""
    import signal
    import time

    proc = subprocess.Popen(
        argv,
        start_new_session=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while proc.poll() is None and not (out / "checkpoint_last.pt").exists():
            time.sleep(0.02)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return not (out / "checkpoint_final.pt").exists()


@needs_gloo
@pytest.mark.slow
@pytest.mark.parametrize("nproc", [1, 2])
def test_sigkilled_run_resumes_bit_identical(tmp_path, nproc):
    train = [
        "-m",
        "deepinv_jitter",
        "train",
        "--task",
        "seismic",
        "--mode",
        "input_jitter",
        "--preset",
        "smoke",
        "--set",
        "epochs=4",
        "--set",
        "n_train=16",
        "--quiet",
    ]
    launch = (
        [sys.executable]
        if nproc == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
        ]
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), str(ROOT)]),
        OMP_NUM_THREADS="1",
    )
    whole = tmp_path / "whole"
    subprocess.run(
        launch + train + ["--out", str(whole)],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    cut = tmp_path / "cut"
    if not _train_until_killed(launch + train + ["--out", str(cut)], cut, env):
        pytest.skip("the run finished before it could be killed")
    subprocess.run(
        launch + train + ["--out", str(cut), "--resume"],
        check=True,
        env=env,
        capture_output=True,
        cwd=tmp_path,
    )
    a = torch.load(whole / "checkpoint_final.pt", weights_only=True)["state_dict"]
    b = torch.load(cut / "checkpoint_final.pt", weights_only=True)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
