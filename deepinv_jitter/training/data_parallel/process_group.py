r"""Multi-process (``torchrun``) helpers for :class:`deepinv_jitter.training.DistributedJitterTrainer`.

deepinv 0.5.0's :class:`deepinv.Trainer` has no distributed data parallel training. This module holds the
small pieces :class:`~deepinv_jitter.training.DistributedJitterTrainer` uses to run under ``torchrun --nproc_per_node=K``
(one node or several): process-group set-up from torchrun's environment, the device of each rank,
data sharding with an epoch-aware :class:`torch.utils.data.distributed.DistributedSampler`, metric
averaging across ranks, and rank-0-only side effects. Everything is a no-op in a single process.

Why not :class:`deepinv.distributed.DistributedContext`: it is a context manager that owns the process
group's lifetime (destroyed on exit) and picks the device itself (any visible GPU), whereas a Trainer is
given its device by the user and is constructed in code (the CLI) that has no ``with`` block to offer.
The two agree on the conventions used here: backend ``nccl`` for CUDA, ``gloo`` for CPU, and
``seed + rank`` for per-rank random streams.

Functions are safe to call whether or not a process group exists:

>>> from deepinv_jitter.training.data_parallel.process_group import get_rank, get_world_size, is_main_process
>>> get_rank(), get_world_size(), is_main_process()
(0, 1, True)
"""

from __future__ import annotations

import atexit
import os
import warnings

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "torchrun_environment",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "init_distributed",
    "rank_device",
    "barrier",
    "EpochDistributedSampler",
    "shard_dataloader",
    "all_reduce_meters",
    "broadcast_object",
    "all_gather_object",
    "state_dict_checksum",
]


def torchrun_environment() -> bool:
    r"""Whether this process was started by ``torchrun`` (or another launcher setting ``RANK`` and
    ``WORLD_SIZE``).

    :return: ``True`` when both variables are set.

    >>> import os
    >>> torchrun_environment() == ("RANK" in os.environ and "WORLD_SIZE" in os.environ)
    True
    """
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_distributed() -> bool:
    r"""Whether a :mod:`torch.distributed` process group is initialised in this process.

    :return: bool.

    >>> is_distributed()
    False
    """
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    r"""This process's global rank (0 without a process group).

    :return: int.

    >>> get_rank()
    0
    """
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    r"""Number of processes in the default group (1 without a process group).

    :return: int.

    >>> get_world_size()
    1
    """
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    r"""Whether this is rank 0 (always ``True`` without a process group): the rank that writes
    checkpoints, results and logs.

    :return: bool.

    >>> is_main_process()
    True
    """
    return get_rank() == 0


def rank_device(device: str | torch.device) -> torch.device:
    r"""The device of this rank: a CUDA device without an index becomes ``cuda:LOCAL_RANK`` (modulo the
    visible GPUs), so ``--device cuda`` gives each process of a node its own GPU; other devices are
    returned unchanged.

    :param str, torch.device device: the requested device.
    :return: (:class:`torch.device`) the device to use.

    >>> rank_device("cpu")
    device(type='cpu')
    """
    device = torch.device(device)
    if (
        device.type != "cuda"
        or device.index is not None
        or not torch.cuda.is_available()
    ):
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))


def init_distributed(device: str | torch.device, backend: str | None = None) -> bool:
    r"""Initialise the default process group from torchrun's environment, if needed and possible.

    Nothing happens when a group already exists (it is reused) or when the process was not started by
    a launcher (:func:`torchrun_environment` is ``False``). Backend: ``nccl`` when ``device`` is CUDA,
    ``gloo`` otherwise, unless ``backend`` is given. For CUDA, the current device is set to
    :func:`rank_device` first (NCCL needs it). A group created here is destroyed at interpreter exit.

    :param str, torch.device device: the trainer's device.
    :param str backend: ``"nccl"``, ``"gloo"`` or ``None`` (automatic).
    :return: ``True`` when a process group is available afterwards.
    :raises RuntimeError: torchrun's environment is set but :mod:`torch.distributed` is unavailable.

    >>> init_distributed("cpu")  # not under torchrun: nothing to do
    False
    """
    if is_distributed():
        return True
    if not torchrun_environment():
        return False
    if not dist.is_available():
        raise RuntimeError(
            "RANK/WORLD_SIZE are set (torchrun) but torch.distributed is not available in this build"
        )
    device = rank_device(device)
    if backend is None:
        backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, device_id=device)
    else:
        dist.init_process_group(backend=backend)
    atexit.register(_destroy)
    return True


def _destroy() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    r"""Wait for every rank (no-op in a single process).

    >>> barrier()
    """
    if is_distributed() and get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    r"""Rank ``src``'s ``obj`` on every rank (identity in a single process).

    :param obj: any picklable object.
    :param int src: the sending rank.
    :return: the object of rank ``src``.

    >>> broadcast_object({"a": 1})
    {'a': 1}
    """
    if not is_distributed() or get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj) -> list:
    r"""Every rank's ``obj``, in rank order (``[obj]`` in a single process).

    :param obj: any picklable object.
    :return: list of length world size.

    >>> all_gather_object(3)
    [3]
    """
    if not is_distributed() or get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


