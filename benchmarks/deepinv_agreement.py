r"""evaluate_robustness against deepinv's ``Trainer.test`` on a problem built from deepinv parts only.

Deblurring (:class:`deepinv.physics.BlurFFT`, Gaussian kernel, noise 0.03) of 64 smooth training
images by an unfolded ``PGD`` with a ``PnP(DnCNN)`` prior, trained with :class:`JitterTrainer`
(``mse``); then the test set is scored three ways on the same model and the same ``(x, y)`` pairs:

- deepinv's ``Trainer.test`` with ``PSNR()`` / ``SSIM()``;
- :func:`evaluate_robustness` with its defaults (deepinv's metrics since 0.3.0);
- :func:`evaluate_robustness` with the magnitude metrics that were its default before 0.3.0
  (per-image data range), which is where the two used to disagree by about 3 dB.

Prints one line per score and the differences. No timing, no assertion.

    python benchmarks/deepinv_agreement.py [--epochs 5]
"""

import argparse
import warnings

import deepinv as dinv
import torch

from deepinv_jitter import JitterTrainer
from deepinv_jitter.robustness import MagnitudePSNR, MagnitudeSSIM, evaluate_robustness


def images(n, size=32, seed=0):
    """Smooth images in [0.1, 0.8] (a data range that is not 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(
        torch.rand(n, 1, size + 3, size + 3, generator=g), 4, stride=1
    )
    lo = x.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = x.flatten(1).amax(1).view(-1, 1, 1, 1)
    return 0.1 + 0.7 * (x - lo) / (hi - lo)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    physics = dinv.physics.BlurFFT(
        img_size=(1, 32, 32),
        filter=dinv.physics.functional.gaussian_blur(sigma=(1.5, 1.5)),
        noise_model=dinv.physics.GaussianNoise(0.03),
    )
    model = dinv.optim.PGD(
        data_fidelity=dinv.optim.L2(),
        prior=dinv.optim.PnP(dinv.models.DnCNN(1, 1, depth=5, nf=16, pretrained=None)),
        stepsize=[1.0] * 4,
        sigma_denoiser=[0.05] * 4,
        trainable_params=["stepsize", "g_param"],
        max_iter=4,
        unfold=True,
    )
    train = dinv.datasets.TensorDataset(x=images(64, seed=0))
    trainer = JitterTrainer(
        model=model,
        physics=physics,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        train_dataloader=torch.utils.data.DataLoader(
            train, batch_size=16, shuffle=True
        ),
        epochs=args.epochs,
        online_measurements=True,
        training_mode="mse",
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        non_blocking_transfers=False,
    )
    model = trainer.train().eval()
    x = images(32, seed=1)
    with torch.no_grad():
        y = physics(x)
    loader = torch.utils.data.DataLoader(
        dinv.datasets.TensorDataset(x=x, y=y, use_dict_output=True), batch_size=8
    )
    tester = dinv.Trainer(
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
        expected = tester.test(loader, compare_no_learning=False)
    fast = dict(eps=0.5, attack_steps=2, gaussian_draws=1, curve_eps=[])
    now = evaluate_robustness(model, physics, loader, **fast).conditions[
        "in_distribution"
    ]
    before = evaluate_robustness(
        model, physics, loader, metrics=(MagnitudePSNR(), MagnitudeSSIM()), **fast
    ).conditions["in_distribution"]
    print(
        f"deepinv Trainer.test              PSNR {expected['PSNR']:.4f} dB  SSIM {expected['SSIM']:.4f}"
    )
    print(
        f"evaluate_robustness (default)     PSNR {now['psnr']:.4f} dB  SSIM {now['ssim']:.4f}"
    )
    print(
        f"evaluate_robustness (magnitude)   PSNR {before['psnr']:.4f} dB  SSIM {before['ssim']:.4f}"
    )
    print(f"default - Trainer.test:   {now['psnr'] - expected['PSNR']:+.4f} dB")
    print(
        f"magnitude - Trainer.test: {before['psnr'] - expected['PSNR']:+.4f} dB (the former default)"
    )


if __name__ == "__main__":
    main()
