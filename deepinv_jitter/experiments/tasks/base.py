r"""What a task is: its settings (:class:`TaskConfig`), what its module provides (:class:`TaskSpec`)
and the built task (:class:`Task`: settings plus physics, data, metrics and a model factory).

A task module defines ``SPEC = TaskSpec(...)`` with its task-wide ``defaults``, its ``presets``
(one dict of settings per name in :data:`~deepinv_jitter.experiments.presets.PRESET_NAMES`), any
task-specific ``options`` and three functions: ``build_data(config) -> TaskData``,
``build_model(config, physics) -> torch.nn.Module`` and ``metrics(config) -> (psnr, ssim)``.
Nothing outside a task's module knows its name.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._checks import check_number
from ...models.unrolled import ALGORITHMS
from ...optim.jitter import SCALES
from ...training.perturbations import mode_name, parse_training_mode
from ..presets import PRESET_NAMES

__all__ = ["TaskConfig", "TaskSpec", "TaskData", "Task", "check_mode"]

#: training precisions (``--precision``)
PRECISIONS = ("fp32", "bf16", "fp16")


def _int(low):
    return lambda v, name: check_number(v, name, low=low, integer=True)


def _float(low, strict=False):
    return lambda v, name: check_number(v, name, low=low, strict=strict)


def _optional(check):
    return lambda v, name: None if v is None else check(v, name)


def _bool(v, name):
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return v


def _choice(options):
    def check(v, name):
        if v not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}; got {v!r}")
        return v

    return check


def _size(v, name):
    if (
        not isinstance(v, (tuple, list))
        or len(v) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in v)
    ):
        raise ValueError(
            f"{name} must be a pair of positive integers (H, W), got {v!r}"
        )
    return tuple(v)


def _budgets(v, name):
    if v is None:
        return None
    if not isinstance(v, (tuple, list)) or not v:
        raise ValueError(
            f"{name} must be a non-empty list of budgets >= 0 or None, got {v!r}"
        )
    return [check_number(e, name, low=0) for e in v]


def _device(v, name):
    if not isinstance(v, str):
        raise ValueError(
            f"{name} must be a device name such as 'cpu' or 'cuda', got {v!r}"
        )
    try:
        torch.device(v)
    except RuntimeError:
        raise ValueError(
            f"{name} must be a device name such as 'cpu' or 'cuda', got {v!r}"
        ) from None
    return v


# One check per setting (type and range, naming the setting): used by the API and the CLI alike.
_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "seed": _int(0),
    "device": _device,
    "img_size": _size,
    "n_iter": _int(1),
    "algorithm": _choice(ALGORITHMS),
    "channels": _int(1),
    "depth": _optional(_int(1)),
    "learn_stepsize": _bool,
    "condition_on_y": _bool,
    "noise_sigma": _float(0),
    "attack_eps": lambda v, name: check_number(v, name, low=0, strict=True, high=1e18),
    "attack_relative": _bool,
    "train_attack_steps": _int(1),
    "eval_attack_steps": _int(1),
    "attack_step_size": _optional(_float(0, strict=True)),
    "curve_eps": _budgets,
    "gaussian_draws": _int(1),
    "jitter_sigma": _float(0),
    "jitter_scale": _choice(SCALES),
    "input_sigma": _float(0),
    "epochs": _int(1),
    "batch_size": _int(1),
    "lr": _float(0, strict=True),
    "n_train": _int(1),
    "n_test": _int(1),
    "precision": _choice(PRECISIONS),
    "online_measurements": _bool,
    "threads": _optional(_int(1)),
    "channels_last": _bool,
    "compile_prior": _bool,
    "eval_batch_size": _optional(_int(1)),
}


@dataclass(frozen=True)
class TaskConfig:
    r"""Every setting of one task run, checked at construction (one error naming the setting).

    Build it through :func:`deepinv_jitter.experiments.tasks.get_task` (which merges the task's
    defaults, the preset and your overrides) or :meth:`replace`.

    :param str name: the task's registry name.
    :param str preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
    :param int seed: seed of the data, the weights and the training order.
    :param str device: ``"cpu"`` or ``"cuda"``.
    :param str, None data_root: real data instead of the task's default (stored absolute).
    :param tuple img_size: image size.
    :param int n_iter: unrolled iterations.
    :param str algorithm: the unrolled algorithm, one of
        :data:`deepinv_jitter.models.unrolled.ALGORITHMS` (``"gd"``: SGD jittering, ``"pgd"``:
        SPGD jittering, ``"hqs"``, ``"admm"``, ...).
    :param int channels: width (feature channels) of the prior network.
    :param int, None depth: layers of the prior (``None``: the builder's default).
    :param bool learn_stepsize: learn the unrolled step size.
    :param bool condition_on_y: the prior also sees :math:`x_0` (where the task supports it).
    :param float noise_sigma: std of the Gaussian measurement noise.
    :param float attack_eps: L2 budget of the evaluation attack (and of adversarial training).
    :param bool attack_relative: budget relative to ``||y||``.
    :param int train_attack_steps: PGD steps per batch in ``adversarial`` training.
    :param int eval_attack_steps: PGD steps of the evaluation attack.
    :param float, None attack_step_size: PGD step as a fraction of the budget (``None``: Madry's
        ``2.5 / steps``, for training and evaluation attacks alike).
    :param list, None curve_eps: budgets of the PSNR-vs-eps curve (``None``: 0, 1/4, 1/2, 1, 2 x eps).
    :param int gaussian_draws: random perturbations per test sample in the average-case condition.
    :param float jitter_sigma: :math:`\sigma` of ``sgd_jitter``.
    :param str jitter_scale: scale rule of ``sgd_jitter``.
    :param float input_sigma: std of the noise added to ``y`` by ``input_jitter``.
    :param int epochs: training epochs.
    :param int batch_size: batch size.
    :param float lr: Adam learning rate (cosine-annealed to zero over ``epochs``).
    :param int n_train: training images.
    :param int n_test: test images.
    :param str precision: training precision, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (mixed
        precision through deepinv's Trainer; noise, attacks and metrics stay in float32).
    :param bool online_measurements: draw fresh measurement noise for every training batch
        (``True``) or train on one fixed noisy measurement per training image (``False``,
        drawn once from the seed: the setting in which a small training set can be overfit).
    :param int, None threads: CPU threads for training and evaluation (``None``: torch's
        default; tiny networks run faster on one thread than on several).
    :param bool channels_last: store the network's convolution weights (and so its feature maps)
        in ``torch.channels_last`` layout; the same function, other rounding (on 2 CPU cores the
        seismic quick preset trains about 1.5 times faster, MRI no faster; see the results page).
    :param bool compile_prior: compile the prior's layers with :func:`torch.compile`
        (:func:`deepinv_jitter.models.compile_priors`; CNN priors only; an opt-in that pays a
        compilation at the start of training and of evaluation).
    :param int, None eval_batch_size: batch size of the test loader (``None``: ``batch_size``).
    :param dict options: task-specific settings declared by the task's :class:`TaskSpec`.
    :raises ValueError: a setting of the wrong type or out of range, naming it.

    >>> TaskConfig(name="seismic", epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0
    """

    name: str
    preset: str = "quick"
    seed: int = 0
    device: str = "cpu"
    data_root: str | None = None
    img_size: tuple[int, int] = (64, 64)
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
    gaussian_draws: int = 32
    jitter_sigma: float = 0.1
    jitter_scale: str = "iterate"
    input_sigma: float = 0.05
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    n_train: int = 64
    n_test: int = 16
    precision: str = "fp32"
    online_measurements: bool = True
    threads: int | None = None
    channels_last: bool = True
    compile_prior: bool = False
    eval_batch_size: int | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.preset not in PRESET_NAMES:
            raise ValueError(
                f"preset must be one of {', '.join(PRESET_NAMES)}; got {self.preset!r}"
            )
        for key, check in _CHECKS.items():
            value = check(getattr(self, key), key)
            object.__setattr__(self, key, value)
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(Path(self.data_root).resolve()))
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        r"""The settings a preset or an override may change (not ``name``, ``preset``, ``options``).

        :return: the field names.
        """
        skip = {"name", "preset", "options"}
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)

    def replace(self, **changes) -> TaskConfig:
        r"""A copy with some settings changed (checked again); task options by their names too.

        :param changes: settings.
        :return: a new :class:`TaskConfig`.
        :raises ValueError: an unknown setting or a bad value.
        """
        fields = {f.name for f in dataclasses.fields(self)}
        options = dict(self.options)
        plain = {}
        for key, value in changes.items():
            if key in fields:
                plain[key] = value
            elif key in options:
                options[key] = _check_option(key, value, options[key])
            else:
                raise ValueError(f"unknown task setting {key!r}")
        return dataclasses.replace(self, options=options, **plain)

    def to_dict(self) -> dict:
        r"""The settings as plain JSON types (options flattened in).

        :return: a dict.
        """
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "options":
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        for k, v in self.options.items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


def _check_option(key: str, value, default):
    """A task option takes the type of its default (int, float, bool, str, or a pair of positive
    ints, kept as a tuple), finite numbers only; an option whose default is ``None`` is checked
    by the task's ``build_data``."""
    if isinstance(default, bool):
        return _bool(value, key)
    if isinstance(default, int):
        return check_number(value, key, integer=True)
    if isinstance(default, float):
        return check_number(value, key)
    if isinstance(default, str) and not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {value!r}")
    if isinstance(default, tuple):
        return _size(value, key)
    return value


def refuse_unused_options(config: TaskConfig, defaults: dict, data: str) -> None:
    r"""Refuse task options that only real data reads, set while the task runs on its built-in
    data (they would be recorded in the run's settings without changing anything).

    :param TaskConfig config: the settings.
    :param dict defaults: ``{option: default}`` of the options that real data reads.
    :param str data: what reads them, for the message (e.g. ``"SEG-Y data"``).
    :raises ValueError: naming every such option set to another value than its default.
    """
    changed = [
        f"{key}={config.options[key]!r}"
        for key, default in defaults.items()
        if config.options.get(key, default) != default
    ]
    if changed:
        raise ValueError(
            f"{', '.join(changed)}: only {data} reads {'this' if len(changed) == 1 else 'these'} "
            "(data_root, --data-root); the built-in data would ignore it"
        )


@dataclass
class TaskData:
    r"""What a task's ``build_data`` returns.

    :param deepinv.physics.Physics physics: forward operator with its noise model.
    :param torch.utils.data.Dataset train_dataset: training images ``x``.
    :param torch.utils.data.Dataset test_dataset: test images ``x``.
    :param Callable ood_edit: ``ood_edit(x, rng=g) -> x_edit``, the out-of-distribution edit.
    :param str description: what the images are, for reports.
    """

    physics: torch.nn.Module
    train_dataset: torch.utils.data.Dataset
    test_dataset: torch.utils.data.Dataset
    ood_edit: Callable
    description: str


@dataclass(frozen=True)
class TaskSpec:
    r"""What a task module provides to the registry.

    :param str name: registry name (``--task NAME``).
    :param str summary: one line for help texts.
    :param dict defaults: task-wide settings (every preset).
    :param dict presets: ``{preset name: settings}``, one entry per preset name.
    :param Callable build_data: ``build_data(config) -> TaskData``.
    :param Callable build_model: ``build_model(config, physics) -> torch.nn.Module``.
    :param Callable metrics: ``metrics(config) -> (psnr, ssim)``.
    :param dict options: task-specific settings and their defaults.
    :param Callable, None oracle: ``oracle(task) -> {"in_distribution": {"psnr": ...}, ...}``, the
        best achievable reconstruction where the task knows it.
    :param frozenset data_settings: settings whose change rebuilds the data (see
        :meth:`Task.replace`).
    """

    name: str
    summary: str
    defaults: dict
    presets: dict
    build_data: Callable
    build_model: Callable
    metrics: Callable
    options: dict = field(default_factory=dict)
    oracle: Callable | None = None
    data_settings: frozenset = frozenset(
        {"img_size", "n_train", "n_test", "noise_sigma", "seed", "device", "data_root"}
    )

    def __post_init__(self):
        missing = set(PRESET_NAMES) - set(self.presets)
        if missing:
            raise ValueError(f"task {self.name!r} lacks presets {sorted(missing)}")

    def config(self, preset: str, **overrides) -> TaskConfig:
        r"""The task's defaults, then the preset's settings, then ``overrides``, checked.

        :param str preset: a preset name.
        :param overrides: settings (task options included).
        :return: a :class:`TaskConfig`.
        :raises ValueError: an unknown preset or setting, or a bad value.
        """
        if preset not in PRESET_NAMES:
            raise ValueError(
                f"preset must be one of {', '.join(PRESET_NAMES)}; got {preset!r}"
            )
        allowed = set(TaskConfig.setting_names()) | set(self.options)
        unknown = set(overrides) - allowed
        if unknown:
            raise ValueError(
                f"unknown task settings {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        merged = {**self.defaults, **self.presets[preset], **overrides}
        options = {
            k: merged.pop(k) if k in merged else v for k, v in self.options.items()
        }
        options = {k: _check_option(k, v, self.options[k]) for k, v in options.items()}
        return TaskConfig(name=self.name, preset=preset, options=options, **merged)


def _file_identity(path: Path) -> dict:
    """Path, total size, newest modification time and a content fingerprint of a file or folder."""
    files = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    h = hashlib.sha256()
    size, mtime = 0, 0.0
    for f in files:
        st = f.stat()
        size += st.st_size
        mtime = max(mtime, st.st_mtime)
        name = f.relative_to(path).as_posix() if path.is_dir() else ""
        h.update(f"{name}:{st.st_size}".encode())
        with open(f, "rb") as handle:
            h.update(handle.read(1 << 20))
            if st.st_size > 2 << 20:
                handle.seek(-(1 << 20), 2)
                h.update(handle.read(1 << 20))
    return {
        "path": str(path),
        "size": size,
        "mtime": mtime,
        "fingerprint": h.hexdigest(),
    }


def check_mode(mode: str) -> str:
    r"""Check a training-mode name (a single mode or a ``+``-joined set of perturbing modes).

    :param str mode: the name.
    :return: its canonical name (:func:`deepinv_jitter.training.mode_name`).
    :raises ValueError: naming the allowed modes.

    >>> check_mode("mse"), check_mode("input_jitter+sgd_jitter")
    ('mse', 'sgd_jitter+input_jitter')
    """
    return mode_name(parse_training_mode(mode))


class Task:
    r"""One inverse problem at one size: its settings plus the built physics, data, metrics and a
    model factory.

    Build it with :func:`deepinv_jitter.experiments.tasks.get_task`; change settings with
    :meth:`replace`. Settings read as attributes (``task.epochs``, ``task.jitter_sigma``, task
    options by name). The physics and data are built once; :meth:`build_model` gives a fresh,
    seeded network each call, so every training mode starts from the same weights.

    :param TaskSpec spec: the task's module.
    :param TaskConfig config: the settings.
    :param TaskData data: the built physics and data (``None``: built now).

    >>> from deepinv_jitter.experiments.tasks import get_task
    >>> task = get_task("seismic", "smoke")
    >>> task.img_size, task.preset, task.replace(jitter_sigma=0.2).jitter_sigma
    ((64, 64), 'smoke', 0.2)
    """

    def __init__(
        self, spec: TaskSpec, config: TaskConfig, data: TaskData | None = None
    ):
        self.spec = spec
        self.config = config
        self._data = data if data is not None else spec.build_data(config)

    def __getattr__(self, key):
        # settings (and task options) read as attributes; only called for names not found normally
        if key.startswith("_") or key in ("spec", "config"):
            raise AttributeError(key)
        config = self.__dict__.get("config")
        if config is not None:
            if key in config.options:
                return config.options[key]
            if hasattr(config, key):
                return getattr(config, key)
        raise AttributeError(
            f"{type(self).__name__} has no attribute or setting {key!r}"
        )

    def __repr__(self) -> str:
        return f"Task({self.name!r}, preset={self.preset!r}, seed={self.seed}, data={self.data!r})"

    # ------------------------------------------------------------------ built objects
    @property
    def physics(self) -> torch.nn.Module:
        r"""The forward operator with its noise model."""
        return self._data.physics

    @property
    def train_dataset(self) -> torch.utils.data.Dataset:
        r"""Training images ``x``."""
        return self._data.train_dataset

    @property
    def test_dataset(self) -> torch.utils.data.Dataset:
        r"""Test images ``x``."""
        return self._data.test_dataset

    @property
    def ood_edit(self) -> Callable:
        r"""The out-of-distribution edit, ``ood_edit(x, rng=g)``."""
        return self._data.ood_edit

    @property
    def data(self) -> str:
        r"""What the images are (for reports)."""
        return self._data.description

    def data_identity(self) -> dict:
        r"""What identifies the data a model of this task is trained and tested on.

        Built-in data (no ``data_root``) is made by the task's generator from its settings and
        seed, which the run identity records: ``{"source": "built-in"}``. Real data
        (``data_root``) records the file or folder (``path``, ``size`` in bytes, ``mtime`` of the
        newest file), a ``fingerprint`` of its content (SHA-256 of its size and of its first and
        last MiB, per file) and ``read_sha256``, the SHA-256 of every training and test item as
        read (after any cropping and scaling). A moved file keeps its identity; a changed file, or
        another part of it read, does not. Computed once per task.

        :return: a dict of plain values.
        """
        cached = self.__dict__.get("_data_identity")
        if cached is not None:
            return cached
        if self.config.data_root is None:
            ident = {"source": "built-in"}
        else:
            ident = {"source": "file", **_file_identity(Path(self.config.data_root))}
            h = hashlib.sha256()
            for ds in (self.train_dataset, self.test_dataset):
                for i in range(len(ds)):
                    item = ds[i]
                    item = item[0] if isinstance(item, (tuple, list)) else item
                    h.update(item.detach().cpu().contiguous().numpy().tobytes())
            ident["read_sha256"] = h.hexdigest()
        self.__dict__["_data_identity"] = ident
        return ident

    def build_model(self) -> torch.nn.Module:
        r"""A fresh network for this task, initialised from the seed (the global RNG is untouched).

        :return: a model called as ``model(y, physics)``, on the task's device.
        """
        dev = torch.device(self.device)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(self.seed)
            model = self.spec.build_model(self.config, self.physics)
        model = model.to(self.device)
        if self.channels_last:
            # 4-D weights only: convolutions then run on NHWC feature maps
            model = model.to(memory_format=torch.channels_last)
        if self.compile_prior:
            from ...models import compile_priors

            compile_priors(model)
        return model

    def metrics(self) -> tuple:
        r"""The task's ``(psnr, ssim)`` metrics.

        :return: two deepinv metrics returning one value per sample.
        """
        return self.spec.metrics(self.config)

    def oracle(self) -> dict | None:
        r"""The best achievable PSNR where the task knows it (``None`` otherwise).

        :return: ``{"in_distribution": {"psnr": ...}, "ood": {"psnr": ...}}`` or ``None``.
        """
        return None if self.spec.oracle is None else self.spec.oracle(self)

    def train_loader(self) -> torch.utils.data.DataLoader:
        r"""Shuffled training batches, the order fixed by the seed: of ``x`` with online
        measurements, of ``(x, y)`` pairs with one fixed measurement per image otherwise.

        :return: a dataloader.
        """
        data = (
            self.train_dataset
            if self.online_measurements
            else self.fixed_measurements()
        )
        g = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            data, batch_size=self.batch_size, shuffle=True, generator=g
        )

    def fixed_measurements(self) -> torch.utils.data.Dataset:
        r"""The training images with one noisy measurement each, drawn once from the seed
        (the global random state is untouched), for ``online_measurements=False``.

        :return: a dataset of ``(x, y)`` pairs.
        """
        if getattr(self, "_fixed", None) is None:
            x = torch.stack(
                [self.train_dataset[i] for i in range(len(self.train_dataset))]
            )
            x = x.to(self.device)
            dev = torch.device(self.device)
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(self.seed + 20_000)
                with torch.no_grad():
                    y = self.physics(x)
            self._fixed = torch.utils.data.TensorDataset(x.cpu(), y.cpu())
        return self._fixed

    def test_loader(self) -> torch.utils.data.DataLoader:
        r"""Test batches in a fixed order.

        :return: a dataloader of ``x``.
        """
        size = self.eval_batch_size or self.batch_size
        return torch.utils.data.DataLoader(
            self.test_dataset, batch_size=size, shuffle=False
        )

    def trainer_settings(self, mode: str) -> dict:
        r"""The :class:`deepinv_jitter.JitterTrainer` fields of a training mode.

        :param str mode: a training mode (see :func:`check_mode`).
        :return: a dict of trainer keyword arguments.
        """
        return dict(
            training_mode=check_mode(mode),
            jitter_sigma=self.jitter_sigma,
            jitter_scale=self.jitter_scale,
            input_sigma=self.input_sigma,
            attack_eps=self.attack_eps,
            attack_steps=self.train_attack_steps,
            attack_step_size=self.attack_step_size,
            attack_relative=self.attack_relative,
        )

    def settings(self) -> dict:
        r"""The task's settings as plain JSON types (for reports and checkpoints).

        :return: a dict.
        """
        return self.config.to_dict()

    def replace(self, **changes) -> Task:
        r"""A copy with some settings changed; the physics and data are rebuilt only when a setting
        they depend on changes (``TaskSpec.data_settings`` and task options).

        :param changes: settings.
        :return: a new :class:`Task`.
        :raises ValueError: an unknown setting or a bad value.
        """
        config = self.config.replace(**changes)
        rebuild = set(changes) & (set(self.spec.data_settings) | set(config.options))
        return Task(self.spec, config, None if rebuild else self._data)
