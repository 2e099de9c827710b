"""SeismicDeconvolution and the Ricker wavelets, checked against numpy and dense-matrix oracles."""

import numpy as np
import pytest
import torch
from deepinv.physics import GaussianNoise, UniformNoise

from deepinv_jitter.physics.seismic import SeismicDeconvolution, ricker, ricker_wavelet

METHODS = ["dense", "direct", "fft", "auto"]


def numpy_oracle(x, w):
    """Trace-wise convolution with numpy: 'same' for T >= L, else the same crop of the full output."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    B, C, T, N = x.shape
    c = (w.size - 1) // 2
    out = np.empty_like(x)
    for b in range(B):
        for ch in range(C):
            for n in range(N):
                if T >= w.size:
                    out[b, ch, :, n] = np.convolve(x[b, ch, :, n], w, "same")
                else:
                    out[b, ch, :, n] = np.convolve(x[b, ch, :, n], w, "full")[c : c + T]
    return out


def test_ricker_matches_closed_form_and_scipy_convention():
    n, a = 51, 4.0
    k = np.arange(n) - (n - 1) / 2
    # the former scipy.signal.ricker, including its amplitude factor, written out independently
    amp = 2 / (np.sqrt(3 * a) * np.pi**0.25)
    ref = amp * (1 - (k / a) ** 2) * np.exp(-(k**2) / (2 * a**2))
    w = ricker(n, a)
    assert w.dtype == torch.float32 and w.shape == (51,)
    np.testing.assert_allclose(w.numpy(), ref / ref.max(), rtol=1e-6, atol=1e-7)
    assert float(w.max()) == 1.0 and int(w.argmax()) == 25
    we = ricker(
        50, 4.0, dtype=torch.float64
    )  # even length: symmetric, peak 1 at both middles
    assert (
        torch.allclose(we, we.flip(0)) and float(we.max()) == 1.0 and we[24] == we[25]
    )


def test_ricker_wavelet_physical_units():
    f, dt = 30.0, 0.002
    w = ricker_wavelet(f, dt, n_taps=41, dtype=torch.float64)
    t = (np.arange(41) - 20) * dt
    ref = (1 - 2 * np.pi**2 * f**2 * t**2) * np.exp(-(np.pi**2) * f**2 * t**2)
    np.testing.assert_allclose(w.numpy(), ref, atol=1e-12)
    # zero crossings of the continuous wavelet at t = +-1 / (sqrt(2) pi f)
    assert ricker_wavelet(f, dt).numel() % 2 == 1


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ricker(0), "n_taps"),
        (lambda: ricker(5, a=-1.0), "a must be"),
        (lambda: ricker_wavelet(0.0, 0.004), "peak_frequency"),
        (lambda: ricker_wavelet(125.0, 0.004), "Nyquist"),
        (lambda: ricker_wavelet(10.0, 0.0), "dt"),
    ],
)
def test_ricker_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("L", [1, 2, 5, 8, 51, 60])
def test_forward_matches_numpy(method, L):
    g = torch.Generator().manual_seed(L)
    w = torch.randn(L, generator=g, dtype=torch.float64)
    physics = SeismicDeconvolution(w, method=method)
    for T in (40, 97):
        x = torch.randn(2, 2, T, 3, generator=g, dtype=torch.float64)
        np.testing.assert_allclose(
            physics.A(x).numpy(), numpy_oracle(x, w), rtol=1e-10, atol=1e-12
        )


def test_default_wavelet_is_the_papers_operator():
    physics = SeismicDeconvolution()
    x = torch.randn(1, 1, 352, 4, dtype=torch.float64)
    w = ricker(51, 4.0, dtype=torch.float64).numpy()
    assert physics.resolve_method(352) == "dense"
    np.testing.assert_allclose(physics.A(x).numpy(), numpy_oracle(x, w), atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("L", [4, 51])
def test_dot_test_float64(method, L, device):
    g = torch.Generator().manual_seed(100 + L)
    physics = SeismicDeconvolution(
        torch.randn(L, generator=g, dtype=torch.float64), method=method
    ).to(device)
    x = torch.randn(3, 1, 130, 7, generator=g, dtype=torch.float64).to(device)
    u = torch.randn(3, 1, 130, 7, generator=g, dtype=torch.float64).to(device)
    lhs = torch.sum(physics.A(x) * u)
    rhs = torch.sum(x * physics.A_adjoint(u))
    assert abs(float(lhs - rhs)) <= 1e-10 * abs(float(lhs))
    assert float(physics.adjointness_test(u=x)) < 1e-12


def test_adjoint_equals_transpose_of_dense_matrix():
    physics = SeismicDeconvolution(
        torch.arange(1.0, 7.0, dtype=torch.float64), method="fft"
    )
    M = physics.dense_matrix(20)
    # column s of A is A(e_s): build A column by column with the FFT path, an independent route
    eye = (
        torch.eye(20, dtype=torch.float64).reshape(20, 20, 1).permute(1, 0, 2)[None]
    )  # (1,20,20,1)
    cols = physics.A(eye.reshape(20, 1, 20, 1).contiguous()).reshape(20, 20).T
    torch.testing.assert_close(cols, M)
    y = torch.randn(1, 1, 20, 1, dtype=torch.float64)
    torch.testing.assert_close(physics.A_adjoint(y)[0, 0, :, 0], M.T @ y[0, 0, :, 0])


def test_methods_agree_across_sizes():
    torch.manual_seed(3)
    w = ricker(51, 4.0, dtype=torch.float64)
    for T in (16, 352, 500):
        x = torch.randn(2, 1, T, 5, dtype=torch.float64)
        outs = [
            SeismicDeconvolution(w, method=m).A(x) for m in ("dense", "direct", "fft")
        ]
        adjs = [
            SeismicDeconvolution(w, method=m).A_adjoint(x)
            for m in ("dense", "direct", "fft")
        ]
        for o in outs[1:]:
            torch.testing.assert_close(o, outs[0], rtol=1e-10, atol=1e-12)
        for o in adjs[1:]:
            torch.testing.assert_close(o, adjs[0], rtol=1e-10, atol=1e-12)
    auto = SeismicDeconvolution(w)
    assert auto.resolve_method(352) == "dense" and auto.resolve_method(2048) == "fft"
    assert SeismicDeconvolution(torch.ones(3)).resolve_method(4096) == "direct"


def test_long_traces_do_not_build_a_dense_matrix():
    physics = SeismicDeconvolution()
    x = torch.randn(1, 1, 4096, 2)
    physics.A_adjoint(physics.A(x))
    assert not any(key[0] == "dense" for key in physics._cache)
    physics.A(
        torch.randn(1, 1, 64, 2)
    )  # short traces: the small matrix is cached and reused
    (key,) = [k for k in physics._cache if k[0] == "dense"]
    cached = physics._cache[key]
    physics.A(torch.randn(3, 1, 64, 5))
    assert physics._cache[key] is cached


@pytest.mark.filterwarnings("ignore:Power iteration")
def test_compute_sqnorm_matches_largest_singular_value():
    physics = SeismicDeconvolution()
    T = 96
    sigma_max = torch.linalg.matrix_norm(physics.dense_matrix(T, torch.float64), ord=2)
    torch.manual_seed(
        0
    )  # deepinv's power method draws its start vector from the global RNG
    sq = physics.compute_sqnorm(
        torch.zeros(1, 1, T, 4, dtype=torch.float64),
        max_iter=500,
        tol=1e-6,
        verbose=False,
    )
    # a Rayleigh quotient never exceeds the top eigenvalue, and the power method gets close to it
    # (slowly: the Toeplitz operator has many singular values near the largest one)
    top = float(sigma_max) ** 2
    assert top * (1 - 1e-3) <= float(sq) <= top * (1 + 1e-10)


def test_noise_models_a_dagger_and_autograd():
    torch.manual_seed(0)
    physics = SeismicDeconvolution(noise_model=GaussianNoise(sigma=0.05))
    x = torch.randn(2, 1, 64, 8)
    y = physics(x)
    resid = (y - physics.A(x)).std()
    assert 0.04 < float(resid) < 0.06
    uniform = SeismicDeconvolution(noise_model=UniformNoise(a=0.1))
    assert float((uniform(x) - uniform.A(x)).abs().max()) <= 0.1
    # A_dagger: a least-squares solution, so A^T (A x_dag - y) vanishes
    clean = SeismicDeconvolution(max_iter=200, tol=1e-8)
    y0 = clean.A(x)
    x_dag = clean.A_dagger(y0)
    assert float((clean.A(x_dag) - y0).norm() / y0.norm()) < 1e-2
    # autograd: the gradient of 0.5||Ax - y||^2 is A^T(Ax - y)
    xr = x.clone().requires_grad_(True)
    loss = 0.5 * (physics.A(xr) - y).pow(2).sum()
    loss.backward()
    torch.testing.assert_close(
        xr.grad, physics.A_adjoint(physics.A(x) - y), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("method", ["dense", "direct", "fft"])
def test_dtype_and_device_follow_input(method):
    physics = SeismicDeconvolution(method=method)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(1, 1, 48, 3, dtype=dtype)
        assert physics.A(x).dtype == dtype and physics.A_adjoint(x).dtype == dtype
    xb = torch.randn(1, 1, 48, 3, dtype=torch.bfloat16)
    ref = physics.A(xb.float())
    torch.testing.assert_close(physics.A(xb).float(), ref, rtol=0.05, atol=0.05)
    physics64 = physics.to(torch.float64)
    assert physics64.wavelet.dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["dense", "direct", "fft"])
def test_cuda_matches_cpu(method):
    physics = SeismicDeconvolution(method=method)
    x = torch.randn(2, 1, 100, 6, dtype=torch.float64)
    ref = physics.A(x)
    gpu = physics.to("cuda")
    assert gpu.wavelet.device.type == "cuda"
    out = gpu.A(x.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), ref)
    torch.testing.assert_close(
        gpu.A_adjoint(x.cuda()).cpu(), physics.to("cpu").A_adjoint(x)
    )


def test_state_dict_round_trip_and_update_parameters():
    w = torch.randn(7)
    a = SeismicDeconvolution(w)
    assert "wavelet" in a.state_dict()
    b = SeismicDeconvolution()  # different wavelet length: load must replace it in full
    b.wavelet = torch.zeros(7)
    x = torch.randn(1, 1, 30, 2)
    b.A(x)  # fills b's cache with the zero wavelet's matrix
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.A(x), a.A(x))
    c = SeismicDeconvolution()
    c.update_parameters(wavelet=torch.tensor([0.0, 1.0, 0.0]))  # identity kernel
    torch.testing.assert_close(c.A(x), x)
    torch.testing.assert_close(c.clone().A_adjoint(x), x)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.randn(5, 8), r"\(B, C, T, N\)"),
        (torch.randn(1, 1, 1, 5, 8), r"\(B, C, T, N\)"),
        (
            torch.randn(1, 1, 8, 4, dtype=torch.complex64),
            r"real floating tensor of shape \(B, C, T, N\)",
        ),
        (
            torch.ones(1, 1, 8, 4, dtype=torch.int64),
            r"real floating tensor of shape \(B, C, T, N\)",
        ),
    ],
)
def test_bad_inputs_raise(bad, match):
    physics = SeismicDeconvolution()
    with pytest.raises(ValueError, match=match):
        physics.A(bad)
    with pytest.raises(ValueError, match=match):
        physics.A_adjoint(bad)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="method"):
        SeismicDeconvolution(method="matrix")
    with pytest.raises(ValueError, match=r"shape \(L,\)"):
        SeismicDeconvolution(torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"shape \(L,\)"):
        SeismicDeconvolution(torch.ones(0))
    with pytest.raises(ValueError, match="real"):
        SeismicDeconvolution(torch.ones(3, dtype=torch.complex64))
    with pytest.raises(ValueError, match="finite"):
        SeismicDeconvolution(torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match=r"\(B, C, T, N\)"):
        SeismicDeconvolution().A(np.zeros((1, 1, 4, 4)))


@pytest.mark.parametrize("method", ["dense", "direct", "fft"])
def test_autograd_gradient_is_the_adjoint(method):
    physics = SeismicDeconvolution(method=method)
    x = torch.randn(2, 1, 50, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 1, 50, 3, dtype=torch.float64)
    (physics.A(x) * v).sum().backward()
    torch.testing.assert_close(x.grad, physics.A_adjoint(v))
    assert torch.autograd.gradcheck(
        physics.A_adjoint, (v.clone().requires_grad_(True),)
    )
