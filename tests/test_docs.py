"""The documentation builds with warnings as errors, and documents every public name.

The build runs on a copy of ``docs/`` and ``examples/`` in a temporary folder (sphinx-gallery and
autosummary write generated files into the source tree), without executing the gallery
(``-D plot_gallery=0``); the examples themselves run in ``test_examples.py``.
"""

import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sphinx")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("pydata_sphinx_theme")

PAGES = [
    "index",
    "overview",
    "user_guide",
    "results",
    "history",
    "api",
    "upstream",
    "changelog",
    "auto_examples/index",
]
EXAMPLES = sorted(
    p.relative_to(ROOT / "examples") for p in (ROOT / "examples").glob("*/demo_*.py")
)
# Every module whose public names the API reference must cover: the library, then the application.
APPLICATION = (
    "deepinv_jitter.experiments",
    "deepinv_jitter.tasks",
    "deepinv_jitter.cli",
)
MODULES = [
    "deepinv_jitter",
    "deepinv_jitter.physics",
    "deepinv_jitter.physics.seismic",
    "deepinv_jitter.physics.mri",
    "deepinv_jitter.optim",
    "deepinv_jitter.optim.jitter",
    "deepinv_jitter.training",
    "deepinv_jitter.training.perturbations",
    "deepinv_jitter.training.trainer",
    "deepinv_jitter.training.data_parallel",
    "deepinv_jitter.training.data_parallel.process_group",
    "deepinv_jitter.robustness",
    "deepinv_jitter.robustness.attacks",
    "deepinv_jitter.robustness.evaluate",
    "deepinv_jitter.robustness.shifts",
    "deepinv_jitter.robustness.metrics",
    "deepinv_jitter.selection",
    "deepinv_jitter.statistics",
    "deepinv_jitter.datasets",
    "deepinv_jitter.datasets.seismic",
    "deepinv_jitter.datasets.mri",
    "deepinv_jitter.models",
    "deepinv_jitter.experiments",
    "deepinv_jitter.experiments.tasks",
    "deepinv_jitter.experiments.tasks.base",
    "deepinv_jitter.experiments.presets",
    "deepinv_jitter.experiments.runner",
    "deepinv_jitter.experiments.study",
    "deepinv_jitter.experiments.lock",
    "deepinv_jitter.experiments.checkpoints",
    "deepinv_jitter.experiments.reports",
    "deepinv_jitter.experiments.figures",
    "deepinv_jitter.tasks",
    "deepinv_jitter.cli",
]
# modules being added to the package: covered once their file exists
for _after, _module in [
    ("deepinv_jitter.datasets.mri", "deepinv_jitter.datasets.gaussian_subspace"),
    ("deepinv_jitter.datasets.gaussian_subspace", "deepinv_jitter.datasets.toy"),
    ("deepinv_jitter.models", "deepinv_jitter.models.linear"),
    ("deepinv_jitter.experiments.presets", "deepinv_jitter.experiments.arguments"),
]:
    if (ROOT / (_module.replace(".", "/") + ".py")).is_file():
        MODULES.insert(MODULES.index(_after) + 1, _module)
# Modules the reference does not cover: private helpers, and the task modules (each is one
# ``SPEC`` read through the registry; their settings are the tables of the user guide).
NOT_DOCUMENTED = {
    "deepinv_jitter.__about__",
    "deepinv_jitter.__main__",
    "deepinv_jitter._checks",
}
NOT_DOCUMENTED_PREFIXES = ("deepinv_jitter.experiments.tasks.",)


