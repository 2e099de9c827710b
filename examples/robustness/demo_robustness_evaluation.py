r"""
Robustness evaluation: attack curves and an out-of-distribution edit
====================================================================

How robust is a trained reconstruction network? :func:`deepinv_jitter.robustness.evaluate_robustness`
measures PSNR and SSIM under four conditions, always with the model in evaluation mode (so never
with jitter noise):

- ``in_distribution``: test images like the training images;
- ``ood``: test images with an edit the training set never contains (for seismic, a flat segment of
  amplitude -0.1, :func:`deepinv_jitter.robustness.shifts.add_flat_segment`);
- ``gaussian``: measurements plus random noise whose L2 norm equals the attack budget :math:`\epsilon`;
- ``adversarial``: measurements plus the worst perturbation of norm at most :math:`\epsilon` that an
  L2 PGD attack finds (:func:`deepinv_jitter.robustness.pgd_attack`);

and a curve of PSNR against :math:`\epsilon`. Here we train three networks on the seismic task with
the functions behind the ``deepinv-jitter`` command line (:func:`deepinv_jitter.experiments.runner.train_mode`),
evaluate each one, and plot the results. The budget is small (the networks have only begun to learn
their prior, and the modes may differ by little), so the numbers are indicative only;
``deepinv-jitter compare --task seismic`` runs the full comparison and writes the same table and
figures to files.

.. note::

    Smallest size (used by the tests): set the environment variable
    ``DEEPINV_JITTER_EXAMPLE_SMOKE=1`` to shrink the images, the data and the training to a few
    seconds.
"""

import os
import tempfile

import matplotlib.pyplot as plt

from deepinv_jitter.experiments.reports import results_markdown
from deepinv_jitter.experiments.runner import evaluate_model, train_mode
from deepinv_jitter.tasks import get_task

SMOKE = os.environ.get("DEEPINV_JITTER_EXAMPLE_SMOKE") == "1"

# %%
# Train three networks
# --------------------
#
# The same seeded network, data and budget for each training mode. ``train_mode`` writes atomic,
# resumable checkpoints into a folder (here a temporary one) and returns the trained model.

if SMOKE:
    sizes = dict(img_size=(32, 32), n_train=8, n_test=4, epochs=1, n_iter=2, channels=4)
else:
    sizes = dict(
        img_size=(64, 64), n_train=24, n_test=8, epochs=6, n_iter=4, channels=12
    )
task = get_task(
    "seismic", "quick", seed=0, eval_attack_steps=3 if SMOKE else 10, **sizes
)
modes = ("mse", "sgd_jitter", "input_jitter")

models, seconds = {}, {}
with tempfile.TemporaryDirectory() as out:
    for mode in modes:
        models[mode], seconds[mode] = train_mode(
            task, mode, os.path.join(out, mode), progress=False, log=print
        )

# %%
# Evaluate them
# -------------
#
# :func:`~deepinv_jitter.experiments.runner.evaluate_model` calls ``evaluate_robustness`` with the
# task's physics, test set, OOD edit, attack budget and metrics; ``curve_eps`` asks for the PSNR at
# several budgets. Every random draw is seeded, so a second call gives the same numbers.

eps = task.attack_eps
curve_eps = [0.0, 0.25 * eps, 0.5 * eps, eps, 1.5 * eps, 2 * eps]
reports = {
    m: evaluate_model(task, models[m], progress=False, curve_eps=curve_eps)
    for m in modes
}
print(results_markdown({m: r.conditions for m, r in reports.items()}, seconds))

# %%
# PSNR against the attack budget. At :math:`\epsilon = 0` every curve starts at the model's clean
# PSNR; a flatter curve means a more robust model.

fig, ax = plt.subplots(figsize=(6, 4))
for mode, report in reports.items():
    ax.plot(report.curve["eps"], report.curve["psnr"], marker="o", label=mode)
ax.axvline(eps, color="gray", ls=":", lw=1)
ax.set_xlabel(r"attack budget $\epsilon = \|\delta\|_2$")
ax.set_ylabel("PSNR (dB)")
ax.set_title("PGD attack on the measurements")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

# %%
# Each condition side by side: the drop from ``gaussian`` to ``adversarial`` is what the attack
# adds over random noise of the same size.

conditions = list(next(iter(reports.values())).conditions)
fig, ax = plt.subplots(figsize=(7, 3.6))
width = 0.8 / len(modes)
for i, mode in enumerate(modes):
    values = [reports[mode].conditions[c]["psnr"] for c in conditions]
    ax.bar([j + i * width for j in range(len(conditions))], values, width, label=mode)
ax.set_xticks(
    [j + width * (len(modes) - 1) / 2 for j in range(len(conditions))], conditions
)
ax.set_ylabel("PSNR (dB)")
low = min(r.conditions[c]["psnr"] for r in reports.values() for c in conditions)
ax.set_ylim(bottom=max(0.0, low - 3))
ax.legend()
fig.tight_layout()

# %%
# The out-of-distribution edit
# ----------------------------
#
# The edit inserts a flat event of amplitude -0.1 into each test section. Below: a test section
# with the edit, and each model's reconstruction of it with its error. ``report.examples`` holds
# the first test sample of each condition, reference and reconstruction.

x_ood = reports["mse"].examples["ood"]["x"]
v = float(x_ood.abs().max())
fig, axes = plt.subplots(
    2, len(modes) + 1, figsize=(3 * (len(modes) + 1), 6), squeeze=False
)
axes[0, 0].imshow(x_ood[0, 0], cmap="seismic", vmin=-v, vmax=v, aspect="auto")
axes[0, 0].set_title("edited section $x'$")
edit = (x_ood[0, 0] == -0.1).float()
axes[1, 0].imshow(edit, cmap="gray_r", aspect="auto")
axes[1, 0].set_title("where the edit is")
for j, mode in enumerate(modes, start=1):
    x_hat = reports[mode].examples["ood"]["x_hat"]
    axes[0, j].imshow(x_hat[0, 0], cmap="seismic", vmin=-v, vmax=v, aspect="auto")
    axes[0, j].set_title(f"{mode}: {reports[mode].conditions['ood']['psnr']:.2f} dB")
    axes[1, j].imshow(
        (x_hat - x_ood)[0, 0].abs(), cmap="magma", vmin=0, vmax=v / 2, aspect="auto"
    )
    axes[1, j].set_title(f"{mode}: |error|")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
