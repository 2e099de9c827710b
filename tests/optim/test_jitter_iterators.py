"""The jitter hook on every supported deepinv algorithm, checked against deepinv's own models.

Like deepinv's ``test_unfolded.py``, the tests are parametrised over a list of algorithms (both
``g_first`` orders where deepinv offers them). The oracles are deepinv's plain models (noise off:
bit for bit), the noise rule's closed-form std (Monte Carlo), and the prior step's input recorded by
the prior itself with the expected draw reproduced from the generator's seed (placement).
"""

import copy

import deepinv as dinv
import pytest
import torch

from deepinv_jitter import (
    JitterGDIteration,
    JitterPGDIteration,
    jitterize,
    strip_jitter,
)
from deepinv_jitter.optim.jitter import (
    SUPPORTED_ALGORITHMS,
    IterateNoise,
    iterate_noises,
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


class HalfDenoiser(torch.nn.Module):
    """D(x) = x / 2, recording every input it sees (the prior step's input)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, sigma=None):
        self.seen.append(x.detach().clone())
        return 0.5 * x


PARAMS = {"stepsize": 0.4, "lambda": 0.7, "g_param": 0.0, "beta": 1.0}

# (name, deepinv class, g_first, prior wrapper): g_first PGD / FISTA take a gradient step on g
# (RED); PDCP with g_first takes the prior's conjugate prox; the rest take its prox (PnP)
ALGORITHMS = [
    ("GD", dinv.optim.GD, False, dinv.optim.RED),
    ("PGD", dinv.optim.PGD, False, dinv.optim.PnP),
    ("PGD", dinv.optim.PGD, True, dinv.optim.RED),
    ("FISTA", dinv.optim.FISTA, False, dinv.optim.PnP),
    ("FISTA", dinv.optim.FISTA, True, dinv.optim.RED),
    ("HQS", dinv.optim.HQS, False, dinv.optim.PnP),
    ("HQS", dinv.optim.HQS, True, dinv.optim.PnP),
    ("DRS", dinv.optim.DRS, False, dinv.optim.PnP),
    ("DRS", dinv.optim.DRS, True, dinv.optim.PnP),
    ("ADMM", dinv.optim.ADMM, False, dinv.optim.PnP),
    ("ADMM", dinv.optim.ADMM, True, dinv.optim.PnP),
    ("PDCP", dinv.optim.PDCP, False, dinv.optim.PnP),
    ("PDCP", dinv.optim.PDCP, True, dinv.optim.PnP),
]


def _id(algo):
    return f"{algo[0]}{'-g_first' if algo[2] else ''}"


IDS = [_id(a) for a in ALGORITHMS]


def build(algo, prior=None, max_iter=4, params=None, **kwargs):
    name, cls, g_first, wrap = algo
    params = dict(PARAMS if params is None else params)
    if name == "PDCP":
        params |= {"stepsize_dual": params["stepsize"]}
    if name == "FISTA":
        params |= {"a": 3}
    extra = {} if name == "GD" else {"g_first": g_first}
    return cls(
        data_fidelity=dinv.optim.L2(),
        prior=None if prior is False else wrap(prior or TinyDenoiser()),
        params_algo=params,
        max_iter=max_iter,
        unfold=True,
        trainable_params=["stepsize"],
        **extra,
        **kwargs,
    )


def init_for(name, x0):
    """An explicit first iterate in each algorithm's own format."""
    zero = torch.zeros_like(x0)
    return {
        "GD": (x0,),
        "PGD": (x0,),
        "HQS": (x0,),
        "FISTA": (x0, x0),
        "DRS": (x0, x0),
        "ADMM": (x0, zero),
        "PDCP": (x0, x0, zero),
    }[name]


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    physics = dinv.physics.Inpainting((1, 8, 8), mask=0.7, rng=g)
    x = torch.rand(3, 1, 8, 8, generator=g)
    return x, physics(x), physics


def test_the_list_covers_every_supported_algorithm():
    assert set(SUPPORTED_ALGORITHMS) == {name for name, *_ in ALGORITHMS}
    assert {"GD", "PGD", "FISTA", "HQS", "DRS", "ADMM", "PDCP"} <= set(
        SUPPORTED_ALGORITHMS
    )


@pytest.mark.parametrize("algo", ALGORITHMS, ids=IDS)
def test_noise_off_is_deepinv_bit_for_bit(algo, data, device):
    x, y, physics = data
    x, y, physics = x.to(device), y.to(device), physics.to(device)
    torch.manual_seed(0)
    ref = build(algo).to(device)
    jit = jitterize(copy.deepcopy(ref), sigma=0.3)
    assert type(jit.fixed_point.iterator) is type(ref.fixed_point.iterator)
    ref.eval(), jit.eval()
    with torch.no_grad():
        assert torch.equal(ref(y, physics), jit(y, physics))  # eval mode: no noise
    jit.train(), ref.train()
    jit.fixed_point.iterator.iterate_noise.sigma = 0.0
    out_ref, out_jit = ref(y, physics), jit(y, physics)
    assert torch.equal(out_ref, out_jit)  # sigma = 0 in train mode
    # ... and the backward pass too
    ((out_ref - x) ** 2).sum().backward()
    ((out_jit - x) ** 2).sum().backward()
    for a, b in zip(ref.parameters(), jit.parameters()):
        assert torch.equal(a.grad, b.grad)
    assert ref.state_dict().keys() == jit.state_dict().keys()
    jit.fixed_point.iterator.iterate_noise.sigma = 0.3
    assert not torch.equal(ref(y, physics), jit(y, physics))


@pytest.mark.parametrize("algo", ALGORITHMS, ids=IDS)
@pytest.mark.parametrize("scale", ["iterate", "relative", "absolute"])
def test_perturbation_has_the_std_of_the_scale_rule(algo, scale):
    # identity physics, zero prior (prox = identity, grad = 0), one iteration: the output moves by
    # exactly the injected perturbation (DRS, g_first=False: twice it, x = prox(2u - z))
    name, _, g_first, _ = algo
    gamma, sigma = 0.5, 0.2
    params = {"stepsize": gamma, "lambda": 1.0, "g_param": 0.0, "beta": 1.0}
    model = build(algo, prior=False, max_iter=1, params=params)
    jitterize(model, sigma=sigma, scale=scale)
    amp = torch.tensor([1.0, 3.0, 0.25])
    g = torch.Generator().manual_seed(2)
    y = amp.view(3, 1, 1, 1) * torch.rand(3, 1, 96, 96, generator=g)
    x0 = torch.rand(3, 1, 96, 96, generator=g)
    physics = dinv.physics.Denoising()
    init = init_for(name, x0)
    with torch.no_grad():
        clean = model.eval()(y, physics, init=init)
        noisy = model.train()(y, physics, init=init)
    twice = name == "DRS" and not g_first
    e = (clean - noisy) / (2 if twice else 1)
    u = (clean + x0) / 2 if twice else clean  # the data step's output
    peak = u.flatten(1).abs().amax(1)
    expected = {
        "iterate": sigma * peak,
        "relative": gamma * sigma * peak,
        "absolute": gamma * sigma * torch.ones(3),
    }[scale]
    assert torch.allclose(e.flatten(1).std(1), expected, rtol=0.04)
    assert (e.flatten(1).mean(1).abs() < 0.04 * expected).all()


def _expected_draw(u, sigma, seed, gamma):
    return jitter_noise(u, sigma, "iterate", gamma, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "algo", [a for a in ALGORITHMS if a[3] is dinv.optim.PnP and not a[2]], ids=_id
)
def test_noise_enters_after_the_data_step_and_before_the_prior_step(algo):
    # the prior step's input, recorded by the prior, moves by the reproduced draw; its output is
    # the prior of the perturbed input (noise after the prior step, or in the wrong place, fails)
    name = algo[0]
    sigma, seed, gamma = 0.3, 11, PARAMS["stepsize"]
    g = torch.Generator().manual_seed(3)
    x0, y = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    physics = dinv.physics.Denoising()
    den = HalfDenoiser()
    model = jitterize(build(algo, prior=den, max_iter=1), sigma=sigma)
    init = init_for(name, x0)
    with torch.no_grad():
        clean = model.eval()(y, physics, init=init)
        p_clean = den.seen.pop()
        jitterize(model, rng=torch.Generator().manual_seed(seed))
        noisy = model.train()(y, physics, init=init)
        p_noisy = den.seen.pop()
    c = 2.0 if name == "DRS" else 1.0  # DRS takes prox_g(2u - z)
    u = (p_clean + x0) / 2 if name == "DRS" else p_clean  # ADMM: u + z with z0 = 0
    e = _expected_draw(u, sigma, seed, gamma)
    assert torch.allclose(p_clean - p_noisy, c * e, atol=1e-5)
    if name != "DRS":  # x = D(u - e): the output moves by D's factor times the draw
        assert torch.allclose(clean - noisy, 0.5 * e, atol=1e-5)


@pytest.mark.parametrize("algo", [a for a in ALGORITHMS if a[2]], ids=_id)
def test_g_first_perturbs_the_data_steps_output_the_next_iterate(algo):
    # with g_first the prior step comes first and sees x_0 unperturbed; the data step's output
    # (the iterate) moves by the reproduced draw
    name = algo[0]
    sigma, seed = 0.3, 5
    g = torch.Generator().manual_seed(4)
    x0, y = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    physics = dinv.physics.Denoising()
    model = jitterize(build(algo, max_iter=1), sigma=sigma)
    init = init_for(name, x0)
    with torch.no_grad():
        clean = model.eval()(y, physics, init=init)
        jitterize(model, rng=torch.Generator().manual_seed(seed))
        noisy = model.train()(y, physics, init=init)
    e = _expected_draw(clean, sigma, seed, PARAMS["stepsize"])
    assert torch.allclose(clean - noisy, e, atol=1e-5)


def test_gd_noise_moves_the_iterate_and_its_scale_is_the_explicit_step_output():
    # x_0 = 1, y = 10, gamma = 0.5, no prior: u_0 = x_0 - gamma (x_0 - y) = 5.5, x_1 = u_0 - e
    sigma, gamma, seed = 0.1, 0.5, 0
    model = dinv.optim.GD(
        dinv.optim.L2(),
        dinv.optim.RED(TinyDenoiser()),
        params_algo={"stepsize": gamma, "lambda": 0.0, "g_param": 0.0},
        max_iter=1,
        unfold=True,
        custom_init=lambda y, physics: {"est": (torch.ones_like(y),)},
    )
    jitterize(model, sigma=sigma, rng=torch.Generator().manual_seed(seed)).train()
    y = torch.full((2, 1, 64, 64), 10.0)
    physics = dinv.physics.Denoising()
    with torch.no_grad():
        noisy = model(y, physics)
        clean = model.eval()(y, physics)
    assert torch.allclose(clean, torch.full_like(clean, 5.5))
    e = _expected_draw(clean, sigma, seed, gamma)
    assert torch.allclose(clean - noisy, e, atol=1e-5)
    assert float((noisy - clean).std()) == pytest.approx(sigma * 5.5, rel=0.05)


@pytest.mark.parametrize("name", ["GD", "PGD", "HQS"])
def test_deq_models_jitter_in_training_forward_passes_only(name, data):
    x, y, physics = data
    cls = getattr(dinv.optim, name)
    wrap = dinv.optim.RED if name == "GD" else dinv.optim.PnP
    torch.manual_seed(0)
    ref = cls(
        data_fidelity=dinv.optim.L2(),
        prior=wrap(TinyDenoiser()),
        params_algo=dict(PARAMS),
        max_iter=6,
        DEQ=dinv.optim.DEQConfig(max_iter_backward=5),
        trainable_params=["stepsize"],
    )
    jit = jitterize(copy.deepcopy(ref), sigma=0.2)
    with torch.no_grad():
        assert torch.equal(ref.eval()(y, physics), jit.eval()(y, physics))
    ref.train(), jit.train()
    out = jit(y, physics)
    assert not torch.equal(out, jit(y, physics))  # fresh noise each training pass
    ((out - x) ** 2).sum().backward()  # deepinv's implicit backward runs
    assert all(p.grad is not None for p in jit.parameters())
    jit.zero_grad()
    with suppress_jitter(
        jit
    ):  # noise off in train mode: deepinv's forward and backward
        out_j = jit(y, physics)
    out_r = ref(y, physics)
    assert torch.equal(out_r, out_j)
    ((out_r - x) ** 2).sum().backward()
    ((out_j - x) ** 2).sum().backward()
    for a, b in zip(ref.parameters(), jit.parameters()):
        assert torch.equal(a.grad, b.grad)


UNSUPPORTED = {
    "MD": lambda: dinv.optim.MD(
        data_fidelity=dinv.optim.L2(), unfold=True, g_param=0.0
    ),
    "PMD": lambda: dinv.optim.PMD(
        data_fidelity=dinv.optim.L2(),
        prior=dinv.optim.TVPrior(),
        unfold=True,
        g_param=0.1,
    ),
    "MLEM": lambda: dinv.optim.MLEM(data_fidelity=dinv.optim.PoissonLikelihood()),
    "SIRT": lambda: dinv.optim.SIRT(data_fidelity=dinv.optim.L2()),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_algorithms_without_a_data_prior_split_get_one_clear_error(name):
    model = UNSUPPORTED[name]()
    with pytest.raises(TypeError, match="GD, PGD, FISTA, HQS, DRS, ADMM, PDCP"):
        jitterize(model)
    assert not iterate_noises(model)  # nothing was attached


def test_a_mixed_module_is_refused_before_anything_changes():
    both = torch.nn.ModuleList([build(ALGORITHMS[1]), UNSUPPORTED["MD"]()])
    with pytest.raises(TypeError, match="MD"):
        jitterize(both, sigma=0.1)
    assert not iterate_noises(both)


def test_fresh_noise_each_call_and_seeded_reproduction(data):
    _, y, physics = data
    model = jitterize(build(ALGORITHMS[5]), sigma=0.2).train()
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


@pytest.mark.parametrize("algo", [ALGORITHMS[i] for i in (0, 1, 2, 5, 9)], ids=_id)
@pytest.mark.parametrize("scale", ["relative", "iterate"])
def test_gradients_reach_prior_and_stepsize(algo, scale, data):
    x, y, physics = data
    model = jitterize(build(algo), sigma=0.1, scale=scale).train()
    ((model(y, physics) - x) ** 2).mean().backward()
    gamma = model.params_algo["stepsize"][0]
    assert gamma.grad is not None and gamma.grad.abs() > 0
    conv = model.prior[0].denoiser.conv.weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["GD", "PGD"])
def test_iterate_rule_sends_no_gradient_to_the_stepsize_through_the_noise(name):
    # no prior, identity physics, x_0 = y: the data step is the identity, so gamma's only path to
    # the output is the noise; "iterate" sends it nothing, "relative" the paper's gamma * w
    grads = {}
    for scale in ("iterate", "relative"):
        cls = getattr(dinv.optim, name)
        model = cls(
            dinv.optim.L2(),
            None,
            stepsize=0.5,
            g_param=0.0,
            max_iter=1,
            unfold=True,
            trainable_params=["stepsize"],
            custom_init=lambda y, p: y,
        )
        jitterize(model, sigma=0.3, scale=scale).train()
        y = torch.rand(2, 1, 8, 8)
        model(y, dinv.physics.Denoising()).pow(2).sum().backward()
        grads[scale] = float(model.params_algo["stepsize"][0].grad)
    assert abs(grads["iterate"]) < 1e-4 and abs(grads["relative"]) > 1e-3


def test_iterate_scale_does_not_depend_on_stepsize():
    u = torch.randn(2, 1, 6, 6)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = jitter_noise(u, 0.1, "iterate", stepsize=0.01, rng=g())
    b = jitter_noise(u, 0.1, "iterate", stepsize=1.0, rng=g())
    c = jitter_noise(u, 0.1, "relative", stepsize=0.01, rng=g())
    assert torch.equal(a, b)
    assert torch.allclose(c, 0.01 * a)


def test_jitterize_keeps_deepinvs_iterator_and_is_idempotent():
    model = build(ALGORITHMS[2])  # PGD, g_first
    it = model.fixed_point.iterator
    f_step, g_step = it.f_step, it.g_step
    assert jitterize(model) is model
    assert model.fixed_point.iterator is it and it.f_step is f_step
    assert it.g_step is g_step and type(it) is dinv.optim.PGDIteration
    hook = it.iterate_noise
    assert isinstance(hook, IterateNoise) and hook.sigma == 0.0
    jitterize(model, sigma=0.2, scale="absolute")
    jitterize(model)
    assert it.iterate_noise is hook and hook.sigma == 0.2 and hook.scale == "absolute"
    assert len(f_step._forward_hooks) == 1  # one hook, however often jitterized


def test_jitterize_finds_nested_models_and_suppress():
    wrapper = torch.nn.Sequential(build(ALGORITHMS[0]), build(ALGORITHMS[7]))
    jitterize(wrapper, sigma=0.4)
    assert len(iterate_noises(wrapper)) == 2
    with suppress_jitter(wrapper):
        assert [h.sigma for h in iterate_noises(wrapper)] == [0.0, 0.0]
    assert [h.sigma for h in iterate_noises(wrapper)] == [0.4, 0.4]


@pytest.mark.parametrize("algo", ALGORITHMS, ids=IDS)
def test_strip_jitter_gives_deepinvs_model_back(algo, data):
    _, y, physics = data
    torch.manual_seed(0)
    ref = build(algo)
    model = jitterize(copy.deepcopy(ref), sigma=0.5)
    assert strip_jitter(model) is model
    assert not iterate_noises(model)
    assert not model.fixed_point.iterator.f_step._forward_hooks
    assert not model.fixed_point.iterator.g_step._forward_pre_hooks
    model.train(), ref.train()
    assert torch.equal(model(y, physics), ref(y, physics))  # no noise in train mode
    with torch.no_grad():
        assert torch.equal(model.eval()(y, physics), ref.eval()(y, physics))


def test_strip_jitter_replaces_the_named_iterators(data):
    _, y, physics = data
    model = dinv.optim.GD(dinv.optim.L2(), unfold=True, max_iter=2, g_param=0.0)
    model.fixed_point.iterator = JitterGDIteration(sigma=0.3)
    strip_jitter(model)
    assert type(model.fixed_point.iterator) is dinv.optim.GDIteration
    assert torch.equal(model.train()(y, physics), model(y, physics))


def test_strip_jitter_keeps_the_named_iterators_settings(data):
    # a stripped JitterPGDIteration(g_first=True) is deepinv's g_first PGD, bit for bit
    _, y, physics = data
    torch.manual_seed(0)
    ref = build(ALGORITHMS[2])  # PGD, g_first (RED prior)
    model = copy.deepcopy(ref)
    it = model.fixed_point.iterator
    named = JitterPGDIteration(sigma=0.3, g_first=True)
    named.f_step, named.g_step = it.f_step, it.g_step
    model.fixed_point.iterator = named
    strip_jitter(model)
    plain = model.fixed_point.iterator
    assert type(plain) is dinv.optim.PGDIteration and plain.g_first
    assert torch.equal(model.train()(y, physics), ref.train()(y, physics))


def test_a_copied_model_owns_its_hook(data):
    _, y, physics = data
    model = jitterize(build(ALGORITHMS[1]), sigma=0.3).train()
    twin = copy.deepcopy(model)
    model.fixed_point.iterator.iterate_noise.sigma = 0.0
    assert torch.equal(model(y, physics), model(y, physics))  # original off
    assert not torch.equal(twin(y, physics), twin(y, physics))  # the copy still jitters


def test_the_named_iterators_are_deepinvs_with_the_hook(data):
    _, y, physics = data
    it = JitterPGDIteration(sigma=0.1, scale="relative", g_first=True)
    assert isinstance(it, dinv.optim.PGDIteration) and it.g_first
    assert (it.sigma, it.scale) == (0.1, "relative")
    it.sigma = 0.25
    assert it.iterate_noise.sigma == 0.25
    assert type(it).forward is dinv.optim.PGDIteration.forward  # deepinv's own update
    gd = JitterGDIteration(sigma=0.2)
    assert type(gd).forward is dinv.optim.GDIteration.forward
    assert gd.noise_on and not gd.eval().noise_on


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
        jitterize(build(ALGORITHMS[0]), sigma=float("nan"))
    with pytest.raises(ValueError, match="scale"):
        jitter_noise(torch.ones(1, 2), 0.1, scale="max")
    with pytest.raises(ValueError, match="sigma"):
        IterateNoise(sigma=-1.0)
    # the hook checks its settings when they are set (its per-iteration path does not)
    hook = IterateNoise(sigma=0.1)
    with pytest.raises(ValueError, match="sigma"):
        hook.sigma = float("nan")
    with pytest.raises(ValueError, match="scale"):
        hook.scale = "max"
    with pytest.raises(ValueError, match="sigma"):
        JitterGDIteration().sigma = -0.5
    assert (hook.sigma, hook.scale) == (0.1, "iterate")


def test_defaults_are_pinned():
    # the iterate rule is the default everywhere (relative stays available, as the paper's code)
    assert JitterGDIteration().scale == "iterate"
    assert JitterPGDIteration().scale == "iterate"
    hook = jitterize(build(ALGORITHMS[0]), sigma=0.1).fixed_point.iterator.iterate_noise
    assert hook.scale == "iterate"
    assert JitterGDIteration(scale="relative").scale == "relative"


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")])
def test_non_finite_sigma_is_rejected(value):
    with pytest.raises(ValueError, match="sigma"):
        jitterize(build(ALGORITHMS[0]), sigma=value)
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
    model = build(ALGORITHMS[0])
    jitterize(model, sigma=0.3, rng=torch.Generator().manual_seed(1)).train()
    real = jitter_noise.__globals__["_noise"]  # the hook's per-iteration noise rule

    def spy(*args, **kwargs):
        e = real(*args, **kwargs)
        seen.append(e.detach() / e.detach().flatten().std())
        return e

    jitter_noise.__globals__["_noise"] = spy
    try:
        y = torch.ones(1, 1, 8, 8)
        model(y, dinv.physics.Denoising())
        model(y, dinv.physics.Denoising())
    finally:
        jitter_noise.__globals__["_noise"] = real
    assert len(seen) == 2 * 4
    for i in range(len(seen)):
        for j in range(i):
            assert not torch.allclose(seen[i], seen[j]), (i, j)


def test_rng_is_the_only_name_of_the_generator():
    # the former alias "generator" was never released: it is an unknown argument
    u = torch.ones(1, 1, 4, 4)
    with pytest.raises(TypeError, match="generator"):
        jitter_noise(u, 0.1, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        jitterize(build(ALGORITHMS[0]), generator=torch.Generator())
    with pytest.raises(TypeError, match="rng must be a torch.Generator"):
        jitterize(build(ALGORITHMS[0]), rng=3)


@pytest.mark.parametrize("scale", ["iterate", "relative"])
def test_noise_is_drawn_in_float32_under_bfloat16(scale):
    # the noise is drawn in float32 and cast: the same draws as a float32 u, rounded
    u32 = torch.ones(2, 1, 8, 8)
    e32 = jitter_noise(u32, 0.1, scale, rng=torch.Generator().manual_seed(0))
    e16 = jitter_noise(u32.bfloat16(), 0.1, scale, rng=torch.Generator().manual_seed(0))
    assert e16.dtype == torch.bfloat16
    assert torch.equal(e16, e32.bfloat16())
