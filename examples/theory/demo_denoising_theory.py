r"""
When does SGD jittering help? Generalisation curves on a denoising toy
======================================================================

The theory behind SGD jittering (Guan & Davenport, ICML 2025) says that injecting noise into the
unrolled iterations while training acts as a regulariser: it should generalise better than plain
MSE training when training is limited by variance (few training samples, a network that can fit
them exactly). This example checks that claim on a problem whose best possible estimator is
known exactly, and looks at what happens as the training set grows.

Everything is built from the library: signals from a Gaussian model on a random 8-dimensional
subspace of :math:`\mathbb{R}^{64}` (:class:`deepinv_jitter.datasets.GaussianSubspaceModel`),
measured by deepinv's ``Denoising`` physics with noise of std 0.2; a few *fixed* noisy training
pairs (:class:`deepinv_jitter.datasets.ToySignalDataset`); an unrolled gradient descent whose
prior is a learned *linear* map (:class:`deepinv_jitter.models.LinearDenoiser`,
:func:`deepinv_jitter.models.build_unrolled`), trained with :class:`deepinv_jitter.JitterTrainer`;
and :func:`deepinv_jitter.robustness.evaluate_robustness`. For a Gaussian model the best estimator
is the linear MMSE (Wiener) filter (:class:`deepinv_jitter.datasets.MMSEReconstructor`): its PSNR
on noisy measurements is the line no method can cross in expectation.

We train three modes (``"mse"``, ``"sgd_jitter"``, ``"input_jitter"``) at four training-set sizes
with the same number of optimiser steps, and draw test PSNR, average-case PSNR (the measurements
perturbed by random noise of norm :math:`\epsilon`) and the train-test gap against the size. One
seed; the results page has the generalisation table over three seeds with intervals
(``deepinv-jitter generalization --task denoising``, measured there at :math:`\sigma = 0.1`) and
the three-seed comparison at 16 pairs with this example's :math:`\sigma = 0.8`.

.. note::

    Smallest size (used by the tests): set the environment variable
    ``DEEPINV_JITTER_EXAMPLE_SMOKE=1`` to train for a hundred steps at two sizes on a small test
    set.
"""

import math
import os
import time

import deepinv as dinv
import matplotlib.pyplot as plt
import torch

from deepinv_jitter import JitterTrainer
from deepinv_jitter.datasets import (
    GaussianSubspaceModel,
    MMSEReconstructor,
    ToySignalDataset,
)
from deepinv_jitter.models import LinearDenoiser, build_unrolled
from deepinv_jitter.robustness import evaluate_robustness

SMOKE = os.environ.get("DEEPINV_JITTER_EXAMPLE_SMOKE") == "1"
device = "cpu"

steps = 100 if SMOKE else 2000  # optimiser steps of every training run
sizes = [16, 64] if SMOKE else [16, 64, 256, 1024]
n_test = 128 if SMOKE else 1024
draws = 2 if SMOKE else 8

# %%
# The signal model, the physics and the oracle
# --------------------------------------------
#
# :math:`x = U z` with :math:`U` a random orthonormal :math:`64 \times 8` basis (drawn from the
# seed) and :math:`z` Gaussian with a decaying spectrum; each signal is shaped ``(1, 8, 8)`` so
# that deepinv's physics and metrics apply. The measurement is :math:`y = x + e`,
# :math:`e \sim \mathcal{N}(0, 0.2^2 I)`. PSNR uses the model's fixed peak 1 (four signal standard
# deviations; :meth:`~deepinv_jitter.datasets.GaussianSubspaceModel.metrics`).

noise_sigma, eps = 0.2, 0.8
signals = GaussianSubspaceModel(n=64, k=8, decay=0.7, seed=0)
physics = dinv.physics.Denoising(dinv.physics.GaussianNoise(sigma=noise_sigma))
test_set = ToySignalDataset(signals, n_test, seed=10_000)
x_test = torch.stack([test_set[i] for i in range(n_test)])
metrics = signals.metrics()


