r"""JitterTrainer: deepinv's Trainer with the paper's four training modes as one argument."""

from __future__ import annotations

import functools
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from deepinv.training import Trainer

from ..optim.jitter import SCALES, jitterize, suppress_jitter
from ..robustness.attacks import pgd_attack
from . import distributed as _dist

__all__ = ["JitterTrainer", "TRAINING_MODES"]

#: The allowed values of ``JitterTrainer.training_mode``.
TRAINING_MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def _rank_zero_save(fn):
    """Wrap a ``save_model``: every rank joins the collective part, rank 0 alone writes, all wait.

    Applied to JitterTrainer.save_model and, by ``__init_subclass__``, to every subclass override, so a
    subclass's own file handling (e.g. the CLI's atomic rename) also runs on rank 0 only. Only the
    outermost call of a ``super()`` chain does the collective part.
    """
    if getattr(fn, "_rank_zero_guarded", False):
        return fn

    @functools.wraps(fn)
    def save_model(self, filename, epoch, state=None):
        if not getattr(self, "_ddp_active", False) or getattr(self, "_saving", False):
            return fn(self, filename, epoch, state)
        self._saving = True
        try:
            # each rank's noise-generator state, so that a resumed run continues every rank's stream
            self._rng_states = _dist.all_gather_object(
                None if self._generator is None else self._generator.get_state()
            )
            out = fn(self, filename, epoch, state) if _dist.is_main_process() else None
        finally:
            self._saving = False
        _dist.barrier()  # nobody reads or moves on before the file is complete
        return out

    save_model._rank_zero_guarded = True
    return save_model


