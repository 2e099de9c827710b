r"""SGD / SPGD jittering iterators for deepinv's unfolded gradient descent and proximal gradient descent.

SGD jittering (Guan & Davenport, ICML 2025) injects fresh Gaussian noise :math:`w_k` into every unrolled
iteration while the network trains, and never at evaluation:

.. math::

    \text{GD (SGD jittering):}\quad x_{k+1} &= x_k - \gamma\left(\nabla f(x_k) + \lambda \nabla g(x_k) + w_k\right) \\
    \text{PGD (SPGD jittering):}\quad x_{k+1} &= \operatorname{prox}_{\gamma \lambda g}\left(x_k - \gamma \nabla f(x_k) - \gamma w_k\right)

with :math:`w_k \sim \mathcal{N}(0, s_k^2 I)`. The noise rule, :func:`jitter_noise`, is shared by both
iterators; everything in this package that touches deepinv's optimisation internals (the iterator
``forward`` signature, ``cur_params`` keys, ``BaseOptim.fixed_point.iterator``) lives in this module, so
that deepinv's planned optim refactor needs changes here only.

Scale rules (argument ``scale``), with :math:`u_k = x_k - \gamma \nabla f(x_k)` the explicit step's output:

* ``"relative"`` (the rule of the paper's reference code): :math:`s_k = \sigma \max_j |u_{k,j}|`, per
  sample. The iterate is perturbed by :math:`\gamma w_k`, of std :math:`\gamma \sigma \max|u_k|`.
* ``"absolute"``: :math:`s_k = \sigma`; the iterate is perturbed by :math:`\gamma w_k`, of std :math:`\gamma\sigma`.
* ``"iterate"`` (default): :math:`s_k = \sigma \max_j |u_{k,j}| / \gamma`, so the iterate itself is perturbed by noise of
  std :math:`\sigma \max|u_k|`, whatever the step size. This is the rule to use when :math:`\gamma` is small
  (ill-conditioned operators: for the Ricker seismic operator :math:`\|A\|^2 \approx 54`, so
  :math:`\gamma \approx 1/54` and ``"relative"`` noise at :math:`\sigma = 0.1` is ~20x below the
  reconstruction error and has no measurable effect; see the results page), and when the step size is learned: under
  ``"relative"``/``"absolute"`` the injected noise is proportional to :math:`\gamma`, so training can cancel
  the jitter by shrinking :math:`\gamma` (it does: see the results page); under
  ``"iterate"`` the noise does not depend on :math:`\gamma` at all. :math:`\sigma` then means "a fraction of
  the iterate's peak amplitude" for every operator.

**Difference from the paper's reference code.** The reference code takes a *signed* maximum over the
*whole batch* (``torch.max(u)``). Here the maximum is of the *absolute value* and *per sample*: a signed
max is wrong for signals that are mostly negative (seismic traces are zero-mean; a negative-dominated
batch gets a tiny or even negative scale), and a batch-wide max makes each sample's noise depend on the
other samples in its batch, hence on batch size and shuffling. Per-sample max-abs is batch-size
independent and reduces to the paper's rule for a batch of one non-negative image.

The noise scale is treated as a constant (detached) for back-propagation: :math:`w_k` is an exogenous
perturbation, not a function the network may optimise; the gradient still flows through
:math:`\gamma w_k` to :math:`\gamma` (the paper's placement), which is what ``"iterate"`` avoids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from deepinv.optim.optim_iterators import GDIteration, PGDIteration

from .._checks import check_number, resolve_rng

__all__ = [
    "SCALES",
    "jitter_noise",
    "jitter_std",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "jitter_iterators",
    "suppress_jitter",
]

#: The allowed values of ``scale``.
SCALES = ("relative", "absolute", "iterate")


def _check_sigma_scale(sigma, scale) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(
            f"sigma must be a non-negative float, got {type(sigma).__name__}"
        )
    check_number(sigma, "sigma", low=0)  # also rejects NaN and infinity
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


def _per_sample_max_abs(u: torch.Tensor) -> torch.Tensor:
    # shape (B, 1, ..., 1) so that it broadcasts against u
    m = u.detach().abs().reshape(u.shape[0], -1).amax(dim=1)
    return m.reshape((u.shape[0],) + (1,) * (u.dim() - 1))


def jitter_std(u: torch.Tensor, sigma: float, scale: str = "iterate", stepsize=1.0):
    r"""Standard deviation of the perturbation that jittering adds to the iterate.

    This is :math:`\gamma s_k` for ``"relative"`` and ``"absolute"`` and :math:`\sigma \max|u_k|` for
    ``"iterate"`` (see the module docstring). The result is detached.

    :param torch.Tensor u: explicit-step output :math:`u_k` of shape ``(B, ...)``.
    :param float sigma: noise level :math:`\sigma \geq 0`.
    :param str scale: ``"relative"``, ``"absolute"`` or ``"iterate"``.
    :param float, torch.Tensor stepsize: step size :math:`\gamma` (a number or a tensor broadcastable to ``u``).
    :return: (:class:`torch.Tensor`) std of shape ``(B, 1, ..., 1)``.
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.

    >>> import torch
    >>> u = torch.tensor([[1.0, -4.0], [0.5, 0.25]])
    >>> jitter_std(u, 0.1, "relative", stepsize=0.5).flatten()
    tensor([0.2000, 0.0250])
    >>> jitter_std(u, 0.1, "iterate", stepsize=0.5).flatten()
    tensor([0.4000, 0.0500])
    """
    _check_sigma_scale(sigma, scale)
    gamma = stepsize.detach() if isinstance(stepsize, torch.Tensor) else stepsize
    if scale == "absolute":
        return (sigma * gamma) * u.real.new_ones((u.shape[0],) + (1,) * (u.dim() - 1))
    s = sigma * _per_sample_max_abs(u)
    return s if scale == "iterate" else gamma * s


def jitter_noise(
    u: torch.Tensor,
    sigma: float,
    scale: str = "iterate",
    stepsize=1.0,
    rng: torch.Generator | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The noise rule: the perturbation :math:`e_k` that jittering subtracts from the explicit step.

    .. math::

        e_k = \gamma w_k,\quad w_k \sim \mathcal{N}(0, s_k^2 I),\qquad
        s_k = \begin{cases} \sigma \max_j |u_{k,j}| & \text{relative}\\ \sigma & \text{absolute}\\
        \sigma \max_j |u_{k,j}| / \gamma & \text{iterate}\end{cases}

    with the maximum taken per sample. For ``"relative"`` and ``"absolute"`` the product :math:`\gamma w_k`
    keeps :math:`\gamma` in the graph (the paper's placement: a learnable step size receives gradient
    through the noise); ``"iterate"`` draws :math:`e_k` directly, with no dependence on :math:`\gamma`.

    :param torch.Tensor u: explicit-step output :math:`u_k = x_k - \gamma\nabla f(x_k)`, shape ``(B, ...)``.
    :param float sigma: noise level :math:`\sigma \geq 0`.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"``.
    :param float, torch.Tensor stepsize: step size :math:`\gamma`.
    :param torch.Generator rng: optional generator for reproducible noise (it may live on another
        device than ``u``; the noise is drawn on the generator's device and moved).
    :param torch.Generator generator: deprecated alias of ``rng``.
    :return: (:class:`torch.Tensor`) :math:`e_k`, same shape, dtype and device as ``u``.
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.

    >>> import torch
    >>> u = torch.ones(2, 1, 8, 8)
    >>> g = torch.Generator().manual_seed(0)
    >>> e1 = jitter_noise(u, 0.1, rng=g)
    >>> e2 = jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(0))
    >>> bool(torch.equal(e1, e2)), e1.shape
    (True, torch.Size([2, 1, 8, 8]))
    """
    rng = resolve_rng(rng, generator, "jitter_noise")
    # computed in at least float32 (also under a bf16/fp16 autocast), then cast to u's dtype
    work = torch.promote_types(u.dtype, torch.float32)
    std = jitter_std(
        u.to(work), sigma, scale
    )  # s_k (relative/absolute) or the iterate std
    dev = rng.device if rng is not None else u.device
    eps = torch.randn(u.shape, generator=rng, device=dev, dtype=work).to(u.device)
    w = std * eps
    if scale != "iterate":
        w = stepsize * w
    return w.to(u.dtype)