def evaluate(model):
    r"""Test PSNR, average-case PSNR (``draws`` random perturbations of norm ``eps`` per
    signal) and PSNR under a 10-step L2 PGD attack of the same norm."""
    report = evaluate_robustness(
        model,
        physics,
        torch.utils.data.DataLoader(x_test, batch_size=512),
        eps=eps,
        metrics=metrics,
        attack_steps=10,
        curve_eps=[],
        gaussian_draws=draws,
        seed=0,
    )
    return {c: v["psnr"] for c, v in report.conditions.items()}


oracle = evaluate(MMSEReconstructor(signals, noise_sigma))
print(
    "oracle (Wiener filter): "
    + ", ".join(f"{c} {v:.2f} dB" for c, v in oracle.items())
    + f"; closed form, PSNR of the expected error: {signals.oracle_psnr(noise_sigma):.2f} dB"
)

# %%
# The network and its floor
# -------------------------
#
# Five unrolled GD iterations with a fixed step of 0.5 and a RED prior whose denoiser is a
# learned linear map :math:`D(x) = Wx`:
#
# .. math::
#
#     x_{k+1} = x_k - \gamma\left((x_k - y) + x_k - W x_k\right), \qquad x_0 = y,
#
# so the whole network is a linear map of :math:`y`, the case the theory treats exactly. The step
# is not learned (``learn_stepsize=False``), so it cannot shrink to cancel the jitter. :math:`W`
# starts at the identity, so the untrained network returns :math:`y` itself: the noisy input is
# the floor a trained network must clear.


def build():
    return build_unrolled(
        physics,
        prior=LinearDenoiser(64),
        algorithm="gd",
        max_iter=5,
        stepsize=0.5,
        learn_stepsize=False,
    ).to(device)


floor = evaluate(build())
print(
    "untrained (returns y): " + ", ".join(f"{c} {v:.2f} dB" for c, v in floor.items())
)

# %%
# Train every mode at every size
# ------------------------------
#
# The training pairs :math:`(x_i, y_i)` are drawn once (``noise_sigma`` in the dataset) and the
# trainer reads them as they are (``online_measurements=False``): with fresh measurement noise in
# every batch, 16 signals would behave as a much larger training set. Each run takes ``steps``
# Adam steps (learning rate 1e-2 annealed to zero, batches of 16), so a smaller set is seen more
# often. The perturbation settings are written out: SGD jittering adds noise of std
# :math:`\sigma = 0.8` to each iteration's gradient (the ``"absolute"`` scale: the iterate moves
# by :math:`\gamma\sigma`), input jittering adds noise of std 0.2 to each training measurement.

modes = ["mse", "sgd_jitter", "input_jitter"]
batch_size = 16


def train(mode, n_train):
    pairs = ToySignalDataset(signals, n_train, seed=0, noise_sigma=noise_sigma)
    epochs = max(1, round(steps / math.ceil(n_train / batch_size)))
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = JitterTrainer(
        model=model,
        physics=physics,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),
        train_dataloader=torch.utils.data.DataLoader(
            pairs,
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        ),
        epochs=epochs,
        online_measurements=False,
        device=device,
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        non_blocking_transfers=False,
        training_mode=mode,
        jitter_seed=0,
        jitter_sigma=0.8,  # sgd_jitter
        jitter_scale="absolute",
        input_sigma=0.2,  # input_jitter
    )
    model = trainer.train().eval()
    x, y = (torch.stack(t) for t in zip(*(pairs[i] for i in range(n_train))))
    with torch.no_grad():
        train_psnr = float(metrics[0](model(y, physics), x).mean())
    return model, train_psnr


results = {mode: {} for mode in modes}
t0 = time.time()
for n_train in sizes:
    for mode in modes:
        model, train_psnr = train(mode, n_train)
        scores = evaluate(model)
        scores["gap"] = train_psnr - scores["in_distribution"]
        results[mode][n_train] = scores
print(f"{len(sizes) * len(modes)} runs of {steps} steps in {time.time() - t0:.0f} s")

