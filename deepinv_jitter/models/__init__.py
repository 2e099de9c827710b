r"""The paper's priors and unrolled-network builders on deepinv's algorithms (GD, PGD, FISTA, HQS,
DRS, ADMM, PDCP).

Public names and signatures:

- ``build_unrolled(physics, prior="seismic", algorithm="gd", max_iter=5, stepsize=None,
  learn_stepsize=True, x_shape=None, init="auto", channels=None, hidden=32, depth=None,
  condition_on_y=False) -> deepinv.optim.BaseOptim``: ``algorithm="gd"`` builds
  ``deepinv.optim.GD(L2(), RED(D), unfold=True)``, ``"pgd"`` builds ``deepinv.optim.PGD(L2(), PnP(D),
  unfold=True)``, and ``"fista"``, ``"hqs"``, ``"drs"``, ``"admm"``, ``"pdcp"`` the deepinv
  algorithms of those names with ``PnP(D)`` (the list is :data:`ALGORITHMS`); ``prior`` is ``"seismic"`` (:class:`SeismicCNN`), ``"dncnn"`` (:class:`DnCNNPrior`)
  or any denoiser module ``D(x, sigma)``; ``stepsize=None`` estimates ``1/||A||^2`` (needs
  ``x_shape``); ``learn_stepsize=False`` fixes the step (so it cannot shrink to cancel jittering);
  ``x0 = y`` for square image-domain operators, ``A^T y`` otherwise (``init``).
- ``SeismicCNN(channels=1, hidden=32, depth=5, kernel_size=3, condition_on_y=False)``: residual CNN
  denoiser ``D(x) = x - N(x)`` (optionally ``x - N([x, x0])``, the paper's ``(y, x_k)`` conditioning).
- ``DnCNNPrior(channels=2, hidden=32, depth=8, kernel_size=3)``: DnCNN-style residual denoiser for
  MRI images as 2 real channels (no batch norm).
- ``compile_priors(model, **options) -> int``: :func:`torch.compile` on the layer stacks of the
  CNN priors in ``model``, in place (``state_dict`` unchanged).
- ``LinearDenoiser(n, init="identity")``, ``MLPDenoiser(n, hidden=128, depth=2)``: priors on
  flattened signals for the denoising toy (a linear prior makes the unrolled network linear in
  ``y``, the case the theory treats exactly).
- ``initial_iterate(y, physics, init="auto")``, ``estimate_stepsize(physics, x_shape, n_power_iter=50,
  seed=0)``: helpers used by the builder.

The last layer of each prior starts at zero, so an untrained model is plain (proximal) gradient descent.

>>> import torch, deepinv as dinv
>>> from deepinv_jitter.models import build_unrolled
>>> physics = dinv.physics.BlurFFT((1, 16, 16), filter=dinv.physics.functional.gaussian_blur(sigma=1.0))
>>> model = build_unrolled(physics, "seismic", "gd", x_shape=(1, 1, 16, 16), hidden=8)
>>> model(physics(torch.rand(1, 1, 16, 16)), physics).shape
torch.Size([1, 1, 16, 16])
"""

from .linear import LinearDenoiser, MLPDenoiser
from .priors import DnCNNPrior, SeismicCNN, compile_priors
from .unrolled import ALGORITHMS, build_unrolled, estimate_stepsize, initial_iterate

__all__ = [
    "ALGORITHMS",
    "build_unrolled",
    "SeismicCNN",
    "DnCNNPrior",
    "compile_priors",
    "LinearDenoiser",
    "MLPDenoiser",
    "initial_iterate",
    "estimate_stepsize",
]