class _JitterMixin:
    r"""State and switch shared by both jittering iterators (noise level, scale rule, generator)."""

    def __init__(
        self,
        sigma: float = 0.0,
        scale: str = "iterate",
        rng: torch.Generator | None = None,
        *,
        generator: torch.Generator | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)  # deepinv's GDIteration / PGDIteration
        rng = resolve_rng(rng, generator, type(self).__name__)
        _check_sigma_scale(sigma, scale)
        self.sigma = float(sigma)
        self.scale = scale
        self.rng = rng

    @property
    def noise_on(self) -> bool:
        """``True`` when the next forward pass draws noise (``self.training and self.sigma > 0``)."""
        return bool(self.training and self.sigma > 0)

    def _perturb(self, u, cur_params):
        return u - jitter_noise(
            u, self.sigma, self.scale, cur_params["stepsize"], self.rng
        )

    def _cost(self, x, cur_data_fidelity, cur_prior, cur_params, y, physics):
        # same condition as deepinv's iterators (0.5.0)
        if (
            self.has_cost
            and self.cost_fn is not None
            and cur_data_fidelity is not None
            and cur_prior is not None
        ):
            return self.cost_fn(x, cur_data_fidelity, cur_prior, cur_params, y, physics)
        return None

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, scale={self.scale!r}, g_first={self.g_first}"


