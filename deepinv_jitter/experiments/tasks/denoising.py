r"""The ``denoising`` task: the paper's toy problem, where the theory's claims can be checked
against an exact oracle.

Signals from a Gaussian model on a random :math:`k`-dimensional subspace of
:math:`\mathbb{R}^n` (:class:`deepinv_jitter.datasets.gaussian_subspace.GaussianSubspaceModel`, the subspace
drawn from the run's seed; :math:`n = 64`, :math:`k = 8` by default, shaped ``(1, 8, 8)``),
deepinv's ``Denoising`` physics with Gaussian noise (std 0.2: the noisy input has PSNR 13.98 dB,
the oracle 23.58 dB), trained on a few *fixed* noisy pairs (``online_measurements=False``: the
variance-limited regime the theory treats; with fresh noise every batch the training set
behaves as a much larger one). The network is an unrolled GD whose prior is a learned linear map
(``prior="linear"``, the case the theory treats exactly) or a small residual MLP
(``prior="mlp"``), with a fixed step. OOD: the subspace rotated part-way, every principal angle
``ood_angle`` (:math:`\pi/6`), the latent coordinates kept
(:class:`deepinv_jitter.datasets.gaussian_subspace.SubspaceShift`). PSNR uses the fixed peak 1 (four signal
standard deviations).

The oracle is the linear MMSE (Wiener) estimator, Bayes-optimal for a Gaussian model:
:meth:`Task.oracle` scores it on the same test set with the same metric and noise draws (the line
no method can cross in expectation), and gives its closed-form PSNR beside it. The ``paper``
preset: the paper's toy sizes are not known to us; it is the ``quick`` preset with a four times
larger test set.
"""

from __future__ import annotations

import math

import torch

from .base import TaskData, TaskSpec

DEFAULTS = dict(
    algorithm="gd",
    noise_sigma=0.2,
    attack_eps=0.8,
    attack_relative=False,
    jitter_sigma=0.8,  # the 0.3 dB rule over three seeds (results page); 0.1 before
    jitter_scale="absolute",
    input_sigma=0.2,
    learn_stepsize=False,
    online_measurements=False,
    img_size=(8, 8),
    max_iter=5,
    hidden=128,
    lr=1e-2,
    train_attack_steps=5,
    eval_attack_steps=10,
    threads=1,  # a 64 x 64 linear map: one thread beats two
    eval_batch_size=512,
)

PRESETS = {
    "smoke": dict(n_train=16, n_test=256, batch_size=16, epochs=200, gaussian_draws=8),
    "quick": dict(n_train=16, n_test=2048, batch_size=16, epochs=2000),
    "paper": dict(n_train=16, n_test=8192, batch_size=16, epochs=2000),
}

OPTIONS = dict(
    subspace_dim=8,
    decay=0.7,
    ood_angle=math.pi / 6,
    prior="linear",
    stepsize=0.5,
)


def signal_model(config):
    r"""The task's Gaussian signal model (the subspace drawn from the run's seed).

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :return: a :class:`~deepinv_jitter.datasets.gaussian_subspace.GaussianSubspaceModel`.
    :raises ValueError: a subspace dimension above the signal dimension.
    """
    from ...datasets.gaussian_subspace import GaussianSubspaceModel

    h, w = config.img_size
    return GaussianSubspaceModel(
        n=h * w,
        k=config.options["subspace_dim"],
        decay=config.options["decay"],
        shape=(1, h, w),
        seed=config.seed,
    )


def check_sizes(config) -> None:
    r"""Check the toy's sizes against its documented maxima, before anything is allocated.

    The signal dimension ``H * W`` (``img_size``) is at most
    :data:`~deepinv_jitter.datasets.gaussian_subspace.MAX_SIGNAL_DIM` (4096: the Wiener matrix and the linear
    prior are :math:`n \times n`), and ``n_train`` and ``n_test`` times ``H * W`` at most
    :data:`~deepinv_jitter.datasets.gaussian_subspace.MAX_DATASET_VALUES` (:math:`2^{26}`: 1,048,576 signals
    of 8 x 8; the fixed training pairs are held in memory).

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :raises ValueError: naming the setting, its maximum and the value.
    """
    from ...datasets.gaussian_subspace import MAX_DATASET_VALUES, MAX_SIGNAL_DIM

    h, w = config.img_size
    if h * w > MAX_SIGNAL_DIM:
        raise ValueError(
            f"img_size must hold at most {MAX_SIGNAL_DIM} values (H x W) for the denoising "
            f"toy, got {tuple(config.img_size)} ({h * w})"
        )
    for key in ("n_train", "n_test"):
        value = getattr(config, key)
        if value * h * w > MAX_DATASET_VALUES:
            raise ValueError(
                f"{key} must be at most {MAX_DATASET_VALUES // (h * w)} for the denoising toy "
                f"at img_size {h}x{w} ({key} x H x W <= 2**26 values), got {value}"
            )


