"""The ``benchsuite`` command: list, train, evaluate, probe (and the pipeline's aggregate and report, and
reproductions, which renders docs/reproductions.md from presets' results)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from benchsuite import registry
from benchsuite import spec as regulariser_spec
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


# --- Checks of the command line, before anything is computed or written --------------------------

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")
MAX_SEEDS_TOGETHER = 1_000
MAX_SAMPLES = 10_000_000


def check_writable(path: str | Path, flag: str, directory: bool) -> None:
    """Refuse now, not after hours of training, a path that cannot be created and written.

    Probes the nearest existing folder with a temporary file that vanishes at once, so that a
    read-only file system or a virtual one (/proc) is refused even for root; creates nothing.
    """
    import tempfile

    path = Path(path).absolute()
    if path.exists() and path.is_dir() != directory:
        kind = "a file" if directory else "a directory"
        raise ConfigError(f"{flag} {str(path)!r} is {kind}; name {'a directory' if directory else 'a file'} instead")
    folder = path if directory else path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} lies under {str(folder)!r}, which is a file; choose another {flag}")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise ConfigError(f"{flag} {str(path)!r} cannot be written ({error.strerror} in {str(folder)!r}); "
                          f"choose another {flag}") from None


def check_device(requested: str | None) -> None:
    """A device name torch understands, and a GPU index this machine has."""
    if requested is None:
        return
    match = DEVICE_PATTERN.match(requested)
    if not match:
        raise ConfigError(f"--device {requested!r} is not a device; use cpu, cuda or cuda:N (N a GPU index)")
    if match.group(2):
        import torch

        count = torch.cuda.device_count()
        if int(match.group(2)[1:]) >= count:
            fix = f"use cuda:0 to cuda:{count - 1}" if count else "use --device cpu"
            raise ConfigError(f"--device {requested!r}: this machine has {count} CUDA GPU(s); {fix}")


def check_range(flag: str, value: float | None, low: float, high: float, open_ends: bool = False) -> None:
    if value is None:
        return
    inside = low < value < high if open_ends else low <= value <= high
    if not inside:
        ends = f"between {low} and {high}, both excluded" if open_ends else f"from {low:,} to {high:,}"
        raise ConfigError(f"{flag} must be {ends}, got {value}")


def bounded_seeds(text: str) -> list[int]:
    """``--seeds``, refused before it is expanded when it names absurd seeds or too many."""
    from benchsuite.config import MAX_SEED
    from benchsuite.grid import parse_seeds

    if any(int(number) > MAX_SEED for number in re.findall(r"\d+", text)):
        raise ConfigError(f"--seeds {text!r}: a seed must be from 0 to {MAX_SEED}")
    spans = re.findall(r"(\d+)\s*-\s*(\d+)", text)
    if sum(int(high) - int(low) + 1 for low, high in spans) > MAX_SEEDS_TOGETHER:
        raise ConfigError(f"--seeds {text!r} names more than {MAX_SEEDS_TOGETHER} seeds; "
                          "split them over several commands")
    return parse_seeds(text, "--seeds")


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

    check_device(args.device)
    settings, base = user_config(args)
    if args.seeds is not None:
        return train_seeds_command(args, settings, base)
    if args.record:
        raise ConfigError("--record goes with --seeds (it lists the runs of several seeds trained in this process)")
    config = resolve(settings, base=base)
    out = Path(args.out) if args.out else Path("results/runs") / config.run_id
    check_writable(out, "--out", directory=True)
    status = train(config, out, device=args.device, force=args.force, data_root=args.data_root,
                   progress=False if args.quiet else None)
    _report(config.run_id, status, out)
    return 0


def train_seeds_command(args: argparse.Namespace, settings: dict[str, Any], base: Path | None) -> int:
    """``train --seeds 0-7``: one run directory per seed under --out, trained in this one process."""
    import dataclasses

    from benchsuite.config import resolve
    from benchsuite.io import write_json
    from benchsuite.train import RunDirectory, inspect_run_directory, seed_directory, train_seeds

    seeds = bounded_seeds(args.seeds)
    config = resolve(settings | {"seed": seeds[0]}, base=base)
    out = Path(args.out) if args.out else Path("results/runs") / config.run_id.rsplit("/", 1)[0]
    check_writable(out, "--out", directory=True)
    if args.record:
        check_writable(args.record, "--record", directory=False)
    # Every seed's directory is checked before any is touched: a refusal moves nothing aside.
    for seed in seeds:
        seed_config = dataclasses.replace(config, seed=seed)
        inspect_run_directory(RunDirectory(seed_directory(out, seed_config)), seed_config, args.force)
    statuses = train_seeds(config, seeds, out, device=args.device, force=args.force, data_root=args.data_root,
                           progress=False if args.quiet else None)
    runs = {}
    for seed in seeds:
        seed_config = dataclasses.replace(config, seed=seed)
        _report(seed_config.run_id, statuses[seed], seed_directory(out, seed_config))
        runs[seed_config.run_id] = {"dir": str(seed_directory(out, seed_config)), "status": statuses[seed]["status"]}
    if args.record:
        write_json(args.record, {"arguments": run_arguments(args), "runs": runs})
    return 0


def run_arguments(args: argparse.Namespace) -> list[str]:
    """The options of a train command that decide what is trained (not where, on what or how loudly)."""
    words: list[str] = []
    for flag, value in (("--config", args.config), ("--dataset", args.dataset), ("--arch", args.arch),
                        ("--objective", args.objective), ("--regulariser", args.regulariser),
                        ("--seed", args.seed), ("--seeds", args.seeds), ("--steps", args.steps)):
        if value is not None:
            words += [flag, str(value)]
    for assignment in args.set or []:
        words += ["--set", assignment]
    for plugin in args.plugin or []:
        words += ["--plugin", plugin]
    return words


def _report(run_id: str, status: dict[str, Any], out: Path) -> None:
    if status.get("already_finished"):
        print(f"{run_id}: already {status['status']} in {out}; nothing to do (use --force to retrain)")
    else:
        detail = f" at step {status['step']}: {status['reason']}" if status["status"] == "diverged" else ""
        print(f"{run_id}: {status['status']}{detail} -> {out}")


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
    from benchsuite.io import write_json

    check_device(args.device)
    check_range("--samples", args.samples, 1, MAX_SAMPLES)
    if args.record:
        check_writable(args.record, "--record", directory=False)
    # Only plugins named here (or by the pipeline config) are imported, never those a run lists.
    _load_plugins_from(args)
    options = metric_settings(args.set or [])
    runs, failed, unexpected = {}, [], False
    for run_dir in args.run_dirs:
        # One run that cannot be scored must not cost the others theirs; the record waits for all.
        try:
            record = evaluate(run_dir, samples=args.samples, metric_options=options, device=args.device,
                              data_root=args.data_root)
        except Exception as error:
            if len(args.run_dirs) == 1:
                raise
            known = isinstance(error, BenchsuiteError)
            unexpected |= not known
            print(f"error: {run_dir}: {error if known else f'{type(error).__name__}: {error}'}", file=sys.stderr)
            failed.append(run_dir)
            continue
        values = record["values"]
        shown = json.dumps(values) if values is not None else record["missing_reason"]
        print(f"{record['run_id']}: {shown}")
        runs[record["run_id"]] = {"dir": str(run_dir), "status": record["status"]}
    if failed:
        print(f"error: {len(failed)} of {len(args.run_dirs)} runs were not evaluated: {' '.join(failed)}",
              file=sys.stderr)
        return 1 if unexpected else 2
    if args.record:
        write_json(args.record, {"runs": runs})
    return 0


def option_assignments(assignments: list[str] | None, what: str) -> dict[str, Any]:
    """``--set OPTION=value`` options of one component, values parsed as ``train --set`` parses them."""
    from benchsuite.config import parse_value

    options = {}
    for assignment in assignments or []:
        key, sep, text = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set expects OPTION=value ({what}), got {assignment!r}")
        options[key.strip()] = parse_value(text)
    return options


# --- train-extractor ------------------------------------------------------------------------------


@command("train-extractor")
def train_extractor_command(args: argparse.Namespace) -> int:
    from benchsuite.datasets._image import ImageDataset
    from benchsuite.metrics.extractors import read_classifier, train_classifier
    from benchsuite.device import pick_device

    check_device(args.device)
    _load_plugins_from(args)
    options = {key.removeprefix("dataset."): value for key, value in option_assignments(args.set, "a dataset option").items()}
    dataset = registry.get("dataset", args.dataset)(root=args.data_root, **options)
    if not isinstance(dataset, ImageDataset):
        raise ConfigError(f"dataset {args.dataset!r} is not an image dataset; the classifier extractor scores images")
    base = dataset.classifier_dataset()
    if base is not dataset:
        print(f"{dataset.name} is scored channel by channel with the classifier of {base.name}")
    overrides = {"steps": args.steps} if args.steps else {}
    path = train_classifier(base, pick_device(args.device), progress=False if args.quiet else None, **overrides)
    record = read_classifier(path)
    print(f"classifier for {base.name}: held-out accuracy {record['accuracy']:.4f} "
          f"on {record['test_images']} test images -> {path}")
    return 0


# --- probe ----------------------------------------------------------------------------------------


@command("probe")
def probe_command(args: argparse.Namespace) -> int:
    from benchsuite.probes._base import run

    _load_plugins_from(args)
    options = option_assignments(args.set, "an option of the probe")
    record = run(args.name, args.objective, args.regulariser, args.out, dataset=args.dataset, from_run=args.from_run,
                 seed=args.seed, device=args.device, options=options, force=args.force)
    if record.get("already_finished"):
        print(f"probe {args.name} {args.objective} x {args.regulariser}: already finished in {args.out}; "
              "nothing to do (use --force to rerun)")
    else:
        print(f"probe {args.name} {args.objective} x {args.regulariser}: {json.dumps(record['summary'])} -> {args.out}")
    return 0


# --- aggregate and report (the pipeline's last two steps) -----------------------------------------


def listed_run_dirs(path: str | None) -> list[str]:
    """``aggregate --run-list``: the run directories a file names, one a line (blank lines skipped)."""
    if path is None:
        return []
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"--run-list {path!r} cannot be read ({error.strerror or error})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


@command("aggregate")
def aggregate_command(args: argparse.Namespace) -> int:
    from benchsuite.aggregate import find_run_dirs, write_tables

    check_range("--confidence", args.confidence, 0, 1, open_ends=True)
    check_range("--bootstrap", args.bootstrap, 100, 10_000_000)
    objective, _, regulariser = args.baseline.partition(":")
    if not objective or not regulariser:
        raise ConfigError(f"--baseline expects OBJECTIVE:REGULARISER, got {args.baseline!r}")
    regulariser = regulariser_spec.canonical(regulariser)
    named = [*args.run_dirs, *listed_run_dirs(args.run_list)]
    for run_dir in named:
        if not Path(run_dir, "config.json").is_file():
            raise ConfigError(f"{run_dir} is not a run directory (it has no config.json); name run directories")
    if not named and not Path(args.runs).is_dir():
        raise ConfigError(f"--runs {args.runs!r} is not a directory; name the folder the runs were trained into")
    run_dirs = named or find_run_dirs(args.runs)
    if not run_dirs:
        raise ConfigError(f"no run directories under {args.runs!r}; train and evaluate runs first, or name them")
    check_writable(args.out, "--out", directory=True)
    better = {}
    for item in args.better or []:
        metric, _, direction = item.partition("=")
        if direction not in ("higher", "lower"):
            raise ConfigError(f"--better expects METRIC=higher or METRIC=lower, got {item!r}")
        better[metric] = direction
    runs_path, summary_path = write_tables(
        run_dirs, args.out, baseline={"objective": objective, "regulariser": regulariser},
        resamples=args.bootstrap, confidence=args.confidence, seed=args.seed, better=better,
        at=args.at, select=args.select, sweeps=sweep_settings(args.sweeps),
        published=published_entries(args.published),
    )
    print(f"{len(run_dirs)} runs -> {runs_path}, {summary_path}")
    return 0


def sweep_settings(value: str | None) -> dict[str, Any] | None:
    """``--sweeps``' JSON: study -> method -> run id hash -> setting (``Grid.sweep_settings``)."""
    if not value:
        return None
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--sweeps is not valid JSON ({error}); the pipeline writes it from the grid") from None
    if not (isinstance(loaded, dict) and all(isinstance(methods, dict) and all(
            isinstance(variants, dict) and all(isinstance(setting, int) for setting in variants.values())
            for variants in methods.values()) for methods in loaded.values())):
        raise ConfigError("--sweeps must map study -> dataset/architecture/objective/regulariser -> run id hash "
                          "-> setting number")
    return loaded


