"""The theory of SGD jittering, checked against closed forms on linear networks.

For deepinv's GD with a RED prior (``L2()`` data term, lambda = 1) and the linear
denoiser ``D(x) = W x``, one unrolled iteration is ``x_{k+1} = B x_k + gamma A^T y -
e_k`` with ``B = I - gamma (A^T A + lambda (I - W))`` and, under SGD jittering with the
"absolute" scale, ``e_k = gamma w_k``, ``w_k ~ N(0, sigma^2 I)``. With ``x_0 = y`` the
network is ``R(y) = (B^K + gamma sum_{j<K} B^j) y - sum_k B^{K-1-k} e_k``, so

* (a) the expected jittered loss is the clean loss plus ``sum_k sigma^2 gamma^2
  ||B^{K-1-k}||_F^2``;
* (b) a perturbation ``delta`` uniform on the sphere of radius eps adds ``eps^2 / m
  ||J||_F^2``;
* (c) the Wiener filter's closed-form error matches Monte Carlo and beats every other
  linear estimator.

Every Monte-Carlo check is seeded, in float64, and asserts agreement within 4 standard
errors.
"""

import math

import deepinv as dinv
import pytest
import torch

from deepinv_jitter import jitterize
from deepinv_jitter.datasets.gaussian_subspace import GaussianSubspaceModel
from deepinv_jitter.datasets.toy import ToySignalDataset
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.models.linear import LinearDenoiser, MLPDenoiser
from deepinv_jitter.robustness import gaussian_perturbation

N_SIGMAS = 4.0  # tolerance of every Monte-Carlo check, in standard errors
NOISE = 0.2


def small_model():
    return GaussianSubspaceModel(n=16, k=4, shape=(1, 4, 4), seed=3)


def linear_network(n, n_iter=4, gamma=0.4, seed=0, physics=None):
    """An unrolled GD network with a random (non-identity) linear prior, in float64."""
    physics = physics or dinv.physics.Denoising(dinv.physics.GaussianNoise(NOISE))
    prior = LinearDenoiser(n)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        prior.weight.copy_(
            0.6 * torch.eye(n) + 0.3 * torch.randn(n, n, generator=g) / math.sqrt(n)
        )
    net = build_unrolled(
        physics, prior=prior, algorithm="gd", max_iter=n_iter, stepsize=gamma
    )
    return net.double(), physics


def network_matrix(net, physics, shape):
    """The network's linear map J (n x n, on flattened signals), probed, no noise."""
    n = math.prod(shape)
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = net(eye, physics).reshape(n, n)
    net.train(was_training)
    return out.T


def iteration_matrix(net, physics, shape):
    """B = I - gamma (A^T A + lambda (I - W)), from the model's own parameters."""
    n = math.prod(shape)
    eye = torch.eye(n, dtype=torch.float64)
    ata = physics.A_adjoint(physics.A(eye.reshape(n, *shape))).reshape(n, n).T
    gamma = float(net.params_algo["stepsize"][0].detach())
    lam = float(torch.as_tensor(net.params_algo["lambda"][0]).detach())
    W = net.prior[0].denoiser.weight.detach()
    return eye - gamma * (ata + lam * (eye - W)), gamma


def mean_and_stderr(v: torch.Tensor):
    return v.mean().item(), (v.std() / math.sqrt(v.numel())).item()


# ---------------------------------------------------------------------------- (a)
def test_unrolled_linear_network_is_the_predicted_polynomial_of_B():
    model = small_model()
    net, physics = linear_network(model.n)
    B, gamma = iteration_matrix(net, physics, model.shape)
    K = net.max_iter
    expected = torch.linalg.matrix_power(B, K) + gamma * sum(
        torch.linalg.matrix_power(B, j) for j in range(K)
    )
    assert torch.allclose(
        network_matrix(net, physics, model.shape), expected, atol=1e-12
    )


def test_expected_jittered_loss_is_clean_loss_plus_closed_form_noise_term():
    model = small_model()
    net, physics = linear_network(model.n, n_iter=4, gamma=0.4)
    sigma = 0.5
    B, gamma = iteration_matrix(net, physics, model.shape)
    K = net.max_iter
    # noise injected at iteration k reaches the output through gamma * B^(K-1-k)
    noise_term = sum(
        sigma**2 * gamma**2 * torch.linalg.matrix_power(B, K - 1 - k).square().sum()
        for k in range(K)
    ).item()

    g = torch.Generator().manual_seed(0)
    x = model.sample(8, rng=g).double()
    y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
    J = network_matrix(net, physics, model.shape)
    clean = ((y.flatten(1) @ J.T - x.flatten(1)) ** 2).sum(1).mean().item()
    expected = clean + noise_term

    reps = 2500
    jitterize(net, sigma=sigma, scale="absolute", rng=torch.Generator().manual_seed(1))
    net.train()
    with torch.no_grad():
        out = net(y.repeat(reps, 1, 1, 1), physics)
    loss = ((out - x.repeat(reps, 1, 1, 1)) ** 2).flatten(1).sum(1)
    mean, se = mean_and_stderr(loss)
    assert noise_term > 0.5 * clean  # the noise term is a large part of what is checked
    assert abs(mean - expected) < N_SIGMAS * se, (mean, expected, se)
    # evaluation mode: exactly the clean network
    net.eval()
    with torch.no_grad():
        assert torch.allclose(
            net(y, physics).flatten(1), y.flatten(1) @ J.T, atol=1e-12
        )


