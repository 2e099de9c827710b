r"""Post-stack seismic deconvolution: the Ricker wavelet and a trace-wise convolution physics.

A post-stack seismic section is modelled as the convolution of a reflectivity section with a source
wavelet, trace by trace along the time axis. deepinv's :class:`deepinv.physics.Blur` with an
``(L, 1)`` filter and ``padding="constant"`` is the same operator for an odd wavelet length;
:class:`SeismicDeconvolution` adds speed (a method chosen from the sizes, below) and the wavelet
parametrisation (Ricker by peak frequency, even lengths centred as ``numpy.convolve``), as a
:class:`deepinv.physics.LinearPhysics`.

Three equivalent implementations sit behind the single operator and are chosen from the sizes
(``method="auto"``), as pylops chooses between direct and FFT convolution:

- ``"dense"``: the ``(T, T)`` Toeplitz matrix of the cropped convolution, applied as one matrix product.
  This is the paper's formulation; a BLAS matrix product is the fastest option for short traces on a CPU.
  The matrix is cached per ``(T, device, dtype)``.
- ``"direct"``: direct convolution with :func:`torch.nn.functional.conv1d` (``O(T L)`` per trace).
- ``"fft"``: zero-padded real FFTs along the time axis (``O(T log T)`` per trace).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from deepinv.physics import LinearPhysics
from torch import Tensor

__all__ = ["ricker", "ricker_wavelet", "SeismicDeconvolution", "SEISMIC_METHODS"]

#: Implementations accepted by :class:`SeismicDeconvolution` (``"auto"`` picks one of the others).
SEISMIC_METHODS = ("auto", "dense", "direct", "fft")

# Largest trace length for which "auto" uses the cached dense Toeplitz matrix. Measured on 2 CPU cores
# (benchmarks/seismic_operator.py): the dense GEMM wins up to a few hundred samples, FFT wins beyond.
# The matrix costs T*T*itemsize bytes (0.5 MB at T=352 in float32), so the cap also bounds memory.
_DENSE_MAX_T = 400
# Direct convolution beats FFT only for very short wavelets (a handful of taps).
_DIRECT_MAX_TAPS = 8
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def ricker(
    n_taps: int = 51, a: float = 4.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    r"""Ricker (Mexican-hat) wavelet sampled on an integer grid, scaled to peak 1.

    .. math::

        w[k] = \left(1 - \frac{k^2}{a^2}\right) \exp\left(-\frac{k^2}{2 a^2}\right),
        \qquad k = -\frac{n-1}{2}, \dots, \frac{n-1}{2},

    then divided by :math:`\max_k w[k]`. The grid is symmetric about zero, so for an even ``n_taps`` the
    two middle samples sit at :math:`k=\pm 1/2`. Up to the scaling this is the former
    ``scipy.signal.ricker(n_taps, a)``; ``ricker(51, 4.0)`` is the wavelet of Guan & Davenport (2025).

    :param int n_taps: number of samples :math:`n \geq 1`.
    :param float a: width parameter in samples (:math:`a > 0`); the zero crossings are at :math:`k = \pm a`.
    :param torch.dtype dtype: dtype of the result (computed in float64, then cast).
    :return: (:class:`torch.Tensor`) 1-D tensor of length ``n_taps`` with maximum 1.

    :raises ValueError: if ``n_taps`` is not a positive integer or ``a`` is not
        positive.

    >>> w = ricker(51, 4.0)
    >>> w.shape, w.dtype, float(w.max()), int(w.argmax())
    (torch.Size([51]), torch.float32, 1.0, 25)
    >>> bool(torch.allclose(w, w.flip(0)))
    True
    """
    if isinstance(n_taps, bool) or not isinstance(n_taps, int) or n_taps < 1:
        raise ValueError(f"n_taps must be a positive integer, got {n_taps!r}")
    if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
        raise ValueError(
            f"a must be a positive finite number (width in samples), got {a!r}"
        )
    k = torch.arange(n_taps, dtype=torch.float64) - (n_taps - 1) / 2
    q = (k / a) ** 2
    w = (1.0 - q) * torch.exp(-q / 2)
    return (w / w.max()).to(dtype)


def ricker_wavelet(
    peak_frequency: float,
    dt: float,
    n_taps: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Ricker wavelet from physical units: peak frequency in hertz, sample interval in seconds.

    The continuous Ricker wavelet with peak (dominant) frequency :math:`f_p` is
    :math:`w(t) = (1 - 2\pi^2 f_p^2 t^2)\, e^{-\pi^2 f_p^2 t^2}`. Sampled at :math:`t = k\,\Delta t` it equals
    :func:`ricker` with width :math:`a = 1 / (\sqrt{2}\,\pi f_p \Delta t)` samples, which is what this
    function returns (peak 1, centred grid).

    :param float peak_frequency: peak frequency :math:`f_p` in Hz, ``0 < f_p < 1 / (2 dt)`` (below Nyquist).
    :param float dt: sample interval :math:`\Delta t` in seconds (e.g. ``0.004`` for 4 ms).
    :param int, None n_taps: number of samples; default ``2 * ceil(6 a) + 1``, which truncates the wavelet
        where its envelope has fallen below :math:`e^{-18} \approx 10^{-8}`.
    :param torch.dtype dtype: dtype of the result.
    :return: (:class:`torch.Tensor`) 1-D tensor with maximum 1.

    :raises ValueError: for a non-positive frequency or sample interval, or a frequency
        at or above Nyquist.

    >>> w = ricker_wavelet(25.0, 0.004)  # 25 Hz wavelet sampled every 4 ms
    >>> w.shape
    torch.Size([29])
    >>> a = 1 / (2**0.5 * 3.141592653589793 * 25.0 * 0.004)
    >>> bool(torch.allclose(w, ricker(29, a)))
    True
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(
            f"dt must be a positive sample interval in seconds, got {dt!r}"
        )
    nyquist = 1.0 / (2.0 * dt)
    if not (
        isinstance(peak_frequency, (int, float))
        and math.isfinite(peak_frequency)
        and 0 < peak_frequency < nyquist
    ):
        raise ValueError(
            f"peak_frequency must be in hertz with 0 < peak_frequency < Nyquist = {nyquist:g} Hz, "
            f"got {peak_frequency!r}"
        )
    a = 1.0 / (math.sqrt(2.0) * math.pi * peak_frequency * dt)
    if n_taps is None:
        n_taps = 2 * math.ceil(6 * a) + 1
    return ricker(n_taps, a, dtype=dtype)


def _fast_fft_size(n: int) -> int:
    """Smallest ``m * 2**p >= n`` with a small odd ``m`` and ``2**p >= 16``.

    pocketfft (CPU) and cuFFT are fastest on sizes with a large power-of-two factor; sizes made
    mostly of factors 3 and 5 (e.g. 405) measured 2-3x slower than a slightly larger such size.
    """
    best = None
    for m in (1, 3, 5, 9, 15, 25, 27, 45):
        p2 = max(16, 1 << max(0, math.ceil(math.log2(max(n / m, 1)))))
        while m * p2 < n:  # guard against rounding in log2
            p2 *= 2
        best = m * p2 if best is None else min(best, m * p2)
    return best


class SeismicDeconvolution(LinearPhysics):
    r"""Trace-wise 1-D convolution of a seismic section with a wavelet (post-stack seismic model).

    A signal :math:`x` has shape ``(B, C, T, N)``: ``T`` time samples by ``N`` traces. Each trace is
    convolved along time (dimension ``-2``) with the wavelet :math:`w` of length :math:`L`, zero
    padded, and cropped to ``T`` samples ("same" size):

    .. math::

        y[t] = \sum_{k=0}^{L-1} w[k]\, x[t + c - k], \qquad c = \lfloor (L-1)/2 \rfloor,

    with :math:`x[s] = 0` outside :math:`0 \le s < T`. Sample :math:`w[c]` sits at zero lag: the middle
    sample for odd :math:`L`, the left one of the two middle samples for even :math:`L`. This is the
    convention of ``numpy.convolve(trace, w, "same")``, so for ``T >= L`` the operator equals it trace
    by trace (for ``T < L`` numpy returns ``L`` samples; here the output keeps ``T``). With the
    default wavelet ``ricker(51, 4.0)`` it is the cropped convolution matrix of Guan & Davenport (2025).

    The adjoint is the correlation with the same wavelet,

    .. math::

        (A^{\top} y)[s] = \sum_{k=0}^{L-1} w[k]\, y[s + k - c],

    exact up to floating-point rounding for every method.

    :param torch.Tensor, None wavelet: 1-D real wavelet (any length :math:`L \ge 1`); default
        :func:`ricker` ``(51, 4.0)``. Stored as the buffer ``wavelet`` (moves with ``.to()``, saved in
        ``state_dict``).
    :param str method: ``"auto"`` (default) picks the implementation from the trace length and wavelet
        length: ``"dense"`` (cached ``T x T`` Toeplitz matrix, fastest on CPU for short traces,
        ``T <= 400``), ``"direct"`` (``conv1d``, for wavelets of at most 8 taps) or ``"fft"``
        (``O(T log T)``, ``O(T)`` extra memory per trace). All give the same operator.
    :param linear_physics_kwargs: passed to :class:`deepinv.physics.LinearPhysics` (e.g.
        ``noise_model``, ``max_iter``, ``tol``, ``device``).

    :raises ValueError: for a wavelet that is not a non-empty finite 1-D real tensor, an
        unknown ``method``, and, when applied, for an input that is not a real floating
        tensor of shape ``(B, C, T, N)``; ``TypeError`` for an input that is not a
        tensor.

    >>> import numpy as np
    >>> import deepinv as dinv
    >>> physics = SeismicDeconvolution(noise_model=dinv.physics.GaussianNoise(sigma=0.0))
    >>> x = torch.randn(2, 1, 64, 5, dtype=torch.float64)
    >>> y = physics(x)
    >>> w = physics.wavelet.double().numpy()
    >>> ref = np.convolve(x[0, 0, :, 3].numpy(), w, "same")
    >>> bool(np.allclose(y[0, 0, :, 3].numpy(), ref))
    True
    >>> u = torch.randn_like(y)
    >>> lhs, rhs = (physics.A(x) * u).sum(), (x * physics.A_adjoint(u)).sum()
    >>> bool(torch.isclose(lhs, rhs, rtol=1e-12))
    True
    >>> physics.resolve_method(352), physics.resolve_method(2048)
    ('dense', 'fft')
    """

    def __init__(
        self,
        wavelet: Tensor | None = None,
        method: str = "auto",
        **linear_physics_kwargs,
    ):
        if method not in SEISMIC_METHODS:
            raise ValueError(f"method must be one of {SEISMIC_METHODS}, got {method!r}")
        w = ricker(51, 4.0) if wavelet is None else self._check_wavelet(wavelet)
        super().__init__(**linear_physics_kwargs)
        self.method = method
        self.register_buffer("wavelet", w.to(self._device_holder.device))
        # Derived operators (dense matrices, wavelet spectra), keyed by size, device, dtype and the
        # wavelet's identity and version, so that load_state_dict, .to() or update_parameters can
        # never leave a stale entry in use.
        self._cache: dict = {}

    # ------------------------------------------------------------------ validation helpers
    @staticmethod
    def _check_wavelet(wavelet) -> Tensor:
        if not isinstance(wavelet, Tensor):
            try:
                wavelet = torch.as_tensor(wavelet)
            except Exception as err:  # noqa: BLE001 - reported with the expected type
                raise ValueError(
                    f"wavelet must be a 1-D real tensor of taps, got {type(wavelet).__name__}"
                ) from err
        if wavelet.is_complex() or not wavelet.is_floating_point():
            if wavelet.is_complex() or wavelet.dtype == torch.bool:
                raise ValueError(
                    f"wavelet must be real-valued, got dtype {wavelet.dtype}"
                )
            wavelet = wavelet.to(torch.get_default_dtype())
        if wavelet.ndim != 1 or wavelet.numel() == 0:
            raise ValueError(
                f"wavelet must be a non-empty 1-D tensor of shape (L,), got shape {tuple(wavelet.shape)}"
            )
        if not torch.isfinite(wavelet).all():
            raise ValueError("wavelet must contain only finite values")
        return wavelet.detach().clone()

    @staticmethod
    def _check_input(x, name: str) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape (B, C, T, N), got {type(x).__name__}"
            )
        if x.ndim != 4:
            raise ValueError(
                f"{name} must have shape (B, C, T, N) (batch, channels, time samples, traces), "
                f"got shape {tuple(x.shape)}"
            )
        if x.dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"{name} must be a real floating tensor of shape (B, C, T, N) "
                f"(float16, bfloat16, float32 or float64), got dtype {x.dtype}"
            )

    # ------------------------------------------------------------------ method choice
    def resolve_method(self, n_time: int) -> str:
        r"""The implementation used for traces of ``n_time`` samples.

        :param int n_time: trace length ``T``.
        :return: (str) ``"dense"``, ``"direct"`` or ``"fft"``.
        """
        if self.method != "auto":
            return self.method
        if n_time <= _DENSE_MAX_T:
            return "dense"
        if self.wavelet.numel() <= _DIRECT_MAX_TAPS:
            return "direct"
        return "fft"

    @property
    def center(self) -> int:
        r"""Index :math:`c = \lfloor (L-1)/2 \rfloor` of the wavelet sample at zero lag."""
        return (self.wavelet.numel() - 1) // 2

    def update_parameters(self, wavelet: Tensor | None = None, **kwargs):
        r"""Replace the wavelet (any length); other keywords go to deepinv's default handling.

        :param torch.Tensor, None wavelet: new 1-D wavelet, moved to the buffer's device and dtype.
        """
        if wavelet is not None:
            w = self._check_wavelet(wavelet)
            self.wavelet = w.to(device=self.wavelet.device, dtype=self.wavelet.dtype)
            self._cache.clear()
        super().update_parameters(**kwargs)

    def _wavelet_as(self, like: Tensor) -> Tensor:
        return self.wavelet.to(device=like.device, dtype=like.dtype)

    def _cache_key(self, kind: str, size: int, like: Tensor) -> tuple:
        w = self.wavelet
        return (
            kind,
            size,
            like.device,
            like.dtype,
            w.data_ptr(),
            w._version,
            w.numel(),
        )

    def _cached(self, key: tuple, build):
        # A wavelet that requires grad must stay in the autograd graph: never cache it then.
        if self.wavelet.requires_grad:
            return build()
        value = self._cache.get(key)
        if value is None:
            if len(self._cache) > 16:  # bound memory when many sizes are used
                self._cache.clear()
            value = build()
            self._cache[key] = value
        return value

    # ------------------------------------------------------------------ implementations
    def dense_matrix(
        self, n_time: int, dtype: torch.dtype | None = None, device=None
    ) -> Tensor:
        r"""The ``(T, T)`` matrix :math:`M` with :math:`M[t, s] = w[t - s + c]` (zero outside the wavelet).

        :param int n_time: trace length ``T``.
        :param torch.dtype, None dtype: dtype (default: the wavelet's).
        :param torch.device, None device: device (default: the wavelet's).
        :return: (:class:`torch.Tensor`) the Toeplitz matrix; ``A(x)`` equals ``M @ x`` along time.
        """
        w = self.wavelet.to(
            device=self.wavelet.device if device is None else device,
            dtype=self.wavelet.dtype if dtype is None else dtype,
        )
        L = w.numel()
        t = torch.arange(n_time, device=w.device)
        lag = t[:, None] - t[None, :] + self.center
        inside = (lag >= 0) & (lag < L)
        return torch.where(
            inside,
            w[lag.clamp(0, L - 1)],
            torch.zeros((), dtype=w.dtype, device=w.device),
        )

    def _dense(self, x: Tensor, adjoint: bool) -> Tensor:
        T = x.shape[-2]
        M = self._cached(
            self._cache_key("dense", T, x),
            lambda: self.dense_matrix(T, x.dtype, x.device),
        )
        return torch.matmul(M.mT if adjoint else M, x)

    def _direct(self, x: Tensor, adjoint: bool) -> Tensor:
        B, C, T, N = x.shape
        w = self._wavelet_as(x)
        L, c = w.numel(), self.center
        # conv1d is a correlation: forward uses the flipped wavelet, the adjoint the wavelet itself.
        kernel = (w if adjoint else w.flip(0)).view(1, 1, L)
        pad = (c, L - 1 - c) if adjoint else (L - 1 - c, c)
        traces = x.movedim(-2, -1).reshape(B * C * N, 1, T)
        out = F.conv1d(F.pad(traces, pad), kernel)
        return out.reshape(B, C, N, T).movedim(-1, -2).contiguous()

    def _fft(self, x: Tensor, adjoint: bool) -> Tensor:
        T = x.shape[-2]
        L, c = self.wavelet.numel(), self.center
        n = _fast_fft_size(T + L - 1)
        # Half precision FFTs are restricted (powers of two on CUDA, absent on CPU): compute in float32.
        work = x if x.dtype in (torch.float32, torch.float64) else x.float()

        def spectrum():
            w = self._wavelet_as(work)
            return torch.fft.rfft(w.flip(0) if adjoint else w, n=n)

        W = self._cached(
            self._cache_key("fft_adj" if adjoint else "fft", n, work), spectrum
        )
        # Transform along the last axis of the (B, C, N, T) view: pocketfft is 1.2-2x faster on
        # unit-stride transforms than along dim -2 with stride N.
        spec = torch.fft.rfft(work.movedim(-2, -1), n=n, dim=-1)
        spec.mul_(W)  # in place: one spectrum-sized buffer fewer at the peak
        Y = torch.fft.irfft(spec, n=n, dim=-1)
        del spec
        start = L - 1 - c if adjoint else c
        # copy the crop so that the padded length-n buffer is freed (memory stays ~T per trace)
        return Y[..., start : start + T].movedim(-1, -2).to(x.dtype).contiguous()

    def _convolve(self, x: Tensor, adjoint: bool) -> Tensor:
        method = self.resolve_method(x.shape[-2])
        if method == "dense":
            return self._dense(x, adjoint)
        if method == "direct":
            return self._direct(x, adjoint)
        return self._fft(x, adjoint)

    # ------------------------------------------------------------------ LinearPhysics API
    def A(self, x: Tensor, wavelet: Tensor | None = None, **kwargs) -> Tensor:
        r"""Convolve every trace with the wavelet: :math:`y = w * x` along time, same size.

        :param torch.Tensor x: reflectivity of shape ``(B, C, T, N)``, real floating dtype.
        :param torch.Tensor, None wavelet: if given, replaces the stored wavelet first.
        :return: (:class:`torch.Tensor`) measurements of shape ``(B, C, T, N)``.
        """
        self._check_input(x, "x")
        if wavelet is not None:
            self.update_parameters(wavelet=wavelet)
        return self._convolve(x, adjoint=False)

    def A_adjoint(self, y: Tensor, wavelet: Tensor | None = None, **kwargs) -> Tensor:
        r"""Correlate every trace with the wavelet (exact adjoint of :meth:`A`).

        :param torch.Tensor y: measurements of shape ``(B, C, T, N)``, real floating dtype.
        :param torch.Tensor, None wavelet: if given, replaces the stored wavelet first.
        :return: (:class:`torch.Tensor`) tensor of shape ``(B, C, T, N)``.
        """
        self._check_input(y, "y")
        if wavelet is not None:
            self.update_parameters(wavelet=wavelet)
        return self._convolve(y, adjoint=True)
