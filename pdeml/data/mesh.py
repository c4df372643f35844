"""Mesh export and import with meshio: grids as quads (2D) or hexahedra (3D) with point data.

``export_sample`` writes one sample of a data set (inputs, solution and optionally a model's
prediction and error) to VTU or XDMF, for ParaView and friends; ``read_mesh`` brings the points
and cells of any mesh file meshio reads (Gmsh ``.msh``, VTU, XDMF, ...) in, to evaluate a model
or an exact solution there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import meshio
import numpy as np

from pdeml.data.dataset import DataError

_CELL = {1: "line", 2: "quad", 3: "hexahedron"}


def grid_mesh(coords: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Points ``(n, 3)`` and cells of the tensor grid with 1D node coordinates ``coords``.

    Points are numbered in C order of the grid (index ``(i, j[, k])`` -> ``(i * ny + j) * nz + k``),
    so a grid array ``u`` of shape ``(nx, ny[, nz])`` is point data ``u.ravel()``.
    """
    dim = len(coords)
    if dim not in _CELL:
        raise ValueError(f"grid meshes are 1D, 2D or 3D, got {dim} coordinate arrays")
    shape = tuple(len(c) for c in coords)
    if min(shape) < 2:
        raise ValueError(f"each grid axis needs at least 2 nodes, got {shape}")
    mesh = np.meshgrid(*coords, indexing="ij")
    points = np.zeros((int(np.prod(shape)), 3))
    for d in range(dim):
        points[:, d] = mesh[d].ravel()
    idx = np.arange(points.shape[0]).reshape(shape)
    if dim == 1:
        cells = np.stack([idx[:-1], idx[1:]], axis=-1)
    elif dim == 2:
        cells = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], axis=-1).reshape(-1, 4)
    else:
        c = [idx[:-1, :-1, :-1], idx[1:, :-1, :-1], idx[1:, 1:, :-1], idx[:-1, 1:, :-1],
             idx[:-1, :-1, 1:], idx[1:, :-1, 1:], idx[1:, 1:, 1:], idx[:-1, 1:, 1:]]
        cells = np.stack(c, axis=-1).reshape(-1, 8)
    return points, [(_CELL[dim], cells)]


def _point_arrays(name: str, arr: np.ndarray, dim: int) -> list[tuple[str, np.ndarray, int | None]]:
    """Split a sample array ``(channels, *space[, time])`` into (name, point values, time index)."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim not in (dim + 1, dim + 2):
        raise DataError(f"{name} has shape {arr.shape}; expected (channels, *space[, time]) with {dim} spatial axes")
    out = []
    for c in range(arr.shape[0]):
        label = name if arr.shape[0] == 1 else f"{name}{c}"
        if arr.ndim == dim + 1:
            out.append((label, arr[c].ravel(), None))
        else:
            out += [(label, arr[c, ..., t].ravel(), t) for t in range(arr.shape[-1])]
    return out


def write_grid_fields(path: str | os.PathLike, coords: Sequence[np.ndarray],
                      fields: dict[str, np.ndarray], times: Sequence[float] | None = None) -> Path:
    """Write ``fields`` (each ``(channels, *space[, time])``) on the grid to ``.vtu`` or ``.xdmf``.

    Time-dependent fields become a time series in XDMF and one array per time (``name_t003``)
    in VTU. Written atomically (XDMF's companion ``.h5`` too).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".vtu", ".xdmf"):
        raise ValueError(f"export writes .vtu or .xdmf files, got {path.name!r}")
    companion = path.with_suffix(".h5")
    if suffix == ".xdmf" and companion.exists() and _is_dataset(companion):
        raise ValueError(f"writing {path.name} would overwrite {companion}, a data set (XDMF keeps its arrays "
                         f"in a .h5 file of the same stem): choose another output name")
    points, cells = grid_mesh(coords)
    static: dict[str, np.ndarray] = {}
    series: dict[int, dict[str, np.ndarray]] = {}
    for name, arr in fields.items():
        for label, values, t in _point_arrays(name, arr, len(coords)):
            if t is None:
                static[label] = values
            else:
                series.setdefault(t, {})[label] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".export-", dir=path.parent)).resolve()
    try:
        target = tmpdir / path.name
        if suffix == ".vtu" or not series:
            data = dict(static)
            for t, arrays in series.items():
                data.update({f"{k}_t{t:03d}": v for k, v in arrays.items()})
            meshio.write(target, meshio.Mesh(points, cells, point_data=data))
        else:
            times = list(times) if times is not None else list(range(len(series)))
            # meshio puts the companion .h5 in the working directory: write from inside tmpdir
            cwd = os.getcwd()
            os.chdir(tmpdir)
            try:
                with meshio.xdmf.TimeSeriesWriter(target.name) as writer:
                    writer.write_points_cells(points, cells)
                    for t in sorted(series):
                        writer.write_data(float(times[t]), point_data={**static, **series[t]})
            finally:
                os.chdir(cwd)
        for produced in tmpdir.iterdir():
            os.replace(produced, path.parent / produced.name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def _is_dataset(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return "x" in fh and "y" in fh
    except OSError:
        return False


def problem_of(meta: dict):
    """The registered problem a data file was generated from, or None (external data)."""
    from pdeml import problems

    name = meta.get("problem")
    if name not in problems.PROBLEMS:
        return None
    try:
        return problems.get(name, **(meta.get("params") or {}))
    except (TypeError, ValueError):
        return None


def sample_coordinates(meta: dict, space_shape: Sequence[int]) -> list[np.ndarray]:
    """Node coordinates of a data set's grid: from its problem's ``coordinates`` when the file
    names a registered problem, else the unit box with both ends included."""
    prob = problem_of(meta)
    if prob is not None:
        try:
            return prob.coordinates(list(space_shape))
        except ValueError:
            pass
    return [np.linspace(0.0, 1.0, n) for n in space_shape]


def sample_times(meta: dict, n_times: int) -> list[float] | None:
    """Times of a trajectory's frames when the file's problem records them (``record_times``)."""
    times = getattr(problem_of(meta), "record_times", None)
    if times is not None and len(times) >= n_times:
        return [float(t) for t in list(times)[-n_times:]]
    return None


@dataclass
class MeshPoints:
    """Points of a mesh file: ``points`` (n, dim), ``cells`` {type: (m, k) int}, point data."""

    points: np.ndarray
    cells: dict[str, np.ndarray]
    point_data: dict[str, np.ndarray]

    @property
    def dim(self) -> int:
        return self.points.shape[1]


def read_mesh(path: str | os.PathLike, dim: int | None = None) -> MeshPoints:
    """Read any mesh file meshio understands; trailing coordinates that are zero everywhere are
    dropped (a 2D mesh stored with z = 0 gives ``dim == 2``) unless ``dim`` is given."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"mesh file {path} does not exist")
    try:
        mesh = meshio.read(path)
    except Exception as err:  # noqa: BLE001 - meshio raises many types for unreadable files
        raise DataError(f"cannot read mesh {path} ({err})") from err
    pts = np.asarray(mesh.points, dtype=np.float64)
    if dim is None:
        dim = pts.shape[1]
        while dim > 1 and np.all(pts[:, dim - 1] == 0):
            dim -= 1
    cells: dict[str, np.ndarray] = {}
    for block in mesh.cells:
        cells[block.type] = np.concatenate([cells[block.type], block.data]) if block.type in cells else block.data
    return MeshPoints(pts[:, :dim], cells, {k: np.asarray(v) for k, v in mesh.point_data.items()})
