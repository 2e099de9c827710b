"""L2 PGD attack in measurement space: budget, strength, masks, model state, errors."""

import deepinv as dinv
import pytest
import torch

from deepinv_jitter.models import build_unrolled
from deepinv_jitter.robustness import pgd_attack


@pytest.fixture
def setup():
    torch.manual_seed(0)
    physics = dinv.physics.BlurFFT(
        (1, 12, 12), filter=dinv.physics.functional.gaussian_blur(sigma=1.0)
    )
    model = build_unrolled(
        physics, "seismic", "gd", max_iter=3, stepsize=1.0, hidden=8, depth=3
    )
    for p in model.prior[0].denoiser.parameters():  # a non-trivial (untrained) prior
        torch.nn.init.normal_(p, std=0.1)
    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    return model, physics, x, physics.A(x)


def _err(model, physics, x, y):
    with torch.no_grad():
        return ((model(y, physics) - x) ** 2).flatten(1).sum(1)


@pytest.mark.parametrize("relative", [False, True])
def test_budget_and_beats_random(setup, relative):
    model, physics, x, y = setup
    eps = 0.1 if relative else 0.5
    delta = pgd_attack(model, physics, x, y, eps, steps=10, relative=relative)
    budget = eps * y.flatten(1).norm(dim=1) if relative else torch.full((3,), eps)
    norms = delta.flatten(1).norm(dim=1)
    assert torch.all(norms <= budget * (1 + 1e-5))
    assert torch.all(
        norms >= 0.99 * budget
    )  # the loss grows outward: the attack uses the budget
    rnd = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    rnd = rnd * (norms / rnd.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    adv, ran = _err(model, physics, x, y + delta), _err(model, physics, x, y + rnd)
    assert torch.all(adv > ran)


def test_model_state_restored_and_no_param_grad(setup):
    model, physics, x, y = setup
    p = next(model.parameters())
    frozen = model.prior[0].denoiser.net[0].bias
    frozen.requires_grad_(False)
    model.train()
    pgd_attack(model, physics, x, y, 0.3, steps=3)
    assert model.training and p.requires_grad and not frozen.requires_grad
    assert all(q.grad is None for q in model.parameters())
    model.eval()
    with torch.no_grad():  # works under an outer no_grad
        d = pgd_attack(model, physics, x, y, 0.3, steps=2)
    assert not model.training and d.abs().sum() > 0


def test_mri_attack_touches_only_sampled_kspace():
    mask = torch.zeros(16, 16)
    mask[:, ::3] = 1
    physics = dinv.physics.MRI(mask=mask, img_size=(16, 16))
    model = build_unrolled(
        physics, "dncnn", "pgd", max_iter=2, stepsize=1.0, hidden=4, depth=3
    )
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    y = physics(x)
    delta = pgd_attack(model, physics, x, y, 0.2, steps=4, relative=True)
    unsampled = (physics.mask == 0).expand_as(delta)
    assert delta[unsampled].abs().max() == 0
    assert delta[~unsampled].abs().sum() > 0
    assert torch.all(
        delta.flatten(1).norm(dim=1) <= 0.2 * y.flatten(1).norm(dim=1) * (1 + 1e-5)
    )


def test_bad_inputs(setup):
    model, physics, x, y = setup
    for kw, name in [
        ({"eps": 0.0}, "eps"),
        ({"eps": -1.0}, "eps"),
        ({"eps": 1.0, "steps": 0}, "steps"),
        ({"eps": 1.0, "step_size": 0.0}, "step_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            pgd_attack(model, physics, x, y, **kw)
    with pytest.raises(ValueError, match="batch size"):
        pgd_attack(model, physics, x[:2], y, 1.0)
    with pytest.raises(TypeError, match="model"):
        pgd_attack(3, physics, x, y, 1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        pgd_attack(model, physics, x.numpy(), y, 1.0)


def test_mri_attack_stays_on_sampled_kspace_even_if_the_model_reads_every_entry():
    # Planted fault: the sampling mask ignored. A model that reads unsampled k-space (here the
    # identity on y) gets a gradient there, so only the attack's own masking keeps delta at zero.
    mask = torch.zeros(8, 8)
    mask[:, ::3] = 1
    physics = dinv.physics.MRI(mask=mask, img_size=(8, 8))
    x = torch.rand(2, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    y = physics.A(x)

    def identity(y, physics):
        return y

    delta = pgd_attack(identity, physics, x, y, eps=0.5, steps=5)
    unsampled = (mask == 0).expand_as(delta)
    assert bool(unsampled.any()) and torch.count_nonzero(delta[unsampled]) == 0
    # the budget is still used, on the sampled entries
    assert torch.allclose(
        delta.flatten(1).norm(dim=1), torch.full((2,), 0.5), atol=1e-5
    )


@pytest.mark.parametrize(
    "eps,scale,relative",
    [(2e18, 1.0, False), (1e-3, 1e30, True), (1e-3, float("inf"), True)],
)
def test_a_budget_above_the_limit_or_not_finite_is_refused(eps, scale, relative):
    # its squared norm would overflow float32 and the perturbation become 0
    model = lambda y, physics: y  # noqa: E731
    y = torch.ones(2, 1, 4, 4)
    y[1] *= scale
    with pytest.raises(ValueError, match="too large"):
        pgd_attack(model, None, y, y, eps=eps, steps=1, relative=relative)
    with pytest.raises(ValueError, match="too large"):
        pgd_attack(
            model, None, y, torch.full_like(y, float("nan")), eps=1e-3, relative=True
        )