PUBLISHED_FIELDS = ("dataset", "architecture", "objective", "regulariser", "variant", "metric", "mean",
                    "spread_kind", "source")


def published_entries(value: str | None) -> list[dict[str, Any]]:
    """``aggregate --published``: the rows of grid.published_rows as inline JSON or a JSON file."""
    if not value:
        return []
    text = value
    if not value.lstrip().startswith("["):
        if not Path(value).is_file():
            raise ConfigError(f"--published {value[:80]!r} is neither a JSON list nor an existing file")
        text = Path(value).read_text()
    try:
        rows = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"--published is not valid JSON ({error}); give the list the pipeline writes") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ConfigError("--published must be a JSON list of published entries, one object per cell")
    for row in rows:
        missing = [name for name in PUBLISHED_FIELDS if name not in row]
        if missing:
            raise ConfigError(f"--published: an entry lacks {', '.join(missing)}: {json.dumps(row)[:200]}")
    return rows


@command("report")
def report_command(args: argparse.Namespace) -> int:
    from benchsuite.report import build, load_grid_config

    from benchsuite.aggregate import read_tables

    for name in ("runs.csv", "summary.csv"):
        if not (Path(args.tables) / name).is_file():
            raise ConfigError(f"table {str(Path(args.tables) / name)!r} not found; "
                              f"run `benchsuite aggregate --out {args.tables}` first")
    from benchsuite.published import read as read_published

    try:
        read_tables(args.tables)
        read_published(args.tables)
    except (ValueError, OSError, KeyError) as error:  # pandas' parser and empty-file errors are ValueErrors
        raise ConfigError(f"the tables in {args.tables!r} are empty or damaged ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:200]}); run `benchsuite aggregate --out {args.tables}` again") from None
    check_writable(args.out, "--out", directory=False)
    if args.figures:
        check_writable(args.figures, "--figures", directory=True)
    out = build(args.tables, args.out, figures=args.figures, grid_config=load_grid_config(args.grid_config),
                title=args.title, template=args.template, probes=args.probes)
    print(f"report: {out.resolve()}")
    return 0


