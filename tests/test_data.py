import hashlib

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from pdeml.cli import main
from pdeml.data import (
    DataError,
    DeviceDataset,
    DeviceLoader,
    UnitGaussianNormalizer,
    load_dataset,
    save_dataset,
)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hdf5_round_trip_with_metadata(darcy_file):
    ds = load_dataset(darcy_file)
    assert ds.x.shape == (48, 1, 16, 16) and ds.y.shape == (48, 1, 16, 16)
    assert ds.x.dtype == torch.float32
    meta = ds.meta
    assert meta["problem"] == "darcy" and meta["resolution"] == 16 and meta["seed"] == 0
    assert meta["params"]["a_plus"] == 12.0 and meta["solver"].startswith("scipy")
    assert "pdeml_version" in meta and meta["n_samples"] == 48
    # the stored sample equals a fresh solve of the same (seed, index)
    from pdeml import problems

    x5, y5 = problems.get("darcy").sample(5, 0, 16)
    assert np.array_equal(ds.x[5].numpy(), x5) and np.array_equal(ds.y[5].numpy(), y5)


def test_generate_cli_same_bytes_whatever_the_workers(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main(["generate", "darcy", "--n", "20", "--res", "12", "--seed", "3", "--out", str(a), "--quiet"]) == 0
    assert main(["generate", "darcy", "--n", "20", "--res", "12", "--seed", "3", "--out", str(b),
                 "--workers", "2", "--quiet"]) == 0
    assert sha(a) == sha(b)
    c = tmp_path / "c.h5"
    main(["generate", "darcy", "--n", "20", "--res", "12", "--seed", "4", "--out", str(c), "--quiet"])
    assert sha(a) != sha(c)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "d.h5"
    save_dataset(path, np.ones((2, 1, 4, 4)), np.ones((2, 1, 4, 4)), problem="t")
    before = sha(path)
    with pytest.raises(DataError, match="NaN"):
        save_dataset(path, np.full((2, 1, 4, 4), np.nan), np.ones((2, 1, 4, 4)))
    assert sha(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]


def test_bad_arrays_are_rejected():
    with pytest.raises(DataError, match=r"NaN/Inf values \(first in sample 1\)"):
        x = np.zeros((3, 1, 4, 4))
        x[1, 0, 2, 2] = np.inf
        DeviceDataset(x, np.zeros((3, 1, 4, 4)))
    with pytest.raises(DataError, match="x has 3 samples but y has 2"):
        DeviceDataset(np.zeros((3, 1, 4, 4)), np.zeros((2, 1, 4, 4)))
    with pytest.raises(DataError, match="rank >= 3"):
        DeviceDataset(np.zeros((3, 4)), np.zeros((3, 1, 4)))


def test_truncated_and_corrupt_files(tmp_path, darcy_file):
    data = darcy_file.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset(trunc)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset(junk)
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "nox.h5", "w") as fh:
        fh["y"] = np.zeros((2, 1, 3, 3))
    with pytest.raises(DataError, match="no x array"):
        load_dataset(tmp_path / "nox.h5")


def test_fno_mat_v5_and_v73_readers(tmp_path):
    rng = np.random.default_rng(0)
    coeff, sol = rng.random((4, 7, 7)), rng.random((4, 7, 7))
    coeff[:, 0, 1] = 5.0  # breaks the x <-> y symmetry so an axis swap would show
    scipy.io.savemat(tmp_path / "darcy.mat", {"coeff": coeff, "sol": sol})
    ds = load_dataset(tmp_path / "darcy.mat")
    assert ds.x.shape == (4, 1, 7, 7) and ds.meta["format"] == "fno-mat-v5"
    assert np.allclose(ds.x[:, 0].numpy(), coeff)
    # v7.3 is HDF5 written by MATLAB in column-major order: h5py sees the axes reversed
    u = rng.random((4, 7, 7, 5))  # Navier-Stokes layout (N, x, y, t)
    with h5py.File(tmp_path / "ns.mat", "w") as fh:
        fh["a"] = np.transpose(u[..., 0])
        fh["u"] = np.transpose(u)
    ds = load_dataset(tmp_path / "ns.mat")
    assert ds.meta["format"] == "fno-mat-v7.3"
    assert ds.y.shape == (4, 1, 7, 7, 5)
    assert np.allclose(ds.y[:, 0].numpy(), u) and np.allclose(ds.x[:, 0].numpy(), u[..., 0])
    scipy.io.savemat(tmp_path / "odd.mat", {"p": coeff, "q": sol})
    with pytest.raises(DataError, match="x_key"):
        load_dataset(tmp_path / "odd.mat")
    assert load_dataset(tmp_path / "odd.mat", x_key="p", y_key="q").x.shape == (4, 1, 7, 7)


