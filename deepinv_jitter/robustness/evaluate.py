r"""Robustness evaluation of a reconstruction network: four conditions and an attack curve.

:func:`evaluate_robustness` measures a trained model, in evaluation mode (so never with jitter), under
four conditions, each averaged over every test sample:

- ``in_distribution``: :math:`\hat{x} = R(y)` with :math:`x` from the test set and :math:`y` the
  measurement the data give, or :math:`y = A x + n` simulated for ``x``-only data; with the default
  metrics (deepinv's PSNR and SSIM) this is the number deepinv's ``Trainer.test`` reports;
- ``ood``: the same on an edited test image :math:`x' = e(x)` (the task's out-of-distribution edit),
  scored against :math:`x'`;
- ``gaussian`` (average case): :math:`R(y + \delta)` with :math:`\delta` uniformly distributed on
  the sphere of the attack budget, :math:`\|\delta_i\|_2 = \epsilon` per sample (a normalised
  Gaussian direction), averaged over ``gaussian_draws`` draws per sample (32 by default), with the
  standard error of that average;
- ``adversarial``: :math:`R(y + \delta^\star)` with :math:`\delta^\star` from
  :func:`deepinv_jitter.robustness.pgd_attack`, :math:`\|\delta^\star_i\|_2 \le \epsilon`.

The gap between ``gaussian`` and ``adversarial`` is what the attack adds over random noise of the same
size. It also returns a curve of PSNR against the attack budget (over the whole test set), the
per-sample PSNRs and the first sample of each condition with its PSNR (for figures). Tables and figures of several models are left to the
caller.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .._checks import check_number, check_rng
from .attacks import measurement_mask
from .metrics import MagnitudePSNR, MagnitudeSSIM

CONDITIONS = ("in_distribution", "ood", "gaussian", "adversarial")
"""The four evaluation conditions, in table order."""


@dataclass
class RobustnessReport:
    r"""What :func:`evaluate_robustness` measured.

    :param dict conditions: ``{condition: {"psnr": float, "ssim": float}}``, means over the test
        samples (``gaussian`` also has ``"psnr_draw_sem"``, the standard error of its Monte-Carlo
        average over perturbation draws).
    :param dict curve: ``{"eps": [...], "psnr": [...]}``, adversarial PSNR against the attack budget,
        averaged over ``curve_samples`` samples (every test sample by default, and then its
        ``eps = 0`` point is the ``in_distribution`` PSNR).
    :param dict examples: ``{condition: {"x": tensor, "x_hat": tensor, "psnr": float}}``, the first
        test sample of each condition (reference and reconstruction, on the CPU, and the PSNR of
        that reconstruction), for figures.
    :param int n_samples: number of test samples averaged.
    :param dict per_sample: ``{condition: [psnr of each test sample]}``.
    :param tuple metrics: names of the ``(psnr, ssim)`` metrics used, e.g. ``("PSNR", "SSIM")``
        (deepinv's, the default) or ``("MagnitudePSNR", "MagnitudeSSIM")`` (complex signals).
    :param str measurements: where the measurements ``y`` came from: ``"given"`` (by the data),
        ``"simulated"`` (``y = physics(x)`` for ``x``-only data) or ``"mixed"`` (some batches each).
    :param int curve_samples: number of test samples the curve averages.

    >>> r = RobustnessReport({"in_distribution": {"psnr": 30.0, "ssim": 0.9}})
    >>> r.to_dict()["conditions"]["in_distribution"]["psnr"]
    30.0
    """

    conditions: dict[str, dict[str, float]]
    curve: dict[str, list[float]] = field(default_factory=dict)
    examples: dict[str, dict[str, torch.Tensor | float]] = field(default_factory=dict)
    n_samples: int = 0
    per_sample: dict[str, list[float]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    measurements: str = "simulated"
    curve_samples: int = 0

    def to_dict(self) -> dict:
        r"""The numbers and labels only (no tensors), ready for :func:`json.dump`.

        :return: ``{"conditions", "curve", "n_samples", "curve_samples", "metrics",
            "measurements"}``.
        """
        return {
            "conditions": {c: dict(v) for c, v in self.conditions.items()},
            "curve": {k: list(v) for k, v in self.curve.items()},
            "n_samples": self.n_samples,
            "curve_samples": self.curve_samples,
            "metrics": list(self.metrics),
            "measurements": self.measurements,
        }


def _loader(data) -> Iterable:
    """What to iterate over: one batch (a tensor, tuple or dict), a dataloader, a dataset (in
    batches of 8) or any iterable of batches."""
    if isinstance(data, (torch.Tensor, tuple, dict)):
        return [data]
    if isinstance(data, torch.utils.data.Dataset):
        return torch.utils.data.DataLoader(data, batch_size=8, shuffle=False)
    return data


def _batches(data, max_batches: int | None) -> list[dict]:
    """The batches as deepinv's dicts ``{"x", "y", "params"}`` (``y`` and ``params`` when the data
    have them), unpacked by deepinv's own :func:`deepinv.datasets.base.batch_as_dict` as its
    ``Trainer`` does."""
    from deepinv.datasets.base import batch_as_dict

    out = []
    for i, batch in enumerate(_loader(data)):
        if max_batches is not None and i >= max_batches:
            break
        try:
            out.append(batch_as_dict(batch))
        except RuntimeError as e:  # a tuple of another length
            raise ValueError(f"data: batch {i}: {e}") from e
    return out


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _unpack(batch: dict, b: int, device: torch.device):
    """``(x, y or None, params)`` of one batch on ``device``, with their shapes checked."""
    x = batch.get("x")
    if not isinstance(x, torch.Tensor) or (
        x.is_floating_point() and bool(torch.isnan(x).all())
    ):
        raise ValueError(
            f"data: batch {b} holds no ground truth x (keys {sorted(batch)}); "
            "evaluate_robustness scores reconstructions against x"
        )
    if x.ndim < 3:
        raise ValueError(
            f"data: x must be a batch (B, C, ...) of at least 3 dimensions; batch {b} "
            f"has x of shape {_shape(x)}"
        )
    y = batch.get("y")
    if y is not None:
        if not isinstance(y, torch.Tensor):
            raise ValueError(
                f"data: y must be a tensor, batch {b} has a {type(y).__name__}"
            )
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(
                f"data: x and y must hold the same number of samples; batch {b} has x of "
                f"shape {_shape(x)} and y of shape {_shape(y)}"
            )
        y = y.to(device)
    params = {
        k: v.to(device) if isinstance(v, torch.Tensor) else v
        for k, v in (batch.get("params") or {}).items()
    }
    return x.to(device), y, params


_NOT_A_SHAPE_ERROR = (torch.OutOfMemoryError,)


def _reraise(what: str, shapes: str, e: Exception):
    """A failure of the caller's physics, model or metric on the data: one ``ValueError`` naming
    the argument and the shapes (out-of-memory errors pass unchanged)."""
    if isinstance(e, _NOT_A_SHAPE_ERROR):
        raise e
    raise ValueError(f"{what} failed on {shapes}: {e}") from e


def _measure(physics, x: torch.Tensor, seed: int, params: dict) -> torch.Tensor:
    """``y = physics(x, **params)`` with the noise drawn from a fixed seed (global RNG restored)."""
    with _seeded(seed, x.device):
        try:
            return physics(x, **params)
        except (RuntimeError, ValueError, IndexError) as e:
            _reraise("physics", f"x of shape {_shape(x)}", e)


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
    :return: ``delta`` with the shape of ``y``.
    :raises ValueError: if ``eps`` is negative or not finite.

    >>> g = torch.Generator().manual_seed(0)
    >>> d = gaussian_perturbation(torch.ones(2, 1, 4, 4), 0.5, rng=g)
    >>> torch.allclose(d.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]))
    True
    """
    rng = check_rng(rng, "gaussian_perturbation")
    check_number(eps, "eps", low=0)
    g = torch.randn(y.shape, generator=rng, device=y.device, dtype=y.dtype)
    if mask is not None:
        g = g * mask.to(y.device, y.dtype)
    norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    budget = torch.full_like(norms, float(eps))
    if relative:
        budget = budget * y.flatten(1).norm(dim=1)
    scale = (budget / norms).view(-1, *([1] * (y.ndim - 1)))
    return g * scale