print(
    f"PSNR (dB) on {n_test} test signals: test / average case / attack, train - test gap"
)
for n_train in sizes:
    print(f"{n_train} training pairs:")
    for mode in modes:
        s = results[mode][n_train]
        print(
            f"  {mode:>12s}: {s['in_distribution']:6.2f} / {s['gaussian']:6.2f} / "
            f"{s['adversarial']:6.2f}, gap {s['gap']:6.2f}"
        )
    for mode in modes:
        s = results[mode][n_train]
        print(
            f"  {mode:>12s} vs untrained floor: test {s['in_distribution'] - floor['in_distribution']:+.2f}, "
            f"average case {s['gaussian'] - floor['gaussian']:+.2f}, "
            f"attack {s['adversarial'] - floor['adversarial']:+.2f} dB"
        )
    for mode in modes[1:]:
        s, m = results[mode][n_train], results["mse"][n_train]
        print(
            f"  {mode:>12s} - mse: test {s['in_distribution'] - m['in_distribution']:+.2f}, "
            f"average case {s['gaussian'] - m['gaussian']:+.2f}, "
            f"attack {s['adversarial'] - m['adversarial']:+.2f} dB"
        )

# %%
# Generalisation curves
# ---------------------
#
# Test PSNR and average-case PSNR against the training-set size, with the oracle (dashed) and the
# untrained network (dotted), and the train-test gap.

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, (key, label) in zip(
    axes,
    [
        ("in_distribution", "test PSNR (dB)"),
        ("gaussian", "average-case PSNR (dB)"),
        ("gap", "train - test PSNR (dB)"),
    ],
):
    for mode in modes:
        ax.plot(sizes, [results[mode][n][key] for n in sizes], "o-", label=mode)
    if key != "gap":
        ax.axhline(oracle[key], color="k", ls="--", lw=1, label="oracle")
        ax.axhline(floor[key], color="gray", ls=":", lw=1, label="untrained (y)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training-set size")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# What the curves say
# -------------------
#
# From the run that built this page (0.3.0, seed 0, 1024 test signals, a 2-core CPU; the oracle
# scores 24.24 dB in distribution, the untrained network 14.01 dB):
#
# - **Few training pairs: SGD jittering generalises, MSE does not.** With 16 pairs MSE training
#   interpolates them (train-test gap 69.7 dB) and ends *below* the untrained network, which
#   returns the noisy input (10.31 against 14.01 dB); with 64 pairs it is 0.73 dB above it in
#   distribution and 4.0 dB below it under attack. SGD jittering clears the floor at every size
#   and in every condition, shrinks the gap to 3.6 dB at 16 pairs, and is ahead of MSE by 7.7 dB
#   in distribution, 7.8 dB on average-case perturbations and 8.7 dB under attack at 16 pairs
#   (3.9, 3.9 and 8.3 dB at 64). This is the regime the theory treats, and the margins are
#   several dB, far above the seed-to-seed spread the results page measured over three seeds.
# - **Input jittering does at least as well here.** At 16 pairs it is 1.2 dB ahead of SGD
#   jittering in distribution (19.20 against 17.99 dB) and level under attack (14.54 against
#   14.43 dB); at 64 pairs it is 3.4 dB ahead in distribution and 0.8 dB under attack.
# - **Many training pairs: SGD jittering at this** :math:`\sigma` **costs accuracy and buys no
#   robustness.** MSE training approaches the oracle on its own (22.44 dB at 256 pairs, 23.96 dB
#   at 1024), while SGD jittering stays between 18.6 and 18.9 dB from 64 pairs on: 3.6 dB behind MSE at 256
#   pairs and 5.1 dB at 1024, in distribution and on average-case perturbations alike, and not
#   ahead under attack either (-0.07 and -1.07 dB). :math:`\sigma = 0.8` is the level the
#   command line picks for 16 pairs; with more data the noise it injects is a bias the data no
#   longer needs. Whether a smaller :math:`\sigma` would do better at large sizes is not measured
#   here. Input jittering stays ahead of or level with MSE: +1.1 dB in distribution at 256
#   pairs, -0.13 dB at 1024.
# - No network crosses the oracle in distribution or on average-case perturbations (best: 23.96
#   against 24.24 dB, and 23.14 against 23.36 dB). The Wiener filter is the best estimator on
#   average over the noise, not against an attack: under attack input jittering at 1024 pairs
#   scores 16.51 dB, above the filter's 16.33 dB.
