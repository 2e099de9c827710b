"""The denoising toy: model, covariance, shift, oracle, dataset, PSNR, errors."""

import math

import deepinv as dinv
import pytest
import torch

from deepinv_jitter.datasets.gaussian_subspace import (
    DEFAULT_NOISE_SIGMA,
    GaussianSubspaceModel,
    MMSEReconstructor,
    SubspaceShift,
    mse_to_psnr,
)
from deepinv_jitter.datasets.toy import ToySignalDataset
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.models.linear import LinearDenoiser


def test_defaults_shape_spectrum_and_peak():
    m = GaussianSubspaceModel()
    assert (m.n, m.k, m.shape) == (64, 8, (1, 8, 8))
    assert m.signal_std == pytest.approx(0.25) and m.peak == pytest.approx(1.0)
    lam = m.eigenvalues
    assert torch.allclose(
        lam[1:] / lam[:-1], torch.full((7,), 0.7, dtype=torch.float64)
    )
    assert torch.allclose(
        m.basis.T @ m.basis, torch.eye(8, dtype=torch.float64), atol=1e-12
    )
    assert GaussianSubspaceModel(n=10, k=2).shape == (1, 1, 10)
    assert GaussianSubspaceModel(n=12, k=2, shape=(1, 3, 4)).sample(2).shape == (
        2,
        1,
        3,
        4,
    )


def test_the_task_is_neither_trivial_nor_hopeless_at_the_defaults():
    m = GaussianSubspaceModel()
    noisy = m.psnr(DEFAULT_NOISE_SIGMA**2)
    oracle = m.oracle_psnr(DEFAULT_NOISE_SIGMA)
    assert noisy == pytest.approx(13.98, abs=0.01)
    assert oracle == pytest.approx(23.58, abs=0.01)
    assert oracle - noisy > 5


def test_sample_covariance_matches_covariance():
    m = GaussianSubspaceModel()
    x = m.sample(40000, rng=torch.Generator().manual_seed(0)).double().flatten(1)
    C = m.covariance()
    emp = x.T @ x / x.shape[0]
    # entrywise standard error of the second moment: sqrt((C_ii C_jj + C_ij^2) / N)
    se = ((C.diagonal()[:, None] * C.diagonal()[None, :] + C**2) / x.shape[0]).sqrt()
    assert ((emp - C).abs() <= 5 * se + 1e-12).float().mean() > 0.999
    assert emp.trace() / 64 == pytest.approx(0.0625, rel=0.02)
    # samples lie in the subspace
    assert torch.allclose(x - x @ m.basis @ m.basis.T, torch.zeros_like(x), atol=1e-5)


def test_sample_is_reproducible_and_in_dtype():
    m = GaussianSubspaceModel(dtype=torch.float64)
    a = m.sample(3, rng=torch.Generator().manual_seed(5))
    assert a.dtype == torch.float64
    assert torch.equal(a, m.sample(3, rng=torch.Generator().manual_seed(5)))
    assert not torch.equal(a, m.sample(3, rng=torch.Generator().manual_seed(6)))
    assert not torch.equal(
        GaussianSubspaceModel(seed=1).basis, GaussianSubspaceModel().basis
    )


def test_shifted_has_the_principal_angle_and_keeps_the_spectrum():
    m = GaussianSubspaceModel()
    for angle in (0.0, 0.3, math.pi / 2):
        s = m.shifted(angle)
        cosines = torch.linalg.svdvals(m.basis.T @ s.basis)
        assert torch.allclose(
            cosines, torch.full((8,), math.cos(angle), dtype=torch.float64), atol=1e-9
        )
        assert torch.allclose(s.eigenvalues, m.eigenvalues)
        assert s.peak == pytest.approx(m.peak) and s.shape == m.shape
    assert torch.allclose(m.shifted(0.0).covariance(), m.covariance(), atol=1e-12)
    assert torch.equal(
        m.shifted(0.4).basis, m.shifted(0.4).basis
    )  # reproducible default
    other = m.shifted(0.4, rng=torch.Generator().manual_seed(9))
    assert not torch.allclose(other.basis, m.shifted(0.4).basis)


