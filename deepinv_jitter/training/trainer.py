r"""JitterTrainer: deepinv's Trainer with the paper's four training modes as one argument."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from deepinv.training import Trainer

from .._checks import check_number
from ..optim.jitter import SCALES, jitterize, suppress_jitter
from ..robustness.attacks import pgd_attack

__all__ = ["JitterTrainer", "TRAINING_MODES"]

#: The training modes of :class:`JitterTrainer`, in the order tables list them.
TRAINING_MODES = ("mse", "sgd_jitter", "input_jitter", "adversarial")


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

    Data-parallel training under ``torchrun`` is a separate layer:
    :class:`deepinv_jitter.training.DistributedJitterTrainer` (same fields, plus ``distributed``
    and ``ddp_kwargs``).

    :param str training_mode: ``"mse"``, ``"sgd_jitter"`` (default), ``"input_jitter"`` or ``"adversarial"``.
    :param float jitter_sigma: iterate-noise level :math:`\sigma \ge 0` for ``"sgd_jitter"``. Default 0.1.
    :param str jitter_scale: ``"iterate"`` (default: the iterate is perturbed by noise of std
        :math:`\sigma \max|u_k|`, whatever the step size), ``"relative"`` (the rule of the paper's
        reference code) or ``"absolute"``; see :mod:`deepinv_jitter.optim.jitter`.
    :param float input_sigma: measurement-noise std :math:`\ge 0` for ``"input_jitter"``. Default 0.05.
    :param float attack_eps: L2 budget :math:`> 0` of the training attack. Default 1.0.
    :param int attack_steps: PGD steps :math:`\ge 1`. Default 20.
    :param float, None attack_step_size: step as a fraction of the budget, :math:`> 0`. Default
        ``None``: Madry's ``2.5 / attack_steps``, as :func:`deepinv_jitter.robustness.pgd_attack`.
    :param bool attack_relative: budget ``attack_eps * ||y||`` per sample. Default ``False``.
    :param bool clean_train_metrics: see above. Default ``True``.
    :param int jitter_seed: seed of the generator of the iterate and input noise (``None``: torch's
        global generator). Its state is saved in checkpoints and restored on resume.
    :raises ValueError: (at construction) a bad value of one of the fields above, naming the field and
        the allowed values.
    :raises TypeError: (at construction) ``training_mode="sgd_jitter"`` with a model that has no deepinv
        GD/PGD iterator.

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
    jitter_scale: str = "iterate"
    input_sigma: float = 0.05
    attack_eps: float = 1.0
    attack_steps: int = 20
    attack_step_size: float | None = None
    attack_relative: bool = False
    clean_train_metrics: bool = True
    jitter_seed: int | None = None

    def __post_init__(self):
        self._validate_jitter_fields()
        super().__post_init__()
        self._training_pass = False
        self.rng = self.make_rng(self.jitter_seed)
        self.configure_model()

    # ----------------------------------------------------------------- validation and setup
    def _validate_jitter_fields(self):
        if self.training_mode not in TRAINING_MODES:
            raise ValueError(
                f"training_mode must be one of {TRAINING_MODES}, got {self.training_mode!r}"
            )
        check_number(self.jitter_sigma, "jitter_sigma", low=0)
        check_number(self.input_sigma, "input_sigma", low=0)
        if self.jitter_scale not in SCALES:
            raise ValueError(
                f"jitter_scale must be one of {SCALES}, got {self.jitter_scale!r}"
            )
        check_number(self.attack_eps, "attack_eps", low=0, strict=True)
        check_number(self.attack_steps, "attack_steps", low=1, integer=True)
        if self.attack_step_size is not None:
            check_number(self.attack_step_size, "attack_step_size", low=0, strict=True)
        if not isinstance(self.attack_relative, bool):
            raise ValueError(
                f"attack_relative must be True or False, got {self.attack_relative!r}"
            )
        if self.jitter_seed is not None:
            check_number(self.jitter_seed, "jitter_seed", low=0, integer=True)

    @property
    def effective_attack_step_size(self) -> float:
        r"""The PGD step of adversarial training: ``attack_step_size``, or ``2.5 / attack_steps``."""
        if self.attack_step_size is None:
            return 2.5 / self.attack_steps
        return float(self.attack_step_size)

    def make_rng(self, seed: int | None) -> torch.Generator | None:
        r"""The generator of the iterate and input noise (``None`` without a seed: torch's global one).

        :param int, None seed: the seed.
        :return: a :class:`torch.Generator` on the trainer's device, or ``None``.
        """
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(seed)

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
                rng=self.rng,
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
        super().setup_train(train=train, **kwargs)
        self.configure_model()

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
            gen = self.rng
            dev = gen.device if gen is not None else y.device
            n = torch.randn(y.shape, generator=gen, device=dev, dtype=y.dtype).to(
                y.device
            )
            return y + self.input_sigma * n
        if self.training_mode == "adversarial":
            if x is None:
                raise ValueError(
                    "training_mode='adversarial' needs ground truth x in each batch"
                )
            delta = pgd_attack(
                self.attack_target(),
                physics,
                x,
                y,
                eps=float(self.attack_eps),
                steps=self.attack_steps,
                step_size=self.effective_attack_step_size,
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
        try:
            with self.noise_context():
                yield
        finally:
            self._training_pass = False

    # ----------------------------------------------------------------- deepinv overrides
    def compute_loss(
        self, physics, x, y, train: bool = True, epoch: int = None, step=False
    ):
        r"""deepinv's ``compute_loss`` on the perturbed measurement (training) or clean one (evaluation).

        :return: ``(loss_total, x_net, logs)`` as in deepinv.
        :raises FloatingPointError: a training loss that is NaN or infinite, naming epoch and batch.
        """
        if not train:
            return super().compute_loss(
                physics, x, y, train=False, epoch=epoch, step=step
            )
        if epoch != getattr(self, "_loss_epoch", None):
            self._loss_epoch, self._loss_batch = epoch, 0
        self._loss_batch += 1
        y_train = self.perturb_measurement(x, y, physics)
        with self._training_batch():
            out = super().compute_loss(
                physics, x, y_train, train=True, epoch=epoch, step=step
            )
        loss = out[0]
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss.detach()).all():
            where = f"epoch {epoch + 1}, " if epoch is not None else ""
            raise FloatingPointError(
                f"training loss is {float(loss.detach().flatten()[0])} at {where}batch "
                f"{self._loss_batch} (training mode {self.training_mode!r}); stopped before "
                "anything else was saved: lower the learning rate or the noise levels"
            )
        return out

    def model_inference(self, y, physics, x=None, train=True, **kwargs):
        r"""deepinv's ``model_inference``; ``train=True`` outside a training batch is run as ``train=False``.

        This is the guard for deepinv 0.5.0's evaluation losses, which call ``model_inference(train=True)``.

        :return: the reconstruction.
        """
        if train and not self._training_pass:
            train = False
        return super().model_inference(y, physics, x=x, train=train, **kwargs)

    def compute_metrics(
        self, x, x_net, y, physics, logs, train=True, epoch: int = None
    ):
        r"""deepinv's ``compute_metrics``; training metrics on a clean pass when ``clean_train_metrics``.

        :return: ``(x_net, logs)`` as in deepinv.
        """
        if train and self.clean_train_metrics and self.training_mode != "mse":
            x_net = None  # deepinv then re-runs the model in eval mode on the clean y
        return super().compute_metrics(
            x, x_net, y, physics, logs, train=train, epoch=epoch
        )

    def checkpoint_state(self) -> dict:
        r"""What this trainer adds to deepinv's checkpoint: the training mode and every random state
        that training consumes (the noise generator, torch's global generators, the training
        loaders' shuffling generators), so that a resumed run continues exactly.

        :return: a dict of plain values and tensors.
        """
        state = {
            "training_mode": self.training_mode,
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.rng is not None:
            state["jitter_rng"] = self.rng.get_state()
        loaders = self.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        state["loader_rng"] = [
            g.get_state()
            if (g := getattr(loader, "generator", None)) is not None
            else None
            for loader in loaders
        ]
        return state

    def save_model(self, filename, epoch, state=None):
        r"""deepinv's checkpoint plus :meth:`checkpoint_state`, written by :meth:`write_checkpoint`.

        :param str filename: checkpoint file name.
        :param int epoch: current epoch.
        :param dict state: extra objects to save.
        """
        state = ({} if state is None else dict(state)) | self.checkpoint_state()
        return self.write_checkpoint(filename, epoch, state)

    def write_checkpoint(self, filename, epoch, state: dict):
        r"""Write one checkpoint file: deepinv's ``Trainer.save_model`` (model, optimizer, scheduler,
        histories, ``state``) into ``save_path/filename``.

        The one place that writes files; override it to change where or how a checkpoint is written
        (the application writes atomically). Under :class:`DistributedJitterTrainer` it runs on rank
        0 only.

        :param str filename: checkpoint file name.
        :param int epoch: current epoch.
        :param dict state: what to save besides deepinv's own entries.
        """
        return Trainer.save_model(self, filename, epoch, state=state)

    def load_model(self, ckpt_pretrained=None, strict: bool = True):
        r"""deepinv's ``load_model`` (model, optimizer, scheduler, epoch); also restores every random
        state saved by :meth:`checkpoint_state`.

        :return: the checkpoint dict, or ``None``.
        """
        checkpoint = super().load_model(ckpt_pretrained, strict=strict)
        if checkpoint is not None:
            self.restore_random_state(checkpoint)
        return checkpoint

    def restore_random_state(self, checkpoint: dict) -> None:
        r"""Restore the random states saved by :meth:`checkpoint_state` (those present).

        :param dict checkpoint: a checkpoint dict.
        """
        if "torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng"].cpu())
        if "cuda_rng" in checkpoint and torch.cuda.is_available():
            states = checkpoint["cuda_rng"]
            if len(states) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all([s.cpu() for s in states])
        if self.rng is not None and "jitter_rng" in checkpoint:
            self.rng.set_state(checkpoint["jitter_rng"].cpu())
        loaders = self.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        for loader, st in zip(loaders, checkpoint.get("loader_rng") or []):
            g = getattr(loader, "generator", None)
            if g is not None and st is not None:
                g.set_state(st.cpu())
