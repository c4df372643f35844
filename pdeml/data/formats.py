"""The pdeml HDF5 format and readers for the formats users already hold.

pdeml HDF5: datasets ``x`` and ``y`` (batch, channels, *space[, time]) plus file attributes
``format = "pdeml"``, ``problem``, ``params`` (JSON), ``resolution``, ``seed``, ``solver``,
``pdeml_version`` and ``layout``. Files are written atomically and byte-for-byte reproducibly.

Readers (all return a :class:`~pdeml.data.dataset.DeviceDataset` on the CPU):

* FNO ``.mat`` files, MATLAB v5 (scipy.io) and v7.3 (HDF5, axes stored reversed), Darcy keys
  ``coeff``/``sol`` and Navier-Stokes keys ``a``/``u``;
* PDEBench 2D Darcy HDF5 (``nu`` (N, X, Y) -> x, ``tensor`` (N, 1, X, Y) -> y);
* neuraloperator ``.pt`` dicts with ``x`` and ``y`` (loaded with ``weights_only=True``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

import pdeml
from pdeml.data.dataset import DataError, DeviceDataset
from pdeml.io import atomic_path

LAYOUT = "batch, channel, space..., time"


def _jsonify_attr(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return "null"
    return value


def save_dataset(path: str | os.PathLike, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                 **attrs: Any) -> Path:
    """Write ``x`` and ``y`` with ``attrs`` (dicts and lists stored as JSON) atomically to ``path``.

    The same arrays and attributes always give the same bytes (no timestamps are stored).
    """
    ds = DeviceDataset(x, y, dtype=None)  # validates ranks, sample counts and finiteness
    meta = {"format": "pdeml", "pdeml_version": pdeml.__version__, "layout": LAYOUT,
            "n_samples": len(ds), **attrs}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver="earliest", track_order=False) as fh:
            for name, t in (("x", ds.x), ("y", ds.y)):
                fh.create_dataset(name, data=t.cpu().numpy(), track_times=False)
            for key in sorted(meta):
                fh.attrs[key] = _jsonify_attr(meta[key])
    return Path(path)


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{" or value == "null":
        try:
            return json.loads(value)
        except (json.JSONDecodeError, TypeError):
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(
            f"{path} is not a readable HDF5 file ({err}); it may be truncated or corrupt: regenerate it"
        ) from err


def _read_array(fh: h5py.File, key: str, path: Path) -> np.ndarray:
    try:
        return fh[key][()]
    except (OSError, KeyError, ValueError) as err:
        raise DataError(f"cannot read {key!r} from {path} ({err}); the file may be truncated or corrupt") from err


def read_pdeml_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The attributes of a pdeml HDF5 file, without reading its arrays."""
    path = Path(path)
    with _open_h5(path) as fh:
        return {k: _decode_attr(v) for k, v in fh.attrs.items()}


def read_pdeml_hdf5(path: str | os.PathLike) -> DeviceDataset:
    path = Path(path)
    with _open_h5(path) as fh:
        missing = [k for k in ("x", "y") if k not in fh]
        if missing:
            raise DataError(f"{path} has no {' or '.join(missing)} array; found keys {sorted(fh.keys())}")
        x, y = _read_array(fh, "x", path), _read_array(fh, "y", path)
        meta = {k: _decode_attr(v) for k, v in fh.attrs.items()}
    meta["path"] = str(path)
    return DeviceDataset(x, y, meta)


def read_pdebench_darcy(path: str | os.PathLike) -> DeviceDataset:
    """PDEBench 2D Darcy flow: ``nu`` (N, X, Y) coefficient, ``tensor`` (N, 1, X, Y) solution."""
    path = Path(path)
    with _open_h5(path) as fh:
        if "nu" not in fh or "tensor" not in fh:
            raise DataError(f"{path} is not a PDEBench Darcy file: expected 'nu' and 'tensor', found {sorted(fh.keys())}")
        nu, sol = _read_array(fh, "nu", path), _read_array(fh, "tensor", path)
        beta = fh.attrs.get("beta")
    if nu.ndim != 3 or sol.ndim != 4:
        raise DataError(f"PDEBench Darcy expects nu (N, X, Y) and tensor (N, 1, X, Y), got {nu.shape} and {sol.shape}")
    meta = {"format": "pdebench", "problem": "darcy", "path": str(path), "resolution": int(nu.shape[-1])}
    if beta is not None:
        meta["params"] = {"beta": float(np.asarray(beta).item())}
    return DeviceDataset(nu[:, None], sol, meta)


_FNO_KEYS = (("coeff", "sol"), ("a", "u"), ("input", "output"))


