r"""
SGD jittering vs. MSE training on seismic deconvolution
=======================================================

Post-stack seismic deconvolution recovers a reflectivity section :math:`x` (time samples by traces)
from a seismic section :math:`y = A x + n`, where :math:`A` convolves every trace with a Ricker
wavelet (:class:`deepinv_jitter.SeismicDeconvolution`). We train the same unrolled gradient-descent
network twice with :class:`deepinv_jitter.JitterTrainer`, once with plain supervised training
(``training_mode="mse"``) and once with SGD jittering (``training_mode="sgd_jitter"``), and compare
them in distribution and under an L2 attack on the measurements.

The sizes here are small so that the example runs in a few CPU minutes: at this budget the
networks have only begun to learn their prior, and the two modes may differ by little. The numbers
are indicative only; ``deepinv-jitter compare --task seismic`` runs the comparison at the
``quick`` preset (see :ref:`tasks`).

.. note::

    Smallest size (used by the tests): set the environment variable
    ``DEEPINV_JITTER_EXAMPLE_SMOKE=1`` to shrink the images, the data and the training to a few
    seconds.
"""

import os
import time

import matplotlib.pyplot as plt
import torch

from deepinv_jitter import JitterTrainer
from deepinv_jitter.robustness import pgd_attack
from deepinv_jitter.tasks import get_task

SMOKE = os.environ.get("DEEPINV_JITTER_EXAMPLE_SMOKE") == "1"
torch.manual_seed(0)

# %%
# The task: physics, data and model
# ---------------------------------
#
# :func:`deepinv_jitter.tasks.get_task` bundles the seismic operator (Ricker wavelet, 51 taps, with
# Gaussian measurement noise), synthetic layered reflectivity sections
# (:class:`deepinv_jitter.datasets.seismic.SyntheticSeismicDataset`), the unrolled network and the
# task's measured jitter and attack settings. We start from the ``quick`` preset and shrink it.

if SMOKE:
    sizes = dict(img_size=(32, 32), n_train=8, n_test=2, epochs=1, n_iter=2, channels=4)
else:  # batches of 4: more optimiser steps for the same compute
    sizes = dict(
        img_size=(64, 64), n_train=32, n_test=8, epochs=6, n_iter=5, channels=16
    )
task = get_task("seismic", "quick", seed=0, batch_size=4, **sizes)
physics = task.physics
print(task.data)
print("jitter settings:", task.trainer_settings("sgd_jitter"))

x_test = torch.stack([task.test_dataset[i] for i in range(len(task.test_dataset))])
torch.manual_seed(1)  # the measurement noise
y_test = physics(x_test)

# %%
# A reflectivity section, its seismic section, and one trace of each. Reflectors are sharp spikes
# in :math:`x`; the wavelet smears each of them over tens of samples in :math:`y`.

trace = x_test.shape[-1] // 2
fig, axes = plt.subplots(
    1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.6]}
)
v = float(x_test[0].abs().max())
axes[0].imshow(x_test[0, 0], cmap="seismic", vmin=-v, vmax=v, aspect="auto")
axes[0].set_title("reflectivity $x$")
axes[1].imshow(y_test[0, 0], cmap="seismic", vmin=-v * 4, vmax=v * 4, aspect="auto")
axes[1].set_title("measurement $y = Ax + n$")
for ax in axes[:2]:
    ax.axvline(trace, color="k", lw=0.6, ls="--")
    ax.set_xlabel("trace")
    ax.set_ylabel("time sample")
axes[2].plot(x_test[0, 0, :, trace], label="x", lw=1)
axes[2].plot(y_test[0, 0, :, trace], label="y", lw=1)
axes[2].set_xlabel("time sample")
axes[2].set_title(f"trace {trace}")
axes[2].legend()
fig.tight_layout()

