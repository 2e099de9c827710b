"""Forward operators: seismic deconvolution (new) and the single-coil MRI task on deepinv's MRI."""

from .mri import mri_mask_generator, single_coil_mri
from .seismic import SeismicDeconvolution, ricker

__all__ = ["SeismicDeconvolution", "ricker", "single_coil_mri", "mri_mask_generator"]
