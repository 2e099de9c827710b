"""The package installs, exports its contract names and has a working command line."""

import subprocess
import sys

import deepinv_jitter
from deepinv_jitter import cli

CONTRACT = {
    "JitterTrainer",
    "JitterGDIteration",
    "JitterPGDIteration",
    "jitterize",
    "SeismicDeconvolution",
    "ricker",
}


def test_exports_contract_names():
    assert CONTRACT <= set(deepinv_jitter.__all__)
    for name in CONTRACT:
        assert getattr(deepinv_jitter, name) is not None


def test_version_matches_metadata():
    from importlib.metadata import version

    assert deepinv_jitter.__version__ == version("deepinv-jitter")


def test_cli_version(capsys):
    try:
        cli.main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert deepinv_jitter.__version__ in capsys.readouterr().out


def test_python_dash_m_matches_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "deepinv_jitter", "--version"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert deepinv_jitter.__version__ in out.stdout
