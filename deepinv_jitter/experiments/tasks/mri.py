r"""The ``mri`` task: 4x single-coil Cartesian MRI.

Physics :func:`deepinv_jitter.physics.mri.single_coil_mri`; the embedded real anatomy
(:class:`deepinv_jitter.datasets.EmbeddedMRIDataset`), or fastMRI single-coil files
(``data_root``); OOD edit: a small bright lesion (:func:`deepinv_jitter.robustness.add_lesion`);
network: unrolled GD with the DnCNN prior on (real, imaginary) channels; metrics: PSNR and SSIM on
the magnitude with range ``max |x|`` (the paper's MRI metrics). How the defaults were chosen is on
the results page of the documentation.
"""

from __future__ import annotations

import torch

from .base import TaskData, TaskSpec, refuse_unused_options
from .seismic import split_train_test

DEFAULTS = dict(
    algorithm="gd",
    noise_sigma=0.01,
    attack_eps=1.4,
    attack_relative=False,
    jitter_sigma=0.04,
    jitter_scale="iterate",
    input_sigma=0.05,
)

# Sizes: img_size = (H, W).
PRESETS = {
    "smoke": dict(
        img_size=(64, 64),
        n_train=16,
        n_test=4,
        batch_size=4,
        epochs=2,
        max_iter=3,
        hidden=8,
        lr=2e-3,
        train_attack_steps=2,
        eval_attack_steps=3,
        gaussian_draws=4,
    ),
    "quick": dict(
        img_size=(96, 96),
        n_train=64,
        n_test=64,  # every embedded test slice (evaluation is cheap next to training)
        batch_size=8,
        epochs=12,
        max_iter=5,
        hidden=16,
        lr=2e-3,
        train_attack_steps=2,
        eval_attack_steps=10,
        # 64 x 8 = 512 random perturbations a model, as 16 x 32 gave: the Monte-Carlo error of
        # the average case (about 0.004 dB) stays far below the test-set sampling error
        gaussian_draws=8,
    ),
    "paper": dict(
        img_size=(320, 320),
        n_train=800,
        n_test=64,
        batch_size=4,
        epochs=50,
        max_iter=5,
        hidden=64,
        lr=1e-3,
        train_attack_steps=10,
        eval_attack_steps=20,
    ),
}


#: Task options read by :class:`~deepinv_jitter.datasets.FastMRISingleCoilDataset`
#: (``--set KEY=VALUE``), with their defaults; every setting a fastMRI error message suggests is
#: one of them. They need fastMRI files (``data_root``): set on the embedded images they are
#: refused.
OPTIONS = dict(
    crop_size=(320, 320),  # centre crop in the image domain, then resized to img_size
    allow_padding=False,  # accept k-space smaller than crop_size (zero-padded)
)


def build_data(config) -> TaskData:
    r"""Physics, training and test slices, OOD edit.

    With ``data_root``, the slices of the fastMRI files, read with the task options
    :data:`OPTIONS`; without it, the embedded anatomy (and those options must keep their
    defaults).

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :return: a :class:`~deepinv_jitter.experiments.tasks.TaskData`.
    :raises ValueError: a bad image size (see
        :func:`~deepinv_jitter.physics.mri.single_coil_mri`), a bad fastMRI folder (see
        :class:`~deepinv_jitter.datasets.FastMRISingleCoilDataset`), or a fastMRI option set
        without ``data_root``.
    """
    from ...physics.mri import single_coil_mri
    from ...robustness.shifts import add_lesion

    img_size = tuple(config.img_size)
    physics = single_coil_mri(
        img_size=img_size,
        noise_sigma=config.noise_sigma,
        seed=config.seed,
        device=config.device,
    )
    if config.data_root is not None:
        from ...datasets.mri import FastMRISingleCoilDataset

        full = FastMRISingleCoilDataset(
            config.data_root,
            img_size=img_size,
            **{key: config.options[key] for key in OPTIONS},
        )
        train, test = split_train_test(
            full, config.n_train, config.n_test, f"fastMRI folder {config.data_root}"
        )
        description = f"fastmri:{config.data_root}"
    else:
        from ...datasets.mri import EmbeddedMRIDataset

        refuse_unused_options(config, OPTIONS, "fastMRI data")

        train = EmbeddedMRIDataset(split="train", img_size=img_size)
        test = EmbeddedMRIDataset(split="test", img_size=img_size)
        if len(train) > config.n_train:
            train = torch.utils.data.Subset(train, range(config.n_train))
        if len(test) > config.n_test:
            step = len(test) / config.n_test
            test = torch.utils.data.Subset(
                test, [int(i * step) for i in range(config.n_test)]
            )
        description = f"embedded anatomy {img_size[0]}x{img_size[1]}"
    return TaskData(physics, train, test, add_lesion, description)


def build_model(config, physics) -> torch.nn.Module:
    r"""Unrolled GD (or PGD) with the DnCNN prior on two channels.

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :param deepinv.physics.Physics physics: the task's physics.
    :return: the network.
    """
    from ...models import build_unrolled

    return build_unrolled(
        physics,
        prior="dncnn",
        algorithm=config.algorithm,
        max_iter=config.max_iter,
        x_shape=(1, 2, *config.img_size),
        learn_stepsize=config.learn_stepsize,
        hidden=config.hidden,
        depth=config.depth,
        condition_on_y=config.condition_on_y,
    )


def metrics(config):
    r"""PSNR and SSIM on the magnitude, range ``max |x|`` of each reference.

    :param deepinv_jitter.experiments.tasks.TaskConfig config: the settings.
    :return: ``(psnr, ssim)``.
    """
    from ...robustness.metrics import MagnitudePSNR, MagnitudeSSIM

    return MagnitudePSNR(), MagnitudeSSIM()


SPEC = TaskSpec(
    name="mri",
    summary="4x single-coil Cartesian MRI, embedded anatomy or fastMRI files",
    defaults=DEFAULTS,
    presets=PRESETS,
    build_data=build_data,
    build_model=build_model,
    metrics=metrics,
    options=OPTIONS,
)
