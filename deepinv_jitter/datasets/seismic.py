r"""Seismic reflectivity sections: synthetic layered earth models, and patches of real SEG-Y sections.

Both datasets return the signal ``x`` only, a tensor of shape ``(1, T, N)`` (time samples by traces),
so they plug into deepinv's ``Trainer(online_measurements=True)`` and
:func:`deepinv.datasets.generate_dataset`, which compute ``y`` with the physics.
:class:`SegyDataset` is defined in ``deepinv_jitter/datasets/segy.py`` (the SEG-Y reader, its
checks and its robust scaling) and importable from here as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from deepinv.datasets import ImageDataset

from .._checks import positive_int as _positive_int
from .segy import SegyDataset

__all__ = ["SyntheticSeismicDataset", "SegyDataset"]


def _smooth_curve(rng: np.random.Generator, n: int, n_modes: int = 3) -> np.ndarray:
    """Sum of a few random low-frequency sinusoids on ``[0, 1)``, peak-normalised to ``[-1, 1]``."""
    u = np.arange(n) / max(n, 1)
    freq = rng.uniform(0.3, 2.5, size=(n_modes, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_modes, 1))
    amp = rng.uniform(0.3, 1.0, size=(n_modes, 1))
    curve = (amp * np.sin(2 * np.pi * freq * u + phase)).sum(0)
    return curve / max(np.abs(curve).max(), 1e-12)


class SyntheticSeismicDataset(ImageDataset):
    r"""Synthetic post-stack reflectivity sections from random layered earth models (offline).

    Each item is built from its own generator seeded by ``(seed, index)``, so item ``i`` is the same on
    every call, machine and worker, and different seeds give independent datasets. The model, in
    geological time :math:`\tau` (depth of deposition, in samples):

    1. a 1-D impedance log: layers of random thickness (exponentially distributed, mean
       ``mean_layer_thickness`` samples), plus thin beds (1 to 3 samples, below the wavelet's
       resolution) with probability ``thin_bed_probability`` per layer; log-impedance is a random walk
       with a weak compaction trend, steps drawn so that reflection coefficients are mostly below 0.3;
    2. structure: :math:`\tau(t, n) = t - s(t, n)` with a regional dip (up to ``max_dip`` samples per
       trace), folds (smooth lateral undulations of up to ``max_fold_amplitude`` samples that grow with
       depth) and ``n_faults`` faults (straight, steep planes; the hanging wall is shifted by a random
       throw of up to ``max_fault_throw`` samples), which gives laterally continuous, dipping, folded
       and offset reflectors;
    3. lateral facies change: each layer's impedance varies smoothly along the traces by up to
       ``lateral_variation`` (relative);
    4. reflectivity from impedance contrasts along time,
       :math:`r[t] = (I[t+1] - I[t]) / (I[t+1] + I[t])`, so :math:`|r| < 1` always;
    5. optional sparse spikes: a fraction ``spike_density`` of samples gets an extra random reflection
       coefficient of magnitude in ``[0.02, 0.2]`` (isolated scatterers that no layer explains).

    :param int n_samples: number of sections (the dataset length).
    :param int n_time: time samples ``T`` per trace (default 352, the paper's size).
    :param int n_traces: traces ``N`` per section (default 352).
    :param int seed: dataset seed.
    :param float mean_layer_thickness: mean layer thickness in samples.
    :param float thin_bed_probability: probability that a layer is followed by a thin bed, in ``[0, 1]``.
    :param float reflectivity_std: standard deviation of the log-impedance steps (twice the typical
        reflection coefficient); clipped so that a single step gives :math:`|r| \le 0.4`.
    :param float max_dip: largest regional dip, in time samples per trace.
    :param float max_fold_amplitude: largest fold amplitude at the bottom of the section, in samples.
    :param int n_faults: largest number of faults per section (each section draws ``0..n_faults``).
    :param float max_fault_throw: largest fault throw, in samples.
    :param float lateral_variation: largest relative lateral impedance change within a layer.
    :param float spike_density: fraction of samples with an extra sparse spike (``0`` disables).
    :param torch.dtype dtype: dtype of the returned tensors.
    :param Callable, None transform: optional function applied to each ``x`` before it is returned.
    :raises ValueError: for non-positive sizes or out-of-range parameters.
    :raises IndexError: (when indexing) for an index outside ``[-n_samples, n_samples)``.

    >>> ds = SyntheticSeismicDataset(n_samples=4, n_time=64, n_traces=64, seed=0)
    >>> x = ds[1]
    >>> x.shape, x.dtype
    (torch.Size([1, 64, 64]), torch.float32)
    >>> bool(torch.equal(x, ds[1])), bool(x.abs().max() < 1)
    (True, True)
    """

    def __init__(
        self,
        n_samples: int,
        n_time: int = 352,
        n_traces: int = 352,
        seed: int = 0,
        mean_layer_thickness: float = 12.0,
        thin_bed_probability: float = 0.15,
        reflectivity_std: float = 0.16,
        max_dip: float = 0.15,
        max_fold_amplitude: float = 12.0,
        n_faults: int = 2,
        max_fault_throw: float = 15.0,
        lateral_variation: float = 0.05,
        spike_density: float = 0.0,
        dtype: torch.dtype = torch.float32,
        transform: Callable | None = None,
    ):
        self.n_samples = _positive_int(n_samples, "n_samples")
        self.n_time = _positive_int(n_time, "n_time")
        self.n_traces = _positive_int(n_traces, "n_traces")
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or seed < 0
        ):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        checks = {
            "mean_layer_thickness": (mean_layer_thickness, 1.0, math.inf),
            "thin_bed_probability": (thin_bed_probability, 0.0, 1.0),
            "reflectivity_std": (reflectivity_std, 0.0, 2.0),
            "max_dip": (max_dip, 0.0, math.inf),
            "max_fold_amplitude": (max_fold_amplitude, 0.0, math.inf),
            "max_fault_throw": (max_fault_throw, 0.0, math.inf),
            "lateral_variation": (lateral_variation, 0.0, 0.5),
            "spike_density": (spike_density, 0.0, 1.0),
        }
        for name, (value, lo, hi) in checks.items():
            if not isinstance(value, (int, float)) or not (lo <= value <= hi):
                raise ValueError(
                    f"{name} must be a number in [{lo}, {hi}], got {value!r}"
                )
        if isinstance(n_faults, bool) or not isinstance(n_faults, int) or n_faults < 0:
            raise ValueError(
                f"n_faults must be a non-negative integer, got {n_faults!r}"
            )
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(
                f"dtype must be a real floating torch dtype, got {dtype!r}"
            )
        if transform is not None and not callable(transform):
            raise ValueError(
                f"transform must be callable or None, got {type(transform).__name__}"
            )
        self.mean_layer_thickness = float(mean_layer_thickness)
        self.thin_bed_probability = float(thin_bed_probability)
        self.reflectivity_std = float(reflectivity_std)
        self.max_dip = float(max_dip)
        self.max_fold_amplitude = float(max_fold_amplitude)
        self.n_faults = n_faults
        self.max_fault_throw = float(max_fault_throw)
        self.lateral_variation = float(lateral_variation)
        self.spike_density = float(spike_density)
        self.dtype = dtype
        self.transform = transform

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not -self.n_samples <= index < self.n_samples:
            raise IndexError(
                f"index {index} out of range for a dataset of {self.n_samples} sections"
            )
        index %= self.n_samples
        r = self.reflectivity(index)
        x = torch.from_numpy(r).to(self.dtype).unsqueeze(0)
        return self.transform(x) if self.transform is not None else x

    # ------------------------------------------------------------------ the earth model
    def _impedance_log(self, rng: np.random.Generator, length: int):
        """Log-impedance per geological-time sample and the layer id of each sample."""
        # Draw enough layers to cover the log; thicknesses >= 1 sample.
        n_max = int(length / self.mean_layer_thickness * 3) + 8
        thick = np.maximum(
            1, np.round(rng.exponential(self.mean_layer_thickness, n_max))
        ).astype(int)
        thin = rng.random(n_max) < self.thin_bed_probability
        thin_thick = rng.integers(1, 4, n_max)
        # interleave: each layer optionally followed by a thin bed
        sizes = np.stack([thick, np.where(thin, thin_thick, 0)], 1).reshape(-1)
        sizes = sizes[sizes > 0]
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), length) + 1]
        n_layers = sizes.size
        # log-impedance random walk; a step d gives r = tanh(d / 2) ~ d / 2
        steps = rng.normal(0.0, self.reflectivity_std, n_layers)
        steps = np.clip(steps, -0.8, 0.8)  # |r| = tanh(0.4) < 0.4 for a single step
        trend = (
            0.4 * np.cumsum(sizes) / length / max(n_layers, 1)
        )  # gentle compaction with depth
        log_imp = np.log(2.0) + np.cumsum(steps + trend)
        layer_id = np.repeat(np.arange(n_layers), sizes)[:length]
        return log_imp, layer_id

    def reflectivity(self, index: int) -> np.ndarray:
        r"""The reflectivity section of item ``index`` as a float64 array of shape ``(T, N)``.

        A draw without any reflection in the window (one layer thicker than the section, about one
        section in a thousand at 64 x 64) is replaced by the draw of the next sub-seed, so no
        section is constant (a constant reference has no PSNR range).

        :param int index: item index in ``[0, n_samples)``.
        :return: (:class:`numpy.ndarray`) reflectivity, :math:`|r| < 1`.
        """
        for attempt in range(100):
            key = [self.seed, int(index)] + ([attempt] if attempt else [])
            r = self._draw(np.random.default_rng(key))
            if np.ptp(r) > 0:
                return r
        raise RuntimeError(  # pragma: no cover - needs 100 reflection-free draws in a row
            f"no reflection in 100 draws of section {index}; lower mean_layer_thickness"
        )

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """One reflectivity section from ``rng`` (may be reflection-free)."""
        T, N = self.n_time, self.n_traces
        t = np.arange(T + 1, dtype=np.float64)[
            :, None
        ]  # one extra sample for the time difference
        n = np.arange(N, dtype=np.float64)[None, :]
        depth = t / T  # 0 at the top, 1 at the bottom: folds grow with depth

        # Structural shift s(t, n) in samples, then geological time tau = t - s.
        dip = rng.uniform(-self.max_dip, self.max_dip)
        fold = (
            self.max_fold_amplitude
            * rng.uniform(0.2, 1.0)
            * _smooth_curve(rng, N)[None, :]
        )
        shift = dip * (n - N / 2) + fold * (0.3 + 0.7 * depth)
        for _ in range(int(rng.integers(0, self.n_faults + 1))):
            # fault plane n_f(t) = n0 + slope * t, steep (within ~30 degrees of vertical in samples)
            n0 = rng.uniform(0.15 * N, 0.85 * N)
            slope = rng.uniform(-0.6, 0.6)
            throw = (
                rng.uniform(0.3, 1.0) * self.max_fault_throw * rng.choice([-1.0, 1.0])
            )
            hanging = n > n0 + slope * (t - T / 2)
            shift = shift + throw * hanging
        tau = t - shift
        tau_min = math.floor(tau.min())
        length = int(math.ceil(tau.max())) - tau_min + 2

        log_imp, layer_id = self._impedance_log(rng, length)
        idx = np.clip(np.floor(tau - tau_min).astype(np.int64), 0, length - 1)
        lid = layer_id[idx]
        log_i = log_imp[lid]
        if self.lateral_variation > 0:
            # each layer gets its own smooth lateral curve, from a small bank of curves
            n_bank = 8
            bank = np.stack([_smooth_curve(rng, N, 2) for _ in range(n_bank)])
            amp = rng.uniform(0, self.lateral_variation, layer_id.max() + 1)
            which = rng.integers(0, n_bank, layer_id.max() + 1)
            cols = np.broadcast_to(np.arange(N), lid.shape)
            log_i = log_i + amp[lid] * bank[which[lid], cols]
        # r = (I1 - I0) / (I1 + I0) = tanh((log I1 - log I0) / 2)
        r = np.tanh(np.diff(log_i, axis=0) / 2)
        if self.spike_density > 0:
            spikes = rng.random((T, N)) < self.spike_density
            values = rng.uniform(0.02, 0.2, (T, N)) * rng.choice([-1.0, 1.0], (T, N))
            r = np.where(spikes, np.clip(r + values, -0.99, 0.99), r)
        return r
