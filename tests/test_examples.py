"""Each gallery example runs at its smallest size and draws its figures.

Every ``examples/*/demo_*.py`` runs in a fresh interpreter with ``DEEPINV_JITTER_EXAMPLE_SMOKE=1``
(the examples' documented switch to their smallest size) and the ``Agg`` backend; a small wrapper
disables ``plt.show`` and saves every open figure afterwards, so the test sees what the gallery
would show.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/demo_*.py"))
# The figures each example draws (a lower bound: adding figures must not break the test).
MIN_FIGURES = {
    "demo_seismic_sgd_jittering.py": 3,
    "demo_mri_spgd_jittering.py": 2,
    "demo_robustness_evaluation.py": 3,
    "demo_denoising_theory.py": 1,
    "demo_jitter_unfolded_hqs.py": 2,
    "demo_select_sigma_deblurring.py": 1,
}

RUNNER = r"""
import json, runpy, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *args, **kwargs: None
runpy.run_path(sys.argv[1], run_name="__main__")
out, figures = sys.argv[2], []
for num in plt.get_fignums():
    fig = plt.figure(num)
    path = f"{out}/figure_{num}.png"
    fig.savefig(path, dpi=40)
    drawn = sum(len(ax.images) + len(ax.lines) + len(ax.patches) + len(ax.collections)
                for ax in fig.axes)
    figures.append({"path": path, "axes": len(fig.axes), "drawn": drawn})
print("FIGURES=" + json.dumps(figures))
"""


def test_every_section_and_example_is_in_gallery_form():
    assert (ROOT / "examples" / "README.rst").is_file()
    sections = {p.parent for p in EXAMPLES}
    assert {s.name for s in sections} >= {
        "seismic",
        "mri",
        "robustness",
        "theory",
        "unfolded",
    }
    for section in sections:
        assert (section / "README.rst").is_file(), section
    assert {p.name for p in EXAMPLES} >= set(MIN_FIGURES)
    for path in EXAMPLES:
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source))
        assert doc, f"{path.name}: no title docstring"
        title, underline = doc.strip().splitlines()[:2]
        assert set(underline) == {"="} and len(underline) >= len(title), path.name
        assert "# %%" in source, f"{path.name}: no text cells"
        assert "DEEPINV_JITTER_EXAMPLE_SMOKE" in doc, (
            f"{path.name}: smallest size not documented"
        )


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_at_smallest_size(path, tmp_path):
    env = dict(
        os.environ,
        DEEPINV_JITTER_EXAMPLE_SMOKE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=150,  # budget 60 s; the margin is for a loaded shared machine
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stderr[-4000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("FIGURES=")][-1]
    figures = json.loads(line.removeprefix("FIGURES="))
    assert len(figures) >= MIN_FIGURES.get(path.name, 1), proc.stdout[-2000:]
    for fig in figures:
        assert fig["axes"] >= 1 and fig["drawn"] >= 1, fig
        assert Path(fig["path"]).stat().st_size > 1000, fig
    assert not list(tmp_path.glob("**/*.pt")), "the example left checkpoints behind"
