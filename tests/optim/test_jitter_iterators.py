"""Jittering iterators, the noise rule and jitterize, checked against deepinv's own GD / PGD."""

import copy

import deepinv as dinv
import pytest
import torch

from deepinv_jitter import JitterGDIteration, JitterPGDIteration, jitterize
from deepinv_jitter.optim.jitter import (
    jitter_iterators,
    jitter_noise,
    jitter_std,
    suppress_jitter,
)


class TinyDenoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x, sigma=None):
        return x - 0.1 * torch.tanh(self.conv(x))


def _gd(beta=1.0):
    return dinv.optim.GD(
        dinv.optim.L2(),
        dinv.optim.RED(TinyDenoiser()),
        params_algo={"stepsize": 0.4, "lambda": 0.7, "g_param": 0.0, "beta": beta},
        max_iter=4,
        unfold=True,
        trainable_params=["stepsize"],
    )


def _pgd(g_first=False, beta=1.0):
    return dinv.optim.PGD(
        dinv.optim.L2(),
        dinv.optim.PnP(TinyDenoiser()),
        params_algo={"stepsize": 0.4, "lambda": 0.7, "g_param": 0.0, "beta": beta},
        g_first=g_first,
        max_iter=4,
        unfold=True,
        trainable_params=["stepsize"],
    )


def _pgd_gfirst_red():
    # g_first PGD takes a gradient step on g: needs a prior with a gradient
    return dinv.optim.PGD(
        dinv.optim.L2(),
        dinv.optim.RED(TinyDenoiser()),
        params_algo={"stepsize": 0.4, "lambda": 0.7, "g_param": 0.0, "beta": 0.6},
        g_first=True,
        max_iter=4,
        unfold=True,
        trainable_params=["stepsize"],
    )


BUILDERS = [_gd, lambda: _gd(beta=0.5), _pgd, lambda: _pgd(beta=0.6), _pgd_gfirst_red]


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    physics = dinv.physics.Inpainting((1, 8, 8), mask=0.7, rng=g)
    x = torch.rand(3, 1, 8, 8, generator=g)
    return x, physics(x), physics


@pytest.mark.parametrize("build", BUILDERS)
def test_noise_off_is_deepinv_bit_for_bit(build, data, device):
    _, y, physics = data
    y, physics = y.to(device), physics.to(device)
    torch.manual_seed(0)
    ref = build().to(device)
    jit = jitterize(copy.deepcopy(ref), sigma=0.3)
    ref.eval(), jit.eval()
    with torch.no_grad():
        assert torch.equal(ref(y, physics), jit(y, physics))  # eval mode: no noise
    jit.train(), ref.train()
    jit.fixed_point.iterator.sigma = 0.0
    assert torch.equal(ref(y, physics), jit(y, physics))  # sigma = 0 in train mode
    jit.fixed_point.iterator.sigma = 0.3
    assert not torch.equal(ref(y, physics), jit(y, physics))


@pytest.mark.parametrize("algo", ["gd", "pgd"])
@pytest.mark.parametrize("scale", ["relative", "absolute", "iterate"])
def test_noise_std_per_sample(algo, scale):
    # identity physics, zero prior, x0 = y, one iteration: x1 = y - e with e the injected noise
    gamma, sigma = 0.5, 0.2
    cls = dinv.optim.GD if algo == "gd" else dinv.optim.PGD
    model = cls(
        dinv.optim.L2(),
        None,
        stepsize=gamma,
        g_param=0.0,
        max_iter=1,
        unfold=True,
        trainable_params=["stepsize"],
        custom_init=lambda y, p: y,
    )
    jitterize(model, sigma=sigma, scale=scale).train()
    amp = torch.tensor([1.0, 3.0, 0.25])
    y = amp.view(3, 1, 1, 1) * torch.rand(
        3, 1, 96, 96, generator=torch.Generator().manual_seed(2)
    )
    y[:, :, 0, 0] = amp.view(3, 1)  # max |u| = amp exactly
    e = (y - model(y, dinv.physics.Denoising())).detach()
    expected = {
        "relative": gamma * sigma * amp,
        "absolute": gamma * sigma * torch.ones(3),
    }
    expected["iterate"] = sigma * amp
    std = e.flatten(1).std(1)
    assert torch.allclose(std, expected[scale], rtol=0.05)
    assert e.flatten(1).mean(1).abs().max() < 0.05 * expected[scale].max()


