r"""JitterTrainer: deepinv's Trainer with the paper's training modes, composed from perturbations."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from deepinv.training import Trainer

from .._checks import check_number
from ..optim.jitter import shared_noise, suppress_jitter
from .perturbations import (
    TRAINING_MODES,
    TrainingPerturbation,
    derive_seed,
    mode_name,
    parse_training_mode,
    perturbations_for_mode,
)

__all__ = ["JitterTrainer", "TRAINING_MODES"]


@dataclass
class JitterTrainer(Trainer):
    r"""Trainer for unrolled networks with SGD jittering and the paper's baselines.

    A :class:`deepinv.Trainer` (all its fields and behaviour: online/offline measurements, physics
    generators, several dataloaders, checkpoints, mixed precision, devices) whose training batches
    are changed by a list of *perturbations* (:mod:`deepinv_jitter.training.perturbations`), chosen
    by name with ``training_mode`` or given as objects with ``perturbations``:

    - ``"mse"``: no perturbation, plain supervised training (deepinv's Trainer, unchanged).
    - ``"sgd_jitter"`` (:class:`~deepinv_jitter.training.IterateJitter`): the model is jitterized
      (:func:`deepinv_jitter.jitterize`) and every *training* forward pass draws fresh noise in each
      unrolled iteration, :math:`\sigma` = ``jitter_sigma``, scale rule ``jitter_scale``. Needs a
      deepinv unfolded model (GD, PGD, FISTA, HQS, DRS, ADMM, PDCP; DEQ too).
    - ``"input_jitter"`` (:class:`~deepinv_jitter.training.MeasurementNoise`): training measurements
      become :math:`y + \mathcal{N}(0, \sigma_{in}^2 I)`, :math:`\sigma_{in}` = ``input_sigma``
      (Krainovic et al., 2023). Any reconstructor.
    - ``"adversarial"`` (:class:`~deepinv_jitter.training.MeasurementAttack`): training measurements
      become :math:`y + \delta` with :math:`\delta` from
      :func:`deepinv_jitter.robustness.pgd_attack` (``attack_eps``, ``attack_steps``,
      ``attack_step_size``, ``attack_relative``). Any reconstructor; needs ground truth ``x``. This
      is adversarial training against measurement perturbations, not deepinv's GAN
      ``AdversarialTrainer``.
    - any ``+``-joined set of the three, e.g. ``"sgd_jitter+input_jitter"``: all of them, the
      measurement perturbations applied in the canonical order (input noise, then the attack on the
      noisy measurement; the attack sees the model without iterate noise). The mode is stored under
      its canonical name (:func:`~deepinv_jitter.training.parse_training_mode`).

    No noise and no attack ever reach validation, :meth:`test`, evaluation metrics or evaluation losses.
    deepinv 0.5.0 computes evaluation losses (``compute_eval_losses=True``) through
    ``model_inference(train=True)``, i.e. in train mode, which would jitter them (and update batch-norm
    statistics); here every inference outside a training batch runs in eval mode under ``no_grad``.
    Training metrics (``compute_train_metrics=True``) are computed on a clean eval-mode pass when
    ``clean_train_metrics=True`` (one extra no-grad forward per batch); set it to ``False`` to log the
    metrics of the perturbed training pass instead, as deepinv does for dropout.

    **Self-supervised losses** (deepinv's SURE, EI, measurement splitting, ...) call the model more
    than once per step. Every call of one training step sees the same iterate noise (one draw per
    step, replayed: :func:`~deepinv_jitter.optim.jitter.shared_noise`), so that, e.g., SURE's finite
    difference of two calls measures the network's divergence and not the difference of two noise
    draws; the next step draws afresh. The measurement perturbations are drawn once per batch,
    before the loss sees the measurement.

    Per-batch hooks, small and overridable: :meth:`perturb_measurement` (each perturbation's
    :meth:`~deepinv_jitter.training.TrainingPerturbation.perturb`, in order), :meth:`noise_context`
    (iterate noise on or off for a training pass), :meth:`attack_target` (the module the
    perturbations see), :meth:`configure_model` (each perturbation's ``prepare``).

    Data-parallel training under ``torchrun`` is a separate layer:
    :class:`deepinv_jitter.training.DistributedJitterTrainer` (same fields, plus ``distributed``
    and ``ddp_kwargs``).

    :param str training_mode: ``"mse"``, ``"sgd_jitter"`` (default), ``"input_jitter"``,
        ``"adversarial"`` or a ``+``-joined set of the last three. With ``perturbations`` given it
        is set to their name (:func:`~deepinv_jitter.training.mode_name`).
    :param list perturbations: perturbation objects
        (:class:`~deepinv_jitter.training.TrainingPerturbation`, your own subclasses included)
        instead of ``training_mode`` and the fields below (``None``: built from them; ``[]``:
        plain MSE).
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
    :param int jitter_seed: seed of the perturbations' generators (the first perturbation gets the
        seed itself, the others independent streams derived from it; ``None``: each keeps its own
        generator, torch's global one by default). Their states are saved in checkpoints and
        restored on resume.
    :raises ValueError: (at construction) a bad value of one of the fields above, naming the field and
        the allowed values.
    :raises TypeError: (at construction) ``"sgd_jitter"`` with a model that has no supported deepinv
        algorithm, or a ``perturbations`` entry that is not a perturbation.
    :raises ValueError: (at construction) perturbations with repeated names, or a ``training_mode``
        that disagrees with the ``perturbations`` given.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter import JitterTrainer
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.1))
    >>> model = dinv.optim.HQS(
    ...     dinv.optim.L2(), dinv.optim.PnP(dinv.models.DnCNN(1, 1, depth=2, pretrained=None)),
    ...     unfold=True, max_iter=3, g_param=0.1,
    ... )
    >>> data = dinv.datasets.TensorDataset(x=torch.rand(4, 1, 8, 8))
    >>> trainer = JitterTrainer(
    ...     model, physics, torch.optim.Adam(model.parameters(), 1e-3),
    ...     torch.utils.data.DataLoader(data, batch_size=2), epochs=1, online_measurements=True,
    ...     training_mode="input_jitter+sgd_jitter", jitter_sigma=0.1, save_path=None,
    ...     verbose=False, show_progress_bar=False, device="cpu",
    ... )
    >>> trainer.training_mode, trainer.perturbations
    ('sgd_jitter+input_jitter', [IterateJitter(sigma=0.1, scale='iterate'), MeasurementNoise(sigma=0.05)])
    >>> model = trainer.train()
    """

    training_mode: str | None = None
    perturbations: list | None = None
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
        self._build_perturbations()
        super().__post_init__()
        self._training_pass = False
        self.seed_perturbations(self.jitter_seed)
        self.configure_model()

    # ----------------------------------------------------------------- validation and setup
    def _build_perturbations(self):
        fields = dict(
            jitter_sigma=self.jitter_sigma,
            jitter_scale=self.jitter_scale,
            input_sigma=self.input_sigma,
            attack_eps=self.attack_eps,
            attack_steps=self.attack_steps,
            attack_step_size=self.attack_step_size,
            attack_relative=self.attack_relative,
        )
        # every field is checked, whether or not the mode reads it
        perturbations_for_mode("sgd_jitter+input_jitter+adversarial", **fields)
        if not isinstance(self.clean_train_metrics, bool):
            raise ValueError(
                f"clean_train_metrics must be True or False, got {self.clean_train_metrics!r}"
            )
        if self.jitter_seed is not None:
            check_number(self.jitter_seed, "jitter_seed", low=0, integer=True)
        check_number(self.epochs, "epochs", low=1, integer=True)
        if self.perturbations is None:
            mode = "sgd_jitter" if self.training_mode is None else self.training_mode
            self.perturbations = perturbations_for_mode(mode, **fields)
        else:
            items = self.perturbations
            if not isinstance(items, (list, tuple)) or not all(
                isinstance(p, TrainingPerturbation) for p in items
            ):
                raise TypeError(
                    "perturbations must be a list of TrainingPerturbation objects "
                    f"(IterateJitter, MeasurementNoise, MeasurementAttack, ...), got {items!r}"
                )
            names = [p.name for p in items]
            if any(not n or "+" in n for n in names) or len(set(names)) != len(names):
                raise ValueError(
                    f"perturbations need distinct names without '+', got {names}"
                )
            self.perturbations = list(items)
            given = self.training_mode
            if given is not None and mode_name(parse_training_mode(given)) != mode_name(
                names
            ):
                raise ValueError(
                    f"training_mode {given!r} disagrees with the perturbations given "
                    f"({mode_name(names)}); pass one of them"
                )
        self.training_mode = mode_name(p.name for p in self.perturbations)

    def make_rng(self, seed: int | None) -> torch.Generator | None:
        r"""A generator on the trainer's device (``None`` without a seed).

        :param int, None seed: the seed.
        :return: a :class:`torch.Generator` or ``None``.
        """
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(int(seed))

    def seed_perturbations(self, seed: int | None) -> None:
        r"""Give each perturbation that draws random numbers a generator seeded from ``seed``
        (:func:`~deepinv_jitter.training.perturbations.derive_seed`; ``None``: leave them as they
        are).

        :param int, None seed: the seed.
        """
        if seed is None:
            return
        for k, p in enumerate(self.perturbations):
            if p.draws:
                p.rng = self.make_rng(derive_seed(seed, k))

    def configure_model(self):
        r"""Let each perturbation prepare the model (``IterateJitter`` attaches the noise hook).

        Called at construction and again at the start of :meth:`train` / :meth:`test` (so that changed
        settings take effect).

        :raises TypeError: ``"sgd_jitter"`` with a model that has no supported deepinv algorithm.
        """
        for p in self.perturbations:
            p.prepare(self.attack_target())

    def setup_train(self, train: bool = True, **kwargs):
        r"""deepinv's setup, then :meth:`configure_model`.

        :param bool train: whether the model is being trained.
        """
        super().setup_train(train=train, **kwargs)
        self.configure_model()

    # ----------------------------------------------------------------- per-batch hooks
    def attack_target(self) -> torch.nn.Module:
        r"""The model the perturbations see: the model, unwrapped from (Distributed)DataParallel.

        :return: (:class:`torch.nn.Module`) the model.
        """
        m = self.model
        wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
        return m.module if isinstance(m, wrappers) else m

    def perturb_measurement(self, x, y, physics):
        r"""The measurement a training batch is trained on: ``y`` through each perturbation's
        ``perturb``, in order (``y`` itself without measurement perturbations).

        :param torch.Tensor x: ground truth (may be ``None`` except for an attack).
        :param torch.Tensor y: clean measurement.
        :param deepinv.physics.Physics physics: current physics.
        :return: (:class:`torch.Tensor`) the measurement to use.
        :raises ValueError: an attack without ground truth.
        """
        model = self.attack_target()
        for p in self.perturbations:
            y = p.perturb(x, y, physics, model)
        return y

    def noise_context(self):
        r"""Context for a training step: iterate noise on when a perturbation asks for it
        (``IterateJitter``), and then one draw per step shared by every model call of the step
        (:func:`~deepinv_jitter.optim.jitter.shared_noise`: a self-supervised loss calling the
        model several times sees one jittered network); off otherwise (also for noise hooks
        attached by hand).

        :return: a context manager.
        """
        if any(p.iterate for p in self.perturbations):
            return shared_noise(self.attack_target())
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
        if train and self.clean_train_metrics and self.perturbations:
            x_net = None  # deepinv then re-runs the model in eval mode on the clean y
        return super().compute_metrics(
            x, x_net, y, physics, logs, train=train, epoch=epoch
        )

    def checkpoint_state(self) -> dict:
        r"""What this trainer adds to deepinv's checkpoint: the training mode and every random state
        that training consumes (each perturbation's generator, torch's global generators, the
        training loaders' shuffling generators), so that a resumed run continues exactly.

        :return: a dict of plain values and tensors.
        """
        state = {
            "training_mode": self.training_mode,
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        state["perturbation_rng"] = [p.get_rng_state() for p in self.perturbations]
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
        states = checkpoint.get("perturbation_rng")
        if states is None and "jitter_rng" in checkpoint:
            states = [
                checkpoint["jitter_rng"]
            ]  # written by version 0.2 (one generator)
        for p, st in zip(self.perturbations, states or []):
            p.set_rng_state(st)
        loaders = self.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        for loader, st in zip(loaders, checkpoint.get("loader_rng") or []):
            g = getattr(loader, "generator", None)
            if g is not None and st is not None:
                g.set_state(st.cpu())
