"""Synthetic seismic sections, the SEG-Y reader, the figure helper and the flat-segment OOD edit."""

import numpy as np
import pytest
import torch
from deepinv.datasets import HDF5Dataset, generate_dataset
from torch.utils.data import DataLoader

from deepinv_jitter.datasets.seismic import (
    SegyDataset,
    SyntheticSeismicDataset,
)
from deepinv_jitter.physics.seismic import SeismicDeconvolution
from deepinv_jitter.robustness.shifts import add_flat_segment


def test_synthetic_is_deterministic_per_seed_and_index():
    a = SyntheticSeismicDataset(5, n_time=64, n_traces=48, seed=7)
    b = SyntheticSeismicDataset(5, n_time=64, n_traces=48, seed=7)
    c = SyntheticSeismicDataset(5, n_time=64, n_traces=48, seed=8)
    assert torch.equal(a[3], b[3]) and torch.equal(a[3], a[-2])
    assert not torch.equal(a[3], a[2]) and not torch.equal(a[3], c[3])
    # order of access does not matter (each item has its own generator)
    assert torch.equal(
        SyntheticSeismicDataset(5, n_time=64, n_traces=48, seed=7)[3], a[3]
    )


def test_synthetic_shape_and_value_ranges():
    ds = SyntheticSeismicDataset(6, seed=1)  # default (1, 352, 352)
    x = torch.stack([ds[i] for i in range(6)])
    assert (
        x.shape == (6, 1, 352, 352)
        and x.dtype == torch.float32
        and torch.isfinite(x).all()
    )
    nz = x[x != 0].abs()
    assert float(x.abs().max()) < 1.0  # impedances are positive, so |r| < 1
    assert 0.01 < float((x != 0).float().mean()) < 0.3  # sparse reflectivity
    assert float(torch.quantile(nz[:200_000], 0.95)) < 0.3  # mostly |r| < 0.3
    assert float(nz.median()) > 0.01  # but not negligible
    # reflectors are laterally continuous: neighbouring traces are strongly correlated
    a, b = x[:, 0, :, :-1].flatten(), x[:, 0, :, 1:].flatten()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) > 0.5


def test_synthetic_options_spikes_and_structure():
    plain = SyntheticSeismicDataset(
        1,
        n_time=64,
        n_traces=64,
        seed=2,
        n_faults=0,
        max_dip=0.0,
        max_fold_amplitude=0.0,
        lateral_variation=0.0,
    )
    x = plain[0][0]
    # no structure, no lateral change: every trace is the same
    assert torch.equal(x, x[:, :1].expand_as(x))
    spiky = SyntheticSeismicDataset(
        1, n_time=64, n_traces=64, seed=2, spike_density=0.05
    )
    base = SyntheticSeismicDataset(1, n_time=64, n_traces=64, seed=2)
    assert (spiky[0] != 0).sum() > (base[0] != 0).sum()
    assert float(spiky[0].abs().max()) < 1.0
    assert (
        SyntheticSeismicDataset(1, n_time=16, n_traces=8, dtype=torch.float64)[0].dtype
        == torch.float64
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2, "n_time": 0}, "n_time"),
        ({"n_samples": 2, "seed": -1}, "seed"),
        ({"n_samples": 2, "thin_bed_probability": 1.5}, "thin_bed_probability"),
        ({"n_samples": 2, "n_faults": -1}, "n_faults"),
        ({"n_samples": 2, "dtype": torch.int32}, "dtype"),
    ],
)
def test_synthetic_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticSeismicDataset(**kwargs)


def test_synthetic_index_out_of_range():
    with pytest.raises(IndexError):
        SyntheticSeismicDataset(2, n_time=8, n_traces=8)[2]


def test_generate_dataset_round_trip(tmp_path):
    ds = SyntheticSeismicDataset(4, n_time=32, n_traces=24, seed=0)
    physics = SeismicDeconvolution()
    path = generate_dataset(ds, physics, str(tmp_path), batch_size=2, verbose=False)
    h5 = HDF5Dataset(path, train=True)
    x, y = h5[1]
    assert torch.equal(x, ds[1])
    torch.testing.assert_close(y, physics.A(ds[1][None])[0])


def test_trainer_online_measurements(tmp_path):
    import deepinv as dinv

    ds = SyntheticSeismicDataset(4, n_time=32, n_traces=16, seed=0)
    physics = SeismicDeconvolution(noise_model=dinv.physics.GaussianNoise(sigma=0.01))

    class AdjointCNN(dinv.models.Reconstructor):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, y, physics, **kwargs):
            return self.conv(physics.A_adjoint(y))

    model = AdjointCNN()
    before = model.conv.weight.detach().clone()
    trainer = dinv.Trainer(
        model=model,
        physics=physics,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        train_dataloader=DataLoader(ds, batch_size=2),
        epochs=1,
        online_measurements=True,
        save_path=None,
        verbose=False,
        show_progress_bar=False,
        plot_images=False,
        device="cpu",
    )
    trained = trainer.train()
    assert not torch.equal(
        trained.conv.weight, before
    )  # it did train on the synthetic sections
    assert trained(physics(torch.stack([ds[0]])), physics).shape == (1, 1, 32, 16)


