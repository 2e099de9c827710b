"""MRI OOD lesion edit and magnitude PSNR / SSIM."""

import math

import pytest
import torch

from deepinv_jitter.robustness.metrics import MagnitudePSNR, MagnitudeSSIM
from deepinv_jitter.robustness.shifts import add_lesion


def _phantom(batch=2, size=64, complex_=True):
    # A bright disc of "anatomy" with a smooth phase, on a zero background.
    rr, cc = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (
        ((rr - size / 2) ** 2 + (cc - size / 2) ** 2) < (0.35 * size) ** 2
    ).float() * 0.8
    phase = 0.02 * (rr + cc).float()
    x = torch.stack([disc * torch.cos(phase), disc * torch.sin(phase)])
    x = x.unsqueeze(0).repeat(batch, 1, 1, 1)
    return x if complex_ else x.norm(dim=1, keepdim=True)


def test_lesion_adds_a_local_bright_spot_and_keeps_phase():
    x = _phantom()
    before = x.clone()
    x_edit, w = add_lesion(x, radius=0.08, intensity=0.5, rng=0, return_mask=True)
    assert torch.equal(x, before)  # input untouched
    assert x_edit.shape == x.shape and w.shape == (2, 1, 64, 64)
    m, m_edit = x.norm(dim=1), x_edit.norm(dim=1)
    torch.testing.assert_close(m_edit - m, 0.5 * 0.8 * w[:, 0], atol=1e-5, rtol=0)
    assert abs(float((m_edit - m).amax()) - 0.4) < 1e-5  # peak = intensity * max|x|
    # small: the lesion covers about pi * a * b pixels, a = 0.08 * 64
    area = float((w[0, 0] > 0.5).sum())
    assert 0.4 * math.pi * 5.12**2 < area < 1.1 * math.pi * 5.12**2
    # localised: far from its centre nothing changes
    assert float((w < 1e-3).float().mean()) > 0.9
    # phase preserved inside the anatomy
    inside = m[0] > 0.1
    angle = torch.atan2(x[0, 1], x[0, 0])[inside]
    angle_edit = torch.atan2(x_edit[0, 1], x_edit[0, 0])[inside]
    torch.testing.assert_close(angle_edit, angle, atol=1e-5, rtol=0)


def test_lesion_centre_inside_anatomy_and_per_sample():
    x = _phantom(batch=4)
    _, w = add_lesion(x, radius=0.05, rng=1, return_mask=True)
    for b in range(4):
        r, c = divmod(int(w[b, 0].argmax()), 64)
        assert float(x[b].norm(dim=0)[r, c]) > 0.08
    assert not torch.equal(w[0], w[1])


def test_lesion_seeding_and_fixed_centre():
    x = _phantom()
    a = add_lesion(x, rng=7)
    b = add_lesion(x, rng=torch.Generator().manual_seed(7))
    c = add_lesion(x, rng=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    _, w = add_lesion(x, center=(0.25, 0.75), rng=0, return_mask=True)
    r, c = divmod(int(w[0, 0].argmax()), 64)
    assert (r, c) == (round(0.25 * 63), round(0.75 * 63))


def test_lesion_on_real_and_unbatched_images():
    x = _phantom(complex_=False)
    x_edit = add_lesion(x, intensity=1.0, rng=0)
    assert abs(float(x_edit.amax()) - 1.6) < 1e-5
    single = add_lesion(_phantom()[0], rng=0)
    assert single.shape == (2, 64, 64)
    # a lesion on a zero background goes to the real part
    zero = torch.zeros(1, 2, 16, 16)
    zero[0, 0, 8, 8] = 1.0
    z = add_lesion(zero, radius=0.25, center=(0.0, 0.0), rng=0)
    assert (z[:, 1] == 0).all() and z[0, 0, 0, 0] > 0.5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"x": torch.zeros(2, 3, 8, 8)}, ValueError, "x must have shape"),
        ({"x": torch.zeros(8, 8)}, ValueError, "x must have shape"),
        ({"x": torch.zeros(1, 2, 8, 8, dtype=torch.int64)}, TypeError, "floating"),
        ({"radius": 0.0}, ValueError, "radius"),
        ({"radius": 0.7}, ValueError, "radius"),
        ({"intensity": -1.0}, ValueError, "intensity"),
        ({"aspect": (0.8, 0.5)}, ValueError, "aspect"),
        ({"edge": 0.0}, ValueError, "edge"),
        ({"threshold": 1.0}, ValueError, "threshold"),
        ({"center": (0.5, 1.5)}, ValueError, "center"),
        ({"rng": "seed"}, TypeError, "rng"),
    ],
)
def test_lesion_bad_input(kwargs, error, match):
    args = {"x": torch.zeros(1, 2, 8, 8), **kwargs}
    with pytest.raises(error, match=match):
        add_lesion(**args)


