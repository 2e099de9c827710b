r"""Single-coil accelerated MRI: the paper's 4x Cartesian setting on top of :class:`deepinv.physics.MRI`.

The forward model is deepinv's single-coil operator

.. math::

    y = M F x + \epsilon,

where :math:`x` is a complex image stored as 2 real channels (real, imaginary), :math:`F` is the
centred orthonormal 2-D DFT, :math:`M` keeps a set of phase-encoding columns (a 1-D Cartesian mask,
identical for every row) and :math:`\epsilon` is Gaussian noise on the sampled k-space only.

This module only builds the mask and the physics; nothing here re-implements the operator, so a model
trained with it runs unchanged on any :class:`deepinv.physics.MRI`.

Mask conventions (from :mod:`deepinv.physics.generator.mri`): with width :math:`W`, the centre block has
``int(center_fraction * W)`` fully sampled columns and ``W // acceleration`` columns are sampled in total,
so the acceleration is exact up to integer rounding (320 columns at 4x: 80 sampled, 12 of them central).
"""

from __future__ import annotations

import numbers

import torch
from deepinv.physics import MRI, GaussianNoise
from deepinv.physics.generator import (
    BaseMaskGenerator,
    EquispacedMaskGenerator,
    GaussianMaskGenerator,
    RandomMaskGenerator,
)

from .._checks import check_number

__all__ = ["single_coil_mri", "mri_mask_generator", "MASK_TYPES"]

#: Names accepted by ``mask_type``: ``"gaussian"`` is variable density (dense near the k-space centre,
#: the default), ``"random"`` is uniform random outside the centre block (fastMRI's ``RandomMaskFunc``
#: pattern), ``"equispaced"`` is regular spacing with a random offset.
MASK_TYPES = {
    "gaussian": GaussianMaskGenerator,
    "random": RandomMaskGenerator,
    "equispaced": EquispacedMaskGenerator,
}


def _check_size(value, name: str = "img_size") -> tuple[int, int]:
    # shared with deepinv_jitter.datasets.mri (image, crop and resize sizes)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(s, numbers.Integral) and s > 0 for s in value)
    ):
        raise ValueError(
            f"{name} must be a pair of positive ints (H, W), got {value!r}."
        )
    return int(value[0]), int(value[1])


def _check_mask_args(
    img_size, acceleration, center_fraction, mask_type
) -> tuple[int, int]:
    h, w = _check_size(img_size)
    check_number(acceleration, "acceleration", low=1)
    if (
        not isinstance(center_fraction, numbers.Real)
        or isinstance(center_fraction, bool)
        or not 0 <= center_fraction < 1
    ):
        raise ValueError(
            f"center_fraction must be a float in [0, 1), got {center_fraction!r}."
        )
    if w // acceleration < 1:
        # no column sampled: y = 0 for every image, and the operator norm is 0
        raise ValueError(
            f"img_size={(h, w)} samples no k-space column at acceleration={acceleration}: "
            f"the width (last axis) must be at least the acceleration, got {w}."
        )
    if int(center_fraction * w) > w // acceleration:
        raise ValueError(
            f"center_fraction={center_fraction} keeps {int(center_fraction * w)} central columns, more "
            f"than the {int(w // acceleration)} columns allowed by acceleration={acceleration} at width {w}."
        )
    if mask_type not in MASK_TYPES:
        raise ValueError(
            f"mask_type must be one of {sorted(MASK_TYPES)}, got {mask_type!r}."
        )
    return h, w


