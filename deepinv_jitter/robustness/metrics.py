r"""Image-quality metrics on the magnitude image, as the paper reports for MRI.

Both metrics take ``(B, 2, H, W)`` complex images (real, imaginary), images of a complex dtype or
``(B, 1, H, W)`` real images, compute the magnitude :math:`|x| = \sqrt{\mathrm{re}^2 + \mathrm{im}^2}`
for 2 channels (deepinv's ``complex_abs``) and complex dtypes and use real 1-channel images
unchanged, then call deepinv's :class:`deepinv.loss.metric.PSNR`
or :class:`deepinv.loss.metric.SSIM`.

**Data range.** By default (``max_pixel=None``, ``min_pixel=0``) the data range of each image is the
maximum of its *reference* magnitude, as in fastMRI's evaluation (there per volume, here per slice).
For our datasets, scaled so that each ground-truth slice peaks at 1, this is a range of 1; it stays
meaningful after :func:`deepinv_jitter.robustness.shifts.add_lesion` raises the peak. Pass
``max_pixel=1.0`` for a fixed range.

**SSIM window.** fastMRI's 7 x 7 uniform window with :math:`K_1 = 0.01, K_2 = 0.03` by default;
``torchmetric_kwargs={}`` gives torchmetrics' Gaussian 11 x 11 window (deepinv's default) instead.
"""

from __future__ import annotations

import torch
from deepinv.loss.metric import PSNR, SSIM
from deepinv.utils.signals import complex_abs

__all__ = ["MagnitudePSNR", "MagnitudeSSIM", "default_metrics"]


def _magnitude(x: torch.Tensor | None, name: str) -> torch.Tensor | None:
    if x is None:
        return None
    if isinstance(x, torch.Tensor) and x.is_complex() and x.ndim >= 3:
        return x.abs()
    if not isinstance(x, torch.Tensor) or x.ndim < 3 or x.shape[1] not in (1, 2):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must have shape (B, C, H, W) with C in {{1, 2}}, got {shape}."
        )
    return complex_abs(x) if x.shape[1] == 2 else x


class _OnMagnitude:
    r"""Makes a deepinv metric compare magnitudes: ``forward`` applies :func:`_magnitude` to both inputs."""

    def forward(
        self, x_net: torch.Tensor = None, x: torch.Tensor = None, *args, **kwargs
    ):
        r"""The metric of ``|x_net|`` against ``|x|``, shape ``(B,)`` unless reduced.

        :param torch.Tensor x_net: reconstruction ``(B, C, H, W)``.
        :param torch.Tensor x: reference ``(B, C, H, W)``.
        :return: torch.Tensor
        """
        return super().forward(
            _magnitude(x_net, "x_net"), _magnitude(x, "x"), *args, **kwargs
        )


class MagnitudePSNR(_OnMagnitude, PSNR):
    r"""PSNR of the magnitude images, in dB.

    .. math::

        \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\frac{1}{HW}\| |\hat x| - |x| \|_2^2},
        \qquad R = \max |x| \text{ (per image, default)}.

    :param float max_pixel: top of the data range; ``None`` (default) uses each reference image's maximum.
    :param float min_pixel: bottom of the data range (default 0).
    :param kwargs: other :class:`deepinv.loss.metric.PSNR` / ``Metric`` options (``reduction``, ``center_crop``...).

    :raises ValueError: in ``forward`` when a real input is not ``(B, 1 or 2, H, W)``.

    |sep|

    :Examples:

        >>> import torch
        >>> x = torch.zeros(1, 2, 8, 8); x[:, 0] = 1.0
        >>> x_net = x.clone(); x_net[:, 1] = 0.1  # same real part, small imaginary part
        >>> round(float(MagnitudePSNR()(x_net, x)), 2)  # |x_net| = sqrt(1.01)
        46.04
    """

    def __init__(
        self, max_pixel: float | None = None, min_pixel: float = 0.0, **kwargs
    ):
        super().__init__(
            max_pixel=max_pixel, min_pixel=min_pixel, complex_abs=False, **kwargs
        )


class MagnitudeSSIM(_OnMagnitude, SSIM):
    r"""SSIM of the magnitude images (fastMRI's 7 x 7 uniform window by default).

    :param float max_pixel: top of the data range; ``None`` (default) uses each reference image's maximum.
    :param float min_pixel: bottom of the data range (default 0).
    :param dict torchmetric_kwargs: options of torchmetrics' SSIM; default
        ``{"gaussian_kernel": False, "kernel_size": 7, "k1": 0.01, "k2": 0.03}``.
    :param kwargs: other :class:`deepinv.loss.metric.SSIM` / ``Metric`` options.

    :raises ValueError: in ``forward`` when a real input is not ``(B, 1 or 2, H, W)``.

    |sep|

    :Examples:

        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(2, 2, 32, 32, generator=g)
        >>> MagnitudeSSIM()(x, x)
        tensor([1., 1.])
    """

    def __init__(
        self,
        max_pixel: float | None = None,
        min_pixel: float = 0.0,
        torchmetric_kwargs: dict | None = None,
        **kwargs,
    ):
        if torchmetric_kwargs is None:
            torchmetric_kwargs = {
                "gaussian_kernel": False,
                "kernel_size": 7,
                "k1": 0.01,
                "k2": 0.03,
            }
        super().__init__(
            max_pixel=max_pixel,
            min_pixel=min_pixel,
            torchmetric_kwargs=torchmetric_kwargs,
            complex_abs=False,
            **kwargs,
        )


def default_metrics(complex_abs: bool = False):
    r"""PSNR and SSIM with the data range of each ground-truth sample (``max(x_i) - min(x_i)``).

    A per-sample range suits signed data (seismic reflectivity) and unnormalised magnitudes (MRI,
    as fastMRI's evaluation does) alike; ``complex_abs`` scores the magnitude of two-channel images.

    :param bool complex_abs: score :math:`|x|` of a (real, imaginary) channel pair.
    :return: ``(psnr, ssim)``, deepinv metrics returning one value per sample.

    >>> psnr, ssim = default_metrics()
    >>> x = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    >>> round(float(psnr(x + 0.02, x)), 2)  # range 2, error 0.02: 20 log10(100)
    40.0
    """
    kw = dict(max_pixel=None, min_pixel=None, complex_abs=complex_abs)
    return PSNR(**kw), SSIM(**kw)