@command("reproductions")
def reproductions_command(args: argparse.Namespace) -> int:
    from benchsuite.reproductions import render

    for directory in args.results:
        if not Path(directory, "tables", "runs.csv").is_file():
            raise ConfigError(f"{directory} has no tables/runs.csv; name a results directory the pipeline wrote "
                              "(its config key results), e.g. results/pacgan-toys")
    command_line = " ".join(["benchsuite reproductions", *args.results])
    sys.stdout.write(render(args.results, command_line))
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
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int)
    seeds.add_argument("--seeds", metavar="SEEDS",
                       help="several seeds one after another in this process, e.g. 0-7, 0,2,5 or 0-3,8: one run "
                            "directory per seed under --out, named like the single runs (s0, s1, ...)")
    p.add_argument("--steps", type=int, help="generator updates")
    p.add_argument("--out", help="run directory (default results/runs/RUN_ID; with --seeds the directory above "
                                 "the seeds' run directories, default results/runs/DATASET/ARCH/OBJECTIVE/REG)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override: lr_d=1e-4, dataset.radius=1, architecture.width=256, regulariser.r1.gamma=1")
    p.add_argument("--plugin", action="append", help="a component file of your own")
    p.add_argument("--force", action="store_true", help="move a finished or different run aside and retrain")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--data-root", help="where image datasets live")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--record", metavar="FILE",
                   help="with --seeds: write FILE (JSON) listing the runs trained and how they ended, "
                        "after all of them (the pipeline's train jobs end with it)")

    p = sub.add_parser("evaluate", help="compute a finished run's metrics into metrics.json")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--samples", type=int, help="generated samples to score (default per modality)")
    p.add_argument("--set", action="append", metavar="METRIC.OPTION=VALUE", help="metric option, e.g. modes.min_samples=10")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--data-root")
    p.add_argument("--record", metavar="FILE",
                   help="once every run is scored, write FILE listing them (what the pipeline waits for)")
    p.add_argument("--plugin", action="append",
                   help="a component file a run needs (never imported from the run's own config.json)")

    p = sub.add_parser("train-extractor", help="train the classifier feature extractor of an image dataset")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--set", action="append", metavar="OPTION=VALUE", help="dataset option, e.g. size=32")
    p.add_argument("--steps", type=int, help="training steps (default: the dataset's)")
    p.add_argument("--plugin", action="append", help="a component file of your own to load first")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--data-root", help="where image datasets live")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("probe", help="run a textbook experiment (a probe) against an objective and a regulariser")
    p.add_argument("name", metavar="NAME", help="the probe (benchsuite list probe)")
    p.add_argument("--objective", required=True)
    p.add_argument("--regulariser", default="none", help="a name, names joined by '+', 'none' or 'default'")
    p.add_argument("--dataset", help="the data the probe's networks see (default: the probe's own)")
    p.add_argument("--from", dest="from_run", metavar="RUN_DIR",
                   help="probe the generator of this finished run (probes that take a trained generator)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="directory for probe.csv, probe.png and probe.json")
    p.add_argument("--set", action="append", metavar="OPTION=VALUE", help="an option of the probe, e.g. d_steps=300")
    p.add_argument("--plugin", action="append", help="a component file of your own to load first")
    p.add_argument("--force", action="store_true", help="move a finished probe directory aside and rerun")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")

    p = sub.add_parser("aggregate", help="run directories -> tables/runs.csv and tables/summary.csv")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="runs to include (default: every run under --runs)")
    p.add_argument("--runs", default="results/runs", help="where to look for runs when none are named")
    p.add_argument("--run-list", metavar="FILE",
                   help="a text file naming run directories, one a line, taken with any RUN_DIRs (the pipeline "
                        "passes its grid's runs this way: thousands would overflow a command line)")
    p.add_argument("--out", default="results/tables", help="directory of the two tables")
    p.add_argument("--baseline", default="nonsaturating:none", metavar="OBJECTIVE:REGULARISER",
                   help="the cell every other cell of a dataset is compared with")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the intervals")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--better", action="append", metavar="METRIC=higher|lower",
                   help="direction of a metric the suite does not know")
    p.add_argument("--at", choices=["last", "best"], default="last",
                   help="report each run at its final weights (last) or at its best snapshot (best: runs "
                        "trained with eval_every); tables/curves.csv holds every snapshot either way")
    p.add_argument("--sweeps", metavar="JSON",
                   help="which drawn setting each swept cell is, as JSON (the pipeline passes it from the grid)")
    p.add_argument("--select", metavar="METRIC",
                   help="with --at best, the metric that picks the snapshot (default: the first headline metric)")
    p.add_argument("--published", metavar="JSON|FILE",
                   help="published numbers per cell (a JSON list, as the pipeline passes its config's published: "
                        "entries), set beside ours in tables/published.csv")

    p = sub.add_parser("report", help="tables -> one self-contained HTML report")
    p.add_argument("--tables", default="results/tables", help="directory holding runs.csv and summary.csv")
    p.add_argument("--out", default="results/report.html")
    p.add_argument("--figures", help="also write each figure as a PNG into this directory")
    p.add_argument("--grid-config", help="the pipeline config to show (a YAML or JSON file, or inline JSON)")
    p.add_argument("--title", help="title of the page (default: the config's report.title)")
    p.add_argument("--template", help="the Jinja2 template (default: report/report.html.j2 of the source tree)")
    p.add_argument("--probes", help="a directory of probe directories (benchsuite probe) for the Probes section")

    p = sub.add_parser("reproductions",
                       help="results directories of presets -> Markdown: budget, time, machine and each published "
                            "number beside ours (docs/reproductions.md)")
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="a directory the pipeline wrote (config key results)")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _commands[args.command](args)
    except BenchsuiteError as error:
        print(f"benchsuite: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (e.g. `benchsuite list | head`)
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("benchsuite: interrupted; a run resumes from its last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
