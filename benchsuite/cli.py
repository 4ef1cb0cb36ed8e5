"""The ``benchsuite`` command: list, train, evaluate (and the pipeline's aggregate and report)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from benchsuite import registry
from benchsuite.errors import BenchsuiteError, ConfigError

Command = Callable[[argparse.Namespace], int]
_commands: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def decorator(function: Command) -> Command:
        _commands[name] = function
        return function

    return decorator


def _load_plugins_from(args: argparse.Namespace) -> None:
    paths = list(getattr(args, "plugin", None) or [])
    if paths:
        registry.load_plugins(paths, base=Path.cwd())


# --- list -----------------------------------------------------------------------------------------


@command("list")
def list_components(args: argparse.Namespace) -> int:
    _load_plugins_from(args)
    kinds = [args.kind] if args.kind else list(registry.KINDS)
    for kind in kinds:
        print(f"{kind}s:")
        for entry in registry.entries(kind):
            print(f"  {entry.name:<16} {entry.description}")
    return 0


# --- train ----------------------------------------------------------------------------------------


def user_config(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None]:
    """Settings from --config, then the named flags, then --set, later ones winning."""
    from benchsuite.config import apply_assignment, load_file

    settings: dict[str, Any] = {}
    base = None
    if args.config:
        settings = load_file(args.config)
        base = Path(args.config).resolve().parent
    flags = {
        "dataset": args.dataset, "architecture": args.arch, "objective": args.objective,
        "regulariser": args.regulariser, "seed": args.seed, "steps": args.steps,
    }
    settings |= {key: value for key, value in flags.items() if value is not None}
    for assignment in args.set or []:
        apply_assignment(settings, assignment)
    if args.plugin:
        settings["plugins"] = list(settings.get("plugins", [])) + [str(Path(p).resolve()) for p in args.plugin]
    return settings, base


@command("train")
def train_command(args: argparse.Namespace) -> int:
    from benchsuite.config import resolve
    from benchsuite.train import train

    settings, base = user_config(args)
    config = resolve(settings, base=base)
    out = Path(args.out) if args.out else Path("results/runs") / config.run_id
    status = train(config, out, device=args.device, force=args.force, data_root=args.data_root,
                   progress=False if args.quiet else None)
    if status.get("already_finished"):
        print(f"{config.run_id}: already {status['status']} in {out}; nothing to do (use --force to retrain)")
    else:
        detail = f" at step {status['step']}: {status['reason']}" if status["status"] == "diverged" else ""
        print(f"{config.run_id}: {status['status']}{detail} -> {out}")
    return 0


# --- evaluate -------------------------------------------------------------------------------------


def metric_settings(assignments: list[str]) -> dict[str, dict[str, Any]]:
    from benchsuite.config import parse_value

    options: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        key, _, text = assignment.partition("=")
        metric, _, option = key.partition(".")
        if not _ or not option:
            raise ConfigError(f"--set for evaluate expects METRIC.OPTION=value, got {assignment!r}")
        options.setdefault(metric, {})[option] = parse_value(text)
    return options


@command("evaluate")
def evaluate_command(args: argparse.Namespace) -> int:
    from benchsuite.evaluate import evaluate

    for run_dir in args.run_dirs:
        record = evaluate(run_dir, samples=args.samples, metric_options=metric_settings(args.set or []),
                          device=args.device, data_root=args.data_root)
        values = record["values"]
        shown = json.dumps(values) if values is not None else record["missing_reason"]
        print(f"{record['run_id']}: {shown}")
    return 0


# --- the parser -----------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="benchsuite", description=__doc__)
    sub = main.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="every registered component by kind")
    p.add_argument("kind", nargs="?", choices=registry.KINDS)
    p.add_argument("--plugin", action="append", help="a component file of your own to load first")

    p = sub.add_parser("train", help="train one run into a run directory")
    p.add_argument("--config", help="YAML file of run settings (the same keys as config.json)")
    p.add_argument("--dataset")
    p.add_argument("--arch", help="architecture")
    p.add_argument("--objective")
    p.add_argument("--regulariser", help="a name, names joined by '+', 'none' or 'default'")
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int, help="generator updates")
    p.add_argument("--out", help="run directory (default results/runs/RUN_ID)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override: lr_d=1e-4, dataset.radius=1, architecture.width=256, regulariser.r1.gamma=1")
    p.add_argument("--plugin", action="append", help="a component file of your own")
    p.add_argument("--force", action="store_true", help="move a finished or different run aside and retrain")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--data-root", help="where image datasets live")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="compute a finished run's metrics into metrics.json")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--samples", type=int, help="generated samples to score (default per modality)")
    p.add_argument("--set", action="append", metavar="METRIC.OPTION=VALUE", help="metric option, e.g. modes.min_samples=10")
    p.add_argument("--device")
    p.add_argument("--data-root")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _commands[args.command](args)
    except BenchsuiteError as error:
        print(f"benchsuite: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchsuite: interrupted; a run resumes from its last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
