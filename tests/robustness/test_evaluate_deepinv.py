"""evaluate_robustness on deepinv's own terms: its metrics, its Trainer's numbers, every batch
format its Trainer accepts, the measurements the data give, and one clear error for wrong shapes."""

import warnings

import deepinv as dinv
import pytest
import torch
from deepinv.physics.functional.blur import gaussian_blur

from deepinv_jitter.robustness import MagnitudePSNR, MagnitudeSSIM, evaluate_robustness

# deepinv's tuple format of datasets is deprecated (a DeprecationWarning at construction)
pytestmark = pytest.mark.filterwarnings("ignore:The tuple format:DeprecationWarning")


def _images(n, size=32, seed=0):
    # smooth images in [0.1, 0.8]: a data range that is not 1, so a per-image range differs
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(
        torch.rand(n, 1, size + 3, size + 3, generator=g), 4, stride=1
    )
    lo = x.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = x.flatten(1).amax(1).view(-1, 1, 1, 1)
    return 0.1 + 0.7 * (x - lo) / (hi - lo)


def _kernel(sigma):
    """A 15 x 15 Gaussian blur kernel, ``(1, 1, 15, 15)``."""
    return gaussian_blur(psf_size=(15, 15), sigma=(sigma, sigma))


def _blur(sigma=1.0, noise=0.03):
    return dinv.physics.BlurFFT(
        img_size=(1, 32, 32),
        filter=_kernel(sigma),
        noise_model=dinv.physics.GaussianNoise(noise),
    )


def _unfolded(kind):
    """A small unfolded deepinv network: PGD with a PnP DnCNN prior, or GD with a RED one."""
    torch.manual_seed(0)
    denoiser = dinv.models.DnCNN(1, 1, depth=3, nf=8, pretrained=None)
    if kind == "pgd":
        return dinv.optim.PGD(
            dinv.optim.L2(),
            dinv.optim.PnP(denoiser),
            stepsize=1.0,
            g_param=0.05,
            max_iter=3,
            unfold=True,
        )
    return dinv.optim.GD(
        dinv.optim.L2(),
        dinv.optim.RED(denoiser),
        stepsize=0.5,
        g_param=0.05,
        lambda_reg=0.5,
        max_iter=3,
        unfold=True,
    )


def _identity(y, physics):
    return y


def _no_attack(model, physics, x, y, eps, **kw):
    return torch.zeros_like(y)


FAST = dict(eps=0.0, attack=_no_attack, curve_eps=[], gaussian_draws=1)


@pytest.mark.parametrize("kind", ["pgd", "gd"])
def test_in_distribution_equals_deepinv_trainer_test(kind):
    # deblurring built from deepinv parts only; the (x, y) pairs are fixed so that both read the
    # same measurements
    physics = _blur()
    x = _images(6)
    with torch.no_grad():
        y = physics(x)
    model = _unfolded(kind)
    loader = torch.utils.data.DataLoader(
        dinv.datasets.TensorDataset(x=x, y=y, use_dict_output=True), batch_size=4
    )
    trainer = dinv.Trainer(
        model=model,
        physics=physics,
        optimizer=None,
        train_dataloader=None,
        online_measurements=False,
        metrics=[dinv.metric.PSNR(), dinv.metric.SSIM()],
        verbose=False,
        show_progress_bar=False,
        save_path=None,
        device="cpu",
        non_blocking_transfers=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = trainer.test(loader, compare_no_learning=False)
    r = evaluate_robustness(
        model, physics, loader, eps=0.1, attack_steps=2, gaussian_draws=2
    )
    got = r.conditions["in_distribution"]
    assert abs(got["psnr"] - expected["PSNR"]) < 0.01
    assert abs(got["ssim"] - expected["SSIM"]) < 1e-4
    assert r.metrics == ("PSNR", "SSIM")
    assert r.measurements == "given"
    assert r.n_samples == 6


def test_given_measurements_are_used():
    # the identity on Denoising: x_hat = y, so the PSNR is that of the given y, not of a fresh one
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.05))
    x = _images(4)
    pairs = dinv.datasets.TensorDataset(x=x, y=x + 0.1)
    r = evaluate_robustness(_identity, physics, pairs, **FAST)
    assert r.measurements == "given"
    assert r.conditions["in_distribution"]["psnr"] == pytest.approx(20.0, abs=1e-4)
    # y = 0: the PSNR of a zero reconstruction, not of the noisy measurement
    zeros = torch.utils.data.TensorDataset(x, torch.zeros_like(x))
    r0 = evaluate_robustness(_identity, physics, zeros, **FAST)
    expected = float(dinv.metric.PSNR()(torch.zeros_like(x), x).mean())
    assert r0.conditions["in_distribution"]["psnr"] == pytest.approx(expected, abs=1e-5)
    # x-only data: y simulated
    r_sim = evaluate_robustness(_identity, physics, x, **FAST)
    assert r_sim.measurements == "simulated"
    assert abs(r_sim.conditions["in_distribution"]["psnr"] - 20.0) > 1