def test_magnitude_psnr_matches_formula():
    g = torch.Generator().manual_seed(0)
    x = _phantom(batch=3)
    x_net = x + 0.05 * torch.randn(x.shape, generator=g)
    m, m_net = x.norm(dim=1), x_net.norm(dim=1)
    mse = (m - m_net).square().flatten(1).mean(1)
    expected = 10 * torch.log10(m.flatten(1).amax(1) ** 2 / mse)
    torch.testing.assert_close(MagnitudePSNR()(x_net, x), expected, atol=1e-3, rtol=0)
    fixed = 10 * torch.log10(1.0 / mse)
    torch.testing.assert_close(
        MagnitudePSNR(max_pixel=1.0)(x_net, x), fixed, atol=1e-3, rtol=0
    )


def test_metrics_ignore_a_global_phase_and_accept_real_images():
    g = torch.Generator().manual_seed(1)
    x = _phantom(batch=2)
    x_net = x + 0.05 * torch.randn(x.shape, generator=g)

    def rotate(z, angle):
        c, s = math.cos(angle), math.sin(angle)
        return torch.stack([c * z[:, 0] - s * z[:, 1], s * z[:, 0] + c * z[:, 1]], 1)

    for metric in (MagnitudePSNR(), MagnitudeSSIM()):
        base = metric(x_net, x)
        torch.testing.assert_close(
            metric(rotate(x_net, 1.0), rotate(x, 2.0)), base, atol=1e-4, rtol=0
        )
        real = metric(x_net.norm(dim=1, keepdim=True), x.norm(dim=1, keepdim=True))
        torch.testing.assert_close(real, base, atol=1e-4, rtol=0)


def test_magnitude_ssim_window_and_range():
    g = torch.Generator().manual_seed(2)
    x = _phantom(batch=2)
    noisy = x + 0.1 * torch.randn(x.shape, generator=g)
    ssim = MagnitudeSSIM()(noisy, x)
    assert ssim.shape == (2,) and (ssim < 0.95).all() and (ssim > 0).all()
    torch.testing.assert_close(MagnitudeSSIM()(x, x), torch.ones(2), atol=1e-3, rtol=0)
    # scaling both images leaves SSIM unchanged with the per-image data range
    torch.testing.assert_close(
        MagnitudeSSIM()(3 * noisy, 3 * x), ssim, atol=1e-4, rtol=0
    )
    # a different window gives a different value
    assert not torch.allclose(MagnitudeSSIM(torchmetric_kwargs={})(noisy, x), ssim)


def test_metric_bad_shape():
    with pytest.raises(ValueError, match="x_net must have shape"):
        MagnitudePSNR()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        MagnitudeSSIM()(torch.zeros(1, 2, 8, 8), torch.zeros(8, 8))


def test_rng_takes_a_seed_and_generator_is_not_a_name():
    x = _phantom()
    assert torch.equal(add_lesion(x, rng=3), add_lesion(x, rng=3))
    with pytest.raises(TypeError, match="generator"):
        add_lesion(x, generator=3)