def test_fresh_noise_each_call_and_seeded_reproduction(data):
    _, y, physics = data
    model = jitterize(_gd(), sigma=0.2).train()
    assert not torch.equal(model(y, physics), model(y, physics))
    outs = []
    for _ in range(2):
        jitterize(model, rng=torch.Generator().manual_seed(5))
        outs.append(model(y, physics))
    assert torch.equal(outs[0], outs[1])


def test_noise_rule_generator_and_std():
    u = torch.randn(4, 2, 5, 5)
    a = jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(3))
    b = jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(jitter_noise(u, 0.0), torch.zeros_like(u))
    m = u.abs().flatten(1).amax(1)
    assert torch.allclose(jitter_std(u, 0.1, "relative", 0.5).flatten(), 0.05 * m)


@pytest.mark.parametrize("build", [_gd, _pgd, _pgd_gfirst_red])
@pytest.mark.parametrize("scale", ["relative", "iterate"])
def test_gradients_reach_prior_and_stepsize(build, scale, data):
    x, y, physics = data
    model = jitterize(build(), sigma=0.1, scale=scale).train()
    ((model(y, physics) - x) ** 2).mean().backward()
    gamma = model.params_algo["stepsize"][0]
    assert gamma.grad is not None and gamma.grad.abs() > 0
    conv = model.prior[0].denoiser.conv.weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0


def test_iterate_scale_does_not_depend_on_stepsize():
    u = torch.randn(2, 1, 6, 6)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = jitter_noise(u, 0.1, "iterate", stepsize=0.01, rng=g())
    b = jitter_noise(u, 0.1, "iterate", stepsize=1.0, rng=g())
    c = jitter_noise(u, 0.1, "relative", stepsize=0.01, rng=g())
    assert torch.equal(a, b)
    assert torch.allclose(c, 0.01 * a)


def test_jitterize_keeps_settings_and_is_idempotent():
    model = _pgd_gfirst_red()
    old = model.fixed_point.iterator
    assert jitterize(model) is model
    it = model.fixed_point.iterator
    assert isinstance(it, JitterPGDIteration) and it.g_first and it.sigma == 0.0
    assert (
        it.f_step is old.f_step
        and it.g_step is old.g_step
        and it.cost_fn is old.cost_fn
    )
    jitterize(model, sigma=0.2, scale="absolute")
    assert (
        model.fixed_point.iterator is it and it.sigma == 0.2 and it.scale == "absolute"
    )
    jitterize(model)
    assert model.fixed_point.iterator is it and it.sigma == 0.2
    assert isinstance(jitterize(_gd()).fixed_point.iterator, JitterGDIteration)


def test_jitterize_finds_nested_models_and_suppress():
    wrapper = torch.nn.Sequential(_gd())
    jitterize(wrapper, sigma=0.4)
    assert len(jitter_iterators(wrapper)) == 1
    with suppress_jitter(wrapper):
        assert jitter_iterators(wrapper)[0].sigma == 0.0
    assert jitter_iterators(wrapper)[0].sigma == 0.4


@pytest.mark.parametrize(
    "make",
    [
        lambda: dinv.optim.HQS(
            dinv.optim.L2(), dinv.optim.TVPrior(), g_param=0.1, unfold=True
        ),
        lambda: dinv.optim.DRS(
            dinv.optim.L2(), dinv.optim.TVPrior(), g_param=0.1, unfold=True
        ),
        lambda: dinv.optim.ADMM(
            dinv.optim.L2(), dinv.optim.TVPrior(), g_param=0.1, unfold=True
        ),
        lambda: dinv.optim.PDCP(
            dinv.optim.L2(), dinv.optim.TVPrior(), g_param=0.1, unfold=True
        ),
        lambda: dinv.optim.FISTA(
            dinv.optim.L2(), dinv.optim.TVPrior(), g_param=0.1, unfold=True
        ),
    ],
)
def test_jitterize_rejects_other_algorithms(make):
    with pytest.raises(TypeError, match="GDIteration and PGDIteration"):
        jitterize(make())


def test_bad_inputs():
    with pytest.raises(TypeError, match="BaseOptim"):
        jitterize(torch.nn.Conv2d(1, 1, 3))
    with pytest.raises(TypeError, match="model"):
        jitterize("not a model")
    with pytest.raises(ValueError, match="sigma"):
        JitterGDIteration(sigma=-0.1)
    with pytest.raises(ValueError, match="scale"):
        JitterPGDIteration(scale="batch")
    with pytest.raises(TypeError, match="rng"):
        JitterGDIteration(rng=0)
    with pytest.raises(TypeError, match="sigma"):
        JitterGDIteration(sigma="0.1")
    with pytest.raises(ValueError, match="sigma"):
        jitterize(_gd(), sigma=float("nan"))
    with pytest.raises(ValueError, match="scale"):
        jitter_noise(torch.ones(1, 2), 0.1, scale="max")