def _formats(x, y, params):
    """Every batch format deepinv's Trainer accepts, as datasets (and the measurement source)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return {
            "tensor": (x, "simulated"),
            "torch (x,)": (torch.utils.data.TensorDataset(x), "simulated"),
            "deepinv x": (dinv.datasets.TensorDataset(x=x), "simulated"),
            "deepinv dict x": (
                dinv.datasets.TensorDataset(x=x, use_dict_output=True),
                "simulated",
            ),
            "deepinv (x, y)": (dinv.datasets.TensorDataset(x=x, y=y), "given"),
            "deepinv dict (x, y)": (
                dinv.datasets.TensorDataset(x=x, y=y, use_dict_output=True),
                "given",
            ),
            "one (x, y) batch": ((x, y), "given"),
            "one dict batch": ({"x": x, "y": y}, "given"),
            "deepinv (x, params)": (
                dinv.datasets.TensorDataset(x=x, params=params),
                "simulated",
            ),
            "deepinv (x, y, params)": (
                dinv.datasets.TensorDataset(x=x, y=y, params=params),
                "given",
            ),
            "deepinv dict (x, y, params)": (
                dinv.datasets.TensorDataset(
                    x=x, y=y, params=params, use_dict_output=True
                ),
                "given",
            ),
        }


def test_every_deepinv_batch_format_is_accepted():
    # one blur for every sample, given as physics parameters too: every format must give the
    # numbers of the plain tensor (simulated) or of the given pairs
    physics = _blur(sigma=1.0)
    x = _images(4)
    with torch.no_grad():
        y = physics(x) + 0.1  # given measurements unlike the simulated ones
    params = {"filter": _kernel(1.0).expand(4, -1, -1, -1).clone()}
    model = _unfolded("gd")
    kw = dict(eps=0.2, attack_steps=2, gaussian_draws=2, curve_eps=[0.0, 0.2])
    results = {}
    for name, (data, source) in _formats(x, y, params).items():
        r = evaluate_robustness(model, physics, data, **kw)
        assert r.measurements == source, name
        assert r.n_samples == 4, name
        results[name] = (r.conditions, source)
    reference = {
        "simulated": results["tensor"][0],
        "given": results["deepinv (x, y)"][0],
    }
    for name, (conditions, source) in results.items():
        for c in ("in_distribution", "adversarial"):
            assert conditions[c]["psnr"] == pytest.approx(
                reference[source][c]["psnr"], abs=1e-4
            ), (name, c)
    simulated, given = reference["simulated"], reference["given"]
    assert (
        abs(simulated["in_distribution"]["psnr"] - given["in_distribution"]["psnr"]) > 1
    )


def test_physics_parameters_of_each_sample_are_used_and_the_physics_is_restored():
    # (x, y, params) with a different blur per sample: each sample scores as evaluated alone
    # with its own blur; the caller's physics keeps its own filter
    physics = _blur(sigma=1.0)
    before = physics.filter.clone()
    x = _images(2)
    filters = torch.cat([_kernel(0.5), _kernel(2.0)])
    ys = []
    for i in range(2):
        p = _blur(sigma=(0.5, 2.0)[i])
        with torch.no_grad():
            ys.append(p(x[i : i + 1]))
    y = torch.cat(ys)
    data = dinv.datasets.TensorDataset(
        x=x, y=y, params={"filter": filters}, use_dict_output=True
    )
    model = _unfolded("gd")
    kw = dict(eps=0.1, attack_steps=1, gaussian_draws=3, curve_eps=[])
    r = evaluate_robustness(model, physics, data, **kw)
    assert torch.equal(physics.filter, before)
    for i in range(2):
        alone = evaluate_robustness(
            model, _blur(sigma=(0.5, 2.0)[i]), (x[i : i + 1], y[i : i + 1]), **kw
        )
        assert r.per_sample["in_distribution"][i] == pytest.approx(
            alone.per_sample["in_distribution"][0], abs=1e-4
        )


def test_default_metrics_are_deepinvs_and_magnitude_for_complex_signals():
    physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.0))
    x = _images(2)
    r = evaluate_robustness(_identity, physics, {"x": x, "y": x + 0.05}, **FAST)
    assert r.metrics == ("PSNR", "SSIM")
    assert r.conditions["in_distribution"]["psnr"] == pytest.approx(
        float(dinv.metric.PSNR()(x + 0.05, x).mean()), abs=1e-5
    )
    # MRI: (real, imaginary) channels, scored on the magnitude
    mask = torch.ones(16, 16)
    mri = dinv.physics.MRI(mask=mask, img_size=(2, 16, 16))
    xc = torch.stack([_images(2, 16)[:, 0], 0.3 * _images(2, 16, seed=1)[:, 0]], 1)
    recon = lambda y, physics: physics.A_adjoint(y) * 0.9  # noqa: E731
    r = evaluate_robustness(recon, mri, xc, **FAST)
    assert r.metrics == ("MagnitudePSNR", "MagnitudeSSIM")
    assert r.to_dict()["metrics"] == ["MagnitudePSNR", "MagnitudeSSIM"]
    expected = float(MagnitudePSNR()(0.9 * xc, xc).mean())
    assert r.conditions["in_distribution"]["psnr"] == pytest.approx(expected, abs=1e-4)
    expected = float(MagnitudeSSIM()(0.9 * xc, xc).mean())
    assert r.conditions["in_distribution"]["ssim"] == pytest.approx(expected, abs=1e-4)


def test_magnitude_metrics_accept_a_complex_dtype():
    x = torch.polar(_images(2, 16), torch.full((2, 1, 16, 16), 0.3))
    pair = torch.cat([x.real, x.imag], 1)
    assert float(MagnitudePSNR()(0.9 * x, x)[0]) == pytest.approx(
        float(MagnitudePSNR()(0.9 * pair, pair)[0]), abs=1e-4
    )


def test_measurement_only_data_is_an_error_naming_x():
    physics = dinv.physics.Denoising()
    y = _images(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        data = dinv.datasets.TensorDataset(y=y)
    with pytest.raises(ValueError, match="no ground truth x"):
        evaluate_robustness(_identity, physics, data, **FAST)


def _wrong_shape_cases():
    den = dinv.physics.Denoising(dinv.physics.GaussianNoise(0.01))
    x = _images(2, 16)
    return {
        "x 2-D": (_identity, den, x[0, 0], {}, r"data: x .*shape \(16, 16\)"),
        "x 1-D": (_identity, den, x.flatten(), {}, r"data: x .*shape \(512,\)"),
        "x without batch axis": (
            _identity,
            den,
            x[0],
            {},
            r"metrics: SSIM failed on x_hat and x of shape \(1, 16, 16\)",
        ),
        "image smaller than the SSIM window": (
            _identity,
            den,
            x[..., :4, :4],
            {},
            r"metrics: SSIM failed on .*\(2, 1, 4, 4\)",
        ),
        "reconstruction cropped": (
            lambda y, physics: y[..., :8],
            den,
            x,
            {},
            r"model: .*shape \(2, 1, 16, 8\), the reference x has shape \(2, 1, 16, 16\)",
        ),
        "reconstruction of other channels": (
            lambda y, physics: y.repeat(1, 3, 1, 1),
            den,
            x,
            {},
            r"model: .*shape \(2, 3, 16, 16\), the reference x has shape \(2, 1, 16, 16\)",
        ),
        "model fails on y": (  # a network for three channels given one
            lambda y, physics: torch.nn.functional.conv2d(y, torch.ones(1, 3, 1, 1)),
            den,
            x,
            {},
            r"model failed on y of shape \(2, 1, 16, 16\)",
        ),
        "x and y batch sizes": (
            _identity,
            den,
            (x, x[:1]),
            {},
            r"data: x and y .*\(2, 1, 16, 16\) and y of shape \(1, 1, 16, 16\)",
        ),
        "y of another shape than A(x)": (
            _identity,
            den,
            (x, x[..., :8, :8]),
            {},
            r"data: batch 0 gives y of shape \(2, 1, 8, 8\), but physics.A\(x\) .*"
            r"\(2, 1, 16, 16\)",
        ),
        "physics fails on x": (
            _identity,
            _blur(),
            x,
            {},
            r"physics failed on x of shape \(2, 1, 16, 16\)",
        ),
        "metric not per sample": (
            _identity,
            den,
            x,
            {"metrics": (dinv.metric.PSNR(reduction="mean"), dinv.metric.SSIM())},
            r"metrics: PSNR returned shape \(\) for a batch of 2; expected .*\(2,\)",
        ),
        "one metric only": (
            _identity,
            den,
            x,
            {"metrics": dinv.metric.PSNR()},
            r"metrics must be a pair",
        ),
        "ood edit of another shape": (
            _identity,
            den,
            x,
            {"ood_edit": lambda x, rng=None: x[..., :8]},
            r"ood_edit: .*shape \(2, 1, 16, 8\), x has shape \(2, 1, 16, 16\)",
        ),
        "attack of another shape": (
            _identity,
            den,
            x,
            {
                "eps": 0.1,
                "attack": lambda model, physics, x, y, eps, **kw: y[:1],
            },
            r"attack: .*shape \(1, 1, 16, 16\), y has shape \(2, 1, 16, 16\)",
        ),
    }


@pytest.mark.parametrize("case", list(_wrong_shape_cases()))
def test_wrong_shapes_are_one_clear_error(case):
    model, physics, data, kw, message = _wrong_shape_cases()[case]
    args = dict(FAST) | kw
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(model, physics, data, **args)