class JitterGDIteration(_JitterMixin, GDIteration):
    r"""Gradient-descent iteration with SGD jittering.

    .. math::

        x_{k+1} = x_k - \gamma\left(\nabla f(x_k) + \lambda \nabla g(x_k) + w_k\right),
        \qquad w_k \sim \mathcal{N}(0, s_k^2 I)

    with :math:`s_k` given by :func:`jitter_noise` (``scale``). Noise is drawn only when
    ``self.training and self.sigma > 0``; otherwise the forward pass *is* deepinv's
    :class:`deepinv.optim.optim_iterators.GDIteration` (same code path, bit-identical output).

    :param float sigma: noise level :math:`\sigma \geq 0` (attribute, settable). Default 0 (no noise).
    :param str scale: ``"iterate"`` (default), ``"relative"`` (the paper's reference code) or
        ``"absolute"``; see the module docstring.
    :param torch.Generator rng: optional generator for reproducible noise.
    :param torch.Generator generator: deprecated alias of ``rng``.
    :param kwargs: passed to :class:`deepinv.optim.optim_iterators.GDIteration` (``cost_fn``, ``has_cost``, ...).
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.
    :raises TypeError: if ``rng`` is not a :class:`torch.Generator`.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter import JitterGDIteration
    >>> model = dinv.optim.GD(
    ...     dinv.optim.L2(), stepsize=0.5, max_iter=3, unfold=True, trainable_params=["stepsize"]
    ... )
    >>> model.fixed_point.iterator = JitterGDIteration(sigma=0.1)
    >>> y, physics = torch.ones(2, 1, 4, 4), dinv.physics.Denoising()
    >>> bool(torch.equal(model.eval()(y, physics), model(y, physics)))  # eval: deterministic
    True
    >>> bool(torch.equal(model.train()(y, physics), model(y, physics)))  # train: fresh noise
    False
    """

    def forward(
        self, X, cur_data_fidelity, cur_prior, cur_params, y, physics, *args, **kwargs
    ):
        r"""One (jittered) GD iteration; arguments as in deepinv's ``GDIteration.forward``.

        :return: ``{"est": (x_{k+1},), "cost": F}``.
        """
        if not self.noise_on:
            return super().forward(
                X, cur_data_fidelity, cur_prior, cur_params, y, physics, *args, **kwargs
            )
        x_prev = X["est"][0]
        gamma = cur_params["stepsize"]
        grad_f = self.f_step(x_prev, cur_data_fidelity, cur_params, y, physics)
        grad_g = self.g_step(x_prev, cur_prior, cur_params)
        u = x_prev - gamma * grad_f
        x = (
            u
            - gamma * grad_g
            - jitter_noise(u, self.sigma, self.scale, gamma, self.rng)
        )
        F = self._cost(x, cur_data_fidelity, cur_prior, cur_params, y, physics)
        return {"est": (x,), "cost": F}