def test_defaults_are_pinned():
    # the iterate rule is the default everywhere (relative stays available, as the paper's code)
    assert (
        JitterGDIteration().scale == "iterate"
        and JitterPGDIteration().scale == "iterate"
    )
    it = jitterize(_gd(), sigma=0.1).fixed_point.iterator
    assert it.scale == "iterate"
    assert JitterGDIteration(scale="relative").scale == "relative"


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")])
def test_non_finite_sigma_is_rejected(value):
    with pytest.raises(ValueError, match="sigma"):
        jitterize(_gd(), sigma=value)
    with pytest.raises(ValueError, match="sigma"):
        JitterGDIteration(sigma=value)
    with pytest.raises(ValueError, match="sigma"):
        jitter_noise(torch.ones(1, 2), value)


def test_the_noise_generator_advances_across_iterations_and_calls():
    # a generator that repeated its draws (e.g. a copy restored before each draw) fails here
    g = torch.Generator().manual_seed(0)
    u = torch.ones(2, 1, 4, 4)
    a, b = jitter_noise(u, 0.1, rng=g), jitter_noise(u, 0.1, rng=g)
    assert not torch.equal(a, b)
    # within one forward pass: each unrolled iteration draws its own noise
    seen = []
    model = jitterize(_gd(), sigma=0.3, rng=torch.Generator().manual_seed(1)).train()
    it = model.fixed_point.iterator
    real = jitter_noise.__globals__["jitter_noise"]

    def spy(*args, **kwargs):
        e = real(*args, **kwargs)
        seen.append(e.detach() / e.detach().flatten().std())
        return e

    jitter_noise.__globals__["jitter_noise"] = spy
    try:
        y = torch.ones(1, 1, 8, 8)
        model(y, dinv.physics.Denoising())
        model(y, dinv.physics.Denoising())
    finally:
        jitter_noise.__globals__["jitter_noise"] = real
    assert len(seen) == 2 * 4 and it.rng is not None
    for i in range(len(seen)):
        for j in range(i):
            assert not torch.allclose(seen[i], seen[j]), (i, j)


def test_gd_noise_scale_is_taken_from_the_explicit_step_output():
    # x_0 = y = 1 everywhere; u_0 = x_0 - gamma * (x_0 - y') with y' = 10 gives 5.5, not 1
    sigma, gamma = 0.1, 0.5
    model = dinv.optim.GD(
        dinv.optim.L2(),
        dinv.optim.RED(TinyDenoiser()),
        params_algo={"stepsize": gamma, "lambda": 0.0, "g_param": 0.0},
        max_iter=1,
        unfold=True,
        custom_init=lambda y, physics: {"est": (torch.ones_like(y),)},
    )
    jitterize(
        model, sigma=sigma, scale="iterate", rng=torch.Generator().manual_seed(0)
    ).train()
    y = torch.full((2, 1, 64, 64), 10.0)
    physics = dinv.physics.Denoising()
    with torch.no_grad():
        noisy = model(y, physics)
        clean = model.eval()(y, physics)
    assert torch.allclose(clean, torch.full_like(clean, 5.5))
    std = float((noisy - clean).std())
    assert std == pytest.approx(
        sigma * 5.5, rel=0.05
    )  # sigma * max|u|, not sigma * max|x| = 0.1


def test_generator_is_a_deprecated_alias_of_rng():
    u = torch.ones(1, 1, 4, 4)
    with pytest.warns(DeprecationWarning, match="rng"):
        old = jitter_noise(u, 0.1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(old, jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(2)))
    with pytest.warns(DeprecationWarning):
        it = JitterGDIteration(sigma=0.1, generator=torch.Generator())
    assert isinstance(it.rng, torch.Generator)
    with pytest.raises(TypeError, match="not both"), pytest.warns(DeprecationWarning):
        jitterize(_gd(), rng=torch.Generator(), generator=torch.Generator())


@pytest.mark.parametrize("scale", ["iterate", "relative"])
def test_noise_is_drawn_in_float32_under_bfloat16(scale):
    # the noise is drawn in float32 and cast: the same draws as a float32 u, rounded
    u32 = torch.ones(2, 1, 8, 8)
    e32 = jitter_noise(u32, 0.1, scale, rng=torch.Generator().manual_seed(0))
    e16 = jitter_noise(u32.bfloat16(), 0.1, scale, rng=torch.Generator().manual_seed(0))
    assert e16.dtype == torch.bfloat16
    assert torch.equal(e16, e32.bfloat16())
