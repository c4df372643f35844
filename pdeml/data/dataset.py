"""The device-resident data set and its index-slice loader.

The whole split lives on the training device as two tensors; a batch is an index slice, so
there are no worker processes and no per-batch host-to-device copies.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from pdeml.device import resolve_device


class DataError(ValueError):
    """A data set or file that cannot be used; the message says what was expected."""


def as_tensor(name: str, arr: Any, dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
    """Convert an array to a tensor (bool and integers become ``dtype``), checking it is finite."""
    if isinstance(arr, np.ndarray):
        arr = torch.from_numpy(np.ascontiguousarray(arr))
    elif not isinstance(arr, torch.Tensor):
        arr = torch.as_tensor(np.asarray(arr))
    if dtype is not None and (not arr.is_floating_point() or arr.dtype != dtype):
        if arr.is_complex():
            raise DataError(f"{name} is complex; expected real values")
        arr = arr.to(dtype)
    if arr.is_floating_point():
        bad = ~torch.isfinite(arr)
        if bool(bad.any()):
            first = int(bad.reshape(arr.shape[0], -1).any(dim=1).nonzero()[0, 0]) if arr.ndim else 0
            raise DataError(f"{name} contains {int(bad.sum())} NaN/Inf values (first in sample {first})")
    return arr


class DeviceDataset:
    """Inputs ``x`` and targets ``y`` (batch, channels, *space[, time]) held as whole tensors.

    ``meta`` carries the attributes of the file the data came from.
    """

    def __init__(self, x: Any, y: Any, meta: dict[str, Any] | None = None,
                 dtype: torch.dtype | None = torch.float32):
        x = as_tensor("x", x, dtype)
        y = as_tensor("y", y, dtype)
        for name, t in (("x", x), ("y", y)):
            if t.ndim < 3:
                raise DataError(
                    f"{name} must have rank >= 3 (batch, channels, *space), got shape {tuple(t.shape)}"
                )
        if x.shape[0] != y.shape[0]:
            raise DataError(f"x has {x.shape[0]} samples but y has {y.shape[0]}; they must match")
        if x.shape[0] == 0:
            raise DataError("the data set is empty")
        self.x, self.y = x, y
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: str | torch.device = "auto") -> DeviceDataset:
        dev = resolve_device(device)
        if dev == self.x.device:
            return self
        return DeviceDataset(self.x.to(dev), self.y.to(dev), self.meta, dtype=None)

    def subset(self, index: slice | torch.Tensor | list[int]) -> DeviceDataset:
        return DeviceDataset(self.x[index], self.y[index], self.meta, dtype=None)

    def split(self, n_train: int, n_test: int | None = None) -> tuple[DeviceDataset, DeviceDataset]:
        """First ``n_train`` samples and the next ``n_test`` (default: all the rest)."""
        n = len(self)
        n_test = n - n_train if n_test is None else n_test
        if n_train <= 0 or n_test <= 0 or n_train + n_test > n:
            raise DataError(f"cannot split {n} samples into {n_train} train and {n_test} test samples")
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, n_train + n_test))

    def __repr__(self) -> str:
        return (f"DeviceDataset(n={len(self)}, x={tuple(self.x.shape)}, y={tuple(self.y.shape)}, "
                f"device={self.device})")


class DeviceLoader:
    """Batches of ``(x, y)`` as index slices of a :class:`DeviceDataset`.

    Shuffling draws a permutation from a generator seeded with ``(seed, epoch)``, so the batch
    order of every epoch is reproducible (and a resumed run sees the same order). With
    ``world_size > 1`` each rank takes a strided shard of that permutation, padded by wrapping
    around so every rank runs the same number of steps.
    """

    def __init__(self, dataset: DeviceDataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def shard(self, rank: int, world_size: int) -> DeviceLoader:
        self.rank, self.world_size = rank, world_size
        return self

    def to(self, device: str | torch.device) -> DeviceLoader:
        self.dataset = self.dataset.to(device)
        return self

    @property
    def samples_per_rank(self) -> int:
        return math.ceil(len(self.dataset) / self.world_size)

    def __len__(self) -> int:
        n = self.samples_per_rank
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def indices(self) -> torch.Tensor | None:
        """This rank's sample order for the current epoch (None: the plain order 0..n-1)."""
        n = len(self.dataset)
        if not self.shuffle and self.world_size == 1:
            return None
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            total = self.samples_per_rank * self.world_size
            order = torch.cat([order, order[: total - n]]) if total > n else order
            order = order[self.rank::self.world_size]
        return order.to(self.dataset.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices()
        x, y = self.dataset.x, self.dataset.y
        n = len(self.dataset) if order is None else order.numel()
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if order is None:
                yield x[start:stop], y[start:stop]
            else:
                idx = order[start:stop]
                yield x.index_select(0, idx), y.index_select(0, idx)
