r"""The signal model of the denoising toy: Gaussian signals on a random subspace, their exact
oracle (the Wiener filter) and their distribution shift. The dataset that draws from it is
:class:`deepinv_jitter.datasets.toy.ToySignalDataset`.

Signals :math:`x = U z \in \mathbb{R}^n` with :math:`U` a random :math:`n \times k`
orthonormal basis and :math:`z \sim \mathcal{N}(0, \operatorname{diag}(\lambda))`, so
that :math:`x \sim \mathcal{N}(0, C)`, :math:`C = U \operatorname{diag}(\lambda)
U^\top`, of rank :math:`k`. Measurements :math:`y = x + e`, :math:`e \sim \mathcal{N}(0,
s^2 I)` (deepinv's ``Denoising(GaussianNoise(s))``). For a Gaussian model the Bayes
(MMSE) estimator is linear, the Wiener filter

.. math::

    W_s = C (C + s^2 I)^{-1}
        = U \operatorname{diag}\!\left(\frac{\lambda_i}{\lambda_i + s^2}\right) U^\top,

so every learned denoiser can be compared with an exact oracle, and every *linear*
estimator :math:`\hat x = M y` has a closed-form expected error
(:meth:`GaussianSubspaceModel.estimator_error`).

**Shape.** Each sample is a tensor of ``shape`` (default ``(1, r, r)`` when :math:`n =
r^2`, e.g. ``(1, 8, 8)`` for :math:`n = 64`, else ``(1, 1, n)``), so deepinv's denoising
physics, the package's unrolled GD and deepinv's 2-D metrics apply. deepinv's
:class:`~deepinv.loss.metric.SSIM` (11 x 11 Gaussian window, reflect padding) runs on 8
x 8 images; the signals have no spatial structure, so SSIM is reported for completeness
only: PSNR is the measure of this task.

**Spectrum.** :math:`\lambda_i \propto \rho^i` (``decay`` :math:`\rho`), :math:`i =
0..k-1`, scaled so that the mean signal variance per coordinate is
:math:`\operatorname{tr}(C)/n = \text{signal\_std}^2`.

**PSNR convention.** A fixed peak :math:`P = 4\,\text{signal\_std}` (the width of
:math:`\pm 2` standard deviations; :math:`P = 1` with the default ``signal_std =
0.25``), and :math:`\mathrm{PSNR} = 10 \log_{10}(P^2 / \mathrm{MSE})` with the MSE per
coordinate (:func:`mse_to_psnr`, :meth:`GaussianSubspaceModel.psnr`).
:meth:`GaussianSubspaceModel.metrics` gives deepinv's PSNR / SSIM with that fixed range;
they average the PSNR *per sample*, which exceeds the PSNR of the mean MSE (the closed
forms) by a Jensen gap (0.58 dB for the oracle at the defaults). To compare a network
with the oracle, either score both with the same metric on the same test set (the oracle
as a reconstructor: :class:`MMSEReconstructor`), or compare the PSNR of the mean MSE
with :meth:`~GaussianSubspaceModel.oracle_psnr`.

**Distribution shift.** :meth:`GaussianSubspaceModel.shifted` rotates the subspace
part-way towards an orthogonal one, so that every principal angle between the two
subspaces is ``angle``; the spectrum is kept. For data from the shifted model *the
oracle* (the Bayes estimator) is the shifted model's own Wiener filter,
``shifted.mmse_error(s)``; the in-distribution oracle applied to it has the larger error
``shifted.estimator_error(model.mmse_matrix(s), s)`` (both closed forms).

Defaults (:math:`n = 64`, :math:`k = 8`, :math:`\rho = 0.7`, signal std 0.25, peak 1)
with measurement noise :data:`DEFAULT_NOISE_SIGMA` = 0.2: the noisy input has PSNR 13.98
dB, the oracle 23.58 dB (21.02 dB for :math:`y + \delta`, :math:`\|\delta\|_2 = 1.6`,
the norm of the noise; OOD at :math:`\pi/6`, the in-distribution oracle has 17.01 dB,
the OOD oracle 23.58 dB).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_number

__all__ = [
    "DEFAULT_NOISE_SIGMA",
    "MAX_SIGNAL_DIM",
    "MAX_DATASET_VALUES",
    "GaussianSubspaceModel",
    "MMSEReconstructor",
    "SubspaceShift",
    "mse_to_psnr",
]

#: The toy task's default measurement-noise std (peak 1, signal std 0.25).
DEFAULT_NOISE_SIGMA = 0.2

#: Largest signal dimension :math:`n` of a :class:`GaussianSubspaceModel`: its Wiener matrix
#: is :math:`n \times n` in float64 (128 MiB at :math:`n = 4096`, a 64 x 64 image).
MAX_SIGNAL_DIM = 4096

#: Largest number of values ``n_samples`` :math:`\times n` of a :class:`ToySignalDataset`
#: (:math:`2^{26}`: 256 MiB in float32, twice that as fixed noisy pairs; 1,048,576 signals of
#: 8 x 8), checked before anything is drawn.
MAX_DATASET_VALUES = 2**26


def _check_float(value, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return check_number(value, name, low=minimum, strict=strict)


def _check_int(value, name: str, minimum: int) -> int:
    return check_number(value, name, low=minimum, integer=True)


def _check_rng(rng) -> None:
    if rng is not None and not isinstance(rng, torch.Generator):
        raise ValueError(
            f"rng must be a torch.Generator or None, got {type(rng).__name__}"
        )


def mse_to_psnr(mse, peak: float = 1.0):
    r"""PSNR in dB of a mean squared error (per coordinate) for a fixed peak.

    .. math::

        \mathrm{PSNR} = 10 \log_{10} \frac{P^2}{\mathrm{MSE}}

    :param float, torch.Tensor mse: mean squared error(s), ``> 0``.
    :param float peak: the peak :math:`P > 0`.
    :return: (float or :class:`torch.Tensor`) the PSNR, of the type of ``mse``.
    :raises ValueError: if ``peak`` is not a finite positive number, or a value of
        ``mse`` is not finite and positive.

    >>> mse_to_psnr(0.01)
    20.0
    >>> round(mse_to_psnr(0.01, peak=2.0), 2)
    26.02
    """
    peak = _check_float(peak, "peak", 0.0, strict=True)
    if isinstance(mse, torch.Tensor):
        if not bool(torch.isfinite(mse).all()) or not bool((mse > 0).all()):
            raise ValueError("mse must be finite and > 0")
        return 10.0 * torch.log10(peak**2 / mse)
    mse = _check_float(mse, "mse", 0.0, strict=True)
    return 10.0 * math.log10(peak**2 / mse)


def _apply(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix`` (``n x n``) applied to each flattened sample of ``x`` ``(B, *shape)``, in the
    dtype and on the device of ``x``."""
    M = matrix.to(x.device, x.dtype)
    return (x.reshape(x.shape[0], -1) @ M.T).reshape(x.shape)