def test_jittered_output_is_unbiased_and_has_the_predicted_covariance():
    model = small_model()
    net, physics = linear_network(model.n, n_iter=3, gamma=0.5, seed=2)
    sigma = 0.4
    B, gamma = iteration_matrix(net, physics, model.shape)
    K = net.max_iter
    cov = sum(
        sigma**2
        * gamma**2
        * torch.linalg.matrix_power(B, K - 1 - k)
        @ torch.linalg.matrix_power(B, K - 1 - k).T
        for k in range(K)
    )
    y = model.sample(1, rng=torch.Generator().manual_seed(4)).double()
    J = network_matrix(net, physics, model.shape)
    jitterize(net, sigma=sigma, scale="absolute", rng=torch.Generator().manual_seed(5))
    net.train()
    reps = 20000
    with torch.no_grad():
        dev = (
            net(y.expand(reps, -1, -1, -1).contiguous(), physics).flatten(1)
            - y.flatten(1) @ J.T
        )
    # a scalar projection of the deviation: mean 0, variance u^T cov u
    u = torch.randn(
        model.n, generator=torch.Generator().manual_seed(6), dtype=torch.float64
    )
    proj = dev @ u
    mean, se = mean_and_stderr(proj)
    assert abs(mean) < N_SIGMAS * se
    var_pred = (u @ cov @ u).item()
    var_se = var_pred * math.sqrt(2 / (reps - 1))  # Gaussian: sd of the sample variance
    assert abs(proj.var().item() - var_pred) < N_SIGMAS * var_se


# ---------------------------------------------------------------------------- (b)
def test_average_case_error_is_clean_error_plus_eps2_over_m_frobenius_norm():
    model = small_model()
    net, physics = linear_network(model.n, seed=1)
    J = network_matrix(net, physics, model.shape)
    g = torch.Generator().manual_seed(2)
    x = model.sample(4, rng=g).double()
    y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
    eps = 1.5
    m = y[0].numel()
    clean = ((y.flatten(1) @ J.T - x.flatten(1)) ** 2).sum(1).mean().item()
    expected = clean + eps**2 / m * J.square().sum().item()

    reps = 4000
    yr, xr = y.repeat(reps, 1, 1, 1), x.repeat(reps, 1, 1, 1)
    net.eval()
    with torch.no_grad():
        out = net(yr + gaussian_perturbation(yr, eps, rng=g), physics)
    mean, se = mean_and_stderr(((out - xr) ** 2).flatten(1).sum(1))
    assert eps**2 / m * J.square().sum().item() > 0.3 * clean
    assert abs(mean - expected) < N_SIGMAS * se, (mean, expected, se)


def test_estimator_error_with_eps_matches_monte_carlo():
    model = small_model()
    net, physics = linear_network(model.n, seed=3)
    J = network_matrix(net, physics, model.shape)
    eps = 1.0
    g = torch.Generator().manual_seed(7)
    x = model.sample(40000, rng=g).double()
    y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
    y = y + gaussian_perturbation(y, eps, rng=g)
    err = ((y.flatten(1) @ J.T - x.flatten(1)) ** 2).mean(1)
    mean, se = mean_and_stderr(err)
    assert abs(mean - model.estimator_error(J, NOISE, eps=eps)) < N_SIGMAS * se