def test_shift_edit_moves_signals_to_the_shifted_model():
    m = GaussianSubspaceModel()
    edit = m.shift_edit(0.4)
    assert torch.allclose(edit.shifted.basis, m.shifted(0.4).basis)
    x = m.sample(30000, rng=torch.Generator().manual_seed(2)).double()
    xe = edit(x, rng=torch.Generator())
    assert xe.shape == x.shape and xe.dtype == x.dtype
    # the edited signals lie in the shifted subspace, with the shifted covariance
    U = edit.shifted.basis
    assert torch.allclose(xe.flatten(1) @ U @ U.T, xe.flatten(1), atol=1e-5)
    emp = xe.flatten(1).T @ xe.flatten(1) / x.shape[0]
    rel = (emp - edit.shifted.covariance()).norm() / edit.shifted.covariance().norm()
    assert rel < 0.03
    assert torch.allclose(m.shift_edit(0.0)(x), x, atol=1e-5)


def test_mmse_matrix_estimate_and_reconstructor_agree():
    m = GaussianSubspaceModel()
    W = m.mmse_matrix(0.2)
    C = m.covariance()
    assert torch.allclose(
        W, C @ torch.linalg.inv(C + 0.04 * torch.eye(64, dtype=C.dtype)), atol=1e-10
    )
    assert torch.allclose(m.mmse_matrix(0.0), m.basis @ m.basis.T, atol=1e-12)
    y = torch.randn(5, 1, 8, 8)
    est = m.mmse_estimate(y, 0.2)
    assert est.dtype == y.dtype and est.shape == y.shape
    assert torch.allclose(est.flatten(1), y.flatten(1) @ W.float().T, atol=1e-5)
    assert torch.allclose(
        MMSEReconstructor(m, 0.2)(y, dinv.physics.Denoising()), est, atol=1e-6
    )


def test_closed_form_errors():
    m = GaussianSubspaceModel()
    lam, s2 = m.eigenvalues, 0.04
    assert m.mmse_error(0.2) == pytest.approx(float((lam * s2 / (lam + s2)).sum() / 64))
    C = m.covariance()
    W = m.mmse_matrix(0.2)
    assert m.mmse_error(0.2) == pytest.approx(float(torch.trace(C - W @ C) / 64))
    eye = torch.eye(64, dtype=torch.float64)
    assert m.estimator_error(eye, 0.2, eps=1.6) == pytest.approx(0.04 + 1.6**2 / 64)
    assert m.estimator_error(0 * eye, 0.2) == pytest.approx(0.0625)
    assert m.oracle_psnr(0.2, eps=0.0) == pytest.approx(m.psnr(m.mmse_error(0.2)))


def test_psnr_convention_and_deepinv_metrics():
    assert mse_to_psnr(1e-2) == pytest.approx(20.0)
    assert torch.allclose(
        mse_to_psnr(torch.tensor([1e-2, 1e-4])), torch.tensor([20.0, 40.0])
    )
    m = GaussianSubspaceModel(signal_std=0.5)
    assert m.peak == 2.0 and m.psnr(0.04) == pytest.approx(20.0)
    m = GaussianSubspaceModel()
    psnr, ssim = m.metrics()
    g = torch.Generator().manual_seed(0)
    x = m.sample(4, rng=g)
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.2))
    y = physics(x)
    per_sample = ((y - x) ** 2).flatten(1).mean(1)
    assert torch.allclose(psnr(y, x), m.psnr(per_sample), atol=1e-3)
    s = ssim(m.mmse_estimate(y, 0.2), x)
    assert s.shape == (4,) and bool(torch.isfinite(s).all())
    assert bool(
        (s > ssim(y, x)).all()
    )  # the oracle is structurally closer than the noisy input


def test_dataset_is_deterministic_per_seed_and_index():
    m = GaussianSubspaceModel()
    ds = ToySignalDataset(m, 8, seed=0)
    assert len(ds) == 8 and ds[0].shape == (1, 8, 8) and ds[0].dtype == torch.float32
    assert torch.equal(
        ds[2], ToySignalDataset(m, 100, seed=0)[2]
    )  # independent of the length
    assert torch.equal(ds[-1], ds[7]) and torch.equal(ds[torch.tensor(3)], ds[3])
    assert not torch.equal(ds[2], ToySignalDataset(m, 8, seed=1)[2])
    assert not torch.equal(ds[2], ds[3])
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    assert next(iter(loader)).shape == (4, 1, 8, 8)
    with pytest.raises(IndexError):
        ds[8]