# %%
# Training with two modes
# -----------------------
#
# Both runs start from the same initial weights (``task.build_model()`` is seeded), see the same
# batches in the same order and have the same budget. The only difference is ``training_mode``:
# with ``"sgd_jitter"`` the trainer attaches the noise hook to the network's GD iterator
# (:func:`deepinv_jitter.jitterize`) and draws fresh Gaussian noise in every unrolled
# iteration of every training forward pass; validation, testing and the attack below never see it.


def train(mode):
    model = task.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    trainer = JitterTrainer(
        model=model,
        physics=physics,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=task.epochs
        ),
        train_dataloader=task.train_loader(),
        epochs=task.epochs,
        online_measurements=True,
        device="cpu",
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        non_blocking_transfers=False,
        jitter_seed=0,
        **task.trainer_settings(mode),
    )
    t0 = time.time()
    model = trainer.train()
    print(f"{mode:>10s}: trained in {time.time() - t0:.1f} s")
    return model.eval()


models = {mode: train(mode) for mode in ("mse", "sgd_jitter")}
print(models["sgd_jitter"].fixed_point.iterator.iterate_noise)

# %%
# In distribution and under attack
# --------------------------------
#
# :func:`deepinv_jitter.robustness.pgd_attack` finds, for each model separately, a perturbation
# :math:`\delta` of the measurement with :math:`\|\delta\|_2 \le \epsilon` that maximises the
# reconstruction error. A random Gaussian perturbation of the same norm is shown for reference:
# the gap between the two is what the attack adds over noise.

psnr = task.metrics()[0]
g = torch.Generator().manual_seed(2)
noise = torch.randn(y_test.shape, generator=g)
noise = noise * task.attack_eps / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
recon, scores = {}, {}
for mode, model in models.items():
    delta = pgd_attack(
        model,
        physics,
        x_test,
        y_test,
        eps=task.attack_eps,
        steps=task.eval_attack_steps,
    )
    with torch.no_grad():
        recon[mode] = {
            "clean": model(y_test, physics),
            "gaussian": model(y_test + noise, physics),
            "attacked": model(y_test + delta, physics),
        }
    scores[mode] = {c: float(psnr(r, x_test).mean()) for c, r in recon[mode].items()}

print(f"PSNR (dB), attack budget eps = {task.attack_eps}")
print(f"{'mode':>10s} | {'clean':>6s} | {'gauss':>6s} | {'attack':>6s}")
for mode, s in scores.items():
    print(
        f"{mode:>10s} | {s['clean']:6.2f} | {s['gaussian']:6.2f} | {s['attacked']:6.2f}"
    )

# %%
# Reconstructed sections, clean (top) and attacked (bottom). The attack adds events that are not
# in the data; SGD jittering trains the network to pull perturbed iterates back towards sections
# like the training ones, which is where its robustness comes from.

fig, axes = plt.subplots(2, 3, figsize=(10, 6.5), sharex=True, sharey=True)
for row, cond in enumerate(("clean", "attacked")):
    axes[row, 0].imshow(x_test[0, 0], cmap="seismic", vmin=-v, vmax=v, aspect="auto")
    axes[row, 0].set_title("ground truth")
    for col, mode in enumerate(models, start=1):
        r = recon[mode][cond][:1]
        axes[row, col].imshow(r[0, 0], cmap="seismic", vmin=-v, vmax=v, aspect="auto")
        axes[row, col].set_title(f"{mode}, {cond}: {float(psnr(r, x_test[:1])):.2f} dB")
for ax in axes[:, 0]:
    ax.set_ylabel("time sample")
for ax in axes[1]:
    ax.set_xlabel("trace")
fig.tight_layout()

# %%
# One trace of each attacked reconstruction against the true reflectivity.

fig, ax = plt.subplots(figsize=(10, 3.2))
ax.plot(x_test[0, 0, :, trace], color="k", lw=1.4, label="ground truth")
for mode in models:
    ax.plot(recon[mode]["attacked"][0, 0, :, trace], lw=1, label=f"{mode} (attacked)")
ax.set_xlabel("time sample")
ax.set_title(f"trace {trace} under attack")
ax.legend()
fig.tight_layout()
plt.show()
