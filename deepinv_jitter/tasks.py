r"""Tasks: everything the comparison needs for one inverse problem, at one of three sizes.

A :class:`Task` bundles a forward operator (with its measurement noise), training and test images,
a model factory (an unrolled GD or PGD network), the out-of-distribution edit, the attack budget, the
default jitter settings of each training mode and the training budget. :func:`get_task` builds one:

- ``"seismic"``: post-stack seismic deconvolution with the Ricker wavelet
  (:class:`deepinv_jitter.physics.SeismicDeconvolution`) on synthetic layered reflectivity sections;
  OOD edit: a flat segment of amplitude -0.1 (:func:`deepinv_jitter.robustness.shifts.add_flat_segment`).
- ``"mri"``: 4x single-coil Cartesian MRI (:func:`deepinv_jitter.physics.mri.single_coil_mri`) on the
  embedded real anatomy, or on fastMRI single-coil files when ``data_root`` is given; OOD edit: a small
  bright lesion (:func:`deepinv_jitter.robustness.shifts.add_lesion`).

Presets (:data:`PRESETS`):

- ``"smoke"``: tiny images and a few steps; the whole four-mode comparison runs in under 3 minutes on
  2 CPU cores. For tests: its numbers mean nothing.
- ``"quick"``: the default; the four-mode comparison of a task in under 15 minutes on 2 CPU cores.
- ``"paper"``: the paper's scale (seismic T = N = 352, MRI 320 x 320, 5 unrolled iterations); for a GPU.

Jitter defaults. The seismic operator has :math:`\|A\|^2 \approx 54`, hence a step
:math:`\gamma \approx 1/54`, and the paper's ``"relative"`` rule then injects noise far below the
reconstruction error. The tasks therefore use the ``"iterate"`` scale rule of
:func:`deepinv_jitter.optim.jitter.jitter_std` (noise std :math:`\sigma \max|u_k|` on the iterate,
whatever :math:`\gamma`), which also keeps a learned step from cancelling the noise.

How the seismic defaults were chosen (quick preset, 2 CPU cores, seed 0, 10-step attack):

- training budget: 60 epochs. At 20 epochs the MSE model was clearly undertrained (21.89 dB in
  distribution, 23.44 dB at 60 epochs) and an undertrained baseline flatters every robust mode; the
  four-mode comparison at 60 epochs takes about 10 minutes on 2 CPU cores;
- architecture: unrolled GD (RED prior), not PGD: its MSE model is the more accurate one in
  distribution (21.89 dB against 19.27 dB for PGD with the same prior and a 20-epoch budget);
- measurement noise std 0.02 and attack budget ``attack_eps = 1.0`` (L2 norm of the perturbation of
  ``y``; the noise itself has norm 1.28 on 64 x 64 sections): at 60 epochs Gaussian noise of that
  norm costs the MSE model 0.21 dB, the attack 5.5 dB (20 epochs: 0.37 dB and 3.47 dB). (With noise
  std 0.01 no budget did both: 0.5 cost 0.48 dB and 2.6 dB, 0.6 cost 0.68 dB and 3.1 dB.)
- ``jitter_sigma = 0.1`` (``"iterate"`` scale). Against the 60-epoch MSE model (23.44 dB in
  distribution, 17.93 dB under attack), sigma 0.1 / 0.15 / 0.3 gave -0.36 / -0.79 / -2.00 dB in
  distribution, -0.32 / -0.69 / -1.87 dB OOD and +0.81 / +1.46 / +2.75 dB under attack: an
  accuracy-robustness trade-off, and 0.1 is the point closest to no loss in distribution. (Against the
  20-epoch MSE model, 0.1 / 0.2 / 0.3 gave +0.41 / +0.00 / -0.09 dB in distribution and
  +0.24 / +0.98 / +1.22 dB under attack.) Use ``deepinv-jitter sweep`` to pick another point.

What limits SGD jittering at this scale (all differences are against the MSE model trained with the
same budget and seed; in-distribution / OOD / adversarial PSNR, dB):

- seeds: at sigma 0.1 and 60 epochs, seeds 0 / 1 / 2 gave -0.36 / -0.20 / +0.03 in distribution,
  -0.32 / -0.20 / +0.02 OOD and +0.81 / +0.90 / +0.57 under attack (means -0.18 / -0.17 / +0.76);
  at sigma 0.12, -0.50 / -0.27 / -0.01 in distribution, -0.44 / -0.27 / -0.03 OOD and
  +1.22 / +0.78 / +0.60 under attack (means -0.26 / -0.25 / +0.87). The seed-to-seed spread of the
  gain under attack (0.6 to 1.2 dB) is as large as the effect; no sigma tried reaches +1 dB on
  average at a cost of at most 0.3 dB;
- noise in the last iteration: for GD it only adds gradient variance (the final noise is additive and
  independent of the weights, so the expected loss changes by a constant). Leaving it out (sigma 0.1,
  60 epochs) gave -0.29 / -0.25 / +0.77 instead of -0.36 / -0.32 / +0.81: no real difference, so the
  paper's placement (every iteration) is kept;
- sigma: the in-distribution cost grows about as sigma squared (last-iteration noise left out:
  sigma 0.1 / 0.15 / 0.2 cost 0.29 / 0.77 / 1.57 dB, for +0.77 / +1.64 / +2.74 dB under attack);
- training length: at 100 epochs sigma 0.08 / 0.1 gave -0.23 / -0.45 in distribution, -0.20 / -0.39
  OOD, +0.79 / +0.88 under attack; at 120 epochs (last-iteration noise left out) sigma 0.1 gave
  -0.35 / -0.32 / +1.24. The gain under attack grows with training (the MSE model gets more fragile:
  17.93 dB under attack at 60 epochs, 17.70 at 120); the in-distribution cost does not shrink;
- data and capacity: with 16 training sections (240 epochs: the same number of steps) sigma 0.1 gave
  -0.30 / -0.26 / +0.95; with a 32-channel prior on 16 sections -0.52 / -0.43 / +1.40;
- why: the MSE models generalise well (PSNR on 16 training sections minus PSNR on the 16 test
  sections: 0.96 dB with 64 training sections, 1.24 dB with 16, 1.61 dB with 16 sections and 32
  channels), and jittering shrinks that gap by at most 0.17 dB. The models are limited by bias, not
  by variance, so the implicit regularisation of jittering has little variance to remove: it buys
  robustness with a small bias. Summaries of the paper report in-distribution gains (seismic 35.10
  against 34.64 dB) at its scale (352 x 352 sections, a larger network: the ``paper`` preset, for a
  GPU), which was not run here.

``benchmarks/jitter_seeds.py`` repeats the seed study (MSE against SGD jittering at several sigmas
and seeds, with the train-test gaps). Its run at sigma 0.1, seeds 0 / 1 / 2 reproduced the numbers
above to 0.01 dB and gave MSE train-test gaps of 0.97 / 0.42 / -0.29 dB (jittering: 0.94 / 0.40 /
-0.55).

MRI (quick preset, embedded anatomy 96 x 96, same GD architecture with the DnCNN prior; PGD not
measured for MRI): ``attack_eps = 1.4`` (the MSE model loses 0.39 dB under Gaussian noise, 3.47 dB
under attack) and ``jitter_sigma = 0.04``: sigma 0.1 cost 2.2 dB in distribution, 0.02 cost 0.6 dB
with no gain under attack, 0.04 cost 0.3 dB for +0.6 dB under attack. At this budget SGD jittering
does not reach the seismic gains on MRI.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

TASKS = ("seismic", "mri")
"""Task names accepted by :func:`get_task`."""

MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")
"""Training modes, in table order (see :class:`deepinv_jitter.JitterTrainer`)."""

PRESET_NAMES = ("smoke", "quick", "paper")
"""Preset names accepted by :func:`get_task`."""

# Each preset is a dict of Task fields; the defaults of a field not listed are the Task's.
# Sizes: seismic (n_time, n_traces); mri (H, W).
PRESETS: dict[str, dict[str, dict]] = {
    "seismic": {
        "smoke": dict(
            img_size=(64, 64),
            n_train=16,
            n_test=4,
            batch_size=4,
            epochs=2,
            n_iter=3,
            channels=8,
            lr=2e-3,
            train_attack_steps=2,
            eval_attack_steps=3,
            curve_eps=None,
        ),
        "quick": dict(
            img_size=(64, 64),
            n_train=64,
            n_test=16,
            batch_size=8,
            epochs=60,
            n_iter=5,
            channels=16,
            lr=2e-3,
            train_attack_steps=2,
            eval_attack_steps=10,
        ),
        "paper": dict(
            img_size=(352, 352),
            # the quick budget (1.0 on 64 x 64) at the same perturbation per sample: x 352 / 64
            attack_eps=5.5,
            n_train=800,
            n_test=64,
            batch_size=8,
            epochs=60,
            n_iter=5,
            channels=64,
            lr=1e-3,
            train_attack_steps=10,
            eval_attack_steps=20,
        ),
    },
    "mri": {
        "smoke": dict(
            img_size=(64, 64),
            n_train=16,
            n_test=4,
            batch_size=4,
            epochs=2,
            n_iter=3,
            channels=8,
            lr=2e-3,
            train_attack_steps=2,
            eval_attack_steps=3,
        ),
        "quick": dict(
            img_size=(96, 96),
            n_train=64,
            n_test=16,
            batch_size=8,
            epochs=12,
            n_iter=5,
            channels=16,
            lr=2e-3,
            train_attack_steps=2,
            eval_attack_steps=10,
        ),
        "paper": dict(
            img_size=(320, 320),
            n_train=800,
            n_test=64,
            batch_size=4,
            epochs=50,
            n_iter=5,
            channels=64,
            lr=1e-3,
            train_attack_steps=10,
            eval_attack_steps=20,
        ),
    },
}

# Task-wide settings (the same at every preset unless a preset overrides them).
TASK_DEFAULTS: dict[str, dict] = {
    "seismic": dict(
        algorithm="gd",
        noise_sigma=0.02,
        attack_eps=1.0,
        attack_relative=False,
        jitter_sigma=0.1,
        jitter_scale="iterate",
        input_sigma=0.05,
    ),
    "mri": dict(
        algorithm="gd",
        noise_sigma=0.01,
        attack_eps=1.4,
        attack_relative=False,
        jitter_sigma=0.04,
        jitter_scale="iterate",
        input_sigma=0.05,
    ),
}


@dataclass
class Task:
    r"""One inverse problem at one size: physics, data, model factory, OOD edit, attack budget,
    jitter and training settings.

    Build it with :func:`get_task`; change settings with :meth:`replace`. The physics is built once;
    :meth:`build_model` gives a fresh, seeded network each call, so every training mode starts from
    the same weights.

    :param str name: ``"seismic"`` or ``"mri"``.
    :param str preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
    :param str data: what the images are (``"synthetic ..."``, ``"embedded ..."``, ``"fastmri:<path>"``).
    :param deepinv.physics.Physics physics: forward operator with its noise model.
    :param torch.utils.data.Dataset train_dataset: training images ``x``.
    :param torch.utils.data.Dataset test_dataset: test images ``x``.
    :param Callable ood_edit: ``ood_edit(x, generator=g) -> x_edit``.
    :param tuple img_size: image size.
    :param int n_iter: unrolled iterations.
    :param str algorithm: ``"gd"`` (SGD jittering) or ``"pgd"`` (SPGD jittering).
    :param int channels: width (feature channels) of the prior CNN.
    :param int, None depth: conv layers of the prior (``None``: the builder's default).
    :param bool learn_stepsize: learn the unrolled step size (``False`` keeps :math:`1/\|A\|^2`).
    :param bool condition_on_y: the seismic prior also sees :math:`x_0` (the paper's conditioning).
    :param float noise_sigma: std of the Gaussian measurement noise.
    :param float attack_eps: L2 budget of the evaluation attack (and of adversarial training).
    :param bool attack_relative: budget relative to ``||y||``.
    :param int train_attack_steps: PGD steps per batch in ``adversarial`` training.
    :param int eval_attack_steps: PGD steps of the evaluation attack.
    :param float, None attack_step_size: PGD step as a fraction of the budget (``None``: Madry's
        ``2.5 / steps``, for training and evaluation attacks alike).
    :param list curve_eps: budgets of the PSNR-vs-eps curve (``None``: 0, 1/4, 1/2, 1, 2 x eps).
    :param float jitter_sigma: :math:`\sigma` of ``sgd_jitter``.
    :param str jitter_scale: scale rule of ``sgd_jitter`` (``"iterate"``, ``"relative"``, ``"absolute"``).
    :param float input_sigma: std of the noise added to ``y`` by ``input_jitter``.
    :param int epochs: training epochs.
    :param int batch_size: batch size.
    :param float lr: Adam learning rate (cosine-annealed to zero over ``epochs``).
    :param int n_train: training images.
    :param int n_test: test images.
    :param int seed: seed of the data, the weights and the training order.
    :param str device: ``"cpu"`` or ``"cuda"``.
    :param dict extra: further settings recorded in results (free form).

    >>> task = get_task("seismic", "smoke")
    >>> task.img_size, task.preset
    ((64, 64), 'smoke')
    """

    name: str
    preset: str
    data: str
    physics: torch.nn.Module
    train_dataset: torch.utils.data.Dataset
    test_dataset: torch.utils.data.Dataset
    ood_edit: Callable
    img_size: tuple[int, int]
    n_iter: int = 5
    algorithm: str = "gd"
    channels: int = 32
    depth: int | None = None
    learn_stepsize: bool = True
    condition_on_y: bool = False
    noise_sigma: float = 0.01
    attack_eps: float = 0.5
    attack_relative: bool = False
    train_attack_steps: int = 5
    eval_attack_steps: int = 20
    attack_step_size: float | None = None
    curve_eps: list[float] | None = None
    jitter_sigma: float = 0.05
    jitter_scale: str = "iterate"
    input_sigma: float = 0.05
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    n_train: int = 64
    n_test: int = 16
    seed: int = 0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    def build_model(self) -> torch.nn.Module:
        r"""A fresh unrolled network for this task, initialised from :attr:`seed`.

        :return: a deepinv unfolded model (``model(y, physics)``) on :attr:`device`.
        """
        devices = [torch.device(self.device)] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            model = _build_model(self)
        return model.to(self.device)

    def train_loader(self) -> torch.utils.data.DataLoader:
        r"""Shuffled training batches, the order fixed by :attr:`seed`.

        :return: a dataloader of ``x``.
        """
        g = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            self.train_dataset, batch_size=self.batch_size, shuffle=True, generator=g
        )

    def test_loader(self) -> torch.utils.data.DataLoader:
        r"""Test batches in a fixed order.

        :return: a dataloader of ``x``.
        """
        return torch.utils.data.DataLoader(
            self.test_dataset, batch_size=self.batch_size, shuffle=False
        )

    def metrics(self):
        r"""PSNR and SSIM for this task: seismic with each reference's range ``max - min``; MRI on
        the magnitude with range ``max |x|`` (:mod:`deepinv_jitter.robustness.metrics`).

        :return: ``(psnr, ssim)`` deepinv metrics.
        """
        if self.name == "mri":
            # the paper's MRI metrics: magnitude images, range = max of the reference magnitude
            from .robustness.metrics import MagnitudePSNR, MagnitudeSSIM

            return MagnitudePSNR(), MagnitudeSSIM()
        from .robustness.evaluate import default_metrics

        return default_metrics()

    def trainer_settings(self, mode: str) -> dict:
        r"""The :class:`deepinv_jitter.JitterTrainer` fields of a training mode.

        :param str mode: one of :data:`MODES`.
        :return: a dict of trainer keyword arguments.
        """
        check_mode(mode)
        return dict(
            training_mode=mode,
            jitter_sigma=self.jitter_sigma,
            jitter_scale=self.jitter_scale,
            input_sigma=self.input_sigma,
            attack_eps=self.attack_eps,
            attack_steps=self.train_attack_steps,
            # JitterTrainer's default step (0.1 of the budget) lets a 2-step attack reach only a
            # fifth of the ball; Madry's 2.5 / steps (pgd_attack's own default) reaches its surface
            attack_step_size=(
                self.attack_step_size
                if self.attack_step_size is not None
                else 2.5 / self.train_attack_steps
            ),
        )

    def settings(self) -> dict:
        r"""The task's settings as plain JSON types (for ``results.json``).

        :return: a dict.
        """
        skip = {"physics", "train_dataset", "test_dataset", "ood_edit", "extra"}
        out = {}
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        out.update(self.extra)
        return out

    def replace(self, **changes) -> Task:
        r"""A copy with some settings changed (physics and data are rebuilt when they depend on them).

        :param changes: Task fields.
        :return: a new :class:`Task`.

        >>> get_task("seismic", "smoke").replace(jitter_sigma=0.2).jitter_sigma
        0.2
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown Task fields {sorted(unknown)}")
        rebuild = {"img_size", "n_train", "n_test", "noise_sigma", "seed", "device"}
        if rebuild & set(changes):
            keep = {k: getattr(self, k) for k in _PRESET_FIELDS}
            keep.update({k: v for k, v in changes.items() if k in _PRESET_FIELDS})
            data_root = self.extra.get("data_root")
            new = get_task(
                self.name,
                self.preset,
                data_root=data_root,
                seed=changes.get("seed", self.seed),
                device=changes.get("device", self.device),
                **keep,
            )
            return dataclasses.replace(
                new, **{k: v for k, v in changes.items() if k not in ("seed", "device")}
            )
        return dataclasses.replace(copy.copy(self), **changes)


_PRESET_FIELDS = {
    f.name
    for f in dataclasses.fields(Task)
    if f.name
    not in {
        "name",
        "preset",
        "data",
        "physics",
        "train_dataset",
        "test_dataset",
        "ood_edit",
        "seed",
        "device",
        "extra",
    }
}


def check_mode(mode: str) -> str:
    r"""Check a training-mode name.

    :param str mode: the name.
    :return: ``mode``.

    Raises ``ValueError`` naming the allowed modes.

    >>> check_mode("mse")
    'mse'
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def _build_model(task: Task) -> torch.nn.Module:
    from .models import build_unrolled

    channels = 1 if task.name == "seismic" else 2
    return build_unrolled(
        task.physics,
        prior="seismic" if task.name == "seismic" else "dncnn",
        algorithm=task.algorithm,
        n_iter=task.n_iter,
        x_shape=(1, channels, *task.img_size),
        learn_stepsize=task.learn_stepsize,
        hidden=task.channels,
        depth=task.depth,
        condition_on_y=task.condition_on_y,
    )


def _seismic(settings: dict, data_root, seed: int, device: str):
    import deepinv as dinv

    from .datasets.seismic import SyntheticSeismicDataset
    from .physics.seismic import SeismicDeconvolution
    from .robustness.shifts import add_flat_segment

    n_time, n_traces = settings["img_size"]
    physics = SeismicDeconvolution(
        noise_model=dinv.physics.GaussianNoise(settings["noise_sigma"])
    ).to(device)
    if data_root is not None:
        from .datasets.seismic import SegyDataset

        full = SegyDataset(data_root, patch_size=(n_time, n_traces))
        n_test = max(1, min(settings["n_test"], len(full) // 5))
        idx = list(range(len(full)))
        test = torch.utils.data.Subset(full, idx[-n_test:])
        train = torch.utils.data.Subset(full, idx[: len(full) - n_test][: settings["n_train"]])
        data = f"segy:{data_root}"
    else:
        train = SyntheticSeismicDataset(
            settings["n_train"], n_time=n_time, n_traces=n_traces, seed=seed
        )
        test = SyntheticSeismicDataset(
            settings["n_test"], n_time=n_time, n_traces=n_traces, seed=seed + 10_000
        )
        data = f"synthetic layered reflectivity {n_time}x{n_traces} (seed {seed})"
    return physics, train, test, add_flat_segment, data


def _mri(settings: dict, data_root, seed: int, device: str):
    from .physics.mri import single_coil_mri
    from .robustness.shifts import add_lesion

    img_size = tuple(settings["img_size"])
    physics = single_coil_mri(
        img_size=img_size, noise_sigma=settings["noise_sigma"], seed=seed, device=device
    )
    if data_root is not None:
        from .datasets.mri import FastMRISingleCoilDataset

        full = FastMRISingleCoilDataset(data_root, img_size=img_size)
        n_test = max(1, min(settings["n_test"], len(full) // 5))
        idx = list(range(len(full)))
        test = torch.utils.data.Subset(full, idx[-n_test:])
        train = torch.utils.data.Subset(full, idx[: len(full) - n_test][: settings["n_train"]])
        data = f"fastmri:{data_root}"
    else:
        from .datasets.mri import EmbeddedMRIDataset

        train = EmbeddedMRIDataset(split="train", img_size=img_size)
        test = EmbeddedMRIDataset(split="test", img_size=img_size)
        if len(train) > settings["n_train"]:
            train = torch.utils.data.Subset(train, range(settings["n_train"]))
        if len(test) > settings["n_test"]:
            step = len(test) / settings["n_test"]
            test = torch.utils.data.Subset(test, [int(i * step) for i in range(settings["n_test"])])
        data = f"embedded anatomy {img_size[0]}x{img_size[1]}"
    return physics, train, test, add_lesion, data


def get_task(
    name: str,
    preset: str = "quick",
    data_root: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    **overrides,
) -> Task:
    r"""Build a task at a preset size.

    :param str name: ``"seismic"`` or ``"mri"``.
    :param str preset: ``"smoke"``, ``"quick"`` (default) or ``"paper"``.
    :param str, pathlib.Path, None data_root: real data instead of the default: a SEG-Y file for
        seismic, a folder of fastMRI single-coil ``.h5`` files for MRI.
    :param int seed: seed of the data, the weights and the training order.
    :param str device: ``"cpu"`` or ``"cuda"``.
    :param overrides: any :class:`Task` setting (e.g. ``jitter_sigma=0.1``, ``epochs=5``).
    :return: a :class:`Task`.

    Raises ``ValueError`` for an unknown task, preset or setting, ``FileNotFoundError`` for a
    missing ``data_root``.

    >>> task = get_task("seismic", "smoke", seed=1)
    >>> task.name, task.n_iter, task.seed
    ('seismic', 3, 1)
    """
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {', '.join(PRESET_NAMES)}; got {preset!r}")
    unknown = set(overrides) - _PRESET_FIELDS
    if unknown:
        raise ValueError(
            f"unknown task settings {sorted(unknown)}; allowed: {sorted(_PRESET_FIELDS)}"
        )
    if data_root is not None and not Path(data_root).exists():
        raise FileNotFoundError(f"data_root {str(data_root)!r} does not exist")
    settings = dict(TASK_DEFAULTS[name])
    settings.update(PRESETS[name][preset])
    settings.update(overrides)
    settings["img_size"] = tuple(settings["img_size"])
    build = _seismic if name == "seismic" else _mri
    physics, train, test, edit, data = build(settings, data_root, seed, device)
    extra = {"data_root": str(data_root)} if data_root is not None else {}
    return Task(
        name=name,
        preset=preset,
        data=data,
        physics=physics,
        train_dataset=train,
        test_dataset=test,
        ood_edit=edit,
        seed=seed,
        device=device,
        extra=extra,
        **settings,
    )