def test_dataset_fixed_pairs_for_offline_training():
    m = GaussianSubspaceModel()
    pairs = ToySignalDataset(m, 2000, seed=3, noise_sigma=0.2)
    x, y = pairs[5]
    assert torch.equal(
        x, ToySignalDataset(m, 2000, seed=3)[5]
    )  # same signals as x-only
    x2, y2 = pairs[5]
    assert torch.equal(y, y2) and y.shape == x.shape and y.dtype == x.dtype
    e = torch.stack([pairs[i][1] - pairs[i][0] for i in range(2000)]).double()
    assert e.std().item() == pytest.approx(0.2, rel=0.02)
    assert abs(e.mean().item()) < 4 * 0.2 / math.sqrt(e.numel())
    assert torch.equal(
        ToySignalDataset(m, 4, noise_sigma=0.0)[1][1], ToySignalDataset(m, 4)[1]
    )
    xb, yb = next(iter(torch.utils.data.DataLoader(pairs, batch_size=4)))
    assert xb.shape == yb.shape == (4, 1, 8, 8)


def test_toy_plugs_into_denoising_physics_and_unrolled_gd():
    m = GaussianSubspaceModel()
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(DEFAULT_NOISE_SIGMA))
    x = torch.stack([ToySignalDataset(m, 4)[i] for i in range(4)])
    y = physics(x)
    net = build_unrolled(physics, prior=LinearDenoiser(m.n), stepsize=0.5)
    assert net(y, physics).shape == x.shape
    conv = build_unrolled(physics, "seismic", stepsize=0.5, hidden=4, depth=2)
    assert conv(y, physics).shape == x.shape


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n=0),
        dict(n=8.0),
        dict(k=0),
        dict(n=8, k=9),
        dict(decay=0.0),
        dict(decay=1.5),
        dict(decay=float("nan")),
        dict(signal_std=-1.0),
        dict(signal_std=float("inf")),
        dict(shape=(1, 8, 9)),
        dict(shape=(0, 64)),
        dict(seed=-1),
        dict(dtype=torch.int64),
    ],
)
def test_model_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        GaussianSubspaceModel(**kwargs)


def test_from_basis_validates():
    GaussianSubspaceModel.from_basis(torch.eye(4)[:, :2], torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="orthonormal"):
        GaussianSubspaceModel.from_basis(
            2 * torch.eye(4)[:, :2], torch.tensor([1.0, 0.5])
        )
    with pytest.raises(ValueError, match="k = 2"):
        GaussianSubspaceModel.from_basis(torch.eye(4)[:, :2], torch.tensor([1.0]))
    with pytest.raises(ValueError, match="finite and > 0"):
        GaussianSubspaceModel.from_basis(torch.eye(4)[:, :2], torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="n x k"):
        GaussianSubspaceModel.from_basis(torch.ones(4), torch.tensor([1.0]))


