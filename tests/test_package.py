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
    "strip_jitter",
    "select_sigma",
    "load_model",
}


def test_exports_contract_names():
    assert CONTRACT <= set(deepinv_jitter.__all__)
    for name in CONTRACT:
        assert getattr(deepinv_jitter, name) is not None
    assert set(deepinv_jitter.__all__) - {"__version__"} <= CONTRACT


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


def test_check_number_is_the_one_numeric_check():
    import numpy as np
    import pytest

    from deepinv_jitter._checks import check_number
    from deepinv_jitter.datasets.gaussian_subspace import GaussianSubspaceModel
    from deepinv_jitter.models import LinearDenoiser

    assert check_number(np.int64(3), "n", low=1, integer=True) == 3
    assert check_number(np.float32(0.5), "s", low=0) == 0.5
    for bad, kw in [
        (True, {}),
        (1.5, {"integer": True}),
        (float("nan"), {}),
        (0, {"strict": True}),
    ]:
        with pytest.raises(ValueError, match="x must be"):
            check_number(bad, "x", low=0, **kw)
    # the toy model and the linear prior use it: the same message
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        GaussianSubspaceModel(k=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 2.0"):
        LinearDenoiser(2.0)
