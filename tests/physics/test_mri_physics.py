"""Single-coil MRI physics: adjointness, mask statistics, seeding, noise, bad input."""

import numpy as np
import pytest
import torch

from deepinv_jitter.physics.mri import mri_mask_generator, single_coil_mri


def _numpy_forward(x: torch.Tensor, mask: np.ndarray) -> np.ndarray:
    # Independent oracle: centred orthonormal 2-D DFT with numpy, then the column mask.
    z = x[:, 0].double().numpy() + 1j * x[:, 1].double().numpy()
    k = np.fft.fftshift(
        np.fft.fft2(np.fft.ifftshift(z, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
    )
    return k * mask


@pytest.mark.parametrize("mask_type", ["gaussian", "random", "equispaced"])
def test_dot_test_on_task_mask(mask_type):
    physics = single_coil_mri(
        mask_type=mask_type, seed=3
    )  # the task's default 320 x 320 mask
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 320, 320, generator=g, dtype=torch.float64)
    y = torch.randn(2, 2, 320, 320, generator=g, dtype=torch.float64)
    physics = physics.to(torch.float64)
    lhs = torch.sum(physics.A(x) * y)
    rhs = torch.sum(x * physics.A_adjoint(y))
    assert torch.allclose(lhs, rhs, rtol=1e-10)


def test_forward_matches_numpy_fft():
    physics = single_coil_mri(img_size=(48, 40), seed=1)
    x = torch.randn(1, 2, 48, 40, generator=torch.Generator().manual_seed(1))
    mask = physics.mask[0, 0].numpy()
    expected = _numpy_forward(x, mask)
    y = physics.A(x)
    np.testing.assert_allclose(y[:, 0].numpy(), expected.real, atol=1e-5)
    np.testing.assert_allclose(y[:, 1].numpy(), expected.imag, atol=1e-5)


@pytest.mark.parametrize("mask_type", ["gaussian", "random", "equispaced"])
def test_mask_acceleration_and_centre(mask_type):
    physics = single_coil_mri(mask_type=mask_type, seed=0)
    mask = physics.mask[0]
    assert mask.shape == (2, 320, 320)
    assert torch.equal(mask[0], mask[1])  # same mask on real and imaginary channels
    columns = mask[0, 0]
    assert torch.equal(
        mask[0], columns.expand(320, 320)
    )  # 1-D Cartesian: every row alike
    assert set(columns.unique().tolist()) <= {0.0, 1.0}
    n_sampled = int(columns.sum())
    # 320 // 4 columns, +-1 for the equispaced rounding
    assert abs(n_sampled - 80) <= (1 if mask_type == "equispaced" else 0)
    # centre fraction 0.04 of 320 -> the 12 central columns are all sampled
    assert columns[160 - 6 : 160 + 6].sum() == 12


def test_gaussian_mask_is_variable_density():
    gen = mri_mask_generator((64, 320), seed=0)
    masks = gen.step(batch_size=200)["mask"][:, 0, 0]  # (200, 320)
    density = masks.mean(0)
    centre_band = density[
        130:190
    ].mean()  # outside the fixed 12 columns but near the centre
    outer_band = torch.cat([density[:60], density[-60:]]).mean()
    assert centre_band > 2 * outer_band


def test_fixed_mask_is_seeded():
    a = single_coil_mri(img_size=(64, 64), seed=5).mask
    b = single_coil_mri(img_size=(64, 64), seed=5).mask
    c = single_coil_mri(img_size=(64, 64), seed=6).mask
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generator_redraws_per_batch_and_updates_physics():
    gen = mri_mask_generator((64, 64), seed=0)
    first = gen.step(batch_size=4)["mask"]
    second = gen.step(batch_size=4)["mask"]
    assert first.shape == (4, 1, 64, 64)
    assert not torch.equal(first, second)
    assert (
        len({tuple(m[0, 0].tolist()) for m in first}) > 1
    )  # masks differ within a batch
    assert (first[:, 0, 0].sum(-1) == 16).all()
    # same seed, same sequence
    again = mri_mask_generator((64, 64), seed=0).step(batch_size=4)["mask"]
    assert torch.equal(first, again)
    physics = single_coil_mri(img_size=(64, 64))
    physics.update(**gen.step(batch_size=2))
    x = torch.randn(2, 2, 64, 64, generator=torch.Generator().manual_seed(0))
    y = physics(x)
    assert (
        y * (1 - physics.mask)
    ).abs().max() == 0  # unsampled columns of each sample are zero
    assert (y * physics.mask).abs().max() > 0
    assert not torch.equal(physics.mask[0], physics.mask[1])


def test_noise_only_on_sampled_kspace():
    g = torch.Generator().manual_seed(0)
    physics = single_coil_mri(img_size=(128, 128), noise_sigma=0.05, noise_rng=g)
    x = torch.zeros(4, 2, 128, 128)
    y = physics(x)
    sampled = physics.mask.expand_as(y).bool()
    assert (y[~sampled] == 0).all()
    assert abs(float(y[sampled].std()) - 0.05) < 0.003
    # seeded noise is reproducible
    y2 = single_coil_mri(
        img_size=(128, 128),
        noise_sigma=0.05,
        noise_rng=torch.Generator().manual_seed(0),
    )(x)
    assert torch.equal(y, y2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"img_size": (64,)}, "img_size"),
        ({"img_size": (64, 0)}, "img_size"),
        ({"img_size": (64.0, 64)}, "img_size"),
        ({"acceleration": 0.5}, "acceleration"),
        ({"acceleration": "4"}, "acceleration"),
        ({"center_fraction": 1.5}, "center_fraction"),
        ({"center_fraction": 0.5}, "center_fraction"),  # 0.5 * W > W // 4
        ({"mask_type": "radial"}, "mask_type"),
        ({"noise_sigma": -0.1}, "noise_sigma"),
    ],
)
def test_bad_physics_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        single_coil_mri(**{"img_size": (64, 64), **kwargs})


