"""Reports and figures of the application: JSON without NaN, the markdown table, the figures."""

import json
import math

import pytest
import torch

from deepinv_jitter.experiments.figures import (
    plot_attack_curves,
    plot_examples,
    plot_tradeoff,
)
from deepinv_jitter.experiments.reports import json_safe, results_markdown, write_json
from deepinv_jitter.robustness.evaluate import CONDITIONS


def test_table_and_figures(tmp_path):
    res = {
        "mse": {c: {"psnr": 30.0 - i, "ssim": 0.9} for i, c in enumerate(CONDITIONS)},
        "sgd_jitter": {
            c: {"psnr": 31.0 - i, "ssim": 0.8} for i, c in enumerate(CONDITIONS)
        },
    }
    md = results_markdown(res, {"mse": 10.0, "sgd_jitter": 10.5})
    lines = md.splitlines()
    assert lines[0].startswith("| mode | In distribution")
    assert len(lines) == 4 and lines[2].startswith("| mse | 30.00 / 0.900 | 29.00")
    assert lines[3].endswith("| 10.5 |")
    ex = {"x": torch.randn(1, 1, 8, 8), "x_hat": torch.randn(1, 1, 8, 8)}
    examples = {m: {c: ex for c in CONDITIONS} for m in res}
    assert plot_examples(examples, tmp_path / "g.png").stat().st_size > 1000
    # two-channel (MRI) images are shown as magnitudes
    ex2 = {"x": torch.rand(1, 2, 8, 8), "x_hat": torch.rand(1, 2, 8, 8)}
    assert plot_examples({"mse": {"in_distribution": ex2}}, tmp_path / "m.png").exists()
    curves = {m: {"eps": [0, 1], "psnr": [30, 25]} for m in res}
    assert plot_attack_curves(curves, tmp_path / "c.png").exists()
    pts = [{"label": "mse", "in_distribution": 30, "adversarial": 25}]
    pts += [
        {"label": "s", "sigma": s, "in_distribution": 30 - s, "adversarial": 25 + s}
        for s in (1, 2)
    ]
    assert plot_tradeoff(pts, tmp_path / "t.png").exists()


def test_json_output_never_holds_nan(tmp_path):
    p = write_json(
        {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": 2}},
        tmp_path / "r.json",
    )
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": 2}}
    assert json_safe(math.inf) is None
    assert [q.name for q in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(TypeError):
        write_json({"x": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_test_set_error_is_the_spread_over_sqrt_n():
    from deepinv_jitter.experiments.reports import _test_sem

    values = [20.0, 21.0, 23.0, 24.0]
    std = math.sqrt(sum((v - 22.0) ** 2 for v in values) / 3)
    got = _test_sem({"in_distribution": values, "ood": [1.0]})
    assert got == {"in_distribution": pytest.approx(std / 2)}
