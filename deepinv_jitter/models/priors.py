r"""Small learned priors for unrolled networks: residual CNN denoisers usable as deepinv PnP / RED priors.

Both networks are residual denoisers :math:`D(x) = x - N(x)`, so that deepinv's
:class:`deepinv.optim.prior.RED` gives :math:`\nabla g(x) = x - D(x) = N(x)` (a learned gradient, for
unrolled GD) and :class:`deepinv.optim.prior.PnP` gives :math:`\operatorname{prox}(x) = D(x)` (a learned
proximal map, for unrolled PGD). The last layer starts at zero, so an untrained prior is the identity
denoiser and an untrained unrolled network is plain gradient descent.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_number

__all__ = ["SeismicCNN", "DnCNNPrior", "compile_priors"]


def _check_int(name, value, minimum):
    return check_number(value, name, low=minimum, integer=True)


class _ResidualCNN(nn.Module):
    def __init__(self, in_channels, out_channels, hidden, depth, kernel_size):
        # arguments are checked here once for both priors (in_channels is derived, already valid)
        _check_int("channels", out_channels, 1)
        _check_int("hidden", hidden, 1)
        _check_int("depth", depth, 2)
        _check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        super().__init__()
        pad = kernel_size // 2
        layers = [
            nn.Conv2d(in_channels, hidden, kernel_size, padding=pad),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(hidden, hidden, kernel_size, padding=pad),
                nn.ReLU(inplace=True),
            ]
        last = nn.Conv2d(hidden, out_channels, kernel_size, padding=pad)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)


class SeismicCNN(_ResidualCNN):
    r"""Small residual CNN denoiser for seismic sections (``(B, C, T, N)``, time x traces).

    .. math::

        D(x) = x - N([x, c]) \quad\text{(or } x - N(x) \text{ when not conditioned)}

    The paper's seismic prior is conditioned on both the measurement and the iterate. With
    ``condition_on_y=True`` the network also sees a context tensor :math:`c` (the initial iterate
    :math:`x_0`, i.e. :math:`y` for the square seismic operator), set per forward pass by
    :func:`deepinv_jitter.models.build_unrolled` through :meth:`set_context`.

    :param int channels: image channels :math:`C`. Default 1.
    :param int hidden: feature channels. Default 32.
    :param int depth: number of conv layers (>= 2). Default 5.
    :param int kernel_size: odd kernel size. Default 3.
    :param bool condition_on_y: also feed the context tensor. Default ``False``.
    :raises ValueError: for a non-positive size, even kernel or ``depth < 2``.
    :raises RuntimeError: (at call time) when conditioned but no context was set.

    >>> import torch
    >>> D = SeismicCNN()
    >>> x = torch.randn(2, 1, 16, 8)
    >>> bool(torch.equal(D(x), x))  # untrained: identity
    True
    """

    def __init__(
        self,
        channels: int = 1,
        hidden: int = 32,
        depth: int = 5,
        kernel_size: int = 3,
        condition_on_y: bool = False,
    ):
        _check_int("channels", channels, 1)
        c_in = 2 * channels if condition_on_y else channels
        super().__init__(c_in, channels, hidden, depth, kernel_size)
        self.condition_on_y = bool(condition_on_y)
        self._context = None

    def set_context(self, c: torch.Tensor | None) -> None:
        r"""Set the conditioning tensor (same shape as the iterate) for the next forward passes.

        :param torch.Tensor c: context, or ``None`` to clear it.
        """
        self._context = c

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        r"""Denoise ``x``.

        :param torch.Tensor x: iterate ``(B, C, T, N)``.
        :param sigma: ignored (deepinv denoiser signature).
        :return: (:class:`torch.Tensor`) :math:`D(x)`.
        """
        if self.condition_on_y:
            if self._context is None:
                raise RuntimeError(
                    "SeismicCNN(condition_on_y=True) needs set_context(y) before the forward pass "
                    "(build_unrolled registers a hook that does it)"
                )
            return x - self.net(torch.cat([x, self._context.to(x.dtype)], dim=1))
        return x - self.net(x)


class DnCNNPrior(_ResidualCNN):
    r"""DnCNN-style residual denoiser for MRI images stored as 2 real channels (real, imaginary).

    .. math::

        D(x) = x - N(x),\qquad N = \text{conv} \to (\text{conv} \to \text{ReLU})^{\text{depth}-2} \to \text{conv}

    (DnCNN without batch normalisation: batch statistics would make evaluation depend on the batch and
    make train/eval behave differently, which would blur the effect of jittering.)

    :param int channels: image channels (2 for complex MRI images). Default 2.
    :param int hidden: feature channels. Default 32.
    :param int depth: number of conv layers (>= 2). Default 8.
    :param int kernel_size: odd kernel size. Default 3.
    :raises ValueError: for a non-positive size, even kernel or ``depth < 2``.

    >>> import torch
    >>> D = DnCNNPrior(hidden=8, depth=3)
    >>> D(torch.zeros(1, 2, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
    """

    def __init__(
        self, channels: int = 2, hidden: int = 32, depth: int = 8, kernel_size: int = 3
    ):
        super().__init__(channels, channels, hidden, depth, kernel_size)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        r"""Denoise ``x``.

        :param torch.Tensor x: image ``(B, C, H, W)``.
        :param sigma: ignored (deepinv denoiser signature).
        :return: (:class:`torch.Tensor`) :math:`D(x)`.
        """
        return x - self.net(x)


def compile_priors(model: nn.Module, **options) -> int:
    r"""Compile the convolution stacks of the CNN priors inside a model, in place.

    Calls :meth:`torch.nn.Module.compile` on the layer stack of every :class:`SeismicCNN` and
    :class:`DnCNNPrior` in ``model``; the unrolled loop, the physics and the jitter noise stay
    eager (:func:`torch.compile` of a whole deepinv unfolded model fails in torch 2.14's dynamo).
    The parameters and ``state_dict`` keys do not change, so checkpoints move freely between
    compiled and eager models. The first calls (and a new batch shape) pay the compilation.

    :param torch.nn.Module model: e.g. from :func:`build_unrolled`.
    :param options: passed to :func:`torch.compile` (e.g. ``mode="max-autotune"``).
    :return: (int) the number of priors compiled.
    :raises ValueError: the model holds no :class:`SeismicCNN` or :class:`DnCNNPrior`.
    """
    priors = [m for m in model.modules() if isinstance(m, _ResidualCNN)]
    if not priors:
        raise ValueError(
            "compile_priors found no SeismicCNN or DnCNNPrior in the model; "
            "compile your own prior with torch.compile instead"
        )
    for prior in priors:
        prior.net.compile(**options)
    return len(priors)
