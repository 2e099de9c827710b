"""Data checks of the real-data readers: SEG-Y as users have it, and damaged fastMRI files."""

import re
import warnings

import h5py
import numpy as np
import pytest
import torch

from deepinv_jitter.datasets.mri import FastMRISingleCoilDataset
from deepinv_jitter.datasets.seismic import SegyDataset

segyio = pytest.importorskip("segyio")


# ---------------------------------------------------------------------------------- SEG-Y
from segy_files import cube_values, write_cube, write_line  # noqa: E402


@pytest.fixture
def section():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((50, 40)) * 3.0).astype(np.float32)


def test_segy_little_endian_reads_like_big_endian(tmp_path, section):
    big = write_line(tmp_path / "big.sgy", section, endian="big")
    little = write_line(tmp_path / "little.sgy", section, endian="little")
    assert (
        big.read_bytes()[3224:3226] != little.read_bytes()[3224:3226]
    )  # really swapped
    a = SegyDataset(big, patch_size=(20, 16), stride=(15, 12), normalize=None)
    b = SegyDataset(little, patch_size=(20, 16), stride=(15, 12), normalize=None)
    assert len(a) == len(b) == 9
    assert all(torch.equal(a[i], b[i]) for i in range(len(a)))
    np.testing.assert_array_equal(b[0][0].numpy(), section[:20, :16])
    np.testing.assert_array_equal(SegyDataset.read_section(little), section)


def _patch_format_code(path, code, endian="big"):
    raw = bytearray(path.read_bytes())
    raw[3224:3226] = int(code).to_bytes(2, endian, signed=True)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("code", [4, 7, 15, 0, 13, 99])
def test_segy_undecodable_format_code_rejected_before_reading(
    tmp_path, section, monkeypatch, code
):
    path = write_line(tmp_path / "fmt.sgy", section)
    _patch_format_code(path, code)

    def no_read(*args, **kwargs):
        raise AssertionError("segyio.open called for an undecodable format")

    monkeypatch.setattr(segyio, "open", no_read)
    with pytest.raises(ValueError, match=rf"fmt\.sgy.*\b{code}\b"):
        SegyDataset(path, patch_size=(8, 8))
    with pytest.raises(ValueError, match=rf"fmt\.sgy.*\b{code}\b"):
        SegyDataset.read_section(path)


def test_segy_undecodable_format_code_in_a_little_endian_file(tmp_path, section):
    path = write_line(tmp_path / "le.sgy", section, endian="little")
    _patch_format_code(path, 7, endian="little")
    with pytest.raises(
        ValueError, match=r"le\.sgy.*format code 7 \(3-byte signed integer\)"
    ):
        SegyDataset(path, patch_size=(8, 8))


