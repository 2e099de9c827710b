"""Datasets: synthetic and SEG-Y seismic sections, embedded and fastMRI MRI slices, and the
Gaussian signal model of the denoising toy with its exact oracle.

Every dataset returns ground truth ``x`` only, so deepinv's ``Trainer(online_measurements=True)`` and
:func:`deepinv.datasets.generate_dataset` both work with it.
"""

from .gaussian_subspace import GaussianSubspaceModel, MMSEReconstructor
from .mri import EmbeddedMRIDataset, FastMRISingleCoilDataset
from .seismic import SegyDataset, SyntheticSeismicDataset
from .toy import ToySignalDataset

__all__ = [
    "SyntheticSeismicDataset",
    "SegyDataset",
    "EmbeddedMRIDataset",
    "FastMRISingleCoilDataset",
    "GaussianSubspaceModel",
    "ToySignalDataset",
    "MMSEReconstructor",
]
