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

__all__ = [
    "TaskConfig",
    "TaskSpec",
    "TaskData",
    "Task",
    "check_mode",
    "setting",
    "SETTINGS",
    "EVAL_ONLY",
    "PLACE_ONLY",
    "MODE_ONLY",
    "DATA_SETTINGS",
    "RENAMED",
    "renamed_settings",
    "settings_help",
]

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


def _data_root(v, name):
    if v is not None and (not isinstance(v, (str, Path)) or not str(v).strip()):
        raise ValueError(f"{name} must be a path or None, got {v!r}")
    return None if v is None else str(Path(v).resolve())


#: stages a setting can belong to (who reads it)
STAGES = {
    "train": "changes the trained weights",
    "eval": "read by evaluation only",
    "place": "where it runs or where the data lies",
}


def setting(
    default,
    check: Callable[[Any, str], Any],
    help: str,
    *,
    kind: str,
    stage: str = "train",
    mode: str | None = None,
    data: bool = False,
):
    r"""The one declaration of a task setting: a :class:`TaskConfig` field whose metadata the
    checks, the docstring, the command line's help, the run identity and the user guide's table
    are derived from.

    :param default: the default value (a preset or a task may change it).
    :param Callable check: ``check(value, name) -> value``, raising one ``ValueError`` naming the
        setting.
    :param str help: one line of help.
    :param str kind: the type and range in words (e.g. ``"int >= 1"``).
    :param str stage: who reads it, one of :data:`STAGES`.
    :param str, None mode: the perturbing training mode that alone reads it (``None``: every mode).
    :param bool data: whether changing it rebuilds the data.
    :return: a dataclass field.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    meta = {
        "check": check,
        "help": help,
        "kind": kind,
        "stage": stage,
        "mode": mode,
        "data": data,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TaskConfig:
    r"""Every setting of one task run, checked at construction (one error naming the setting).

    Build it through :func:`deepinv_jitter.experiments.tasks.get_task` (which merges the task's
    defaults, the preset and your overrides) or :meth:`replace`. Each setting is declared once,
    below, with :func:`setting` (its default, check, one line of help, type, the stage and mode
    that read it); :data:`SETTINGS` collects the declarations. Task-specific settings live in
    ``options``, declared by the task's :class:`TaskSpec`.

    :param str name: the task's registry name.
    :param str preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
    :param dict options: task-specific settings declared by the task's :class:`TaskSpec`.
    :raises ValueError: a setting of the wrong type or out of range, naming it.

    >>> TaskConfig(name="seismic", epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0
    """

    name: str
    preset: str = "quick"
    seed: int = setting(
        0, _int(0), "seed of the data, the weights and the training order",
        kind="int >= 0", data=True,
    )  # fmt: skip
    device: str = setting(
        "cpu", _device, "where to run: cpu or cuda[:N]", kind="device name",
        stage="place", data=True,
    )  # fmt: skip
    data_root: str | None = setting(
        None, _data_root, "real data instead of the task's built-in data (a SEG-Y file, a "
        "folder of fastMRI .h5 files; stored absolute)", kind="path or None", stage="place",
        data=True,
    )  # fmt: skip
    img_size: tuple[int, int] = setting(
        (64, 64), _size, "image size (H, W)", kind="pair of ints >= 1", data=True
    )
    max_iter: int = setting(
        5, _int(1), "unrolled iterations (deepinv's max_iter; n_iter before 0.3)",
        kind="int >= 1",
    )  # fmt: skip
    algorithm: str = setting(
        "gd", _choice(ALGORITHMS), "the unrolled deepinv algorithm",
        kind=" | ".join(ALGORITHMS),
    )  # fmt: skip
    hidden: int = setting(
        32, _int(1), "width (feature channels) of the prior network (channels before 0.3)",
        kind="int >= 1",
    )  # fmt: skip
    depth: int | None = setting(
        None, _optional(_int(1)), "layers of the prior (None: the builder's default)",
        kind="int >= 1 or None",
    )  # fmt: skip
    learn_stepsize: bool = setting(
        True, _bool, "learn the unrolled step size", kind="bool"
    )
    condition_on_y: bool = setting(
        False,
        _bool,
        "the prior also sees x_0 (where the task supports it)",
        kind="bool",
    )
    noise_sigma: float = setting(
        0.01, _float(0), "std of the Gaussian measurement noise", kind="float >= 0",
        data=True,
    )  # fmt: skip
    attack_eps: float = setting(
        0.5,
        lambda v, name: check_number(v, name, low=0, strict=True, high=1e18),
        "L2 budget of the evaluation attack and of adversarial training",
        kind="0 < float <= 1e18",
        mode="adversarial",
    )
    attack_relative: bool = setting(
        False, _bool, "attack budget relative to ||y||", kind="bool", mode="adversarial"
    )
    train_attack_steps: int = setting(
        5, _int(1), "PGD steps per batch in adversarial training", kind="int >= 1",
        mode="adversarial",
    )  # fmt: skip
    eval_attack_steps: int = setting(
        20, _int(1), "PGD steps of the evaluation attack", kind="int >= 1", stage="eval"
    )
    attack_step_size: float | None = setting(
        None, _optional(_float(0, strict=True)),
        "PGD step as a fraction of the budget (None: Madry's 2.5 / steps)",
        kind="float > 0 or None", mode="adversarial",
    )  # fmt: skip
    curve_eps: list[float] | None = setting(
        None, _budgets, "budgets of the PSNR-vs-eps curve (None: 0, 1/4, 1/2, 1, 2 x eps)",
        kind="list of floats >= 0 or None", stage="eval",
    )  # fmt: skip
    gaussian_draws: int = setting(
        32, _int(1), "random perturbations per test sample in the average-case condition",
        kind="int >= 1", stage="eval",
    )  # fmt: skip
    jitter_sigma: float = setting(
        0.1, _float(0), "sigma of sgd_jitter", kind="float >= 0", mode="sgd_jitter"
    )
    jitter_scale: str = setting(
        "iterate", _choice(SCALES), "scale rule of sgd_jitter", kind=" | ".join(SCALES),
        mode="sgd_jitter",
    )  # fmt: skip
    input_sigma: float = setting(
        0.05, _float(0), "std of the noise added to y by input_jitter", kind="float >= 0",
        mode="input_jitter",
    )  # fmt: skip
    epochs: int = setting(10, _int(1), "training epochs", kind="int >= 1")
    batch_size: int = setting(8, _int(1), "batch size", kind="int >= 1")
    lr: float = setting(
        1e-3, _float(0, strict=True),
        "Adam learning rate (cosine-annealed to zero over epochs)", kind="float > 0",
    )  # fmt: skip
    n_train: int = setting(64, _int(1), "training images", kind="int >= 1", data=True)
    n_test: int = setting(16, _int(1), "test images", kind="int >= 1", data=True)
    precision: str = setting(
        "fp32", _choice(PRECISIONS),
        "training precision (mixed precision through deepinv's Trainer; noise, attacks and "
        "metrics stay in float32)", kind=" | ".join(PRECISIONS),
    )  # fmt: skip
    online_measurements: bool = setting(
        True, _bool,
        "fresh measurement noise every training batch (False: one fixed noisy measurement "
        "per training image, drawn from the seed)", kind="bool",
    )  # fmt: skip
    threads: int | None = setting(
        None, _optional(_int(1)),
        "CPU threads for training and evaluation (None: torch's default)",
        kind="int >= 1 or None",
    )  # fmt: skip
    channels_last: bool = setting(
        True, _bool,
        "convolutions in channels_last layout (the same function, other rounding)",
        kind="bool",
    )  # fmt: skip
    compile_prior: bool = setting(
        False, _bool, "compile the prior's layers with torch.compile (CNN priors only)",
        kind="bool",
    )  # fmt: skip
    eval_batch_size: int | None = setting(
        None, _optional(_int(1)), "batch size of the test loader (None: batch_size)",
        kind="int >= 1 or None", stage="eval",
    )  # fmt: skip
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.preset not in PRESET_NAMES:
            raise ValueError(
                f"preset must be one of {', '.join(PRESET_NAMES)}; got {self.preset!r}"
            )
        for key, meta in SETTINGS.items():
            value = meta["check"](getattr(self, key), key)
            object.__setattr__(self, key, value)
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

        :param changes: settings (former names, e.g. ``n_iter``, are accepted with a
            :class:`DeprecationWarning`).
        :return: a new :class:`TaskConfig`.
        :raises ValueError: an unknown setting or a bad value.
        """
        changes = renamed_settings(changes)
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


#: ``{name: the declaration's metadata}`` of every task setting, in declaration order.
SETTINGS: dict[str, dict] = {
    f.name: dict(
        f.metadata, default=f.default if f.default is not dataclasses.MISSING else None
    )
    for f in dataclasses.fields(TaskConfig)
    if "check" in f.metadata
}
#: settings read by evaluation only: a trained run is reused when they change
EVAL_ONLY = frozenset(k for k, m in SETTINGS.items() if m["stage"] == "eval")
#: settings that never change the trained weights: where it runs, where the data lies
PLACE_ONLY = frozenset(k for k, m in SETTINGS.items() if m["stage"] == "place")
#: settings that only one perturbing mode reads
MODE_ONLY = {k: m["mode"] for k, m in SETTINGS.items() if m["mode"]}
#: settings whose change rebuilds the data
DATA_SETTINGS = frozenset(k for k, m in SETTINGS.items() if m["data"])
#: former names of settings, accepted with a deprecation warning (saved settings, ``--set``)
RENAMED = {"n_iter": "max_iter", "channels": "hidden"}


def renamed_settings(settings: dict) -> dict:
    r"""``settings`` with former names (:data:`RENAMED`) replaced by today's, with a
    :class:`DeprecationWarning` for each.

    :param dict settings: settings by name.
    :return: a new dict.
    :raises ValueError: a setting given under both names.

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     renamed_settings({"n_iter": 3, "epochs": 2})
    {'max_iter': 3, 'epochs': 2}
    """
    import warnings

    out = {}
    for key, value in settings.items():
        if key in RENAMED:
            new = RENAMED[key]
            if new in settings:
                raise ValueError(
                    f"{key} and {new} are the same setting: give {new} only"
                )
            warnings.warn(
                f"task setting {key!r} is now {new!r} (the old name works for now)",
                DeprecationWarning,
                stacklevel=3,
            )
            key = new
        out[key] = value
    return out


def settings_help() -> str:
    r"""One line per task setting (name, type and range, what it is, who reads it), derived from
    the declarations: the command line prints it after ``--help``.

    :return: the text.
    """
    lines = []
    for name, m in SETTINGS.items():
        reads = {"eval": "evaluation", "place": "placement"}.get(m["stage"], "training")
        if m["mode"]:
            reads = f"training in {m['mode']} only"
            if name.startswith("attack_") and name != "attack_step_size":
                reads += ", and evaluation"
        lines.append(f"  {name} ({m['kind']}; {reads}): {m['help']}")
    return "\n".join(lines)


def _config_docstring() -> str:
    params = []
    for name, m in SETTINGS.items():
        reads = STAGES[m["stage"]]
        if m["mode"]:
            reads += f", by ``{m['mode']}`` only"
        params.append(
            f"    :param {name}: {m['help']} ({m['kind']}; default ``{m['default']!r}``; {reads})."
        )
    doc = TaskConfig.__doc__
    anchor = "    :param dict options:"
    return doc.replace(anchor, "\n".join(params) + "\n" + anchor)


TaskConfig.__doc__ = _config_docstring()


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
    :param frozenset unused: settings this task does not read (refused when set, left out of the
        run identity), e.g. the depth of a prior the task does not have.
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
    data_settings: frozenset = DATA_SETTINGS
    unused: frozenset = frozenset()

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
        overrides = renamed_settings(overrides)
        ignored = sorted(set(overrides) & set(self.unused))
        if ignored:
            raise ValueError(
                f"the {self.name} task does not read {', '.join(ignored)}: setting "
                f"{'it' if len(ignored) == 1 else 'them'} would be recorded without effect"
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
    :meth:`replace`. Its settings are ``task.config`` (a :class:`TaskConfig`, plain attributes:
    ``task.config.epochs``), task options ``task.option(name)``; ``name``, ``preset``, ``seed``
    and ``device`` are also properties of the task. The physics and data are built once;
    :meth:`build_model` gives a fresh, seeded network each call, so every training mode starts
    from the same weights.

    :param TaskSpec spec: the task's module.
    :param TaskConfig config: the settings.
    :param TaskData data: the built physics and data (``None``: built now).

    >>> from deepinv_jitter.experiments.tasks import get_task
    >>> task = get_task("seismic", "smoke")
    >>> task.config.img_size, task.preset, task.replace(jitter_sigma=0.2).config.jitter_sigma
    ((64, 64), 'smoke', 0.2)
    """

    def __init__(
        self, spec: TaskSpec, config: TaskConfig, data: TaskData | None = None
    ):
        self.spec = spec
        self._data = data if data is not None else spec.build_data(config)
        # real data may hold fewer items than asked: the task records the sizes it has, so that
        # no run is labelled with data it never had
        got = {
            "n_train": len(self._data.train_dataset),
            "n_test": len(self._data.test_dataset),
        }
        short = {k: v for k, v in got.items() if v < getattr(config, k)}
        self.size_note = (
            "the data gives "
            + ", ".join(
                f"{k} {v} (of {getattr(config, k)} asked)" for k, v in short.items()
            )
            if short
            else ""
        )
        self.config = dataclasses.replace(config, **short) if short else config

    # the identity of the task, read often; every other setting is read from ``config``
    @property
    def name(self) -> str:
        r"""The task's registry name."""
        return self.config.name

    @property
    def preset(self) -> str:
        r"""The preset."""
        return self.config.preset

    @property
    def seed(self) -> int:
        r"""The seed of the data, the weights and the training order."""
        return self.config.seed

    @property
    def device(self) -> str:
        r"""Where the task runs."""
        return self.config.device

    def option(self, key: str):
        r"""A task-specific setting (declared by the task's :class:`TaskSpec`).

        :param str key: its name.
        :return: its value.
        :raises KeyError: a name the task does not declare.
        """
        return self.config.options[key]

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
        if self.config.channels_last:
            # 4-D weights only: convolutions then run on NHWC feature maps
            model = model.to(memory_format=torch.channels_last)
        if self.config.compile_prior:
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
            if self.config.online_measurements
            else self.fixed_measurements()
        )
        g = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            data, batch_size=self.config.batch_size, shuffle=True, generator=g
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
        size = self.config.eval_batch_size or self.config.batch_size
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
            jitter_sigma=self.config.jitter_sigma,
            jitter_scale=self.config.jitter_scale,
            input_sigma=self.config.input_sigma,
            attack_eps=self.config.attack_eps,
            attack_steps=self.config.train_attack_steps,
            attack_step_size=self.config.attack_step_size,
            attack_relative=self.config.attack_relative,
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
        changes = renamed_settings(changes)
        config = self.config.replace(**changes)
        rebuild = set(changes) & (set(self.spec.data_settings) | set(config.options))
        return Task(self.spec, config, None if rebuild else self._data)
