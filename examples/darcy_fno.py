"""Darcy flow with the FNO baseline, through the Python API instead of the command line.

    python examples/darcy_fno.py --res 32 --epochs 20 --out runs/darcy_fno

Generates (or reuses) a data set with the SciPy reference solver, trains with pdeml's Trainer,
reports the test error at the best validation epoch and saves prediction panels.
"""

import argparse
from pathlib import Path

from pdeml.data import DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.models import NormalizedOperator, build, count_parameters
from pdeml.models.workflow import evaluate_model, operator_objective
from pdeml.plot import save_panels
from pdeml.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/darcy_fno")
    args = parser.parse_args()

    path = cached_dataset("darcy", args.n_train + 200, args.res, seed=0, workers=2)
    data = load_dataset(path)
    train, val, test = (data.subset(slice(0, args.n_train)), data.subset(slice(args.n_train, args.n_train + 100)),
                        data.subset(slice(args.n_train + 100, args.n_train + 200)))

    config = {"name": "fno", "n_modes": [12, 12], "hidden_channels": 32, "normalize": "channel"}
    model = NormalizedOperator(build("fno", n_modes=(12, 12), hidden_channels=32)).fit_normalizers(train.x, train.y)
    device = resolve_device(args.device)
    trainer = Trainer(model, operator_objective("relative_l2"), DeviceLoader(train.to(device), 20),
                      val_source=DeviceLoader(val, 50, shuffle=False), epochs=args.epochs, optimizer="adamw",
                      lr=3e-3, weight_decay=1e-4, scheduler="onecycle", device=args.device, run_dir=args.out,
                      model_config=config)
    trainer.fit()
    trainer.load_best()
    metrics, pred = evaluate_model(trainer.model, test)
    print(f"FNO ({count_parameters(model.net):,} parameters): test relative L2 {metrics['rel_l2']:.4f}, "
          f"H1 {metrics['rel_h1']:.4f}")
    print("figure:", save_panels(Path(args.out) / "panels.png", test.x[:3], test.y[:3], pred[:3]))


if __name__ == "__main__":
    main()