class EpochDistributedSampler(DistributedSampler):
    r"""A :class:`~torch.utils.data.distributed.DistributedSampler` that advances its epoch by itself.

    deepinv's training loop calls ``iter(loader)`` once per epoch and never ``set_epoch``; this sampler
    calls :meth:`set_epoch` with its own counter at each ``iter`` and then increments it, so the shuffle
    differs from epoch to epoch, is the same on every rank (a permutation seeded by ``seed + epoch``)
    and is reproducible. Call :meth:`set_epoch` to position it (e.g. when resuming at epoch ``N``).

    :param torch.utils.data.Dataset dataset: the dataset.
    :param int num_replicas: world size.
    :param int rank: this rank.
    :param bool shuffle: shuffle each epoch.
    :param int seed: seed shared by all ranks.
    :param bool drop_last: drop the tail instead of padding it with repeated samples.

    >>> s = EpochDistributedSampler(range(8), num_replicas=2, rank=1, shuffle=True, seed=0)
    >>> first, second = list(s), list(s)
    >>> len(first), first != second, s.epoch
    (4, True, 2)
    """

    def __iter__(self):
        self.set_epoch(self.epoch)
        indices = super().__iter__()
        self.epoch += 1
        return indices


def shard_dataloader(
    loader: DataLoader,
    rank: int,
    world_size: int,
    seed: int = 0,
    pad: bool = True,
) -> DataLoader:
    r"""A copy of ``loader`` that yields this rank's shard of its dataset.

    Batch size, workers, pinning, collate function and ``drop_last`` are kept, so the batch size is per
    rank (global batch = ``world_size`` x ``batch_size``, the PyTorch convention). Shuffling is kept
    (with :class:`EpochDistributedSampler`, seeded by the loader's generator when it has one, else by
    ``seed``). ``pad=True`` (training) repeats a few samples so that every rank gets as many batches
    (DistributedDataParallel needs all ranks to step together); ``pad=False`` (evaluation) gives each
    sample to exactly one rank, so averages over ranks are exact. A loader that is not a plain
    :class:`~torch.utils.data.DataLoader` (custom ``batch_sampler``, iterable dataset) is returned
    unchanged with a warning.

    :param torch.utils.data.DataLoader loader: the loader.
    :param int rank: this rank.
    :param int world_size: the number of ranks.
    :param int seed: shuffle seed when ``loader`` has no generator.
    :param bool pad: pad to equal shard sizes (training) or not (evaluation).
    :return: (:class:`torch.utils.data.DataLoader`) the sharded loader.

    >>> from torch.utils.data import DataLoader
    >>> sharded = shard_dataloader(DataLoader(list(range(6)), batch_size=2), rank=1, world_size=2)
    >>> [b.tolist() for b in sharded]
    [[1, 3], [5]]
    """
    if world_size <= 1 or not isinstance(loader, DataLoader):
        return loader
    sampler = loader.sampler
    if isinstance(sampler, DistributedSampler):
        return loader  # already sharded by the user
    if (
        isinstance(loader.dataset, torch.utils.data.IterableDataset)
        or loader.batch_size is None
    ):
        warnings.warn(
            "shard_dataloader: an iterable dataset or a custom batch_sampler cannot be sharded "
            "automatically; every rank will see the whole data. Pass a DistributedSampler yourself.",
            stacklevel=2,
        )
        return loader
    shuffle = isinstance(sampler, RandomSampler)
    if shuffle and loader.generator is not None:
        seed = int(loader.generator.initial_seed())
    if pad:
        dsampler = EpochDistributedSampler(
            loader.dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
        )
    else:
        # exact partition: sample i goes to rank i % world_size
        dsampler = list(range(rank, len(loader.dataset), world_size))
    kwargs = dict(
        batch_size=loader.batch_size,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers,
    )
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
        kwargs["multiprocessing_context"] = loader.multiprocessing_context
    return DataLoader(loader.dataset, sampler=dsampler, **kwargs)


def all_reduce_meters(meters) -> None:
    r"""Turn per-rank :class:`deepinv.utils.AverageMeter` s into averages over all ranks, in place.

    ``sum``, ``sum2`` and ``count`` are summed over ranks (one ``all_reduce``), then ``avg`` and ``std``
    are recomputed, so the result is the mean over every sample seen by any rank, whatever the shard
    sizes; ``vals`` are gathered in rank order. Every rank must call it with the same meters.

    :param list meters: the meters (``None`` entries are skipped).

    >>> from deepinv.utils import AverageMeter
    >>> m = AverageMeter("psnr"); m.update(2.0); m.update(4.0)
    >>> all_reduce_meters([m]); m.avg  # a single process: unchanged
    3.0
    """
    meters = [m for m in meters if m is not None]
    if not meters or not is_distributed() or get_world_size() == 1:
        return
    # float64 on the CPU for gloo, on the current GPU for nccl
    dev = (
        torch.device("cuda", torch.cuda.current_device())
        if _backend_is_nccl()
        else "cpu"
    )
    t = torch.tensor(
        [[m.sum, m.sum2, m.count] for m in meters], dtype=torch.float64, device=dev
    )
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    vals = all_gather_object([m.vals for m in meters])
    for i, m in enumerate(meters):
        s, s2, c = (float(v) for v in t[i].tolist())
        m.sum, m.sum2, m.count = s, s2, c
        m.vals = [v for rank_vals in vals for v in rank_vals[i]]
        if c > 0:
            m.avg = s / c
            var = s2 / c - m.avg**2
            m.std = float(var**0.5) if var > 0 else 0.0


def _backend_is_nccl() -> bool:
    return is_distributed() and dist.get_backend() == "nccl"


def state_dict_checksum(module: torch.nn.Module) -> str:
    r"""A short hex digest of a module's parameters and buffers (names, shapes, exact values), to check
    that replicas hold identical weights.

    :param torch.nn.Module module: the module.
    :return: (str) 16 hex characters.

    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> _ = b.load_state_dict(a.state_dict())
    >>> state_dict_checksum(a) == state_dict_checksum(b)
    True
    """
    import hashlib

    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        t = t.detach().cpu().contiguous()
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