class JitterPGDIteration(_JitterMixin, PGDIteration):
    r"""Proximal-gradient iteration with SPGD jittering.

    .. math::

        x_{k+1} = \operatorname{prox}_{\gamma \lambda g}\left(x_k - \gamma \nabla f(x_k) - \gamma w_k\right),
        \qquad w_k \sim \mathcal{N}(0, s_k^2 I)

    The noise is subtracted from the output :math:`u_k` of the explicit (gradient) step, before the
    proximal step. With ``g_first=True`` deepinv's PGD takes the explicit step on :math:`\lambda g` and the
    proximal step on :math:`f`; the noise then goes on :math:`u_k = x_k - \gamma\lambda\nabla g(x_k)`, before
    :math:`\operatorname{prox}_{\gamma f}`. The relaxation :math:`x_{k+1} \leftarrow \beta x_{k+1} + (1-\beta) x_k`
    is applied as in deepinv. Noise is drawn only when ``self.training and self.sigma > 0``; otherwise the
    forward pass is deepinv's :class:`deepinv.optim.optim_iterators.PGDIteration` (bit-identical).

    :param float sigma: noise level :math:`\sigma \geq 0` (attribute, settable). Default 0 (no noise).
    :param str scale: ``"iterate"`` (default), ``"relative"`` (the paper's reference code) or
        ``"absolute"``; see the module docstring.
    :param torch.Generator rng: optional generator for reproducible noise.
    :param torch.Generator generator: deprecated alias of ``rng``.
    :param kwargs: passed to :class:`deepinv.optim.optim_iterators.PGDIteration` (``g_first``, ``cost_fn``, ...).
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.
    :raises TypeError: if ``rng`` is not a :class:`torch.Generator`.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter import JitterPGDIteration
    >>> it = JitterPGDIteration(sigma=0.05, scale="iterate", g_first=True)
    >>> it.sigma, it.scale, it.g_first
    (0.05, 'iterate', True)
    """

    def forward(
        self, X, cur_data_fidelity, cur_prior, cur_params, y, physics, *args, **kwargs
    ):
        r"""One (jittered) PGD iteration; arguments as in deepinv's ``OptimIterator.forward``.

        :return: ``{"est": (x_{k+1}, u_k - e_k), "cost": F}``.
        """
        if not self.noise_on:
            return super().forward(
                X, cur_data_fidelity, cur_prior, cur_params, y, physics, *args, **kwargs
            )
        x_prev = X["est"][0]
        if not self.g_first:
            z = self.f_step(
                x_prev, cur_data_fidelity, cur_params, y, physics, *args, **kwargs
            )
            z = self._perturb(z, cur_params)
            x = self.g_step(z, cur_prior, cur_params, *args, **kwargs)
        else:
            z = self.g_step(x_prev, cur_prior, cur_params, *args, **kwargs)
            z = self._perturb(z, cur_params)
            x = self.f_step(
                z, cur_data_fidelity, cur_params, y, physics, *args, **kwargs
            )
        x = self.relaxation_step(x, x_prev, cur_params["beta"], *args, **kwargs)
        F = self._cost(x, cur_data_fidelity, cur_prior, cur_params, y, physics)
        return {"est": (x, z), "cost": F}


_SWAP = {GDIteration: JitterGDIteration, PGDIteration: JitterPGDIteration}
_JITTER_TYPES = (JitterGDIteration, JitterPGDIteration)


def _optimizers(model: torch.nn.Module):
    from deepinv.optim import BaseOptim

    return [m for m in model.modules() if isinstance(m, BaseOptim)]