_M = GaussianSubspaceModel()
_EYE = torch.eye(64, dtype=torch.float64)
_BAD_CALLS = {
    "sample n_samples=0": lambda: _M.sample(0),
    "sample rng not a generator": lambda: _M.sample(2, rng=0),
    "shifted negative angle": lambda: _M.shifted(-0.1),
    "shifted angle > pi/2": lambda: _M.shifted(2.0),
    "shifted nan angle": lambda: _M.shifted(float("nan")),
    "shifted 2k > n": lambda: GaussianSubspaceModel(n=10, k=6).shifted(0.1),
    "mmse_matrix negative sigma": lambda: _M.mmse_matrix(-0.1),
    "mmse_matrix infinite sigma": lambda: _M.mmse_matrix(float("inf")),
    "mmse_matrix string sigma": lambda: _M.mmse_matrix("0.1"),
    "mmse_error nan sigma": lambda: _M.mmse_error(float("nan")),
    "mmse_estimate wrong shape": lambda: _M.mmse_estimate(torch.zeros(2, 1, 4, 4), 0.2),
    "estimator_error wrong shape": lambda: _M.estimator_error(torch.eye(3), 0.2),
    "estimator_error non-finite matrix": lambda: _M.estimator_error(
        _EYE * float("nan"), 0.2
    ),
    "estimator_error negative eps": lambda: _M.estimator_error(_EYE, 0.2, eps=-1.0),
    "oracle_psnr infinite eps": lambda: _M.oracle_psnr(0.2, eps=float("inf")),
    "psnr zero mse": lambda: _M.psnr(0.0),
    "psnr nan mse": lambda: _M.psnr(torch.tensor([0.1, float("nan")])),
    "mse_to_psnr zero peak": lambda: mse_to_psnr(0.1, peak=0.0),
    "mse_to_psnr negative mse": lambda: mse_to_psnr(-1.0),
    "synthesize wrong latent size": lambda: _M.synthesize(torch.zeros(2, 3)),
    "reconstructor negative sigma": lambda: MMSEReconstructor(_M, -1.0),
    "reconstructor not a model": lambda: MMSEReconstructor("model", 0.2),
    "reconstructor wrong shape": lambda: MMSEReconstructor(_M, 0.2)(torch.zeros(2, 64)),
    "dataset empty": lambda: ToySignalDataset(_M, 0),
    "dataset negative seed": lambda: ToySignalDataset(_M, 4, seed=-2),
    "dataset not a model": lambda: ToySignalDataset("model", 4),
    "shift edit wrong shape": lambda: _M.shift_edit(0.3)(torch.zeros(2, 1, 4, 4)),
    "shift edit angle too large": lambda: _M.shift_edit(3.0),
    "shift between different models": lambda: SubspaceShift(
        _M, GaussianSubspaceModel(n=16, k=2)
    ),
    "dataset negative noise": lambda: ToySignalDataset(_M, 4, noise_sigma=-0.1),
    "dataset nan noise": lambda: ToySignalDataset(_M, 4, noise_sigma=float("nan")),
}


@pytest.mark.parametrize("call", list(_BAD_CALLS.values()), ids=list(_BAD_CALLS))
def test_method_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("sigma, eps", [(0.2, 0.8), (0.1, 1.6), (0.3, 0.0)])
def test_oracle_psnr_with_a_perturbation_is_the_wiener_filter_for_the_total_variance(
    sigma, eps
):
    # Planted fault: the perturbation's variance taken as eps^2 instead of eps^2 / n per
    # coordinate. Oracles: the closed form written out from the eigenvalues, and the error of
    # the Wiener filter for s^2 + eps^2 / n computed by estimator_error (another code path).
    m = GaussianSubspaceModel()
    total = sigma**2 + eps**2 / m.n
    lam = m.eigenvalues.double()
    mse = float((lam * total / (lam + total)).sum()) / m.n
    expected = 10 * math.log10(m.peak**2 / mse)
    assert m.oracle_psnr(sigma, eps) == pytest.approx(expected, abs=1e-9)
    W = m.mmse_matrix(math.sqrt(total))
    assert m.oracle_psnr(sigma, eps) == pytest.approx(
        m.psnr(m.estimator_error(W, sigma, eps)), abs=1e-9
    )


def test_sizes_above_the_documented_maxima_are_refused_before_allocating():
    # Planted fault: n_samples = 10**9 was accepted (the fixed training pairs then grew memory
    # without bound), and n = 10**10 went to torch.randn(n, k).
    from deepinv_jitter.datasets.gaussian_subspace import (
        MAX_DATASET_VALUES,
        MAX_SIGNAL_DIM,
    )

    assert MAX_SIGNAL_DIM == 4096 and MAX_DATASET_VALUES == 2**26
    with pytest.raises(
        ValueError, match=r"n must be an integer >= 1 and <= 4096, got 10000000000"
    ):
        GaussianSubspaceModel(n=10**10, k=2)
    assert GaussianSubspaceModel(n=4096, k=2).n == 4096
    m = GaussianSubspaceModel()  # n = 64
    with pytest.raises(
        ValueError, match=r"n_samples must be at most 1048576 for signals of 64 values"
    ):
        ToySignalDataset(m, 10**9)
    assert len(ToySignalDataset(m, 2**20)) == 2**20  # the maximum itself: lazy, instant
