r"""Training perturbations: small objects that :class:`~deepinv_jitter.JitterTrainer` composes.

Each perturbation does one thing to a training batch and owns its settings (checked at
construction), its random generator (saved in checkpoints, so a resumed run is exact) and its entry
in a run's identity (:meth:`TrainingPerturbation.identity`):

- :class:`IterateJitter` (training mode ``"sgd_jitter"``): Gaussian noise in every unrolled
  iteration (:func:`deepinv_jitter.jitterize`); its one method, :meth:`~IterateJitter.prepare`,
  attaches the noise hook to the model.
- :class:`MeasurementNoise` (``"input_jitter"``, Krainovic et al., 2023): its one method,
  :meth:`~MeasurementNoise.perturb`, returns :math:`y + \sigma_{in} n`.
- :class:`MeasurementAttack` (``"adversarial"``, Madry et al., 2018): :meth:`~MeasurementAttack.perturb`
  returns :math:`y + \delta`, :math:`\delta` an L2 PGD attack on the measurement
  (:func:`deepinv_jitter.robustness.pgd_attack`). This is adversarial *training of a reconstructor
  against measurement perturbations*, not deepinv's GAN ``AdversarialTrainer``.

A training mode is a ``+``-joined set of the perturbing modes, e.g. ``"sgd_jitter+input_jitter"``;
``"mse"`` is the empty set. :func:`parse_training_mode` gives a mode's canonical name (parts in the
order of :data:`PERTURBING_MODES`, which is also the order in which measurement perturbations are
applied: input noise first, then the attack on the noisy measurement); :func:`perturbations_for_mode`
is the one mapping from a mode name and the trainer's fields to perturbation objects.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_number, check_rng
from ..optim.jitter import SCALES, jitterize
from ..robustness.attacks import MAX_BUDGET, pgd_attack

__all__ = [
    "TRAINING_MODES",
    "PERTURBING_MODES",
    "TrainingPerturbation",
    "IterateJitter",
    "MeasurementNoise",
    "MeasurementAttack",
    "parse_training_mode",
    "perturbations_for_mode",
    "mode_name",
    "derive_seed",
]

#: The single training modes, in the order tables list them.
TRAINING_MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")
#: The modes that perturb training (each one perturbation), in canonical order.
PERTURBING_MODES = ("sgd_jitter", "input_jitter", "adversarial")


class TrainingPerturbation:
    r"""Base class of the training perturbations.

    A subclass sets :attr:`name` (its training-mode name) and overrides one of :meth:`prepare`
    (change the model once, before training) or :meth:`perturb` (change a training batch's
    measurement). :attr:`iterate` says whether training forward passes run with the model's
    iterate noise on.

    :param torch.Generator rng: generator of the perturbation's random draws (``None``: torch's
        global generator). The trainer reseeds it from its ``jitter_seed`` when one is given.
    :raises TypeError: ``rng`` that is not a :class:`torch.Generator`.
    """

    #: the training-mode name of this perturbation
    name: str = ""
    #: whether training forward passes run with the model's iterate noise on
    iterate: bool = False
    #: whether it draws random numbers (the trainer then seeds its generator)
    draws: bool = False

    def __init__(self, rng: torch.Generator | None = None):
        self.rng = check_rng(rng, type(self).__name__)

    def settings(self) -> dict:
        r"""The perturbation's settings as plain values.

        :return: a dict.
        """
        return {}

    def identity(self) -> dict:
        r"""What identifies this perturbation in a run: its mode name and settings.

        :return: ``{"mode": name, **settings}``.
        """
        return {"mode": self.name, **self.settings()}

    def prepare(self, model: torch.nn.Module) -> None:
        r"""Change ``model`` before training (default: nothing).

        :param torch.nn.Module model: the model being trained.
        """

    def perturb(self, x, y, physics, model):
        r"""The measurement a training batch is trained on (default: ``y`` unchanged).

        :param torch.Tensor, None x: ground truth.
        :param torch.Tensor y: the measurement (possibly already perturbed by an earlier
            perturbation).
        :param deepinv.physics.Physics physics: the batch's physics.
        :param torch.nn.Module model: the reconstructor (unwrapped from data-parallel wrappers).
        :return: (:class:`torch.Tensor`) the measurement to train on.
        """
        return y

    def get_rng_state(self) -> torch.Tensor | None:
        r"""The generator's state (``None`` without a generator of its own).

        :return: a byte tensor or ``None``.
        """
        return None if self.rng is None else self.rng.get_state()

    def set_rng_state(self, state) -> None:
        r"""Restore the generator's state saved by :meth:`get_rng_state` (ignored if either is ``None``).

        :param torch.Tensor, None state: the state.
        """
        if self.rng is not None and state is not None:
            self.rng.set_state(state.cpu())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


class IterateJitter(TrainingPerturbation):
    r"""SGD jittering: fresh Gaussian noise in every unrolled iteration of training forward passes.

    .. math::

        u_k \leftarrow u_k - e_k,\qquad e_k \text{ of std } \sigma\max|u_k| \text{ (scale ``"iterate"``)}

    after the data-fidelity step of each iteration (see :mod:`deepinv_jitter.optim.jitter` for the
    place in each algorithm and the scale rules). Needs a deepinv unfolded model of a supported
    algorithm (GD, PGD, FISTA, HQS, DRS, ADMM, PDCP; DEQ too).

    :param float sigma: noise level :math:`\sigma \geq 0`. Default 0.1.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"``.
    :param torch.Generator rng: generator of the noise.
    :raises ValueError: a negative or non-finite ``sigma`` or an unknown ``scale``, naming them.

    >>> import deepinv as dinv
    >>> p = IterateJitter(0.1)
    >>> model = dinv.optim.ADMM(dinv.optim.L2(), unfold=True, max_iter=2, g_param=0.0)
    >>> p.prepare(model)
    >>> p, model.fixed_point.iterator.iterate_noise.sigma
    (IterateJitter(sigma=0.1, scale='iterate'), 0.1)
    """

    name = "sgd_jitter"
    iterate = True
    draws = True

    def __init__(
        self,
        sigma: float = 0.1,
        scale: str = "iterate",
        rng: torch.Generator | None = None,
    ):
        super().__init__(rng)
        self.sigma = check_number(sigma, "jitter_sigma", low=0)
        if scale not in SCALES:
            raise ValueError(f"jitter_scale must be one of {SCALES}, got {scale!r}")
        self.scale = scale

    def settings(self) -> dict:
        r"""``{"sigma", "scale"}``.

        :return: a dict.
        """
        return {"sigma": self.sigma, "scale": self.scale}

    def prepare(self, model: torch.nn.Module) -> None:
        r"""Attach the noise hook to ``model`` with this perturbation's level, rule and generator.

        :param torch.nn.Module model: the model being trained.
        :raises TypeError: ``model`` contains no supported deepinv algorithm (naming those).
        """
        try:
            jitterize(model, sigma=self.sigma, scale=self.scale, rng=self.rng)
        except TypeError as e:
            raise TypeError(
                "training mode 'sgd_jitter' needs a deepinv unfolded model "
                f"(e.g. deepinv.optim.PGD(..., unfold=True)): {e}; use 'mse', 'input_jitter' "
                "or 'adversarial' for other reconstructors"
            ) from e


class MeasurementNoise(TrainingPerturbation):
    r"""Input jittering: training measurements become :math:`y + \sigma_{in} n`,
    :math:`n \sim \mathcal{N}(0, I)`, fresh for every batch.

    :param float sigma: noise std :math:`\sigma_{in} \geq 0`. Default 0.05.
    :param torch.Generator rng: generator of the noise.
    :raises ValueError: a negative or non-finite ``sigma``, naming it.

    >>> import torch
    >>> p = MeasurementNoise(0.1, rng=torch.Generator().manual_seed(0))
    >>> y = torch.zeros(2, 1, 8, 8)
    >>> round(float(p.perturb(None, y, None, None).std()), 1)
    0.1
    """

    name = "input_jitter"
    draws = True

    def __init__(self, sigma: float = 0.05, rng: torch.Generator | None = None):
        super().__init__(rng)
        self.sigma = check_number(sigma, "input_sigma", low=0)

    def settings(self) -> dict:
        r"""``{"sigma"}``.

        :return: a dict.
        """
        return {"sigma": self.sigma}

    def perturb(self, x, y, physics, model):
        r""":math:`y + \sigma_{in} n`.

        :param torch.Tensor, None x: ground truth (unused).
        :param torch.Tensor y: measurement.
        :param deepinv.physics.Physics physics: physics (unused).
        :param torch.nn.Module model: reconstructor (unused).
        :return: (:class:`torch.Tensor`) the noisy measurement.
        """
        if self.sigma == 0:
            return y
        dev = self.rng.device if self.rng is not None else y.device
        n = torch.randn(y.shape, generator=self.rng, device=dev, dtype=y.dtype)
        return y + self.sigma * n.to(y.device)


class MeasurementAttack(TrainingPerturbation):
    r"""Adversarial training: training measurements become :math:`y + \delta`, with
    :math:`\delta` an L2 PGD attack in measurement space on the current model
    (:func:`deepinv_jitter.robustness.pgd_attack`; the model is attacked in eval mode, so without
    iterate noise). Not deepinv's GAN ``AdversarialTrainer``.

    :param float eps: L2 budget :math:`> 0` per sample. Default 1.0.
    :param int steps: PGD steps :math:`\geq 1`. Default 20.
    :param float, None step_size: step as a fraction of the budget, :math:`> 0` (``None``: Madry's
        ``2.5 / steps``).
    :param bool relative: budget ``eps * ||y||`` per sample. Default ``False``.
    :raises ValueError: a bad value, naming the setting.

    >>> MeasurementAttack(0.5, steps=5).effective_step_size
    0.5
    """

    name = "adversarial"

    def __init__(
        self,
        eps: float = 1.0,
        steps: int = 20,
        step_size: float | None = None,
        relative: bool = False,
    ):
        super().__init__(None)
        self.eps = check_number(eps, "attack_eps", low=0, strict=True, high=MAX_BUDGET)
        self.steps = check_number(steps, "attack_steps", low=1, integer=True)
        if step_size is not None:
            step_size = check_number(step_size, "attack_step_size", low=0, strict=True)
        self.step_size = step_size
        if not isinstance(relative, bool):
            raise ValueError(f"attack_relative must be True or False, got {relative!r}")
        self.relative = relative

    @property
    def effective_step_size(self) -> float:
        r"""The PGD step: ``step_size``, or ``2.5 / steps``."""
        return 2.5 / self.steps if self.step_size is None else float(self.step_size)

    def settings(self) -> dict:
        r"""``{"eps", "steps", "step_size", "relative"}``.

        :return: a dict.
        """
        return {
            "eps": self.eps,
            "steps": self.steps,
            "step_size": self.step_size,
            "relative": self.relative,
        }

    def perturb(self, x, y, physics, model):
        r""":math:`y + \delta`, :math:`\delta` the PGD attack on ``model`` at ``(x, y)``.

        :param torch.Tensor x: ground truth (required).
        :param torch.Tensor y: measurement.
        :param deepinv.physics.Physics physics: physics.
        :param torch.nn.Module model: the reconstructor to attack.
        :return: (:class:`torch.Tensor`) the attacked measurement.
        :raises ValueError: without ground truth ``x``.
        """
        if x is None:
            raise ValueError(
                "training mode 'adversarial' needs ground truth x in each batch"
            )
        delta = pgd_attack(
            model,
            physics,
            x,
            y,
            eps=self.eps,
            steps=self.steps,
            step_size=self.effective_step_size,
            relative=self.relative,
        )
        return y + delta


def parse_training_mode(mode: str) -> tuple[str, ...]:
    r"""The perturbing modes a training mode is made of, in canonical order.

    ``"mse"`` is ``()``; ``"sgd_jitter"`` is ``("sgd_jitter",)``; a ``+``-joined set such as
    ``"input_jitter+sgd_jitter"`` is ``("sgd_jitter", "input_jitter")``.

    :param str mode: the mode's name.
    :return: tuple of names from :data:`PERTURBING_MODES`.
    :raises ValueError: an unknown or repeated part, ``"mse"`` combined with others, or an empty
        name, naming the allowed modes.

    >>> parse_training_mode("input_jitter+sgd_jitter"), parse_training_mode("mse")
    (('sgd_jitter', 'input_jitter'), ())
    """
    allowed = (
        f"{', '.join(TRAINING_MODES)}, or a '+'-joined set of "
        f"{', '.join(PERTURBING_MODES)} (e.g. sgd_jitter+input_jitter)"
    )
    if not isinstance(mode, str) or not mode.strip():
        raise ValueError(f"training_mode must be one of {allowed}; got {mode!r}")
    if mode.strip() == "mse":
        return ()
    parts = [p.strip() for p in mode.split("+")]
    bad = [p for p in parts if p not in PERTURBING_MODES]
    if bad:
        raise ValueError(
            f"unknown training_mode {mode!r} ({', '.join(map(repr, bad))}); "
            f"choose {allowed}"
        )
    if len(set(parts)) != len(parts):
        raise ValueError(f"training_mode {mode!r} repeats a part")
    return tuple(p for p in PERTURBING_MODES if p in parts)


def mode_name(parts) -> str:
    r"""The canonical name of a set of perturbations (``"mse"`` for none): the perturbing modes in
    the order of :data:`PERTURBING_MODES`, then any other (user-defined) names in the given order,
    joined by ``+``.

    :param parts: perturbation names.
    :return: the name.

    >>> mode_name(["input_jitter", "sgd_jitter"]), mode_name([])
    ('sgd_jitter+input_jitter', 'mse')
    """
    parts = list(parts)
    known = [p for p in PERTURBING_MODES if p in parts]
    return "+".join(known + [p for p in parts if p not in PERTURBING_MODES]) or "mse"


def perturbations_for_mode(
    mode: str,
    *,
    jitter_sigma: float = 0.1,
    jitter_scale: str = "iterate",
    input_sigma: float = 0.05,
    attack_eps: float = 1.0,
    attack_steps: int = 20,
    attack_step_size: float | None = None,
    attack_relative: bool = False,
) -> list[TrainingPerturbation]:
    r"""The perturbations of a training mode, built from :class:`~deepinv_jitter.JitterTrainer`'s
    fields: the one mapping from mode names to objects.

    :param str mode: a training mode (see :func:`parse_training_mode`).
    :return: the perturbations, in canonical order.
    :raises ValueError: an unknown mode or a bad value of a field it uses.

    >>> perturbations_for_mode("sgd_jitter+adversarial", attack_eps=0.5)
    [IterateJitter(sigma=0.1, scale='iterate'), MeasurementAttack(eps=0.5, steps=20, step_size=None, relative=False)]
    """
    build = {
        "sgd_jitter": lambda: IterateJitter(jitter_sigma, jitter_scale),
        "input_jitter": lambda: MeasurementNoise(input_sigma),
        "adversarial": lambda: MeasurementAttack(
            attack_eps, attack_steps, attack_step_size, attack_relative
        ),
    }
    return [build[part]() for part in parse_training_mode(mode)]


def derive_seed(seed: int, index: int) -> int:
    r"""The seed of the ``index``-th perturbation of a trainer seeded ``seed``: ``seed`` itself for
    the first (so a single-perturbation mode draws exactly the stream it always drew), an
    independent stream from :class:`numpy.random.SeedSequence` for the others.

    :param int seed: the trainer's seed.
    :param int index: the perturbation's position.
    :return: a seed in ``[0, 2**63)``.

    >>> derive_seed(7, 0), derive_seed(7, 1) != derive_seed(7, 2)
    (7, True)
    """
    if index == 0:
        return int(seed)
    words = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1])) % (2**63)
