r"""Patches of real seismic sections read from SEG-Y files with ``segyio``: :class:`SegyDataset`.

The reader detects the byte order, refuses sample formats ``segyio`` cannot decode, reads 2-D lines,
3-D cubes (as inline or crossline sections) and, when asked, pre-stack gathers; it refuses a cube
whose geometry ``segyio`` cannot infer (a file cut mid-inline, an irregular survey) instead of
reading it as one 2-D line; and it finds garbage samples by a robust statistic before scaling, so
that a few huge values never set the scale of a section. :class:`SegyDataset` is also importable
from :mod:`deepinv_jitter.datasets.seismic` and :mod:`deepinv_jitter.datasets`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
from deepinv.datasets import ImageDataset

from .._checks import positive_int as _positive_int

__all__ = ["SegyDataset"]

_SEGY_HINT = "pip install deepinv-jitter[seismic]"

#: SEG-Y rev 2 data sample format codes (binary header bytes 3225-3226).
_SEGY_FORMATS = {
    1: "4-byte IBM float",
    2: "4-byte signed integer",
    3: "2-byte signed integer",
    4: "4-byte fixed point with gain",
    5: "4-byte IEEE float",
    6: "8-byte IEEE float",
    7: "3-byte signed integer",
    8: "1-byte signed integer",
    9: "8-byte signed integer",
    10: "4-byte unsigned integer",
    11: "2-byte unsigned integer",
    12: "8-byte unsigned integer",
    15: "3-byte unsigned integer",
    16: "1-byte unsigned integer",
}
#: The codes segyio decodes (the dtype table of ``segyio.SegyFile``, segyio 1.9); it reads any
#: other code, 4, 7 and 15 included, as 4-byte IBM floats, which gives wrong samples.
_SEGYIO_FORMATS = (1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16)


def _import_segyio():
    try:
        import segyio
    except ImportError as err:
        raise ImportError(
            f"SegyDataset needs the optional package segyio: {_SEGY_HINT}"
        ) from err
    return segyio


def _segy_byte_order(path: str) -> str:
    """Byte order (``"big"`` or ``"little"``) of a SEG-Y file whose sample format segyio decodes.

    The order is the one in which bytes 3225-3226 hold a SEG-Y format code (the SEG-Y rev 2
    byte-order constant 0x01020304 at bytes 3297-3300, when present, decides first). Codes below 256
    read as a code in one order only, so the choice is unambiguous.
    """
    size = os.path.getsize(path)
    # A SEG-Y file has a 3200-byte textual header, a 400-byte binary header and 240-byte trace
    # headers; anything shorter cannot be one (segyio may otherwise report odd errors).
    if size < 3600 + 240:
        raise ValueError(
            f"{path!r} is not a SEG-Y file: {size} bytes, below the header size"
        )
    with open(path, "rb") as fh:
        fh.seek(3200)
        binary = fh.read(400)
    marker = binary[96:100]
    if marker == b"\x01\x02\x03\x04":
        orders = ("big",)
    elif marker == b"\x04\x03\x02\x01":
        orders = ("little",)
    else:
        orders = ("big", "little")
    codes = {
        e: int.from_bytes(binary[24:26], e, signed=True) for e in ("big", "little")
    }
    for endian in orders:
        if codes[endian] in _SEGY_FORMATS:
            code = codes[endian]
            break
    else:
        raise ValueError(
            f"{path!r} is not a readable SEG-Y file: its data sample format code (binary header "
            f"bytes 3225-3226) is {codes['big']} read big-endian and {codes['little']} read "
            f"little-endian, neither a SEG-Y format code {sorted(_SEGY_FORMATS)}"
        )
    if code not in _SEGYIO_FORMATS:
        raise ValueError(
            f"{path!r}: SEG-Y data sample format code {code} ({_SEGY_FORMATS[code]}) cannot be "
            f"decoded by segyio, which would read the samples as IBM floats; convert the file to "
            f"one of the codes {list(_SEGYIO_FORMATS)}, e.g. 5 (4-byte IEEE float)"
        )
    return endian


def _all_traces(f) -> np.ndarray:
    """Every trace of an open segyio file, ``(traces, samples)`` float64, in file order."""
    n_samples, n_traces = len(f.samples), f.tracecount
    if n_samples == 0 or n_traces == 0:
        raise ValueError("no samples or no traces")
    return np.asarray(f.trace.raw[:], dtype=np.float64).reshape(n_traces, n_samples)


def _gathers(traces, keys, offsets, label: str) -> tuple[list[np.ndarray], list[str]]:
    """Group traces sharing a key (order of first appearance), each sorted by offset.

    ``label`` formats a key into the gather's name, e.g. ``"CDP {0}"``.
    """
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(map(tuple, keys.tolist())):
        groups.setdefault(key, []).append(i)
    out, names = [], []
    for key, members in groups.items():
        members = np.asarray(members)
        members = members[np.argsort(offsets[members], kind="stable")]
        out.append(np.ascontiguousarray(traces[members].T))
        names.append("gather " + label.format(*key))
    return out, names


def _is_number(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _check_sections(sections) -> None:
    if sections not in ("inline", "crossline", "traces"):
        raise ValueError(
            f"sections must be 'inline', 'crossline' or 'traces', got {sections!r}"
        )


def _check_prestack(prestack) -> None:
    if prestack not in (None, "gathers", "traces"):
        raise ValueError(
            f"prestack must be None, 'gathers' or 'traces', got {prestack!r}"
        )


def _irregular_cube(f, field) -> str | None:
    """Why an unstructured post-stack file looks like a 3-D cube, or ``None`` if it does not.

    A file whose trace headers name at least two inline and two crossline numbers (bytes 189-192
    and 193-196) carries 3-D geometry; ``segyio`` leaves it unstructured when the traces do not
    fill the (inline, crossline) grid in inline or crossline order.
    """
    inlines = np.asarray(f.attributes(field.INLINE_3D)[:])
    crosslines = np.asarray(f.attributes(field.CROSSLINE_3D)[:])
    n_il, n_xl = len(np.unique(inlines)), len(np.unique(crosslines))
    if n_il < 2 or n_xl < 2:
        return None
    n_bins = n_il * n_xl
    filled = len(np.unique(np.stack([inlines, crosslines], 1), axis=0))
    what = (
        f"its trace headers (bytes 189-196) name {n_il} inlines and {n_xl} crosslines, but its "
        f"{f.tracecount} traces fill {filled} of the {n_bins} (inline, crossline) bins"
    )
    if filled == n_bins == f.tracecount:
        what += " out of inline and crossline order"
    return what


def _read_segy(path: str, sections: str, prestack: str | None):
    """Sections ``(T, N)`` float64, their names and the file layout; see :class:`SegyDataset`."""
    segyio = _import_segyio()
    endian = _segy_byte_order(path)
    field = segyio.TraceField
    out, names, layout, prestack_reason, irregular = [], [], "line", None, None
    try:
        with segyio.open(path, "r", strict=False, endian=endian) as f:
            if f.tracecount == 0 or len(f.samples) == 0:
                raise ValueError("no samples or no traces")
            if f.unstructured:
                offsets = np.asarray(f.attributes(field.offset)[:])
                cdp = np.asarray(f.attributes(field.CDP)[:])
                n_offsets = len(np.unique(offsets))
                if n_offsets > 1 and len(np.unique(cdp)) < f.tracecount:
                    prestack_reason = (
                        f"{n_offsets} distinct offsets (trace header bytes 37-40) and repeated "
                        "CDP numbers (bytes 21-24)"
                    )
                    keys, label = cdp[:, None], "CDP {0}"
                else:
                    irregular = _irregular_cube(f, field)
            elif len(f.offsets) > 1:
                offsets = np.asarray(f.attributes(field.offset)[:])
                prestack_reason = (
                    f"{len(f.offsets)} offsets per (inline, crossline) bin"
                )
                keys = np.stack(
                    [
                        np.asarray(f.attributes(field.INLINE_3D)[:]),
                        np.asarray(f.attributes(field.CROSSLINE_3D)[:]),
                    ],
                    1,
                )
                label = "inline {0} crossline {1}"
            elif len(f.ilines) > 1 and len(f.xlines) > 1 and sections != "traces":
                layout = "cube"
                if sections == "inline":
                    numbers, lines = f.ilines, f.iline
                else:
                    numbers, lines = f.xlines, f.xline
                for number in numbers:
                    line = np.asarray(lines[number], dtype=np.float64)
                    out.append(np.ascontiguousarray(line.T))
                    names.append(f"{sections} {int(number)}")
            # pre-stack data is read as prestack asks, post-stack data as sections asks
            wanted = prestack if prestack_reason is not None else sections
            if wanted == "gathers":
                layout = "gathers"
                out, names = _gathers(_all_traces(f), keys, offsets, label)
            elif wanted == "traces":
                layout = "traces"
                out, names = [np.ascontiguousarray(_all_traces(f).T)], ["all traces"]
            elif prestack_reason is None and layout == "line" and irregular is None:
                out, names = [np.ascontiguousarray(_all_traces(f).T)], ["2-D line"]
    except (RuntimeError, OSError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"{path!r} is not a readable SEG-Y file: {err}") from err
    if prestack_reason is not None and prestack is None:
        raise ValueError(
            f"{path!r} holds pre-stack data ({prestack_reason}); SegyDataset reads post-stack "
            "sections: stack the data first, or pass prestack='gathers' to read each gather as a "
            "2-D section, or pass prestack='traces' for every trace in file order"
        )
    if irregular is not None and sections != "traces":
        raise ValueError(
            f"{path!r} looks like a 3-D cube that segyio cannot read as one: {irregular} (a file "
            "cut mid-inline, or an irregular survey); it is not read as one 2-D line: re-export "
            "it as a full cube, or pass sections='traces' to read every trace in file order as "
            "one 2-D section"
        )
    return out, names, layout


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant digits (for suggested settings)."""
    if value <= 0:
        return value
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / step * (1 - 1e-12)) * step


