r"""Seismic reflectivity sections: synthetic layered earth models, and patches of real SEG-Y sections.

Both datasets return the signal ``x`` only, a tensor of shape ``(1, T, N)`` (time samples by traces),
so they plug into deepinv's ``Trainer(online_measurements=True)`` and
:func:`deepinv.datasets.generate_dataset`, which compute ``y`` with the physics.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["SyntheticSeismicDataset", "SegyDataset"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _smooth_curve(rng: np.random.Generator, n: int, n_modes: int = 3) -> np.ndarray:
    """Sum of a few random low-frequency sinusoids on ``[0, 1)``, peak-normalised to ``[-1, 1]``."""
    u = np.arange(n) / max(n, 1)
    freq = rng.uniform(0.3, 2.5, size=(n_modes, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_modes, 1))
    amp = rng.uniform(0.3, 1.0, size=(n_modes, 1))
    curve = (amp * np.sin(2 * np.pi * freq * u + phase)).sum(0)
    return curve / max(np.abs(curve).max(), 1e-12)


class SyntheticSeismicDataset(Dataset):
    r"""Synthetic post-stack reflectivity sections from random layered earth models (offline).

    Each item is built from its own generator seeded by ``(seed, index)``, so item ``i`` is the same on
    every call, machine and worker, and different seeds give independent datasets. The model, in
    geological time :math:`\tau` (depth of deposition, in samples):

    1. a 1-D impedance log: layers of random thickness (exponentially distributed, mean
       ``mean_layer_thickness`` samples), plus thin beds (1 to 3 samples, below the wavelet's
       resolution) with probability ``thin_bed_probability`` per layer; log-impedance is a random walk
       with a weak compaction trend, steps drawn so that reflection coefficients are mostly below 0.3;
    2. structure: :math:`\tau(t, n) = t - s(t, n)` with a regional dip (up to ``max_dip`` samples per
       trace), folds (smooth lateral undulations of up to ``max_fold_amplitude`` samples that grow with
       depth) and ``n_faults`` faults (straight, steep planes; the hanging wall is shifted by a random
       throw of up to ``max_fault_throw`` samples), which gives laterally continuous, dipping, folded
       and offset reflectors;
    3. lateral facies change: each layer's impedance varies smoothly along the traces by up to
       ``lateral_variation`` (relative);
    4. reflectivity from impedance contrasts along time,
       :math:`r[t] = (I[t+1] - I[t]) / (I[t+1] + I[t])`, so :math:`|r| < 1` always;
    5. optional sparse spikes: a fraction ``spike_density`` of samples gets an extra random reflection
       coefficient of magnitude in ``[0.02, 0.2]`` (isolated scatterers that no layer explains).

    :param int n_samples: number of sections (the dataset length).
    :param int n_time: time samples ``T`` per trace (default 352, the paper's size).
    :param int n_traces: traces ``N`` per section (default 352).
    :param int seed: dataset seed.
    :param float mean_layer_thickness: mean layer thickness in samples.
    :param float thin_bed_probability: probability that a layer is followed by a thin bed, in ``[0, 1]``.
    :param float reflectivity_std: standard deviation of the log-impedance steps (twice the typical
        reflection coefficient); clipped so that a single step gives :math:`|r| \le 0.4`.
    :param float max_dip: largest regional dip, in time samples per trace.
    :param float max_fold_amplitude: largest fold amplitude at the bottom of the section, in samples.
    :param int n_faults: largest number of faults per section (each section draws ``0..n_faults``).
    :param float max_fault_throw: largest fault throw, in samples.
    :param float lateral_variation: largest relative lateral impedance change within a layer.
    :param float spike_density: fraction of samples with an extra sparse spike (``0`` disables).
    :param torch.dtype dtype: dtype of the returned tensors.
    :param Callable, None transform: optional function applied to each ``x`` before it is returned.
    :raises ValueError: for non-positive sizes or out-of-range parameters.
    :raises IndexError: (when indexing) for an index outside ``[-n_samples, n_samples)``.

    >>> ds = SyntheticSeismicDataset(n_samples=4, n_time=64, n_traces=64, seed=0)
    >>> x = ds[1]
    >>> x.shape, x.dtype
    (torch.Size([1, 64, 64]), torch.float32)
    >>> bool(torch.equal(x, ds[1])), bool(x.abs().max() < 1)
    (True, True)
    """

    def __init__(
        self,
        n_samples: int,
        n_time: int = 352,
        n_traces: int = 352,
        seed: int = 0,
        mean_layer_thickness: float = 12.0,
        thin_bed_probability: float = 0.15,
        reflectivity_std: float = 0.16,
        max_dip: float = 0.15,
        max_fold_amplitude: float = 12.0,
        n_faults: int = 2,
        max_fault_throw: float = 15.0,
        lateral_variation: float = 0.05,
        spike_density: float = 0.0,
        dtype: torch.dtype = torch.float32,
        transform: Callable | None = None,
    ):
        self.n_samples = _positive_int(n_samples, "n_samples")
        self.n_time = _positive_int(n_time, "n_time")
        self.n_traces = _positive_int(n_traces, "n_traces")
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or seed < 0
        ):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        checks = {
            "mean_layer_thickness": (mean_layer_thickness, 1.0, math.inf),
            "thin_bed_probability": (thin_bed_probability, 0.0, 1.0),
            "reflectivity_std": (reflectivity_std, 0.0, 2.0),
            "max_dip": (max_dip, 0.0, math.inf),
            "max_fold_amplitude": (max_fold_amplitude, 0.0, math.inf),
            "max_fault_throw": (max_fault_throw, 0.0, math.inf),
            "lateral_variation": (lateral_variation, 0.0, 0.5),
            "spike_density": (spike_density, 0.0, 1.0),
        }
        for name, (value, lo, hi) in checks.items():
            if not isinstance(value, (int, float)) or not (lo <= value <= hi):
                raise ValueError(
                    f"{name} must be a number in [{lo}, {hi}], got {value!r}"
                )
        if isinstance(n_faults, bool) or not isinstance(n_faults, int) or n_faults < 0:
            raise ValueError(
                f"n_faults must be a non-negative integer, got {n_faults!r}"
            )
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(
                f"dtype must be a real floating torch dtype, got {dtype!r}"
            )
        if transform is not None and not callable(transform):
            raise ValueError(
                f"transform must be callable or None, got {type(transform).__name__}"
            )
        self.mean_layer_thickness = float(mean_layer_thickness)
        self.thin_bed_probability = float(thin_bed_probability)
        self.reflectivity_std = float(reflectivity_std)
        self.max_dip = float(max_dip)
        self.max_fold_amplitude = float(max_fold_amplitude)
        self.n_faults = n_faults
        self.max_fault_throw = float(max_fault_throw)
        self.lateral_variation = float(lateral_variation)
        self.spike_density = float(spike_density)
        self.dtype = dtype
        self.transform = transform

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not -self.n_samples <= index < self.n_samples:
            raise IndexError(
                f"index {index} out of range for a dataset of {self.n_samples} sections"
            )
        index %= self.n_samples
        r = self.reflectivity(index)
        x = torch.from_numpy(r).to(self.dtype).unsqueeze(0)
        return self.transform(x) if self.transform is not None else x

    # ------------------------------------------------------------------ the earth model
    def _impedance_log(self, rng: np.random.Generator, length: int):
        """Log-impedance per geological-time sample and the layer id of each sample."""
        # Draw enough layers to cover the log; thicknesses >= 1 sample.
        n_max = int(length / self.mean_layer_thickness * 3) + 8
        thick = np.maximum(
            1, np.round(rng.exponential(self.mean_layer_thickness, n_max))
        ).astype(int)
        thin = rng.random(n_max) < self.thin_bed_probability
        thin_thick = rng.integers(1, 4, n_max)
        # interleave: each layer optionally followed by a thin bed
        sizes = np.stack([thick, np.where(thin, thin_thick, 0)], 1).reshape(-1)
        sizes = sizes[sizes > 0]
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), length) + 1]
        n_layers = sizes.size
        # log-impedance random walk; a step d gives r = tanh(d / 2) ~ d / 2
        steps = rng.normal(0.0, self.reflectivity_std, n_layers)
        steps = np.clip(steps, -0.8, 0.8)  # |r| = tanh(0.4) < 0.4 for a single step
        trend = (
            0.4 * np.cumsum(sizes) / length / max(n_layers, 1)
        )  # gentle compaction with depth
        log_imp = np.log(2.0) + np.cumsum(steps + trend)
        layer_id = np.repeat(np.arange(n_layers), sizes)[:length]
        return log_imp, layer_id

    def reflectivity(self, index: int) -> np.ndarray:
        r"""The reflectivity section of item ``index`` as a float64 array of shape ``(T, N)``.

        A draw without any reflection in the window (one layer thicker than the section, about one
        section in a thousand at 64 x 64) is replaced by the draw of the next sub-seed, so no
        section is constant (a constant reference has no PSNR range).

        :param int index: item index in ``[0, n_samples)``.
        :return: (:class:`numpy.ndarray`) reflectivity, :math:`|r| < 1`.
        """
        for attempt in range(100):
            key = [self.seed, int(index)] + ([attempt] if attempt else [])
            r = self._draw(np.random.default_rng(key))
            if np.ptp(r) > 0:
                return r
        raise RuntimeError(  # pragma: no cover - needs 100 reflection-free draws in a row
            f"no reflection in 100 draws of section {index}; lower mean_layer_thickness"
        )

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """One reflectivity section from ``rng`` (may be reflection-free)."""
        T, N = self.n_time, self.n_traces
        t = np.arange(T + 1, dtype=np.float64)[
            :, None
        ]  # one extra sample for the time difference
        n = np.arange(N, dtype=np.float64)[None, :]
        depth = t / T  # 0 at the top, 1 at the bottom: folds grow with depth

        # Structural shift s(t, n) in samples, then geological time tau = t - s.
        dip = rng.uniform(-self.max_dip, self.max_dip)
        fold = (
            self.max_fold_amplitude
            * rng.uniform(0.2, 1.0)
            * _smooth_curve(rng, N)[None, :]
        )
        shift = dip * (n - N / 2) + fold * (0.3 + 0.7 * depth)
        for _ in range(int(rng.integers(0, self.n_faults + 1))):
            # fault plane n_f(t) = n0 + slope * t, steep (within ~30 degrees of vertical in samples)
            n0 = rng.uniform(0.15 * N, 0.85 * N)
            slope = rng.uniform(-0.6, 0.6)
            throw = (
                rng.uniform(0.3, 1.0) * self.max_fault_throw * rng.choice([-1.0, 1.0])
            )
            hanging = n > n0 + slope * (t - T / 2)
            shift = shift + throw * hanging
        tau = t - shift
        tau_min = math.floor(tau.min())
        length = int(math.ceil(tau.max())) - tau_min + 2

        log_imp, layer_id = self._impedance_log(rng, length)
        idx = np.clip(np.floor(tau - tau_min).astype(np.int64), 0, length - 1)
        lid = layer_id[idx]
        log_i = log_imp[lid]
        if self.lateral_variation > 0:
            # each layer gets its own smooth lateral curve, from a small bank of curves
            n_bank = 8
            bank = np.stack([_smooth_curve(rng, N, 2) for _ in range(n_bank)])
            amp = rng.uniform(0, self.lateral_variation, layer_id.max() + 1)
            which = rng.integers(0, n_bank, layer_id.max() + 1)
            cols = np.broadcast_to(np.arange(N), lid.shape)
            log_i = log_i + amp[lid] * bank[which[lid], cols]
        # r = (I1 - I0) / (I1 + I0) = tanh((log I1 - log I0) / 2)
        r = np.tanh(np.diff(log_i, axis=0) / 2)
        if self.spike_density > 0:
            spikes = rng.random((T, N)) < self.spike_density
            values = rng.uniform(0.02, 0.2, (T, N)) * rng.choice([-1.0, 1.0], (T, N))
            r = np.where(spikes, np.clip(r + values, -0.99, 0.99), r)
        return r


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


def _segy_byte_order(path: str) -> tuple[str, int]:
    """Byte order (``"big"`` or ``"little"``) and data sample format code of a SEG-Y file.

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
    return endian, code


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


def _read_segy(path: str, sections: str, prestack: str | None):
    """Sections ``(T, N)`` float64, their names and the file layout; see :class:`SegyDataset`."""
    segyio = _import_segyio()
    endian, _ = _segy_byte_order(path)
    field = segyio.TraceField
    out, names, layout, prestack_reason = [], [], "line", None
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
            elif len(f.ilines) > 1 and len(f.xlines) > 1:
                layout = "cube"
                if sections == "inline":
                    numbers, lines = f.ilines, f.iline
                else:
                    numbers, lines = f.xlines, f.xline
                for number in numbers:
                    line = np.asarray(lines[number], dtype=np.float64)
                    out.append(np.ascontiguousarray(line.T))
                    names.append(f"{sections} {int(number)}")
            if prestack_reason is not None and prestack == "gathers":
                layout = "gathers"
                out, names = _gathers(_all_traces(f), keys, offsets, label)
            elif prestack_reason is not None and prestack == "traces":
                layout = "traces"
                out, names = [np.ascontiguousarray(_all_traces(f).T)], ["all traces"]
            elif prestack_reason is None and layout == "line":
                out, names = [np.ascontiguousarray(_all_traces(f).T)], ["2-D line"]
    except (RuntimeError, OSError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"{path!r} is not a readable SEG-Y file: {err}") from err
    if prestack_reason is not None and prestack is None:
        raise ValueError(
            f"{path!r} holds pre-stack data ({prestack_reason}); SegyDataset reads post-stack "
            "sections: stack the data first, or pass prestack='gathers' to read each gather as a "
            "2-D section (or prestack='traces' for every trace in file order)"
        )
    return out, names, layout


class SegyDataset(Dataset):
    r"""Patches of post-stack seismic sections read from a SEG-Y file with ``segyio``.

    **Reading.** The byte order is detected (the one in which the binary header's data sample
    format code, bytes 3225-3226, is a SEG-Y code), so big- and little-endian files give the same
    tensors. Sample formats segyio cannot decode (codes 4, 7 and 15: fixed point with gain and
    3-byte integers) and unknown codes are rejected before any data is read. The sections are:

    - a 2-D line (no inline/crossline geometry, or a cube with a single inline or crossline): one
      ``(T_total, N_total)`` section, every trace in file order, as earlier versions did;
    - a 3-D post-stack cube: one section per inline (``sections="inline"``, default) or per
      crossline (``sections="crossline"``), traces ordered by the other line number;
    - pre-stack data (several offsets per bin, or repeated CDP numbers with several offsets in a
      file without geometry) is rejected unless ``prestack="gathers"`` (one section per gather:
      traces sharing an (inline, crossline) bin, or a CDP number without geometry, sorted by
      offset) or ``prestack="traces"`` (every trace in file order, one section).

    **Bad samples.** Non-finite samples (NaN, inf) are set to 0; their count is kept in
    ``n_bad_samples`` and reported with a :class:`RuntimeWarning`. A section with no finite non-zero
    sample is rejected.

    **Spikes.** With :math:`q` the 99.9th percentile of :math:`|x|` over the non-zero samples of the
    file, a sample with :math:`|x| > \text{spike\_factor} \cdot q` is an isolated spike and is
    replaced by :math:`\mathrm{sign}(x)\, m`, with :math:`m` the largest :math:`|x|` of the other
    samples (count in ``n_spikes``, reported with a :class:`RuntimeWarning`). One huge sample (e.g.
    1e30) thus no longer shrinks the rest of the section to ~1e-31 under ``"max"`` or ``"std"``
    normalisation, while clean data (:math:`\max |x| \ll 100 q`) is left unchanged. The rule assumes
    spikes are isolated (under 0.1% of the non-zero samples); ``spike_factor=None`` disables it.

    **Normalisation** (``normalize``), applied after the two steps above, before cutting:

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
    :param str sections: sections of a 3-D cube: ``"inline"`` (default) or ``"crossline"``.
    :param str, None prestack: pre-stack data: ``None`` (default, rejected), ``"gathers"`` or
        ``"traces"``; ignored for post-stack files.
    :param float, None spike_factor: spike threshold in units of the 99.9th percentile of
        :math:`|x|` (default 100); ``None`` keeps spikes.
    :param int min_patches: smallest acceptable number of patches (default 1).
    :raises ImportError: without ``segyio``.
    :raises FileNotFoundError: for a missing file.
    :raises ValueError: for a file that is not a readable SEG-Y file, an unsupported or unknown
        sample format code, pre-stack data without ``prestack``, a section that is all zero or
        non-finite, sections smaller than one patch, fewer than ``min_patches`` patches, or bad
        arguments.

    After construction, ``section_data`` holds the normalised sections (float64 tensors
    ``(T_s, N_s)``), ``section_names`` their names (e.g. ``"inline 12"``), ``section`` the only
    section (``None`` when there are several), ``layout`` one of ``"line"``, ``"cube"``,
    ``"gathers"``, ``"traces"``, and ``n_bad_samples``, ``n_spikes`` the counts above.

    >>> import tempfile, os, numpy as np, segyio
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "tiny.sgy")
    >>> spec = segyio.spec(); spec.format = 5; spec.samples = range(40); spec.tracecount = 30
    >>> with segyio.create(path, spec) as f:
    ...     for i in range(30):
    ...         f.header[i] = {segyio.TraceField.TRACE_SEQUENCE_LINE: i + 1}
    ...         f.trace[i] = np.sin(np.arange(40, dtype=np.float32) / 3 + i)
    >>> ds = SegyDataset(path, patch_size=(32, 16), stride=(8, 8))
    >>> len(ds), ds[0].shape, ds.layout
    (4, torch.Size([1, 32, 16]), 'line')
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
        if sections not in ("inline", "crossline"):
            raise ValueError(
                f"sections must be 'inline' or 'crossline', got {sections!r}"
            )
        if prestack not in (None, "gathers", "traces"):
            raise ValueError(
                f"prestack must be None, 'gathers' or 'traces', got {prestack!r}"
            )
        if spike_factor is not None and not (
            isinstance(spike_factor, (int, float))
            and not isinstance(spike_factor, bool)
            and math.isfinite(spike_factor)
            and spike_factor >= 1
        ):
            raise ValueError(
                f"spike_factor must be a number >= 1 or None, got {spike_factor!r}"
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
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"SEG-Y file not found: {self.path!r}")

        arrays, names, self.layout = _read_segy(self.path, sections, prestack)
        self._count_patches(arrays, names)
        self.n_bad_samples = self._zero_bad_samples(arrays, names)
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

    def _zero_bad_samples(self, arrays: list[np.ndarray], names: list[str]) -> int:
        total = 0
        for a, name in zip(arrays, names):
            bad = ~np.isfinite(a)
            n_bad = int(bad.sum())
            if n_bad:
                a[bad] = 0.0
                total += n_bad
            if not a.any():
                raise ValueError(
                    f"{self.path!r}: {name} has no usable sample: all {a.size} samples are zero or "
                    f"non-finite ({n_bad} NaN or inf)"
                )
        if total:
            warnings.warn(
                f"{self.path!r}: {total} non-finite sample(s) (NaN or inf) set to 0",
                RuntimeWarning,
                stacklevel=3,
            )
        return total

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
        endian, _ = _segy_byte_order(path)
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
        :param str sections: ``"inline"`` or ``"crossline"`` sections of a 3-D cube.
        :param str, None prestack: ``None``, ``"gathers"`` or ``"traces"``.
        :return: (tuple) the ``(time samples, traces)`` float64 sections and their names.
        :raises ImportError: without ``segyio``.
        :raises ValueError: for a file that is not a readable SEG-Y file, an unsupported or
            unknown sample format code, or pre-stack data with ``prestack=None``.
        """
        if sections not in ("inline", "crossline"):
            raise ValueError(
                f"sections must be 'inline' or 'crossline', got {sections!r}"
            )
        if prestack not in (None, "gathers", "traces"):
            raise ValueError(
                f"prestack must be None, 'gathers' or 'traces', got {prestack!r}"
            )
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