def _default_shape(n: int) -> tuple[int, ...]:
    r = math.isqrt(n)
    return (1, r, r) if r * r == n else (1, 1, n)


class GaussianSubspaceModel:
    r"""Gaussian signals on a random :math:`k`-dim. subspace of :math:`\mathbb{R}^n`.

    .. math::

        x = U z,\quad z \sim \mathcal{N}(0, \operatorname{diag}(\lambda)),\quad
        C = U \operatorname{diag}(\lambda) U^\top,\quad
        \lambda_i = c\,\rho^{i}\ (i = 0..k-1),
        \quad c:\ \operatorname{tr}(C) = n\,\text{signal\_std}^2.

    :math:`U` is the Q factor of an :math:`n \times k` standard Gaussian matrix drawn
    from ``seed``. The basis and spectrum are kept in float64; samples are returned in
    ``dtype``.

    :param int n: signal dimension (default 64), at most :data:`MAX_SIGNAL_DIM`.
    :param int k: subspace dimension, ``1 <= k <= n`` (default 8).
    :param float decay: spectral decay :math:`\rho \in (0, 1]` (default 0.7; 1 is a flat
        spectrum).
    :param float signal_std: RMS signal value per coordinate, ``> 0`` (default 0.25:
        peak 1).
    :param tuple shape: per-sample tensor shape with ``n`` entries (default ``(1, r,
        r)`` when :math:`n = r^2`, else ``(1, 1, n)``).
    :param int seed: seed of the basis (default 0).
    :param torch.dtype dtype: dtype of the samples (default ``torch.float32``).
    :raises ValueError: for a bad size (``n`` above :data:`MAX_SIGNAL_DIM` included), decay,
        std, shape, seed or dtype.

    >>> model = GaussianSubspaceModel()
    >>> x = model.sample(4, rng=torch.Generator().manual_seed(0))
    >>> x.shape, model.peak
    (torch.Size([4, 1, 8, 8]), 1.0)
    >>> # the oracle and the noisy input
    >>> round(model.oracle_psnr(0.2), 2), round(model.psnr(0.2**2), 2)
    (23.58, 13.98)
    """

    def __init__(
        self,
        n: int = 64,
        k: int = 8,
        decay: float = 0.7,
        signal_std: float = 0.25,
        shape: tuple | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ):
        n = check_number(n, "n", low=1, high=MAX_SIGNAL_DIM, integer=True)
        k = _check_int(k, "k", 1)
        if k > n:
            raise ValueError(f"k must be <= n = {n}, got {k}")
        decay = _check_float(decay, "decay", 0.0, strict=True)
        if decay > 1:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        signal_std = _check_float(signal_std, "signal_std", 0.0, strict=True)
        seed = _check_int(seed, "seed", 0)
        g = torch.Generator().manual_seed(seed)
        basis, _ = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))
        lam = decay ** torch.arange(k, dtype=torch.float64)
        lam = lam * (n * signal_std**2 / lam.sum())
        self._init(basis, lam, shape, dtype)
        self.decay = decay
        self.seed = seed

    @classmethod
    def from_basis(
        cls,
        basis: torch.Tensor,
        eigenvalues: torch.Tensor,
        shape: tuple | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> GaussianSubspaceModel:
        r"""A model with a given orthonormal basis :math:`U` and spectrum.

        :param torch.Tensor basis: :math:`n \times k` matrix with orthonormal columns.
        :param torch.Tensor eigenvalues: :math:`k` positive variances.
        :param tuple shape: per-sample shape (see the class).
        :param torch.dtype dtype: dtype of the samples.
        :return: (:class:`GaussianSubspaceModel`) the model.
        :raises ValueError: if ``basis`` is not orthonormal, or the eigenvalues are not
            finite and positive or do not match the basis.

        >>> basis = torch.eye(4)[:, :2]
        >>> m = GaussianSubspaceModel.from_basis(basis, torch.tensor([2.0, 1.0]))
        >>> m.covariance().diagonal()
        tensor([2., 1., 0., 0.], dtype=torch.float64)
        """
        self = cls.__new__(cls)
        basis = torch.as_tensor(basis).detach().to("cpu", torch.float64)
        lam = torch.as_tensor(eigenvalues).detach().to("cpu", torch.float64).reshape(-1)
        if basis.ndim != 2 or basis.shape[1] > basis.shape[0] or basis.shape[1] < 1:
            raise ValueError(
                "basis must be an n x k matrix with 1 <= k <= n, "
                f"got {tuple(basis.shape)}"
            )
        if lam.numel() != basis.shape[1]:
            raise ValueError(
                f"eigenvalues must have k = {basis.shape[1]} entries, got {lam.numel()}"
            )
        if not bool(torch.isfinite(lam).all()) or not bool((lam > 0).all()):
            raise ValueError("eigenvalues must be finite and > 0")
        if not bool(torch.isfinite(basis).all()):
            raise ValueError("basis must be finite")
        gram = basis.T @ basis
        if not torch.allclose(
            gram, torch.eye(basis.shape[1], dtype=torch.float64), atol=1e-8
        ):
            raise ValueError(
                "basis must have orthonormal columns (basis.T @ basis = I)"
            )
        self._init(basis, lam, shape, dtype)
        self.decay = None
        self.seed = None
        return self

    def _init(self, basis, lam, shape, dtype):
        n, k = basis.shape
        if shape is None:
            shape = _default_shape(n)
        shape = (
            tuple(int(s) for s in shape)
            if isinstance(shape, (tuple, list, torch.Size))
            else None
        )
        if shape is None or any(s < 1 for s in shape) or math.prod(shape) != n:
            raise ValueError(
                f"shape must be a tuple of positive sizes with {n} entries in all"
            )
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(
                f"dtype must be a real floating torch dtype, got {dtype!r}"
            )
        self.n, self.k, self.shape, self.dtype = n, k, shape, dtype
        self.basis = basis.contiguous()
        self.eigenvalues = lam.contiguous()
        self.signal_std = float(math.sqrt(lam.sum().item() / n))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={self.n}, k={self.k}, decay={self.decay}, "
            f"signal_std={self.signal_std:.4g}, shape={self.shape}, seed={self.seed})"
        )

    # ------------------------------------------------------------------ signals
    @property
    def peak(self) -> float:
        r"""The fixed PSNR peak :math:`P = 4\,\text{signal\_std}`."""
        return 4.0 * self.signal_std

    def covariance(self) -> torch.Tensor:
        r"""The covariance :math:`C = U \operatorname{diag}(\lambda) U^\top` (float64).

        :return: (:class:`torch.Tensor`) :math:`C`.

        >>> C = GaussianSubspaceModel().covariance()
        >>> C.shape, round(float(C.trace() / 64), 4)  # signal_std ** 2
        (torch.Size([64, 64]), 0.0625)
        """
        return (self.basis * self.eigenvalues) @ self.basis.T

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        r"""Signals from latents: :math:`x = U \operatorname{diag}(\sqrt\lambda) z`.

        :param torch.Tensor z: latents of shape ``(B, k)``.
        :return: (:class:`torch.Tensor`) ``(B, *shape)`` in ``dtype``.
        :raises ValueError: if ``z`` is not ``(B, k)``.

        >>> m = GaussianSubspaceModel(n=4, k=1, shape=(1, 2, 2))
        >>> m.synthesize(torch.zeros(3, 1)).shape
        torch.Size([3, 1, 2, 2])
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.k:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must have shape (B, {self.k}), got {got}")
        x = (z.to(torch.float64) * self.eigenvalues.sqrt()) @ self.basis.T
        return x.reshape(-1, *self.shape).to(self.dtype)

    def sample(
        self, n_samples: int, rng: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Draw signals :math:`x \sim \mathcal{N}(0, C)`.

        :param int n_samples: number of signals, ``>= 1``.
        :param torch.Generator rng: CPU random generator (``None``: torch's global one).
        :return: (:class:`torch.Tensor`) ``(n_samples, *shape)`` in ``dtype``, on the
            CPU.
        :raises ValueError: for a bad ``n_samples`` or ``rng``.

        >>> m = GaussianSubspaceModel()
        >>> a = m.sample(2, rng=torch.Generator().manual_seed(1))
        >>> bool(torch.equal(a, m.sample(2, rng=torch.Generator().manual_seed(1))))
        True
        """
        n_samples = _check_int(n_samples, "n_samples", 1)
        _check_rng(rng)
        z = torch.randn(n_samples, self.k, generator=rng, dtype=torch.float64)
        return self.synthesize(z)

    def shifted(self, angle: float = math.pi / 6, rng: torch.Generator | None = None):
        r"""An out-of-distribution model: the subspace rotated by the angle ``angle``.

        .. math::

            U' = U \cos\theta + V \sin\theta,\qquad V^\top U = 0,\ V^\top V = I,

        so :math:`U'` is orthonormal and every principal angle between
        :math:`\operatorname{span} U` and :math:`\operatorname{span} U'` is
        :math:`\theta`; the spectrum :math:`\lambda` (hence ``signal_std`` and the peak)
        is kept. :math:`V` is the orthonormalised projection of a Gaussian :math:`n
        \times k` matrix onto the complement of :math:`\operatorname{span} U`, drawn
        from ``rng`` (default: a generator seeded with ``seed + 1``, so the shift is
        reproducible).

        :param float angle: principal angle :math:`\theta \in [0, \pi/2]` in radians
            (default :math:`\pi/6`; 0 gives the same distribution, :math:`\pi/2` an
            orthogonal subspace).
        :param torch.Generator rng: CPU random generator for :math:`V`.
        :return: (:class:`GaussianSubspaceModel`) the shifted model.
        :raises ValueError: if ``angle`` is outside :math:`[0, \pi/2]` or :math:`2k >
            n`.

        >>> m = GaussianSubspaceModel()
        >>> s = m.shifted(0.5)
        >>> cosines = torch.linalg.svdvals(m.basis.T @ s.basis)
        >>> expected = torch.full((8,), math.cos(0.5), dtype=torch.float64)
        >>> bool(torch.allclose(cosines, expected))
        True
        """
        angle = _check_float(angle, "angle", 0.0)
        if angle > math.pi / 2 + 1e-12:
            raise ValueError(f"angle must be in [0, pi/2], got {angle}")
        if 2 * self.k > self.n:
            raise ValueError(f"shifted needs 2k <= n (k={self.k}, n={self.n})")
        _check_rng(rng)
        if rng is None:
            rng = torch.Generator().manual_seed(
                (self.seed if self.seed is not None else 0) + 1
            )
        g = torch.randn(self.n, self.k, generator=rng, dtype=torch.float64)
        for _ in range(2):  # project twice for numerical orthogonality
            g = g - self.basis @ (self.basis.T @ g)
        v, _ = torch.linalg.qr(g)
        basis = self.basis * math.cos(angle) + v * math.sin(angle)
        out = GaussianSubspaceModel.from_basis(
            basis, self.eigenvalues, self.shape, self.dtype
        )
        out.decay, out.seed = self.decay, self.seed
        return out

    def shift_edit(
        self, angle: float = math.pi / 6, rng: torch.Generator | None = None
    ):
        r"""The out-of-distribution edit: signals moved to :meth:`shifted`.

        :param float angle: principal angle in :math:`[0, \pi/2]` (see :meth:`shifted`).
        :param torch.Generator rng: CPU random generator of the shift (see
            :meth:`shifted`).
        :return: (:class:`SubspaceShift`) the edit ``edit(x, rng=None) -> x'``.
        :raises ValueError: as :meth:`shifted`.

        >>> m = GaussianSubspaceModel()
        >>> edit = m.shift_edit(0.5)
        >>> edit(m.sample(2)).shape
        torch.Size([2, 1, 8, 8])
        """
        return SubspaceShift(self, self.shifted(angle, rng=rng))

    # ------------------------------------------------------------------ the oracle
    def mmse_matrix(self, noise_sigma: float) -> torch.Tensor:
        r"""The Wiener filter :math:`W_s = C (C + s^2 I)^{-1}`, the MMSE estimator.

        .. math::

            W_s = U \operatorname{diag}\!\left(\frac{\lambda_i}{\lambda_i + s^2}\right)
            U^\top

        (for :math:`s = 0`, the projector :math:`U U^\top`).

        :param float noise_sigma: noise std :math:`s \geq 0`.
        :return: (:class:`torch.Tensor`) :math:`n \times n` matrix acting on flattened
            signals.
        :raises ValueError: if ``noise_sigma`` is negative or not finite.

        >>> m = GaussianSubspaceModel()
        >>> W = m.mmse_matrix(0.2)
        >>> C = m.covariance()
        >>> bool(torch.allclose(W @ (C + 0.04 * torch.eye(64, dtype=C.dtype)), C))
        True
        """
        s2 = _check_float(noise_sigma, "noise_sigma") ** 2
        shrink = self.eigenvalues / (self.eigenvalues + s2)
        return (self.basis * shrink) @ self.basis.T

    def mmse_estimate(self, y: torch.Tensor, noise_sigma: float) -> torch.Tensor:
        r"""The oracle reconstruction :math:`\hat x = W_s y` of a batch ``(B, *shape)``.

        :param torch.Tensor y: measurements, shape ``(B, *shape)``.
        :param float noise_sigma: noise std :math:`s \geq 0`.
        :return: (:class:`torch.Tensor`) :math:`W_s y`, same shape, dtype and device as
            ``y``.
        :raises ValueError: if ``y`` does not have the sample shape or ``noise_sigma``
            is bad.

        >>> m = GaussianSubspaceModel()
        >>> m.mmse_estimate(torch.zeros(2, 1, 8, 8), 0.2).shape
        torch.Size([2, 1, 8, 8])
        """
        self._check_batch(y, "y")
        return _apply(self.mmse_matrix(noise_sigma), y)

    def estimator_error(
        self, matrix: torch.Tensor, noise_sigma: float, eps: float = 0.0
    ) -> float:
        r"""Expected MSE per coordinate of a linear estimator :math:`\hat x = M y`.

        .. math::

            \frac{1}{n}\,\mathbb{E}\|M(x + e + \delta) - x\|^2 = \frac{1}{n}\left(
            \operatorname{tr}\big((M - I) C (M - I)^\top\big)
            + \Big(s^2 + \frac{\epsilon^2}{n}\Big)
            \|M\|_F^2\right)

        with :math:`e \sim \mathcal{N}(0, s^2 I)` and an independent perturbation
        :math:`\delta` uniform on the sphere :math:`\|\delta\|_2 = \epsilon` (its
        covariance is :math:`\epsilon^2 I / n`), e.g. deepinv-jitter's ``gaussian``
        evaluation condition.

        :param torch.Tensor matrix: :math:`M`, :math:`n \times n` (acting on flattened
            signals).
        :param float noise_sigma: noise std :math:`s \geq 0`.
        :param float eps: perturbation norm :math:`\epsilon \geq 0` (default 0).
        :return: (float) the expected MSE per coordinate.
        :raises ValueError: for a matrix of the wrong shape or non-finite entries, or a
            bad ``noise_sigma`` / ``eps``.

        >>> m = GaussianSubspaceModel()
        >>> I = torch.eye(64, dtype=torch.float64)
        >>> round(m.estimator_error(I, 0.2), 6)  # identity: the noise itself
        0.04
        >>> abs(m.estimator_error(m.mmse_matrix(0.2), 0.2) - m.mmse_error(0.2)) < 1e-12
        True
        """
        s2 = _check_float(noise_sigma, "noise_sigma") ** 2
        eps2 = _check_float(eps, "eps") ** 2
        M = self._check_matrix(matrix)
        R = M - torch.eye(self.n, dtype=torch.float64)
        bias = torch.trace(R @ self.covariance() @ R.T)
        var = (s2 + eps2 / self.n) * (M * M).sum()
        return float((bias + var) / self.n)

    def mmse_error(self, noise_sigma: float) -> float:
        r"""The oracle's expected MSE per coordinate (the Bayes risk), in closed form.

        .. math::

            \frac{1}{n}\operatorname{tr}\!\left(C - C (C + s^2 I)^{-1} C\right)
            = \frac{1}{n} \sum_{i=1}^k \frac{\lambda_i s^2}{\lambda_i + s^2}

        :param float noise_sigma: noise std :math:`s \geq 0`.
        :return: (float) the expected MSE per coordinate.
        :raises ValueError: if ``noise_sigma`` is negative or not finite.

        >>> m = GaussianSubspaceModel()
        >>> m.mmse_error(0.0), m.mmse_error(0.2) < 0.2**2 * 8 / 64
        (0.0, True)
        """
        s2 = _check_float(noise_sigma, "noise_sigma") ** 2
        lam = self.eigenvalues
        return float((lam * s2 / (lam + s2)).sum() / self.n)

    def oracle_psnr(self, noise_sigma: float, eps: float = 0.0) -> float:
        r"""PSNR (fixed peak) of the oracle's expected MSE.

        With ``eps > 0``, of the oracle for the
        perturbed measurement :math:`y + \delta`, :math:`\|\delta\|_2 = \epsilon`.

        With ``eps > 0`` the oracle is the Wiener filter for the total noise variance
        :math:`s^2 + \epsilon^2/n` (the best *linear* estimator of :math:`x` from
        :math:`y + \delta`; the Bayes estimator were :math:`\delta` Gaussian). The
        in-distribution oracle applied to :math:`y + \delta` is
        ``psnr(estimator_error(mmse_matrix(s), s, eps))``, slightly lower (at the
        defaults: 0.02 dB at :math:`\epsilon = 0.8`, 0.19 dB at :math:`\epsilon = 1.6`).

        :param float noise_sigma: noise std :math:`s \geq 0` (``> 0`` when ``eps = 0``).
        :param float eps: perturbation norm :math:`\epsilon \geq 0`.
        :return: (float) PSNR in dB.
        :raises ValueError: for bad values.

        >>> m = GaussianSubspaceModel()
        >>> round(m.oracle_psnr(0.2), 2), round(m.oracle_psnr(0.2, eps=0.8), 2)
        (23.58, 22.73)
        """
        s2 = _check_float(noise_sigma, "noise_sigma") ** 2
        eps2 = _check_float(eps, "eps") ** 2
        return self.psnr(self.mmse_error(math.sqrt(s2 + eps2 / self.n)))

    def oracle_conditions(
        self, noise_sigma: float, eps: float = 0.0, angle: float = math.pi / 6
    ) -> dict:
        r"""The oracle's closed-form PSNRs under the evaluation conditions, by name.

        ``in_distribution``: :meth:`oracle_psnr` ``(s)``; ``gaussian``:
        :meth:`oracle_psnr` ``(s, eps)``; ``ood``: the shifted model's own Wiener filter
        on its data (*the* OOD oracle); ``ood_mismatched``: the in-distribution oracle
        on the shifted data. All are PSNRs of the expected MSE (see the module docstring
        for per-sample averages).

        :param float noise_sigma: noise std :math:`s \geq 0`.
        :param float eps: norm of the average-case perturbation, :math:`\geq 0`.
        :param float angle: principal angle of the shift (see :meth:`shifted`).
        :return: (dict) ``{condition: {"psnr": float}}``.
        :raises ValueError: for bad values.

        >>> out = GaussianSubspaceModel().oracle_conditions(0.2, eps=0.8)
        >>> {k: round(v["psnr"], 2) for k, v in out.items()}
        {'in_distribution': 23.58, 'gaussian': 22.73, 'ood': 23.58,
         'ood_mismatched': 17.01}
        """
        shifted = self.shifted(angle)
        W = self.mmse_matrix(noise_sigma)
        return {
            "in_distribution": {"psnr": self.oracle_psnr(noise_sigma)},
            "gaussian": {"psnr": self.oracle_psnr(noise_sigma, eps)},
            "ood": {"psnr": self.psnr(shifted.mmse_error(noise_sigma))},
            "ood_mismatched": {
                "psnr": self.psnr(shifted.estimator_error(W, noise_sigma))
            },
        }

    def psnr(self, mse):
        r"""PSNR with this model's fixed peak, :func:`mse_to_psnr` ``(mse, self.peak)``.

        :param float, torch.Tensor mse: MSE(s) per coordinate, ``> 0``.
        :return: (float or :class:`torch.Tensor`) PSNR in dB.
        :raises ValueError: for a non-positive or non-finite MSE.

        >>> GaussianSubspaceModel().psnr(0.01)
        20.0
        """
        return mse_to_psnr(mse, self.peak)

    def metrics(self):
        r"""deepinv's PSNR and SSIM with this task's fixed data range :math:`[0, P]`.

        Both return one value per sample; their mean over a test set is a mean of
        per-sample PSNRs (see the module docstring for how it relates to the closed
        forms).

        :return: ``(psnr, ssim)``, :class:`deepinv.loss.metric.PSNR` and
            :class:`deepinv.loss.metric.SSIM`.

        >>> m = GaussianSubspaceModel()
        >>> psnr, ssim = m.metrics()
        >>> x = m.sample(2, rng=torch.Generator().manual_seed(0))
        >>> round(float(psnr(x + 0.1, x)[0]), 2), ssim(x, x).shape
        (20.0, torch.Size([2]))
        """
        from deepinv.loss.metric import PSNR, SSIM

        return PSNR(max_pixel=self.peak, min_pixel=0.0), SSIM(
            max_pixel=self.peak, min_pixel=0.0
        )

    # ------------------------------------------------------------------ checks
    def _check_batch(self, y, name):
        if not isinstance(y, torch.Tensor) or tuple(y.shape[1:]) != self.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f"{name} must have shape (B, {', '.join(map(str, self.shape))}), "
                f"got {got}"
            )

    def _check_matrix(self, matrix):
        if not isinstance(matrix, torch.Tensor) or tuple(matrix.shape) != (
            self.n,
            self.n,
        ):
            got = (
                tuple(matrix.shape)
                if isinstance(matrix, torch.Tensor)
                else type(matrix).__name__
            )
            raise ValueError(f"matrix must have shape ({self.n}, {self.n}), got {got}")
        M = matrix.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(M).all()):
            raise ValueError("matrix must be finite")
        return M