class SegyDataset(ImageDataset):
    r"""Patches of post-stack seismic sections read from a SEG-Y file with ``segyio``.

    **Reading.** The byte order is detected (the one in which the binary header's data sample
    format code, bytes 3225-3226, is a SEG-Y code), so big- and little-endian files give the same
    tensors. Sample formats segyio cannot decode (codes 4, 7 and 15: fixed point with gain and
    3-byte integers) and unknown codes are rejected before any data is read. The sections are:

    - a 2-D line (no inline/crossline geometry, or a cube with a single inline or crossline): one
      ``(T_total, N_total)`` section, every trace in file order, as earlier versions did;
    - a 3-D post-stack cube: one section per inline (``sections="inline"``, default) or per
      crossline (``sections="crossline"``), traces ordered by the other line number;
    - ``sections="traces"``: every trace of a post-stack file in file order, one section;
    - a file whose trace headers name two or more inline and crossline numbers (bytes 189-196) but
      whose traces do not fill the (inline, crossline) grid in order, so that ``segyio`` cannot
      infer the cube (a file cut mid-inline, an irregular survey), is rejected unless
      ``sections="traces"``: it is never silently read as one 2-D line;
    - pre-stack data (several offsets per bin, or repeated CDP numbers with several offsets in a
      file without geometry) is rejected unless ``prestack="gathers"`` (one section per gather:
      traces sharing an (inline, crossline) bin, or a CDP number without geometry, sorted by
      offset) or ``prestack="traces"`` (every trace in file order, one section); ``sections`` is
      ignored for pre-stack data.

    **Bad samples.** Non-finite samples (NaN, inf) are set to 0; their count is kept in
    ``n_bad_samples`` and reported with a :class:`RuntimeWarning`.

    **Gross outliers** (garbage samples, found by a robust statistic). With :math:`m` the median
    of :math:`|x|` over the non-zero samples of the whole file (a statistic that up to half of
    the samples cannot move), the bound is :math:`b = \text{outlier\_factor} \cdot m` (default
    :math:`10^4 m`, 80 dB above the typical amplitude; clean post-stack data stays far below
    it). A sample with :math:`|x| > b` is a gross outlier, and so is every sample of a trace
    with more than half of its non-zero samples above :math:`b` (a trace whose median
    :math:`|x|` is above the bound is garbage as a whole). If more than ``max_outlier_fraction``
    (default 1%) of the samples of the file, or of any one section, are gross outliers, the file
    is refused with a :class:`ValueError` naming it, the count and the fraction (such a file is
    damaged or read with the wrong sample format); otherwise they are set to 0 like non-finite
    samples, counted (``n_outliers``, ``n_outlier_traces``, ``outlier_fraction``,
    ``outlier_counts`` per section, ``outlier_bound``) and reported with a
    :class:`RuntimeWarning`. So a few huge values never set the scale of a section: after
    ``"max"`` normalisation the median non-zero :math:`|x|` is at least ``scale`` /
    ``outlier_factor``. ``outlier_factor=None`` disables the rule.

    **Spikes.** Then, with :math:`q` the 99.9th percentile of :math:`|x|` over the non-zero
    samples of the file, a sample with :math:`|x| > \text{spike\_factor} \cdot q` is an isolated
    spike and is replaced by :math:`\mathrm{sign}(x)\, m'`, with :math:`m'` the largest
    :math:`|x|` of the other samples (count in ``n_spikes``, reported with a
    :class:`RuntimeWarning`): moderate spikes, too small to be gross outliers, are clipped
    without losing their sign, while clean data (:math:`\max |x| \ll 100 q`) is left unchanged.
    The rule assumes spikes are isolated (under 0.1% of the non-zero samples);
    ``spike_factor=None`` disables it.

    A section with no usable sample left (all zero, non-finite or gross outliers), or whose
    samples are all equal, is rejected.

    **Normalisation** (``normalize``), applied after the steps above, before cutting:

    - ``"max"`` (default): divide all sections by their largest absolute value, then multiply by
      ``scale``: all patches share one factor, so relative amplitudes are kept and
      :math:`|x| \le` ``scale``;
    - ``"std"``: divide all sections by their standard deviation, then multiply by ``scale``;
    - ``"patch_max"``: divide each patch by its own largest absolute value (all-zero patches stay
      0), then multiply by ``scale``;
    - ``None``: raw amplitudes.

    **Patches.** Each section of ``(T_s, N_s)`` samples is cut into ``(T, N)`` patches starting at
    multiples of ``stride``; a patch that would run past the end of the section is dropped (no
    padding), so a section gives
    :math:`(\lfloor (T_s-T)/s_t \rfloor + 1)(\lfloor (N_s-N)/s_n \rfloor + 1)` patches (none if it
    is smaller than one patch), ordered section by section, then time-major (all trace offsets for
    the first time offset, then the next).

    Needs the optional dependency ``segyio`` (``pip install deepinv-jitter[seismic]``).

    :param str path: SEG-Y file.
    :param tuple[int, int] patch_size: ``(T, N)``, time samples by traces.
    :param tuple[int, int], int, None stride: step between patch origins; default ``patch_size``
        (non-overlapping patches).
    :param str, None normalize: ``"max"``, ``"std"``, ``"patch_max"`` or ``None``.
    :param float scale: target scale after normalisation.
    :param torch.dtype dtype: dtype of the returned tensors.
    :param Callable, None transform: optional function applied to each ``x``.
    :param str sections: sections of a post-stack file: ``"inline"`` (default) or
        ``"crossline"`` sections of a 3-D cube, or ``"traces"`` (every trace in file order).
    :param str, None prestack: pre-stack data: ``None`` (default, rejected), ``"gathers"`` or
        ``"traces"``; ignored for post-stack files.
    :param float, None spike_factor: spike threshold in units of the 99.9th percentile of
        :math:`|x|` (default 100); ``None`` keeps spikes.
    :param int min_patches: smallest acceptable number of patches (default 1).
    :param float, None outlier_factor: gross-outlier bound in units of the median non-zero
        :math:`|x|` of the file, a number > 1 (default :math:`10^4`); ``None`` disables the rule.
    :param float max_outlier_fraction: largest fraction of gross outliers, in the file and in
        each section, that is set to 0 rather than refused, in ``[0, 1]`` (default 0.01).
    :raises ImportError: without ``segyio``.
    :raises FileNotFoundError: for a missing file.
    :raises ValueError: for a file that is not a readable SEG-Y file, an unsupported or unknown
        sample format code, pre-stack data without ``prestack``, a cube whose geometry segyio
        cannot infer without ``sections="traces"``, more than ``max_outlier_fraction`` gross
        outliers, a section with no usable sample or a constant one, sections smaller than one
        patch, fewer than
        ``min_patches`` patches, or bad arguments.

    After construction, ``section_data`` holds the normalised sections (float64 tensors
    ``(T_s, N_s)``), ``section_names`` their names (e.g. ``"inline 12"``), ``section`` the only
    section (``None`` when there are several), ``layout`` one of ``"line"``, ``"cube"``,
    ``"gathers"``, ``"traces"``, and ``n_bad_samples``, ``n_outliers``, ``n_outlier_traces``,
    ``outlier_fraction``, ``outlier_counts``, ``outlier_bound`` and ``n_spikes`` the counts
    above.

    >>> import tempfile, os, numpy as np, segyio
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "tiny.sgy")
    >>> spec = segyio.spec(); spec.format = 5; spec.samples = range(40); spec.tracecount = 30
    >>> with segyio.create(path, spec) as f:
    ...     for i in range(30):
    ...         f.header[i] = {segyio.TraceField.TRACE_SEQUENCE_LINE: i + 1}
    ...         f.trace[i] = np.sin(np.arange(40, dtype=np.float32) / 3 + i)
    >>> ds = SegyDataset(path, patch_size=(32, 16), stride=(8, 8))
    >>> len(ds), ds[0].shape, ds.layout, ds.n_outliers
    (4, torch.Size([1, 32, 16]), 'line', 0)
    >>> import shutil; shutil.rmtree(d)
    """

    def __init__(
        self,
        path: str,
        patch_size: tuple[int, int] = (352, 352),
        stride: tuple[int, int] | int | None = None,
        normalize: str | None = "max",
        scale: float = 1.0,
        dtype: torch.dtype = torch.float32,
        transform: Callable | None = None,
        sections: str = "inline",
        prestack: str | None = None,
        spike_factor: float | None = 100.0,
        min_patches: int = 1,
        outlier_factor: float | None = 1e4,
        max_outlier_fraction: float = 0.01,
    ):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"path must be a str or os.PathLike, got {type(path).__name__}"
            )
        if not (isinstance(patch_size, (tuple, list)) and len(patch_size) == 2):
            raise ValueError(f"patch_size must be a pair (T, N), got {patch_size!r}")
        self.patch_size = (
            _positive_int(patch_size[0], "patch_size[0]"),
            _positive_int(patch_size[1], "patch_size[1]"),
        )
        if stride is None:
            stride = self.patch_size
        elif not isinstance(stride, (tuple, list)):
            stride = (stride, stride)
        if len(stride) != 2:
            raise ValueError(
                f"stride must be an int or a pair (s_t, s_n), got {stride!r}"
            )
        self.stride = (
            _positive_int(stride[0], "stride[0]"),
            _positive_int(stride[1], "stride[1]"),
        )
        if normalize not in ("max", "std", "patch_max", None):
            raise ValueError(
                f"normalize must be 'max', 'std', 'patch_max' or None, got {normalize!r}"
            )
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        if transform is not None and not callable(transform):
            raise ValueError(
                f"transform must be callable or None, got {type(transform).__name__}"
            )
        _check_sections(sections)
        _check_prestack(prestack)
        if spike_factor is not None and not (
            _is_number(spike_factor) and spike_factor >= 1
        ):
            raise ValueError(
                f"spike_factor must be a number >= 1 or None, got {spike_factor!r}"
            )
        if outlier_factor is not None and not (
            _is_number(outlier_factor) and outlier_factor > 1
        ):
            raise ValueError(
                f"outlier_factor must be a number > 1 or None, got {outlier_factor!r}"
            )
        if not (_is_number(max_outlier_fraction) and 0 <= max_outlier_fraction <= 1):
            raise ValueError(
                f"max_outlier_fraction must be a number in [0, 1], got {max_outlier_fraction!r}"
            )
        self.min_patches = _positive_int(min_patches, "min_patches")
        self.normalize, self.scale, self.dtype, self.transform = (
            normalize,
            float(scale),
            dtype,
            transform,
        )
        self.sections, self.prestack = sections, prestack
        self.spike_factor = None if spike_factor is None else float(spike_factor)
        self.outlier_factor = None if outlier_factor is None else float(outlier_factor)
        self.max_outlier_fraction = float(max_outlier_fraction)
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"SEG-Y file not found: {self.path!r}")

        arrays, names, self.layout = _read_segy(self.path, sections, prestack)
        self._count_patches(arrays, names)
        bad = self._zero_bad_samples(arrays)
        outliers = self._zero_gross_outliers(arrays, names)
        for a, name, n_bad, n_out in zip(arrays, names, bad, outliers):
            if not a.any():
                also = f" and {n_out} gross outlier(s)" if n_out else ""
                raise ValueError(
                    f"{self.path!r}: {name} has no usable sample: all {a.size} samples are zero or "
                    f"non-finite ({n_bad} NaN or inf{also})"
                )
            if a.min() == a.max():
                # every sample equal and non-zero: no signal (all garbage, e.g. every sample
                # 1e30, which no statistic of the file itself can tell from data)
                raise ValueError(
                    f"{self.path!r}: {name} is constant: all {a.size} samples are "
                    f"{float(a.flat[0]):g}, no usable signal"
                )
        self.n_spikes = (
            self._clip_spikes(arrays) if self.spike_factor is not None else 0
        )
        if normalize == "max":
            peak = max(float(np.abs(a).max()) for a in arrays)
            factor = self.scale / max(peak, 1e-30)
        elif normalize == "std":
            std = np.concatenate([a.ravel() for a in arrays]).std()
            factor = self.scale / max(float(std), 1e-30)
        else:
            factor = None
        if factor is not None:
            arrays = [a * factor for a in arrays]
        self.section_data = [torch.from_numpy(a) for a in arrays]
        self.section_names = names
        self.section = self.section_data[0] if len(arrays) == 1 else None

    def _count_patches(self, arrays: list[np.ndarray], names: list[str]) -> None:
        T, N = self.patch_size
        self._n_t = [
            (a.shape[0] - T) // self.stride[0] + 1 if a.shape[0] >= T else 0
            for a in arrays
        ]
        self._n_n = [
            (a.shape[1] - N) // self.stride[1] + 1 if a.shape[1] >= N else 0
            for a in arrays
        ]
        counts = [nt * nn if nt and nn else 0 for nt, nn in zip(self._n_t, self._n_n)]
        self._cum = np.cumsum(counts)
        total = int(self._cum[-1]) if counts else 0
        if total == 0 and len(arrays) == 1:
            raise ValueError(
                f"section of {arrays[0].shape[0]} time samples x {arrays[0].shape[1]} traces in "
                f"{self.path!r} is smaller than one patch of patch_size={self.patch_size}"
            )
        if total == 0:
            t_max = max(a.shape[0] for a in arrays)
            n_max = max(a.shape[1] for a in arrays)
            raise ValueError(
                f"each of the {len(arrays)} sections in {self.path!r} ({names[0]}, ...; at most "
                f"{t_max} time samples and {n_max} traces) is smaller than one patch of "
                f"patch_size={self.patch_size}: found 0 patches, at least {self.min_patches} needed"
            )
        if total < self.min_patches:
            raise ValueError(
                f"{self.path!r} gives {total} patch(es) of patch_size={self.patch_size} with "
                f"stride={self.stride} from {len(arrays)} section(s); at least "
                f"min_patches={self.min_patches} are needed: use a smaller patch_size or stride"
            )

    def _zero_bad_samples(self, arrays: list[np.ndarray]) -> list[int]:
        counts = []
        for a in arrays:
            bad = ~np.isfinite(a)
            counts.append(int(bad.sum()))
            if counts[-1]:
                a[bad] = 0.0
        self.n_bad_samples = sum(counts)
        if self.n_bad_samples:
            warnings.warn(
                f"{self.path!r}: {self.n_bad_samples} non-finite sample(s) (NaN or inf) set to 0",
                RuntimeWarning,
                stacklevel=3,
            )
        return counts

    def _zero_gross_outliers(
        self, arrays: list[np.ndarray], names: list[str]
    ) -> list[int]:
        """Find gross outliers (see the class docstring); refuse the file or set them to 0."""
        self.n_outliers, self.n_outlier_traces, self.outlier_fraction = 0, 0, 0.0
        self.outlier_counts: dict[str, int] = {}
        self.outlier_bound = None
        counts = [0] * len(arrays)
        if self.outlier_factor is None:
            return counts
        magnitudes = np.concatenate([np.abs(a[a != 0]) for a in arrays])
        if magnitudes.size == 0:
            return counts  # nothing usable: refused by the caller
        median = float(np.median(magnitudes))
        bound = self.outlier_factor * median
        self.outlier_bound = bound
        masks, n_traces = [], 0
        for a in arrays:
            above = np.abs(a) > bound
            # a trace whose median non-zero |x| is above the bound is garbage as a whole
            garbage = 2 * above.sum(0) > (a != 0).sum(0)
            above[:, garbage] |= a[:, garbage] != 0
            masks.append(above)
            n_traces += int(garbage.sum())
        counts = [int(m.sum()) for m in masks]
        total = sum(counts)
        if total == 0:
            return counts
        size = sum(a.size for a in arrays)
        fractions = [c / a.size for c, a in zip(counts, arrays)]
        worst = int(np.argmax(fractions))
        where = (
            f"{total / size:.2%} of the file"
            if len(arrays) == 1
            else f"{total / size:.2%} of the file, {fractions[worst]:.2%} of {names[worst]}"
        )
        rule = (
            f"above {bound:.3g} (outlier_factor {self.outlier_factor:g} x the median non-zero "
            f"|x| {median:.3g})"
        )
        if fractions[worst] > self.max_outlier_fraction:
            peak = float(magnitudes.max())
            raise ValueError(
                f"{self.path!r}: {total} of {size} samples ({where}; {n_traces} whole trace(s) "
                f"among them) are gross outliers, |x| {rule}, more than max_outlier_fraction="
                f"{self.max_outlier_fraction:g}: the file may be damaged or read with the wrong "
                f"sample format; pass max_outlier_fraction={_round_up(fractions[worst]):g} to set "
                f"them to 0, or pass outlier_factor={_round_up(peak / median * 1.001):.2g} if "
                "they are real amplitudes"
            )
        for a, m in zip(arrays, masks):
            a[m] = 0.0
        self.n_outliers, self.n_outlier_traces = total, n_traces
        self.outlier_fraction = total / size
        self.outlier_counts = {n: c for n, c in zip(names, counts) if c}
        by_section = ""
        if len(arrays) > 1:
            listed = [f"{n}: {c}" for n, c in self.outlier_counts.items()]
            more = len(listed) - 5
            by_section = "; by section: " + ", ".join(listed[:5])
            by_section += f", ... ({more} more)" if more > 0 else ""
        warnings.warn(
            f"{self.path!r}: {total} gross outlier sample(s) ({where}; {n_traces} whole "
            f"trace(s) among them) {rule} set to 0{by_section}",
            RuntimeWarning,
            stacklevel=3,
        )
        return counts

    def _clip_spikes(self, arrays: list[np.ndarray]) -> int:
        magnitudes = np.concatenate([np.abs(a[a != 0]) for a in arrays])
        threshold = self.spike_factor * float(
            np.percentile(magnitudes, 99.9, method="lower")
        )
        masks = [np.abs(a) > threshold for a in arrays]
        n_spikes = sum(int(m.sum()) for m in masks)
        if n_spikes:
            cap = max(
                float(np.abs(a[~m]).max(initial=0.0)) for a, m in zip(arrays, masks)
            )
            for a, m in zip(arrays, masks):
                a[m] = np.sign(a[m]) * cap
            warnings.warn(
                f"{self.path!r}: {n_spikes} spike sample(s) above {threshold:.3g} "
                f"(spike_factor={self.spike_factor:g} x the 99.9th percentile of |x|) clipped "
                f"to +-{cap:.3g}",
                RuntimeWarning,
                stacklevel=3,
            )
        return n_spikes

    @staticmethod
    def read_section(path: str) -> np.ndarray:
        r"""Read every trace of a SEG-Y file into a ``(time samples, traces)`` float64 array.

        Traces are in file order (no geometry); the byte order is detected and unsupported sample
        formats are rejected, as in :class:`SegyDataset`.

        :param str path: SEG-Y file.
        :return: (:class:`numpy.ndarray`) the section.
        :raises ImportError: without ``segyio``.
        :raises ValueError: for a file that is not a readable SEG-Y file or an unsupported or
            unknown sample format code.
        """
        segyio = _import_segyio()
        path = os.fspath(path)
        endian = _segy_byte_order(path)
        try:
            with segyio.open(path, "r", ignore_geometry=True, endian=endian) as f:
                data = _all_traces(f)
        except (RuntimeError, OSError, ValueError, KeyError, IndexError) as err:
            raise ValueError(f"{path!r} is not a readable SEG-Y file: {err}") from err
        return np.ascontiguousarray(data.T)

    @staticmethod
    def read_sections(
        path: str, sections: str = "inline", prestack: str | None = None
    ) -> tuple[list[np.ndarray], list[str]]:
        r"""Read the sections of a SEG-Y file, as described in :class:`SegyDataset`.

        No bad-sample handling or normalisation is applied.

        :param str path: SEG-Y file.
        :param str sections: ``"inline"`` or ``"crossline"`` sections of a 3-D cube, or
            ``"traces"`` (every trace in file order).
        :param str, None prestack: ``None``, ``"gathers"`` or ``"traces"``.
        :return: (tuple) the ``(time samples, traces)`` float64 sections and their names.
        :raises ImportError: without ``segyio``.
        :raises ValueError: for a file that is not a readable SEG-Y file, an unsupported or
            unknown sample format code, pre-stack data with ``prestack=None``, or a cube whose
            geometry segyio cannot infer without ``sections="traces"``.
        """
        _check_sections(sections)
        _check_prestack(prestack)
        out, names, _ = _read_segy(os.fspath(path), sections, prestack)
        return out, names

    def __len__(self) -> int:
        return int(self._cum[-1])

    def __getitem__(self, index: int) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = int(index)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} patches")
        index %= n
        s = int(np.searchsorted(self._cum, index, side="right"))
        local = index - (int(self._cum[s - 1]) if s else 0)
        i, j = divmod(local, self._n_n[s])
        t0, n0 = i * self.stride[0], j * self.stride[1]
        T, N = self.patch_size
        patch = self.section_data[s][t0 : t0 + T, n0 : n0 + N]
        if self.normalize == "patch_max":
            m = patch.abs().max()
            patch = patch * (self.scale / m) if m > 0 else patch
        x = patch.to(self.dtype).unsqueeze(0).clone()
        return self.transform(x) if self.transform is not None else x