def test_save_seismic_figure(tmp_path):
    from deepinv_jitter.experiments.figures import save_seismic_figure

    p = save_seismic_figure(
        str(tmp_path / "fig.png"),
        SyntheticSeismicDataset(2, n_time=32, n_traces=32),
        n_sections=2,
        noise_sigma=0.01,
    )
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="n_sections"):
        save_seismic_figure(
            str(tmp_path / "f.png"), SyntheticSeismicDataset(1, 8, 8), n_sections=2
        )


# ---------------------------------------------------------------------------------- SEG-Y
try:
    import segyio
except (
    ImportError
):  # an optional dependency: only the SEG-Y tests are skipped without it
    segyio = None
needs_segyio = pytest.mark.skipif(segyio is None, reason="needs segyio")
if segyio is not None:
    from segy_files import write_line as write_segy


@pytest.fixture
def section():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((50, 40)) * 3.0).astype(np.float32)


@needs_segyio
def test_segy_round_trip_and_patches(tmp_path, section):
    path = tmp_path / "line.sgy"
    write_segy(path, section)
    raw = SegyDataset(path, patch_size=(20, 16), stride=(15, 12), normalize=None)
    # origins t0 in {0, 15, 30}, n0 in {0, 12, 24}: 3 x 3 patches, time-major order
    assert len(raw) == 9
    np.testing.assert_array_equal(raw[0][0].numpy(), section[:20, :16])
    np.testing.assert_array_equal(raw[4][0].numpy(), section[15:35, 12:28])
    np.testing.assert_array_equal(raw[-1][0].numpy(), section[30:50, 24:40])
    assert raw[0].shape == (1, 20, 16) and raw[0].dtype == torch.float32

    scaled = SegyDataset(path, patch_size=(20, 16), normalize="max", scale=0.5)
    np.testing.assert_allclose(
        scaled[0][0].numpy(), section[:20, :16] * 0.5 / np.abs(section).max(), rtol=1e-6
    )
    std = SegyDataset(path, patch_size=(50, 40), normalize="std")
    assert abs(float(std[0].double().std(unbiased=False)) - 1.0) < 1e-6
    per_patch = SegyDataset(path, patch_size=(20, 16), normalize="patch_max")
    assert all(
        abs(float(per_patch[i].abs().max()) - 1.0) < 1e-6 for i in range(len(per_patch))
    )


@needs_segyio
def test_segy_errors(tmp_path, section):
    with pytest.raises(FileNotFoundError, match="not found"):
        SegyDataset(tmp_path / "missing.sgy")
    junk = tmp_path / "junk.sgy"
    junk.write_bytes(b"not a seismic file at all\n" * 10)
    with pytest.raises(ValueError, match="not a SEG-Y file"):
        SegyDataset(junk, patch_size=(4, 4))
    noise = tmp_path / "noise.sgy"
    noise.write_bytes(
        np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    )
    with pytest.raises(ValueError, match="SEG-Y"):
        SegyDataset(noise, patch_size=(4, 4))
    path = tmp_path / "small.sgy"
    write_segy(path, section)
    with pytest.raises(ValueError, match="smaller than one patch"):
        SegyDataset(path, patch_size=(60, 16))
    with pytest.raises(ValueError, match="normalize"):
        SegyDataset(path, patch_size=(8, 8), normalize="l2")
    with pytest.raises(ValueError, match="stride"):
        SegyDataset(path, patch_size=(8, 8), stride=0)


@needs_segyio
def test_segy_missing_segyio_gives_install_hint(tmp_path, section, monkeypatch):
    import builtins

    path = tmp_path / "line.sgy"
    write_segy(path, section)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "segyio":
            raise ImportError("No module named 'segyio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install deepinv-jitter\[seismic\]"):
        SegyDataset(path, patch_size=(8, 8))


# ---------------------------------------------------------------------------------- OOD edit
def test_flat_segment_inserts_fixed_amplitude_and_copies():
    x = SyntheticSeismicDataset(3, n_time=40, n_traces=48, seed=0)
    batch = torch.stack([x[i] for i in range(3)])
    before = batch.clone()
    out, mask = add_flat_segment(
        batch, amplitude=-0.1, length=10, thickness=2, seed=4, return_mask=True
    )
    assert torch.equal(batch, before)  # input untouched
    assert out.shape == batch.shape and mask.dtype == torch.bool
    for b in range(3):
        assert int(mask[b].sum()) == 20
        rows, cols = torch.nonzero(mask[b, 0], as_tuple=True)
        assert (
            rows.unique().numel() == 2 and (cols.max() - cols.min()) == 9
        )  # horizontal, contiguous
    assert torch.all(out[mask] == -0.1) and torch.equal(out[~mask], batch[~mask])
    # positions are drawn per section, reproducibly
    again = add_flat_segment(batch, amplitude=-0.1, length=10, thickness=2, seed=4)
    assert torch.equal(out, again)
    g = torch.Generator().manual_seed(4)
    assert torch.equal(add_flat_segment(batch, length=10, thickness=2, rng=g), out)
    starts = {tuple(torch.nonzero(mask[b, 0])[0].tolist()) for b in range(3)}
    assert len(starts) > 1


