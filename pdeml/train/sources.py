"""Batch sources for the Trainer that are not data sets."""

from __future__ import annotations

from typing import Any

import torch


class FullBatch:
    """For full-batch methods (GP-HM): the same batch ``steps_per_epoch`` times per epoch (fewer in the last one, to stop at ``total``)."""

    def __init__(self, batch: dict[str, Any], steps_per_epoch: int, total: int):
        self.batch, self.per_epoch, self.total = batch, int(steps_per_epoch), int(total)
        self.epoch = 0

    def __len__(self) -> int:
        return self.per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def to(self, device):
        self.batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.batch.items()}
        return self

    def __iter__(self):
        for _ in range(max(0, min(self.per_epoch, self.total - self.epoch * self.per_epoch))):
            yield self.batch


__all__ = ["FullBatch"]
