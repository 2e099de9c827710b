"""select_sigma: the sweep's rule and statistics on a trainer factory of one's own."""

import deepinv as dinv
import pytest
import torch

import deepinv_jitter.experiments.runner as runner
from deepinv_jitter import JitterTrainer, select_sigma
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.selection import recommend_sigma
from deepinv_jitter.statistics import paired_difference

PHYSICS = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1))
TRAIN = dinv.datasets.TensorDataset(
    x=torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
)
TEST = dinv.datasets.TensorDataset(
    x=torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
)


def make_trainer(mode, sigma, seed):
    torch.manual_seed(seed)
    model = build_unrolled(
        PHYSICS, "seismic", "pgd", max_iter=2, stepsize=0.5, hidden=4
    )
    return JitterTrainer(
        model,
        PHYSICS,
        torch.optim.Adam(model.parameters(), 1e-2),
        torch.utils.data.DataLoader(TRAIN, batch_size=4),
        epochs=2,
        online_measurements=True,
        training_mode=mode,
        jitter_sigma=0.1 if sigma is None else sigma,
        jitter_seed=seed,
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        non_blocking_transfers=False,
    )


@pytest.fixture(scope="module")
def choice():
    seen = []
    out = select_sigma(
        make_trainer,
        [0.05, 0.5],
        TEST,
        seeds=[0, 1],
        max_id_loss=0.3,
        eps=0.2,
        evaluate_kwargs=dict(attack_steps=2, gaussian_draws=2, curve_eps=[]),
        log=seen.append,
    )
    return out, seen


def test_the_frontier_pairs_each_level_with_mse_seed_by_seed(choice):
    out, seen = choice
    assert len(seen) == 2 * 3  # seeds x (mse + two levels)
    labels = [p["label"] for p in out["points"]]
    assert labels == ["mse", "sgd_jitter sigma=0.05", "sgd_jitter sigma=0.5"]
    mse = out["points"][0]["results"]
    for p in out["points"][1:]:
        for cond, d in p["paired_vs_mse"].items():
            expected = paired_difference(
                p["results"][cond]["psnr_per_seed"], mse[cond]["psnr_per_seed"]
            )
            assert d == expected  # the statistics of sweep, seed by seed
        assert len(p["results"]["adversarial"]["psnr_ci95"]) == 2
    assert out["recommended"] == recommend_sigma(out["points"], 0.3)
    assert (
        runner.recommend_sigma is recommend_sigma
    )  # one rule for sweep and select_sigma


def test_the_levels_really_train_differently(choice):
    out, _ = choice
    a, b = (p["results"]["in_distribution"]["psnr_per_seed"] for p in out["points"][1:])
    assert a != b


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sigmas=[0.1, 0.1]), "distinct"),
        (dict(sigmas=[-0.1]), "sigma"),
        (dict(seeds=[0, 0]), "seeds"),
        (dict(seeds=[]), "one or more distinct integers"),
        (dict(sigmas=[]), "one or more distinct positive"),
        (dict(eps=0.0), "eps"),
        (dict(max_id_loss=-1.0), "max_id_loss"),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs, match):
    calls = []

    def factory(*a):
        calls.append(a)
        return make_trainer(*a)

    args = (
        dict(sigmas=[0.1], eval_data=TEST, seeds=[0], max_id_loss=0.3, eps=0.2) | kwargs
    )
    with pytest.raises(ValueError, match=match):
        select_sigma(factory, **args)
    assert not calls


def test_a_factory_that_ignores_the_mode_is_caught():
    def wrong(mode, sigma, seed):
        return make_trainer("mse", None, seed)

    with pytest.raises(ValueError, match="returned a trainer of mode 'mse'"):
        select_sigma(wrong, [0.1], TEST, seeds=[0], eps=0.2)


def test_a_factory_that_ignores_the_sigma_is_caught():
    def wrong(mode, sigma, seed):
        return make_trainer(mode, None, seed)  # every sgd_jitter trainer at 0.1

    with pytest.raises(ValueError, match="with jitter_sigma 0.1"):
        select_sigma(wrong, [0.2], TEST, seeds=[0], eps=0.2)