class SubspaceShift:
    r"""Moves signals of a model to a shifted one, keeping their latent coordinates.

    .. math::

        x' = U' U^\top x

    For :math:`x = U z` this is :math:`x' = U' z`: a signal of the shifted model (same
    latent :math:`z`), so ``edit(x)`` for in-distribution test signals is an
    out-of-distribution test set whose oracle is ``shifted.mmse_error(s)``. The edit is
    deterministic (``rng`` is accepted and ignored, for the ``ood_edit(x, rng=g)``
    signature).

    :param GaussianSubspaceModel model: the in-distribution model.
    :param GaussianSubspaceModel shifted: the target model (same ``n``, ``k`` and
        shape).
    :raises ValueError: if the models do not match.

    >>> m = GaussianSubspaceModel()
    >>> edit = SubspaceShift(m, m.shifted(0.3))
    >>> x = m.sample(3, rng=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(edit(x).flatten(1).norm(dim=1), x.flatten(1).norm(dim=1)))
    True
    """

    def __init__(self, model: GaussianSubspaceModel, shifted: GaussianSubspaceModel):
        ok = isinstance(model, GaussianSubspaceModel) and isinstance(
            shifted, GaussianSubspaceModel
        )
        if not ok or (model.n, model.k, model.shape) != (
            shifted.n,
            shifted.k,
            shifted.shape,
        ):
            raise ValueError(
                "SubspaceShift needs two GaussianSubspaceModels of equal n, k, shape"
            )
        self.model, self.shifted = model, shifted
        self.matrix = shifted.basis @ model.basis.T  # float64, n x n

    def __call__(self, x: torch.Tensor, rng=None) -> torch.Tensor:
        r"""The edited signals :math:`U' U^\top x`.

        :param torch.Tensor x: signals ``(B, *shape)``.
        :param rng: ignored (the edit is deterministic).
        :return: (:class:`torch.Tensor`) edited signals, the shape, dtype and device of
            ``x``.
        :raises ValueError: if ``x`` does not have the sample shape.
        """
        self.model._check_batch(x, "x")
        return _apply(self.matrix, x)