# ---------------------------------------------------------------------------- (c)
def _mc_error(model, M, n=40000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = model.sample(n, rng=g).double()
    y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
    return mean_and_stderr(((y.flatten(1) @ M.T - x.flatten(1)) ** 2).mean(1))


def test_oracle_closed_form_error_matches_monte_carlo():
    model = GaussianSubspaceModel()  # the task's defaults
    mean, se = _mc_error(model, model.mmse_matrix(NOISE))
    assert abs(mean - model.mmse_error(NOISE)) < N_SIGMAS * se
    # and through the batched estimate on the sample shape
    g = torch.Generator().manual_seed(1)
    x = model.sample(20000, rng=g).double()
    y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
    mean, se = mean_and_stderr(
        ((model.mmse_estimate(y, NOISE) - x) ** 2).flatten(1).mean(1)
    )
    assert abs(mean - model.mmse_error(NOISE)) < N_SIGMAS * se


def _trained_linear_network(model, steps=100):
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(NOISE))
    net = build_unrolled(
        physics, prior=LinearDenoiser(model.n), max_iter=3, stepsize=0.5
    ).double()
    x = torch.stack(
        [ToySignalDataset(model, 16, seed=0)[i] for i in range(16)]
    ).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        y = x + NOISE * torch.randn(x.shape, generator=g, dtype=x.dtype)
        loss = ((net(y, physics) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return network_matrix(net, physics, model.shape)


def test_oracle_beats_every_other_linear_estimator():
    model = small_model()
    oracle = model.mmse_error(NOISE)
    eye = torch.eye(model.n, dtype=torch.float64)
    best_scalar = model.eigenvalues.sum() / (
        model.eigenvalues.sum() + model.n * NOISE**2
    )
    projector = model.basis @ model.basis.T
    trained = _trained_linear_network(model)
    g = torch.Generator().manual_seed(0)
    W = model.mmse_matrix(NOISE)
    perturbed = W + 0.01 * torch.randn(
        model.n, model.n, generator=g, dtype=torch.float64
    )
    candidates = {
        "identity": eye,
        "zero": 0 * eye,
        "best scaled identity": best_scalar * eye,
        "projector": projector,
        "wrong-noise Wiener": model.mmse_matrix(2 * NOISE),
        "perturbed Wiener": perturbed,
        "trained LinearDenoiser network": trained,
    }
    for name, M in candidates.items():
        assert model.estimator_error(M, NOISE) > oracle, name
    # the trained network learned something; its closed-form error matches Monte Carlo
    assert model.estimator_error(trained, NOISE) < model.estimator_error(eye, NOISE)
    mean, se = _mc_error(model, trained, seed=3)
    assert abs(mean - model.estimator_error(trained, NOISE)) < N_SIGMAS * se


def test_ood_closed_forms_match_monte_carlo():
    model = GaussianSubspaceModel()
    shifted = model.shifted(angle=math.pi / 4)
    W = model.mmse_matrix(NOISE)
    mismatched = shifted.estimator_error(W, NOISE)
    ood_oracle = shifted.mmse_error(NOISE)
    assert ood_oracle < mismatched
    # same spectrum: the shifted model's own oracle has the in-distribution error
    assert ood_oracle == pytest.approx(model.mmse_error(NOISE), rel=1e-12)
    mean, se = _mc_error(shifted, W, seed=5)
    assert abs(mean - mismatched) < N_SIGMAS * se
    mean, se = _mc_error(shifted, shifted.mmse_matrix(NOISE), seed=6)
    assert abs(mean - ood_oracle) < N_SIGMAS * se


def test_mismatched_error_grows_with_the_shift_angle():
    model = GaussianSubspaceModel()
    W = model.mmse_matrix(NOISE)
    errs = [
        model.shifted(a).estimator_error(W, NOISE)
        for a in (0.0, 0.2, 0.5, 1.0, math.pi / 2)
    ]
    assert errs[0] == pytest.approx(model.mmse_error(NOISE), rel=1e-9)
    assert all(a < b for a, b in zip(errs, errs[1:]))


# -------------------------------------------------------------- the denoiser modules
def test_linear_denoiser_is_wx_and_identity_or_zero_at_init():
    x = torch.randn(3, 1, 4, 4)
    assert torch.equal(LinearDenoiser(16)(x), x)
    assert torch.equal(LinearDenoiser(16, init="zero")(x), torch.zeros_like(x))
    D = LinearDenoiser(16)
    with torch.no_grad():
        D.weight.copy_(torch.randn(16, 16))
    assert torch.allclose(
        D(x, 0.1).flatten(1), x.flatten(1) @ D.weight.T.detach(), atol=1e-6
    )
    assert D(x.double()).dtype == torch.float64


def test_mlp_denoiser_is_identity_at_init_and_trains():
    D = MLPDenoiser(16, hidden=8, depth=3)
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(D(x), x)
    D(x).sum().backward()
    assert D.net[-1].weight.grad is not None


def test_untrained_linear_prior_network_is_identity_on_denoising():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(NOISE))
    net = build_unrolled(physics, prior=LinearDenoiser(64), stepsize=0.5)
    y = torch.randn(2, 1, 8, 8)
    assert torch.allclose(net(y, physics), y)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LinearDenoiser(0),
        lambda: LinearDenoiser(2.5),
        lambda: LinearDenoiser(True),
        lambda: LinearDenoiser(4, init="random"),
        lambda: MLPDenoiser(0),
        lambda: MLPDenoiser(4, hidden=0),
        lambda: MLPDenoiser(4, depth=1),
    ],
)
def test_denoiser_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("D", [LinearDenoiser(16), MLPDenoiser(16, hidden=4)])
def test_denoisers_reject_inputs_of_the_wrong_size(D):
    with pytest.raises(ValueError, match="16 entries"):
        D(torch.zeros(2, 1, 3, 3))
    with pytest.raises(ValueError):
        D(torch.zeros(16))
