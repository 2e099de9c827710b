r"""SGD jittering for deepinv's unfolded algorithms: one noise rule, one hook.

SGD jittering (Guan & Davenport, ICML 2025) injects fresh Gaussian noise into every unrolled
iteration while the network trains, and never at evaluation. For gradient descent (GD) and proximal
gradient descent (PGD) with data fidelity :math:`f`, prior :math:`g` and step :math:`\gamma`:

.. math::

    \text{GD (SGD jittering):}\quad x_{k+1} &= x_k - \gamma\left(\nabla f(x_k) + \lambda \nabla g(x_k) + w_k\right) \\
    \text{PGD (SPGD jittering):}\quad x_{k+1} &= \operatorname{prox}_{\gamma \lambda g}\left(x_k - \gamma \nabla f(x_k) - \gamma w_k\right)

with :math:`w_k \sim \mathcal{N}(0, s_k^2 I)`.

**Where the noise goes.** Every supported algorithm alternates a data-fidelity step and a prior step
(deepinv's ``f_step`` and ``g_step`` modules). The noise is applied at one place: to the output
:math:`u_k` of the data-fidelity step, before the prior step sees it,
:math:`u_k \leftarrow u_k - e_k` (the perturbation :math:`e_k` is given by :func:`jitter_noise`).
:class:`IterateNoise` is that hook; :func:`jitterize` attaches it to a deepinv model with a
PyTorch forward hook on the data step, so deepinv's own iterators run unchanged and, with the noise
off (``sigma=0`` or eval mode), the model is deepinv's, bit for bit. Per algorithm
(:math:`\gamma` = ``stepsize``, :math:`\tau` = ``stepsize`` of the primal-dual algorithm):

============  =========================================================================================
algorithm     iteration with the noise (``g_first=False``; with ``g_first=True`` the data step comes
              second and its perturbed output is the next iterate)
============  =========================================================================================
GD            :math:`x_{k+1} = x_k - \gamma(\nabla f(x_k) + e_k/\gamma + \lambda\nabla g(x_k))`: the data
              step returns :math:`\nabla f(x_k)`, the noise enters as :math:`e_k/\gamma`, so the iterate
              moves by :math:`e_k` (with :math:`u_k = x_k - \gamma\nabla f(x_k)` for the scale)
PGD           :math:`x_{k+1} = \operatorname{prox}_{\gamma\lambda g}(u_k - e_k)`,
              :math:`u_k = x_k - \gamma\nabla f(x_k)`
FISTA         as PGD, with :math:`u_k = z_k - \gamma\nabla f(z_k)` (the extrapolated point)
HQS           :math:`x_{k+1} = \operatorname{prox}_{\gamma\lambda g}(u_k - e_k)`,
              :math:`u_k = \operatorname{prox}_{\gamma f}(x_k)`
DRS           :math:`u_k = \operatorname{prox}_{\gamma f}(z_k) - e_k`,
              :math:`x_{k+1} = \operatorname{prox}_{\gamma\lambda g}(2u_k - z_k)`,
              :math:`z_{k+1} = z_k + \beta(x_{k+1} - u_k)`
ADMM          :math:`u_k = \operatorname{prox}_{\gamma f}(x_k - z_k) - e_k`,
              :math:`x_{k+1} = \operatorname{prox}_{\gamma\lambda g}(u_k + z_k)`,
              :math:`z_{k+1} = z_k + \beta(u_k - x_{k+1})`
PDCP          the data step updates the dual variable :math:`v_{k+1}`; the noise goes on the primal
              point it hands to the prior, :math:`x_{k+1} = \operatorname{prox}_{\tau\lambda g}
              (x_k - \tau K^\top v_{k+1} - e_k)` (``g_first=True``: on the output of
              :math:`\operatorname{prox}_{\tau f}`)
============  =========================================================================================

Deep-equilibrium models (``DEQ=True`` or a :class:`deepinv.optim.DEQConfig`) of GD, PGD and HQS get
the same hook: in a training forward pass every fixed-point iteration is perturbed; the backward
pass is deepinv's (an additive perturbation whose scale is detached has no Jacobian). Algorithms
without a data-step / prior-step split (MD, PMD, MLEM, OSEM, BSREM, BlindRL, SIRT, spectral methods)
are refused with one error naming the supported ones.

**Scale rules** (argument ``scale``), with :math:`u_k` the data step's output (maxima per sample):

* ``"iterate"`` (default): the iterate is perturbed by noise of std :math:`\sigma \max_j |u_{k,j}|`,
  whatever the step size: :math:`e_k = \sigma \max|u_k|\,\varepsilon`,
  :math:`\varepsilon \sim \mathcal{N}(0, I)`. The rule to use when :math:`\gamma` is small
  (ill-conditioned operators: for the Ricker seismic operator :math:`\|A\|^2 \approx 54`, so
  :math:`\gamma \approx 1/54` and ``"relative"`` noise at :math:`\sigma = 0.1` is ~20x below the
  reconstruction error; see the results page) and when :math:`\gamma` is learned (under the other
  two rules the injected noise is proportional to :math:`\gamma`, so training can cancel the jitter
  by shrinking :math:`\gamma`; under ``"iterate"`` :math:`\gamma` receives no gradient through the
  noise).
* ``"relative"`` (the rule of the paper's reference code): :math:`s_k = \sigma \max_j |u_{k,j}|`
  and :math:`e_k = \gamma w_k`, so the iterate moves by noise of std :math:`\gamma\sigma\max|u_k|`;
  :math:`\gamma` receives gradient through :math:`\gamma w_k` (the paper's placement).
* ``"absolute"``: :math:`s_k = \sigma`, :math:`e_k = \gamma w_k`.

**Difference from the paper's reference code.** The reference code takes a *signed* maximum over the
*whole batch* (``torch.max(u)``). Here the maximum is of the *absolute value* and *per sample*: a
signed max is wrong for signals that are mostly negative (seismic traces are zero-mean), and a
batch-wide max makes each sample's noise depend on the other samples in its batch, hence on batch
size and shuffling. Per-sample max-abs reduces to the paper's rule for a batch of one non-negative
image. The scale is treated as a constant (detached) for back-propagation: :math:`w_k` is an
exogenous perturbation, not a function the network may optimise.

This module is the one place that touches deepinv's optimisation internals (the ``f_step`` /
``g_step`` modules of the iterators and the arguments they receive); deepinv's planned per-iteration
``step`` refactor needs a change to :func:`_attach` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from deepinv.optim.optim_iterators import (
    ADMMIteration,
    CPIteration,
    DRSIteration,
    FISTAIteration,
    GDIteration,
    HQSIteration,
    PGDIteration,
)

from .._checks import check_number, check_rng

__all__ = [
    "SCALES",
    "SUPPORTED_ALGORITHMS",
    "jitter_noise",
    "jitter_std",
    "IterateNoise",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "strip_jitter",
    "iterate_noises",
    "suppress_jitter",
    "shared_noise",
    "standard_draw",
]

#: The allowed values of ``scale``.
SCALES = ("relative", "absolute", "iterate")

# deepinv iterator -> (algorithm name, where its data step's output is, as the hook sees it)
#   "point":    the data step returns u_k itself (prox or explicit gradient step)
#   "gradient": the data step returns grad f(x_k) (GD): u_k = x_k - gamma grad f(x_k)
#   "dual":     the data step returns a dual variable (PDCP, g_first=False): the noise goes on the
#               primal point x_k - tau K^T v handed to the prior step
_ALGORITHMS = {
    GDIteration: ("GD", "gradient"),
    PGDIteration: ("PGD", "point"),
    FISTAIteration: ("FISTA", "point"),
    HQSIteration: ("HQS", "point"),
    DRSIteration: ("DRS", "point"),
    ADMMIteration: ("ADMM", "point"),
    CPIteration: ("PDCP", "dual"),
}

#: Names of the deepinv algorithms whose unfolded (or DEQ) models can be jittered.
SUPPORTED_ALGORITHMS = tuple(name for name, _ in _ALGORITHMS.values())

#: Name of the submodule that holds the hook on a jittered iterator.
HOOK_NAME = "iterate_noise"


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
    r"""Standard deviation of the perturbation :math:`e_k` that jittering adds to the iterate.

    This is :math:`\gamma s_k` for ``"relative"`` and ``"absolute"`` and :math:`\sigma \max|u_k|` for
    ``"iterate"`` (see the module docstring). The result is detached.

    :param torch.Tensor u: data-step output :math:`u_k` of shape ``(B, ...)``.
    :param float sigma: noise level :math:`\sigma \geq 0`.
    :param str scale: ``"relative"``, ``"absolute"`` or ``"iterate"``.
    :param float, torch.Tensor stepsize: step size :math:`\gamma` (a number or a tensor
        broadcastable to ``u``).
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
    return _std(u, sigma, scale, gamma)


