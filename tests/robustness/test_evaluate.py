"""evaluate_robustness and the random perturbation, on deepinv's own physics."""

import math

import deepinv as dinv
import pytest
import torch

from deepinv_jitter.robustness.evaluate import (
    CONDITIONS,
    evaluate_robustness,
    gaussian_perturbation,
)
from deepinv_jitter.robustness.metrics import default_metrics


class Identity(torch.nn.Module):
    """x_hat = y (for Denoising physics): the error is exactly the perturbation."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.seen_training = []

    def forward(self, y, physics):
        self.seen_training.append(self.training)
        return self.w * y


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, y, physics):
        return y + 0.1 * self.conv(y)


def _x(n=4, size=16):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, size, size, generator=g)


def _psnr_oracle(x, err_sqnorm):
    # deepinv's PSNR (the default metric): data range 1, MSE = ||err||^2 / n_pixels
    mse = torch.as_tensor(err_sqnorm).double() / x[0].numel()
    return float((10 * torch.log10(1.0 / mse)).mean())


def test_zero_eps_gives_equal_conditions():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.05))
    model = TinyNet()
    r = evaluate_robustness(
        model, physics, _x(), eps=0.0, ood_edit=lambda x, rng=None: x, curve_eps=[0.0]
    )
    ref = r.conditions["in_distribution"]
    for c in CONDITIONS:
        assert r.conditions[c]["psnr"] == pytest.approx(ref["psnr"], abs=1e-9)
        assert r.conditions[c]["ssim"] == pytest.approx(ref["ssim"], abs=1e-9)
    assert r.curve["psnr"][0] == pytest.approx(ref["psnr"], abs=1e-9)
    assert r.n_samples == 4


def test_gaussian_and_attack_psnr_match_the_budget_oracle():
    # identity reconstructor, no noise: the error is delta, with ||delta|| = eps exactly (Gaussian).
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    eps = 0.3
    r = evaluate_robustness(
        Identity(), physics, x, eps=eps, attack_steps=5, curve_eps=[0.0, eps]
    )
    assert r.conditions["gaussian"]["psnr"] == pytest.approx(
        _psnr_oracle(x, torch.tensor(eps**2)), abs=1e-3
    )
    assert (
        r.conditions["adversarial"]["psnr"]
        >= _psnr_oracle(x, torch.tensor(eps**2)) - 1e-3
    )
    assert r.curve["eps"] == [0.0, eps]
    assert r.curve["psnr"][1] == pytest.approx(
        r.conditions["adversarial"]["psnr"], abs=1e-6
    )
    assert "ood" not in r.conditions


def test_attack_reaches_the_worst_case_of_a_biased_identity():
    # x_hat = y + c: the worst delta of norm eps is eps * c / ||c||, error norm ||c|| + eps.
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    bias = 0.01
    eps = 0.3

    def model(y, physics):
        return y + bias

    r = evaluate_robustness(
        model, physics, x, eps=eps, attack_steps=10, curve_eps=[eps]
    )
    c_norm = bias * math.sqrt(x[0].numel())
    oracle = _psnr_oracle(x, torch.tensor((c_norm + eps) ** 2))
    assert r.conditions["adversarial"]["psnr"] == pytest.approx(oracle, abs=0.05)
    assert r.conditions["adversarial"]["psnr"] < r.conditions["gaussian"]["psnr"]


class Sharpen(torch.nn.Module):
    """x_hat = y - 2 * laplacian(y): amplifies a checkerboard 17x, smooth signals hardly at all."""

    def __init__(self):
        super().__init__()
        k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer("k", k.view(1, 1, 3, 3))

    def forward(self, y, physics):
        return y - 2 * torch.nn.functional.conv2d(y, self.k, padding=1)


def test_attack_beats_gaussian_and_is_deterministic():
    t = torch.linspace(0, 1, 24)
    x = (
        (torch.sin(3 * t)[:, None] * torch.cos(2 * t)[None, :])
        .expand(3, 1, 24, 24)
        .clone()
    )
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.01))
    model = Sharpen()
    kw = dict(eps=0.5, attack_steps=10, curve_eps=[0.0, 0.25, 0.5], seed=3)
    r1 = evaluate_robustness(model, physics, x, **kw)
    r2 = evaluate_robustness(model, physics, x, **kw)
    assert r1.to_dict() == r2.to_dict()
    c = r1.conditions
    assert (
        c["adversarial"]["psnr"] < c["gaussian"]["psnr"] - 1.5
    )  # oracle: at most 4.8 dB
    assert c["gaussian"]["psnr"] <= c["in_distribution"]["psnr"] + 1e-6
    assert r1.curve["psnr"] == sorted(r1.curve["psnr"], reverse=True)
    assert all(math.isfinite(v) for d in c.values() for v in d.values())


def test_model_runs_in_eval_mode_and_mode_is_restored():
    model = Identity().train()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    evaluate_robustness(model, physics, _x(), eps=0.1, attack_steps=2, curve_eps=[0.1])
    assert model.training
    assert model.seen_training and not any(model.seen_training)


def test_ood_edit_is_scored_against_the_edited_image():
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    calls = {}

    def edit(x, rng=None):
        calls["gen"] = rng
        return x + 0.5

    r = evaluate_robustness(
        Identity(), physics, x, eps=0.1, ood_edit=edit, curve_eps=[0.0]
    )
    assert isinstance(calls["gen"], torch.Generator)
    # the identity reconstructs the edited image exactly (PSNR capped by deepinv's 1e-8 floor)
    assert r.conditions["ood"]["psnr"] > 70
    assert torch.allclose(r.examples["ood"]["x"], x[:1] + 0.5)


def test_gaussian_perturbation_budget_relative_and_mask():
    y = torch.randn(3, 2, 8, 8)
    g = torch.Generator().manual_seed(0)
    d = gaussian_perturbation(y, 0.2, relative=True, rng=g)
    assert torch.allclose(
        d.flatten(1).norm(dim=1), 0.2 * y.flatten(1).norm(dim=1), rtol=1e-5
    )
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., ::2] = 1
    d = gaussian_perturbation(y, 1.0, mask=mask, rng=g)
    assert torch.all(d[..., 1::2] == 0)
    assert torch.allclose(d.flatten(1).norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="eps"):
        gaussian_perturbation(y, -1.0)


def test_gaussian_perturbation_draws_from_rng_and_generator_is_not_a_name():
    y = torch.randn(2, 1, 8, 8)
    a = gaussian_perturbation(y, 0.5, rng=torch.Generator().manual_seed(3))
    b = gaussian_perturbation(y, 0.5, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # the removed alias must not be accepted and silently ignored (an unseeded draw)
    with pytest.raises(TypeError, match="generator"):
        gaussian_perturbation(y, 0.5, generator=torch.Generator().manual_seed(3))
    with pytest.raises(TypeError, match="rng"):
        gaussian_perturbation(y, 0.5, rng=3)


def test_bad_arguments():
    physics = dinv.physics.Denoising()
    with pytest.raises(ValueError, match="eps"):
        evaluate_robustness(Identity(), physics, _x(), eps=-0.1)
    with pytest.raises(ValueError, match="physics"):
        evaluate_robustness(Identity(), None, _x(), eps=0.1)
    with pytest.raises(ValueError, match="curve_eps"):
        evaluate_robustness(Identity(), physics, _x(), eps=0.1, curve_eps=[-1])


def test_evaluation_leaves_the_callers_random_state_alone():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.05))
    model, x = TinyNet(), _x()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    evaluate_robustness(model, physics, x, eps=0.2, attack_steps=2, curve_eps=[0.2])
    assert torch.equal(torch.rand(3), expected)


def test_average_case_is_a_monte_carlo_mean_over_draws():
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    model = Sharpen()
    kw = dict(eps=0.5, attack_steps=1, curve_eps=[], seed=2)
    one = evaluate_robustness(model, physics, x, gaussian_draws=1, **kw)
    many = evaluate_robustness(model, physics, x, gaussian_draws=64, **kw)
    # oracle: the per-draw PSNRs, recomputed here from the same seeded generator
    psnr = dinv.metric.PSNR()  # the default metric
    gen = torch.Generator().manual_seed(2 + 3)
    draws = []
    for _ in range(64):
        d = gaussian_perturbation(x, 0.5, rng=gen)
        draws.append(psnr(model(x + d, physics), x))
    draws = torch.stack(draws)  # (64, B)
    assert one.conditions["gaussian"]["psnr"] == pytest.approx(
        float(draws[0].mean()), abs=1e-4
    )
    assert many.conditions["gaussian"]["psnr"] == pytest.approx(
        float(draws.mean()), abs=1e-4
    )
    sem = float((draws.var(0) / 64).sum().sqrt() / x.shape[0])
    assert many.conditions["gaussian"]["psnr_draw_sem"] == pytest.approx(sem, rel=1e-3)
    assert one.conditions["gaussian"]["psnr_draw_sem"] == 0.0
    # a linear model's error under a random perturbation of fixed norm: Identity has no spread
    ident = evaluate_robustness(Identity(), physics, x, gaussian_draws=8, **kw)
    assert ident.conditions["gaussian"]["psnr_draw_sem"] < 1e-4


def test_attack_curve_starts_at_the_clean_psnr_and_does_not_rise():
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.01))
    r = evaluate_robustness(
        Sharpen(), physics, x, eps=0.4, attack_steps=5, curve_eps=[0.0, 0.1, 0.2, 0.4]
    )
    assert r.curve["psnr"][0] == pytest.approx(
        r.conditions["in_distribution"]["psnr"], abs=1e-9
    )
    assert all(a >= b for a, b in zip(r.curve["psnr"], r.curve["psnr"][1:]))
    assert r.curve["psnr"][-1] == pytest.approx(
        r.conditions["adversarial"]["psnr"], abs=1e-6
    )


def test_non_finite_reconstruction_is_an_error():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))

    def broken(y, physics):
        return y * float("nan")

    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate_robustness(broken, physics, _x(), eps=0.1, curve_eps=[])


def test_constant_reference_image_is_an_error_naming_the_sample():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    x = _x(n=5)
    x[3] = 0.25  # max = min: the per-sample PSNR range is zero
    with pytest.raises(ValueError, match=r"test sample 3 is -inf .*max = min = 0.25"):
        evaluate_robustness(
            TinyNet(), physics, x, eps=0.1, curve_eps=[], metrics=default_metrics()
        )


def test_attack_curve_covers_every_batch_unless_told_otherwise():
    x = _x(n=6)
    loader = torch.utils.data.DataLoader(x, batch_size=2)
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.01))
    kw = dict(eps=0.4, attack_steps=3, curve_eps=[0.0, 0.2, 0.4], gaussian_draws=2)
    r = evaluate_robustness(Sharpen(), physics, loader, **kw)
    assert r.curve["psnr"][0] == pytest.approx(
        r.conditions["in_distribution"]["psnr"], abs=1e-9
    )
    assert r.curve["psnr"][2] == pytest.approx(
        r.conditions["adversarial"]["psnr"], abs=1e-9
    )
    assert r.curve_samples == r.n_samples == 6
    # a subset when asked, and then the report says which: the first batch's 2 samples
    first = evaluate_robustness(Sharpen(), physics, loader, curve_batches=1, **kw)
    assert first.curve_samples == 2
    assert first.to_dict()["curve_samples"] == 2
    assert first.curve["psnr"][0] == pytest.approx(
        sum(r.per_sample["in_distribution"][:2]) / 2, abs=1e-9
    )


def test_examples_carry_the_psnr_of_the_reconstruction_shown():
    x = _x()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.02))
    r = evaluate_robustness(
        Sharpen(),
        physics,
        x,
        eps=0.3,
        attack_steps=2,
        gaussian_draws=3,
        ood_edit=lambda x, rng=None: x.flip(-1),
        curve_eps=[],
    )
    psnr = dinv.metric.PSNR()
    for c in CONDITIONS:
        ex = r.examples[c]
        assert ex["psnr"] == pytest.approx(float(psnr(ex["x_hat"], ex["x"])), abs=1e-4)
        if c != "gaussian":  # the Gaussian example is one draw; its table value a mean
            assert ex["psnr"] == pytest.approx(r.per_sample[c][0], abs=1e-9)
