r"""MRI ground-truth images: real fastMRI single-coil files, and an embedded real-anatomy default.

Both datasets return one tensor ``x`` of shape ``(2, H, W)`` (real and imaginary channels, ``float32``),
ready for :func:`deepinv_jitter.physics.mri.single_coil_mri`: measurements are simulated from ``x``
online (retrospective undersampling), as in the paper.

**fastMRI** (:class:`FastMRISingleCoilDataset`). Files are read through
:class:`deepinv.datasets.FastMRISliceDataset`. The ground truth is the *complex* centre-cropped image
:math:`x = \mathrm{crop}_{320}(F^{-1} k)` by default, because the measured k-space of a real scan has a
phase: a magnitude-only ground truth (``target="magnitude"``, real channel = ``|x|``, imaginary = 0)
is also offered, and it is the image of fastMRI's ``reconstruction_esc``, but its k-space is Hermitian
symmetric, which makes 4x undersampling artificially easier and no longer matches the scanner data.
Scaling (``scale``): ``"slice_max"`` (default) divides each slice by the maximum of its cropped magnitude,
so every ground-truth magnitude lies in [0, 1] and peaks at 1 (PSNR data range 1);
``"volume_max"`` divides by the maximum over the slice's whole volume (keeps relative brightness
between slices; edge slices are then dark); ``"none"`` keeps raw scanner units.

**Embedded default** (:class:`EmbeddedMRIDataset`). The ICBM 2009a nonlinear symmetric MNI152 T1 template
shipped inside the ``nilearn`` wheel (``nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``):
a 1.6 MB, 197 x 233 x 189 volume at 1 mm of real (brain-extracted) T1 anatomy, averaged over 152
subjects. ``nilearn`` is BSD-3; the template's own licence (McConnell Brain Imaging Centre, Montreal
Neurological Institute) allows use, copying and redistribution with its copyright notice. It is read
with ``nibabel`` straight from the installed wheel: no network, no download. About 140 axial and 170
coronal slices hold anatomy; the train/test split is by slice position (blocks of neighbouring slices,
with a gap of discarded slices around each test block, because neighbouring slices of a smooth template
are nearly identical). Other candidates checked: ``dipy`` ships one 256 x 256 T1 coronal slice (a single
image) and a 10-slice 128 x 128 diffusion b0 volume, too few distinct images.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from deepinv.datasets import FastMRISliceDataset
from deepinv.datasets.base import ImageDataset
from deepinv.utils.mixins import MRIMixin

from ..physics.mri import _check_size

__all__ = [
    "EmbeddedMRIDataset",
    "FastMRISingleCoilDataset",
    "center_crop_or_pad",
    "resize_image",
    "MNI152_FILENAME",
]

#: File name of the MNI152 T1 template inside nilearn's package data.
MNI152_FILENAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"

_ORIENTATIONS = ("axial", "coronal", "sagittal")

# Largest fastMRI k-space read (values, complex64): 4096 x 4096 a slice, 2 GiB a volume (whole
# volumes are read for scale="volume_max"); fastMRI's single-coil knee slices are 640 x 368,
# about 35 a volume.
_MAX_SLICE_VALUES = 4096 * 4096
_MAX_VOLUME_VALUES = 2**28


def center_crop_or_pad(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    r"""Centre-crop (or zero-pad) the last two dimensions to ``size``, with fastMRI's offsets.

    The crop starts at ``(H - h) // 2`` (fastMRI's ``center_crop``), so a 640 x 368 image cropped to
    320 x 320 keeps rows 160..479 and columns 24..343. A dimension smaller than ``size`` is zero-padded
    symmetrically (the extra pixel, if any, goes after).

    :param torch.Tensor x: tensor of shape ``(..., H, W)``.
    :param tuple[int, int] size: output ``(h, w)``.
    :return: tensor of shape ``(..., h, w)``.
    :raises ValueError: when ``size`` is not a pair of positive ints.

    |sep|

    :Examples:

        >>> import torch
        >>> center_crop_or_pad(torch.arange(6.0).reshape(1, 6), (1, 2))
        tensor([[2., 3.]])
        >>> center_crop_or_pad(torch.ones(1, 2), (1, 4))
        tensor([[0., 1., 1., 0.]])
    """
    h, w = _check_size(size, "size")
    H, W = x.shape[-2:]
    if H < h or W < w:
        ph, pw = max(h - H, 0), max(w - W, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        H, W = x.shape[-2:]
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top : top + h, left : left + w]


def resize_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    r"""Resize the last two dimensions with antialiased bilinear interpolation (no-op at equal size).

    Real and imaginary channels are resized independently, which is the same as resizing the complex
    image because interpolation is linear.

    :param torch.Tensor x: tensor of shape ``(C, H, W)``.
    :param tuple[int, int] size: output ``(h, w)``.
    :return: tensor of shape ``(C, h, w)``.

    |sep|

    :Examples:

        >>> import torch
        >>> resize_image(torch.ones(2, 8, 8), (4, 4)).shape
        torch.Size([2, 4, 4])
    """
    size = _check_size(size, "size")
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(
        x.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False
    ).squeeze(0)


# --- embedded default: MNI152 T1 template from the nilearn wheel ---------------------------------


def mni152_template_path() -> Path:
    r"""Path of the MNI152 T1 template inside the installed ``nilearn`` wheel (nilearn is not imported).

    :return: the ``.nii.gz`` path.
    :raises ImportError: when nilearn is not installed or does not ship the template.

    |sep|

    :Examples:

        >>> mni152_template_path().name
        'mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz'
    """
    # find_spec locates the package without running nilearn's (slow) import.
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The embedded MRI default needs nilearn, which ships the MNI152 template: "
            "pip install 'deepinv-jitter[mri]'."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "data" / MNI152_FILENAME
        if path.is_file():
            return path
    raise ImportError(f"nilearn is installed but does not ship {MNI152_FILENAME}.")


@functools.lru_cache(maxsize=1)
def _load_mni152() -> np.ndarray:
    import nibabel  # a nilearn dependency; reads the gzipped NIfTI in ~0.3 s

    volume = np.asarray(
        nibabel.load(str(mni152_template_path())).dataobj, dtype=np.float32
    )
    volume.setflags(write=False)
    return volume  # (x: left->right, y: posterior->anterior, z: inferior->superior)


def _mni152_slice(volume: np.ndarray, orientation: str, position: int) -> np.ndarray:
    # rot90 puts anterior (axial) or superior (coronal, sagittal) at the top, as radiologists view them.
    if orientation == "axial":
        plane = volume[:, :, position]
    elif orientation == "coronal":
        plane = volume[:, position, :]
    else:
        plane = volume[position, :, :]
    return np.ascontiguousarray(np.rot90(plane))


def _smooth_phase(h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    # Low-order polynomial phase, the kind B0 inhomogeneity and coil phase produce in real scans.
    v, u = torch.meshgrid(
        torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij"
    )
    c = torch.randn(6, generator=generator) * torch.tensor(
        [math.pi, 1.0, 1.0, 0.5, 0.5, 0.5]
    )
    return c[0] + c[1] * u + c[2] * v + c[3] * u * v + c[4] * u**2 + c[5] * v**2


class EmbeddedMRIDataset(ImageDataset):
    r"""Offline MRI images from real anatomy: slices of the MNI152 T1 template shipped in ``nilearn``.

    Each item is one slice, zero-padded to a square (centred), resized to ``img_size`` (antialiased
    bilinear) and divided by its own maximum, so the magnitude lies in [0, 1] with peak 1. It is returned
    as ``(2, H, W)``: the real channel holds the image and the imaginary channel zero, unless
    ``phase="smooth"`` multiplies it by a random smooth phase :math:`e^{i\varphi}` (seeded per slice) to
    mimic the phase of scanner images; the magnitude is the same either way.

    Slices with less than ``min_foreground`` of their pixels above 10% of the volume maximum are dropped
    (blank slices outside the head). The train/test split is by slice position, separately for each
    orientation: positions are grouped in blocks of ``block`` neighbours, every ``period``-th block
    (offset ``period // 2``) goes to test, and the ``gap`` positions on each side of a test block are
    left out of both splits. The template is left-right symmetric, so sagittal slices are taken from one
    hemisphere only (the other holds mirror copies, which would leak across the split).

    With the defaults (axial + coronal, ``block=8``, ``period=5``, ``gap=2``) there are 211 training and
    64 test slices.

    :param str split: ``"train"`` or ``"test"``.
    :param tuple[int, int] img_size: output size ``(H, W)``; small sizes (e.g. 64 x 64) for quick runs.
    :param tuple[str] orientations: any of ``"axial"``, ``"coronal"``, ``"sagittal"``.
    :param int block: number of neighbouring slices per split block.
    :param int period: one block in ``period`` goes to test.
    :param int gap: slices discarded on each side of a test block.
    :param float min_foreground: minimum fraction of anatomy pixels for a slice to be kept.
    :param str phase: ``"none"`` (real images) or ``"smooth"`` (random smooth phase per slice).
    :param int seed: seed of the phase draws (each slice gets its own generator seeded from it).
    :param Callable transform: optional transform applied to the ``(2, H, W)`` tensor.
    :raises ValueError: for a bad ``split``, ``img_size``, orientation, split parameters or
        ``phase``.
    :raises TypeError: when ``seed`` is not an int.
    :raises ImportError: when nilearn (which ships the template) or nibabel is missing.

    |sep|

    :Examples:

        >>> train = EmbeddedMRIDataset("train", img_size=(64, 64))
        >>> test = EmbeddedMRIDataset("test", img_size=(64, 64))
        >>> len(train), len(test)
        (211, 64)
        >>> x = test[0]
        >>> x.shape, float(x[0].max()), float(x[1].abs().max())
        (torch.Size([2, 64, 64]), 1.0, 0.0)
    """

    def __init__(
        self,
        split: str = "train",
        img_size: tuple[int, int] = (320, 320),
        orientations: tuple[str, ...] = ("axial", "coronal"),
        block: int = 8,
        period: int = 5,
        gap: int = 2,
        min_foreground: float = 0.05,
        phase: str = "none",
        seed: int = 0,
        transform: Callable | None = None,
    ):
        super().__init__()
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        self.img_size = _check_size(img_size, "img_size")
        if isinstance(orientations, str):
            orientations = (orientations,)
        if not orientations or any(o not in _ORIENTATIONS for o in orientations):
            raise ValueError(
                f"orientations must be a non-empty tuple of {_ORIENTATIONS}, got {orientations!r}."
            )
        for name, value, low in (
            ("block", block, 1),
            ("period", period, 2),
            ("gap", gap, 0),
        ):
            if not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
        if not isinstance(min_foreground, numbers.Real) or not 0 <= min_foreground < 1:
            raise ValueError(
                f"min_foreground must be in [0, 1), got {min_foreground!r}."
            )
        if phase not in ("none", "smooth"):
            raise ValueError(f"phase must be 'none' or 'smooth', got {phase!r}.")
        if not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}.")

        self.split = split
        self.phase = phase
        self.seed = int(seed)
        self.transform = transform
        volume = _load_mni152()
        self._volume = volume
        self.slices = self.split_positions(
            volume, tuple(orientations), block, period, gap, min_foreground
        )[split]

    @staticmethod
    def split_positions(
        volume: np.ndarray,
        orientations: tuple[str, ...],
        block: int,
        period: int,
        gap: int,
        min_foreground: float,
    ) -> dict[str, list[tuple[str, int]]]:
        r"""Split slice positions into train and test, as described in the class docstring.

        :param numpy.ndarray volume: the template, axes (x, y, z).
        :param tuple[str] orientations: orientations to use.
        :param int block: slices per block.
        :param int period: one block in ``period`` is a test block.
        :param int gap: positions dropped on each side of a test block.
        :param float min_foreground: minimum anatomy fraction of a kept slice.
        :return: ``{"train": [(orientation, position), ...], "test": [...]}``.

        |sep|

        :Examples:

            >>> import numpy as np
            >>> vol = np.ones((4, 4, 20), dtype=np.float32)
            >>> s = EmbeddedMRIDataset.split_positions(vol, ("axial",), 4, 5, 1, 0.05)
            >>> [p for _, p in s["test"]], [p for _, p in s["train"]]
            ([8, 9, 10, 11], [0, 1, 2, 3, 4, 5, 6, 13, 14, 15, 16, 17, 18, 19])
        """
        foreground = volume > 0.1 * float(volume.max())
        axes = {"sagittal": 0, "coronal": 1, "axial": 2}
        out = {"train": [], "test": []}
        for orientation in orientations:
            axis = axes[orientation]
            other = tuple(a for a in range(3) if a != axis)
            fraction = foreground.mean(axis=other)
            n = volume.shape[axis]
            start = (
                n // 2 if orientation == "sagittal" else 0
            )  # one hemisphere (mirror symmetry)
            is_test = [(p // block) % period == period // 2 for p in range(n)]
            for p in range(start, n):
                if fraction[p] < min_foreground:
                    continue
                if is_test[p]:
                    out["test"].append((orientation, p))
                elif not any(
                    is_test[q] for q in range(max(p - gap, 0), min(p + gap + 1, n))
                ):
                    out["train"].append((orientation, p))
        return out

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, index: int) -> torch.Tensor:
        orientation, position = self.slices[index]
        image = torch.from_numpy(_mni152_slice(self._volume, orientation, position))
        side = max(image.shape)
        image = center_crop_or_pad(image, (side, side))
        image = resize_image(image.unsqueeze(0), self.img_size)[0].clamp_min(0)
        image = image / image.max().clamp_min(1e-12)
        x = torch.stack([image, torch.zeros_like(image)])
        if self.phase == "smooth":
            g = torch.Generator().manual_seed(
                self.seed * 1_000_003
                + _ORIENTATIONS.index(orientation) * 1_000
                + position
            )
            phi = _smooth_phase(*self.img_size, generator=g)
            x = torch.stack([image * torch.cos(phi), image * torch.sin(phi)])
        if self.transform is not None:
            x = self.transform(x)
        return x


# --- fastMRI single-coil ---------------------------------------------------------------------------


def _keep_everything(target, kspace, **kwargs):
    # FastMRISliceDataset's transform hook: we build the image ourselves from the raw k-space.
    return target, kspace, {}


def _check_fastmri_folder(root) -> list[Path]:
    import h5py

    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"root must be a folder path (str or Path), got {type(root).__name__}."
        )
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"root: fastMRI folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise FileNotFoundError(
            f"root: {str(root)!r} is not a folder of fastMRI .h5 files."
        )
    files = sorted(root.glob("*.h5"))
    if not files:
        raise FileNotFoundError(
            f"root: no .h5 files in {str(root)!r}; expected fastMRI volumes."
        )
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                if "kspace" not in f:
                    raise ValueError(
                        f"root: {path.name} has no 'kspace' dataset (keys: {sorted(f.keys())}); "
                        "expected a fastMRI single-coil file."
                    )
                kspace = f["kspace"]
                if kspace.ndim != 3 or not np.issubdtype(
                    kspace.dtype, np.complexfloating
                ):
                    raise ValueError(
                        f"root: {path.name} has 'kspace' of shape {kspace.shape} and dtype "
                        f"{kspace.dtype}; expected complex single-coil k-space (slices, H, W)."
                    )
                n_slices, h, w = kspace.shape
                if h * w > _MAX_SLICE_VALUES or n_slices * h * w > _MAX_VOLUME_VALUES:
                    # refused from the declared shape alone: reading would allocate it all
                    raise ValueError(
                        f"root: {path.name} declares 'kspace' of shape {kspace.shape} "
                        f"({h * w} values a slice, {n_slices * h * w} a volume); expected at "
                        f"most {_MAX_SLICE_VALUES} a slice (4096 x 4096) and "
                        f"{_MAX_VOLUME_VALUES} a volume (2 GiB of complex64)."
                    )
        except OSError as err:
            raise ValueError(
                f"root: {path.name} is not a readable HDF5 file ({err})."
            ) from err
    return files


def _check_kspace_size(files: list[Path], crop_size: tuple[int, int], img_size) -> None:
    import h5py

    for path in files:
        with h5py.File(path, "r") as f:
            h, w = f["kspace"].shape[-2:]
        if h < crop_size[0] or w < crop_size[1]:
            raise ValueError(
                f"root: {path.name} has k-space of {h} x {w}, smaller than the requested "
                f"crop_size={crop_size} (img_size={img_size}): the image would be zero-padded; "
                f"pass crop_size={(min(h, crop_size[0]), min(w, crop_size[1]))} (or smaller), or "
                "pass allow_padding=True to pad."
            )


def _select(slice_index, slice_ind: int, num_slices: int) -> bool:
    if slice_index == "all":
        return True
    if isinstance(slice_index, numbers.Integral):
        return slice_ind == slice_index
    if isinstance(slice_index, (tuple, list)):
        return slice_ind in slice_index
    half = int(slice_index.split("+")[1]) if "+" in slice_index else 0
    return abs(slice_ind - num_slices // 2) <= half


class _SliceFilter:
    # A class (not a lambda) so that DataLoader workers can pickle the dataset.
    def __init__(self, slice_index):
        self.slice_index = slice_index

    def __call__(self, sample) -> bool:
        return _select(
            self.slice_index, sample.slice_ind, sample.metadata["num_slices"]
        )


class FastMRISingleCoilDataset(ImageDataset, MRIMixin):
    r"""Ground-truth images from fastMRI single-coil ``.h5`` files, read with deepinv's fastMRI loader.

    For slice :math:`s` with raw k-space :math:`k_s` (shape ``(H_k, W_k)``), the image is

    .. math::

        x_s = \frac{\mathrm{crop}(F^{-1} k_s)}{c_s},

    where :math:`F^{-1}` is the centred orthonormal inverse FFT (deepinv's ``MRIMixin.ifft``),
    ``crop`` is fastMRI's centre crop to ``crop_size`` (zero-padding if smaller) and :math:`c_s` is set by
    ``scale`` (see the module docstring). The result is resized to ``img_size`` when it differs from
    ``crop_size`` and returned as ``(2, H, W)``. With ``target="magnitude"``, the returned image is
    :math:`(|x_s|, 0)`; :math:`|x_s| c_s` equals the file's ``reconstruction_esc`` at the default crop.

    Slice selection (``slice_index``): ``"all"``, ``"middle"``, ``"middle+i"`` (the :math:`2i+1` central
    slices of each volume, as the paper's central-slice selection), an ``int`` or a tuple of ``int``
    indices (indices beyond a volume's length are skipped for that volume).

    :param str, pathlib.Path root: folder of fastMRI single-coil ``.h5`` files.
    :param tuple[int, int] img_size: output size ``(H, W)``.
    :param tuple[int, int] crop_size: centre-crop size in the image domain (fastMRI: 320 x 320).
    :param str, int, tuple slice_index: which slices of each volume to keep.
    :param str target: ``"complex"`` (default) or ``"magnitude"``.
    :param str scale: ``"slice_max"`` (default), ``"volume_max"`` or ``"none"``.
    :param Callable transform: optional transform applied to the ``(2, H, W)`` tensor.
    :param bool allow_padding: accept files whose k-space is smaller than ``crop_size`` (the image is
        then zero-padded to ``crop_size``); by default such a file is rejected at construction.
    :raises TypeError: if ``root`` is not a path.
    :raises FileNotFoundError: if ``root`` does not exist, is not a folder or holds no ``.h5`` file.
    :raises ValueError: at construction, if a file is not HDF5, has no ``kspace``, its ``kspace`` is
        not complex ``(slices, H, W)``, declares more than :math:`4096^2` values a slice or
        :math:`2^{28}` a volume (refused from its shape, before anything is read), or is smaller
        than ``crop_size`` (unless ``allow_padding=True``), if no slice is selected, or for a bad ``img_size``, ``crop_size``,
        ``slice_index``, ``target`` or ``scale``; when an item is loaded, if its slice (or, with
        ``scale="volume_max"``, any slice of its volume) holds non-finite k-space values (NaN,
        inf) or its cropped image is all zero or non-finite. The message names the file and the
        slice index.

    |sep|

    :Examples:

        Write a tiny fastMRI-format file and read it back:

        >>> import tempfile, h5py, numpy as np
        >>> root = tempfile.mkdtemp()
        >>> k = np.random.default_rng(0).standard_normal((3, 24, 16)).astype(np.complex64)
        >>> with h5py.File(f"{root}/file1.h5", "w") as f:
        ...     _ = f.create_dataset("kspace", data=k)
        >>> ds = FastMRISingleCoilDataset(root, img_size=(16, 16), crop_size=(16, 16), slice_index="middle")
        >>> len(ds), ds[0].shape
        (1, torch.Size([2, 16, 16]))
        >>> round(float(ds[0].square().sum(0).sqrt().max()), 4)  # slice_max scaling
        1.0
    """

    def __init__(
        self,
        root: str | os.PathLike,
        img_size: tuple[int, int] = (320, 320),
        crop_size: tuple[int, int] = (320, 320),
        slice_index: str | int | tuple[int, ...] = "all",
        target: str = "complex",
        scale: str = "slice_max",
        transform: Callable | None = None,
        allow_padding: bool = False,
    ):
        super().__init__()
        self.img_size = _check_size(img_size, "img_size")
        self.crop_size = _check_size(crop_size, "crop_size")
        if not isinstance(allow_padding, bool):
            raise TypeError(
                f"allow_padding must be a bool, got {type(allow_padding).__name__}."
            )
        if target not in ("complex", "magnitude"):
            raise ValueError(
                f"target must be 'complex' or 'magnitude', got {target!r}."
            )
        if scale not in ("slice_max", "volume_max", "none"):
            raise ValueError(
                f"scale must be 'slice_max', 'volume_max' or 'none', got {scale!r}."
            )
        self._check_slice_index(slice_index)
        files = _check_fastmri_folder(root)

        self.root = Path(root)
        self.allow_padding = allow_padding
        self.files = files
        self.target = target
        self.scale = scale
        self.transform = transform
        # deepinv's own "middle+i" slices samples[n//2 - i : ...], which wraps around for volumes with
        # fewer than 2i+1 slices; selecting through filter_id avoids that.
        self.fastmri = FastMRISliceDataset(
            root=self.root,
            slice_index="all",
            transform=_keep_everything,
            filter_id=_SliceFilter(slice_index),
            use_dict_output=True,
        )
        if len(self.fastmri) == 0:
            raise ValueError(
                f"slice_index={slice_index!r} selects no slice in {str(self.root)!r}."
            )
        if not allow_padding:
            selected = sorted({Path(s.fname) for s in self.fastmri.samples})
            _check_kspace_size(selected, self.crop_size, self.img_size)
        self._volume_max: dict[str, float] = {}

    @staticmethod
    def _check_slice_index(slice_index) -> None:
        ok = (
            slice_index in ("all", "middle")
            or (isinstance(slice_index, numbers.Integral) and slice_index >= 0)
            or (
                isinstance(slice_index, (tuple, list))
                and len(slice_index) > 0
                and all(isinstance(i, numbers.Integral) and i >= 0 for i in slice_index)
            )
            or (
                isinstance(slice_index, str)
                and slice_index.startswith("middle+")
                and slice_index[7:].isdigit()
            )
        )
        if not ok:
            raise ValueError(
                "slice_index must be 'all', 'middle', 'middle+i', a non-negative int or a tuple of "
                f"them, got {slice_index!r}."
            )

    @property
    def samples(self) -> list[tuple[Path, int]]:
        r"""``(file, slice)`` of every item, in order."""
        return [(Path(s.fname), s.slice_ind) for s in self.fastmri.samples]

    def _cropped_image(self, kspace: torch.Tensor) -> torch.Tensor:
        # kspace: (2, H, W) real/imag -> complex cropped image (h, w)
        image = self.ifft(torch.complex(kspace[0].float(), kspace[1].float()))
        return center_crop_or_pad(image, self.crop_size)

    @staticmethod
    def _check_slice(
        fname, slice_ind: int, kspace: torch.Tensor, image: torch.Tensor
    ) -> None:
        # One clear error for a bad slice, instead of NaN images (and NaN weights) downstream.
        name = Path(fname).name
        if not torch.isfinite(kspace).all():
            n_bad = int((~torch.isfinite(kspace)).sum())
            raise ValueError(
                f"{name}: slice {slice_ind} has {n_bad} non-finite k-space value(s) (NaN or inf)."
            )
        if not torch.isfinite(image).all():
            raise ValueError(
                f"{name}: slice {slice_ind} gives a non-finite image (k-space values overflow "
                "float32)."
            )
        if not bool((image != 0).any()):
            raise ValueError(
                f"{name}: slice {slice_ind} is all zero (no signal in the crop)."
            )

    def _max_of_volume(self, fname: Path) -> float:
        import h5py

        key = str(fname)
        if key not in self._volume_max:
            with h5py.File(fname, "r") as f:
                volume = torch.from_numpy(np.asarray(f["kspace"]).astype(np.complex64))
            finite = torch.isfinite(torch.view_as_real(volume)).flatten(1).all(1)
            if not finite.all():
                bad = torch.nonzero(~finite).flatten().tolist()
                raise ValueError(
                    f"{Path(fname).name}: slice {bad[0]} has non-finite k-space values (NaN or "
                    f"inf; slices {bad}), so its volume maximum (scale='volume_max') is undefined."
                )
            image = center_crop_or_pad(self.ifft(volume), self.crop_size)
            self._volume_max[key] = float(image.abs().max())
        return self._volume_max[key]

    def __len__(self) -> int:
        return len(self.fastmri)

    def __getitem__(self, index: int) -> torch.Tensor:
        kspace = self.fastmri[index]["y"]
        sample = self.fastmri.samples[index]
        image = self._cropped_image(kspace)
        self._check_slice(sample.fname, sample.slice_ind, kspace, image)
        if self.scale == "slice_max":
            image = image / image.abs().max().clamp_min(1e-12)
        elif self.scale == "volume_max":
            fname = sample.fname
            image = image / max(self._max_of_volume(fname), 1e-12)
        if self.target == "magnitude":
            image = image.abs().to(image.dtype)
        x = resize_image(torch.stack([image.real, image.imag]), self.img_size)
        if self.transform is not None:
            x = self.transform(x)
        return x
