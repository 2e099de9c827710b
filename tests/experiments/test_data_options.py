"""Data options of the tasks: every setting a data reader's error message suggests is a task
option the command line accepts (``--set KEY=VALUE``) and does what the message says; options of
real data are refused on the built-in data; the toy checks its sizes before allocating."""

import re
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import deepinv_jitter
from deepinv_jitter.cli import build_parser, main
from deepinv_jitter.experiments.tasks import get_spec, get_task

segyio = pytest.importorskip("segyio")
from segy_files import write_cube, write_line  # noqa: E402

# A suggestion in a reader's message is written "pass KEY=VALUE" (VALUE a Python literal).
SUGGESTION = re.compile(r"\bpass (\w+)=('[^']*'|\([^()]*\)|[^\s,;]+)")
READERS = [
    Path(deepinv_jitter.__file__).parent / "datasets" / name
    for name in ("segy.py", "seismic.py", "mri.py", "toy.py")
]


def _write_cube(path, ilines, xlines, offsets=(1,), n_time=32, n_traces=None):
    """An inline-sorted cube of random samples; ``n_traces`` keeps only the first traces."""
    rng = np.random.default_rng(0)
    values = {
        (il, xl, off): rng.standard_normal(n_time).astype(np.float32)
        for il in ilines
        for xl in xlines
        for off in offsets
    }
    write_cube(path, ilines, xlines, offsets, n_time, values)
    if n_traces is not None:  # a transfer cut after n_traces whole traces
        data = path.read_bytes()
        path.write_bytes(data[: 3600 + n_traces * (240 + 4 * n_time)])
    return path


def _garbage_line(path):
    section = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    section.reshape(-1)[::20] = 1e30  # 5 % of the samples
    return write_line(path, section)


