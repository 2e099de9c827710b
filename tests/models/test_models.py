"""Priors and unrolled builders: shapes, initial iterate, step size, conditioning, errors."""

import deepinv as dinv
import pytest
import torch

from deepinv_jitter import jitterize
from deepinv_jitter.models import (
    DnCNNPrior,
    LinearDenoiser,
    SeismicCNN,
    build_unrolled,
    compile_priors,
    estimate_stepsize,
    initial_iterate,
)


def test_untrained_unrolled_gd_is_plain_gradient_descent():
    physics = dinv.physics.BlurFFT(
        (1, 10, 10), filter=dinv.physics.functional.gaussian_blur(sigma=1.0)
    )
    y = physics(torch.rand(2, 1, 10, 10))
    model = build_unrolled(physics, "seismic", "gd", max_iter=3, stepsize=0.7, hidden=4)
    x = y.clone()  # square operator: x0 = y
    for _ in range(3):
        x = x - 0.7 * physics.A_adjoint(physics.A(x) - y)
    assert torch.allclose(model(y, physics), x, atol=1e-6)


def test_stepsize_learned_or_fixed_and_estimate():
    physics = dinv.physics.Denoising()
    learned = build_unrolled(physics, "seismic", stepsize=0.5, hidden=4)
    fixed = build_unrolled(
        physics, "seismic", stepsize=0.5, hidden=4, learn_stepsize=False
    )
    names = [n for n, _ in learned.named_parameters()]
    assert "params_algo.stepsize.0" in names
    assert all("stepsize" not in n for n, _ in fixed.named_parameters())
    blur = dinv.physics.BlurFFT((1, 16, 16), filter=torch.ones(1, 1, 1, 1) * 2.0)
    assert abs(estimate_stepsize(blur, (1, 1, 16, 16)) - 0.25) < 1e-3
    m = build_unrolled(blur, "seismic", x_shape=(1, 1, 16, 16), hidden=4)
    assert abs(m.params_algo["stepsize"][0].item() - 0.25) < 1e-3
    assert (
        len(m.params_algo["stepsize"]) == 1 and m.max_iter == 5
    )  # 5 iterations by default


def test_initial_iterate_rule():
    mri = dinv.physics.MRI(mask=torch.ones(8, 8), img_size=(8, 8))
    x = torch.randn(1, 2, 8, 8)
    y = mri(x)
    assert torch.allclose(initial_iterate(y, mri), mri.A_adjoint(y))
    assert torch.allclose(initial_iterate(y, mri), x, atol=1e-5)
    sr = dinv.physics.Downsampling((1, 8, 8), factor=2, filter=None)
    ys = sr(torch.rand(1, 1, 8, 8))
    assert initial_iterate(ys, sr).shape == (1, 1, 8, 8)
    yd = torch.rand(1, 1, 8, 8)
    assert initial_iterate(yd, dinv.physics.Denoising()) is yd
    assert initial_iterate(yd, dinv.physics.Denoising(), "adjoint") is not yd


def test_mri_dncnn_pgd_and_conditioning():
    mask = torch.zeros(8, 8)
    mask[:, ::2] = 1
    mri = dinv.physics.MRI(mask=mask, img_size=(8, 8))
    model = build_unrolled(mri, "dncnn", "pgd", stepsize=1.0, hidden=4, depth=3)
    assert model(mri(torch.randn(2, 2, 8, 8)), mri).shape == (2, 2, 8, 8)
    assert isinstance(model.prior[0].denoiser, DnCNNPrior)
    physics = dinv.physics.Denoising()
    cond = build_unrolled(
        physics, "seismic", stepsize=0.5, hidden=4, condition_on_y=True
    )
    den = cond.prior[0].denoiser
    assert den.net[0].in_channels == 2
    y = torch.randn(2, 1, 8, 8)
    out = jitterize(cond)(y, physics)
    assert out.shape == y.shape and torch.equal(den._context, y)
    with pytest.raises(RuntimeError, match="set_context"):
        SeismicCNN(condition_on_y=True)(y)


def test_bad_inputs():
    p = dinv.physics.Denoising()
    with pytest.raises(ValueError, match="algorithm"):
        build_unrolled(p, algorithm="md", stepsize=1.0)
    with pytest.raises(ValueError, match="max_iter"):
        build_unrolled(p, max_iter=0, stepsize=1.0)
    with pytest.raises(ValueError, match="x_shape"):
        build_unrolled(p)
    with pytest.raises(ValueError, match="stepsize"):
        build_unrolled(p, stepsize=-1.0)
    with pytest.raises(ValueError, match="prior"):
        build_unrolled(p, prior="unet", stepsize=1.0)
    with pytest.raises(TypeError, match="prior"):
        build_unrolled(p, prior=3, stepsize=1.0)
    with pytest.raises(ValueError, match="init"):
        build_unrolled(p, init="zeros", stepsize=1.0)
    with pytest.raises(ValueError, match="condition_on_y"):
        build_unrolled(p, prior="dncnn", condition_on_y=True, stepsize=1.0)
    with pytest.raises(ValueError, match="depth"):
        SeismicCNN(depth=1)
    with pytest.raises(ValueError, match="kernel_size"):
        DnCNNPrior(kernel_size=4)
    with pytest.raises(ValueError, match="init"):
        initial_iterate(torch.ones(1), p, "zero")


@pytest.mark.parametrize("prior_cls", [SeismicCNN, DnCNNPrior])
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"channels": 0}, "channels"),
        ({"hidden": 0}, "hidden"),
        ({"depth": 1}, "depth"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
    ],
)
def test_both_priors_reject_bad_sizes(prior_cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        prior_cls(**kwargs)


def test_compile_priors_same_function_gradients_and_state_dict():
    physics = dinv.physics.BlurFFT(
        (1, 12, 12), filter=dinv.physics.functional.gaussian_blur(sigma=1.0)
    )
    torch.manual_seed(0)
    eager = build_unrolled(physics, "seismic", "gd", max_iter=2, stepsize=0.5, hidden=4)
    for p in eager.parameters():  # the last layer starts at zero: make the prior act
        p.data.add_(0.1 * torch.randn_like(p))
    compiled = build_unrolled(
        physics, "seismic", "gd", max_iter=2, stepsize=0.5, hidden=4
    )
    compiled.load_state_dict(eager.state_dict())
    assert compile_priors(compiled) == 1
    nets = [m.net for m in compiled.modules() if isinstance(m, SeismicCNN)]
    assert nets and all(n._compiled_call_impl is not None for n in nets)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    y = physics(torch.rand(3, 1, 12, 12)).requires_grad_()
    out_e, out_c = eager(y, physics), compiled(y, physics)
    assert torch.allclose(out_c, out_e, atol=1e-5)
    (g_e,) = torch.autograd.grad(out_e.square().sum(), y)
    (g_c,) = torch.autograd.grad(out_c.square().sum(), y)
    assert torch.allclose(g_c, g_e, atol=1e-4)
    with pytest.raises(ValueError, match="no SeismicCNN or DnCNNPrior"):
        compile_priors(
            build_unrolled(dinv.physics.Denoising(), LinearDenoiser(144), stepsize=1.0)
        )