@dataclass
class JitterTrainer(Trainer):
    r"""Trainer for unrolled networks with SGD jittering and the paper's baselines.

    A :class:`deepinv.Trainer` (all its fields and behaviour: online/offline measurements, physics
    generators, several dataloaders, checkpoints, mixed precision, devices) with one extra choice,
    ``training_mode``:

    - ``"mse"``: plain supervised training (deepinv's Trainer, unchanged).
    - ``"sgd_jitter"``: the model is jitterized (:func:`deepinv_jitter.jitterize`, if it is not already)
      and every *training* forward pass draws fresh noise in each unrolled iteration,
      :math:`w_k \sim \mathcal{N}(0, s_k^2 I)` with :math:`\sigma` = ``jitter_sigma`` and the scale rule
      ``jitter_scale`` (see :mod:`deepinv_jitter.optim.jitter`). Needs a deepinv GD/PGD unfolded model.
    - ``"input_jitter"``: training measurements become :math:`y + \mathcal{N}(0, \sigma_{in}^2 I)`,
      :math:`\sigma_{in}` = ``input_sigma`` (Krainovic et al., 2023). Any reconstructor.
    - ``"adversarial"``: training measurements become :math:`y + \delta` with :math:`\delta` from
      :func:`deepinv_jitter.robustness.pgd_attack` (``attack_eps``, ``attack_steps``,
      ``attack_step_size``, ``attack_relative``). Any reconstructor; needs ground truth ``x``.

    No noise and no attack ever reach validation, :meth:`test`, evaluation metrics or evaluation losses.
    deepinv 0.5.0 computes evaluation losses (``compute_eval_losses=True``) through
    ``model_inference(train=True)``, i.e. in train mode, which would jitter them (and update batch-norm
    statistics); here every inference outside a training batch runs in eval mode under ``no_grad``.
    Training metrics (``compute_train_metrics=True``) are computed on a clean eval-mode pass when
    ``clean_train_metrics=True`` (one extra no-grad forward per batch); set it to ``False`` to log the
    metrics of the perturbed training pass instead, as deepinv does for dropout.

    Per-batch hooks, small and overridable: :meth:`perturb_measurement` (input noise / attack),
    :meth:`noise_context` (iterate noise on or off for a training pass), :meth:`attack_target` (the module
    the attack differentiates), :meth:`configure_model`.

    **Several processes** (``torchrun --nproc_per_node=K``, one node or several; see
    :mod:`deepinv_jitter.training.distributed`). When started by torchrun (or when a
    :mod:`torch.distributed` process group already exists) and ``distributed`` is not ``False``, the
    trainer initialises the process group (``nccl`` on CUDA, ``gloo`` on CPU; ``--device cuda`` becomes
    ``cuda:LOCAL_RANK``), wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel` for
    training forward passes only (``self.model`` stays the plain module: checkpoints, evaluation,
    attacks and the returned model never see the wrapper), shards every train loader with
    :class:`~deepinv_jitter.training.distributed.EpochDistributedSampler` (reshuffled each epoch, the same
    permutation on every rank, ``batch_size`` per rank) and evaluation/test loaders exactly (each sample
    on one rank), averages loss and metric meters over all ranks at the end of each epoch phase (so
    histories, best-model choice, early stopping and :meth:`test` results are global and identical on
    every rank), writes checkpoints and logs on rank 0 only (the others wait at a barrier), and draws the
    iterate/input noise of rank ``r`` from a generator seeded ``jitter_seed + r`` (every rank's generator
    state is checkpointed and restored). One process without a launcher behaves exactly as before.
    Progress bars show rank 0's running averages. Under DDP, use one training dataloader and losses that
    call the model once per batch.

    :param str training_mode: ``"mse"``, ``"sgd_jitter"`` (default), ``"input_jitter"`` or ``"adversarial"``.
    :param float jitter_sigma: iterate-noise level :math:`\sigma \ge 0` for ``"sgd_jitter"``. Default 0.1.
    :param str jitter_scale: ``"relative"`` (default), ``"absolute"`` or ``"iterate"``.
    :param float input_sigma: measurement-noise std :math:`\ge 0` for ``"input_jitter"``. Default 0.05.
    :param float attack_eps: L2 budget :math:`> 0` of the training attack. Default 1.0.
    :param int attack_steps: PGD steps :math:`\ge 1`. Default 20.
    :param float attack_step_size: step as a fraction of the budget, :math:`> 0`. Default 0.1.
    :param bool attack_relative: budget ``attack_eps * ||y||`` per sample. Default ``False``.
    :param bool clean_train_metrics: see above. Default ``True``.
    :param int jitter_seed: seed of the generator of the iterate and input noise (``None``: torch's
        global generator; under DDP ``torch.initial_seed()`` then seeds a generator). Its state is saved in
        checkpoints and restored on resume. Rank ``r`` of a distributed run uses ``jitter_seed + r``.
    :param bool distributed: ``None`` (default): data-parallel when started by torchrun or when a
        process group exists; ``False``: never (one process, as if alone); ``True``: require it.
    :param dict ddp_kwargs: extra keyword arguments of
        :class:`~torch.nn.parallel.DistributedDataParallel` (e.g. ``find_unused_parameters=True``).
    :raises ValueError: (at construction) a bad value of one of the fields above, naming the field and
        the allowed values.
    :raises TypeError: (at construction) ``training_mode="sgd_jitter"`` with a model that has no deepinv
        GD/PGD iterator.
    :raises RuntimeError: (at construction) ``distributed=True`` without torchrun's environment or a
        process group.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter import JitterTrainer
    >>> from deepinv_jitter.models import build_unrolled
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1))
    >>> model = build_unrolled(physics, "seismic", "gd", stepsize=0.5, hidden=4, depth=2)
    >>> data = dinv.datasets.TensorDataset(x=torch.rand(4, 1, 8, 8))
    >>> trainer = JitterTrainer(
    ...     model, physics, torch.optim.Adam(model.parameters(), 1e-3),
    ...     torch.utils.data.DataLoader(data, batch_size=2), epochs=1, online_measurements=True,
    ...     training_mode="sgd_jitter", jitter_sigma=0.1, save_path=None, verbose=False,
    ...     show_progress_bar=False, device="cpu",
    ... )
    >>> model = trainer.train()
    >>> type(model.fixed_point.iterator).__name__
    'JitterGDIteration'
    """

    training_mode: str = "sgd_jitter"
    jitter_sigma: float = 0.1
    jitter_scale: str = "relative"
    input_sigma: float = 0.05
    attack_eps: float = 1.0
    attack_steps: int = 20
    attack_step_size: float = 0.1
    attack_relative: bool = False
    clean_train_metrics: bool = True
    jitter_seed: int | None = None
    distributed: bool | None = None
    ddp_kwargs: dict | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "save_model" in cls.__dict__:
            cls.save_model = _rank_zero_save(cls.__dict__["save_model"])

    def __post_init__(self):
        self._validate_jitter_fields()
        super().__post_init__()
        self._training_pass = False
        self._generator = None
        self._ddp_model = None
        self._setup_distributed()
        seed = self.jitter_seed
        if self._ddp_active:
            if seed is None:
                seed = torch.initial_seed()
            # independent, reproducible noise per rank
            seed = (seed + _dist.get_rank()) % (2**63)
        if seed is not None:
            self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self.configure_model()

    # ----------------------------------------------------------------- distributed set-up
    def _setup_distributed(self):
        if self.distributed is not None and not isinstance(self.distributed, bool):
            raise ValueError(f"distributed must be True, False or None, got {self.distributed!r}")
        if self.ddp_kwargs is not None and not isinstance(self.ddp_kwargs, dict):
            raise ValueError(f"ddp_kwargs must be a dict or None, got {self.ddp_kwargs!r}")
        self._ddp_active = False
        if self.distributed is False:
            return
        if not _dist.init_distributed(self.device):
            if self.distributed:
                raise RuntimeError(
                    "distributed=True needs torchrun's environment (RANK, WORLD_SIZE, ...) or an "
                    "initialised torch.distributed process group"
                )
            return
        self._ddp_active = True
        device = _dist.rank_device(self.device)
        if device != self.device:
            # --device cuda on a node with several GPUs: one GPU per local rank
            self.device = device
            self.model.to(device)
            for p in self.physics if isinstance(self.physics, (list, tuple)) else [self.physics]:
                if isinstance(p, torch.nn.Module):
                    p.to(device)
        # measurement noise and other draws from torch's global generator: an independent,
        # reproducible stream per rank (as deepinv's DistributedContext(seed_offset=True) does)
        torch.manual_seed((torch.initial_seed() + _dist.get_rank()) % (2**63))
        if not _dist.is_main_process():
            # logs and progress bars on rank 0 only
            self.verbose = False
            self.show_progress_bar = False

    @property
    def world_size(self) -> int:
        r"""Number of data-parallel processes (1 without DDP)."""
        return _dist.get_world_size() if self._ddp_active else 1

    @property
    def rank(self) -> int:
        r"""This process's rank (0 without DDP)."""
        return _dist.get_rank() if self._ddp_active else 0

    # ----------------------------------------------------------------- validation and setup
    def _validate_jitter_fields(self):
        if self.training_mode not in TRAINING_MODES:
            raise ValueError(
                f"training_mode must be one of {TRAINING_MODES}, got {self.training_mode!r}"
            )
        for name in ("jitter_sigma", "input_sigma"):
            v = getattr(self, name)
            if not _is_number(v) or not v >= 0:
                raise ValueError(f"{name} must be a float >= 0, got {v!r}")
        if self.jitter_scale not in SCALES:
            raise ValueError(f"jitter_scale must be one of {SCALES}, got {self.jitter_scale!r}")
        if not _is_number(self.attack_eps) or not self.attack_eps > 0:
            raise ValueError(f"attack_eps must be a float > 0, got {self.attack_eps!r}")
        if (
            isinstance(self.attack_steps, bool)
            or not isinstance(self.attack_steps, int)
            or self.attack_steps < 1
        ):
            raise ValueError(f"attack_steps must be an integer >= 1, got {self.attack_steps!r}")
        if not _is_number(self.attack_step_size) or not self.attack_step_size > 0:
            raise ValueError(f"attack_step_size must be a float > 0, got {self.attack_step_size!r}")
        if self.jitter_seed is not None and (
            isinstance(self.jitter_seed, bool) or not isinstance(self.jitter_seed, int)
        ):
            raise ValueError(f"jitter_seed must be an integer or None, got {self.jitter_seed!r}")

    def configure_model(self):
        r"""In ``"sgd_jitter"`` mode, jitterize the model and set ``sigma``, ``scale`` and the generator.

        Called at construction and again at the start of :meth:`train` / :meth:`test` (so that changed
        fields take effect). Other modes leave the model untouched.

        :raises TypeError: in ``"sgd_jitter"`` mode, if the model has no deepinv GD/PGD iterator.
        """
        if self.training_mode != "sgd_jitter":
            return
        try:
            jitterize(
                self.model,
                sigma=self.jitter_sigma,
                scale=self.jitter_scale,
                generator=self._generator,
            )
        except TypeError as e:
            raise TypeError(
                "training_mode='sgd_jitter' needs a deepinv unfolded GD or PGD model "
                "(deepinv.optim.GD/PGD(..., unfold=True), e.g. deepinv_jitter.models.build_unrolled); "
                f"use training_mode 'mse', 'input_jitter' or 'adversarial' for other models. ({e})"
            ) from e

    def setup_train(self, train: bool = True, **kwargs):
        r"""deepinv's setup, then :meth:`configure_model`.

        :param bool train: whether the model is being trained.
        """
        if not self._ddp_active:
            super().setup_train(train=train, **kwargs)
            self.configure_model()
            return
        # rank 0 alone creates deepinv's timestamped checkpoint folder; the others learn its name
        if not _dist.is_main_process():
            self.save_path = None
        super().setup_train(train=train, **kwargs)
        self.save_path = _dist.broadcast_object(self.save_path)
        self.configure_model()
        self._shard_loaders(train)
        self._ddp_model = None
        if train:
            self._ddp_model = self.wrap_model(self.model)
            if self.verbose:
                bs = [getattr(loader, "batch_size", None) for loader in self.train_dataloader]
                print(
                    f"JitterTrainer: DistributedDataParallel, world size {self.world_size}, "
                    f"backend {torch.distributed.get_backend()}, device {self.device}, "
                    f"batch size per rank {bs[0] if len(bs) == 1 else bs}"
                )

    def wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        r"""The DistributedDataParallel wrapper used for training forward passes (DDP only).

        Built at the start of :meth:`train`, after any checkpoint is loaded; its construction broadcasts
        rank 0's parameters and buffers, so all replicas start identical. Override to change how the
        model is wrapped.

        :param torch.nn.Module model: the plain model.
        :return: (:class:`torch.nn.Module`) the wrapper.
        """
        kwargs = dict(self.ddp_kwargs or {})
        if self.device.type == "cuda":
            kwargs.setdefault("device_ids", [self.device.index])
        return torch.nn.parallel.DistributedDataParallel(model, **kwargs)

    def _shard_loaders(self, train: bool):
        rank, world = _dist.get_rank(), _dist.get_world_size()
        seed = 0 if self.jitter_seed is None else self.jitter_seed
        if train:
            self.train_dataloader = [
                _dist.shard_dataloader(loader, rank, world, seed=seed, pad=True)
                for loader in self.train_dataloader
            ]
            for loader in self.train_dataloader:
                sampler = getattr(loader, "sampler", None)
                if isinstance(sampler, _dist.EpochDistributedSampler):
                    sampler.set_epoch(
                        self.epoch_start
                    )  # resumed runs continue the shuffle sequence
        if self.eval_dataloader is not None:
            self.eval_dataloader = [self._shard_eval(loader) for loader in self.eval_dataloader]

    def _shard_eval(self, loader):
        # exact partition; a loader with fewer samples than ranks is left whole (a rank with no batch
        # would miss the metric all-reduce)
        n = len(loader.dataset) if hasattr(loader, "dataset") else 0
        if n < self.world_size:
            return loader
        return _dist.shard_dataloader(loader, self.rank, self.world_size, pad=False)

    # ----------------------------------------------------------------- per-batch hooks
    def attack_target(self) -> torch.nn.Module:
        r"""The module attacked in ``"adversarial"`` mode: the model, unwrapped from (Distributed)DataParallel.

        :return: (:class:`torch.nn.Module`) the model.
        """
        m = self.model
        wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
        return m.module if isinstance(m, wrappers) else m

    def perturb_measurement(self, x, y, physics):
        r"""The measurement a training batch is trained on (``y`` itself in ``"mse"``/``"sgd_jitter"``).

        :param torch.Tensor x: ground truth (may be ``None`` except in ``"adversarial"`` mode).
        :param torch.Tensor y: clean measurement.
        :param deepinv.physics.Physics physics: current physics.
        :return: (:class:`torch.Tensor`) the measurement to use.
        :raises ValueError: in ``"adversarial"`` mode without ground truth.
        """
        if self.training_mode == "input_jitter" and self.input_sigma > 0:
            gen = self._generator
            dev = gen.device if gen is not None else y.device
            n = torch.randn(y.shape, generator=gen, device=dev, dtype=y.dtype).to(y.device)
            return y + self.input_sigma * n
        if self.training_mode == "adversarial":
            if x is None:
                raise ValueError("training_mode='adversarial' needs ground truth x in each batch")
            delta = pgd_attack(
                self.attack_target(),
                physics,
                x,
                y,
                eps=float(self.attack_eps),
                steps=self.attack_steps,
                step_size=float(self.attack_step_size),
                relative=self.attack_relative,
            )
            return y + delta
        return y

    def noise_context(self):
        r"""Context for a training forward pass: iterate noise on in ``"sgd_jitter"``, off otherwise.

        :return: a context manager.
        """
        if self.training_mode == "sgd_jitter":
            return nullcontext()
        return suppress_jitter(self.model)

    @contextmanager
    def _training_batch(self):
        self._training_pass = True
        plain = self.model
        if self._ddp_model is not None:
            # the training forward (and so its backward's gradient all-reduce) goes through DDP;
            # everything else (attack, clean metrics, evaluation, checkpoints) uses the plain module
            self.model = self._ddp_model
        try:
            with self.noise_context():
                yield
        finally:
            self.model = plain
            self._training_pass = False

    # ----------------------------------------------------------------- deepinv overrides
    def compute_loss(self, physics, x, y, train: bool = True, epoch: int = None, step=False):
        r"""deepinv's ``compute_loss`` on the perturbed measurement (training) or clean one (evaluation).

        :return: ``(loss_total, x_net, logs)`` as in deepinv.
        """
        if not train:
            return super().compute_loss(physics, x, y, train=False, epoch=epoch, step=step)
        y_train = self.perturb_measurement(x, y, physics)
        with self._training_batch():
            return super().compute_loss(physics, x, y_train, train=True, epoch=epoch, step=step)

    def model_inference(self, y, physics, x=None, train=True, **kwargs):
        r"""deepinv's ``model_inference``; ``train=True`` outside a training batch is run as ``train=False``.

        This is the guard for deepinv 0.5.0's evaluation losses, which call ``model_inference(train=True)``.

        :return: the reconstruction.
        """
        if train and not self._training_pass:
            train = False
        return super().model_inference(y, physics, x=x, train=train, **kwargs)

    def compute_metrics(self, x, x_net, y, physics, logs, train=True, epoch: int = None):
        r"""deepinv's ``compute_metrics``; training metrics on a clean pass when ``clean_train_metrics``.

        :return: ``(x_net, logs)`` as in deepinv.
        """
        if train and self.clean_train_metrics and self.training_mode != "mse":
            x_net = None  # deepinv then re-runs the model in eval mode on the clean y
        return super().compute_metrics(x, x_net, y, physics, logs, train=train, epoch=epoch)

    @_rank_zero_save
    def save_model(self, filename, epoch, state=None):
        r"""deepinv's checkpoint plus the training mode and the noise generator's state.

        Under DDP, written by rank 0 only (the other ranks wait), with every rank's generator state
        (``"jitter_rng_ranks"``); this also holds for subclasses that override this method.

        :param str filename: checkpoint file name.
        :param int epoch: current epoch.
        :param dict state: extra objects to save.
        """
        state = {} if state is None else dict(state)
        state["training_mode"] = self.training_mode
        if self._generator is not None:
            state["jitter_rng"] = self._generator.get_state()
        if self._ddp_active and getattr(self, "_rng_states", None) is not None:
            state["jitter_rng_ranks"] = self._rng_states
            state["world_size"] = self.world_size
        return super().save_model(filename, epoch, state=state)

    def load_model(self, ckpt_pretrained=None, strict: bool = True):
        r"""deepinv's ``load_model``; also restores the noise generator's state when saved.

        Under DDP every rank restores its own generator state when the checkpoint was written with the
        same world size; otherwise rank ``r > 0`` reseeds from rank 0's state plus ``r``.

        :return: the checkpoint dict, or ``None``.
        """
        checkpoint = super().load_model(ckpt_pretrained, strict=strict)
        if checkpoint is None or self._generator is None or "jitter_rng" not in checkpoint:
            return checkpoint
        ranks = checkpoint.get("jitter_rng_ranks")
        if self._ddp_active and ranks is not None and len(ranks) == self.world_size:
            if ranks[self.rank] is not None:
                self._generator.set_state(ranks[self.rank].cpu())
        else:
            self._generator.set_state(checkpoint["jitter_rng"].cpu())
            if self._ddp_active and self.rank > 0:
                draw = torch.randint(
                    0, 2**62, (1,), generator=self._generator, device=self._generator.device
                )
                self._generator.manual_seed(int(draw) + self.rank)
        return checkpoint

    # ----------------------------------------------------------------- distributed overrides
    def step(self, epoch, progress_bar, train_ite=None, train=True, last_batch=False, **kwargs):
        r"""deepinv's ``step``; under DDP, at the last batch of an epoch phase the loss and metric meters
        are averaged over all ranks (before deepinv stores them in its histories).

        :return: what deepinv's ``step`` returns.
        """
        out = super().step(
            epoch, progress_bar, train_ite=train_ite, train=train, last_batch=last_batch, **kwargs
        )
        if self._ddp_active and last_batch:
            self.sync_meters(train)
        return out

    def sync_meters(self, train: bool):
        r"""Average this phase's loss and metric meters over all ranks, in place (DDP only).

        :param bool train: the training meters (``True``) or the evaluation ones.
        """
        if train:
            meters = [self.logs_total_loss_train, *self.logs_losses_train, *self.logs_metrics_train]
            meters.append(getattr(self, "check_grad_val", None))
        else:
            meters = [self.logs_total_loss_eval, *self.logs_losses_eval, *self.logs_metrics_eval]
            if self.compare_no_learning:
                meters += list(getattr(self, "logs_metrics_no_learning", []))
        _dist.all_reduce_meters(meters)

    def test(self, test_dataloader, *args, **kwargs) -> dict:
        r"""deepinv's ``test``; under DDP each rank tests its shard and the metrics are averaged over all
        samples of all ranks (identical results on every rank).

        :return: dict of metrics, as deepinv's.
        """
        if self._ddp_active:
            loaders = (
                test_dataloader if isinstance(test_dataloader, (list, tuple)) else [test_dataloader]
            )
            test_dataloader = [self._shard_eval(loader) for loader in loaders]
        return super().test(test_dataloader, *args, **kwargs)

    def train(self, *args, **kwargs):
        r"""deepinv's ``train``; returns the plain (unwrapped) model, identical on every rank.

        :return: the trained model.
        """
        try:
            model = super().train(*args, **kwargs)
        finally:
            self._ddp_model = None
        if self._ddp_active:
            self.check_replicas()
        return model

    def check_replicas(self) -> list[str]:
        r"""Checksums of every rank's weights (:func:`~deepinv_jitter.training.distributed.state_dict_checksum`);
        warns if the replicas differ (they never should under DDP). Called at the end of :meth:`train`.

        :return: the checksums in rank order (one entry without DDP).
        """
        sums = _dist.all_gather_object(_dist.state_dict_checksum(self.model))
        if len(set(sums)) > 1:
            warnings.warn(f"JitterTrainer: model replicas differ across ranks (checksums {sums})")
        elif self.verbose and self._ddp_active:
            print(f"JitterTrainer: weights identical on all {len(sums)} ranks (checksum {sums[0]})")
        return sums

    def log_metrics_mlops(self, logs: dict, step: int, train: bool = True):
        r"""deepinv's MLOps logging (wandb, MLflow), on rank 0 only.

        :param dict logs: the logs.
        :param int step: the step.
        :param bool train: training or evaluation logs.
        """
        if not self._ddp_active or _dist.is_main_process():
            return super().log_metrics_mlops(logs, step, train=train)
        return None
