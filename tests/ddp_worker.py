"""Run under torchrun by test_distributed.py: trains a tiny FNO on 2 CPU ranks with the Trainer."""

import hashlib
import json
import os
import sys

import torch

from pdeml.data import DeviceLoader, generate, load_dataset
from pdeml.models import NormalizedOperator, build
from pdeml.models.workflow import operator_objective
from pdeml.train import Trainer

out = sys.argv[1]
torch.set_num_threads(1)
rank = int(os.environ["RANK"])
data_path = os.path.join(out, "data.h5")
if rank == 0:
    generate("darcy", 40, 12, data_path, seed=0, progress=False)
torch.distributed.init_process_group("gloo")
torch.distributed.barrier()
train = load_dataset(data_path)
torch.manual_seed(0)
model = NormalizedOperator(build("fno", n_modes=(4, 4), hidden_channels=8, n_layers=2)).fit_normalizers(train.x, train.y)
trainer = Trainer(model, operator_objective(), DeviceLoader(train, batch_size=5, seed=2), epochs=8, lr=1e-2,
                  device="cpu", progress=False, run_dir=os.path.join(out, "run"))
result = trainer.fit()
flat = torch.cat([torch.view_as_real(p.detach()).flatten() if p.is_complex() else p.detach().flatten()
                  for p in trainer.model.parameters()])
record = {"rank": rank, "world": trainer.dist.world_size, "steps": trainer.global_step,
          "digest": hashlib.sha256(flat.numpy().tobytes()).hexdigest(),
          "first_loss": result.history[0]["train_loss"], "last_loss": result.history[-1]["train_loss"]}
with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
    json.dump(record, fh)
torch.distributed.destroy_process_group()
