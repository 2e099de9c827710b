"""The library does not depend on the application, and the command line is only imported by its
entry points."""

import pathlib
import subprocess
import sys

import deepinv_jitter

ROOT = pathlib.Path(deepinv_jitter.__file__).parent


def test_the_library_imports_nothing_from_the_application():
    code = (
        "import sys; import deepinv_jitter, deepinv_jitter.physics, deepinv_jitter.optim, "
        "deepinv_jitter.training, deepinv_jitter.robustness, deepinv_jitter.datasets, "
        "deepinv_jitter.models; "
        "print(sorted(m for m in sys.modules if m.startswith('deepinv_jitter.experiments') "
        "or m == 'deepinv_jitter.cli'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_only_the_entry_points_import_the_cli():
    repo = ROOT.parent
    for path in [
        *ROOT.rglob("*.py"),
        *(repo / "benchmarks").glob("*.py"),
        *(repo / "examples").rglob("*.py"),
    ]:
        if path.name in ("cli.py", "__main__.py"):
            continue
        text = path.read_text()
        assert "deepinv_jitter.cli" not in text and "from .cli" not in text, path
        assert "from . import cli" not in text, path


def test_the_library_names_no_application_module():
    for sub in ("physics", "optim", "training", "robustness", "datasets", "models"):
        for path in (ROOT / sub).rglob("*.py"):
            text = path.read_text()
            assert "experiments" not in text.replace(
                "deepinv_jitter.experiments`", ""
            ), path
