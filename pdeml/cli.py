"""The ``pdeml`` command line: quickstart, generate, merge, export, train, evaluate, solve,
train-preconditioner, refine, list, bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdeml.config import (
    ConfigError,
    check_arguments,
    merge,
    parse_sets,
    read_toml,
    sections,
)

QUICKSTART = {
    "data": {"problem": "darcy", "resolution": 32, "seed": 0, "n_train": 1000, "n_val": 100, "n_test": 100,
             "batch_size": 20, "normalize": "channel"},
    "model": {"name": "fno", "n_modes": [12, 12], "hidden_channels": 32, "n_layers": 4},
    "loss": "relative_l2",
    "train": {"epochs": 25, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "scheduler": "onecycle",
              "scheduler_options": {"pct_start": 0.2}, "seed": 0},
}


def add_config_arguments(p: argparse.ArgumentParser, example: str) -> None:
    """``--config FILE.toml`` and ``--set section.key=value``: how every command that configures a method is told."""
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with the command's sections")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=f"override one option (value as JSON where it parses), e.g. --set {example}; repeatable")


def config_values(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A command's configuration as nested dicts: ``base``, then ``--config``, then the shortcut flags
    (those whose ``dest`` is ``section.key``, None when not given), then ``--set``."""
    values = merge(base or {}, read_toml(args.config)) if getattr(args, "config", None) else dict(base or {})
    flags: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.split(".", 1)
            flags.setdefault(section, {})[key] = value
    return merge(merge(values, flags), parse_sets(args.set))


def _print_run_table(rows: list[dict[str, Any]]) -> None:
    from pdeml.report import markdown_table

    print(markdown_table(rows))


def _train_and_report(values: dict[str, Any], run_dir: Path, resume: bool, figure: bool = True) -> dict[str, Any]:
    from pdeml.models import count_parameters
    from pdeml.models.workflow import RunSpec, train_operator
    from pdeml.plot import save_panels

    spec = RunSpec.from_dict(values)
    start = time.perf_counter()
    run = train_operator(spec, run_dir, resume=resume)
    metrics, pred = run.test_metrics, run.test_pred
    row = {"model": spec.model["name"], "params": count_parameters(run.model.net),
           "epochs": spec.train.epochs, "test_rel_l2": metrics["rel_l2"], "test_rel_h1": metrics["rel_h1"],
           "s_per_epoch": run.seconds_per_epoch, "total_s": time.perf_counter() - start}
    _print_run_table([row])
    from pdeml.io import write_json_atomic

    write_json_atomic(run_dir / "test_metrics.json", {**row, **metrics})
    if figure:
        k = min(3, len(run.test))
        png = save_panels(run_dir / "panels.png", run.test.x[:k], run.test.y[:k], pred[:k],
                          titles=("coefficient a", "truth u", "prediction", "|error|"),
                          suptitle=f"{spec.model['name']} on {len(run.test)} held-out samples: "
                                   f"relative L2 {metrics['rel_l2']:.3e}")
        print(f"figure: {png}")
    print(f"run directory: {run_dir}")
    return row


