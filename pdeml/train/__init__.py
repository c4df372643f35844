"""The one training loop: device, precision, DDP, checkpoints, progress, metrics."""

from pdeml.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pdeml.train.config import TrainConfig
from pdeml.train.sources import FullBatch
from pdeml.train.trainer import NonFiniteLossError, Trainer, TrainResult, batch_size_of

__all__ = ["CheckpointError", "FullBatch", "NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer",
           "batch_size_of", "load_checkpoint", "save_checkpoint"]
