r"""Builders of unrolled networks on deepinv's own algorithms (``unfold=True``): GD and PGD (the
paper's), FISTA, HQS, DRS, ADMM and the primal-dual PDCP."""

from __future__ import annotations

import math
import warnings

import deepinv as dinv
import torch
from deepinv.utils.mixins import MRIMixin

from .priors import DnCNNPrior, SeismicCNN

__all__ = ["ALGORITHMS", "build_unrolled", "initial_iterate", "estimate_stepsize"]

_INITS = ("auto", "y", "adjoint")
#: The algorithms :func:`build_unrolled` builds (deepinv's classes of the same names).
ALGORITHMS = ("gd", "pgd", "fista", "hqs", "drs", "admm", "pdcp")
_CLASSES = {
    "gd": "GD",
    "pgd": "PGD",
    "fista": "FISTA",
    "hqs": "HQS",
    "drs": "DRS",
    "admm": "ADMM",
    "pdcp": "PDCP",
}


def _first_iterate(algorithm: str, x0: torch.Tensor) -> tuple:
    """The first iterate in the format each deepinv algorithm expects (``X["est"]``)."""
    if algorithm in ("gd", "pgd", "hqs"):
        return (x0,)
    if algorithm in ("fista", "drs"):
        return (x0, x0)  # FISTA: extrapolated point; DRS: z_0 = x_0
    if algorithm == "admm":
        return (x0, torch.zeros_like(x0))  # scaled dual variable
    return (x0, x0, torch.zeros_like(x0))  # PDCP: primal, relaxed primal, dual


def initial_iterate(y: torch.Tensor, physics, init: str = "auto") -> torch.Tensor:
    r"""The first iterate :math:`x_0`: :math:`y` for square operators, :math:`A^\top y` otherwise.

    ``"auto"`` picks :math:`y` when :math:`A^\top y` has the shape of :math:`y` and the measurement lives in
    the image domain (convolutions, denoising, inpainting, the seismic operator), and :math:`A^\top y` for
    MRI (k-space measurements) and for non-square operators.

    :param torch.Tensor y: measurement.
    :param deepinv.physics.LinearPhysics physics: forward operator.
    :param str init: ``"auto"``, ``"y"`` or ``"adjoint"``.
    :return: (:class:`torch.Tensor`) :math:`x_0`.
    :raises ValueError: for an unknown ``init``.

    >>> import torch, deepinv as dinv
    >>> y = torch.ones(1, 1, 4, 4)
    >>> bool(torch.equal(initial_iterate(y, dinv.physics.Denoising()), y))
    True
    """
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
    if init == "y":
        return y
    xt = physics.A_adjoint(y)
    if init == "adjoint" or isinstance(physics, MRIMixin) or xt.shape != y.shape:
        return xt
    return y


def estimate_stepsize(physics, x_shape, n_power_iter: int = 50, seed: int = 0) -> float:
    r""":math:`1/\|A\|^2` from power iteration on :math:`A^\top A` (deepinv's ``compute_sqnorm``).

    :param deepinv.physics.LinearPhysics physics: forward operator.
    :param tuple x_shape: shape of one input batch, e.g. ``(1, 1, 128, 64)``.
    :param int n_power_iter: power iterations. Default 50.
    :param int seed: seed of the random start vector.
    :return: (float) the step size.

    >>> import deepinv as dinv
    >>> round(estimate_stepsize(dinv.physics.Denoising(), (1, 1, 8, 8)), 3)
    1.0
    """
    g = torch.Generator().manual_seed(seed)
    # the physics' device from its tensors (deepinv deprecates ``physics.device``)
    tensors = (
        [*physics.buffers(), *physics.parameters()]
        if hasattr(physics, "buffers")
        else []
    )
    x = torch.randn(tuple(x_shape), generator=g).to(
        tensors[0].device if tensors else "cpu"
    )
    with warnings.catch_warnings():
        # Operators with many singular values near the largest (the Ricker convolution) converge
        # slowly; 50 iterations are within 1e-3 of ||A||^2, plenty for an initial step size.
        warnings.filterwarnings(
            "ignore", message="Power iteration: convergence not reached"
        )
        norm = physics.compute_sqnorm(x, max_iter=n_power_iter, tol=1e-6, verbose=False)
    norm = float(norm)
    if not norm > 0 or not math.isfinite(norm):
        raise ValueError(
            f"the operator's norm is {norm:g}: no step size 1/||A||^2; give stepsize"
        )
    return 1.0 / norm


