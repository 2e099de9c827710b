r"""Choosing the jitter level :math:`\sigma` for your own model: :func:`select_sigma`.

The rule is the one ``deepinv-jitter sweep --max-id-loss`` applies to the package's tasks
(:func:`recommend_sigma`): train the ``mse`` reference and ``sgd_jitter`` at each candidate
:math:`\sigma`, once per seed, on the same data and budget; measure each model in distribution and
under an L2 attack of budget :math:`\epsilon`; among the :math:`\sigma` whose in-distribution loss
against ``mse`` (paired seed by seed, judged by the upper end of its 95% interval) stays within an
accuracy budget, recommend the one with the highest adversarial PSNR. Everything here is built from
your own trainer factory, so it works on any deepinv physics, model and data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._checks import check_number
from .statistics import mean_interval, paired_difference

__all__ = ["select_sigma", "recommend_sigma"]


def recommend_sigma(points: list[dict], max_id_loss: float) -> dict:
    r"""The jitter level to use for an accuracy budget: among the ``sgd_jitter`` points whose
    in-distribution loss against ``mse`` stays within ``max_id_loss`` dB, the one with the highest
    adversarial PSNR.

    The loss is judged by the upper end of its 95% interval over seeds (conservative); with one
    seed, by the point value.

    :param list[dict] points: sweep points, each ``{"mode", "sigma", "results"}``, with a
        ``"paired_vs_mse"`` entry ``{"in_distribution": {"mean", "ci95"}}`` for ``sgd_jitter``.
    :param float max_id_loss: the accuracy budget in dB (``>= 0``).
    :return: ``{"sigma": float or None, "reason": str}``.
    :raises ValueError: a negative or non-finite ``max_id_loss``.

    >>> pts = [
    ...     {"mode": "sgd_jitter", "sigma": 0.1, "results": {"adversarial": {"psnr": 20.0}},
    ...      "paired_vs_mse": {"in_distribution": {"mean": -0.1, "ci95": [-0.2, 0.0]}}},
    ...     {"mode": "sgd_jitter", "sigma": 0.2, "results": {"adversarial": {"psnr": 21.0}},
    ...      "paired_vs_mse": {"in_distribution": {"mean": -0.3, "ci95": [-0.5, -0.1]}}},
    ... ]
    >>> recommend_sigma(pts, 0.3)["sigma"]
    0.1
    """
    check_number(max_id_loss, "max_id_loss", low=0)
    within, judged = [], []
    for p in points:
        if p.get("mode") != "sgd_jitter" or p.get("sigma") is None:
            continue
        diff = p.get("paired_vs_mse", {}).get("in_distribution")
        if diff is None:
            continue
        worst = -(diff["ci95"][0] if diff.get("ci95") else diff["mean"])
        judged.append((p["sigma"], worst))
        if worst <= max_id_loss:
            within.append(p)
    if not judged:
        return {
            "sigma": None,
            "reason": "no sgd_jitter point has a paired mse reference",
        }
    basis = (
        "upper end of the 95% interval"
        if any(
            p.get("paired_vs_mse", {}).get("in_distribution", {}).get("ci95")
            for p in points
        )
        else "one seed: the point value, no interval"
    )
    losses = ", ".join(f"sigma {s:g}: {w:.2f} dB" for s, w in judged)
    if not within:
        return {
            "sigma": None,
            "reason": f"no sigma keeps the in-distribution loss to mse within "
            f"{max_id_loss:g} dB ({basis}; {losses})",
        }
    best = max(within, key=lambda p: p["results"]["adversarial"]["psnr"])
    return {
        "sigma": float(best["sigma"]),
        "reason": f"highest adversarial PSNR ({best['results']['adversarial']['psnr']:.2f} dB) "
        f"among the sigmas whose in-distribution loss to mse is within {max_id_loss:g} dB "
        f"({basis}; {losses})",
    }


def _summary(values: list[float]) -> dict:
    r = mean_interval(values)
    out = {"psnr": r["mean"], "psnr_per_seed": list(values)}
    if len(values) > 1:
        out |= {"psnr_std": r["std"], "psnr_ci95": r["ci95"]}
    return out


def select_sigma(
    make_trainer: Callable,
    sigmas: Sequence[float],
    eval_data,
    seeds: Sequence[int] = (0, 1, 2),
    max_id_loss: float = 0.3,
    *,
    eps: float,
    physics=None,
    evaluate_kwargs: dict | None = None,
    log: Callable = print,
) -> dict:
    r"""Choose the SGD-jittering level :math:`\sigma` for your own model and data.

    For each seed, trains the reference (``make_trainer("mse", None, seed)``) and ``sgd_jitter`` at
    each :math:`\sigma` (``make_trainer("sgd_jitter", sigma, seed)``), evaluates every trained
    model on ``eval_data`` with :func:`deepinv_jitter.robustness.evaluate_robustness` (in
    distribution, under random perturbations and under an L2 PGD attack of budget ``eps``), and
    applies the rule of :func:`recommend_sigma` to the paired differences against ``mse``: the
    :math:`\sigma` with the highest adversarial PSNR among those whose in-distribution loss (the
    upper end of its 95% interval over seeds) is at most ``max_id_loss`` dB.

    :param Callable make_trainer: ``make_trainer(mode, sigma, seed) -> JitterTrainer``: a trainer
        with ``training_mode=mode`` (and ``jitter_sigma=sigma`` for ``"sgd_jitter"``) whose model,
        data order and noise are seeded by ``seed``; everything else (physics, model, data,
        budget) is yours and must not depend on ``mode`` or ``sigma``.
    :param list[float] sigmas: candidate levels (positive, distinct).
    :param eval_data: the evaluation data, in any format deepinv's ``Trainer`` accepts (a
        dataset or dataloader of ``x``, ``(x, y)``, dicts).
    :param list[int] seeds: seeds (three or more give 95% intervals). Default ``(0, 1, 2)``.
    :param float max_id_loss: the accuracy budget in dB. Default 0.3.
    :param float eps: the attack budget (L2 norm of the perturbation of ``y``).
    :param deepinv.physics.Physics physics: the evaluation physics (default: the trainer's).
    :param dict evaluate_kwargs: more arguments of ``evaluate_robustness`` (``metrics``,
        ``attack_steps``, ``ood_edit``, ``gaussian_draws``, ...).
    :param Callable log: where one line per trained model goes (``None``: silent).
    :return: ``{"recommended": {"sigma", "reason"}, "points": [...], "seeds", "max_id_loss",
        "eps"}``: one point per mode and :math:`\sigma` with ``results[condition]`` (mean ``psnr``,
        ``psnr_per_seed``, ``psnr_ci95``) and, for ``sgd_jitter``, ``paired_vs_mse[condition]``
        (``mean``, ``ci95``), as in ``tradeoff.json``.
    :raises ValueError: no or repeated sigmas, a non-positive sigma, repeated seeds, a bad
        ``max_id_loss`` or ``eps``; ``make_trainer`` returning something else than a trainer of
        the asked mode.
    """
    from .robustness.evaluate import evaluate_robustness
    from .training.trainer import JitterTrainer

    sigmas = [check_number(s, "sigma", low=0, strict=True) for s in sigmas]
    if not sigmas or len({f"{s:g}" for s in sigmas}) != len(sigmas):
        raise ValueError(
            f"sigmas must be one or more distinct positive numbers, got {sigmas}"
        )
    seeds = [check_number(s, "seed", low=0, integer=True) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"seeds must be one or more distinct integers >= 0, got {seeds}"
        )
    check_number(max_id_loss, "max_id_loss", low=0)
    check_number(eps, "eps", low=0, strict=True)
    log = log or (lambda *a: None)
    runs = [("mse", None)] + [("sgd_jitter", s) for s in sigmas]
    per: dict = {run: {} for run in runs}
    for seed in seeds:
        for mode, sigma in runs:
            trainer = make_trainer(mode, sigma, seed)
            if not isinstance(trainer, JitterTrainer):
                raise ValueError(
                    f"make_trainer({mode!r}, {sigma}, {seed}) must return a JitterTrainer, "
                    f"got {type(trainer).__name__}"
                )
            if trainer.training_mode != mode or (
                sigma is not None and trainer.jitter_sigma != sigma
            ):
                raise ValueError(
                    f"make_trainer({mode!r}, {sigma}, {seed}) returned a trainer of mode "
                    f"{trainer.training_mode!r} with jitter_sigma {trainer.jitter_sigma}"
                )
            model = trainer.train()
            phys = physics if physics is not None else trainer.physics
            if isinstance(phys, (list, tuple)):  # deepinv's Trainer keeps a list
                phys = phys[0]
            report = evaluate_robustness(
                model,
                phys,
                eval_data,
                eps=eps,
                seed=seed,
                **(evaluate_kwargs or {}),
            )
            per[(mode, sigma)][seed] = {
                c: v["psnr"] for c, v in report.conditions.items()
            }
            label = mode if sigma is None else f"sigma={sigma:g}"
            log(
                f"{label:>12s} s{seed} | "
                + " | ".join(
                    f"{c} {v:.2f} dB" for c, v in per[(mode, sigma)][seed].items()
                )
            )
    conds = list(per[("mse", None)][seeds[0]])
    points = []
    for mode, sigma in runs:
        p = {
            "label": mode if sigma is None else f"sgd_jitter sigma={sigma:g}",
            "mode": mode,
            "sigma": sigma,
            "results": {
                c: _summary([per[(mode, sigma)][s][c] for s in seeds]) for c in conds
            },
        }
        if mode != "mse":
            p["paired_vs_mse"] = {
                c: paired_difference(
                    [per[(mode, sigma)][s][c] for s in seeds],
                    [per[("mse", None)][s][c] for s in seeds],
                )
                for c in conds
            }
        points.append(p)
    return {
        "recommended": recommend_sigma(points, max_id_loss),
        "points": points,
        "seeds": seeds,
        "max_id_loss": float(max_id_loss),
        "eps": float(eps),
    }
