"""Every task setting is declared once; its check, the docstring, the command line's help, the
user guide's table and the run identity are derived from that declaration."""

import dataclasses
import importlib.util
import warnings
from pathlib import Path

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.experiments import checkpoints
from deepinv_jitter.experiments.tasks import REGISTRY, Task, TaskConfig
from deepinv_jitter.experiments.tasks.base import (
    EVAL_ONLY,
    MODE_ONLY,
    PLACE_ONLY,
    SETTINGS,
    settings_help,
)

ROOT = Path(__file__).resolve().parents[2]


def _docs_conf():
    spec = importlib.util.spec_from_file_location(
        "docs_conf", ROOT / "docs" / "conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_every_field_is_declared_with_check_help_type_and_stage():
    fields = [
        f.name
        for f in dataclasses.fields(TaskConfig)
        if f.name not in ("name", "preset", "options")
    ]
    assert list(SETTINGS) == fields
    for name, meta in SETTINGS.items():
        assert callable(meta["check"]) and meta["help"] and meta["kind"], name
        assert meta["stage"] in ("train", "eval", "place"), name


def test_the_cli_help_and_the_user_guide_table_are_the_declarations(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    cli = " ".join(
        capsys.readouterr().out.split()
    )  # argparse rewraps nothing: one line each
    table = _docs_conf().setting_declarations_rst()
    derived = settings_help()
    for name, meta in SETTINGS.items():
        help_line = " ".join(meta["help"].split())
        assert f"{name} ({meta['kind']}" in cli and help_line in cli, name
        assert f"``{name}``" in table and meta["help"] in table, name
        assert name in derived
    assert ".. setting-declarations::" in (ROOT / "docs" / "user_guide.rst").read_text()


def test_the_docstring_lists_every_setting():
    for name, meta in SETTINGS.items():
        assert f":param {name}: {meta['help']}" in TaskConfig.__doc__, name


def test_the_identity_lists_come_from_the_declarations():
    assert checkpoints.EVAL_ONLY is EVAL_ONLY and checkpoints.MODE_ONLY is MODE_ONLY
    assert checkpoints.PLACE_ONLY is PLACE_ONLY
    assert EVAL_ONLY == {k for k, m in SETTINGS.items() if m["stage"] == "eval"}


def test_the_declared_check_refuses_a_bad_value_naming_the_setting():
    bad = {
        "int >= 1": 0,
        "int >= 0": -1,
        "float >= 0": -1.0,
        "float > 0": 0.0,
        "bool": "yes",
    }
    for name, meta in SETTINGS.items():
        if meta["kind"] in bad:
            with pytest.raises(ValueError, match=name):
                TaskConfig(name="seismic", **{name: bad[meta["kind"]]})


def test_settings_are_plain_attributes():
    assert "__getattr__" not in vars(Task)
    task_config = REGISTRY["seismic"].config("smoke")
    assert task_config.max_iter == 3 and task_config.hidden == 8


def test_former_names_still_work_with_a_deprecation(tmp_path, capsys):
    with pytest.warns(DeprecationWarning, match="n_iter"):
        config = REGISTRY["seismic"].config("smoke", n_iter=2)
    assert config.max_iter == 2
    with pytest.warns(DeprecationWarning, match="channels"):
        assert config.replace(channels=6).hidden == 6
    with pytest.raises(ValueError, match="same setting"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        REGISTRY["seismic"].config("smoke", n_iter=2, max_iter=3)
    out = tmp_path / "run"
    argv = [
        "train",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--mode",
        "mse",
        "--quiet",
    ]
    assert (
        main(argv + ["--out", str(out), "--set", "n_iter=2", "--set", "epochs=1"]) == 0
    )
    assert "--set n_iter is now --set max_iter" in capsys.readouterr().err
    assert (
        checkpoints.load_checkpoint(out / checkpoints.FINAL)["meta"]["settings"][
            "max_iter"
        ]
        == 2
    )
    both = ["--set", "n_iter=2", "--set", "max_iter=3", "--out", str(tmp_path / "b")]
    assert main(argv + both) == 2  # not silently one of them
    assert "same setting" in capsys.readouterr().err


def test_a_checkpoint_saved_with_former_names_still_loads(tmp_path):
    import torch

    from deepinv_jitter import load_model
    from deepinv_jitter.experiments.checkpoints import (
        FINAL,
        atomic_save,
        load_checkpoint,
    )

    out = tmp_path / "run"
    argv = [
        "train",
        "--task",
        "seismic",
        "--preset",
        "smoke",
        "--mode",
        "mse",
        "--quiet",
    ]
    assert main(argv + ["--out", str(out), "--set", "epochs=1"]) == 0
    ckpt = load_checkpoint(out / FINAL)
    settings = ckpt["meta"]["settings"]
    settings["n_iter"] = settings.pop("max_iter")  # as a 0.2 checkpoint records them
    settings["channels"] = settings.pop("hidden")
    atomic_save(ckpt, out / "old.pt")
    model = load_model(out / "old.pt")
    assert all(
        torch.equal(v, model.state_dict()[k]) for k, v in ckpt["state_dict"].items()
    )
