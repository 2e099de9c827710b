"""The denoising toy task end to end: the oracle in results, the generalisation study."""

import json
import math

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.datasets.gaussian_subspace import MMSEReconstructor
from deepinv_jitter.experiments.tasks import get_task
from deepinv_jitter.experiments.tasks.denoising import signal_model


def test_task_pieces_and_the_oracle_line():
    task = get_task("denoising", "smoke")
    assert task.config.online_measurements is False and task.config.threads == 1
    x = task.test_dataset[0]
    assert x.shape == (1, 8, 8)
    oracle = task.oracle()
    assert set(oracle) == {"in_distribution", "gaussian", "ood"}
    for v in oracle.values():
        # measured on 256 test signals vs the closed form: within the Jensen gap and sampling
        assert abs(v["psnr"] - v["psnr_closed_form"]) < 1.5
    assert oracle["gaussian"]["psnr"] < oracle["in_distribution"]["psnr"]
    # the oracle beats an untrained network (the identity map) by far
    model = task.build_model()
    from deepinv_jitter.experiments.runner import evaluate_model

    untrained = evaluate_model(task, model, progress=False, curve_eps=[]).conditions
    assert untrained["in_distribution"]["psnr"] < oracle["in_distribution"]["psnr"] - 5
    # out of distribution the oracle is the shifted model's own Wiener filter: the
    # in-distribution filter on the same OOD data is far worse (closed forms 17.0 vs 23.6 dB)
    mismatched = evaluate_model(
        task,
        MMSEReconstructor(signal_model(task.config), 0.2),
        progress=False,
        curve_eps=[],
    ).conditions["ood"]["psnr"]
    assert mismatched < oracle["ood"]["psnr"] - 3


def test_train_psnr_of_fixed_pairs_uses_the_pairs_trained_on():

    from deepinv_jitter.experiments.runner import _train_psnr

    task = get_task("denoising", "smoke")
    model = task.build_model()  # untrained: the identity map, x_hat = y
    x, y = task.fixed_measurements()[:8]
    expected = float(task.metrics()[0](y, x).double().mean())
    assert _train_psnr(task, model, 8)["psnr"] == pytest.approx(expected, abs=1e-4)
    # pairs with fresh noise (what a wrong implementation would score) read otherwise
    fresh = float(task.metrics()[0](task.physics(x), x).double().mean())
    assert abs(fresh - expected) > 1e-3


def test_fixed_training_pairs_are_seeded_and_independent_of_global_state():
    import torch

    task = get_task("denoising", "smoke")
    torch.manual_seed(1)
    a = task.fixed_measurements()[0]
    torch.manual_seed(2)
    b = get_task("denoising", "smoke").fixed_measurements()[0]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], a[1])  # y = x + noise


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="prior"):
        get_task("denoising", "smoke", prior="cnn")
    with pytest.raises(ValueError, match="subspace_dim"):
        get_task("denoising", "smoke", subspace_dim=2.5)
    with pytest.raises(ValueError, match="data-root"):
        get_task("denoising", "smoke", data_root=".")


@pytest.mark.slow
def test_compare_writes_the_oracle(tmp_path):
    out = tmp_path / "toy"
    argv = ["compare", "--task", "denoising", "--preset", "smoke", "--quiet"]
    assert main(argv + ["--modes", "mse,sgd_jitter", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    oracle = res["oracle"]
    assert math.isfinite(oracle["in_distribution"]["psnr"])
    assert math.isfinite(oracle["ood"]["psnr"])
    for mode in ("mse", "sgd_jitter"):
        assert (
            res["results"][mode]["in_distribution"]["psnr"]
            < oracle["in_distribution"]["psnr"]
        )
    assert "Oracle" in (out / "results.md").read_text()


@pytest.mark.slow
def test_generalization_command_writes_the_contract(tmp_path):
    out = tmp_path / "gen"
    argv = ["generalization", "--task", "denoising", "--preset", "smoke", "--quiet"]
    argv += ["--n-train", "16,32", "--seeds", "0,1", "--modes", "mse,sgd_jitter"]
    argv += ["--set", "epochs=20", "--set", "n_test=64", "--out", str(out)]
    assert main(argv) == 0
    res = json.loads((out / "generalization.json").read_text())
    assert res["n_train"] == [16, 32] and res["seeds"] == [0, 1]
    assert res["epochs"] == {
        "16": 20,
        "32": 10,
    }  # the same optimizer steps at every size
    assert math.isfinite(res["oracle"]["psnr"])
    for mode in ("mse", "sgd_jitter"):
        for n in ("16", "32"):
            entry = res["results"][mode][n]
            for cond in ("in_distribution", "gaussian"):
                assert len(entry[cond]["psnr_per_seed"]) == 2
                assert entry[cond]["psnr"] == pytest.approx(
                    sum(entry[cond]["psnr_per_seed"]) / 2
                )
            gap = [
                t - v
                for t, v in zip(
                    entry["train"]["psnr_per_seed"],
                    entry["in_distribution"]["psnr_per_seed"],
                )
            ]
            assert entry["gap"]["psnr_per_seed"] == pytest.approx(gap)
            # the gap has its spread like every condition (the figure draws it as error bars)
            spread = abs(gap[0] - gap[1]) / math.sqrt(2)
            assert entry["gap"]["psnr_std"] == pytest.approx(spread)
    assert (out / "generalization.png").stat().st_size > 1000
    # resume reuses every (size, seed, mode) run
    assert main(argv + ["--resume"]) == 0
    assert (
        json.loads((out / "generalization.json").read_text())["results"]
        == res["results"]
    )


@pytest.mark.slow
def test_generalization_also_runs_the_seismic_task(tmp_path):
    out = tmp_path / "gen"
    argv = ["generalization", "--task", "seismic", "--preset", "smoke", "--quiet"]
    argv += [
        "--n-train",
        "4,8",
        "--modes",
        "mse",
        "--set",
        "epochs=1",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    res = json.loads((out / "generalization.json").read_text())
    assert "oracle" not in res and set(res["results"]["mse"]) == {"4", "8"}


@pytest.mark.parametrize(
    "n_train, batch_size, epochs", [(16, 4, 2), (16, 16, 200), (30, 8, 3)]
)
@pytest.mark.parametrize("n", [1, 4, 9, 20, 33, 64])
def test_generalization_epochs_keeps_the_optimizer_steps(
    n_train, batch_size, epochs, n
):
    # Planted fault: batches per epoch counted with floor instead of ceil (a last partial batch
    # is still a step). Oracle: the number of batches of a real DataLoader.
    from types import SimpleNamespace

    import torch

    from deepinv_jitter.experiments.runner import generalization_epochs

    def batches(size):
        return len(torch.utils.data.DataLoader(range(size), batch_size=batch_size))

    task = SimpleNamespace(
        config=SimpleNamespace(n_train=n_train, batch_size=batch_size, epochs=epochs)
    )
    steps = epochs * batches(n_train)
    assert generalization_epochs(task, n) == max(1, round(steps / batches(n)))
    assert generalization_epochs(task, n, "epochs") == epochs


def test_training_leaves_the_thread_count_as_it_was(tmp_path):
    import torch

    from deepinv_jitter.experiments.runner import train_mode

    task = get_task("denoising", "smoke", epochs=2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train_mode(task, "mse", tmp_path, progress=False, log=lambda *a: None)
        assert (
            torch.get_num_threads() == 2
        )  # the task trains on 1 thread, then restores
    finally:
        torch.set_num_threads(before)
