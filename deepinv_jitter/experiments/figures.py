r"""Figures of the application: seismic sections and their measurements."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..datasets.seismic import SyntheticSeismicDataset
from ..physics.seismic import SeismicDeconvolution

__all__ = ["save_seismic_figure"]


def save_seismic_figure(
    path: str,
    dataset: Dataset | None = None,
    physics=None,
    n_sections: int = 3,
    trace: int | None = None,
    noise_sigma: float = 0.0,
    seed: int = 0,
) -> str:
    r"""Save a figure of reflectivity sections, one trace of each, and the measurements ``y``.

    Row 1: sections :math:`x`; row 2: measurements :math:`y = A x (+ \text{noise})`; row 3: trace
    ``trace`` of :math:`x` (stems) and :math:`y` (line) against time.

    :param str path: output image file (the format follows the extension, e.g. ``.png``).
    :param torch.utils.data.Dataset, None dataset: dataset returning ``(1, T, N)`` tensors; default
        :class:`SyntheticSeismicDataset` ``(n_sections, seed=seed)``.
    :param deepinv.physics.LinearPhysics, None physics: default
        :class:`deepinv_jitter.physics.SeismicDeconvolution` with the default Ricker wavelet.
    :param int n_sections: number of sections shown (columns).
    :param int, None trace: trace index shown in row 3 (default: the middle trace).
    :param float noise_sigma: standard deviation of Gaussian noise added to ``y`` (seeded by ``seed``).
    :param int seed: seed of the default dataset and of the noise.
    :return: (str) ``path``.

    Raises ``ValueError`` for a non-positive ``n_sections`` or a dataset with fewer items.

    >>> import tempfile, os
    >>> ds = SyntheticSeismicDataset(2, n_time=32, n_traces=32)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_seismic_figure(os.path.join(d, "seismic.png"), ds, n_sections=2)
    ...     os.path.getsize(p) > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if isinstance(n_sections, bool) or not isinstance(n_sections, int) or n_sections < 1:
        raise ValueError(f"n_sections must be a positive integer, got {n_sections!r}")
    if dataset is None:
        dataset = SyntheticSeismicDataset(n_sections, seed=seed)
    if len(dataset) < n_sections:
        raise ValueError(f"dataset has {len(dataset)} items, fewer than n_sections={n_sections}")
    physics = SeismicDeconvolution() if physics is None else physics
    x = torch.stack([dataset[i] for i in range(n_sections)]).float()
    with torch.no_grad():
        y = physics.A(x)
    if noise_sigma > 0:
        g = torch.Generator().manual_seed(seed)
        y = y + noise_sigma * torch.randn(y.shape, generator=g)
    T, N = x.shape[-2:]
    trace = N // 2 if trace is None else trace
    fig, axes = plt.subplots(3, n_sections, figsize=(3.2 * n_sections, 8.5), squeeze=False)
    vx = float(x.abs().max()) or 1.0
    vy = float(y.abs().max()) or 1.0
    for j in range(n_sections):
        axes[0, j].imshow(x[j, 0], cmap="seismic", vmin=-vx, vmax=vx, aspect="auto")
        axes[0, j].set_title(f"reflectivity x #{j}")
        axes[1, j].imshow(y[j, 0], cmap="seismic", vmin=-vy, vmax=vy, aspect="auto")
        axes[1, j].set_title("measurement y")
        for ax in axes[:2, j]:
            ax.axvline(trace, color="k", lw=0.6, ls="--")
            ax.set_xlabel("trace")
            ax.set_ylabel("time sample")
        ts = np.arange(T)
        axes[2, j].vlines(ts, 0, x[j, 0, :, trace].numpy(), color="tab:blue", lw=0.8, label="x")
        axes[2, j].plot(ts, y[j, 0, :, trace].numpy(), color="tab:red", lw=0.8, label="y")
        axes[2, j].set_xlabel("time sample")
        axes[2, j].set_title(f"trace {trace}")
        axes[2, j].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