def _small_fastmri(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    k = (
        rng.standard_normal((6, 32, 32)) + 1j * rng.standard_normal((6, 32, 32))
    ).astype(np.complex64)
    with h5py.File(folder / "small.h5", "w") as f:
        f.create_dataset("kspace", data=k)
    return folder


# (task, bad data, settings that make the data usable apart from the suggestion)
CASES = {
    "pre-stack cube": (
        "seismic",
        lambda d: _write_cube(d / "pre.sgy", (1, 2), (10, 11, 12, 13), (5, 10, 15, 20)),
        dict(img_size=(32, 4)),
    ),
    "cube cut mid-inline": (
        "seismic",
        lambda d: _write_cube(
            d / "cut.sgy", (1, 2, 3), tuple(range(10, 18)), n_traces=20
        ),
        dict(img_size=(32, 4)),
    ),
    "5% gross outliers": (
        "seismic",
        lambda d: _garbage_line(d / "garbage.sgy"),
        dict(img_size=(16, 16)),
    ),
    "fastMRI k-space smaller than the crop": (
        "mri",
        lambda d: _small_fastmri(d / "fastmri"),
        dict(img_size=(32, 32)),
    ),
}


def _reader_error(task, data, settings):
    with pytest.raises(ValueError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        get_task(task, "smoke", data_root=data, **settings)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_every_suggestion_in_the_readers_is_covered_by_a_case(tmp_path):
    # the readers' source: every "pass KEY=" it can print is one the cases below produce
    in_source = {
        key
        for path in READERS
        for key in re.findall(r"\bpass (\w+)=", path.read_text())
    }
    produced = set()
    for name, (task, make, settings) in CASES.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        message = _reader_error(task, make(folder), settings)
        found = SUGGESTION.findall(message)
        assert found, f"{name}: no suggestion in {message!r}"
        produced |= {key for key, _ in found}
    assert in_source == produced, (in_source, produced)


@pytest.mark.parametrize("case", list(CASES))
def test_every_suggestion_is_accepted_by_the_cli_and_works(tmp_path, case):
    # Planted fault: the messages recommended prestack=, crop_size=, allow_padding= that the
    # command line could not pass (unknown task settings).
    task, make, settings = CASES[case]
    data = make(tmp_path)
    message = _reader_error(task, data, settings)
    for key, text in SUGGESTION.findall(message):
        args = build_parser().parse_args(
            ["compare", "--task", task, "--preset", "smoke", "--set", f"{key}={text}"]
        )
        ((parsed_key, value),) = args.set
        assert parsed_key == key
        config = get_spec(task).config("smoke", data_root=str(data), **{key: value})
        assert config.to_dict()[key] == (
            list(value) if isinstance(value, tuple) else value
        )
        # the suggestion does what the message says: the data is read
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # outliers zeroed: reported
            built = get_task(task, "smoke", data_root=data, **settings, **{key: value})
        assert len(built.train_dataset) >= 1 and len(built.test_dataset) >= 1
        assert built.train_dataset[0].shape[-2:] == settings["img_size"]


def test_cli_passes_data_options_to_the_reader(tmp_path, capsys):
    # end to end: the error names the option, --set with it trains (smoke sizes, 1 epoch)
    path = _write_cube(tmp_path / "pre.sgy", (1, 2), (10, 11, 12, 13), (5, 10, 15, 20))
    base = ["train", "--task", "seismic", "--preset", "smoke", "--mode", "mse"]
    base += ["--data-root", str(path), "--set", "img_size=(32,4)", "--set", "epochs=1"]
    assert main([*base, "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "pass prestack='gathers'" in capsys.readouterr().err
    argv = [
        *base,
        "--set",
        "prestack='gathers'",
        "--out",
        str(tmp_path / "b"),
        "--quiet",
    ]
    assert main(argv) == 0


def test_a_small_cube_fits_with_the_data_options(tmp_path):
    # segyio's own test cubes (5 x 5 traces of 50 samples) yield no 64 x 64 patch; every trace
    # in file order, smaller patches and a stride make one usable
    path = _write_cube(
        tmp_path / "small.sgy", (1, 2, 3, 4, 5), (20, 21, 22, 23, 24), n_time=50
    )
    with pytest.raises(ValueError, match="smaller than one patch"):
        get_task("seismic", "smoke", data_root=path)
    task = get_task(
        "seismic",
        "smoke",
        data_root=path,
        sections="traces",
        img_size=(32, 8),
        stride=(18, 4),
    )
    # 2 time offsets x 5 trace offsets in one 50 x 25 section
    assert len(task.train_dataset) + len(task.test_dataset) == 10
    assert task.settings()["stride"] == [18, 4] and task.option("sections") == "traces"


@pytest.mark.parametrize(
    "task, settings, match",
    [
        ("seismic", dict(prestack="gathers"), r"prestack='gathers': only SEG-Y data"),
        (
            "seismic",
            dict(sections="crossline", outlier_factor=10.0),
            r"sections='crossline', outlier_factor=10\.0: only SEG-Y data reads these",
        ),
        ("mri", dict(crop_size=(64, 64)), r"crop_size=\(64, 64\): only fastMRI data"),
        ("mri", dict(allow_padding=True), "allow_padding=True: only fastMRI data"),
    ],
)
def test_real_data_options_are_refused_on_the_built_in_data(task, settings, match):
    # they would be recorded in the run's settings without changing the data
    with pytest.raises(ValueError, match=match):
        get_task(task, "smoke", **settings)


def test_data_options_are_checked(tmp_path):
    path = _garbage_line(tmp_path / "g.sgy")
    for settings, match in [
        (dict(sections="timeslice"), "sections must be"),
        (dict(prestack=3), "prestack must be"),
        (dict(stride=0), "stride"),
        (dict(max_outlier_fraction=2.0), "max_outlier_fraction"),
        (dict(outlier_factor="big"), "outlier_factor"),
    ]:
        with pytest.raises(ValueError, match=match):
            get_task("seismic", "smoke", data_root=path, img_size=(16, 16), **settings)
    with pytest.raises(
        ValueError, match=r"crop_size must be a pair of positive integers"
    ):
        get_spec("mri").config("smoke", crop_size=(0, 3))


def test_default_data_and_settings_round_trip_unchanged():
    # the synthetic sections and embedded slices do not depend on the new options, and the
    # recorded settings (JSON lists) rebuild the same task
    seismic = get_task("seismic", "smoke")
    assert seismic.option("sections") == "inline" and seismic.option("prestack") is None
    from deepinv_jitter.datasets import SyntheticSeismicDataset

    ref = SyntheticSeismicDataset(16, n_time=64, n_traces=64, seed=0)
    assert torch.equal(seismic.train_dataset[3], ref[3])
    mri = get_task("mri", "smoke")
    settings = mri.settings()
    assert settings["crop_size"] == [320, 320] and settings["allow_padding"] is False
    again = get_spec("mri").config("smoke", crop_size=settings["crop_size"])
    assert again.options["crop_size"] == (320, 320)


# ---------------------------------------------------------------------- the toy's sizes
@pytest.mark.parametrize(
    "settings, match",
    [
        (dict(n_train=10**9), r"n_train must be at most 1048576 .* got 1000000000"),
        (dict(n_train=10**20), r"n_train must be at most 1048576"),
        (dict(n_test=2 * 10**6), r"n_test must be at most 1048576"),
        (dict(img_size=(100_000, 100_000)), r"img_size must hold at most 4096 values"),
        (dict(img_size=(64, 64), n_train=16385), r"n_train must be at most 16384"),
    ],
)
def test_denoising_sizes_are_checked_before_allocating(settings, match):
    # Planted fault: generalization --task denoising --n-train 1000000000 grew memory without
    # bound (the fixed training pairs) and printed nothing.
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        get_task("denoising", "smoke", **settings)
    assert time.perf_counter() - start < 5


def test_denoising_generalization_with_a_huge_size_exits_2_at_once(tmp_path, capsys):
    argv = ["generalization", "--task", "denoising", "--preset", "smoke", "--quiet"]
    argv += ["--n-train", "1000000000", "--out", str(tmp_path / "g")]
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "n_train must be at most 1048576" in err
