"""Each gallery example teaches the library, runs at its smallest size and draws its figures.

No example imports the application layer (``deepinv_jitter.experiments``, ``deepinv_jitter.tasks``):
each builds its physics, data, model and trainer from the library and deepinv. Every ``examples/*/demo_*.py`` runs in a fresh interpreter with ``DEEPINV_JITTER_EXAMPLE_SMOKE=1``
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
    "demo_seismic_sgd_jittering.py": 4,
    "demo_mri_spgd_jittering.py": 3,
    "demo_robustness_evaluation.py": 3,
    "demo_denoising_theory.py": 1,
    "demo_jitter_unfolded_hqs.py": 3,
    "demo_select_sigma_deblurring.py": 1,
}

# The application layer: the examples teach the library, so none of them may import these.
APPLICATION = ("deepinv_jitter.experiments", "deepinv_jitter.tasks")


def application_imports(source: str) -> list[str]:
    """The modules of :data:`APPLICATION` (or below them) that ``source`` imports, parsed with
    ``ast``: ``import M``, ``from M import name``, ``from deepinv_jitter import tasks`` and
    ``importlib.import_module("M")`` / ``__import__("M")`` with a literal name."""

    def is_application(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in APPLICATION)

    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (
                    isinstance(node.func, ast.Attribute)
                    and node.func.attr == "import_module"
                )
            )
        ):
            names = [node.args[0].value]
        found += [name for name in names if is_application(name)]
    return found


@pytest.mark.parametrize(
    "source",
    [
        "from deepinv_jitter.experiments.runner import train_mode",
        "import deepinv_jitter.tasks as t",
        "from deepinv_jitter import tasks",
        "from deepinv_jitter import JitterTrainer, experiments",
        "import deepinv_jitter.experiments",
        "def f():\n    from deepinv_jitter.tasks import get_task",
        "import importlib\nimportlib.import_module('deepinv_jitter.experiments.tasks')",
    ],
)
def test_the_application_import_check_catches(source):
    assert application_imports(source)


def test_the_application_import_check_lets_the_library_through():
    source = (
        "import deepinv_jitter\n"
        "from deepinv_jitter import JitterTrainer, jitterize\n"
        "from deepinv_jitter.robustness import pgd_attack\n"
        "from deepinv_jitter.datasets import SyntheticSeismicDataset\n"
        "import deepinv_jitter.training.perturbations\n"
        "from deepinv_jitter.models import build_unrolled  # not deepinv_jitter.tasks\n"
        '"""deepinv_jitter.experiments in a docstring is prose, not an import"""\n'
    )
    assert application_imports(source) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_imports_the_library_not_the_application(path):
    found = application_imports(path.read_text())
    assert not found, (
        f"{path.name} imports the application layer {found}: build the physics, data, model "
        "and trainer from the library (deepinv_jitter.physics, .datasets, .models, "
        ".robustness, JitterTrainer) and deepinv instead"
    )


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
