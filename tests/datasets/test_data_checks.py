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
def write_line(path, section, endian="big", fmt=5, cdp=None, offsets=None):
    """Write a (T, N) section as a 2-D SEG-Y line without inline/crossline geometry."""
    T, N = section.shape
    spec = segyio.spec()
    spec.format = fmt
    spec.samples = range(T)
    spec.tracecount = N
    spec.endian = endian
    with segyio.create(str(path), spec) as f:
        for i in range(N):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_LINE: i + 1,
                segyio.TraceField.CDP: i + 1 if cdp is None else int(cdp[i]),
                segyio.TraceField.offset: 0 if offsets is None else int(offsets[i]),
            }
            f.trace[i] = np.ascontiguousarray(section[:, i], dtype=np.float32)
    return path


def cube_values(ilines, xlines, offsets, n_time):
    """Trace values that encode their position: value = 100 * il + xl + offset / 100 + t / 1e4."""
    t = np.arange(n_time) / 1e4
    return {
        (il, xl, off): (100.0 * il + xl + off / 100 + t).astype(np.float32)
        for il in ilines
        for xl in xlines
        for off in offsets
    }


def write_cube(path, ilines, xlines, offsets=(1,), n_time=12, values=None):
    """Write an inline-sorted 3-D SEG-Y cube; ``values[(il, xl, off)]`` overrides a trace."""
    spec = segyio.spec()
    spec.format = 5
    spec.samples = range(n_time)
    spec.ilines, spec.xlines, spec.offsets = ilines, xlines, offsets
    spec.sorting = segyio.TraceSortingFormat.INLINE_SORTING
    data = cube_values(ilines, xlines, offsets, n_time)
    data.update(values or {})
    with segyio.create(str(path), spec) as f:
        n = 0
        for il in ilines:
            for xl in xlines:
                for off in offsets:
                    f.header[n] = {
                        segyio.TraceField.INLINE_3D: il,
                        segyio.TraceField.CROSSLINE_3D: xl,
                        segyio.TraceField.offset: off,
                        segyio.TraceField.CDP: 1000 * il + xl,
                    }
                    f.trace[n] = data[(il, xl, off)]
                    n += 1
    return path


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


def test_segy_dead_inline_of_a_cube_rejected(tmp_path):
    xlines = (10, 11, 12)
    dead = {(2, xl, 1): np.zeros(12, np.float32) for xl in xlines}
    path = write_cube(tmp_path / "cube.sgy", (1, 2, 3), xlines, values=dead)
    with pytest.raises(ValueError, match=r"cube\.sgy.*inline 2 has no usable sample"):
        SegyDataset(path, patch_size=(12, 3))


def test_segy_one_spike_does_not_rescale_the_section(tmp_path, section):
    spiky = section.copy()
    spiky[5, 7] = -1e30
    path = write_line(tmp_path / "spike.sgy", spiky)
    with pytest.warns(RuntimeWarning, match=r"spike\.sgy.*1 spike sample"):
        ds = SegyDataset(path, patch_size=(50, 40), normalize="max")
    assert ds.n_spikes == 1
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
    assert float(raw[0].abs().max()) == 1.0 and float(raw[0][0, 0, 0].abs()) < 1e-20


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
