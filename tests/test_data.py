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


def test_sharded_generation_merges_to_the_same_bytes_and_skips_finished_shards(tmp_path):
    from pdeml.data import generate, generate_shard, merge_shards
    from pdeml.data.generate import shard_path

    direct = generate("darcy", 11, 10, tmp_path / "direct.h5", seed=2, progress=False)
    out = tmp_path / "sharded.h5"
    for i in range(3):
        assert main(["generate", "darcy", "--n", "11", "--res", "10", "--seed", "2", "--out", str(out),
                     "--shard", f"{i}/3", "--quiet"]) == 0
    assert main(["merge", str(out)]) == 0
    assert sha(out) == sha(direct)
    # a re-run keeps complete parts and regenerates a damaged one
    part1 = shard_path(out, 1, 3)
    mtime = part1.stat().st_mtime_ns
    assert generate_shard("darcy", 11, 10, out, 1, 3, seed=2, progress=False)[1] is True
    assert part1.stat().st_mtime_ns == mtime
    part1.write_bytes(part1.read_bytes()[:100])
    assert generate_shard("darcy", 11, 10, out, 1, 3, seed=2, progress=False)[1] is False
    assert sha(merge_shards(out, 3)) == sha(direct)
    # other shard counts and --shards give the same file too
    assert main(["generate", "darcy", "--n", "11", "--res", "10", "--seed", "2", "--out", str(tmp_path / "s4.h5"),
                 "--shards", "4", "--workers", "2", "--quiet"]) == 0
    assert sha(tmp_path / "s4.h5") == sha(direct)


def test_merge_reports_missing_and_mismatched_shards(tmp_path):
    from pdeml.data import generate_shard, merge_shards

    out = tmp_path / "d.h5"
    generate_shard("darcy", 6, 8, out, 0, 2, seed=0, progress=False)
    with pytest.raises(DataError, match=r"shards \[1\] of 2 are missing"):
        merge_shards(out, 2)
    generate_shard("darcy", 6, 8, out, 1, 2, seed=1, progress=False)  # another seed
    with pytest.raises(DataError, match="other arguments"):
        merge_shards(out, 2)
    from pdeml.data import parse_shard

    with pytest.raises(ValueError, match="i/n"):
        parse_shard("2")
    with pytest.raises(ValueError, match="out of range"):
        parse_shard("3/3")
    assert main(["generate", "darcy", "--n", "6", "--res", "8", "--out", str(out), "--shard", "2"]) == 2


def test_blow_up_names_the_sample(tmp_path, monkeypatch):
    from pdeml.data import generate
    from pdeml.problems.darcy import Darcy

    original = Darcy.solve_sample

    def broken(self, rng, resolution):
        x, y = original(self, rng, resolution)
        if rng.random() < 2:  # every sample: the solve "blows up"
            y = y * np.nan
        return x, y

    monkeypatch.setattr(Darcy, "solve_sample", broken)
    with pytest.raises(FloatingPointError, match=r"darcy sample 0 \(seed 0\): the solution contains NaN"):
        generate("darcy", 4, 8, tmp_path / "x.h5", progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_export_vtu_and_xdmf_round_trip_and_read_mesh(tmp_path, darcy_file):
    import meshio

    from pdeml.data import read_mesh

    ds = load_dataset(darcy_file)
    for suffix in ("vtu", "xdmf"):
        out = tmp_path / f"s.{suffix}"
        assert main(["export", str(darcy_file), "--index", "3", "--out", str(out)]) == 0
        mesh = meshio.read(out)
        assert mesh.points.shape == (16 * 16, 3) and mesh.cells[0].type == "quad" and len(mesh.cells[0].data) == 15 * 15
        # point (i, j) of the grid sits at (i/15, j/15) and carries y[i, j]
        k = 5 * 16 + 9
        assert np.allclose(mesh.points[k, :2], [5 / 15, 9 / 15])
        assert np.allclose(mesh.point_data["y"][k], ds.y[3, 0, 5, 9].item())
        assert np.allclose(mesh.point_data["x"], ds.x[3, 0].numpy().ravel())
    back = read_mesh(tmp_path / "s.vtu")
    assert back.dim == 2 and back.points.shape == (256, 2) and back.cells["quad"].shape == (225, 4)
    # a Gmsh file with 3D points
    pts = np.random.default_rng(0).random((10, 3))
    meshio.write(tmp_path / "p.msh", meshio.Mesh(pts, [("vertex", np.arange(10)[:, None])]), file_format="gmsh22")
    assert read_mesh(tmp_path / "p.msh").dim == 3
    assert main(["export", str(darcy_file), "--out", str(tmp_path / "s.obj")]) == 2
    clash = darcy_file.with_suffix(".xdmf")  # its companion .h5 would be the data set itself
    assert main(["export", str(darcy_file), "--out", str(clash)]) == 2 and load_dataset(darcy_file).x.shape[0] == 48
    assert main(["export", str(darcy_file), "--index", "48", "--out", str(tmp_path / "s.vtu")]) == 2


def test_export_time_series_and_3d(tmp_path):
    import meshio

    from pdeml.data import write_grid_fields

    c = [np.linspace(0, 1, 4)] * 3
    u = np.random.default_rng(0).random((1, 4, 4, 4, 3))
    write_grid_fields(tmp_path / "t.xdmf", c, {"u": u}, times=[0.0, 0.5, 1.0])
    with meshio.xdmf.TimeSeriesReader(tmp_path / "t.xdmf") as reader:
        points, cells = reader.read_points_cells()
        assert cells[0].type == "hexahedron" and len(cells[0].data) == 27
        t, point_data, _ = reader.read_data(2)
        assert t == 1.0 and np.allclose(point_data["u"], u[0, ..., 2].ravel())
    write_grid_fields(tmp_path / "t.vtu", c, {"u": u})
    assert np.allclose(meshio.read(tmp_path / "t.vtu").point_data["u_t001"], u[0, ..., 1].ravel())


def test_cache_keys_on_problem_parameters(tmp_path):
    from pdeml.data import cached_dataset

    a = cached_dataset("darcy", 3, 8, cache_dir=tmp_path, progress=False)
    b = cached_dataset("darcy", 3, 8, cache_dir=tmp_path, params={"a_plus": 10.0}, progress=False)
    assert a != b and load_dataset(b).meta["params"]["a_plus"] == 10.0
    assert cached_dataset("darcy", 3, 8, cache_dir=tmp_path, progress=False) == a  # reused
    assert set(np.unique(load_dataset(a).x)) == {3.0, 12.0}
