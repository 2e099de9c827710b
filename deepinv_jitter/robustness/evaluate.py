r"""Robustness evaluation of a reconstruction network: conditions, attack curves, tables, figures.

:func:`evaluate_robustness` measures a trained model, in evaluation mode (so never with jitter), under
four conditions, each averaged over every test sample:

- ``in_distribution``: :math:`\hat{x} = R(y)` with :math:`y = A x + n` and :math:`x` from the test set;
- ``ood``: the same on an edited test image :math:`x' = e(x)` (the task's out-of-distribution edit),
  scored against :math:`x'`;
- ``gaussian``: :math:`R(y + \delta)` with :math:`\delta` a random Gaussian direction scaled to the
  attack budget, :math:`\|\delta_i\|_2 = \epsilon` per sample;
- ``adversarial``: :math:`R(y + \delta^\star)` with :math:`\delta^\star` from
  :func:`deepinv_jitter.robustness.pgd_attack`, :math:`\|\delta^\star_i\|_2 \le \epsilon`.

The gap between ``gaussian`` and ``adversarial`` is what the attack adds over random noise of the same
size. It also returns a curve of PSNR against the attack budget, and the first sample of each condition
for figures. The helpers :func:`results_markdown`, :func:`plot_attack_curves`,
:func:`plot_examples` and :func:`plot_tradeoff` turn several models' results into the comparison's
table and figures (matplotlib with the non-interactive ``Agg`` backend).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .attacks import measurement_mask

CONDITIONS = ("in_distribution", "ood", "gaussian", "adversarial")
"""The four evaluation conditions, in table order."""


@dataclass
class RobustnessReport:
    r"""What :func:`evaluate_robustness` measured.

    :param dict conditions: ``{condition: {"psnr": float, "ssim": float}}``, means over the test samples.
    :param dict curve: ``{"eps": [...], "psnr": [...]}``, adversarial PSNR against the attack budget
        (``eps = 0`` is the clean PSNR on the same samples).
    :param dict examples: ``{condition: {"x": tensor, "x_hat": tensor}}``, the first test sample of
        each condition (reference and reconstruction, on the CPU), for figures.
    :param int n_samples: number of test samples averaged.

    >>> r = RobustnessReport({"in_distribution": {"psnr": 30.0, "ssim": 0.9}})
    >>> r.to_dict()["conditions"]["in_distribution"]["psnr"]
    30.0
    """

    conditions: dict[str, dict[str, float]]
    curve: dict[str, list[float]] = field(default_factory=dict)
    examples: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    n_samples: int = 0

    def to_dict(self) -> dict:
        r"""The numbers only (no tensors), ready for :func:`json.dump`.

        :return: ``{"conditions": ..., "curve": ..., "n_samples": ...}``.
        """
        return {
            "conditions": {c: dict(v) for c, v in self.conditions.items()},
            "curve": {k: list(v) for k, v in self.curve.items()},
            "n_samples": self.n_samples,
        }


def _batches(data, max_batches: int | None) -> Iterable[torch.Tensor]:
    """Yield ``x`` batches from a tensor, a dataset or a dataloader (first element of tuples)."""
    if isinstance(data, torch.Tensor):
        loader: Iterable = [data]
    elif isinstance(data, torch.utils.data.DataLoader):
        loader = data
    elif isinstance(data, torch.utils.data.Dataset):
        loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=False)
    else:
        loader = data
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            return
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        yield batch


def _measure(physics, x: torch.Tensor, seed: int) -> torch.Tensor:
    """``y = physics(x)`` with the measurement noise drawn from a fixed seed."""
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return physics(x)


def _mask(physics, y: torch.Tensor) -> torch.Tensor | None:
    """Sampling mask (k-space: perturb sampled entries only), ``None`` for physics without one."""
    try:
        return measurement_mask(physics, y)
    except ValueError:
        # some physics hold a ``mask`` that is no sampling mask (deepinv's BlurFFT keeps its
        # Fourier filter there); such a physics samples every entry of y
        return None


def gaussian_perturbation(
    y: torch.Tensor,
    eps: float,
    relative: bool = False,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""A random perturbation of ``y`` of exactly the attack budget's size, per sample.

    .. math::
        \delta_i = \epsilon_i \, \frac{m \odot g_i}{\|m \odot g_i\|_2},
        \qquad g_i \sim \mathcal{N}(0, I),

    with :math:`\epsilon_i = \epsilon` (or :math:`\epsilon \|y_i\|_2` when ``relative``) and
    :math:`m` the sampling mask (ones when ``None``).

    :param torch.Tensor y: measurements ``(B, ...)``.
    :param float eps: budget, ``>= 0``.
    :param bool relative: scale the budget by each sample's measurement norm.
    :param torch.Tensor, None mask: optional sampling mask broadcastable to ``y``.
    :param torch.Generator, None generator: random generator (reproducible draws).
    :return: ``delta`` with the shape of ``y``.

    Raises ``ValueError`` if ``eps < 0``.

    >>> g = torch.Generator().manual_seed(0)
    >>> d = gaussian_perturbation(torch.ones(2, 1, 4, 4), 0.5, generator=g)
    >>> torch.allclose(d.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]))
    True
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    g = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
    if mask is not None:
        g = g * mask.to(y.device, y.dtype)
    norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    budget = torch.full_like(norms, float(eps))
    if relative:
        budget = budget * y.flatten(1).norm(dim=1)
    scale = (budget / norms).view(-1, *([1] * (y.ndim - 1)))
    return g * scale


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
    from deepinv.loss.metric import PSNR, SSIM

    kw = dict(max_pixel=None, min_pixel=None, complex_abs=complex_abs)
    return PSNR(**kw), SSIM(**kw)


def evaluate_robustness(
    model: torch.nn.Module,
    physics=None,
    data=None,
    *,
    task=None,
    ood_edit: Callable | None = None,
    eps: float | None = None,
    relative: bool = False,
    attack_steps: int | None = None,
    attack_step_size: float | None = None,
    curve_eps: Sequence[float] | None = None,
    curve_batches: int | None = 1,
    psnr: Callable | None = None,
    ssim: Callable | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    attack: Callable | None = None,
    progress: bool = False,
) -> RobustnessReport:
    r"""PSNR and SSIM of a reconstruction model in distribution, out of distribution, under
    Gaussian noise and under an L2 PGD attack of the same size, plus a PSNR-vs-budget curve.

    Pass either ``task`` (a :class:`deepinv_jitter.tasks.Task`, which supplies the physics, the test
    set, the OOD edit, the budget, the attack steps, the curve and the metrics) or ``physics`` and
    ``data``; explicit arguments override the task's. The model runs in ``eval()`` mode (no jitter,
    no dropout) and is put back in its former mode afterwards. Every random draw (measurement noise,
    OOD edit, Gaussian perturbation, attack start) is seeded from ``seed`` and the batch index, so two
    calls give the same numbers.

    :param torch.nn.Module model: reconstructor called as ``model(y, physics)``.
    :param deepinv.physics.Physics physics: forward operator (with its noise model).
    :param data: test images: a tensor ``(B, C, H, W)``, a dataset or a dataloader of ``x``.
    :param deepinv_jitter.tasks.Task task: optional task supplying everything above.
    :param Callable ood_edit: ``ood_edit(x, generator=g) -> x_edit``; ``None`` skips ``ood``.
    :param float eps: attack budget (L2 norm of the perturbation, per sample), ``>= 0``.
    :param bool relative: budget relative to each sample's ``||y||``.
    :param int, None attack_steps: PGD steps (default: the task's, else 20).
    :param float, None attack_step_size: PGD step size (``None``: the attack's default).
    :param list[float] curve_eps: budgets for the PSNR curve (``None``: ``eps`` times 0, 1/4, 1/2,
        1, 2).
    :param int, None curve_batches: batches used for the curve (``None``: all).
    :param Callable psnr: metric ``(x_hat, x) -> (B,)`` (default: :func:`default_metrics`).
    :param Callable ssim: metric ``(x_hat, x) -> (B,)`` (default: :func:`default_metrics`).
    :param int, None max_batches: evaluate at most this many batches.
    :param int seed: base seed of every random draw.
    :param str, torch.device device: where to run (default: the model's device).
    :param Callable attack: replacement for :func:`deepinv_jitter.robustness.pgd_attack` (same
        signature), e.g. for testing.
    :param bool progress: show a tqdm progress bar.
    :return: a :class:`RobustnessReport`.

    Raises ``ValueError`` when neither ``task`` nor ``physics`` and ``data`` are given, or when
    ``eps`` is missing or negative, or a curve budget is negative.

    >>> import deepinv as dinv
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    >>> identity = lambda y, physics: y
    >>> zero = lambda model, physics, x, y, eps, **kw: torch.zeros_like(y)
    >>> x = torch.rand(2, 1, 16, 16)
    >>> r = evaluate_robustness(identity, physics, x, eps=0.0, attack=zero, curve_eps=[0.0])
    >>> r.conditions["adversarial"]["psnr"] == r.conditions["in_distribution"]["psnr"]
    True
    """
    if task is not None:
        physics = physics if physics is not None else task.physics
        data = data if data is not None else task.test_loader()
        ood_edit = ood_edit if ood_edit is not None else task.ood_edit
        eps = eps if eps is not None else task.attack_eps
        relative = relative or getattr(task, "attack_relative", False)
        if attack_steps is None:
            attack_steps = getattr(task, "eval_attack_steps", None)
        if attack_step_size is None:
            attack_step_size = getattr(task, "attack_step_size", None)
        curve_eps = curve_eps if curve_eps is not None else getattr(task, "curve_eps", None)
        if psnr is None or ssim is None:
            task_psnr, task_ssim = task.metrics()
            psnr = psnr or task_psnr
            ssim = ssim or task_ssim
    if physics is None or data is None:
        raise ValueError("evaluate_robustness needs task=..., or both physics and data")
    if eps is None:
        raise ValueError("eps (the attack budget) is required when no task is given")
    if eps < 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    if curve_eps is None:
        curve_eps = [eps * f for f in (0.0, 0.25, 0.5, 1.0, 2.0)]
    curve_eps = [float(e) for e in curve_eps]
    if any(e < 0 for e in curve_eps):
        raise ValueError(f"curve_eps must be >= 0, got {curve_eps}")
    if psnr is None or ssim is None:
        dpsnr, dssim = default_metrics()
        psnr = psnr or dpsnr
        ssim = ssim or dssim
    if attack_steps is None:
        attack_steps = 20
    if attack is None:
        from .attacks import pgd_attack as attack
    if device is None:
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)

    was_training = model.training if isinstance(model, torch.nn.Module) else False
    if isinstance(model, torch.nn.Module):
        model.eval()
    sums = {c: {"psnr": 0.0, "ssim": 0.0} for c in CONDITIONS}
    curve_sum = [0.0] * len(curve_eps)
    curve_n = 0
    n = 0
    examples: dict[str, dict[str, torch.Tensor]] = {}

    def recon(y):
        with torch.no_grad():
            return model(y, physics)

    def score(cond, x_hat, x_ref):
        p, s = psnr(x_hat, x_ref), ssim(x_hat, x_ref)
        sums[cond]["psnr"] += float(p.sum())
        sums[cond]["ssim"] += float(s.sum())
        if cond not in examples:
            examples[cond] = {"x": x_ref[:1].detach().cpu(), "x_hat": x_hat[:1].detach().cpu()}

    def adversarial(x, y, e, b):
        if e == 0:
            return y
        torch.manual_seed(seed + 7919 * b + 1)  # the attack may start from a random point
        delta = attack(
            model,
            physics,
            x,
            y,
            e,
            steps=attack_steps,
            step_size=attack_step_size,
            relative=relative,
        )
        return y + delta.detach()

    try:
        batches = list(_batches(data, max_batches))
        for b, x in enumerate(tqdm(batches, desc="evaluate", disable=not progress, leave=False)):
            x = x.to(device)
            y = _measure(physics, x, seed + 7919 * b)
            score("in_distribution", recon(y), x)
            if ood_edit is not None:
                # edits draw a few positions: on the CPU, so that one seed gives the same edit
                # on every device (and edits that expect a CPU generator work with CUDA data)
                gen = torch.Generator().manual_seed(seed + 7919 * b + 2)
                x_ood = ood_edit(x.cpu(), generator=gen).to(device)
                score("ood", recon(_measure(physics, x_ood, seed + 7919 * b)), x_ood)
            gen = torch.Generator(device=device).manual_seed(seed + 7919 * b + 3)
            mask = _mask(physics, y)
            delta = gaussian_perturbation(y, eps, relative=relative, mask=mask, generator=gen)
            score("gaussian", recon(y + delta), x)
            score("adversarial", recon(adversarial(x, y, eps, b)), x)
            if curve_batches is None or b < curve_batches:
                for i, e in enumerate(curve_eps):
                    curve_sum[i] += float(psnr(recon(adversarial(x, y, e, b)), x).sum())
                curve_n += x.shape[0]
            n += x.shape[0]
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    if n == 0:
        raise ValueError("data holds no test samples")
    conditions = {
        c: {k: v / n for k, v in sums[c].items()}
        for c in CONDITIONS
        if c != "ood" or ood_edit is not None
    }
    curve = {"eps": curve_eps, "psnr": [s / max(curve_n, 1) for s in curve_sum]}
    return RobustnessReport(conditions=conditions, curve=curve, examples=examples, n_samples=n)


_LABELS = {
    "in_distribution": "In distribution",
    "ood": "OOD",
    "gaussian": "Gaussian",
    "adversarial": "Adversarial",
}


def results_markdown(
    results: dict[str, dict[str, dict[str, float]]],
    train_seconds: dict[str, float] | None = None,
    title: str | None = None,
) -> str:
    r"""A paper-style markdown table: one row per training mode, one column per condition,
    cells ``PSNR / SSIM`` (and a training-time column when given).

    :param dict results: ``{mode: {condition: {"psnr": float, "ssim": float}}}``.
    :param dict, None train_seconds: ``{mode: seconds}``.
    :param str, None title: heading line above the table.
    :return: the markdown text.

    >>> print(results_markdown({"mse": {"in_distribution": {"psnr": 30.0, "ssim": 0.91}}}))
    | mode | In distribution PSNR / SSIM |
    | --- | --- |
    | mse | 30.00 / 0.910 |
    """
    conds = [c for c in CONDITIONS if any(c in r for r in results.values())]
    header = ["mode"] + [f"{_LABELS[c]} PSNR / SSIM" for c in conds]
    if train_seconds:
        header.append("train time (s)")
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for mode, res in results.items():
        cells = [mode]
        for c in conds:
            v = res.get(c)
            cells.append(f"{v['psnr']:.2f} / {v['ssim']:.3f}" if v else "-")
        if train_seconds:
            t = train_seconds.get(mode)
            cells.append(f"{t:.1f}" if t is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, path: str | Path, dpi: int) -> Path:
    # one place that lays out, writes (creating the folder) and closes every figure of this module
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_attack_curves(
    curves: dict[str, dict[str, list[float]]], path: str | Path, title: str = ""
) -> Path:
    r"""PSNR against attack budget, one line per training mode, saved as an image.

    :param dict curves: ``{mode: {"eps": [...], "psnr": [...]}}``.
    :param str path: output file (``.png``).
    :param str title: figure title.
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
        ax.plot(c["eps"], c["psnr"], marker="o", label=mode)
    ax.set_xlabel(r"attack budget $\epsilon$ ($\|\delta\|_2$)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save_figure(plt, fig, path, dpi=120)


def _to_image(t: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` -> ``(H, W)``: the magnitude for two-channel (real/imaginary) images."""
    t = t[0].float()
    if t.shape[0] == 2:
        return t.pow(2).sum(0).sqrt()
    return t[0]


def plot_examples(
    examples: dict[str, dict[str, dict[str, torch.Tensor]]],
    path: str | Path,
    title: str = "",
) -> Path:
    r"""A grid of reconstructions and error maps: one row per training mode, two columns per
    condition (reconstruction, absolute error), plus a column of ground truth images.

    :param dict examples: ``{mode: {condition: {"x": (1, C, H, W), "x_hat": (1, C, H, W)}}}`` as in
        :attr:`RobustnessReport.examples`. Two-channel images are shown as magnitudes.
    :param str path: output file (``.png``).
    :param str title: figure title.
    :return: the path written.

    >>> import tempfile, os
    >>> ex = {"mse": {"in_distribution": {"x": torch.rand(1, 1, 8, 8), "x_hat": torch.rand(1, 1, 8, 8)}}}
    >>> plot_examples(ex, os.path.join(tempfile.mkdtemp(), "g.png")).exists()
    True
    """
    plt = _pyplot()
    modes = list(examples)
    conds = [c for c in CONDITIONS if any(c in examples[m] for m in modes)]
    refs = [c for c in ("in_distribution", "ood") if c in conds]
    ncols = len(refs) + 2 * len(conds)
    fig, axes = plt.subplots(
        len(modes), ncols, figsize=(1.7 * ncols, 1.8 * len(modes) + 0.4), squeeze=False
    )
    first = examples[modes[0]]
    ref_imgs = [_to_image(first[c]["x"]) for c in refs]
    vmax = max(float(im.abs().max()) for im in ref_imgs) if ref_imgs else 1.0
    signed = any(float(im.min()) < 0 for im in ref_imgs)
    cmap, vmin = ("seismic", -vmax) if signed else ("gray", 0.0)
    for r, mode in enumerate(modes):
        col = 0
        for c in refs:
            ax = axes[r, col]
            ax.imshow(_to_image(examples[mode][c]["x"]), cmap=cmap, vmin=vmin, vmax=vmax)
            if r == 0:
                ax.set_title(f"truth\n{_LABELS[c]}", fontsize=7)
            col += 1
        for c in conds:
            ex = examples[mode].get(c)
            if ex is not None:
                xh, xr = _to_image(ex["x_hat"]), _to_image(ex["x"])
                axes[r, col].imshow(xh, cmap=cmap, vmin=vmin, vmax=vmax)
                axes[r, col + 1].imshow((xh - xr).abs(), cmap="magma", vmin=0, vmax=0.5 * vmax)
            if r == 0:
                axes[r, col].set_title(f"{_LABELS[c]}", fontsize=7)
                axes[r, col + 1].set_title(f"|error| {_LABELS[c]}", fontsize=7)
            col += 2
        axes[r, 0].set_ylabel(mode, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return _save_figure(plt, fig, path, dpi=110)


def plot_tradeoff(
    points: Sequence[dict], path: str | Path, title: str = "accuracy-robustness trade-off"
) -> Path:
    r"""In-distribution PSNR against adversarial PSNR: the accuracy-robustness frontier.

    :param list[dict] points: each ``{"label": str, "in_distribution": float, "adversarial": float}``
        with an optional ``"sigma"`` (SGD-jittering points, joined by a line in sigma order).
    :param str path: output file (``.png``).
    :param str title: figure title.
    :return: the path written.

    >>> import tempfile, os
    >>> pts = [{"label": "mse", "in_distribution": 30, "adversarial": 24},
    ...        {"label": "sgd_jitter", "sigma": 1.0, "in_distribution": 29.8, "adversarial": 26}]
    >>> plot_tradeoff(pts, os.path.join(tempfile.mkdtemp(), "t.png")).exists()
    True
    """
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
            ax.annotate(f"σ={p['sigma']:g}", (p["adversarial"], p["in_distribution"]), fontsize=7)
    for i, p in enumerate(q for q in points if "sigma" not in q):
        ax.plot(p["adversarial"], p["in_distribution"], "s", color=f"C{i + 1}", label=p["label"])
    ax.set_xlabel("adversarial PSNR (dB)")
    ax.set_ylabel("in-distribution PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save_figure(plt, fig, path, dpi=120)