@pytest.mark.gpu
def test_flat_segment_accepts_a_cuda_generator_and_cuda_data():
    x = torch.zeros(3, 1, 24, 30, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(4)
    out, mask = add_flat_segment(
        x, amplitude=-0.1, length=10, thickness=2, rng=g, return_mask=True
    )
    assert out.device.type == "cuda" and mask.device.type == "cuda"
    assert int(mask.sum()) == 3 * 10 * 2
    again = add_flat_segment(
        x,
        amplitude=-0.1,
        length=10,
        thickness=2,
        rng=torch.Generator(device="cuda").manual_seed(4),
    )
    assert torch.equal(out, again)


def test_flat_segment_fixed_position_and_errors():
    x = torch.zeros(1, 1, 16, 20, dtype=torch.float64)
    out = add_flat_segment(x, amplitude=0.3, length=5, time_index=7, trace_start=2)
    expected = torch.zeros_like(x)
    expected[0, 0, 7, 2:7] = 0.3
    assert torch.equal(out, expected)
    assert add_flat_segment(torch.zeros(1, 16, 20), length=4).shape == (1, 16, 20)
    with pytest.raises(ValueError, match="trace_start"):
        add_flat_segment(x, length=5, trace_start=16)
    with pytest.raises(ValueError, match="length"):
        add_flat_segment(x, length=21)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, N\)"):
        add_flat_segment(torch.zeros(5))
    with pytest.raises(ValueError, match="seed or (generator|rng)"):
        add_flat_segment(x, seed=1, rng=torch.Generator())
    with pytest.raises(TypeError):
        add_flat_segment(np.zeros((4, 4)))


def test_synthetic_items_are_distinct_across_seeds_and_indices():
    # Planted fault: one generator per seed + index (item i of seed s equal to item i-1 of s+1).
    items = {
        (s, i): SyntheticSeismicDataset(3, n_time=32, n_traces=32, seed=s)[i]
        for s in range(3)
        for i in range(3)
    }
    keys = list(items)
    for a, ka in enumerate(keys):
        for kb in keys[a + 1 :]:
            assert not torch.equal(items[ka], items[kb]), (ka, kb)


@needs_segyio
def test_segy_patches_are_time_major_on_a_non_square_grid(tmp_path, section):
    # Planted fault: patches ordered trace-major. A 3 x 4 grid of origins tells the orders apart
    # (the 3 x 3 grid of test_segy_round_trip_and_patches does not at the indices it checks).
    path = tmp_path / "line.sgy"
    write_segy(path, section)  # (50, 40)
    ds = SegyDataset(path, patch_size=(20, 16), stride=(15, 8), normalize=None)
    origins = [(t0, n0) for t0 in (0, 15, 30) for n0 in (0, 8, 16, 24)]
    assert len(ds) == len(origins)
    for k, (t0, n0) in enumerate(origins):
        np.testing.assert_array_equal(
            ds[k][0].numpy(), section[t0 : t0 + 20, n0 : n0 + 16]
        )


def test_flat_segment_replaces_nonzero_samples_with_the_amplitude():
    # Planted fault: the amplitude added to the samples under the segment instead of replacing
    # them (invisible on all-zero input). Uses ``rng`` (``generator`` is deprecated).
    x = torch.stack(
        [
            SyntheticSeismicDataset(2, n_time=24, n_traces=32, seed=3)[i]
            for i in range(2)
        ]
    )
    x = x + 0.5  # no zero sample anywhere
    out, mask = add_flat_segment(
        x,
        amplitude=-0.1,
        length=6,
        thickness=2,
        rng=torch.Generator().manual_seed(2),
        return_mask=True,
    )
    assert int(mask.sum()) == 2 * 6 * 2
    assert torch.all(out[mask] == -0.1)
    assert torch.equal(out[~mask], x[~mask])
    again = add_flat_segment(
        x, amplitude=-0.1, length=6, thickness=2, rng=torch.Generator().manual_seed(2)
    )
    assert torch.equal(out, again)


def test_synthetic_sections_are_never_constant_and_only_those_are_redrawn():
    # seed 10001 (the quick preset's test set of seed 1) draws a reflection-free section 54
    ds = SyntheticSeismicDataset(64, n_time=64, n_traces=64, seed=10001)
    first = ds._draw(np.random.default_rng([10001, 54]))
    assert np.ptp(first) == 0
    redrawn = ds.reflectivity(54)
    assert np.ptp(redrawn) > 0
    assert np.array_equal(redrawn, ds._draw(np.random.default_rng([10001, 54, 1])))
    for i in (0, 53, 55):  # the others are their first draw
        assert np.array_equal(
            ds.reflectivity(i), ds._draw(np.random.default_rng([10001, i]))
        )
