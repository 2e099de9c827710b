"""Every command on the results page is one today's command line accepts.

The page says which command reproduces each number; this test keeps that true as the CLI changes.
It reads ``docs/results.rst``, takes every ``deepinv-jitter ...`` command (from code blocks, with
line continuations joined and ``#`` comments dropped, and from inline literals) and checks it the
way the CLI does before any work starts: the parser accepts it (``build_parser().parse_args``),
and for the commands that build a task, the CLI's own checks of ``--set`` (keys that have their own
flag, ``--seed`` with ``--seeds``) and the task's checks of every setting's name and value pass.
Former spellings that still work with a deprecation (``n_iter``, ``channels``) are refused here:
the page shows today's names. Nothing is trained, evaluated or written, and no data is built.
Every ``python benchmarks/X.py`` (or ``bash benchmarks/X.sh``) the page names must exist.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import torch

# imported before any test pretends that CUDA is there (deepinv looks for a GPU on import)
import deepinv_jitter.cli  # noqa: F401
from deepinv_jitter.experiments.tasks import REGISTRY  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "results.rst"

_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")


def _code_block_lines(text: str) -> list[str]:
    """The logical lines of the page's ``code-block`` / ``::`` blocks (continuations joined)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        starts = re.match(r"^(\s*)\.\. code-block::", line) or (
            line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        )
        if not starts:
            i += 1
            continue
        directive_indent = len(line) - len(line.lstrip())
        i += 1
        block: list[str] = []
        while i < len(lines):
            current = lines[i]
            if (
                current.strip()
                and len(current) - len(current.lstrip()) <= directive_indent
            ):
                break
            block.append(current)
            i += 1
        # skip the directive's options (":linenos:" and the like)
        body = [b for b in block if not re.match(r"^\s*:[a-z-]+:", b)]
        logical = ""
        for b in body:
            stripped = b.strip()
            if logical:
                logical += " " + stripped
            else:
                logical = stripped
            if logical.endswith("\\"):
                logical = logical[:-1].rstrip()
                continue
            if logical:
                out.append(logical)
            logical = ""
        if logical:
            out.append(logical)
    return out


def _inline_literals(text: str) -> list[str]:
    """Inline literals (````...````), whitespace (line breaks of the prose) collapsed."""
    return [" ".join(m.split()) for m in re.findall(r"``(.+?)``", text, flags=re.S)]


def _words(command: str) -> list[str]:
    """The command's words, ``#`` comments and leading ``VAR=value`` assignments dropped."""
    words = shlex.split(command, comments=True)
    while words and _ENV.match(words[0]):
        words = words[1:]
    return words


def page_commands(text: str) -> tuple[list[list[str]], list[list[str]]]:
    """``(deepinv-jitter commands, benchmark commands)`` named on the page, as word lists."""
    cli, scripts = [], []
    for command in _code_block_lines(text) + _inline_literals(text):
        words = _words(command)
        if not words:
            continue
        if words[0] == "deepinv-jitter":
            cli.append(words)
        elif words[0] in ("python", "python3", "bash") and len(words) > 1:
            if words[1].startswith("benchmarks/"):
                scripts.append(words)
    return cli, scripts


def check_command(words: list[str], monkeypatch) -> str | None:
    """``None`` when today's CLI accepts the command before any work, else why not."""
    from deepinv_jitter import cli
    from deepinv_jitter.experiments import tasks as tasks_module
    from deepinv_jitter.experiments.tasks import get_spec
    from deepinv_jitter.experiments.tasks.base import RENAMED

    argv = words[1:]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = cli.build_parser().parse_args(argv)
    except SystemExit as e:
        return f"refused by the parser (exit {e.code}): {err.getvalue().strip()}"
    if args.command is None:
        return "no command"
    if not hasattr(args, "set"):
        return None
    old = [key for key, _ in args.set if key in RENAMED]
    if old:
        return f"former setting names {old}: use {[RENAMED[k] for k in old]}"
    args.seed_given = any(a == "--seed" or a.startswith("--seed=") for a in argv)

    def config_only(name, preset, data_root=None, seed=0, device="cpu", **overrides):
        # the task's checks of every setting, without building its data
        return get_spec(name).config(
            preset, data_root=data_root, seed=seed, device=device, **overrides
        )

    monkeypatch.setattr(tasks_module, "get_task", config_only)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            cli._task_from_args(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        return f"refused before the work: {e}"
    return None


def _tree_for(words: list[str], where: Path) -> None:
    """Create the input folders a command names (``report DIR...``), so that it parses here."""
    if len(words) > 1 and words[1] == "report":
        skip = False
        for w in words[2:]:
            if skip:
                skip = False
                continue
            if w in ("--out", "--reference"):
                skip = True
                continue
            if not w.startswith("-"):
                (where / w).mkdir(parents=True, exist_ok=True)


TEXT = PAGE.read_text()
CLI_COMMANDS, SCRIPT_COMMANDS = page_commands(TEXT)


def test_the_page_names_commands():
    assert len(CLI_COMMANDS) >= 10, CLI_COMMANDS
    assert SCRIPT_COMMANDS, "no benchmark command found on the results page"


@pytest.mark.parametrize(
    "words", CLI_COMMANDS, ids=[" ".join(w)[:80] for w in CLI_COMMANDS]
)
def test_results_page_command_is_accepted(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # commands for a GPU are checked as the CLI checks them on a machine that has one
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _tree_for(words, tmp_path)
    problem = check_command(words, monkeypatch)
    assert problem is None, f"{' '.join(words)}\n  {problem}"


@pytest.mark.parametrize(
    "words", SCRIPT_COMMANDS, ids=[" ".join(w)[:80] for w in SCRIPT_COMMANDS]
)
def test_results_page_benchmark_exists(words):
    assert (ROOT / words[1]).is_file(), f"{' '.join(words)}: no such script"


# the extraction itself, on a page made up for the purpose


def test_extraction_joins_continuations_and_drops_comments():
    page = (
        "Title\n=====\n\n.. code-block:: bash\n\n"
        "   deepinv-jitter compare --task seismic \\\n"
        "       --seeds 0,1,2   # three seeds\n"
        "   OMP_NUM_THREADS=2 python benchmarks/seismic_operator.py\n\n"
        "Prose with ``deepinv-jitter sweep --task mri\n--sigmas 0.1`` and ``--resume``.\n"
    )
    cli, scripts = page_commands(page)
    assert cli == [
        ["deepinv-jitter", "compare", "--task", "seismic", "--seeds", "0,1,2"],
        ["deepinv-jitter", "sweep", "--task", "mri", "--sigmas", "0.1"],
    ]
    assert scripts == [["python", "benchmarks/seismic_operator.py"]]


@pytest.mark.parametrize(
    "command",
    [
        "deepinv-jitter compare --task seismic --set n_iter=3",  # former name
        "deepinv-jitter compare --task seismic --set channels=32",  # former name
        "deepinv-jitter compare --task seismic --set seed=1",  # has its own flag
        "deepinv-jitter compare --task seismic --set attack_eps=2",  # --eps
        "deepinv-jitter compare --task seismic --seed 0 --seeds 0,1,2",
        "deepinv-jitter compare --task seismic --set no_such_setting=1",
        "deepinv-jitter compare --task seismic --set algorithm=mlem",  # bad value
        "deepinv-jitter compare --task seismic --modes mse,nonsense",
        "deepinv-jitter sweep --task seismic",  # --sigmas missing
        "deepinv-jitter report --out x",  # no folder
    ],
)
def test_a_stale_command_is_caught(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_command(shlex.split(command), monkeypatch) is not None