def mri_mask_generator(
    img_size: tuple[int, int] = (320, 320),
    acceleration: float = 4,
    center_fraction: float = 0.04,
    mask_type: str = "gaussian",
    rng: torch.Generator | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
) -> BaseMaskGenerator:
    r"""Generator of 1-D Cartesian undersampling masks, one new mask per sample and per call.

    Pass it as ``physics_generator`` to :class:`deepinv.Trainer` (or call ``physics.update(**gen.step(B))``)
    to redraw the mask every batch; :func:`single_coil_mri` uses the same generator once for its fixed mask.

    :param tuple[int, int] img_size: image size ``(H, W)``; columns (the last axis) are undersampled.
    :param float acceleration: ratio :math:`W / \text{sampled columns}`; ``W // acceleration`` columns are kept.
    :param float center_fraction: fraction of the width always sampled around the k-space centre.
    :param str mask_type: ``"gaussian"`` (variable density, default), ``"random"`` or ``"equispaced"``.
    :param torch.Generator rng: random generator for the draws; if ``None``, a new one seeded with ``seed``.
    :param int seed: seed of the new generator when ``rng`` is ``None`` (``None`` draws a fresh seed).
    :param str, torch.device device: device of the masks.
    :return: a :class:`deepinv.physics.generator.BaseMaskGenerator` whose ``step(batch_size)`` returns
        ``{"mask": tensor of shape (batch_size, 1, H, W)}`` with values in {0, 1}.

    :raises ValueError: for a bad ``img_size``, an ``acceleration`` below 1 or not finite, a
        width below the acceleration (the mask would sample no column), ``center_fraction``
        outside [0, 1) or larger than the acceleration allows, an unknown ``mask_type``;
        ``TypeError`` when ``rng`` is not a :class:`torch.Generator`.

    |sep|

    :Examples:

        >>> gen = mri_mask_generator((64, 64), acceleration=4, center_fraction=0.04, seed=0)
        >>> mask = gen.step(batch_size=2)["mask"]
        >>> mask.shape
        torch.Size([2, 1, 64, 64])
        >>> mask[:, 0, 0].sum(-1)  # 64 // 4 columns per mask
        tensor([16., 16.])
    """
    _check_mask_args(img_size, acceleration, center_fraction, mask_type)
    if rng is None:
        rng = torch.Generator(device=device)
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(int(seed))
    elif not isinstance(rng, torch.Generator):
        raise TypeError(
            f"rng must be a torch.Generator or None, got {type(rng).__name__}."
        )
    return MASK_TYPES[mask_type](
        img_size=tuple(int(s) for s in img_size),
        acceleration=acceleration,
        center_fraction=center_fraction,
        rng=rng,
        device=device,
    )


def single_coil_mri(
    img_size: tuple[int, int] = (320, 320),
    acceleration: float = 4,
    center_fraction: float = 0.04,
    seed: int = 0,
    noise_sigma: float = 0.0,
    device: str | torch.device = "cpu",
    mask_type: str = "gaussian",
    noise_rng: torch.Generator | None = None,
) -> MRI:
    r"""The paper's single-coil MRI physics: :class:`deepinv.physics.MRI` with a fixed seeded mask.

    .. math::

        y = M F x + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, \sigma^2 I) \text{ on sampled entries}.

    ``x`` and ``y`` have shape ``(B, 2, H, W)`` (real and imaginary channels); :math:`F` is deepinv's
    centred orthonormal FFT, so :math:`\sigma` is also the per-channel noise level of the zero-filled
    image on the sampled frequencies. The paper evaluates at :math:`\sigma = 0.05` on images whose
    magnitude lies in [0, 1].

    The mask is the first draw of :func:`mri_mask_generator` seeded with ``seed`` (the fixed-mask
    setting): equal seeds give equal masks. For per-batch masks, build the generator with
    :func:`mri_mask_generator` and pass it to the trainer; ``physics.update(mask=...)`` swaps the mask.

    :param tuple[int, int] img_size: image size ``(H, W)``; default is fastMRI's 320 x 320 crop.
    :param float acceleration: undersampling factor (paper: 4).
    :param float center_fraction: fraction of central columns always sampled (paper: 0.04).
    :param int seed: seed of the fixed mask.
    :param float noise_sigma: standard deviation of the k-space Gaussian noise (0 = noiseless).
    :param str, torch.device device: device of the physics.
    :param str mask_type: ``"gaussian"`` (variable density, default), ``"random"`` or ``"equispaced"``.
    :param torch.Generator noise_rng: generator for the measurement noise (``None``: torch's global RNG).
    :return: a :class:`deepinv.physics.MRI` instance.

    :raises ValueError: for a bad ``img_size``, ``acceleration``, ``center_fraction`` or
        ``mask_type``, a width below the acceleration (a 2 x 2 or 8 x 2 image at 4x: the mask
        would sample nothing), or a negative or non-finite ``noise_sigma``; ``TypeError`` for a
        non-integer ``seed``.

    |sep|

    :Examples:

        >>> import torch
        >>> physics = single_coil_mri(img_size=(64, 64), seed=0)
        >>> physics.mask.shape
        torch.Size([1, 2, 64, 64])
        >>> int(physics.mask[0, 0, 0].sum())  # 4x: 16 of 64 columns
        16
        >>> x = torch.rand(1, 2, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> physics(x).shape
        torch.Size([1, 2, 64, 64])
    """
    h, w = _check_mask_args(img_size, acceleration, center_fraction, mask_type)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    check_number(noise_sigma, "noise_sigma", low=0)
    gen = mri_mask_generator(
        (h, w),
        acceleration,
        center_fraction,
        mask_type=mask_type,
        seed=int(seed),
        device=device,
    )
    mask = gen.step(batch_size=0, seed=int(seed))[
        "mask"
    ]  # (1, H, W), broadcast to both channels
    noise = GaussianNoise(sigma=float(noise_sigma), rng=noise_rng)
    return MRI(mask=mask, img_size=(h, w), device=device, noise_model=noise)
