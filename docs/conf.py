"""Sphinx configuration for the deepinv-jitter documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html``. Add ``-D plot_gallery=0`` to build the
gallery pages without executing the examples (what the tests do). Intersphinx links to deepinv,
PyTorch and NumPy need the network; they are enabled only with ``DOCS_INTERSPHINX=1`` so that an
offline build stays warning-free.
"""

import argparse
import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import deepinv_jitter

project = "deepinv-jitter"
author = "deepinv-jitter developers"
copyright = "2026, deepinv-jitter developers"
version = release = deepinv_jitter.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": True}
# deepinv's Trainer documents its dataclass fields at class level; do not repeat them per field,
# and do not pull deepinv's own docstrings (written for deepinv's docs) into ours.
autodoc_inherit_docstrings = False
napoleon_google_docstring = False
napoleon_numpy_docstring = False

# deepinv's docstrings separate the description from the examples with ``|sep|``; several of ours
# follow that habit (e.g. deepinv_jitter.datasets.mri), so define it as deepinv's docs do.
rst_prolog = """
.. |sep| raw:: html

   <hr>
"""

intersphinx_mapping = {}
if os.environ.get("DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "deepinv": ("https://deepinv.github.io/deepinv/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "python": ("https://docs.python.org/3", None),
    }
# Unresolved references to deepinv/torch objects are expected offline; keep -W for our own pages.
nitpicky = False

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/demo_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    # DEEPINV_JITTER_EXAMPLE_SMOKE is not set here: the gallery runs each example at full size.
    # link API pages to the examples that use them (``.. minigallery::`` in the templates)
    "doc_module": ("deepinv_jitter",),
    "backreferences_dir": "gen_modules/backreferences",
    "show_memory": False,
}

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/**/*.ipynb",
    "auto_examples/**/*.py",
    "auto_examples/**/*.zip",
    "auto_examples/**/*.json",
    "auto_examples/**/*.md5",
]
html_theme = "pydata_sphinx_theme"
html_title = f"deepinv-jitter {release}"
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}


# --------------------------------------------------------------------------------------------------
# ``.. cli-help:: COMMAND``: the ``--help`` text of a ``deepinv-jitter`` command, taken from the
# argument parser at build time, so that the CLI page can never drift from the code.

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def cli_help_text(command: str = "") -> str:
    """``deepinv-jitter [COMMAND] --help`` as printed in an 88-column terminal."""
    from deepinv_jitter.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    try:
        parser = build_parser()
        if command:
            subparsers = [
                a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            ]
            parser = subparsers[0].choices[command]
        return parser.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def cli_commands() -> list[str]:
    """The sub-commands of ``deepinv-jitter``, in the parser's order."""
    from deepinv_jitter.cli import build_parser

    parser = build_parser()
    subparsers = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return list(subparsers[0].choices)


def _help_block(command: str):
    text = cli_help_text(command)
    block = nodes.literal_block(text, text)
    block["language"] = "text"
    return block


class CliHelp(SphinxDirective):
    """``.. cli-help:: [COMMAND]``: one command's help."""

    optional_arguments = 1

    def run(self):
        return [_help_block(self.arguments[0] if self.arguments else "")]


class CliHelpAll(SphinxDirective):
    """``.. cli-help-all::``: the help of ``deepinv-jitter`` and of every sub-command the parser
    has, each under a rubric, so that a new command appears without editing the page."""

    def run(self):
        out = []
        for command in [""] + cli_commands():
            title = f"deepinv-jitter {command}".strip()
            out += [nodes.rubric(title, title), _help_block(command)]
        return out


# ``.. task-settings::``: each registered task's defaults and presets as tables, read from the task
# registry (deepinv_jitter.experiments.tasks.REGISTRY) at build time, so that the page shows the
# values the code uses and a newly registered task appears without editing the docs.

_TASK_WIDE = (
    "algorithm",
    "noise_sigma",
    "attack_eps",
    "attack_relative",
    "attack_step_size",
    "jitter_sigma",
    "jitter_scale",
    "input_sigma",
    "learn_stepsize",
    "condition_on_y",
)

_TASK_WIDE_NOTES = {
    "attack_step_size": r" (``None``: Madry's :math:`2.5/\text{steps}`)",
    "noise_sigma": " (measurement noise std)",
    "attack_eps": " (L2 budget of the attack)",
}

