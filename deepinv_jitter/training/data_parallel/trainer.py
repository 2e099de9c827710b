r"""Data-parallel training under ``torchrun``: :class:`DistributedJitterTrainer`.

A separate layer over :class:`~deepinv_jitter.training.JitterTrainer` (which knows nothing of
processes): :class:`DataParallelMixin` adds the process group, the
:class:`~torch.nn.parallel.DistributedDataParallel` wrapper, data sharding, metric averaging and
rank-0-only side effects, using the helpers of :mod:`deepinv_jitter.training.data_parallel.process_group`.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..trainer import JitterTrainer
from . import process_group as _dist

__all__ = ["DataParallelMixin", "DistributedJitterTrainer"]


class DataParallelMixin:
    r"""Distributed data parallelism for a :class:`~deepinv_jitter.training.JitterTrainer`.

    When started by torchrun (or when a :mod:`torch.distributed` process group already exists) and
    ``distributed`` is not ``False``, the trainer initialises the process group (``nccl`` on CUDA,
    ``gloo`` on CPU; ``--device cuda`` becomes ``cuda:LOCAL_RANK``), wraps the model in
    :class:`~torch.nn.parallel.DistributedDataParallel` for training forward passes only
    (``self.model`` stays the plain module: checkpoints, evaluation, attacks and the returned model
    never see the wrapper), shards every train loader with
    :class:`~deepinv_jitter.training.data_parallel.process_group.EpochDistributedSampler` (reshuffled each epoch,
    the same permutation on every rank, ``batch_size`` per rank) and evaluation/test loaders exactly
    (each sample on one rank), averages loss and metric meters over all ranks at the end of each
    epoch phase (so histories, best-model choice, early stopping and :meth:`test` results are global
    and identical on every rank), writes checkpoints and logs on rank 0 only (the others wait at a
    barrier), and draws the perturbations' noise of rank ``r`` from generators seeded from
    ``jitter_seed + r`` (every rank's generator states are checkpointed and restored). One process
    without a launcher behaves exactly as :class:`~deepinv_jitter.training.JitterTrainer`.

    Checkpoint files are written by the trainer's ``write_checkpoint`` hook, which this layer calls
    on rank 0 only: override that hook, not ``save_model``, to change how files are written.
    Progress bars show rank 0's running averages. Under DDP, use one training dataloader and losses
    that call the model once per batch.
    """

    def __post_init__(self):
        if self.distributed is not None and not isinstance(self.distributed, bool):
            raise ValueError(
                f"distributed must be True, False or None, got {self.distributed!r}"
            )
        if self.ddp_kwargs is not None and not isinstance(self.ddp_kwargs, dict):
            raise ValueError(
                f"ddp_kwargs must be a dict or None, got {self.ddp_kwargs!r}"
            )
        self._ddp_active = False
        self._ddp_model = None
        self._saving = False
        super().__post_init__()
        self._setup_distributed()
        if self._ddp_active:
            seed = (
                self.jitter_seed
                if self.jitter_seed is not None
                else torch.initial_seed()
            )
            # independent, reproducible noise per rank
            self.seed_perturbations((seed + _dist.get_rank()) % (2**63))
            self.configure_model()

    def _setup_distributed(self):
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
            for p in (
                self.physics
                if isinstance(self.physics, (list, tuple))
                else [self.physics]
            ):
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

    def setup_train(self, train: bool = True, **kwargs):
        r"""The trainer's set-up; under DDP also shards the loaders and builds the DDP wrapper.

        :param bool train: whether the model is being trained.
        """
        if not self._ddp_active:
            return super().setup_train(train=train, **kwargs)
        # rank 0 alone creates deepinv's timestamped checkpoint folder; the others learn its name
        if not _dist.is_main_process():
            self.save_path = None
        super().setup_train(train=train, **kwargs)
        self.save_path = _dist.broadcast_object(self.save_path)
        self._shard_loaders(train)
        self._ddp_model = None
        if train:
            self._ddp_model = self.wrap_model(self.model)
            if self.verbose:
                bs = [
                    getattr(loader, "batch_size", None)
                    for loader in self.train_dataloader
                ]
                print(
                    f"JitterTrainer: DistributedDataParallel, world size {self.world_size}, "
                    f"backend {torch.distributed.get_backend()}, device {self.device}, "
                    f"batch size per rank {bs[0] if len(bs) == 1 else bs}"
                )

    def wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        r"""The DistributedDataParallel wrapper used for training forward passes (DDP only).

        Built at the start of :meth:`train`, after any checkpoint is loaded; its construction
        broadcasts rank 0's parameters and buffers, so all replicas start identical. Override to
        change how the model is wrapped.

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
                    # resumed runs continue the shuffle sequence
                    sampler.set_epoch(self.epoch_start)
        if self.eval_dataloader is not None:
            self.eval_dataloader = [
                self._shard_eval(loader) for loader in self.eval_dataloader
            ]

    def _shard_eval(self, loader):
        # exact partition; a loader with fewer samples than ranks is left whole (a rank with no
        # batch would miss the metric all-reduce)
        n = len(loader.dataset) if hasattr(loader, "dataset") else 0
        if n < self.world_size:
            return loader
        return _dist.shard_dataloader(loader, self.rank, self.world_size, pad=False)

    @contextmanager
    def _training_batch(self):
        plain = self.model
        if self._ddp_model is not None:
            # the training forward (and so its backward's gradient all-reduce) goes through DDP;
            # everything else (attack, clean metrics, evaluation, checkpoints) uses the plain module
            self.model = self._ddp_model
        try:
            with super()._training_batch():
                yield
        finally:
            self.model = plain

    def checkpoint_state(self) -> dict:
        r"""The trainer's checkpoint state; under DDP also every rank's noise-generator state.

        :return: a dict.
        """
        state = super().checkpoint_state()
        if self._ddp_active:
            state["perturbation_rng_ranks"] = self._rng_states
            state["torch_rng_ranks"] = self._torch_rng_states
            state["world_size"] = self.world_size
        return state

    def save_model(self, filename, epoch, state=None):
        r"""Every rank joins the collective part (gathering the generator states), rank 0 alone
        writes (through ``write_checkpoint``), all wait until the file is complete.

        :param str filename: checkpoint file name.
        :param int epoch: current epoch.
        :param dict state: extra objects to save.
        """
        if not self._ddp_active or self._saving:
            return super().save_model(filename, epoch, state)
        self._saving = True
        try:
            self._rng_states = _dist.all_gather_object(
                [p.get_rng_state() for p in self.perturbations]
            )
            # each rank's global generator too (its measurement noise stream)
            self._torch_rng_states = _dist.all_gather_object(torch.get_rng_state())
            out = (
                super().save_model(filename, epoch, state)
                if _dist.is_main_process()
                else None
            )
        finally:
            self._saving = False
        _dist.barrier()  # nobody reads or moves on before the file is complete
        return out

    def restore_random_state(self, checkpoint: dict) -> None:
        r"""Restore the saved random states; under DDP every rank restores its own generators (noise
        and global) when the checkpoint was written with the same world size, otherwise rank
        ``r > 0`` reseeds its noise generator from rank 0's state plus ``r``.

        :param dict checkpoint: a checkpoint dict.
        """
        super().restore_random_state(checkpoint)
        if not self._ddp_active:
            return
        torch_ranks = checkpoint.get("torch_rng_ranks")
        if torch_ranks is not None and len(torch_ranks) == self.world_size:
            torch.set_rng_state(torch_ranks[self.rank].cpu())
        ranks = checkpoint.get("perturbation_rng_ranks")
        if ranks is not None and len(ranks) == self.world_size:
            for p, st in zip(self.perturbations, ranks[self.rank]):
                p.set_rng_state(st)
        elif self.rank > 0:
            # another world size: rank r continues from rank 0's states, shifted by r
            for p in self.perturbations:
                if p.rng is not None:
                    draw = torch.randint(
                        0, 2**62, (1,), generator=p.rng, device=p.rng.device
                    )
                    p.rng.manual_seed(int(draw) + self.rank)

    def step(
        self,
        epoch,
        progress_bar,
        train_ite=None,
        train=True,
        last_batch=False,
        **kwargs,
    ):
        r"""The trainer's ``step``; under DDP, at the last batch of an epoch phase the loss and metric
        meters are averaged over all ranks (before deepinv stores them in its histories).

        :return: what deepinv's ``step`` returns.
        """
        out = super().step(
            epoch,
            progress_bar,
            train_ite=train_ite,
            train=train,
            last_batch=last_batch,
            **kwargs,
        )
        if self._ddp_active and last_batch:
            self.sync_meters(train)
        return out

    def sync_meters(self, train: bool):
        r"""Average this phase's loss and metric meters over all ranks, in place (DDP only).

        :param bool train: the training meters (``True``) or the evaluation ones.
        """
        if train:
            meters = [
                self.logs_total_loss_train,
                *self.logs_losses_train,
                *self.logs_metrics_train,
            ]
            meters.append(getattr(self, "check_grad_val", None))
        else:
            meters = [
                self.logs_total_loss_eval,
                *self.logs_losses_eval,
                *self.logs_metrics_eval,
            ]
            if self.compare_no_learning:
                meters += list(getattr(self, "logs_metrics_no_learning", []))
        _dist.all_reduce_meters(meters)

    def test(self, test_dataloader, *args, **kwargs) -> dict:
        r"""The trainer's ``test``; under DDP each rank tests its shard and the metrics are averaged
        over all samples of all ranks (identical results on every rank).

        :return: dict of metrics, as deepinv's.
        """
        if self._ddp_active:
            loaders = (
                test_dataloader
                if isinstance(test_dataloader, (list, tuple))
                else [test_dataloader]
            )
            test_dataloader = [self._shard_eval(loader) for loader in loaders]
        return super().test(test_dataloader, *args, **kwargs)

    def train(self, *args, **kwargs):
        r"""The trainer's ``train``; returns the plain (unwrapped) model, identical on every rank.

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
        r"""Checksums of every rank's weights
        (:func:`~deepinv_jitter.training.data_parallel.process_group.state_dict_checksum`); warns if the replicas
        differ (they never should under DDP). Called at the end of :meth:`train`.

        :return: the checksums in rank order (one entry without DDP).
        """
        sums = _dist.all_gather_object(_dist.state_dict_checksum(self.model))
        if len(set(sums)) > 1:
            warnings.warn(
                f"JitterTrainer: model replicas differ across ranks (checksums {sums})",
                stacklevel=2,
            )
        elif self.verbose and self._ddp_active:
            print(
                f"JitterTrainer: weights identical on all {len(sums)} ranks (checksum {sums[0]})"
            )
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


@dataclass
class DistributedJitterTrainer(DataParallelMixin, JitterTrainer):
    r""":class:`~deepinv_jitter.training.JitterTrainer` that also runs data-parallel under
    ``torchrun --nproc_per_node=K`` (see :class:`DataParallelMixin`); in one process without a
    launcher it is exactly a :class:`~deepinv_jitter.training.JitterTrainer`.

    :param bool distributed: ``None`` (default): data-parallel when started by torchrun or when a
        process group exists; ``False``: never (one process, as if alone); ``True``: require it.
    :param dict ddp_kwargs: extra keyword arguments of
        :class:`~torch.nn.parallel.DistributedDataParallel` (e.g. ``find_unused_parameters=True``).
    :raises ValueError: (at construction) a bad value of a field, naming it.
    :raises RuntimeError: (at construction) ``distributed=True`` without torchrun's environment or a
        process group.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter.training import DistributedJitterTrainer
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1))
    >>> model = dinv.optim.GD(dinv.optim.L2(), unfold=True, max_iter=2, g_param=0.0)
    >>> data = dinv.datasets.TensorDataset(x=torch.rand(4, 1, 8, 8))
    >>> trainer = DistributedJitterTrainer(
    ...     model, physics, None, torch.utils.data.DataLoader(data, batch_size=2), epochs=1,
    ...     online_measurements=True, save_path=None, verbose=False, show_progress_bar=False,
    ... )
    >>> trainer.world_size, trainer.rank
    (1, 0)
    """

    distributed: bool | None = None
    ddp_kwargs: dict | None = None