class MMSEReconstructor(torch.nn.Module):
    r"""The oracle as a reconstructor ``R(y, physics) = W_s y``, scored like a network.

    :param GaussianSubspaceModel model: the signal model.
    :param float noise_sigma: the noise std :math:`s \geq 0` the filter is built for.
    :raises ValueError: if ``noise_sigma`` is negative or not finite.

    >>> m = GaussianSubspaceModel()
    >>> oracle = MMSEReconstructor(m, 0.2)
    >>> oracle(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 1, 8, 8])
    """

    def __init__(self, model: GaussianSubspaceModel, noise_sigma: float):
        super().__init__()
        if not isinstance(model, GaussianSubspaceModel):
            raise ValueError(
                f"model must be a GaussianSubspaceModel, got {type(model).__name__}"
            )
        self.model = model
        self.noise_sigma = _check_float(noise_sigma, "noise_sigma")
        self.register_buffer("matrix", model.mmse_matrix(self.noise_sigma))

    def forward(self, y: torch.Tensor, physics=None, **kwargs) -> torch.Tensor:
        r"""The oracle estimate :math:`W_s y`.

        :param torch.Tensor y: measurements ``(B, *shape)``.
        :param physics: ignored (reconstructor signature).
        :return: (:class:`torch.Tensor`) the estimate, with the dtype of ``y``.
        """
        self.model._check_batch(y, "y")
        return _apply(self.matrix, y)
