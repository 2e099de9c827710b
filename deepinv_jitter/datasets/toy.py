r"""The dataset of the denoising toy: fixed signals (or signal-measurement pairs) drawn from a
:class:`~deepinv_jitter.datasets.gaussian_subspace.GaussianSubspaceModel`, the signal model with
its exact oracle (in :mod:`deepinv_jitter.datasets.gaussian_subspace`)."""

from __future__ import annotations

import numpy as np
import torch
from deepinv.datasets import ImageDataset

from .gaussian_subspace import (
    MAX_DATASET_VALUES,
    GaussianSubspaceModel,
    _check_float,
    _check_int,
)

__all__ = ["ToySignalDataset"]


class ToySignalDataset(ImageDataset):
    r"""Fixed signals ``x`` (or pairs ``(x, y)``) from a :class:`GaussianSubspaceModel`.

    Item ``i`` is synthesised from latents drawn by a generator seeded with ``(seed,
    i)``, so it is the same on every call, machine and worker, and different seeds give
    independent sets (train: e.g. ``seed``; test: ``seed + 10_000``).

    - ``noise_sigma=None`` (default): items are ``x`` only, for deepinv's
      ``Trainer(online_measurements=True)`` (fresh measurement noise every epoch).
    - ``noise_sigma=s``: items are fixed pairs ``(x, y)``, :math:`y = x + s\,e` with
      :math:`e` drawn from the same per-item generator (after the latents), for
      ``Trainer(online_measurements=False)``. With fixed pairs the measurement noise of
      the training set is finite data too; this is the regime in which a linear unrolled
      network overfits a small training set and SGD jittering helps (see
      ``benchmarks/toy_design.py``).

    :param GaussianSubspaceModel model: the signal model.
    :param int n_samples: dataset length, ``>= 1``, with ``n_samples * model.n`` at most
        :data:`MAX_DATASET_VALUES`.
    :param int seed: dataset seed, ``>= 0`` (default 0).
    :param float noise_sigma: std of the fixed measurement noise, ``>= 0``, or ``None``
        (default).
    :raises ValueError: for a bad model, length (too large included), seed or noise level.
    :raises IndexError: for an index outside ``[-n_samples, n_samples)``.

    >>> ds = ToySignalDataset(GaussianSubspaceModel(), 16, seed=0)
    >>> ds[3].shape, bool(torch.equal(ds[3], ds[3])), len(ds)
    (torch.Size([1, 8, 8]), True, 16)
    >>> x, y = ToySignalDataset(GaussianSubspaceModel(), 16, seed=0, noise_sigma=0.2)[3]
    >>> bool(torch.equal(x, ds[3])), y.shape
    (True, torch.Size([1, 8, 8]))
    """

    def __init__(
        self,
        model: GaussianSubspaceModel,
        n_samples: int,
        seed: int = 0,
        noise_sigma: float | None = None,
    ):
        if not isinstance(model, GaussianSubspaceModel):
            raise ValueError(
                f"model must be a GaussianSubspaceModel, got {type(model).__name__}"
            )
        self.model = model
        self.n_samples = _check_int(n_samples, "n_samples", 1)
        if self.n_samples * model.n > MAX_DATASET_VALUES:
            raise ValueError(
                f"n_samples must be at most {MAX_DATASET_VALUES // model.n} for signals of "
                f"{model.n} values (n_samples x n <= MAX_DATASET_VALUES = 2**26), got "
                f"{self.n_samples}"
            )
        self.seed = _check_int(seed, "seed", 0)
        self.noise_sigma = (
            None if noise_sigma is None else _check_float(noise_sigma, "noise_sigma")
        )

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int):
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not -self.n_samples <= index < self.n_samples:
            raise IndexError(
                f"index {index} out of range for a dataset of {self.n_samples} signals"
            )
        index %= self.n_samples
        rng = np.random.default_rng([self.seed, index])
        z = torch.from_numpy(rng.standard_normal(self.model.k))
        x = self.model.synthesize(z[None])[0]
        if self.noise_sigma is None:
            return x
        e = torch.from_numpy(rng.standard_normal(self.model.n)).reshape(
            self.model.shape
        )
        y = (x.to(torch.float64) + self.noise_sigma * e).to(self.model.dtype)
        return x, y