def test_bad_seed_and_rng_types():
    with pytest.raises(TypeError, match="seed"):
        single_coil_mri(img_size=(64, 64), seed=1.5)
    with pytest.raises(TypeError, match="rng"):
        mri_mask_generator((64, 64), rng=0)
    with pytest.raises(ValueError, match="mask_type"):
        mri_mask_generator((64, 64), mask_type="spiral")


@pytest.mark.parametrize("mask_type", ["gaussian", "random", "equispaced"])
def test_mask_generator_seed_selects_the_draws(mask_type):
    # Planted fault: the seed ignored (every generator seeded alike). Oracle: deepinv's own mask
    # generator of the same kind, given a generator seeded by hand.
    from deepinv.physics.generator import (
        EquispacedMaskGenerator,
        GaussianMaskGenerator,
        RandomMaskGenerator,
    )

    kind = {
        "gaussian": GaussianMaskGenerator,
        "random": RandomMaskGenerator,
        "equispaced": EquispacedMaskGenerator,
    }[mask_type]
    masks = {}
    for seed in (1, 5):
        gen = mri_mask_generator((32, 32), seed=seed, mask_type=mask_type)
        ref = kind(
            img_size=(32, 32),
            acceleration=4,
            center_fraction=0.04,
            rng=torch.Generator().manual_seed(seed),
        )
        masks[seed] = gen.step(batch_size=4)["mask"]
        assert torch.equal(masks[seed], ref.step(batch_size=4)["mask"])
    assert not torch.equal(masks[1], masks[5])


@pytest.mark.parametrize("img_size", [(2, 2), (8, 2), (64, 3)])
def test_image_narrower_than_the_acceleration_is_refused(img_size):
    # Planted fault: a 2 x 2 or 8 x 2 image at 4x gave a mask that samples nothing (W // 4 = 0
    # columns), so y = 0 and the step-size estimate divided by a zero operator norm.
    h, w = img_size
    message = rf"img_size=\({h}, {w}\) samples no k-space column at acceleration=4"
    with pytest.raises(ValueError, match=message):
        single_coil_mri(img_size=img_size)
    with pytest.raises(ValueError, match="samples no k-space column"):
        mri_mask_generator(img_size)
    # the narrowest image that samples something: one column in four
    assert int(single_coil_mri(img_size=(h, 4)).mask[0, 0].sum()) == h


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"noise_sigma": float("nan")}, "noise_sigma must be a finite number >= 0"),
        ({"noise_sigma": float("inf")}, "noise_sigma must be a finite number >= 0"),
        ({"noise_sigma": True}, "noise_sigma"),
        ({"acceleration": float("nan")}, "acceleration must be a finite number >= 1"),
        ({"acceleration": float("inf")}, "acceleration must be a finite number >= 1"),
    ],
)
def test_non_finite_physics_arguments_are_refused(kwargs, match):
    # Planted fault: noise_sigma=nan passed the check `noise_sigma < 0` (False for NaN)
    with pytest.raises(ValueError, match=match):
        single_coil_mri(**{"img_size": (64, 64), **kwargs})