def public_names(module_name: str) -> list[str]:
    """``__all__``, or else the functions and classes defined in the module without a leading ``_``."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return [n for n in module.__all__ if n != "__version__"]
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module_name
    ]


def _covered_by_parent(name: str) -> bool:
    """A submodule whose public names are all re-exported, and documented, by its package."""
    parent = name.rsplit(".", 1)[0]
    if parent not in MODULES:
        return False
    parent_names = set(public_names(parent))
    return set(public_names(name)) <= parent_names


def test_every_module_is_covered():
    import pkgutil

    import deepinv_jitter

    found = ["deepinv_jitter"] + [
        m.name
        for m in pkgutil.walk_packages(deepinv_jitter.__path__, "deepinv_jitter.")
    ]
    base = "deepinv_jitter.experiments.tasks.base"
    uncovered = [
        name
        for name in found
        if name not in MODULES
        and name not in NOT_DOCUMENTED
        and (name == base or not name.startswith(NOT_DOCUMENTED_PREFIXES))
        and not _covered_by_parent(name)
    ]
    assert not uncovered, f"modules missing from MODULES and docs/api.rst: {uncovered}"


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    src = tmp_path_factory.mktemp("docs_src")
    shutil.copytree(
        ROOT / "docs",
        src / "docs",
        ignore=shutil.ignore_patterns(
            "_build", "gen_modules", "auto_examples", "generated"
        ),
    )
    shutil.copytree(ROOT / "examples", src / "examples")
    out = src / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-D", "plot_gallery=0", str(src / "docs"), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, (
        f"sphinx-build -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    return out


@pytest.mark.slow
def test_pages_exist(html):
    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page
    for example in EXAMPLES:
        page = html / "auto_examples" / example.with_suffix(".html")
        assert page.is_file(), page
        assert "DEEPINV_JITTER_EXAMPLE_SMOKE" in page.read_text(), (
            f"{example}: no smoke note"
        )


@pytest.mark.slow
def test_every_public_name_has_an_api_page(html):
    pages = {p.stem for p in (html / "gen_modules").glob("*.html")}
    documented = {p.rsplit(".", 1)[-1] for p in pages}
    missing = [
        f"{module}.{name}"
        for module in MODULES
        for name in public_names(module)
        if name not in documented
    ]
    assert not missing, f"public names without an API page: {missing}"
    # the library on the API page, the application (experiments, tasks, cli) on its own page
    api = (html / "api.html").read_text()
    application = (html / "application.html").read_text()
    for module in MODULES:
        in_app = module.startswith(APPLICATION)
        page, other = (application, api) if in_app else (api, application)
        assert f'id="module-{module}"' in page, f"no module section for {module}"
        assert f'id="module-{module}"' not in other, f"{module} on the wrong page"


@pytest.mark.slow
def test_generated_sections_follow_the_code(html):
    from deepinv_jitter.cli import build_parser
    from deepinv_jitter.experiments.tasks import REGISTRY

    guide = (html / "user_guide.html").read_text()
    # the CLI help is rendered from the parser: every option of every command is on the page
    sub = next(
        a
        for a in build_parser()._actions
        if a.__class__.__name__ == "_SubParsersAction"
    )
    for command, parser in sub.choices.items():
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in guide, f"{command} {flag} missing from the user guide"
    # the preset tables are read from the task registry: one table per registered task
    for name, spec in REGISTRY.items():
        assert (
            f"{name}</span></code> presets" in guide
            or f"{name}</code> presets" in guide
        ), name
        for preset in spec.presets.values():
            if "img_size" in preset:
                h, w = preset["img_size"]
                assert f"{h} x {w}" in guide, (name, preset["img_size"])
    quick = REGISTRY["seismic"].presets["quick"]
    assert f"{quick['img_size'][0]} x {quick['img_size'][1]}" in guide
    assert "gaussian_draws" in guide


@pytest.mark.slow
def test_results_page_has_every_study_with_its_command(html):
    results = (html / "results.html").read_text()
    for section in (
        "Seismic deconvolution: the four modes over three seeds (quick preset)",
        "Denoising toy: SGD jittering with GD, PGD, HQS and ADMM unrolling (three seeds)",
        "The combination sgd_jitter+input_jitter against its parts (three seeds)",
        "Seismic: the combination against its parts (three seeds, quick preset)",
        "Denoising toy: generalisation against the oracle",
        "Paper scale (GPU)",
        "What the main job costs",
        "Speed profile",
    ):
        assert section in results, section
    source = (
        ROOT / "docs" / "results.rst"
    ).read_text()  # the html splits code into spans
    for command in (
        "generalization --task denoising",
        "--seeds 0,1,2",
        "--set algorithm=admm",
        "--reference sgd_jitter",
        "profile_quick.py",
        "gpu_campaign.sh",
    ):
        assert command in source, command
    # current findings only: the wording of a lab notebook lives on the history page
    for stale in ("this release", "the release before"):
        assert stale not in source.lower(), stale
    history = (html / "history.html").read_text()
    for section in ("How the seismic defaults were chosen", "Speed work in 0.2.0"):
        assert section in history, section