@pytest.mark.parametrize("fmt", [1, 2, 3, 6, 8])
def test_segy_decodable_formats_still_read(tmp_path, fmt):
    section = np.arange(-60, 60, dtype=np.float32).reshape(12, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # segyio's narrowing notes
        path = write_line(tmp_path / "f.sgy", section, fmt=fmt)
    ds = SegyDataset(path, patch_size=(12, 10), normalize=None)
    np.testing.assert_array_equal(ds[0][0].numpy(), section)


def test_segy_cube_is_read_as_inline_or_crossline_sections(tmp_path):
    ilines, xlines, T = (1, 2, 3), (10, 11, 12, 13, 14, 15), 12
    path = write_cube(tmp_path / "cube.sgy", ilines, xlines, n_time=T)
    values = cube_values(ilines, xlines, (1,), T)
    inline = SegyDataset(path, patch_size=(T, 3), normalize=None)
    assert inline.layout == "cube" and inline.section is None
    assert inline.section_names == ["inline 1", "inline 2", "inline 3"]
    assert len(inline) == 3 * 2  # two 3-trace patches per 6-trace inline
    expected = np.stack([values[(2, xl, 1)] for xl in xlines[3:]], 1)
    np.testing.assert_array_equal(
        inline[3][0].numpy(), expected
    )  # inline 2, traces 3..5

    cross = SegyDataset(path, patch_size=(T, 3), normalize=None, sections="crossline")
    assert cross.section_names == [f"crossline {xl}" for xl in xlines]
    assert len(cross) == 6
    expected = np.stack([values[(il, 11, 1)] for il in ilines], 1)
    np.testing.assert_array_equal(cross[1][0].numpy(), expected)
    # a patch wider than a section gives no patch: before, the cube was one 18-trace "line"
    with pytest.raises(ValueError, match=r"each of the 3 sections.*found 0 patches"):
        SegyDataset(path, patch_size=(T, 7))


def test_segy_cube_with_one_inline_is_a_2d_line(tmp_path):
    xlines, T = tuple(range(20, 28)), 12
    path = write_cube(tmp_path / "one.sgy", (5,), xlines, n_time=T)
    ds = SegyDataset(path, patch_size=(T, 4), normalize=None)
    assert ds.layout == "line" and len(ds) == 2
    np.testing.assert_array_equal(ds.section.numpy(), SegyDataset.read_section(path))


def test_segy_prestack_cube_rejected_unless_asked_for(tmp_path):
    ilines, xlines, offsets, T = (1, 2), (10, 11, 12), (5, 10, 15), 12
    path = write_cube(tmp_path / "pre.sgy", ilines, xlines, offsets, n_time=T)
    with pytest.raises(
        ValueError, match=r"pre\.sgy.*pre-stack.*3 offsets.*prestack='gathers'"
    ):
        SegyDataset(path, patch_size=(T, 3))
    gathers = SegyDataset(path, patch_size=(T, 3), normalize=None, prestack="gathers")
    assert gathers.layout == "gathers" and len(gathers) == 6
    assert gathers.section_names[4] == "gather inline 2 crossline 11"
    values = cube_values(ilines, xlines, offsets, T)
    expected = np.stack([values[(2, 11, off)] for off in offsets], 1)
    np.testing.assert_array_equal(gathers[4][0].numpy(), expected)
    traces = SegyDataset(path, patch_size=(T, 18), normalize=None, prestack="traces")
    assert traces.layout == "traces" and len(traces) == 1


def test_segy_unstructured_prestack_line_read_as_cdp_gathers(tmp_path):
    # a 2-D pre-stack line: 4 CDPs x 3 offsets, no inline/crossline numbers, offsets unsorted
    cdp = np.repeat([101, 102, 103, 104], 3)
    offsets = np.tile([300, 100, 200], 4)
    section = (cdp * 10 + offsets / 100)[None, :] + np.arange(8)[:, None] / 1e3
    path = write_line(
        tmp_path / "cdp.sgy", section.astype(np.float32), cdp=cdp, offsets=offsets
    )
    with pytest.raises(ValueError, match=r"pre-stack.*3 distinct offsets.*CDP"):
        SegyDataset(path, patch_size=(8, 3))
    ds = SegyDataset(path, patch_size=(8, 3), normalize=None, prestack="gathers")
    assert ds.section_names == [f"gather CDP {c}" for c in (101, 102, 103, 104)]
    np.testing.assert_allclose(
        ds[2][0, 0].numpy(), [1031, 1032, 1033], rtol=0, atol=1e-3
    )


def test_segy_bad_samples_are_counted_and_reported(tmp_path, section):
    damaged = section.copy()
    damaged[3, 4] = damaged[10, 0] = damaged[49, 39] = np.nan
    damaged[20, 20] = np.inf
    path = write_line(tmp_path / "bad.sgy", damaged)
    with pytest.warns(RuntimeWarning, match=r"bad\.sgy.*4 non-finite sample"):
        ds = SegyDataset(path, patch_size=(50, 40), normalize=None)
    assert ds.n_bad_samples == 4
    expected = np.where(np.isfinite(damaged), damaged, 0)
    np.testing.assert_array_equal(ds[0][0].numpy(), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = SegyDataset(write_line(tmp_path / "ok.sgy", section), patch_size=(8, 8))
    assert clean.n_bad_samples == 0 and clean.n_spikes == 0


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_segy_all_nan_or_all_zero_section_rejected(tmp_path, fill):
    path = write_line(tmp_path / "dead.sgy", np.full((16, 12), fill, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(
            ValueError, match=r"dead\.sgy.*2-D line.*zero or non-finite"
        ):
            SegyDataset(path, patch_size=(8, 8))


@pytest.mark.parametrize("value", [1e30, -2.5])
def test_segy_constant_section_rejected(tmp_path, value):
    # Planted fault: a line of 1e30 everywhere (garbage no statistic of the file can tell from
    # data: its median is 1e30 too) was scaled to a constant section of ones and trained.
    path = write_line(tmp_path / "flat.sgy", np.full((16, 12), value, np.float32))
    with pytest.raises(
        ValueError, match=r"flat\.sgy': 2-D line is constant: all 192 samples"
    ):
        SegyDataset(path, patch_size=(8, 8))


def test_segy_dead_inline_of_a_cube_rejected(tmp_path):
    xlines = (10, 11, 12)
    dead = {(2, xl, 1): np.zeros(12, np.float32) for xl in xlines}
    path = write_cube(tmp_path / "cube.sgy", (1, 2, 3), xlines, values=dead)
    with pytest.raises(ValueError, match=r"cube\.sgy.*inline 2 has no usable sample"):
        SegyDataset(path, patch_size=(12, 3))


def test_segy_one_spike_does_not_rescale_the_section(tmp_path, section):
    # a moderate spike (5000, about 2500 x the median |x|: below the gross-outlier bound of
    # 1e4 x the median, far above 100 x the 99.9th percentile) is clipped, sign kept
    spiky = section.copy()
    spiky[5, 7] = -5000.0
    path = write_line(tmp_path / "spike.sgy", spiky)
    with pytest.warns(RuntimeWarning, match=r"spike\.sgy.*1 spike sample"):
        ds = SegyDataset(path, patch_size=(50, 40), normalize="max")
    assert ds.n_spikes == 1 and ds.n_outliers == 0
    x = ds[0][0].double().numpy()
    rest = np.ones(section.shape, bool)
    rest[5, 7] = False
    peak = np.abs(section[rest]).max()
    np.testing.assert_allclose(x[rest], section[rest] / peak, rtol=1e-6)  # normal scale
    assert (
        x[5, 7] == -1.0
    )  # the spike is clipped to the largest other magnitude, sign kept
    with pytest.warns(RuntimeWarning, match="spike"):
        std = SegyDataset(path, patch_size=(50, 40), normalize="std")
    assert abs(float(std[0].double().std(unbiased=False)) - 1) < 1e-6
    raw = SegyDataset(path, patch_size=(50, 40), spike_factor=None)  # the old behaviour
    assert float(raw[0].abs().max()) == 1.0 and float(raw[0][0, 0, 0].abs()) < 1e-3


def test_segy_too_few_patches_reported_at_construction(tmp_path, section):
    path = write_line(tmp_path / "few.sgy", section)
    with pytest.raises(ValueError, match=r"few\.sgy.* 4 patch\(es\).*min_patches=10"):
        SegyDataset(path, patch_size=(25, 20), min_patches=10)
    assert len(SegyDataset(path, patch_size=(25, 20), min_patches=4)) == 4
    with pytest.raises(ValueError, match="min_patches"):
        SegyDataset(path, patch_size=(25, 20), min_patches=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sections": "timeslice"}, "sections"),
        ({"prestack": "stack"}, "prestack"),
        ({"spike_factor": 0.5}, "spike_factor"),
    ],
)
def test_segy_new_option_checks(tmp_path, section, kwargs, match):
    path = write_line(tmp_path / "line.sgy", section)
    with pytest.raises(ValueError, match=match):
        SegyDataset(path, patch_size=(8, 8), **kwargs)


# ------------------------------------------------------------- SEG-Y: gross outliers
def _line_200(seed=0):
    """A 200 x 200 post-stack-like line: Ricker-blurred sparse reflectivity plus faint noise."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal((200, 200)) * (rng.random((200, 200)) < 0.1)
    t = np.arange(-12, 13) / 4.0
    wavelet = (1 - 2 * t**2) * np.exp(-(t**2))
    x = np.apply_along_axis(lambda c: np.convolve(c, wavelet, mode="same"), 0, r)
    return (x + 0.01 * rng.standard_normal(x.shape)).astype(np.float32)


def _plant(section, fraction, seed=1):
    """Set ``fraction`` of the samples (at random positions) to 1e30; return the mask."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(section.size, bool)
    mask[rng.choice(section.size, round(fraction * section.size), replace=False)] = True
    mask = mask.reshape(section.shape)
    section[mask] = 1e30
    return mask


def _median_nonzero(ds):
    x = ds.section.numpy()
    return float(np.median(np.abs(x[x != 0])))


@pytest.fixture(scope="module")
def clean_median(tmp_path_factory):
    path = write_line(tmp_path_factory.mktemp("clean") / "clean.sgy", _line_200())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean data: no outlier, no spike, no warning
        return _median_nonzero(SegyDataset(path, patch_size=(64, 64)))


def test_segy_clean_line_has_no_outliers(tmp_path):
    raw = _line_200()
    ds = SegyDataset(write_line(tmp_path / "clean.sgy", raw), patch_size=(64, 64))
    assert ds.n_outliers == ds.n_outlier_traces == ds.n_spikes == 0
    assert ds.outlier_counts == {} and ds.outlier_fraction == 0.0
    # the bound: 1e4 x the median non-zero |x| of the raw file
    expected = 1e4 * np.median(np.abs(raw[raw != 0]).astype(np.float64))
    assert ds.outlier_bound == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "case, n_planted",
    [("one sample", 1), ("one trace", 200), ("0.2%", 80), ("1%", 400)],
)
def test_segy_gross_outliers_up_to_one_percent_are_zeroed_and_reported(
    tmp_path, clean_median, case, n_planted
):
    # Planted fault: one trace (or 0.2 %, 1 % of the samples) at 1e30 scaled the rest of a
    # 200 x 200 line to a median |x| of 3e-31 and reported 0 spikes (the 99.9th percentile
    # that set the spike threshold was itself 1e30).
    section = _line_200()
    if case == "one trace":
        mask = np.zeros(section.shape, bool)
        mask[:, 17] = True
        section[mask] = 1e30
    else:
        mask = _plant(section, n_planted / section.size)
    path = write_line(tmp_path / "garbage.sgy", section)
    with pytest.warns(
        RuntimeWarning, match=rf"garbage\.sgy': {n_planted} gross outlier sample"
    ):
        ds = SegyDataset(path, patch_size=(64, 64))
    assert ds.n_outliers == n_planted and ds.outlier_counts == {"2-D line": n_planted}
    assert ds.outlier_fraction == pytest.approx(n_planted / 40_000)
    assert ds.n_outlier_traces == (1 if case == "one trace" else 0)
    x = ds.section.numpy()
    assert np.all(x[mask] == 0)  # garbage set to 0, like NaN
    # the scale of the rest is the clean file's: median non-zero |x| within 2 %
    assert _median_nonzero(ds) == pytest.approx(clean_median, rel=0.02)
    assert np.abs(x).max() == pytest.approx(1.0)


@pytest.mark.parametrize("percent", [2, 5])
def test_segy_gross_outliers_above_one_percent_refuse_the_file(tmp_path, percent):
    section = _line_200()
    _plant(section, percent / 100)
    path = write_line(tmp_path / "garbage.sgy", section)
    n = 400 * percent
    message = (
        rf"garbage\.sgy': {n} of 40000 samples \({percent}\.00% of the file; 0 whole "
        r"trace\(s\) among them\) are gross outliers.*more than max_outlier_fraction=0\.01"
    )
    with pytest.raises(ValueError, match=message) as err:
        SegyDataset(path, patch_size=(64, 64))
    assert "\n" not in str(err.value)
    # the two suggested settings do what they say
    suggested = dict(re.findall(r"pass (\w+)=(\S+?)(?= |$)", str(err.value)))
    with pytest.warns(RuntimeWarning, match=f"{n} gross outlier"):
        zeroed = SegyDataset(
            path,
            patch_size=(64, 64),
            max_outlier_fraction=float(suggested["max_outlier_fraction"]),
        )
    assert zeroed.n_outliers == n
    kept = SegyDataset(
        path,
        patch_size=(64, 64),
        outlier_factor=float(suggested["outlier_factor"]),
        spike_factor=None,
    )
    assert kept.n_outliers == 0 and _median_nonzero(kept) < 1e-25  # what was asked for


def test_segy_garbage_trace_is_zeroed_as_a_whole(tmp_path):
    # a trace of garbage whose small values look normal: more than half above the bound
    section = _line_200()
    garbage = np.where(np.arange(200) % 3 == 0, 0.5, 1e30).astype(np.float32)
    section[:, 50] = garbage
    path = write_line(tmp_path / "trace.sgy", section)
    with pytest.warns(RuntimeWarning, match=r"200 gross outlier.*1 whole trace"):
        ds = SegyDataset(path, patch_size=(64, 64))
    assert ds.n_outlier_traces == 1 and np.all(ds.section.numpy()[:, 50] == 0)


def test_segy_garbage_section_of_a_cube_refused_naming_it(tmp_path):
    # one inline of garbage in a cube: 1/3 of the file, all of inline 2
    xlines = tuple(range(10, 30))
    rng = np.random.default_rng(0)
    values = {
        (il, xl, 1): rng.standard_normal(12).astype(np.float32)
        for il in (1, 2, 3)
        for xl in xlines
    }
    values.update({(2, xl, 1): np.full(12, -3e29, np.float32) for xl in xlines})
    path = write_cube(tmp_path / "cube.sgy", (1, 2, 3), xlines, values=values)
    with pytest.raises(
        ValueError,
        match=r"cube\.sgy': 240 of 720 samples \(33\.33% of the file, 100\.00% of inline 2; "
        r"20 whole trace\(s\) among them\) are gross outliers",
    ):
        SegyDataset(path, patch_size=(12, 4))
    # a few garbage samples in one inline: zeroed and reported by section
    values.update({(2, xl, 1): values[(1, xl, 1)] for xl in xlines})
    values[(2, 12, 1)] = values[(2, 12, 1)].copy()
    values[(2, 12, 1)][3] = 1e30
    path = write_cube(tmp_path / "cube2.sgy", (1, 2, 3), xlines, values=values)
    with pytest.warns(
        RuntimeWarning, match=r"1 gross outlier.*by section: inline 2: 1"
    ):
        ds = SegyDataset(path, patch_size=(12, 4))
    assert ds.outlier_counts == {"inline 2": 1}


def test_segy_high_dynamic_range_data_is_not_an_outlier(tmp_path):
    # quiet water column over strong reflectors (max |x| ~ 1500 x the median): no outlier
    section = _line_200()
    section[:120] *= 1e-3
    path = write_line(tmp_path / "deep.sgy", section)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = SegyDataset(path, patch_size=(64, 64))
    assert ds.n_outliers == 0


def test_segy_outlier_rule_can_be_disabled_and_checks_its_arguments(tmp_path):
    section = _line_200()
    _plant(section, 0.05)
    path = write_line(tmp_path / "garbage.sgy", section)
    raw = SegyDataset(path, patch_size=(64, 64), outlier_factor=None)
    assert raw.n_outliers == 0 and raw.outlier_bound is None
    assert _median_nonzero(raw) < 1e-25  # the defect, asked for explicitly
    for kwargs, match in [
        ({"outlier_factor": 1}, "outlier_factor must be a number > 1"),
        ({"outlier_factor": float("nan")}, "outlier_factor"),
        (
            {"max_outlier_fraction": 1.5},
            r"max_outlier_fraction must be a number in \[0, 1\]",
        ),
        ({"max_outlier_fraction": True}, "max_outlier_fraction"),
    ]:
        with pytest.raises(ValueError, match=match):
            SegyDataset(path, patch_size=(64, 64), **kwargs)


# ------------------------------------------------------ SEG-Y: cubes segyio cannot infer
def _cut(path, out, n_traces, n_time=12):
    """The first ``n_traces`` whole traces of a SEG-Y file (a transfer cut mid-inline)."""
    data = path.read_bytes()
    out.write_bytes(data[: 3600 + n_traces * (240 + 4 * n_time)])
    return out


def test_segy_cube_cut_mid_inline_is_not_read_as_one_line(tmp_path):
    # Planted fault: a 3 x 6 cube holding 15 of its 18 traces was read as one 15-trace 2-D line.
    ilines, xlines = (1, 2, 3), (10, 11, 12, 13, 14, 15)
    full = write_cube(tmp_path / "full.sgy", ilines, xlines)
    cut = _cut(full, tmp_path / "cut.sgy", 15)
    message = (
        r"cut\.sgy' looks like a 3-D cube.*3 inlines and 6 crosslines, but its 15 traces "
        r"fill 15 of the 18 .*bins.*pass sections='traces'"
    )
    with pytest.raises(ValueError, match=message) as err:
        SegyDataset(cut, patch_size=(12, 3))
    assert "\n" not in str(err.value)
    # asked for: every trace in file order, one section
    ds = SegyDataset(cut, patch_size=(12, 3), normalize=None, sections="traces")
    assert ds.layout == "traces" and ds.section_names == ["all traces"]
    np.testing.assert_array_equal(ds.section.numpy(), SegyDataset.read_section(cut))
    # a whole cube read as traces: the 18 traces in file order
    whole = SegyDataset(full, patch_size=(12, 3), normalize=None, sections="traces")
    assert whole.layout == "traces" and whole.section.shape == (12, 18)
    sections, names = SegyDataset.read_sections(cut, sections="traces")
    assert names == ["all traces"] and sections[0].shape == (12, 15)


# ---------------------------------------------------------------------------------- fastMRI
def _kspace(n_slices, h, w, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n_slices, h, w)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(
        np.complex64
    )


def _write_h5(path, kspace):
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
    return path


def _index_of(ds, name, slice_ind):
    return next(
        i for i, (f, s) in enumerate(ds.samples) if f.name == name and s == slice_ind
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fastmri_non_finite_slice_named(tmp_path, bad):
    k = _kspace(3, 24, 24)
    k[1, 8:12, 8:12] = bad  # one damaged block in one slice
    _write_h5(tmp_path / "file1.h5", k)
    ds = FastMRISingleCoilDataset(tmp_path, img_size=(16, 16), crop_size=(16, 16))
    assert torch.isfinite(ds[_index_of(ds, "file1.h5", 0)]).all()
    with pytest.raises(
        ValueError, match=r"file1\.h5: slice 1 has 16 non-finite k-space"
    ):
        ds[_index_of(ds, "file1.h5", 1)]
    # volume_max scaling needs every slice: the damaged one is named even from slice 0
    vol = FastMRISingleCoilDataset(
        tmp_path, img_size=(16, 16), crop_size=(16, 16), scale="volume_max"
    )
    with pytest.raises(ValueError, match=r"file1\.h5: slice 1 has non-finite"):
        vol[_index_of(vol, "file1.h5", 0)]


def test_fastmri_all_zero_slice_rejected(tmp_path):
    k = _kspace(3, 24, 24)
    k[2] = 0
    _write_h5(tmp_path / "file2.h5", k)
    ds = FastMRISingleCoilDataset(tmp_path, img_size=(16, 16), crop_size=(16, 16))
    ds[_index_of(ds, "file2.h5", 1)]
    with pytest.raises(ValueError, match=r"file2\.h5: slice 2 is all zero"):
        ds[_index_of(ds, "file2.h5", 2)]


def test_fastmri_kspace_smaller_than_requested_size_rejected(tmp_path):
    _write_h5(tmp_path / "small.h5", _kspace(2, 32, 32))
    message = re.escape("small.h5 has k-space of 32 x 32, smaller than the requested")
    with pytest.raises(ValueError, match=message + r".*\(320, 320\)"):
        FastMRISingleCoilDataset(tmp_path)  # default img_size = crop_size = 320 x 320
    # asking for padding, or a crop that fits, works
    padded = FastMRISingleCoilDataset(tmp_path, img_size=(64, 64), allow_padding=True)
    assert padded[0].shape == (2, 64, 64)
    fits = FastMRISingleCoilDataset(tmp_path, img_size=(64, 64), crop_size=(32, 32))
    assert fits[0].shape == (2, 64, 64)


@pytest.mark.parametrize("shape", [(2, 100_000, 100_000), (2**21, 16, 16)])
def test_fastmri_huge_declared_kspace_refused_before_reading(tmp_path, shape):
    # Planted fault: an .h5 that declares a huge k-space (a few bytes on disk: nothing written)
    # was accepted, and loading a slice (or the volume) allocated it all.
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        f.create_dataset("kspace", shape=shape, dtype=np.complex64, chunks=(1, 16, 16))
    assert (tmp_path / "huge.h5").stat().st_size < 100_000
    n, h, w = shape
    message = (
        rf"huge\.h5 declares 'kspace' of shape \({n}, {h}, {w}\) \({h * w} values a slice, "
        rf"{n * h * w} a volume\); expected at most 16777216 a slice .* and 268435456 a volume"
    )
    with pytest.raises(ValueError, match=message) as err:
        FastMRISingleCoilDataset(tmp_path, img_size=(16, 16), crop_size=(16, 16))
    assert "\n" not in str(err.value)