def _default_metrics(physics, x: torch.Tensor) -> tuple:
    """deepinv's PSNR and SSIM; their magnitude variants for complex signals (complex dtype, or
    deepinv's MRI physics with (real, imaginary) channels)."""
    from deepinv.loss.metric import PSNR, SSIM
    from deepinv.utils.mixins import MRIMixin

    if x.is_complex() or (isinstance(physics, MRIMixin) and x.shape[1] == 2):
        return MagnitudePSNR(), MagnitudeSSIM()
    return PSNR(), SSIM()


def _metric_name(metric) -> str:
    return getattr(metric, "__name__", None) or type(metric).__name__


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
    curve_batches: int | None = None,
    gaussian_draws: int = 32,
    max_batches: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> RobustnessReport:
    r"""PSNR and SSIM of a reconstruction model in distribution, out of distribution, under random
    perturbations (average case) and under an L2 PGD attack of the same size (worst case), plus a
    PSNR-vs-budget curve.

    **Data as deepinv has them.** Each batch is unpacked as deepinv's
    :class:`deepinv.Trainer` unpacks it (by :func:`deepinv.datasets.base.batch_as_dict`): a tensor
    ``x``, a tuple ``(x, y)``, ``(x, params)`` or ``(x, y, params)``, or a dict with ``"x"`` and
    optional ``"y"`` and ``"params"`` keys (as :class:`deepinv.datasets.TensorDataset` gives with
    ``use_dict_output=True``). A batch's physics parameters update the physics (a copy: the caller's
    physics is left as it was) before it is used. The measurement ``y`` a batch provides is used as
    it is; only for ``x``-only data is ``y = physics(x)`` simulated, with seeded noise
    (:attr:`RobustnessReport.measurements` says which). The ``ood`` condition always simulates the
    measurement of the edited image.

    **Metrics as deepinv has them.** By default deepinv's :class:`deepinv.loss.metric.PSNR` and
    :class:`deepinv.loss.metric.SSIM` with their default options (data range 1), so that on the
    same model and ``(x, y)`` data the ``in_distribution`` PSNR equals what
    :meth:`deepinv.Trainer.test` reports. Complex signals (a complex dtype, or deepinv's MRI physics
    with (real, imaginary) channels) are scored on the magnitude instead, with
    :class:`~deepinv_jitter.robustness.metrics.MagnitudePSNR` and
    :class:`~deepinv_jitter.robustness.metrics.MagnitudeSSIM`; :attr:`RobustnessReport.metrics`
    names the metrics used.

    The model runs in ``eval()`` mode (no jitter, no dropout) and is put back in its former mode
    afterwards. Every random draw (simulated measurement noise, OOD edit, random perturbations,
    attack start) is seeded from ``seed`` and the batch index inside :func:`torch.random.fork_rng`,
    so two calls give the same numbers and the caller's global random state is never moved.

    :param torch.nn.Module model: reconstructor called as ``model(y, physics)``.
    :param deepinv.physics.Physics physics: forward operator (with its noise model).
    :param data: test data: one batch (a tensor ``x`` of shape ``(B, C, ...)``, a tuple or a dict as
        above), a dataset (read in batches of 8) or a dataloader / iterable of such batches.
    :param float eps: attack budget (L2 norm of the perturbation of ``y``, per sample), ``>= 0``.
    :param Callable ood_edit: ``ood_edit(x, rng=g) -> x_edit``; ``None`` skips ``ood``.
    :param metrics: ``(psnr, ssim)``, metrics ``(x_hat, x) -> (B,)`` (default: deepinv's
        ``PSNR()`` and ``SSIM()``, their magnitude variants for complex signals, see above).
    :param Callable attack: the worst-case attack (default
        :func:`deepinv_jitter.robustness.pgd_attack`, same signature).
    :param bool relative: budget relative to each sample's ``||y||``.
    :param int attack_steps: PGD steps. Default 20.
    :param float, None attack_step_size: PGD step size (``None``: the attack's default).
    :param list[float] curve_eps: budgets for the PSNR curve (``None``: ``eps`` times 0, 1/4, 1/2,
        1, 2).
    :param int, None curve_batches: batches used for the curve (``None``, the default: every
        batch, so the curve's ``eps = 0`` point is the ``in_distribution`` PSNR;
        :attr:`RobustnessReport.curve_samples` says how many samples it averages).
    :param int gaussian_draws: random perturbations per sample in the average-case condition.
    :param int, None max_batches: evaluate at most this many batches.
    :param int seed: base seed of every random draw.
    :param str, torch.device device: where to run (default: the model's device).
    :param bool progress: show a tqdm progress bar.
    :return: a :class:`RobustnessReport`.
    :raises ValueError: no physics or data, a negative or non-finite ``eps`` or curve budget,
        ``attack_steps`` or ``gaussian_draws`` below 1, ``metrics`` not a pair, no test samples, a
        batch without ground truth ``x``; shapes that do not fit (``x`` of fewer than 3
        dimensions, ``x`` and ``y`` of different batch sizes, a given ``y`` that is not the shape
        of ``physics.A(x)``, a reconstruction, OOD edit or attack of another shape than its
        input, a metric that does not return one value per sample), or a physics, model or metric
        that fails on the data's shapes, each named with the shapes; a non-finite PSNR (a constant
        reference image with a range taken from it) or a non-finite reconstruction (the model's
        output holds NaN or infinity).

    >>> import deepinv as dinv
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    >>> identity = lambda y, physics: y
    >>> zero = lambda model, physics, x, y, eps, **kw: torch.zeros_like(y)
    >>> x = torch.rand(2, 1, 16, 16)
    >>> r = evaluate_robustness(identity, physics, x, eps=0.0, attack=zero, curve_eps=[0.0])
    >>> r.conditions["adversarial"]["psnr"] == r.conditions["in_distribution"]["psnr"]
    True
    >>> r.metrics, r.measurements
    (('PSNR', 'SSIM'), 'simulated')

    A dataset of ``(x, y)`` pairs: the given ``y`` is reconstructed, nothing is simulated.

    >>> y = x + 0.1
    >>> data = dinv.datasets.TensorDataset(x=x, y=y, use_dict_output=True)
    >>> r = evaluate_robustness(identity, physics, data, eps=0.0, attack=zero, curve_eps=[])
    >>> r.measurements, round(r.conditions["in_distribution"]["psnr"], 2)  # error 0.1, range 1
    ('given', 20.0)
    """
    if physics is None or data is None:
        raise ValueError("evaluate_robustness needs a physics and test data")
    eps = check_number(eps, "eps", low=0)
    if curve_eps is None:
        curve_eps = [eps * f for f in (0.0, 0.25, 0.5, 1.0, 2.0)]
    curve_eps = [check_number(e, "curve_eps", low=0) for e in curve_eps]
    check_number(attack_steps, "attack_steps", low=1, integer=True)
    check_number(gaussian_draws, "gaussian_draws", low=1, integer=True)
    if curve_batches is not None:
        check_number(curve_batches, "curve_batches", low=0, integer=True)
    if metrics is not None:
        metrics = tuple(metrics) if isinstance(metrics, (list, tuple)) else (metrics,)
        if len(metrics) != 2 or not all(callable(m) for m in metrics):
            raise ValueError(
                "metrics must be a pair (psnr, ssim) of callables (x_hat, x) -> (B,), "
                f"got {len(metrics)} item(s)"
            )
    if attack is None:
        from .attacks import pgd_attack as attack
    if device is None:
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)

    batches = _batches(data, max_batches)
    if any(batch.get("params") for batch in batches):
        # each batch's parameters update the physics: a copy, the caller's is left as it was
        physics = copy.deepcopy(physics)

    was_training = model.training if isinstance(model, torch.nn.Module) else False
    if isinstance(model, torch.nn.Module):
        model.eval()
    sums = {c: {"psnr": 0.0, "ssim": 0.0} for c in CONDITIONS}
    per_sample: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    draw_var_sum = 0.0  # sum over samples of the variance of the mean over draws
    curve_sum = [0.0] * len(curve_eps)
    curve_n = 0
    n = 0
    sources = set()  # "given" and / or "simulated" measurements
    examples: dict[str, dict[str, torch.Tensor]] = {}

    def recon(y, x_shape):
        try:
            with torch.no_grad():
                x_hat = model(y, physics)
        except (RuntimeError, ValueError, IndexError) as e:
            _reraise("model", f"y of shape {_shape(y)}", e)
        if not isinstance(x_hat, torch.Tensor) or x_hat.shape != x_shape:
            raise ValueError(
                f"model: the reconstruction of y of shape {_shape(y)} has shape "
                f"{_shape(x_hat)}, the reference x has shape {tuple(x_shape)}"
            )
        if not torch.isfinite(x_hat).all():
            raise ValueError("the model's reconstruction holds NaN or infinite values")
        return x_hat

    def measure(metric, x_hat, x_ref):
        try:
            v = metric(x_hat, x_ref)
        except (RuntimeError, ValueError, IndexError) as e:
            _reraise(
                f"metrics: {_metric_name(metric)}",
                f"x_hat and x of shape {_shape(x_ref)}",
                e,
            )
        if not isinstance(v, torch.Tensor) or v.numel() != x_ref.shape[0]:
            raise ValueError(
                f"metrics: {_metric_name(metric)} returned shape {_shape(v)} for a batch of "
                f"{x_ref.shape[0]}; expected one value per sample, shape ({x_ref.shape[0]},) "
                "(deepinv metrics do, with reduction=None)"
            )
        return v.flatten()

    def score(cond, x_hat, x_ref, p=None, s=None, p_example=None):
        p = measure(psnr, x_hat, x_ref) if p is None else p
        s = measure(ssim, x_hat, x_ref) if s is None else s
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
                "psnr": float(p.flatten()[0] if p_example is None else p_example),
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
        if not isinstance(delta, torch.Tensor) or delta.shape != y.shape:
            raise ValueError(
                f"attack: the perturbation has shape {_shape(delta)}, y has shape "
                f"{_shape(y)}"
            )
        return y + delta.detach()

    def average_case(x, y, b, per_sample_physics):
        gen = torch.Generator(device=device).manual_seed(seed + 7919 * b + 3)
        mask = measurement_mask(physics, y)
        deltas = [
            gaussian_perturbation(y, eps, relative=relative, mask=mask, rng=gen)
            for _ in range(gaussian_draws)
        ]
        # the draws' reconstructions in batches of about 64 samples (fewer, larger calls);
        # one draw a call where the physics has parameters of this batch's size
        per_call = 1 if per_sample_physics else max(1, 64 // y.shape[0])
        p_draws, s_draws, first = [], [], None
        for i in range(0, gaussian_draws, per_call):
            chunk = deltas[i : i + per_call]
            x_ref = torch.cat([x] * len(chunk))
            x_hat = recon(torch.cat([y + d for d in chunk]), x_ref.shape)
            first = x_hat[: x.shape[0]] if first is None else first
            p_draws += list(measure(psnr, x_hat, x_ref).split(x.shape[0]))
            s_draws += list(measure(ssim, x_hat, x_ref).split(x.shape[0]))
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
            float(p_draws[0, 0]),  # the PSNR of the example (first draw, first sample)
        )

    try:
        for b, batch in enumerate(
            tqdm(batches, desc="evaluate", disable=not progress, leave=False)
        ):
            x, y, params = _unpack(batch, b, device)
            if params:
                physics.update(**params)  # as deepinv's Trainer does
            if y is None:
                y = _measure(physics, x, seed + 7919 * b, params)
                sources.add("simulated")
            else:
                _check_given(physics, x, y, params, b)
                sources.add("given")
            if b == 0 and metrics is None:
                metrics = _default_metrics(physics, x)
            psnr, ssim = metrics
            x_clean = recon(y, x.shape)
            score("in_distribution", x_clean, x)
            if ood_edit is not None:
                # edits draw a few positions: on the CPU, so that one seed gives the same edit
                # on every device (and edits that expect a CPU generator work with CUDA data)
                gen = torch.Generator().manual_seed(seed + 7919 * b + 2)
                x_ood = ood_edit(x.cpu(), rng=gen)
                if not isinstance(x_ood, torch.Tensor) or x_ood.shape != x.shape:
                    raise ValueError(
                        f"ood_edit: the edited image has shape {_shape(x_ood)}, x has "
                        f"shape {_shape(x)}"
                    )
                x_ood = x_ood.to(device)
                y_ood = _measure(physics, x_ood, seed + 7919 * b, params)
                score("ood", recon(y_ood, x.shape), x_ood)
            x_hat, p, s, var, p_first = average_case(x, y, b, bool(params))
            score("gaussian", x_hat, x, p, s, p_first)
            draw_var_sum += var
            x_adv = recon(adversarial(x, y, eps, b), x.shape)
            score("adversarial", x_adv, x)
            if curve_batches is None or b < curve_batches:
                for i, e in enumerate(curve_eps):
                    # the budget of the adversarial condition and the zero budget were just
                    # computed (same seeds): reused, not attacked again
                    x_e = x_adv if e == eps else (x_clean if e == 0 else None)
                    if x_e is None:
                        x_e = recon(adversarial(x, y, e, b), x.shape)
                    curve_sum[i] += float(measure(psnr, x_e, x).double().sum())
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
        metrics=tuple(_metric_name(m) for m in metrics),
        measurements=sources.pop() if len(sources) == 1 else "mixed",
        curve_samples=curve_n,
    )


def _check_given(physics, x: torch.Tensor, y: torch.Tensor, params: dict, b: int):
    """A given ``y`` must have the shape of ``physics.A(x)``: else the data and the physics (or
    the order of ``x`` and ``y``) do not belong together."""
    try:
        with torch.no_grad():
            ax = physics.A(x, **params)
    except (RuntimeError, ValueError, IndexError) as e:
        _reraise("physics.A", f"x of shape {_shape(x)}", e)
    if isinstance(ax, torch.Tensor) and ax.shape != y.shape:
        raise ValueError(
            f"data: batch {b} gives y of shape {_shape(y)}, but physics.A(x) of x of shape "
            f"{_shape(x)} has shape {_shape(ax)}"
        )
