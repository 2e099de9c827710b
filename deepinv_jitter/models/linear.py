r"""Denoisers on flattened signals for the denoising toy: a linear map and a small MLP.

Both are called as deepinv denoisers, ``D(x, sigma)`` (``sigma`` ignored), on batches of
any sample shape ``(B, *shape)`` with :math:`n` entries per sample, so they are valid
``prior`` modules of :func:`deepinv_jitter.models.build_unrolled`. With
``algorithm="gd"`` the prior is deepinv's :class:`~deepinv.optim.prior.RED`,
:math:`\nabla g(x) = x - D(x)`, and one unrolled iteration on :math:`f(x) = \tfrac12\|Ax
- y\|^2` (deepinv's ``L2()``, :math:`\lambda = 1`) is

.. math::

    x_{k+1} = x_k - \gamma\left(A^\top(Ax_k - y) + x_k - D(x_k)\right).

With :class:`LinearDenoiser`, :math:`D(x) = Wx`, this is :math:`x_{k+1} = B x_k + \gamma
A^\top y` with :math:`B = I - \gamma(A^\top A + I - W)`, so the whole unrolled network
is a linear map of :math:`y` (for denoising, :math:`A = I`, :math:`x_0 = y`: :math:`R(y)
= (B^K + \gamma\sum_{j<K} B^j)\,y`), and SGD jittering with the ``"absolute"`` scale
adds noise that enters the output linearly, through :math:`B^{K-1-k}` from iteration
:math:`k` (the closed forms are checked in ``tests/optim/test_theory.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_number

__all__ = ["LinearDenoiser", "MLPDenoiser"]

_INITS = ("identity", "zero")


def _check_int(name, value, minimum):
    return check_number(value, name, low=minimum, integer=True)


def _flatten(x: torch.Tensor, n: int, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x[0].numel() != n:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{name} expects a batch (B, ...) with {n} entries per sample, got {got}"
        )
    return x.reshape(x.shape[0], n)


class LinearDenoiser(nn.Module):
    r"""A learned linear denoiser :math:`D(x) = W x` on flattened signals.

    .. math::

        D(x)_b = W \operatorname{vec}(x_b),\qquad W \in \mathbb{R}^{n \times n}

    ``init="identity"`` (default) starts at :math:`W = I`: then :math:`\nabla g = x -
    D(x) = 0`, so an untrained unrolled GD network is plain gradient descent on the data
    term (for denoising from :math:`x_0 = y`, the identity map), as with the package's
    CNN priors. ``init="zero"`` starts at :math:`W = 0` (:math:`\nabla g(x) = x`, a
    Tikhonov step). No bias: the toy's signals are zero-mean, and without one the
    unrolled network is exactly linear in :math:`y`.

    :param int n: entries per sample (e.g. 64 for ``(1, 8, 8)``).
    :param str init: ``"identity"`` (default) or ``"zero"``.
    :raises ValueError: for ``n < 1`` or an unknown ``init``; in ``forward``, for an
        input whose samples do not have ``n`` entries.

    >>> import torch, deepinv as dinv
    >>> from deepinv_jitter.models import build_unrolled
    >>> physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.2))
    >>> model = build_unrolled(physics, prior=LinearDenoiser(64), stepsize=0.5)
    >>> y = torch.randn(2, 1, 8, 8)
    >>> bool(torch.allclose(model(y, physics), y))  # untrained: identity
    True
    """

    def __init__(self, n: int, init: str = "identity"):
        super().__init__()
        self.n = _check_int("n", n, 1)
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        self.init = init
        self.weight = nn.Parameter(
            torch.eye(n) if init == "identity" else torch.zeros(n, n)
        )

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        r"""Denoise ``x``.

        :param torch.Tensor x: batch ``(B, *shape)`` with ``n`` entries per sample.
        :param sigma: ignored (deepinv denoiser signature).
        :return: (:class:`torch.Tensor`) :math:`Wx`, the shape of ``x``.
        """
        flat = _flatten(x, self.n, type(self).__name__)
        return (flat @ self.weight.to(x.dtype).T).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"n={self.n}, init={self.init!r}"


class MLPDenoiser(nn.Module):
    r"""A small residual MLP denoiser on flattened signals: :math:`D(x) = x - N(x)`.

    .. math::

        N = \text{Linear}(n, h)
        \to (\text{ReLU} \to \text{Linear}(h, h))^{\text{depth}-2}
        \to \text{ReLU} \to \text{Linear}(h, n)

    The last layer starts at zero, so an untrained prior is the identity denoiser (as
    the package's CNN priors). The toy's signals have no spatial structure, so a fully
    connected network suits them better than a CNN.

    :param int n: entries per sample.
    :param int hidden: hidden width :math:`h \geq 1` (default 128).
    :param int depth: linear layers, ``>= 2`` (default 2).
    :raises ValueError: for a bad size; in ``forward``, for an input whose samples do
        not have ``n`` entries.

    >>> import torch
    >>> D = MLPDenoiser(64, hidden=16)
    >>> x = torch.randn(3, 1, 8, 8)
    >>> bool(torch.equal(D(x), x))  # untrained: identity
    True
    """

    def __init__(self, n: int, hidden: int = 128, depth: int = 2):
        super().__init__()
        self.n = _check_int("n", n, 1)
        _check_int("hidden", hidden, 1)
        _check_int("depth", depth, 2)
        layers = [nn.Linear(n, hidden)]
        for _ in range(depth - 2):
            layers += [nn.ReLU(), nn.Linear(hidden, hidden)]
        last = nn.Linear(hidden, n)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, nn.ReLU(), last)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        r"""Denoise ``x``.

        :param torch.Tensor x: batch ``(B, *shape)`` with ``n`` entries per sample.
        :param sigma: ignored (deepinv denoiser signature).
        :return: (:class:`torch.Tensor`) :math:`x - N(x)`, the shape of ``x``.
        """
        flat = _flatten(x, self.n, type(self).__name__)
        return x - self.net(flat).reshape(x.shape)
