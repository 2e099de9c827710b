"""The examples figure a reader trusts: each reconstruction panel labelled with its PSNR, colour
bars for the images and the error maps, and the attack curve of the whole test set."""

import matplotlib.pyplot as plt
import pytest
import torch

from deepinv_jitter.experiments.figures import examples_figure
from deepinv_jitter.experiments.runner import evaluate_model
from deepinv_jitter.experiments.tasks import get_task
from deepinv_jitter.robustness.evaluate import CONDITIONS


def _colour_bars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_example_panels_carry_their_psnr_and_colour_bars():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 8, 8, generator=g)
    examples = {
        mode: {
            c: {"x": x, "x_hat": x + 0.1 * i, "psnr": 30.0 - i - 0.25 * m}
            for i, c in enumerate(CONDITIONS)
        }
        for m, mode in enumerate(("mse", "sgd_jitter"))
    }
    fig = examples_figure(examples, title="t")
    try:
        labels = [ax.get_xlabel() for ax in fig.axes]
        for m in range(2):
            for i in range(len(CONDITIONS)):
                assert f"PSNR {30.0 - i - 0.25 * m:.2f} dB" in labels
        assert sum("dB" in label for label in labels) == 2 * len(CONDITIONS)
        bars = _colour_bars(fig)
        assert sorted(b.get_ylabel() for b in bars) == ["image value", "|error|"]
        # the image bar spans the signed range of the reference, the error bar starts at zero
        by_label = {b.get_ylabel(): b for b in bars}
        lo, hi = by_label["image value"].get_ylim()
        assert lo == pytest.approx(-float(x.abs().max())) and hi == -lo
        assert by_label["|error|"].get_ylim()[0] == 0
    finally:
        plt.close(fig)


def test_example_psnr_labels_match_the_evaluation(seismic_smoke):
    task, model = seismic_smoke
    report = evaluate_model(task, model, progress=False, curve_eps=[])
    fig = examples_figure({"mse": report.examples})
    try:
        labels = [ax.get_xlabel() for ax in fig.axes]
        for c in CONDITIONS:
            assert f"PSNR {report.examples[c]['psnr']:.2f} dB" in labels
    finally:
        plt.close(fig)


@pytest.fixture(scope="module")
def seismic_smoke():
    # two test batches of two sections: the curve must cover both
    task = get_task("seismic", "smoke").replace(eval_batch_size=2)
    return task, task.build_model()


def test_attack_curve_starts_at_the_table_value_over_the_whole_test_set(seismic_smoke):
    task, model = seismic_smoke
    report = evaluate_model(task, model, progress=False)
    assert report.n_samples == task.config.n_test == 4
    assert report.curve["eps"][0] == 0.0
    assert report.curve["psnr"][0] == pytest.approx(
        report.conditions["in_distribution"]["psnr"], abs=1e-9
    )
    assert report.curve_samples == report.n_samples
    i = report.curve["eps"].index(task.config.attack_eps)
    assert report.curve["psnr"][i] == pytest.approx(
        report.conditions["adversarial"]["psnr"], abs=1e-9
    )
