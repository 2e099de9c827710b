r"""Robustness evaluation of a reconstruction network: four conditions and an attack curve.

:func:`evaluate_robustness` measures a trained model, in evaluation mode (so never with jitter), under
four conditions, each averaged over every test sample:

- ``in_distribution``: :math:`\hat{x} = R(y)` with :math:`y = A x + n` and :math:`x` from the test set;
- ``ood``: the same on an edited test image :math:`x' = e(x)` (the task's out-of-distribution edit),
  scored against :math:`x'`;
- ``gaussian`` (average case): :math:`R(y + \delta)` with :math:`\delta` uniformly distributed on
  the sphere of the attack budget, :math:`\|\delta_i\|_2 = \epsilon` per sample (a normalised
  Gaussian direction), averaged over ``gaussian_draws`` draws per sample (32 by default), with the
  standard error of that average;
- ``adversarial``: :math:`R(y + \delta^\star)` with :math:`\delta^\star` from
  :func:`deepinv_jitter.robustness.pgd_attack`, :math:`\|\delta^\star_i\|_2 \le \epsilon`.

The gap between ``gaussian`` and ``adversarial`` is what the attack adds over random noise of the same
size. It also returns a curve of PSNR against the attack budget, the per-sample PSNRs and the first
sample of each condition (for figures). Tables and figures of several models are left to the
caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .._checks import check_number, resolve_rng
from .attacks import measurement_mask
from .metrics import default_metrics

CONDITIONS = ("in_distribution", "ood", "gaussian", "adversarial")
"""The four evaluation conditions, in table order."""


@dataclass
class RobustnessReport:
    r"""What :func:`evaluate_robustness` measured.

    :param dict conditions: ``{condition: {"psnr": float, "ssim": float}}``, means over the test
        samples (``gaussian`` also has ``"psnr_draw_sem"``, the standard error of its Monte-Carlo
        average over perturbation draws).
    :param dict curve: ``{"eps": [...], "psnr": [...]}``, adversarial PSNR against the attack budget
        (``eps = 0`` is the clean PSNR on the same samples).
    :param dict examples: ``{condition: {"x": tensor, "x_hat": tensor}}``, the first test sample of
        each condition (reference and reconstruction, on the CPU), for figures.
    :param int n_samples: number of test samples averaged.
    :param dict per_sample: ``{condition: [psnr of each test sample]}``.

    >>> r = RobustnessReport({"in_distribution": {"psnr": 30.0, "ssim": 0.9}})
    >>> r.to_dict()["conditions"]["in_distribution"]["psnr"]
    30.0
    """

    conditions: dict[str, dict[str, float]]
    curve: dict[str, list[float]] = field(default_factory=dict)
    examples: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    n_samples: int = 0
    per_sample: dict[str, list[float]] = field(default_factory=dict)

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
    """``y = physics(x)`` with the measurement noise drawn from a fixed seed (global RNG restored)."""
    with _seeded(seed, x.device):
        return physics(x)


@contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch's global generators inside a fork: the caller's random state is left untouched."""
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def gaussian_perturbation(
    y: torch.Tensor,
    eps: float,
    relative: bool = False,
    mask: torch.Tensor | None = None,
    rng: torch.Generator | None = None,
    *,
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
    :param torch.Generator, None rng: random generator (reproducible draws).
    :param torch.Generator, None generator: deprecated alias of ``rng``.
    :return: ``delta`` with the shape of ``y``.
    :raises ValueError: if ``eps`` is negative or not finite.

    >>> g = torch.Generator().manual_seed(0)
    >>> d = gaussian_perturbation(torch.ones(2, 1, 4, 4), 0.5, rng=g)
    >>> torch.allclose(d.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]))
    True
    """
    generator = resolve_rng(rng, generator, "gaussian_perturbation")
    check_number(eps, "eps", low=0)
    g = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
    if mask is not None:
        g = g * mask.to(y.device, y.dtype)
    norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    budget = torch.full_like(norms, float(eps))
    if relative:
        budget = budget * y.flatten(1).norm(dim=1)
    scale = (budget / norms).view(-1, *([1] * (y.ndim - 1)))
    return g * scale


def evaluate_robustness(
    model: torch.nn.Module,
    physics,
    data,
    *,
    eps: float,
    ood_edit: Callable | None = None,
    metrics: Sequence[Callable] | None = None,
    attack: Callable | None = None,
    relative: bool = False,
    attack_steps: int = 20,
    attack_step_size: float | None = None,
    curve_eps: Sequence[float] | None = None,
    curve_batches: int | None = 1,
    gaussian_draws: int = 32,
    max_batches: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> RobustnessReport:
    r"""PSNR and SSIM of a reconstruction model in distribution, out of distribution, under random
    perturbations (average case) and under an L2 PGD attack of the same size (worst case), plus a
    PSNR-vs-budget curve.

    The model runs in ``eval()`` mode (no jitter, no dropout) and is put back in its former mode
    afterwards. Every random draw (measurement noise, OOD edit, random perturbations, attack start) is
    seeded from ``seed`` and the batch index inside :func:`torch.random.fork_rng`, so two calls give
    the same numbers and the caller's global random state is never moved.

    :param torch.nn.Module model: reconstructor called as ``model(y, physics)``.
    :param deepinv.physics.Physics physics: forward operator (with its noise model).
    :param data: test images: a tensor ``(B, C, H, W)``, a dataset or a dataloader of ``x``.
    :param float eps: attack budget (L2 norm of the perturbation of ``y``, per sample), ``>= 0``.
    :param Callable ood_edit: ``ood_edit(x, rng=g) -> x_edit``; ``None`` skips ``ood``.
    :param metrics: ``(psnr, ssim)``, metrics ``(x_hat, x) -> (B,)`` (default:
        :func:`deepinv_jitter.robustness.metrics.default_metrics`).
    :param Callable attack: the worst-case attack (default
        :func:`deepinv_jitter.robustness.pgd_attack`, same signature).
    :param bool relative: budget relative to each sample's ``||y||``.
    :param int attack_steps: PGD steps. Default 20.
    :param float, None attack_step_size: PGD step size (``None``: the attack's default).
    :param list[float] curve_eps: budgets for the PSNR curve (``None``: ``eps`` times 0, 1/4, 1/2,
        1, 2).
    :param int, None curve_batches: batches used for the curve (``None``: all).
    :param int gaussian_draws: random perturbations per sample in the average-case condition.
    :param int, None max_batches: evaluate at most this many batches.
    :param int seed: base seed of every random draw.
    :param str, torch.device device: where to run (default: the model's device).
    :param bool progress: show a tqdm progress bar.
    :return: a :class:`RobustnessReport`.
    :raises ValueError: no physics or data, a negative or non-finite ``eps`` or curve budget, ``attack_steps`` or
        ``gaussian_draws`` below 1, no test samples, a non-finite PSNR (a constant reference
        image) or a non-finite reconstruction (the model's
        output holds NaN or infinity).

    >>> import deepinv as dinv
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    >>> identity = lambda y, physics: y
    >>> zero = lambda model, physics, x, y, eps, **kw: torch.zeros_like(y)
    >>> x = torch.rand(2, 1, 16, 16)
    >>> r = evaluate_robustness(identity, physics, x, eps=0.0, attack=zero, curve_eps=[0.0])
    >>> r.conditions["adversarial"]["psnr"] == r.conditions["in_distribution"]["psnr"]
    True
    """
    if physics is None or data is None:
        raise ValueError("evaluate_robustness needs a physics and test data")
    eps = check_number(eps, "eps", low=0)
    if curve_eps is None:
        curve_eps = [eps * f for f in (0.0, 0.25, 0.5, 1.0, 2.0)]
    curve_eps = [check_number(e, "curve_eps", low=0) for e in curve_eps]
    check_number(attack_steps, "attack_steps", low=1, integer=True)
    check_number(gaussian_draws, "gaussian_draws", low=1, integer=True)
    psnr, ssim = metrics if metrics is not None else default_metrics()
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
    per_sample: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    draw_var_sum = 0.0  # sum over samples of the variance of the mean over draws
    curve_sum = [0.0] * len(curve_eps)
    curve_n = 0
    n = 0
    examples: dict[str, dict[str, torch.Tensor]] = {}

    def recon(y):
        with torch.no_grad():
            x_hat = model(y, physics)
        if not torch.isfinite(x_hat).all():
            raise ValueError("the model's reconstruction holds NaN or infinite values")
        return x_hat

    def score(cond, x_hat, x_ref, p=None, s=None):
        p = psnr(x_hat, x_ref) if p is None else p
        s = ssim(x_hat, x_ref) if s is None else s
        bad = (~torch.isfinite(p.flatten())).nonzero().flatten()
        if bad.numel():
            i = int(bad[0])
            raise ValueError(
                f"{cond}: the PSNR of test sample {n + i} is {float(p.flatten()[i])} "
                f"(a constant reference image, max = min = {float(x_ref[i].max()):g}, "
                "has no range to score against)"
            )
        sums[cond]["psnr"] += float(p.double().sum())
        sums[cond]["ssim"] += float(s.double().sum())
        per_sample[cond] += [float(v) for v in p.flatten()]
        if cond not in examples:
            examples[cond] = {
                "x": x_ref[:1].detach().cpu(),
                "x_hat": x_hat[:1].detach().cpu(),
            }

    def adversarial(x, y, e, b):
        if e == 0:
            return y
        with _seeded(
            seed + 7919 * b + 1, device
        ):  # the attack may start from a random point
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

    def average_case(x, y, b):
        gen = torch.Generator(device=device).manual_seed(seed + 7919 * b + 3)
        mask = measurement_mask(physics, y)
        deltas = [
            gaussian_perturbation(y, eps, relative=relative, mask=mask, rng=gen)
            for _ in range(gaussian_draws)
        ]
        # the draws' reconstructions in batches of about 64 samples (fewer, larger calls)
        per_call = max(1, 64 // y.shape[0])
        p_draws, s_draws, first = [], [], None
        for i in range(0, gaussian_draws, per_call):
            chunk = deltas[i : i + per_call]
            x_hat = recon(torch.cat([y + d for d in chunk]))
            x_ref = torch.cat([x] * len(chunk))
            first = x_hat[: x.shape[0]] if first is None else first
            p_draws += list(psnr(x_hat, x_ref).flatten().split(x.shape[0]))
            s_draws += list(ssim(x_hat, x_ref).flatten().split(x.shape[0]))
        p_draws = torch.stack(p_draws).double()  # (draws, B)
        s_draws = torch.stack(s_draws).double()
        var = (
            p_draws.var(dim=0, unbiased=True) if gaussian_draws > 1 else 0 * p_draws[0]
        )
        return (
            first,
            p_draws.mean(0),
            s_draws.mean(0),
            float((var / gaussian_draws).sum()),
        )

    try:
        batches = list(_batches(data, max_batches))
        for b, x in enumerate(
            tqdm(batches, desc="evaluate", disable=not progress, leave=False)
        ):
            x = x.to(device)
            y = _measure(physics, x, seed + 7919 * b)
            x_clean = recon(y)
            score("in_distribution", x_clean, x)
            if ood_edit is not None:
                # edits draw a few positions: on the CPU, so that one seed gives the same edit
                # on every device (and edits that expect a CPU generator work with CUDA data)
                gen = torch.Generator().manual_seed(seed + 7919 * b + 2)
                x_ood = ood_edit(x.cpu(), rng=gen).to(device)
                score("ood", recon(_measure(physics, x_ood, seed + 7919 * b)), x_ood)
            x_hat, p, s, var = average_case(x, y, b)
            score("gaussian", x_hat, x, p, s)
            draw_var_sum += var
            x_adv = recon(adversarial(x, y, eps, b))
            score("adversarial", x_adv, x)
            if curve_batches is None or b < curve_batches:
                for i, e in enumerate(curve_eps):
                    # the budget of the adversarial condition and the zero budget were just
                    # computed (same seeds): reused, not attacked again
                    x_e = x_adv if e == eps else (x_clean if e == 0 else None)
                    if x_e is None:
                        x_e = recon(adversarial(x, y, e, b))
                    curve_sum[i] += float(psnr(x_e, x).double().sum())
                curve_n += x.shape[0]
            n += x.shape[0]
    finally:
        if isinstance(model, torch.nn.Module):
            model.train(was_training)
    if n == 0:
        raise ValueError("data holds no test samples")
    keep = [c for c in CONDITIONS if c != "ood" or ood_edit is not None]
    conditions = {c: {k: v / n for k, v in sums[c].items()} for c in keep}
    conditions["gaussian"]["psnr_draw_sem"] = draw_var_sum**0.5 / n
    curve = {"eps": curve_eps, "psnr": [s / max(curve_n, 1) for s in curve_sum]}
    return RobustnessReport(
        conditions=conditions,
        curve=curve,
        examples=examples,
        n_samples=n,
        per_sample={c: per_sample[c] for c in keep},
    )
