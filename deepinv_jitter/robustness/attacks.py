r"""L2 projected-gradient (PGD) attacks in measurement space.

The worst-case measurement perturbation of a reconstructor :math:`R` within an L2 ball,

.. math::

    \delta^\star \approx \arg\max_{\|\delta_i\|_2 \leq \epsilon_i} \|R(y + \delta, A) - x\|_2^2,

found by projected ascent with normalised-gradient steps (Madry et al., 2018). For physics with a
sampling mask (:class:`deepinv.physics.MRI`, inpainting, ...) the perturbation lives on the sampled
entries only: unsampled k-space stays exactly zero, as a real acquisition would.
"""

from __future__ import annotations

import torch

from .._checks import check_number

__all__ = ["pgd_attack", "measurement_mask", "MAX_BUDGET"]

#: The largest L2 budget (per sample) an attack accepts: its square stays far below the largest
#: single-precision number, so norms never overflow into a zero perturbation.
MAX_BUDGET = 1e18


def measurement_mask(physics, y: torch.Tensor) -> torch.Tensor | None:
    r"""The sampling mask of ``physics`` as a 0/1 tensor broadcastable to ``y``, or ``None`` if it has none.

    Sampling masks are those of deepinv's MRI physics (``MRI``, ``MultiCoilMRI``, ``DynamicMRI``: any
    :class:`deepinv.utils.mixins.MRIMixin`) and of :class:`deepinv.physics.Inpainting` (and subclasses),
    whose ``mask`` selects measured entries of ``y``. Other physics may have a ``mask`` attribute with
    another meaning (``BlurFFT.mask`` is a Fourier filter) and get ``None``. A multi-coil measurement
    ``(B, 2, N, H, W)`` gets the mask ``(B, 2, H, W)`` with a coil axis inserted.

    :param deepinv.physics.Physics physics: the forward operator.
    :param torch.Tensor y: measurement.
    :return: (:class:`torch.Tensor` or ``None``) mask.
    :raises ValueError: if the mask cannot be broadcast to ``y``.

    >>> import torch, deepinv as dinv
    >>> mask = torch.zeros(4, 4); mask[:, :2] = 1
    >>> physics = dinv.physics.MRI(mask=mask, img_size=(4, 4))
    >>> measurement_mask(physics, torch.zeros(1, 2, 4, 4)).sum().item()
    16.0
    """
    from deepinv.physics import Inpainting
    from deepinv.utils.mixins import MRIMixin

    mask = getattr(physics, "mask", None)
    if not isinstance(physics, (MRIMixin, Inpainting)) or not isinstance(
        mask, torch.Tensor
    ):
        return None
    mask = (mask != 0).to(
        dtype=y.real.dtype if y.is_complex() else y.dtype, device=y.device
    )
    if mask.dim() == y.dim() - 1 and mask.dim() >= 3:
        mask = mask.unsqueeze(2)  # coil axis of multi-coil MRI
    try:
        torch.broadcast_shapes(mask.shape, y.shape)
    except RuntimeError as e:
        raise ValueError(
            f"physics.mask of shape {tuple(mask.shape)} does not broadcast to y of shape {tuple(y.shape)}"
        ) from e
    return mask


def _norm(t: torch.Tensor) -> torch.Tensor:
    n = t.reshape(t.shape[0], -1).abs().pow(2).sum(1).sqrt()
    return n.reshape((t.shape[0],) + (1,) * (t.dim() - 1))


