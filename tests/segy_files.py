"""SEG-Y files for the tests of the SEG-Y reader (segyio is optional: import this module after
``pytest.importorskip("segyio")``)."""

import numpy as np
import pytest

segyio = pytest.importorskip("segyio")


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


def random_line(path, shape=(64, 96), seed=0):
    """A 2-D line of standard normal samples."""
    section = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return write_line(path, section)


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
    """Write an inline-sorted 3-D SEG-Y cube; ``values[(il, xl, off)]`` overrides a trace (the
    others encode their position, :func:`cube_values`)."""
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