def cmd_quickstart(args: argparse.Namespace) -> int:
    values = config_values(args, QUICKSTART)
    print("pdeml quickstart: Darcy flow, FNO trained by pdeml's Trainer on data from the SciPy reference solver")
    row = _train_and_report(values, Path(args.out), resume=False)
    ok = row["test_rel_l2"] < 0.05
    print(f"test relative L2 {row['test_rel_l2']:.4f} ({'below' if ok else 'NOT below'} the 0.05 target)")
    return 0 if ok else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from pdeml.data import generate, generate_shard, merge_shards, parse_shard

    # --param KEY=VALUE is the older spelling of --set problem.KEY=VALUE
    args.set = [f"problem.{p}" for p in args.param] + args.set
    params = sections(config_values(args), ["problem"], "pdeml generate").get("problem", {})
    from pdeml.problems import PROBLEMS

    # a misspelt parameter is the user's error, found before any sample is solved
    check_arguments(PROBLEMS.get(args.problem), {k: v for k, v in params.items() if k != "recipe"},
                    f"problem {args.problem!r}")
    progress = False if args.quiet else None
    start = time.perf_counter()
    common = dict(seed=args.seed, workers=args.workers, params=params, progress=progress)
    if args.shard:
        i, n = parse_shard(args.shard)
        path, skipped = generate_shard(args.problem, args.n, args.res, args.out, i, n, **common)
        print(f"shard {i}/{n}: {path} {'already complete, kept' if skipped else 'written'}")
        return 0
    if args.shards:
        for i in range(args.shards):
            path, skipped = generate_shard(args.problem, args.n, args.res, args.out, i, args.shards, **common)
            print(f"shard {i}/{args.shards}: {path.name} {'already complete, kept' if skipped else 'written'}")
        path = merge_shards(args.out, args.shards)
    else:
        path = generate(args.problem, args.n, args.res, args.out, **common)
    print(f"wrote {args.n} samples of {args.problem} at {args.res} to {path} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from pdeml.data import merge_shards

    path = merge_shards(args.out, args.shards)
    print(f"merged into {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pdeml.data import load_dataset, write_grid_fields
    from pdeml.data.mesh import sample_coordinates, sample_times

    data = load_dataset(args.file)
    if not -len(data) <= args.index < len(data):
        raise ValueError(f"--index {args.index} is outside the data set's {len(data)} samples")
    x, y = data.x[args.index].numpy(), data.y[args.index].numpy()
    n_space = _spatial_axes(data)
    coords = sample_coordinates(data.meta, list(y.shape[1:1 + n_space]))
    fields = {"x": x, "y": y}
    if args.run:
        from pdeml.models.workflow import load_run, predict

        model = load_run(args.run, device=args.device)
        pred = predict(model, data.x[args.index:args.index + 1] if args.index >= 0 else data.x[[args.index]])[0]
        fields.update(prediction=pred.numpy(), error=pred.numpy() - y)
    times = sample_times(data.meta, y.shape[-1]) if y.ndim > 1 + n_space else None
    path = write_grid_fields(args.out, coords, fields, times=times)
    print(f"wrote sample {args.index} of {args.file} ({', '.join(fields)}) to {path}")
    return 0


def _spatial_axes(data) -> int:
    """Spatial axes of a data set: the file's ``spatial_dims``, else those of the inputs (which
    carry no time axis in every external format pdeml reads)."""
    return int(data.meta.get("spatial_dims", data.x.ndim - 2))


def cmd_train(args: argparse.Namespace) -> int:
    if args.config and args.preset:
        raise ConfigError("give --config or --preset, not both")
    if args.preset:
        from pdeml.models.presets import run_preset

        base: dict[str, Any] = run_preset(args.preset)
    else:
        base = {} if args.config else {"model": {"name": "fno"}}
    values = config_values(args, base)
    if args.loss:
        values["loss"] = args.loss
    _train_and_report(values, Path(args.out), resume=args.resume)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pdeml.data import load_dataset
    from pdeml.io import write_json_atomic
    from pdeml.models.workflow import evaluate_model, load_run
    from pdeml.plot import save_panels

    model = load_run(args.run, device=args.device)
    data = load_dataset(args.data)
    if args.n:
        data = data.subset(slice(max(0, len(data) - args.n), len(data)))
    periodic = bool(json.loads((Path(args.run) / "config.json").read_text()).get("data", {}).get("periodic"))
    metrics, pred = evaluate_model(model, data, args.batch_size, periodic=periodic)
    _print_run_table([{"run": str(args.run), "data": str(args.data), **metrics}])
    out = Path(args.out) if args.out else Path(args.run) / "evaluate"
    write_json_atomic(out / "metrics.json", {"data": str(args.data), **metrics})
    k = min(args.samples, len(data))
    png = save_panels(out / "panels.png", data.x[:k], data.y[:k], pred[:k], suptitle=f"{args.run} on {args.data}")
    print(f"figure: {png}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from pdeml.bench import BENCHMARKS
    from pdeml.models import MODELS
    from pdeml.problems import PROBLEMS

    kinds = {"models": MODELS, "problems": PROBLEMS, "benchmarks": BENCHMARKS}
    for kind in ([args.what] if args.what else list(kinds)):
        print(f"{kind}:")
        for name, doc in kinds[kind].describe():
            print(f"  {name:16s} {doc}")
    return 0


# ``pdeml solve``'s shortcut flags per method: flag -> the method's option (absent: does not apply)
SOLVE_SHORTCUTS = {
    "points": {"fd": "resolution", "gp": "points_per_dim", "pinn": "points"},
    "steps": {"gp": "steps", "pinn": "steps"},
    "sampler": {"pinn": "sampler"},
    "kernel": {"gp": "kernel"},
    "seed": {"gp": "seed", "pinn": "seed"},
    "device": {"gp": "device", "pinn": "device"},
}


def _import_attr(target: str):
    import importlib

    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def cmd_solve(args: argparse.Namespace) -> int:
    """``pdeml solve PDE --method M``: PDE a registered name or ``FILE.py:Class``; options from
    ``--config`` (sections ``[problem]`` and ``[M]``), the shortcut flags and ``--set M.key=value``."""
    from pdeml.io import jsonable, write_json_atomic
    from pdeml.report import markdown_table
    from pdeml.solution import METHODS, resolve_pde, solve

    spec = METHODS.get(args.method)
    values = sections(config_values(args), ["problem", args.method], f"pdeml solve --method {args.method}")
    options = dict(values.get(args.method, {}))
    for flag, targets in SOLVE_SHORTCUTS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if args.method not in targets:
            raise ConfigError(f"--{flag} does not apply to --method {args.method}; it is an option of "
                              f"--method {', '.join(targets)}")
        options.setdefault(targets[args.method], value)
    if args.quiet and "progress" in spec.config.keys():
        options["progress"] = False
    pde = resolve_pde(args.problem, **values.get("problem", {}))
    solution = solve(pde, args.method, config=options)
    out = Path(args.out)
    figures = {"solution_figure": solution.plot(out / f"{args.method}_solution.png")}
    if spec.figures is not None:
        figures.update(spec.figures(solution, out))
    checkpoint = solution.save(out / "solution.pt")
    result = {**solution.summary(), "config": solution.config, **{k: str(v) for k, v in figures.items()},
              "checkpoint": str(checkpoint)}
    print(markdown_table([{k: v for k, v in solution.summary().items() if not isinstance(v, (list, dict))}]))
    path = write_json_atomic(out / "result.json", jsonable(result))
    print(f"wrote {path}, {checkpoint} and {len(figures)} figure(s)")
    return 0


def add_refine_arguments(p: argparse.ArgumentParser) -> None:
    """``pdeml refine``: the run, the data, the outputs, and shortcut flags that fill the configuration key named by their ``dest``."""
    p.add_argument("run", help="run directory of a trained SFNO (pdeml train --model sfno, data.normalize none)")
    p.add_argument("--data", required=True, help="navier_stokes data set (pdeml generate navier_stokes); its "
                                                 "attributes give nu, the frame spacing and the forcing")
    p.add_argument("--n", dest="certify.samples", type=int, metavar="N", help="refine the last N samples (default all)")
    p.add_argument("--t-in", dest="certify.t_in", type=int, metavar="K",
                   help="known frames fed to the SFNO (default: the frames of the file's inputs)")
    p.add_argument("--threshold", dest="certify.threshold", type=float, metavar="T",
                   help="trust a refined window whose error estimate is at most this fraction of the last "
                        "known frame's L2 norm (default 0.1)")
    p.add_argument("--steps", dest="refine.steps", type=int, metavar="S",
                   help="optimiser iterations per sample (default 50)")
    p.add_argument("--method", dest="refine.method", choices=["adam", "lbfgs"], help="default adam")
    p.add_argument("--device", dest="refine.device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--out", help="output directory for refine.json (default RUN/refine)")
    p.add_argument("--save-predictions", action="store_true",
                   help="also write the refined windows to OUT/refined.h5 (pdeml HDF5: x inputs, y refined)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


@dataclass(frozen=True)
class LeafCommand:
    """A command that configures one method, as ``"module:attr"`` targets imported on use.

    ``config``: its :class:`pdeml.config.Config` class, built from ``--config`` / shortcut flags /
    ``--set`` (in that order); ``run(config, args) -> exit code`` does the work; ``add_arguments(parser)``
    (standard library only: it runs on every call) adds the shortcut flags, each with
    ``dest="section.key"`` and no default, plus options outside the configuration (``--out``).
    """

    help: str
    config: str
    run: str
    add_arguments: str
    example: str  # a --set item for the help text


LEAF_COMMANDS: dict[str, LeafCommand] = {
    "train-preconditioner": LeafCommand(
        "train a DCDM network or a multigrid smoother for pressure systems",
        config="pdeml.linalg.cli:PreconditionerConfig", run="pdeml.linalg.cli:run",
        add_arguments="pdeml.linalg.cli:add_arguments", example="train.epochs=20"),
    "refine": LeafCommand(
        "refine a trained SFNO's Navier-Stokes predictions per sample and certify them (error estimate, trusted)",
        config="pdeml.refine.cli:RefineCommandConfig", run="pdeml.refine.cli:run",
        add_arguments="pdeml.cli:add_refine_arguments", example="refine.steps=100"),
}


def cmd_leaf(args: argparse.Namespace) -> int:
    leaf = LEAF_COMMANDS[args.command]
    config = _import_attr(leaf.config).from_dict(config_values(args))  # every value checked before any work
    return _import_attr(leaf.run)(config, args)


def cmd_bench(args: argparse.Namespace) -> int:
    from pdeml.bench import run_benchmark
    from pdeml.report import markdown_table

    record = run_benchmark(args.name, preset=args.preset, out=args.out, device=args.device, workers=args.workers)
    print(markdown_table(record["results"]))
    print(f"wrote {Path(args.out) / (args.name + '.json')} and {Path(args.out) / (args.name + '.md')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pdeml import __version__

    parser = argparse.ArgumentParser(prog="pdeml", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pdeml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("quickstart", help="generate Darcy data, train an FNO, evaluate, save a figure")
    p.add_argument("--out", default="runs/quickstart", help="run directory (default: runs/quickstart)")
    p.add_argument("--epochs", dest="train.epochs", type=int, help=f"default {QUICKSTART['train']['epochs']}")
    p.add_argument("--device", dest="train.device", help="default auto")
    add_config_arguments(p, "train.lr=1e-3")
    p.set_defaults(func=cmd_quickstart)

    p = sub.add_parser("generate", help="generate a data set with a reference solver")
    p.add_argument("problem")
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--res", type=int, required=True, help="grid points per dimension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--workers", type=int, default=1, help="processes (the file does not depend on it)")
    add_config_arguments(p, "problem.a_plus=10")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="same as --set problem.KEY=VALUE")
    p.add_argument("--shard", metavar="I/N", help="write only shard I of N to OUT's part file (array jobs)")
    p.add_argument("--shards", type=int, help="generate in N shards here, skipping finished ones, then merge")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("merge", help="join the part files written by generate --shard into one data set")
    p.add_argument("out", help="the data set file named in generate --out")
    p.add_argument("--shards", type=int, help="number of shards (default: from the part files' names)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("export", help="write one sample (and a model's prediction) as a VTU or XDMF mesh")
    p.add_argument("file", help="data set file")
    p.add_argument("--index", type=int, default=0, help="sample index (negative counts from the end)")
    p.add_argument("--out", required=True, help="OUT.vtu or OUT.xdmf")
    p.add_argument("--run", help="run directory: add the model's prediction and its error")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train", help="train a model from a TOML config and/or flags; writes a run directory")
    add_config_arguments(p, "model.hidden_channels=64")
    p.add_argument("--preset", help="a paper's recipe from pdeml.models.presets (e.g. mgno_darcy, lsm_darcy)")
    p.add_argument("--data", dest="data.path",
                   help="data set file (pdeml HDF5, FNO .mat, PDEBench HDF5, neuraloperator .pt)")
    p.add_argument("--problem", dest="data.problem", help="generate data for this problem instead of reading a file")
    p.add_argument("--res", dest="data.resolution", type=int)
    p.add_argument("--n-train", dest="data.n_train", type=int)
    p.add_argument("--n-val", dest="data.n_val", type=int)
    p.add_argument("--n-test", dest="data.n_test", type=int)
    p.add_argument("--batch-size", dest="data.batch_size", type=int)
    p.add_argument("--model", dest="model.name")
    p.add_argument("--loss", choices=["relative_l2", "h1"])
    p.add_argument("--epochs", dest="train.epochs", type=int)
    p.add_argument("--lr", dest="train.lr", type=float)
    p.add_argument("--device", dest="train.device")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run directory on a data set: table and PNG panels")
    p.add_argument("run")
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, help="use the last N samples")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=3, help="rows in the figure")
    p.add_argument("--out", help="output directory (default RUN/evaluate)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("solve", help="solve one PDE with fd, gp or pinn: error, figures, a saved solution")
    p.add_argument("problem", help="a registered PDE (pdeml list problems) or FILE.py:ClassName")
    p.add_argument("--method", required=True, help="fd (finite-difference reference), gp (GP-HM) or pinn")
    p.add_argument("--sampler", help="pinn: collocation sampler uniform, rar, rad or aas")
    p.add_argument("--kernel", help="gp: student-t or gaussian")
    p.add_argument("--points", type=int, help="pinn: collocation points; gp: points per axis; fd: nodes per axis")
    p.add_argument("--steps", type=int, help="gp, pinn: optimisation steps")
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    add_config_arguments(p, "gp.components=20 (sections: problem and the method's name)")
    p.add_argument("--out", default="solve-out", help="output directory (result.json, solution.pt, figures)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_solve)

    for name, leaf in LEAF_COMMANDS.items():
        p = sub.add_parser(name, help=leaf.help)
        add_config_arguments(p, leaf.example)
        _import_attr(leaf.add_arguments)(p)
        p.set_defaults(func=cmd_leaf)

    p = sub.add_parser("list", help="list models, problems and benchmarks")
    p.add_argument("what", nargs="?", choices=["models", "problems", "benchmarks"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("bench", help="run a benchmark; writes OUT/NAME.json and OUT/NAME.md")
    p.add_argument("name")
    p.add_argument("--preset", default="small",
                   help="tiny, small or paper (every benchmark), or one a benchmark adds (spectral-refiner: turbulent)")
    p.add_argument("--out", default="bench-out")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=1,
                   help="parallel processes, one thread each, for benchmarks of independent runs (aas)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a bad value given by the user (a ``ValueError``: ``ConfigError``, ``DataError``,
    ``CheckpointError``, ``UnknownNameError``), a missing file or a run that blew up prints as one line
    and returns 2. Anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"pdeml: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
