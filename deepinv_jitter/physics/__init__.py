"""Forward operators: seismic deconvolution (new) and the single-coil MRI task on deepinv's MRI."""

from .mri import mri_mask_generator, single_coil_mri
from .seismic import SeismicDeconvolution, ricker, ricker_wavelet

__all__ = [
    "SeismicDeconvolution",
    "ricker",
    "ricker_wavelet",
    "single_coil_mri",
    "mri_mask_generator",
]
