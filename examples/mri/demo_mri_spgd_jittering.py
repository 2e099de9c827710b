r"""
SPGD jittering for 4x single-coil MRI on real anatomy
=====================================================

Accelerated MRI measures only some lines of k-space, :math:`y = M F x + n`, and a reconstruction
network must fill in the rest. Here the images are slices of the MNI152 T1 brain template that ships
inside the ``nilearn`` wheel (:class:`deepinv_jitter.datasets.mri.EmbeddedMRIDataset`: real anatomy,
no download), the operator is deepinv's :class:`deepinv.physics.MRI` with a 4x variable-density
Cartesian mask (:func:`deepinv_jitter.physics.mri.single_coil_mri`), and the network is an unrolled
proximal gradient descent (PGD) with a DnCNN-style learned proximal map
(:func:`deepinv_jitter.models.build_unrolled`).

SPGD jittering adds fresh noise to the gradient step of every unrolled iteration, before the learned
proximal map, while the network trains:

.. math::

    x_{k+1} = \operatorname{prox}_{\gamma \lambda g}\big(x_k - \gamma \nabla f(x_k) - \gamma w_k\big).

We train the same network with ``training_mode="mse"`` and ``"sgd_jitter"`` and look at the
reconstructions, clean and under an L2 attack on the sampled k-space. The sizes are small so that
the example runs in a few CPU minutes, so the numbers are indicative only;
``deepinv-jitter compare --task mri`` is the full comparison (point it at fastMRI files with
``--data-root``, see :ref:`real-data`).

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
from deepinv_jitter.datasets.mri import EmbeddedMRIDataset
from deepinv_jitter.models import build_unrolled
from deepinv_jitter.physics.mri import single_coil_mri
from deepinv_jitter.robustness import MagnitudePSNR, pgd_attack
from deepinv_jitter.tasks import get_task

SMOKE = os.environ.get("DEEPINV_JITTER_EXAMPLE_SMOKE") == "1"
IMG = (32, 32) if SMOKE else (64, 64)
N_TRAIN, N_TEST, EPOCHS = (8, 2, 1) if SMOKE else (32, 4, 6)
N_ITER, HIDDEN, DEPTH = (2, 4, 3) if SMOKE else (5, 16, 5)

# %%
# Data and physics
# ----------------
#
# Train and test slices come from disjoint blocks of slice positions. Each image is a
# ``(2, H, W)`` tensor (real and imaginary channels) with magnitude peak 1.

train_set = EmbeddedMRIDataset("train", img_size=IMG)
test_set = EmbeddedMRIDataset("test", img_size=IMG)
print(f"{len(train_set)} training and {len(test_set)} test slices available")
train_set = torch.utils.data.Subset(
    train_set, range(0, len(train_set), len(train_set) // N_TRAIN)
)
x_test = torch.stack(
    [test_set[i] for i in range(0, len(test_set), len(test_set) // N_TEST)]
)

physics = single_coil_mri(
    img_size=IMG, acceleration=4, center_fraction=0.04, noise_sigma=0.01
)
torch.manual_seed(0)
y_test = physics(x_test)
x_zero_filled = physics.A_adjoint(y_test)

mag = lambda t: t.pow(2).sum(1).sqrt()  # noqa: E731 - magnitude of (B, 2, H, W)
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(mag(x_test)[0], cmap="gray")
axes[0].set_title("ground truth $|x|$")
axes[1].imshow(physics.mask[0, 0], cmap="gray")
axes[1].set_title("k-space mask (4x)")
axes[2].imshow(mag(x_zero_filled)[0], cmap="gray")
axes[2].set_title("zero-filled $|A^H y|$")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# The unrolled PGD network and its training
# -----------------------------------------
#
# ``build_unrolled(..., algorithm="pgd")`` returns deepinv's own ``PGD(..., unfold=True)`` with a
# :class:`deepinv_jitter.models.DnCNNPrior` as proximal map, starting from :math:`x_0 = A^H y` and
# with a learnable step initialised at :math:`1/\|A\|^2`. The jitter settings are those of the
# ``mri`` task: the ``"iterate"`` scale rule (noise of std :math:`\sigma \max|u_k|` on the iterate,
# independent of the step size) and the task's default :math:`\sigma`.

mri_task = get_task("mri", "smoke")
jitter = dict(jitter_sigma=mri_task.jitter_sigma, jitter_scale=mri_task.jitter_scale)
print("SPGD jittering:", jitter)


def train(mode):
    torch.manual_seed(0)  # the same initial weights for both modes
    model = build_unrolled(
        physics,
        prior="dncnn",
        algorithm="pgd",
        n_iter=N_ITER,
        x_shape=(1, 2, *IMG),
        hidden=HIDDEN,
        depth=DEPTH,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer = JitterTrainer(
        model=model,
        physics=physics,
        optimizer=optimizer,
        train_dataloader=torch.utils.data.DataLoader(
            train_set,
            batch_size=8,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        ),
        epochs=EPOCHS,
        online_measurements=True,
        device="cpu",
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        non_blocking_transfers=False,
        training_mode=mode,
        jitter_seed=0,
        **jitter,
    )
    t0 = time.time()
    model = trainer.train()
    print(f"{mode:>10s}: trained in {time.time() - t0:.1f} s")
    return model.eval()


models = {mode: train(mode) for mode in ("mse", "sgd_jitter")}
print(models["sgd_jitter"].fixed_point.iterator)

# %%
# Reconstructions, clean and under attack
# ---------------------------------------
#
# The attack perturbs only the sampled k-space entries (unsampled entries stay zero, as in a real
# acquisition), with an L2 budget of a few percent of :math:`\|y\|`. PSNR is computed on the
# magnitude images with the reference's maximum as data range
# (:class:`deepinv_jitter.robustness.MagnitudePSNR`).

psnr = MagnitudePSNR()
eps = 0.05 * float(y_test.flatten(1).norm(dim=1).mean())
rows = {}
for mode, model in models.items():
    delta = pgd_attack(
        model, physics, x_test, y_test, eps=eps, steps=3 if SMOKE else 10
    )
    with torch.no_grad():
        rows[mode] = {
            "clean": model(y_test, physics),
            "attacked": model(y_test + delta, physics),
        }

print(f"PSNR (dB, mean of {len(x_test)} test slices), attack eps = {eps:.2f}")
print(f"  zero-filled: {float(psnr(x_zero_filled, x_test).mean()):.2f}")
for mode, r in rows.items():
    clean, attacked = (float(psnr(r[c], x_test).mean()) for c in ("clean", "attacked"))
    print(f"  {mode:>10s}: clean {clean:.2f}, attacked {attacked:.2f}")

fig, axes = plt.subplots(2, 4, figsize=(11, 5.8))
for i, cond in enumerate(("clean", "attacked")):
    axes[i, 0].imshow(mag(x_test)[0], cmap="gray", vmin=0, vmax=1)
    axes[i, 0].set_title("ground truth")
    for j, mode in enumerate(models, start=1):
        r = rows[mode][cond][:1]
        axes[i, j].imshow(mag(r)[0], cmap="gray", vmin=0, vmax=1)
        axes[i, j].set_title(f"{mode}, {cond}\n{float(psnr(r, x_test[:1])):.2f} dB")
    err = (mag(rows["sgd_jitter"][cond][:1]) - mag(x_test[:1])).abs()
    err_mse = (mag(rows["mse"][cond][:1]) - mag(x_test[:1])).abs()
    axes[i, 3].imshow(err_mse[0] - err[0], cmap="RdBu", vmin=-0.2, vmax=0.2)
    axes[i, 3].set_title("error(mse) - error(jitter)\n(blue: jitter better)")
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
plt.show()