def test_pdebench_and_neuraloperator_readers(tmp_path):
    rng = np.random.default_rng(1)
    nu, tensor = rng.random((3, 8, 8)), rng.random((3, 1, 8, 8))
    with h5py.File(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5", "w") as fh:
        fh["nu"], fh["tensor"] = nu, tensor
        fh["x-coordinate"] = np.linspace(0, 1, 8)
        fh.attrs["beta"] = 1.0
    ds = load_dataset(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    assert ds.meta["format"] == "pdebench" and ds.meta["params"] == {"beta": 1.0}
    assert np.allclose(ds.x[:, 0].numpy(), nu) and ds.y.shape == (3, 1, 8, 8)

    torch.save({"x": torch.rand(5, 6, 6) > 0.5, "y": torch.rand(5, 6, 6)}, tmp_path / "darcy.pt")
    ds = load_dataset(tmp_path / "darcy.pt")
    assert ds.x.dtype == torch.float32 and ds.x.shape == (5, 1, 6, 6)
    burgers_y = torch.rand(5, 17, 16, dtype=torch.float64)
    torch.save({"x": torch.rand(5, 16, dtype=torch.float64), "y": burgers_y, "visc": 0.01}, tmp_path / "b.pt")
    ds = load_dataset(tmp_path / "b.pt")
    assert ds.y.shape == (5, 1, 16, 17) and ds.meta["visc"] == 0.01
    assert torch.allclose(ds.y[:, 0, :, 3].double(), burgers_y[:, 3].float().double())
    torch.save({"a": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="expected a dict with 'x' and 'y'"):
        load_dataset(tmp_path / "bad.pt")


def test_normalizers_fit_encode_decode_and_state_dict():
    torch.manual_seed(0)
    data = 3 + 2 * torch.randn(50, 2, 8, 8)
    for mode in ("channel", "pointwise"):
        norm = UnitGaussianNormalizer(mode).fit(data)
        enc = norm.encode(data)
        dims = (0, 2, 3) if mode == "channel" else (0,)
        assert torch.allclose(enc.mean(dim=dims), torch.zeros(()), atol=1e-5)
        assert torch.allclose(enc.std(dim=dims), torch.ones(()), atol=1e-3)
        assert torch.allclose(norm.decode(enc), data, atol=1e-5)
        fresh = UnitGaussianNormalizer(mode)
        fresh.load_state_dict(norm.state_dict())
        assert torch.equal(fresh.encode(data), enc)
    chan = UnitGaussianNormalizer("channel").fit(data)
    assert chan.encode(torch.zeros(1, 2, 16, 16)).shape == (1, 2, 16, 16)  # resolution independent
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        UnitGaussianNormalizer("pointwise").fit(data).encode(torch.zeros(1, 2, 16, 16))
    with pytest.raises(RuntimeError, match="not fitted"):
        UnitGaussianNormalizer().encode(data)


def test_device_loader_slices_shuffles_reproducibly_and_shards():
    ds = DeviceDataset(torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10.0).view(10, 1, 1, 1))
    loader = DeviceLoader(ds, batch_size=4, shuffle=True, seed=5)
    assert len(loader) == 3
    epoch0 = torch.cat([x.flatten() for x, _ in loader])
    assert sorted(epoch0.tolist()) == list(range(10))
    assert torch.equal(epoch0, torch.cat([x.flatten() for x, _ in loader]))  # same epoch, same order
    loader.set_epoch(1)
    assert not torch.equal(epoch0, torch.cat([x.flatten() for x, _ in loader]))
    for x, y in loader:
        assert torch.equal(x, y)  # pairs stay together
    plain = DeviceLoader(ds, batch_size=4, shuffle=False)
    assert torch.cat([x.flatten() for x, _ in plain]).tolist() == list(range(10))
    shards = [DeviceLoader(ds, 2, seed=5).shard(r, 3) for r in range(3)]
    seen = [torch.cat([x.flatten() for x, _ in s]).tolist() for s in shards]
    assert all(len(s) == 4 for s in seen)  # 10 samples -> 4 per rank, padded by wrapping
    assert set(sum(seen, [])) == set(range(10))
    assert len(DeviceLoader(ds, 4, drop_last=True)) == 2


def test_external_neuraloperator_files_when_present():
    """Reads the small Darcy set of the neuraloperator project when a copy is beside the checkout."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "shared" / "external" / "neuraloperator"
    if not (root / "darcy_test_16.pt").exists():
        pytest.skip("external neuraloperator data not present")
    ds = load_dataset(root / "darcy_test_16.pt")
    assert ds.x.shape == (50, 1, 16, 16)
    assert set(torch.unique(ds.x).tolist()) <= {0.0, 1.0}
