"""Data sets: the pdeml HDF5 format, readers for external formats, device-resident batches,
normalizers and generation."""

from pdeml.data.dataset import DataError, DeviceDataset, DeviceLoader
from pdeml.data.formats import (
    load_dataset,
    read_fno_mat,
    read_neuralop_pt,
    read_pdebench_darcy,
    read_pdeml_hdf5,
    save_dataset,
)
from pdeml.data.generate import (
    cached_dataset,
    generate,
    generate_arrays,
    generate_shard,
    merge_shards,
    parse_shard,
)
from pdeml.data.mesh import read_mesh, write_grid_fields
from pdeml.data.normalizers import UnitGaussianNormalizer

__all__ = [
    "DataError", "DeviceDataset", "DeviceLoader", "UnitGaussianNormalizer", "cached_dataset",
    "generate", "generate_arrays", "generate_shard", "load_dataset", "merge_shards", "parse_shard", "read_mesh",
    "write_grid_fields", "read_fno_mat", "read_neuralop_pt",
    "read_pdebench_darcy", "read_pdeml_hdf5", "save_dataset",
]