def _fno_layout(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FNO arrays are (N, *space[, T]) without a channel axis: add it."""
    return x[:, None], y[:, None]


def read_fno_mat(path: str | os.PathLike, x_key: str | None = None, y_key: str | None = None) -> DeviceDataset:
    """FNO ``.mat`` data (v5 via scipy.io, v7.3 via h5py with the MATLAB axis order undone)."""
    path = Path(path)
    if h5py.is_hdf5(path):
        with _open_h5(path) as fh:
            keys = [k for k in fh.keys() if not k.startswith("#")]
            xk, yk = _pick_keys(keys, x_key, y_key, path)
            # MATLAB stores column-major; h5py shows the axes reversed
            x = np.transpose(_read_array(fh, xk, path))
            y = np.transpose(_read_array(fh, yk, path))
        version = "7.3"
    else:
        import scipy.io

        try:
            mat = scipy.io.loadmat(path)
        except (ValueError, OSError, TypeError) as err:
            raise DataError(f"{path} is not a readable MATLAB file ({err})") from err
        keys = [k for k in mat if not k.startswith("__")]
        xk, yk = _pick_keys(keys, x_key, y_key, path)
        x, y = mat[xk], mat[yk]
        version = "5"
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{path}: {xk!r} has {x.shape[0]} samples but {yk!r} has {y.shape[0]}")
    x, y = _fno_layout(np.asarray(x), np.asarray(y))
    meta = {"format": f"fno-mat-v{version}", "path": str(path), "x_key": xk, "y_key": yk,
            "resolution": int(x.shape[2])}
    return DeviceDataset(x, y, meta)


def _pick_keys(keys: list[str], x_key: str | None, y_key: str | None, path: Path) -> tuple[str, str]:
    if x_key and y_key:
        for k in (x_key, y_key):
            if k not in keys:
                raise DataError(f"{path} has no array {k!r}; found {sorted(keys)}")
        return x_key, y_key
    for xk, yk in _FNO_KEYS:
        if xk in keys and yk in keys:
            return xk, yk
    raise DataError(f"{path}: cannot tell input from output among {sorted(keys)}; pass x_key= and y_key=")


def read_neuralop_pt(path: str | os.PathLike) -> DeviceDataset:
    """neuraloperator ``.pt`` dict ``{"x": (N, *space), "y": (N, [T,] *space), ...}``.

    A channel axis is added. When ``y`` has one axis more than ``x`` (e.g. Burgers: x (N, X),
    y (N, T, X)), that axis is time and moves last, giving y (N, 1, X, T).
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
        raise DataError(f"{path} is not a readable torch file ({err})") from err
    if not isinstance(obj, dict) or "x" not in obj or "y" not in obj:
        found = sorted(obj.keys()) if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"{path}: expected a dict with 'x' and 'y', found {found}")
    x, y = torch.as_tensor(obj["x"]), torch.as_tensor(obj["y"])
    meta: dict[str, Any] = {"format": "neuraloperator-pt", "path": str(path)}
    for k, v in obj.items():
        if k not in ("x", "y") and (isinstance(v, (int, float, str)) or (torch.is_tensor(v) and v.numel() == 1)):
            meta[k] = v.item() if torch.is_tensor(v) else v
    if y.ndim == x.ndim + 1:
        y = torch.movedim(y, 1, -1)
        meta["time_axis"] = "last"
    elif y.ndim != x.ndim:
        raise DataError(f"{path}: cannot match x {tuple(x.shape)} with y {tuple(y.shape)}")
    meta["resolution"] = int(x.shape[1]) if x.ndim > 1 else 0
    return DeviceDataset(x.unsqueeze(1), y.unsqueeze(1), meta)


def load_dataset(path: str | os.PathLike, format: str = "auto", **kwargs: Any) -> DeviceDataset:
    """Load a data set file into a CPU :class:`DeviceDataset` (move it with ``.to(device)``).

    ``format``: ``"auto"`` (by extension and contents), ``"pdeml"``, ``"fno-mat"``,
    ``"pdebench"`` or ``"neuraloperator"``. Extra keyword arguments go to the reader
    (``x_key``/``y_key`` for ``.mat`` files).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data set file {path} does not exist")
    readers = {"pdeml": read_pdeml_hdf5, "fno-mat": read_fno_mat, "pdebench": read_pdebench_darcy,
               "neuraloperator": read_neuralop_pt}
    if format == "auto":
        format = _detect_format(path)
    if format not in readers:
        raise ValueError(f"unknown data format {format!r}; known formats: auto, {', '.join(sorted(readers))}")
    return readers[format](path, **kwargs)


def _detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "fno-mat"
    if suffix in (".pt", ".pth"):
        return "neuraloperator"
    if suffix in (".h5", ".hdf5", ".hdf"):
        with _open_h5(path) as fh:
            if "nu" in fh and "tensor" in fh:
                return "pdebench"
        return "pdeml"
    raise DataError(f"cannot tell the format of {path} from its extension; pass format= "
                    "(pdeml, fno-mat, pdebench, neuraloperator)")