_PRESET_COLUMNS = (
    ("img_size", "image size"),
    ("n_train", "train images"),
    ("n_test", "test images"),
    ("batch_size", "batch"),
    ("epochs", "epochs"),
    ("max_iter", "unrolled iterations"),
    ("hidden", "prior width"),
    ("lr", "learning rate"),
    ("train_attack_steps", "attack steps (adversarial training)"),
    ("eval_attack_steps", "attack steps (evaluation)"),
    ("gaussian_draws", "random perturbations per sample, Gaussian condition"),
    ("attack_eps", "attack budget"),
)


def _cell(value) -> str:
    if value is None:
        return "``None``"
    if isinstance(value, tuple):
        return " x ".join(str(v) for v in value)
    return f"``{value!r}``" if isinstance(value, str) else str(value)


def task_setting(spec, preset: str, key: str):
    """A setting of a registered task at a preset: the preset's value, else the task's default,
    else the default of the :class:`TaskConfig` field (the order ``TaskSpec.config`` merges them)."""
    from deepinv_jitter.experiments.tasks import TaskConfig

    settings = {**spec.defaults, **spec.presets[preset]}
    if key in settings:
        return settings[key]
    if key in spec.options:
        return spec.options[key]
    return TaskConfig.__dataclass_fields__[key].default


def task_settings_rst() -> str:
    """reST list-tables: the task-wide settings of every registered task, then one table of
    presets per task."""
    from deepinv_jitter.experiments.presets import DEFAULT_PRESET, PRESET_NAMES
    from deepinv_jitter.experiments.tasks import REGISTRY

    specs = list(REGISTRY.values())
    lines = [
        f".. list-table:: Task-wide settings (``{DEFAULT_PRESET}`` preset)",
        "   :header-rows: 1",
        "",
    ]
    lines += ["   * - setting"] + [f"     - ``{spec.name}``" for spec in specs]
    for key in _TASK_WIDE:
        note = _TASK_WIDE_NOTES.get(key, "")
        lines += [f"   * - ``{key}``{note}"]
        lines += [
            f"     - {_cell(task_setting(s, DEFAULT_PRESET, key))}" for s in specs
        ]
    lines.append("")
    for spec in specs:
        lines += [f".. list-table:: ``{spec.name}`` presets: {spec.summary}"]
        lines += ["   :header-rows: 1", ""]
        lines += ["   * - setting"] + [f"     - ``{p}``" for p in PRESET_NAMES]
        keys = list(_PRESET_COLUMNS) + [(k, "task option") for k in spec.options]
        for key, label in keys:
            lines += [f"   * - {label} (``{key}``)"]
            lines += [
                f"     - {_cell(task_setting(spec, p, key))}" for p in PRESET_NAMES
            ]
        lines.append("")
    return "\n".join(lines)


class TaskSettings(SphinxDirective):
    def run(self):
        return self.parse_text_to_nodes(task_settings_rst())


def setting_declarations_rst() -> str:
    """reST list-table of every task setting, from its one declaration
    (:data:`deepinv_jitter.experiments.tasks.base.SETTINGS`)."""
    from deepinv_jitter.experiments.tasks.base import SETTINGS, STAGES

    lines = [
        ".. list-table:: Task settings (``--set KEY=VALUE``; a preset or a task may change the "
        "default)",
        "   :header-rows: 1",
        "   :widths: 18 18 14 20 30",
        "",
        "   * - setting",
        "     - type",
        "     - default",
        "     - read by",
        "     - what it is",
    ]
    for name, m in SETTINGS.items():
        reads = STAGES[m["stage"]]
        if m["mode"]:
            reads += f" (``{m['mode']}`` only)"
        lines += [
            f"   * - ``{name}``",
            f"     - {m['kind']}",
            f"     - ``{m['default']!r}``",
            f"     - {reads}",
            f"     - {m['help']}",
        ]
    return "\n".join(lines) + "\n"


class SettingDeclarations(SphinxDirective):
    def run(self):
        return self.parse_text_to_nodes(setting_declarations_rst())


# A module-level constant without a docstring (e.g. ``REGISTRY = {...}``) would be shown with the
# docstring of its type (``dict``'s), which is not reST and is no documentation of the constant.
def _drop_type_docstring(app, what, name, obj, options, lines):
    if what not in ("data", "attribute") or not lines:
        return
    type_doc = type(obj).__doc__
    if type_doc and "\n".join(lines).strip() == inspect.cleandoc(type_doc).strip():
        lines.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _drop_type_docstring)
    app.add_directive("cli-help", CliHelp)
    app.add_directive("cli-help-all", CliHelpAll)
    app.add_directive("task-settings", TaskSettings)
    app.add_directive("setting-declarations", SettingDeclarations)