def _conditioning_hook(denoiser, init):
    def hook(module, args, kwargs):
        y = args[0] if len(args) > 0 else kwargs["y"]
        physics = args[1] if len(args) > 1 else kwargs["physics"]
        denoiser.set_context(initial_iterate(y, physics, init).detach())

    return hook


def build_unrolled(
    physics,
    prior: str | torch.nn.Module = "seismic",
    algorithm: str = "gd",
    max_iter: int = 5,
    stepsize: float | None = None,
    learn_stepsize: bool = True,
    x_shape: tuple | None = None,
    init: str = "auto",
    channels: int | None = None,
    hidden: int = 32,
    depth: int | None = None,
    condition_on_y: bool = False,
    *,
    n_iter: int | None = None,
):
    r"""An unrolled network: one of deepinv's algorithms with ``unfold=True``, ``GD`` with a RED
    prior, the others with a PnP prior (the prior's prox is the learned denoiser :math:`D`).

    .. math::

        \text{gd:}\ x_{k+1} = x_k - \gamma\left(A^\top(Ax_k - y) + N(x_k)\right),\qquad
        \text{pgd:}\ x_{k+1} = D\left(x_k - \gamma A^\top(Ax_k - y)\right),\qquad
        \text{hqs:}\ x_{k+1} = D\left(\operatorname{prox}_{\gamma f}(x_k)\right)

    and FISTA, DRS, ADMM and PDCP as in deepinv (``g_first=False``; PDCP with :math:`K = I` and
    both step sizes :math:`\gamma`), for :math:`k = 0..n_{iter}-1`, with one weight-tied learned
    network (:math:`N` = residual of :math:`D`), :math:`x_0` from :func:`initial_iterate` (the other
    variables of the algorithm start as deepinv's conventions: FISTA's extrapolated point and DRS's
    :math:`z` at :math:`x_0`, ADMM's and PDCP's dual variables at 0) and a learnable scalar step
    size :math:`\gamma`
    (``learn_stepsize=False`` keeps it fixed, so that it cannot shrink to cancel SGD jittering; the
    ``"iterate"`` jitter scale is the other remedy). The result is a plain
    :class:`deepinv.optim.BaseOptim`, so :func:`deepinv_jitter.jitterize` and deepinv's Trainer apply.

    :param deepinv.physics.LinearPhysics physics: forward operator (used for the step size and, with
        ``condition_on_y``, nothing else: the model is called as ``model(y, physics)``).
    :param str, torch.nn.Module prior: ``"seismic"`` (:class:`SeismicCNN`), ``"dncnn"``
        (:class:`DnCNNPrior`), or a denoiser module called as ``D(x, sigma)``.
    :param str algorithm: one of :data:`ALGORITHMS`: ``"gd"`` (SGD jittering), ``"pgd"`` (SPGD
        jittering), ``"fista"``, ``"hqs"``, ``"drs"``, ``"admm"`` or ``"pdcp"``.
    :param int max_iter: unrolled iterations (deepinv's name). Default 5.
    :param float stepsize: initial :math:`\gamma` (the gradient step, or the data term's prox
        parameter of the splitting algorithms); ``None`` estimates :math:`1/\|A\|^2` (needs
        ``x_shape``).
    :param bool learn_stepsize: make :math:`\gamma` a trainable parameter. Default ``True``.
    :param tuple x_shape: input shape for the step-size estimate, e.g. ``(1, 1, 128, 64)``.
    :param str init: ``"auto"``, ``"y"`` or ``"adjoint"`` (see :func:`initial_iterate`).
    :param int channels: image channels of the built-in priors (default 1 for seismic, 2 for dncnn).
    :param int hidden: feature channels of the built-in priors. Default 32.
    :param int depth: conv layers of the built-in priors (default 5 for seismic, 8 for dncnn).
    :param bool condition_on_y: seismic prior also sees :math:`x_0` (the paper's :math:`(y, x_k)`
        conditioning), set by a forward pre-hook on the returned model.
    :param int n_iter: former name of ``max_iter`` (deprecated).
    :return: (:class:`deepinv.optim.BaseOptim`) the unrolled model, in train mode.
    :raises ValueError: unknown ``algorithm``/``prior``/``init``, ``max_iter < 1``, ``stepsize <= 0``, or
        ``stepsize=None`` without ``x_shape``; ``condition_on_y`` with a prior other than ``"seismic"``.
    :raises TypeError: if ``prior`` is neither a known name nor a module.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter.models import build_unrolled
    >>> model = build_unrolled(dinv.physics.Denoising(), "seismic", "pgd", stepsize=1.0, hidden=8)
    >>> y = torch.randn(2, 1, 16, 8)
    >>> model(y, dinv.physics.Denoising()).shape
    torch.Size([2, 1, 16, 8])
    """
    if n_iter is not None:
        warnings.warn(
            "build_unrolled: n_iter is now max_iter (deepinv's name)",
            DeprecationWarning,
            stacklevel=2,
        )
        max_iter = n_iter
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
    if stepsize is None:
        if x_shape is None:
            raise ValueError(
                "stepsize=None needs x_shape to estimate 1/||A||^2; give one of them"
            )
        stepsize = estimate_stepsize(physics, x_shape)
    if (
        isinstance(stepsize, bool)
        or not isinstance(stepsize, (int, float))
        or not stepsize > 0
        or not math.isfinite(stepsize)
    ):
        raise ValueError(f"stepsize must be a positive finite float, got {stepsize!r}")
    if isinstance(prior, str):
        if prior == "seismic":
            denoiser = SeismicCNN(
                channels=channels or 1,
                hidden=hidden,
                depth=depth or 5,
                condition_on_y=condition_on_y,
            )
        elif prior == "dncnn":
            denoiser = DnCNNPrior(
                channels=channels or 2, hidden=hidden, depth=depth or 8
            )
        else:
            raise ValueError(
                f"prior must be 'seismic', 'dncnn' or a torch.nn.Module, got {prior!r}"
            )
    elif isinstance(prior, torch.nn.Module):
        denoiser = prior
    else:
        raise TypeError(
            f"prior must be 'seismic', 'dncnn' or a torch.nn.Module, got {type(prior)}"
        )
    if condition_on_y and not isinstance(denoiser, SeismicCNN):
        raise ValueError("condition_on_y=True needs prior='seismic'")

    g_prior = (
        dinv.optim.RED(denoiser) if algorithm == "gd" else dinv.optim.PnP(denoiser)
    )
    params = {
        "lambda": 1.0,
        "stepsize": float(stepsize),
        "g_param": 0.0,  # unused by the priors; None would break deepinv's unfold (see notes)
        "beta": 1.0,
    }
    if algorithm == "fista":
        params["a"] = 3
    if algorithm == "pdcp":
        params |= {"stepsize_dual": float(stepsize), "K": lambda x: x}
        params["K_adjoint"] = params["K"]
    trainable = ["stepsize"] if learn_stepsize else []
    if learn_stepsize and algorithm == "pdcp":
        trainable.append("stepsize_dual")
    model = getattr(dinv.optim, _CLASSES[algorithm])(
        data_fidelity=dinv.optim.L2(),
        prior=g_prior,
        params_algo=params,
        max_iter=max_iter,
        unfold=True,
        trainable_params=trainable,
        custom_init=lambda y, phys: {
            "est": _first_iterate(algorithm, initial_iterate(y, phys, init))
        },
    )
    if condition_on_y:
        model.register_forward_pre_hook(
            _conditioning_hook(denoiser, init), with_kwargs=True
        )
    return model.train()