def jitter_noise(
    u: torch.Tensor,
    sigma: float,
    scale: str = "iterate",
    stepsize=1.0,
    rng: torch.Generator | None = None,
    *,
    draw: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The noise rule: the perturbation :math:`e_k` that jittering subtracts from the data step's output.

    .. math::

        e_k = \gamma w_k,\quad w_k \sim \mathcal{N}(0, s_k^2 I),\qquad
        s_k = \begin{cases} \sigma \max_j |u_{k,j}| & \text{relative}\\ \sigma & \text{absolute}\\
        \sigma \max_j |u_{k,j}| / \gamma & \text{iterate}\end{cases}

    with the maximum taken per sample. For ``"relative"`` and ``"absolute"`` the product
    :math:`\gamma w_k` keeps :math:`\gamma` in the graph (the paper's placement: a learnable step
    size receives gradient through the noise); ``"iterate"`` draws :math:`e_k` directly, with no
    dependence on :math:`\gamma`.

    :param torch.Tensor u: the data step's output :math:`u_k`, shape ``(B, ...)``.
    :param float sigma: noise level :math:`\sigma \geq 0`.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"``.
    :param float, torch.Tensor stepsize: step size :math:`\gamma`.
    :param torch.Generator rng: optional generator for reproducible noise (it may live on another
        device than ``u``; the noise is drawn on the generator's device and moved).
    :param torch.Tensor draw: a standard normal draw of ``u``'s shape to use instead of a fresh
        one (:func:`shared_noise` replays draws this way).
    :return: (:class:`torch.Tensor`) :math:`e_k`, same shape, dtype and device as ``u``.
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.

    >>> import torch
    >>> u = torch.ones(2, 1, 8, 8)
    >>> e1 = jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(0))
    >>> e2 = jitter_noise(u, 0.1, rng=torch.Generator().manual_seed(0))
    >>> bool(torch.equal(e1, e2)), e1.shape
    (True, torch.Size([2, 1, 8, 8]))
    """
    rng = check_rng(rng, "jitter_noise")
    _check_sigma_scale(sigma, scale)
    if draw is None:
        draw = standard_draw(u, rng)
    return _noise(u, sigma, scale, stepsize, draw)


def _std(u: torch.Tensor, sigma: float, scale: str, gamma):
    # jitter_std without the checks (gamma already detached)
    if scale == "absolute":
        return (sigma * gamma) * u.real.new_ones((u.shape[0],) + (1,) * (u.dim() - 1))
    s = sigma * _per_sample_max_abs(u)
    return s if scale == "iterate" else gamma * s


def _noise(u: torch.Tensor, sigma: float, scale: str, stepsize, draw: torch.Tensor):
    # jitter_noise without the checks: the hook's per-iteration path (its settings are checked
    # when they are set)
    # computed in at least float32 (also under a bf16/fp16 autocast), then cast to u's dtype
    work = torch.promote_types(u.dtype, torch.float32)
    w = (
        _std(u.to(work), sigma, scale, 1.0) * draw
    )  # s_k (relative/absolute) or the iterate std
    if scale != "iterate":
        w = stepsize * w
    return w.to(u.dtype)


def standard_draw(u: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
    r"""A standard normal draw of ``u``'s shape in at least float32, on ``u``'s device (drawn on
    the generator's device, then moved).

    :param torch.Tensor u: the tensor whose shape the draw takes.
    :param torch.Generator, None rng: the generator (``None``: torch's global one).
    :return: (:class:`torch.Tensor`) the draw.
    """
    work = torch.promote_types(u.dtype, torch.float32)
    dev = rng.device if rng is not None else u.device
    return torch.randn(u.shape, generator=rng, device=dev, dtype=work).to(u.device)


def _cur_params(args, kwargs) -> dict:
    # deepinv's f_step/g_step take ``cur_params`` (a dict) at a position that depends on the
    # algorithm; every other argument is a tensor, a module or None
    if isinstance(kwargs.get("cur_params"), dict):
        return kwargs["cur_params"]
    for a in args:
        if isinstance(a, dict):
            return a
    raise RuntimeError("jitter hook: the step was called without its cur_params dict")


class IterateNoise(torch.nn.Module):
    r"""The iterate-noise hook: perturbs the output of an unfolded algorithm's data-fidelity step.

    .. math::

        u_k \leftarrow u_k - e_k,\qquad e_k \text{ from } :func:`jitter_noise`
        (\sigma, \text{scale}, \gamma)

    One instance lives on each jittered iterator (as its submodule ``iterate_noise``, so that
    ``model.train()`` / ``model.eval()`` switch it) and is called by a forward hook on the
    iterator's data step (see the module docstring for the place in each algorithm). It draws noise
    only when ``self.training and self.sigma > 0``; otherwise the hook returns nothing and the step's
    output is deepinv's own object. It has no parameters or buffers: a jittered model's
    ``state_dict`` is the plain model's.

    :param float sigma: noise level :math:`\sigma \geq 0` (attribute, settable). Default 0.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"`` (settable).
    :param torch.Generator rng: generator of the noise (``None``: torch's global one; settable).
    :raises ValueError: a negative or non-finite ``sigma``, or an unknown ``scale``.
    :raises TypeError: ``rng`` that is not a :class:`torch.Generator`.

    >>> import torch
    >>> hook = IterateNoise(sigma=0.1, rng=torch.Generator().manual_seed(0))
    >>> u = torch.ones(2, 1, 4, 4)
    >>> bool(torch.equal(hook.eval()(u, stepsize=0.5), u)), bool(torch.equal(hook.train()(u, 0.5), u))
    (True, False)
    """

    def __init__(
        self,
        sigma: float = 0.0,
        scale: str = "iterate",
        rng: torch.Generator | None = None,
    ):
        super().__init__()
        _check_sigma_scale(sigma, scale)
        self._sigma, self._scale = float(sigma), scale
        self.rng = check_rng(rng, "IterateNoise")
        self._replay: list | None = (
            None  # draws shared by the passes of a shared_noise block
        )
        self._count = 0

    def _draw(self, u: torch.Tensor) -> torch.Tensor:
        """The standard draw of the next iteration: fresh, or replayed inside :func:`shared_noise`."""
        if self._replay is None:
            return standard_draw(u, self.rng)
        k = self._count
        self._count += 1
        if k < len(self._replay) and self._replay[k].shape == u.shape:
            return self._replay[k].to(u.device)
        draw = standard_draw(u, self.rng)
        if k < len(self._replay):
            self._replay[k] = draw
        else:
            self._replay.append(draw)
        return draw

    # the settings are checked when set, so that the per-iteration path need not check them
    @property
    def sigma(self) -> float:
        r"""Noise level :math:`\sigma \geq 0` (settable, checked)."""
        return self._sigma

    @sigma.setter
    def sigma(self, value):
        _check_sigma_scale(value, "iterate")
        self._sigma = float(value)

    @property
    def scale(self) -> str:
        r"""Scale rule (settable, checked)."""
        return self._scale

    @scale.setter
    def scale(self, value):
        _check_sigma_scale(0.0, value)
        self._scale = value

    @property
    def noise_on(self) -> bool:
        """``True`` when the next forward pass draws noise (``self.training and self.sigma > 0``)."""
        return bool(self.training and self._sigma > 0)

    def forward(self, u: torch.Tensor, stepsize=1.0) -> torch.Tensor:
        r"""The data step's output with the noise, :math:`u - e` (``u`` itself when the noise is off).

        :param torch.Tensor u: the data step's output :math:`u_k`.
        :param float, torch.Tensor stepsize: the step size :math:`\gamma`.
        :return: (:class:`torch.Tensor`) :math:`u_k - e_k`.
        """
        if not self.noise_on:
            return u
        return u - _noise(u, self._sigma, self._scale, stepsize, self._draw(u))

    # --- the three forward hooks (bound methods, so that copies of a model call their own copy)
    def _after_point(self, module, args, kwargs, output):
        if not self.noise_on:
            return None
        gamma = _cur_params(args, kwargs)["stepsize"]
        return output - _noise(
            output, self._sigma, self._scale, gamma, self._draw(output)
        )

    def _after_gradient(self, module, args, kwargs, output):
        # GD: the data step returns grad f(x); deepinv then moves x by -gamma * (grad g + grad f)
        if not self.noise_on:
            return None
        gamma = _cur_params(args, kwargs)["stepsize"]
        x = args[0] if args else kwargs["x"]
        with torch.no_grad():
            u = x - gamma * output
        # gamma * (e / gamma) = e: under "iterate" gamma gets no gradient through the noise,
        # under "relative"/"absolute" it gets the paper's gradient through gamma * w
        e = _noise(u, self._sigma, self._scale, gamma, self._draw(u))
        return output + e / gamma

    def _before_dual_prior(self, module, args, kwargs):
        # PDCP, g_first=False: g_step(x_prev, K^T v, prior, params) takes prox of x_prev - tau K^T v
        if not self.noise_on:
            return None
        x, w, *rest = args
        tau = _cur_params(args, kwargs)["stepsize"]
        with torch.no_grad():
            u = x - tau * w
        e = _noise(u, self._sigma, self._scale, tau, self._draw(u))
        return (x, w + e / tau, *rest), kwargs

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, scale={self.scale!r}"


def _algorithm(iterator) -> tuple[str, str] | None:
    for cls in type(iterator).__mro__:
        if cls in _ALGORITHMS:
            return _ALGORITHMS[cls]
    return None


def _hook_functions(noise: IterateNoise):
    return {noise._after_point, noise._after_gradient, noise._before_dual_prior}


def _attach(iterator, noise: IterateNoise) -> IterateNoise:
    """Register ``noise`` on a supported iterator: submodule ``iterate_noise`` plus one hook."""
    name, kind = _algorithm(iterator)
    iterator.add_module(HOOK_NAME, noise)
    noise.train(iterator.training)
    if kind == "gradient":
        iterator.f_step.register_forward_hook(noise._after_gradient, with_kwargs=True)
    elif kind == "dual" and not iterator.g_first:
        iterator.g_step.register_forward_pre_hook(
            noise._before_dual_prior, with_kwargs=True
        )
    else:
        iterator.f_step.register_forward_hook(noise._after_point, with_kwargs=True)
    return noise


def _detach(iterator) -> None:
    noise = getattr(iterator, HOOK_NAME, None)
    if not isinstance(noise, IterateNoise):
        return
    mine = _hook_functions(noise)
    for step in (iterator.f_step, iterator.g_step):
        for hooks in (step._forward_hooks, step._forward_pre_hooks):
            for key in [k for k, fn in hooks.items() if fn in mine]:
                del hooks[key]
                step._forward_hooks_with_kwargs.pop(key, None)
                step._forward_pre_hooks_with_kwargs.pop(key, None)
    delattr(iterator, HOOK_NAME)


class _WithHook:
    r"""A deepinv iterator built with an :class:`IterateNoise` attached (the two named iterators)."""

    def __init__(
        self,
        sigma: float = 0.0,
        scale: str = "iterate",
        rng: torch.Generator | None = None,
        **kwargs,
    ):
        rng = check_rng(rng, type(self).__name__)
        noise = IterateNoise(sigma, scale, rng)  # checks sigma and scale first
        super().__init__(**kwargs)
        _attach(self, noise)

    def _hook(self) -> IterateNoise:
        return self._modules[HOOK_NAME]

    @property
    def sigma(self) -> float:
        r"""Noise level :math:`\sigma` of the attached hook (settable)."""
        return self._hook().sigma

    @sigma.setter
    def sigma(self, value):
        self._hook().sigma = value

    @property
    def scale(self) -> str:
        r"""Scale rule of the attached hook (settable)."""
        return self._hook().scale

    @scale.setter
    def scale(self, value):
        self._hook().scale = value

    @property
    def rng(self):
        r"""Generator of the attached hook (settable)."""
        return self._hook().rng

    @rng.setter
    def rng(self, value):
        self._hook().rng = value

    @property
    def noise_on(self) -> bool:
        r"""Whether the next forward pass draws noise."""
        return self._hook().noise_on


class JitterGDIteration(_WithHook, GDIteration):
    r"""deepinv's gradient-descent iteration with the SGD-jittering hook attached.

    .. math::

        x_{k+1} = x_k - \gamma\left(\nabla f(x_k) + \lambda \nabla g(x_k) + w_k\right),
        \qquad \gamma w_k = e_k \text{ from } :func:`jitter_noise`

    The forward pass *is* deepinv's :class:`deepinv.optim.optim_iterators.GDIteration`; an
    :class:`IterateNoise` (submodule ``iterate_noise``) perturbs the data step's output in training
    mode when ``sigma > 0``. Equivalent to :func:`jitterize` on a model with a plain ``GDIteration``;
    kept as a name for code that builds iterators directly.

    :param float sigma: noise level :math:`\sigma \geq 0` (attribute, settable). Default 0.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"``.
    :param torch.Generator rng: optional generator for reproducible noise.
    :param kwargs: passed to :class:`deepinv.optim.optim_iterators.GDIteration`.
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


class JitterPGDIteration(_WithHook, PGDIteration):
    r"""deepinv's proximal-gradient iteration with the SPGD-jittering hook attached.

    .. math::

        x_{k+1} = \operatorname{prox}_{\gamma \lambda g}\left(x_k - \gamma \nabla f(x_k) - e_k\right),
        \qquad e_k \text{ from } :func:`jitter_noise`

    With ``g_first=True`` deepinv takes the explicit step on :math:`\lambda g` and the proximal step
    on :math:`f`; the noise then goes on the output of :math:`\operatorname{prox}_{\gamma f}`, the
    next iterate. The forward pass is deepinv's :class:`deepinv.optim.optim_iterators.PGDIteration`
    (relaxation included); an :class:`IterateNoise` (submodule ``iterate_noise``) does the rest.

    :param float sigma: noise level :math:`\sigma \geq 0` (attribute, settable). Default 0.
    :param str scale: ``"iterate"`` (default), ``"relative"`` or ``"absolute"``.
    :param torch.Generator rng: optional generator for reproducible noise.
    :param kwargs: passed to :class:`deepinv.optim.optim_iterators.PGDIteration` (``g_first``, ...).
    :raises ValueError: if ``sigma < 0`` or ``scale`` is unknown.
    :raises TypeError: if ``rng`` is not a :class:`torch.Generator`.

    >>> from deepinv_jitter import JitterPGDIteration
    >>> it = JitterPGDIteration(sigma=0.05, scale="iterate", g_first=True)
    >>> it.sigma, it.scale, it.g_first
    (0.05, 'iterate', True)
    """


# the named iterators and the deepinv iterators strip_jitter turns them back into
_PLAIN = {JitterGDIteration: GDIteration, JitterPGDIteration: PGDIteration}


def _optimizers(model: torch.nn.Module):
    from deepinv.optim import BaseOptim

    return [m for m in model.modules() if isinstance(m, BaseOptim)]


def _unsupported(opt) -> str | None:
    """Why ``opt`` cannot be jittered (``None`` if it can)."""
    it = getattr(getattr(opt, "fixed_point", None), "iterator", None)
    if it is None or _algorithm(it) is None:
        what = type(it).__name__ if it is not None else "no fixed-point iterator"
        return (
            f"{type(opt).__name__} ({what}) has no data-fidelity step / prior step split to "
            f"jitter; supported deepinv algorithms: {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    return None


def jitterize(
    model: torch.nn.Module,
    sigma: float | None = None,
    scale: str | None = None,
    rng: torch.Generator | None = None,
) -> torch.nn.Module:
    r"""Attach the SGD-jittering hook to every deepinv unfolded algorithm inside ``model``, in place.

    Every :class:`deepinv.optim.BaseOptim` in ``model`` (``model`` itself included, e.g.
    ``deepinv.optim.HQS(..., unfold=True)`` or a DEQ model) gets an :class:`IterateNoise` on its
    iterator, called after the data-fidelity step (see the module docstring for the place in each of
    GD, PGD, FISTA, HQS, DRS, ADMM and PDCP, both ``g_first`` orders). The iterators stay deepinv's;
    the model's ``state_dict`` is unchanged. Idempotent: a model already jittered keeps its hook and
    gets the ``sigma``/``scale``/``rng`` given. A fresh hook has ``sigma=0`` unless ``sigma`` is
    given, so the model's function is unchanged until noise is asked for; with ``sigma=0`` or in
    eval mode the output is bit-identical to deepinv's model. Undo with :func:`strip_jitter`.

    :param torch.nn.Module model: a deepinv unfolded model or a module containing one.
    :param float sigma: noise level to set (``None``: keep, 0 for a fresh hook).
    :param str scale: scale rule to set (``None``: keep, ``"iterate"`` for a fresh hook).
    :param torch.Generator rng: generator to set (``None``: keep).
    :return: ``model`` (the same object).
    :raises TypeError: if ``model`` is not a module, contains no ``BaseOptim``, or contains an
        algorithm without a data-step / prior-step split (MD, PMD, MLEM, OSEM, BSREM, BlindRL,
        SIRT, ...), naming the supported ones; nothing is changed then.
    :raises ValueError: for a bad ``sigma`` or ``scale``.

    >>> import deepinv as dinv
    >>> from deepinv_jitter import jitterize
    >>> model = dinv.optim.HQS(
    ...     dinv.optim.L2(), dinv.optim.TVPrior(), unfold=True, max_iter=2, g_param=0.1
    ... )
    >>> jitterize(model, sigma=0.1) is model
    True
    >>> type(model.fixed_point.iterator).__name__, model.fixed_point.iterator.iterate_noise.sigma
    ('HQSIteration', 0.1)
    """
    rng = check_rng(rng, "jitterize")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if sigma is not None or scale is not None:
        _check_sigma_scale(
            0.0 if sigma is None else sigma, "iterate" if scale is None else scale
        )
    opts = _optimizers(model)
    if not opts:
        raise TypeError(
            "jitterize needs a deepinv unfolded model (e.g. deepinv.optim.PGD(..., unfold=True)); "
            f"{type(model).__name__} contains no deepinv.optim.BaseOptim; supported "
            f"algorithms: {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    for opt in opts:  # check everything before changing anything
        why = _unsupported(opt)
        if why is not None:
            raise TypeError(f"jitterize: {why}")
    for opt in opts:
        it = opt.fixed_point.iterator
        noise = getattr(it, HOOK_NAME, None)
        if not isinstance(noise, IterateNoise):
            noise = _attach(it, IterateNoise())
        if sigma is not None:
            noise.sigma = float(sigma)
        if scale is not None:
            noise.scale = scale
        if rng is not None:
            noise.rng = rng
    return model


def strip_jitter(model: torch.nn.Module) -> torch.nn.Module:
    r"""Remove every SGD-jittering hook from ``model``, in place: a plain deepinv model again.

    The hooks and ``iterate_noise`` submodules attached by :func:`jitterize` are removed, and the
    iterators built as :class:`JitterGDIteration` / :class:`JitterPGDIteration` are replaced by
    deepinv's own ``GDIteration`` / ``PGDIteration`` holding the same step modules and settings. The
    weights are untouched, so the output in eval mode is bit-identical, and the model no longer draws
    noise in train mode (for fine-tuning or export). A model without hooks is returned unchanged.

    :param torch.nn.Module model: any module.
    :return: ``model`` (the same object).

    >>> import torch, deepinv as dinv
    >>> model = jitterize(dinv.optim.PGD(dinv.optim.L2(), unfold=True, max_iter=2, g_param=0.0), 0.5)
    >>> y, physics = torch.ones(1, 1, 4, 4), dinv.physics.Denoising()
    >>> strip_jitter(model) is model, bool(torch.equal(model.train()(y, physics), model(y, physics)))
    (True, True)
    """
    for opt in _optimizers(model):
        fp = getattr(opt, "fixed_point", None)
        it = getattr(fp, "iterator", None)
        if it is None:
            continue
        _detach(it)
        plain = _PLAIN.get(type(it))
        if plain is not None:
            new = plain(g_first=it.g_first, cost_fn=it.cost_fn, has_cost=it.has_cost)
            new.f_step, new.g_step = it.f_step, it.g_step
            new.train(it.training)
            fp.iterator = new
    return model


def iterate_noises(model: torch.nn.Module) -> list[IterateNoise]:
    r"""The jittering hooks inside ``model`` (empty if it has none).

    :param torch.nn.Module model: any module.
    :return: list of :class:`IterateNoise`.

    >>> import deepinv as dinv
    >>> iterate_noises(dinv.optim.GD(dinv.optim.L2(), unfold=True, g_param=0.0))
    []
    """
    return [m for m in model.modules() if isinstance(m, IterateNoise)]


@contextmanager
def shared_noise(model: torch.nn.Module) -> Iterator[None]:
    r"""Context in which every forward pass of ``model`` draws the same iterate noise: the first
    pass draws it, the others replay it (iteration by iteration, where the shapes agree), so that
    the passes see one realisation of the jittered network.

    :class:`~deepinv_jitter.JitterTrainer` runs every training step in this context: a
    self-supervised loss that calls the model several times in one step (deepinv's SURE losses
    take finite differences of two calls; EI and measurement splitting call it again on
    transformed or split measurements) then differentiates one network, not two differently noisy
    ones, while every step still draws fresh noise. With one call per step (supervised losses) it
    changes nothing: the draws are the ones the pass would make anyway.

    :param torch.nn.Module model: any module.

    >>> import torch, deepinv as dinv
    >>> model = jitterize(dinv.optim.GD(dinv.optim.L2(), unfold=True, g_param=0.0, max_iter=2), 0.5)
    >>> y, physics = torch.ones(1, 1, 4, 4), dinv.physics.Denoising()
    >>> with shared_noise(model.train()):
    ...     bool(torch.equal(model(y, physics), model(y, physics)))
    True
    """
    hooks, handles = [], []
    for opt in _optimizers(model):
        noise = getattr(getattr(opt, "fixed_point", None), "iterator", None)
        noise = getattr(noise, HOOK_NAME, None)
        if isinstance(noise, IterateNoise):
            hooks.append(noise)

            def restart(module, args, noise=noise):
                noise._count = 0

            handles.append(opt.register_forward_pre_hook(restart))
    try:
        for h in hooks:
            h._replay, h._count = [], 0
        yield
    finally:
        for handle in handles:
            handle.remove()
        for h in hooks:
            h._replay, h._count = None, 0


@contextmanager
def suppress_jitter(model: torch.nn.Module) -> Iterator[None]:
    r"""Context in which every jittering hook of ``model`` draws no noise (``sigma`` set to 0,
    restored on exit).

    :param torch.nn.Module model: any module.

    >>> import torch, deepinv as dinv
    >>> model = jitterize(dinv.optim.GD(dinv.optim.L2(), unfold=True, g_param=0.0), sigma=0.5).train()
    >>> with suppress_jitter(model):
    ...     model.fixed_point.iterator.iterate_noise.noise_on
    False
    >>> model.fixed_point.iterator.iterate_noise.sigma
    0.5
    """
    hooks = iterate_noises(model)
    saved = [h.sigma for h in hooks]
    try:
        for h in hooks:
            h.sigma = 0.0
        yield
    finally:
        for h, s in zip(hooks, saved):
            h.sigma = s