def build_data(config) -> TaskData:
    r"""Physics, training and test signals, and the subspace-rotation OOD edit.

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :return: a :class:`~deepinv_jitter.experiments.tasks.TaskData`.
    :raises ValueError: real data asked for (this task is synthetic only), or sizes above the
        maxima of :func:`check_sizes`.
    """
    import deepinv as dinv

    from ...datasets.toy import ToySignalDataset

    check_sizes(config)
    if config.data_root is not None:
        raise ValueError("the denoising task is synthetic: it takes no --data-root")
    if config.options["prior"] not in ("linear", "mlp"):
        raise ValueError(
            f"prior must be 'linear' or 'mlp', got {config.options['prior']!r}"
        )
    model = signal_model(config)
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(config.noise_sigma))
    physics = physics.to(config.device)
    train = ToySignalDataset(model, config.n_train, seed=config.seed)
    test = ToySignalDataset(model, config.n_test, seed=config.seed + 10_000)
    edit = model.shift_edit(config.options["ood_angle"])
    h, w = config.img_size
    description = (
        f"Gaussian signals on a random {model.k}-dim subspace of R^{h * w} "
        f"(decay {config.options['decay']:g}, seed {config.seed})"
    )
    return TaskData(physics, train, test, edit, description)


def build_model(config, physics) -> torch.nn.Module:
    r"""Unrolled GD with a learned linear (or small MLP) prior and a fixed step.

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :param deepinv.physics.Physics physics: the task's physics.
    :return: the network.
    :raises ValueError: an unknown prior.
    """
    from ...models import build_unrolled
    from ...models.linear import LinearDenoiser, MLPDenoiser

    h, w = config.img_size
    prior = config.options["prior"]
    if prior == "linear":
        denoiser = LinearDenoiser(h * w)
    elif prior == "mlp":
        denoiser = MLPDenoiser(h * w, hidden=config.hidden)
    else:
        raise ValueError(f"prior must be 'linear' or 'mlp', got {prior!r}")
    return build_unrolled(
        physics,
        prior=denoiser,
        algorithm=config.algorithm,
        max_iter=config.max_iter,
        stepsize=config.options["stepsize"],
        learn_stepsize=config.learn_stepsize,
    )


def metrics(config):
    r"""PSNR and SSIM with the fixed range of the signal model (peak 1).

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :return: ``(psnr, ssim)``.
    """
    return signal_model(config).metrics()


def oracle(task) -> dict:
    r"""The Wiener filter's PSNR: measured on the task's test set with the task's metric and
    noise draws (``psnr``), and in closed form (``psnr_closed_form``, the PSNR of the expected
    error), for the clean, average-case and OOD conditions.

    For OOD data the Bayes estimator is the shifted model's own Wiener filter.

    :param deepinv_jitter.experiments.tasks.Task task: the task.
    :return: ``{"in_distribution": {...}, "gaussian": {...}, "ood": {...}}``.
    """
    from ...datasets.gaussian_subspace import MMSEReconstructor
    from ...robustness.evaluate import evaluate_robustness

    model = signal_model(task.config)
    s = task.config.noise_sigma
    closed = model.oracle_conditions(
        s, task.config.attack_eps, task.option("ood_angle")
    )

    def no_attack(net, physics, x, y, eps, **kw):
        return torch.zeros_like(y)

    def measured(reconstructor, draws):
        return evaluate_robustness(
            reconstructor.to(task.device),
            task.physics,
            task.test_loader(),
            eps=task.config.attack_eps,
            ood_edit=task.ood_edit,
            metrics=task.metrics(),
            attack=no_attack,
            curve_eps=[],
            gaussian_draws=draws,
            seed=task.seed,
        ).conditions

    clean = measured(MMSEReconstructor(model, s), task.config.gaussian_draws)
    # only its "ood" condition is read: no average-case draws
    shifted = measured(MMSEReconstructor(task.ood_edit.shifted, s), 1)
    out = {}
    for cond, source in (
        ("in_distribution", clean),
        ("gaussian", clean),
        ("ood", shifted),
    ):
        out[cond] = {
            "psnr": source[cond]["psnr"],
            "psnr_closed_form": closed[cond]["psnr"],
        }
    return out


SPEC = TaskSpec(
    name="denoising",
    summary="denoising toy: Gaussian signals on a random subspace, exact Wiener oracle",
    defaults=DEFAULTS,
    presets=PRESETS,
    build_data=build_data,
    build_model=build_model,
    metrics=metrics,
    options=OPTIONS,
    oracle=oracle,
    # priors on flattened signals: no conv layers to lay out or compile, no depth setting, no
    # x_0 conditioning
    unused=frozenset({"depth", "condition_on_y", "compile_prior", "channels_last"}),
)