def pgd_attack(
    model,
    physics,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 20,
    step_size: float | None = None,
    relative: bool = False,
) -> torch.Tensor:
    r"""L2 PGD attack on the measurement: a perturbation ``delta`` that maximises the reconstruction error.

    Ascent on :math:`\|R(y+\delta, A) - x\|_2^2` from :math:`\delta = 0`; each step moves
    :math:`\delta_i` by ``step_size`` :math:`\cdot\,\epsilon_i` along the normalised gradient
    :math:`g_i/\|g_i\|_2`, then projects per sample onto :math:`\|\delta_i\|_2 \leq \epsilon_i` (and onto the
    sampled entries, see :func:`measurement_mask`). :math:`\epsilon_i` = ``eps``, or
    ``eps`` :math:`\cdot \|y_i\|_2` when ``relative``.

    The model is run in eval mode during the attack (deterministic target: no jitter noise, dropout or
    batch-norm statistic updates) and its parameters get no gradient; both its train/eval mode and the
    parameters' ``requires_grad`` flags are restored afterwards. Works under an outer ``torch.no_grad()``.

    :param torch.nn.Module model: reconstructor called as ``model(y, physics)``.
    :param deepinv.physics.Physics physics: forward operator.
    :param torch.Tensor x: ground truth, shape ``(B, ...)``.
    :param torch.Tensor y: clean measurement, shape ``(B, ...)``.
    :param float eps: L2 budget per sample (> 0); a fraction of :math:`\|y_i\|_2` when ``relative``.
    :param int steps: number of ascent steps (>= 1). Default 20.
    :param float step_size: step length as a fraction of the budget; ``None`` gives ``2.5 / steps``
        (Madry's rule: the iterate can cross the ball more than twice).
    :param bool relative: budget relative to each measurement's norm.
    :return: (:class:`torch.Tensor`) ``delta``, detached, same shape as ``y``.
    :raises ValueError: if ``eps <= 0``, ``steps < 1``, ``step_size <= 0``, ``x``/``y`` batch sizes
        differ, or a budget above :data:`MAX_BUDGET`.
    :raises TypeError: if ``model`` is not callable or ``x``/``y`` are not tensors.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter.robustness import pgd_attack
    >>> physics = dinv.physics.Denoising()
    >>> model = lambda y, physics: 2 * y
    >>> x = torch.zeros(2, 1, 4, 4); y = torch.ones(2, 1, 4, 4)
    >>> delta = pgd_attack(model, physics, x, y, eps=0.5, steps=5)
    >>> delta.flatten(1).norm(dim=1)
    tensor([0.5000, 0.5000])
    """
    if not callable(model):
        raise TypeError(
            f"model must be callable as model(y, physics), got {type(model).__name__}"
        )
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"x and y must be torch.Tensor, got {type(x).__name__} and {type(y).__name__}"
        )
    check_number(eps, "eps", low=0, strict=True)
    check_number(steps, "steps", low=1, integer=True)
    if step_size is not None:
        check_number(step_size, "step_size", low=0, strict=True)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same batch size, got {x.shape[0]} and {y.shape[0]}"
        )

    alpha = 2.5 / steps if step_size is None else float(step_size)
    y = y.detach()
    x = x.detach()
    mask = measurement_mask(physics, y)
    y_norm = _norm(y)
    budget = eps * y_norm if relative else torch.full_like(y_norm, float(eps))
    budget = budget.real if budget.is_complex() else budget
    peak = float(budget.max())  # one sync; NaN and infinity fail the comparison
    if not peak <= MAX_BUDGET:
        raise ValueError(
            f"attack budget {peak:g} is too large: the perturbation's squared "
            f"norm would overflow single precision and become 0 (at most {MAX_BUDGET:g})"
        )
    tiny = torch.finfo(budget.dtype).tiny

    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else None
    params = list(model.parameters()) if is_module else []
    flags = [p.requires_grad for p in params]
    delta = torch.zeros_like(y)
    try:
        if is_module:
            model.eval()
        for p in params:
            p.requires_grad_(False)
        with torch.enable_grad():
            for _ in range(steps):
                delta.requires_grad_(True)
                loss = (model(y + delta, physics) - x).abs().pow(2).sum()
                (grad,) = torch.autograd.grad(loss, delta)
                if mask is not None:
                    grad = grad * mask
                with torch.no_grad():
                    # grad is masked and delta starts at zero: delta stays masked
                    delta = delta + alpha * budget * grad / _norm(grad).clamp_min(tiny)
                    delta = delta * (budget / _norm(delta).clamp_min(tiny)).clamp(
                        max=1.0
                    )
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
        if is_module:
            model.train(was_training)
    return delta.detach()
