"""Embedded MRI default (MNI152 T1 from the nilearn wheel): offline loading, split, content."""

import socket

import nibabel
import numpy as np
import pytest
import torch

from deepinv_jitter.datasets import mri as mri_data
from deepinv_jitter.datasets.mri import EmbeddedMRIDataset, mni152_template_path


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_network_block_is_effective(no_network):
    with pytest.raises(OSError, match="offline"):
        socket.create_connection(("example.com", 80), timeout=1)


def test_loads_offline(no_network):
    mri_data._load_mni152.cache_clear()  # really read the file with the network blocked
    train = EmbeddedMRIDataset("train", img_size=(64, 64))
    test = EmbeddedMRIDataset("test", img_size=(64, 64))
    assert len(train) > 150 and len(test) > 40
    for ds in (train, test):
        x = ds[len(ds) // 2]
        assert x.shape == (2, 64, 64) and x.dtype == torch.float32
        assert abs(float(x[0].max()) - 1) < 1e-6 and float(x[0].min()) >= 0
        assert (x[1] == 0).all()
        assert (
            float((x[0] > 0.1).float().mean()) > 0.05
        )  # real anatomy, not a blank slice


def test_split_is_disjoint_with_gap():
    train = EmbeddedMRIDataset(
        "train", img_size=(32, 32), orientations=("axial", "coronal", "sagittal")
    )
    test = EmbeddedMRIDataset(
        "test", img_size=(32, 32), orientations=("axial", "coronal", "sagittal")
    )
    assert not set(train.slices) & set(test.slices)
    for orientation, p in train.slices:
        assert all(abs(p - q) > 2 for o, q in test.slices if o == orientation), (
            f"train slice {orientation} {p} is within the gap of a test slice"
        )
    # the symmetric template's sagittal slices come from one hemisphere only
    volume = mri_data._load_mni152()
    assert all(
        p >= volume.shape[0] // 2
        for o, p in train.slices + test.slices
        if o == "sagittal"
    )
    assert {o for o, _ in test.slices} == {"axial", "coronal", "sagittal"}


def test_slice_content_matches_nibabel_oracle():
    # At img_size equal to the padded square, an axial item is the template slice itself, normalised.
    volume = nibabel.load(str(mni152_template_path())).get_fdata()
    assert volume.shape == (197, 233, 189)
    ds = EmbeddedMRIDataset("test", img_size=(233, 233), orientations=("axial",))
    orientation, z = ds.slices[3]
    expected = np.rot90(volume[:, :, z])  # (233, 197), anterior at the top
    expected = np.pad(expected, ((0, 0), (18, 18)))
    expected = expected / expected.max()
    np.testing.assert_allclose(ds[3][0].numpy(), expected, atol=1e-6)


def test_smooth_phase_keeps_magnitude_and_is_seeded():
    plain = EmbeddedMRIDataset("test", img_size=(48, 48))
    phased = EmbeddedMRIDataset("test", img_size=(48, 48), phase="smooth", seed=1)
    again = EmbeddedMRIDataset("test", img_size=(48, 48), phase="smooth", seed=1)
    other = EmbeddedMRIDataset("test", img_size=(48, 48), phase="smooth", seed=2)
    x, z = plain[5], phased[5]
    torch.testing.assert_close(z.norm(dim=0), x[0], atol=1e-6, rtol=0)
    assert float(z[1].abs().max()) > 0.1
    assert torch.equal(z, again[5])
    assert not torch.equal(z, other[5])


def test_transform_and_rectangular_size():
    ds = EmbeddedMRIDataset("test", img_size=(40, 24), transform=lambda x: 2 * x)
    assert ds[0].shape == (2, 40, 24)
    assert abs(float(ds[0][0].max()) - 2) < 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "val"}, "split"),
        ({"img_size": (64, -1)}, "img_size"),
        ({"orientations": ("oblique",)}, "orientations"),
        ({"orientations": ()}, "orientations"),
        ({"block": 0}, "block"),
        ({"period": 1}, "period"),
        ({"gap": -1}, "gap"),
        ({"min_foreground": 1.0}, "min_foreground"),
        ({"phase": "random"}, "phase"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmbeddedMRIDataset(**kwargs)


def test_missing_nilearn(monkeypatch):
    monkeypatch.setattr(mri_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="nilearn"):
        mni152_template_path()
