r"""Data-parallel training under ``torchrun``, in one place: the trainer layer
(:mod:`~deepinv_jitter.training.data_parallel.trainer`: :class:`DistributedJitterTrainer`,
:class:`DataParallelMixin`) and its process-group helpers
(:mod:`~deepinv_jitter.training.data_parallel.process_group`: ranks, barriers, sharded loaders,
all-reduced meters)."""

from .trainer import DataParallelMixin, DistributedJitterTrainer

__all__ = ["DistributedJitterTrainer", "DataParallelMixin"]
