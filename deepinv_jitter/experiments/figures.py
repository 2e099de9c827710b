r"""Figures of the application (matplotlib, non-interactive ``Agg`` backend): PSNR against attack
budget, reconstructions and error maps (with their PSNR and colour bars), the
accuracy-robustness trade-off, seismic sections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..datasets.seismic import SyntheticSeismicDataset
from ..physics.seismic import SeismicDeconvolution
from ..robustness.evaluate import CONDITIONS

__all__ = [
    "plot_attack_curves",
    "plot_examples",
    "examples_figure",
    "plot_tradeoff",
    "save_seismic_figure",
]

LABELS = {
    "in_distribution": "In distribution",
    "ood": "OOD",
    "gaussian": "Gaussian",
    "adversarial": "Adversarial",
}


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

    :raises ValueError: for a non-positive ``n_sections`` or a dataset with fewer items.

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

    if (
        isinstance(n_sections, bool)
        or not isinstance(n_sections, int)
        or n_sections < 1
    ):
        raise ValueError(f"n_sections must be a positive integer, got {n_sections!r}")
    if dataset is None:
        dataset = SyntheticSeismicDataset(n_sections, seed=seed)
    if len(dataset) < n_sections:
        raise ValueError(
            f"dataset has {len(dataset)} items, fewer than n_sections={n_sections}"
        )
    physics = SeismicDeconvolution() if physics is None else physics
    x = torch.stack([dataset[i] for i in range(n_sections)]).float()
    with torch.no_grad():
        y = physics.A(x)
    if noise_sigma > 0:
        g = torch.Generator().manual_seed(seed)
        y = y + noise_sigma * torch.randn(y.shape, generator=g)
    T, N = x.shape[-2:]
    trace = N // 2 if trace is None else trace
    fig, axes = plt.subplots(
        3, n_sections, figsize=(3.2 * n_sections, 8.5), squeeze=False
    )
    vx = float(x.abs().max()) or 1.0
    vy = float(y.abs().max()) or 1.0
    for j in range(n_sections):
        axes[0, j].imshow(
            x[j, 0].numpy(), cmap="seismic", vmin=-vx, vmax=vx, aspect="auto"
        )
        axes[0, j].set_title(f"reflectivity x #{j}")
        axes[1, j].imshow(
            y[j, 0].numpy(), cmap="seismic", vmin=-vy, vmax=vy, aspect="auto"
        )
        axes[1, j].set_title("measurement y")
        for ax in axes[:2, j]:
            ax.axvline(trace, color="k", lw=0.6, ls="--")
            ax.set_xlabel("trace")
            ax.set_ylabel("time sample")
        ts = np.arange(T)
        axes[2, j].vlines(
            ts, 0, x[j, 0, :, trace].numpy(), color="tab:blue", lw=0.8, label="x"
        )
        axes[2, j].plot(
            ts, y[j, 0, :, trace].numpy(), color="tab:red", lw=0.8, label="y"
        )
        axes[2, j].set_xlabel("time sample")
        axes[2, j].set_title(f"trace {trace}")
        axes[2, j].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, path: str | Path, dpi: int) -> Path:
    # one place that lays out, writes (creating the folder) and closes every figure of this module
    if fig.get_layout_engine() is None:  # figures with colour bars lay out themselves
        fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_attack_curves(
    curves: dict[str, dict[str, list[float]]],
    path: str | Path,
    title: str = "",
    oracle: float | None = None,
) -> Path:
    r"""PSNR against attack budget, one line per training mode, saved as an image.

    :param dict curves: ``{mode: {"eps": [...], "psnr": [...]}}``, optionally with ``"psnr_std"``
        (drawn as error bars).
    :param str path: output file (``.png``).
    :param str title: figure title.
    :param float, None oracle: PSNR of the best achievable reconstruction, drawn as a line.
    :return: the path written.

    >>> import tempfile, os
    >>> p = plot_attack_curves({"mse": {"eps": [0, 1], "psnr": [30, 25]}},
    ...                        os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> p.exists()
    True
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for mode, c in curves.items():
        if c.get("psnr_std") and any(c["psnr_std"]):
            ax.errorbar(
                c["eps"],
                c["psnr"],
                yerr=c["psnr_std"],
                marker="o",
                capsize=3,
                label=mode,
            )
        else:
            ax.plot(c["eps"], c["psnr"], marker="o", label=mode)
    if oracle is not None:
        ax.axhline(oracle, color="k", ls="--", lw=1, label="oracle (clean)")
    ax.set_xlabel(r"attack budget $\epsilon$ ($\|\delta\|_2$)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=9)
    return _save_figure(plt, fig, path, dpi=120)


def _to_image(t: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W)`` array: the magnitude for two-channel (real/imaginary) images."""
    t = t[0].detach().float().cpu()
    if t.shape[0] == 2:
        return t.pow(2).sum(0).sqrt().numpy()
    return t[0].numpy()


def examples_figure(
    examples: dict[str, dict[str, dict[str, torch.Tensor | float]]],
    title: str = "",
):
    r"""The figure of :func:`plot_examples`, not saved: a grid of reconstructions and error maps,
    one row per training mode, two columns per condition (reconstruction, absolute error), plus a
    column of ground truth images per reference (in distribution, OOD).

    Every reconstruction panel is labelled with its PSNR (the ``"psnr"`` of its example, as
    :func:`~deepinv_jitter.robustness.evaluate_robustness` records it with the evaluation's
    metric); one colour bar gives the scale of the images (shared by every image panel), another
    that of the error maps.

    :param dict examples: ``{mode: {condition: {"x": (1, C, H, W), "x_hat": (1, C, H, W),
        "psnr": float}}}`` as in :attr:`RobustnessReport.examples` (``"psnr"`` optional: a panel
        without it has no PSNR label). Two-channel images are shown as magnitudes.
    :param str title: figure title.
    :return: a :class:`matplotlib.figure.Figure` (close it with ``matplotlib.pyplot.close``).

    >>> import matplotlib.pyplot as plt
    >>> x = torch.rand(1, 1, 8, 8)
    >>> ex = {"mse": {"in_distribution": {"x": x, "x_hat": 0.9 * x, "psnr": 25.0}}}
    >>> fig = examples_figure(ex)
    >>> [t.get_text() for ax in fig.axes for t in [ax.xaxis.label] if "dB" in t.get_text()]
    ['PSNR 25.00 dB']
    >>> plt.close(fig)
    """
    plt = _pyplot()
    modes = list(examples)
    conds = [c for c in CONDITIONS if any(c in examples[m] for m in modes)]
    refs = [c for c in ("in_distribution", "ood") if c in conds]
    ncols = len(refs) + 2 * len(conds)
    fig, axes = plt.subplots(
        len(modes),
        ncols,
        figsize=(1.7 * ncols + 1.4, 1.9 * len(modes) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    first = examples[modes[0]]
    ref_imgs = [_to_image(first[c]["x"]) for c in refs]
    vmax = max(float(np.abs(im).max()) for im in ref_imgs) if ref_imgs else 1.0
    vmax = vmax or 1.0
    signed = any(float(im.min()) < 0 for im in ref_imgs)
    cmap, vmin = ("seismic", -vmax) if signed else ("gray", 0.0)
    image, error = None, None  # one drawn panel of each kind, for the colour bars
    for r, mode in enumerate(modes):
        col = 0
        for c in refs:
            ax = axes[r, col]
            image = ax.imshow(
                _to_image(examples[mode][c]["x"]), cmap=cmap, vmin=vmin, vmax=vmax
            )
            if r == 0:
                ax.set_title(f"truth\n{LABELS[c]}", fontsize=7)
            col += 1
        for c in conds:
            ex = examples[mode].get(c)
            if ex is not None:
                xh, xr = _to_image(ex["x_hat"]), _to_image(ex["x"])
                image = axes[r, col].imshow(xh, cmap=cmap, vmin=vmin, vmax=vmax)
                error = axes[r, col + 1].imshow(
                    np.abs(xh - xr), cmap="magma", vmin=0, vmax=0.5 * vmax
                )
                if ex.get("psnr") is not None:
                    axes[r, col].set_xlabel(
                        f"PSNR {float(ex['psnr']):.2f} dB", fontsize=7
                    )
            else:
                axes[r, col].set_axis_off()
                axes[r, col + 1].set_axis_off()
            if r == 0:
                axes[r, col].set_title(f"{LABELS[c]}", fontsize=7)
                axes[r, col + 1].set_title(f"|error| {LABELS[c]}", fontsize=7)
            col += 2
        axes[r, 0].set_ylabel(mode, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for mappable, label in ((image, "image value"), (error, "|error|")):
        if mappable is not None:
            bar = fig.colorbar(mappable, ax=axes, shrink=0.8, aspect=30, pad=0.01)
            bar.set_label(label, fontsize=7)
            bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_examples(
    examples: dict[str, dict[str, dict[str, torch.Tensor | float]]],
    path: str | Path,
    title: str = "",
) -> Path:
    r"""A grid of reconstructions and error maps, each reconstruction labelled with its PSNR, with
    colour bars for the images and the errors (:func:`examples_figure`), saved as an image.

    :param dict examples: ``{mode: {condition: {"x": (1, C, H, W), "x_hat": (1, C, H, W),
        "psnr": float}}}`` as in :attr:`RobustnessReport.examples`. Two-channel images are shown
        as magnitudes.
    :param str path: output file (``.png``).
    :param str title: figure title.
    :return: the path written.

    >>> import tempfile, os
    >>> x = torch.rand(1, 1, 8, 8)
    >>> ex = {"mse": {"in_distribution": {"x": x, "x_hat": 0.9 * x, "psnr": 25.0}}}
    >>> plot_examples(ex, os.path.join(tempfile.mkdtemp(), "g.png")).exists()
    True
    """
    plt = _pyplot()
    return _save_figure(plt, examples_figure(examples, title), path, dpi=110)


def plot_tradeoff(
    points: Sequence[dict],
    path: str | Path,
    title: str = "accuracy-robustness trade-off",
    recommended: float | None = None,
) -> Path:
    r"""In-distribution PSNR against adversarial PSNR: the accuracy-robustness frontier.

    :param list[dict] points: each ``{"label": str, "in_distribution": float, "adversarial":
        float}`` with an optional ``"sigma"`` (SGD-jittering points, joined by a line in sigma
        order) and optional ``"in_distribution_ci95"`` / ``"adversarial_ci95"`` intervals (drawn
        as error bars).
    :param str path: output file (``.png``).
    :param str title: figure title.
    :param float, None recommended: the recommended sigma, circled.
    :return: the path written.

    >>> import tempfile, os
    >>> pts = [{"label": "mse", "in_distribution": 30, "adversarial": 24},
    ...        {"label": "sgd_jitter", "sigma": 1.0, "in_distribution": 29.8, "adversarial": 26}]
    >>> plot_tradeoff(pts, os.path.join(tempfile.mkdtemp(), "t.png"), recommended=1.0).exists()
    True
    """

    def bars(p):
        out = []
        for key, centre in (
            ("adversarial_ci95", "adversarial"),
            ("in_distribution_ci95", "in_distribution"),
        ):
            ci = p.get(key)
            out.append(None if not ci else [[p[centre] - ci[0]], [ci[1] - p[centre]]])
        return out

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    jit = sorted((p for p in points if "sigma" in p), key=lambda p: p["sigma"])
    if jit:
        ax.plot(
            [p["adversarial"] for p in jit],
            [p["in_distribution"] for p in jit],
            "-o",
            color="C0",
            label="sgd_jitter",
        )
        for p in jit:
            xerr, yerr = bars(p)
            if xerr or yerr:
                ax.errorbar(
                    p["adversarial"],
                    p["in_distribution"],
                    xerr=xerr,
                    yerr=yerr,
                    color="C0",
                    capsize=2,
                    lw=0.8,
                )
            ax.annotate(
                f"σ={p['sigma']:g}",
                (p["adversarial"], p["in_distribution"]),
                fontsize=7,
            )
            if recommended is not None and abs(p["sigma"] - recommended) < 1e-12:
                ax.plot(
                    p["adversarial"],
                    p["in_distribution"],
                    "o",
                    ms=14,
                    mfc="none",
                    mec="k",
                    label=f"recommended σ={recommended:g}",
                )
    for i, p in enumerate(q for q in points if "sigma" not in q):
        xerr, yerr = bars(p)
        ax.errorbar(
            p["adversarial"],
            p["in_distribution"],
            xerr=xerr,
            yerr=yerr,
            fmt="s",
            color=f"C{i + 1}",
            capsize=2,
            label=p["label"],
        )
    ax.set_xlabel("adversarial PSNR (dB)")
    ax.set_ylabel("in-distribution PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save_figure(plt, fig, path, dpi=120)


def plot_generalization(result: dict, path: str | Path) -> Path:
    r"""Test PSNR, average-case PSNR and train-test gap against training-set size, one line per
    mode (mean, error bars: std over seeds), the oracle as a dashed line where known.

    :param dict result: as written to ``generalization.json`` by
        :func:`deepinv_jitter.experiments.runner.run_generalization`.
    :param str path: output file (``.png``).
    :return: the path written.

    >>> import tempfile, os
    >>> r = {"task": "t", "n_train": [4, 8], "oracle": {"psnr": 30.0},
    ...      "results": {"mse": {n: {"in_distribution": {"psnr": 20.0 + i},
    ...                              "gaussian": {"psnr": 19.0 + i}, "gap": {"psnr": 2.0 - i}}
    ...                          for i, n in enumerate(["4", "8"])}}}
    >>> plot_generalization(r, os.path.join(tempfile.mkdtemp(), "g.png")).exists()
    True
    """
    plt = _pyplot()
    sizes = result["n_train"]
    panels = [
        ("in_distribution", "test PSNR (dB)"),
        ("gaussian", "average-case PSNR (dB)"),
        ("gap", "train - test PSNR (dB)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    oracle = result.get("oracle") or {}
    for ax, (key, label) in zip(axes, panels):
        for i, (mode, by_size) in enumerate(result["results"].items()):
            mean = [by_size[str(n)][key]["psnr"] for n in sizes]
            std = [by_size[str(n)][key].get("psnr_std") or 0.0 for n in sizes]
            ax.errorbar(
                sizes, mean, yerr=std, marker="o", capsize=3, color=f"C{i}", label=mode
            )
        line = {
            "in_distribution": oracle.get("psnr"),
            "gaussian": (oracle.get("gaussian") or {}).get("psnr"),
        }.get(key)
        if line is not None:
            ax.axhline(line, color="k", ls="--", lw=1, label="oracle")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training-set size")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{result.get('task', '')}: generalisation", fontsize=9)
    return _save_figure(plt, fig, path, dpi=120)