def jitterize(
    model: torch.nn.Module,
    sigma: float | None = None,
    scale: str | None = None,
    rng: torch.Generator | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.nn.Module:
    r"""Swap the GD / PGD iterator of a deepinv unfolded model for its jittering version, in place.

    Every :class:`deepinv.optim.BaseOptim` inside ``model`` (``model`` itself included, e.g.
    ``deepinv.optim.GD(..., unfold=True)``) whose iterator is exactly deepinv's ``GDIteration`` or
    ``PGDIteration`` gets a :class:`JitterGDIteration` / :class:`JitterPGDIteration` with the same
    settings (``g_first``, ``cost_fn``, ``has_cost``, its ``f_step``/``g_step`` modules, train/eval mode).
    Iterators that are already jittering are kept (idempotent); ``sigma``/``scale``/``rng``, when
    given, are set on them. A fresh swap has ``sigma=0`` unless ``sigma`` is given, so the model's output is
    unchanged until noise is asked for.

    :param torch.nn.Module model: a deepinv unfolded model or a module containing one.
    :param float sigma: noise level to set (``None``: keep, 0 for a fresh swap).
    :param str scale: scale rule to set (``None``: keep, ``"iterate"`` for a fresh swap).
    :param torch.Generator rng: generator to set (``None``: keep).
    :param torch.Generator generator: deprecated alias of ``rng``.
    :return: ``model`` (the same object).
    :raises TypeError: if ``model`` is not a module, contains no ``BaseOptim``, or one of its iterators is
        not GD/PGD (HQS, DRS, ADMM, CP, FISTA, MD, ...): only GD and PGD are supported.
    :raises ValueError: for a bad ``sigma`` or ``scale``.

    >>> import deepinv as dinv
    >>> from deepinv_jitter import jitterize
    >>> model = dinv.optim.PGD(
    ...     dinv.optim.L2(), dinv.optim.TVPrior(), unfold=True, max_iter=2, g_param=0.1
    ... )
    >>> jitterize(model, sigma=0.1) is model
    True
    >>> type(model.fixed_point.iterator).__name__, model.fixed_point.iterator.sigma
    ('JitterPGDIteration', 0.1)
    """
    rng = resolve_rng(rng, generator, "jitterize")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if sigma is not None or scale is not None:
        _check_sigma_scale(
            0.0 if sigma is None else sigma, "iterate" if scale is None else scale
        )
    opts = _optimizers(model)
    if not opts:
        raise TypeError(
            "jitterize needs a deepinv unfolded model (deepinv.optim.GD/PGD(..., unfold=True) or a "
            f"BaseOptim with a GDIteration/PGDIteration); {type(model).__name__} contains no BaseOptim"
        )
    for opt in opts:  # check everything before changing anything
        it = opt.fixed_point.iterator
        if not (isinstance(it, _JITTER_TYPES) or type(it) in _SWAP):
            raise TypeError(
                f"jitterize supports only deepinv's GDIteration and PGDIteration (unfolded GD / PGD); "
                f"got {type(it).__name__} in {type(opt).__name__}"
            )
    for opt in opts:
        it = opt.fixed_point.iterator
        if not isinstance(it, _JITTER_TYPES):
            new = _SWAP[type(it)](
                g_first=it.g_first, cost_fn=it.cost_fn, has_cost=it.has_cost
            )
            new.f_step, new.g_step = it.f_step, it.g_step
            new.train(it.training)
            opt.fixed_point.iterator = new
            it = new
        if sigma is not None:
            it.sigma = float(sigma)
        if scale is not None:
            it.scale = scale
        if rng is not None:
            it.rng = rng
    return model


def jitter_iterators(model: torch.nn.Module) -> list:
    r"""The jittering iterators inside ``model`` (empty if it has none).

    :param torch.nn.Module model: any module.
    :return: list of :class:`JitterGDIteration` / :class:`JitterPGDIteration`.

    >>> import deepinv as dinv
    >>> jitter_iterators(dinv.optim.GD(dinv.optim.L2(), unfold=True, g_param=0.0))
    []
    """
    return [m for m in model.modules() if isinstance(m, _JITTER_TYPES)]


@contextmanager
def suppress_jitter(model: torch.nn.Module) -> Iterator[None]:
    r"""Context in which every jittering iterator of ``model`` draws no noise (``sigma`` set to 0, restored on exit).

    :param torch.nn.Module model: any module.

    >>> import torch, deepinv as dinv
    >>> model = jitterize(dinv.optim.GD(dinv.optim.L2(), unfold=True, g_param=0.0), sigma=0.5).train()
    >>> with suppress_jitter(model):
    ...     model.fixed_point.iterator.noise_on
    False
    >>> model.fixed_point.iterator.sigma
    0.5
    """
    its = jitter_iterators(model)
    saved = [it.sigma for it in its]
    try:
        for it in its:
            it.sigma = 0.0
        yield
    finally:
        for it, s in zip(its, saved):
            it.sigma = s
