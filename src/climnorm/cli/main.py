"""The `climnorm` command: thin subcommands over the Python API.

Exit codes: 0 success; 1 failures during a run (some inputs or outputs failed, the rest was done);
2 bad usage or configuration (nothing was done).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.logging import RichHandler
from rich.text import Text

from climnorm import __version__
from climnorm.cli import export as _cli_export
from climnorm.cli import zonal as _cli_zonal
from climnorm.cli.common import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, local_output_dir, output_location
from climnorm.cli.common import console as _console
from climnorm.cli.common import workers as _workers
from climnorm.cli.pictures import add_picture_commands
from climnorm.errors import ClimnormError, ConfigError, RunInterrupted

if TYPE_CHECKING:
    T_Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
log = logging.getLogger("climnorm")

__all__ = ["EXIT_FAILURES", "EXIT_OK", "EXIT_USAGE", "build_parser", "entry_point", "main"]


def _setup_logging(verbosity: int) -> None:
    level = max(logging.WARNING - 10 * verbosity, logging.DEBUG)
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=_console(stderr=True), show_time=False, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("climnorm: %(levelname)s: %(message)s"))
    logger = logging.getLogger("climnorm")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


# ---- subcommands ---------------------------------------------------------------------------------------------
def cmd_synth(args: argparse.Namespace) -> int:
    from climnorm.synth import SynthSpec, write_archive

    spec_args: dict[str, Any] = {
        "model": args.model,
        "variant": args.variant,
        "variables": tuple(args.variables),
        "scenarios": tuple(args.scenarios),
        "historical_years": tuple(args.historical_years),
        "scenario_years": tuple(args.scenario_years),
        "calendar": args.calendar,
        "resolution": args.grid,
        "box": tuple(args.box) if args.box else None,
        "layout": args.layout,
        "time_bnds": args.time_bnds,
        "shuffle": not args.no_shuffle,
        "complevel": args.complevel,
        "holes": args.holes,
        "version_years": tuple(args.version_years),
        "lon_convention": args.lon_convention,
        "lat_descending": args.lat_descending,
        "style": args.style,
    }
    try:
        spec = SynthSpec(**spec_args)
    except ValueError as err:
        raise ConfigError(f"synth: {err}") from None
    console = _console()
    with console.status("writing synthetic files") as status:

        def progress(path: Path, done: int, total: int) -> None:
            status.update(f"writing synthetic files: {done}/{total} {path.name}")

        paths = write_archive(args.out_dir, spec, progress=progress, workers=args.workers)
    console.print(f"wrote {len(paths)} files under {args.out_dir}")
    return EXIT_OK


def cmd_catalog(args: argparse.Namespace) -> int:
    from climnorm.catalog.scan import build_catalog
    from climnorm.cli.tables import catalog_table
    from climnorm.read.headers import check_files

    catalog = build_catalog(args.dirs, model=args.model, variables=args.variables, scenarios=args.scenarios)
    problems = check_files(catalog, workers=args.workers) if args.check else []
    if args.json:
        data = catalog.to_json()
        if args.check:
            data["problems"] = [{"path": str(p.path), "problem": p.problem} for p in problems]
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        catalog_table(catalog, _console(), problems)
    return EXIT_FAILURES if problems else EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    from climnorm.config.model import load_config

    sys.stdout.write(load_config(args.config).to_yaml())
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from climnorm.cli.tables import plan_table
    from climnorm.config.model import load_config
    from climnorm.runner.pipeline import prepare

    plan, _ = prepare(load_config(args.config), force=args.force)
    if args.json:
        data = {
            **({"model": plan.members[0].model, "variant": plan.members[0].variant} if len(plan.members) == 1 else {}),
            "members": [{"model": m.model, "variant": m.variant} for m in plan.members],
            "coverage": [
                {"model": m.model, "variant": m.variant, "variable": v, "scenario": s, "complete_years": n}
                for (m, v, s), n in sorted(plan.coverage.years.items())
            ],
            "products": plan.config.products,
            "ensembles": [e.path for e in plan.ensembles],
            "ensembles_pending": [e.path for e in plan.ensembles if not e.up_to_date],
            "rows": [asdict(r) for r in plan.summary_rows()],
            "problems": plan.problems + plan.skip_lines(),
            "skipped": [s.line() for s in plan.skips],
            "pending": [o.path for o in plan.pending],
        }
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    else:
        plan_table(plan, _console())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from climnorm.config.file import read_config_file
    from climnorm.engines.forkserver import start_early

    file = read_config_file(args.config, multiprocessing_workers=args.workers, **_engine_overrides(args))
    if file.local_engine:
        start_early()  # the workers' server imports while this process imports the rest
    from climnorm.cli.tables import summary_table
    from climnorm.config.model import parse_config_file
    from climnorm.runner.pipeline import run

    config = parse_config_file(file)
    summary = run(config, force=args.force, progress=args.progress)
    summary_table(summary, _console())
    return summary.exit_code


def cmd_verify(args: argparse.Namespace) -> int:
    from climnorm.outputs.verify import verify_outputs

    console = _console()
    checked, problems = verify_outputs(args.output_dir)
    for line in problems:
        console.print(line, markup=False)
    console.print(f"checked {checked} outputs: {len(problems)} problem(s)")
    return EXIT_FAILURES if problems else EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    """What the manifest holds, or (``--json``) its records as ``manifest.json`` for tools that read that."""
    from climnorm.write.legacy_manifest import LEGACY_NAME, write_legacy
    from climnorm.write.manifest import Manifest

    console = _console()
    if not Manifest.exists(args.output_dir):
        console.print(f"{args.output_dir}: no manifest here; is this a climnorm output directory?", markup=False)
        return EXIT_FAILURES
    manifest = Manifest.read(args.output_dir)
    try:
        if args.json:
            out = args.output or args.output_dir / LEGACY_NAME
            count = write_legacy(manifest.select(), out)
            console.print(f"wrote {out} ({count:,} outputs)", markup=False)
        else:
            console.print(f"{manifest.path}: {manifest.count():,} outputs", markup=False)
    finally:
        manifest.close()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from climnorm.cli.tables import summary_table
    from climnorm.config.model import default_workers, load_config
    from climnorm.runner.pipeline import run
    from climnorm.synth.demo import prepare_demo, show_demo_result

    console = _console()
    directory = Path(args.directory)
    with console.status(f"making the demo archive in {directory}/archive"):
        config = prepare_demo(directory, workers=args.workers or default_workers())
    if args.engine or args.scheduler:
        config = load_config(
            directory / "demo.yaml",
            multiprocessing_workers=args.workers or default_workers(),
            **_engine_overrides(args),
        )
    console.print(f"demo archive ready in {directory}/archive; running {directory}/demo.yaml")
    summary = run(config, force=args.force, progress=args.progress)
    summary_table(summary, console)
    show_demo_result(config, console)
    return summary.exit_code


# ---- parser --------------------------------------------------------------------------------------------------
def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["local", "dask"],
        default=None,
        help="override engine: local process pool, or dask distributed (docs/cluster.md)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        default=None,
        help="dask: connect to this running scheduler instead of starting a LocalCluster (implies --engine dask)",
    )


def _engine_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    """Config overrides of --engine/--scheduler; a scheduler address implies the dask engine."""
    engine = args.engine or ("dask" if args.scheduler else None)
    return {"engine": engine, "scheduler_address": args.scheduler}


def _progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=["auto", "rich", "plain", "none"],
        default="auto",
        help="live display: rich in a terminal, plain log lines otherwise (auto), or none",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="climnorm",
        description="30-year rolling daily climate normals from daily climate-model archives.",
        epilog="Exit codes: 0 success, 1 failures during a run, 2 bad usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"climnorm {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=1, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_const", const=0, dest="verbose", help="only warnings")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth_command(sub)
    _add_archive_commands(sub)
    _add_run_commands(sub)
    add_picture_commands(sub)
    _cli_zonal.add_zonal_command(sub)
    _cli_export.add_export_command(sub)
    return parser


def _add_synth_command(sub: T_Subcommands) -> None:
    p = sub.add_parser("synth", help="write a synthetic NEX-GDDP-CMIP6-style archive with closed-form values")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory the archive is written under")
    p.add_argument("--model", default="SYNTH-ESM", help="model name in file names and attributes (default SYNTH-ESM)")
    p.add_argument("--variant", default="r1i1p1f1", help="variant label in file names (default r1i1p1f1)")
    p.add_argument(
        "--variables", nargs="+", default=["tas"], metavar="VAR", help="any of pr, tas, tasmax, tasmin (default tas)"
    )
    p.add_argument(
        "--scenarios",
        nargs="+",
        default=["historical"],
        metavar="SCENARIO",
        help="historical (written for --historical-years) and any others, e.g. ssp245 (written for --scenario-years)",
    )
    p.add_argument(
        "--historical-years", nargs=2, type=int, default=[1950, 2014], metavar=("FIRST", "LAST"),
        help="years of the historical scenario, inclusive (default 1950 2014)",
    )  # fmt: skip
    p.add_argument(
        "--scenario-years", nargs=2, type=int, default=[2015, 2100], metavar=("FIRST", "LAST"),
        help="years of every other scenario, inclusive (default 2015 2100)",
    )  # fmt: skip
    p.add_argument(
        "--calendar",
        default="noleap",
        help="CF calendar: noleap (default), 360_day, standard, proleptic_gregorian, ...",
    )
    p.add_argument("--grid", type=float, default=0.25, metavar="DEG", help="grid spacing in degrees (default 0.25)")
    p.add_argument(
        "--box", nargs=4, type=float, metavar=("LAT_MIN", "LAT_MAX", "LON_MIN", "LON_MAX"),
        help="write only the cells whose centres are in this box (lon 0..360 or negative; default the globe)",
    )  # fmt: skip
    p.add_argument(
        "--layout",
        choices=["var", "s3"],
        default="var",
        help="var: {var}/{scenario}/; s3: {model}/{scenario}/{variant}/{var}/",
    )
    p.add_argument(
        "--style",
        choices=["closed_form", "us_normals"],
        default="closed_form",
        help="closed_form: simple values tests recompute exactly (default); us_normals: values whose normals "
        "follow the observed U.S. 1991-2020 normals (what the demo writes)",
    )
    p.add_argument("--time-bnds", action="store_true", help="write time_bnds")
    p.add_argument("--no-shuffle", action="store_true", help="zlib without the shuffle filter")
    p.add_argument("--complevel", type=int, default=1, help="zlib level, 0 (no compression) to 9 (default 1)")
    p.add_argument("--holes", type=float, default=0.0, metavar="FRACTION", help="fraction of missing values")
    p.add_argument(
        "--version-years", nargs="+", type=int, default=[], metavar="YEAR", help="years that also get a _v1.1 file"
    )
    p.add_argument(
        "--lon-convention", choices=["0_360", "-180_180"], default="0_360",
        help="longitudes written as 0..360 (default) or -180..180",
    )  # fmt: skip
    p.add_argument("--lat-descending", action="store_true", help="latitudes from north to south")
    p.add_argument("--workers", type=_workers, default=1, help="processes writing files (default 1)")
    p.set_defaults(func=cmd_synth)


def _input_root(text: str) -> Path | str:
    """A local directory, or an s3:// prefix (listed with the AWS_* environment's settings: docs/storage.md)."""
    return text if text.startswith("s3://") else Path(text)


def _add_archive_commands(sub: T_Subcommands) -> None:
    """`catalog`, `config show` and `plan`: what is there and what a run would do (no data read)."""
    p = sub.add_parser("catalog", help="list the chains, years, gaps and problems of an archive (by file name)")
    p.add_argument("dirs", nargs="+", type=_input_root, metavar="DIR", help="directories or s3:// prefixes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true", help="also open every file header and report unreadable ones")
    p.add_argument("--model")
    p.add_argument("--variables", nargs="+", metavar="VAR")
    p.add_argument("--scenarios", nargs="+", metavar="SCENARIO")
    p.add_argument("--workers", type=_workers, default=4, help="threads for --check")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("config", help="inspect a configuration file")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = csub.add_parser("show", help="print the effective configuration with defaults filled in")
    c.add_argument("config", type=Path, metavar="CONFIG")
    c.set_defaults(func=cmd_config_show)

    p = sub.add_parser("plan", help="show what a run would compute, without reading data")
    p.add_argument("config", type=Path, metavar="CONFIG")
    p.add_argument("--force", action="store_true", help="plan as if nothing were up to date")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)


def _add_run_commands(sub: T_Subcommands) -> None:
    """`run`, `verify` and `demo`."""
    p = sub.add_parser("run", help="compute the normals of a configuration (resumes by default)")
    p.add_argument("config", type=Path, metavar="CONFIG")
    p.add_argument("--force", action="store_true", help="recompute outputs that are up to date")
    p.add_argument("--workers", type=_workers, help="override multiprocessing_workers")
    _engine_options(p)
    _progress_option(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "verify",
        help="check every output listed in OUTPUT_DIR's manifest (an s3:// prefix: the AWS_* environment's)",
    )
    p.add_argument("output_dir", type=output_location, metavar="OUTPUT_DIR")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("manifest", help="the manifest of OUTPUT_DIR: how many outputs, or --json for tools")
    p.add_argument("output_dir", type=local_output_dir, metavar="OUTPUT_DIR")
    p.add_argument("--json", action="store_true", help="write its records as manifest.json (format 1)")
    p.add_argument("-o", "--output", type=Path, help="where (default: OUTPUT_DIR/manifest.json)")
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("demo", help="make a small synthetic archive and run the whole job on it")
    p.add_argument(
        "directory",
        nargs="?",
        default="climnorm-demo",
        metavar="DIR",
        help="where the archive and the outputs go (default: ./climnorm-demo)",
    )
    p.add_argument("--workers", type=_workers, default=None, help="processes (default: the machine's cores)")
    p.add_argument("--force", action="store_true", help="recompute outputs that are up to date")
    _engine_options(p)
    _progress_option(p)
    p.set_defaults(func=cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logger = logging.getLogger("climnorm")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    _setup_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit then fails the write, not the process
    try:
        return func(args)
    except RunInterrupted as err:
        from climnorm.cli.tables import summary_table

        summary_table(err.summary, _console())
        _console(stderr=True).print(f"interrupted: {err}")
        return 130
    except ClimnormError as err:
        _console(stderr=True).print(Text("error: ", style="red") + Text(str(err)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted; run the same command again to resume")
        return 130

    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def entry_point() -> None:
    """The `climnorm` command: once the work is done, a late Ctrl-C must not turn a finished run into a
    traceback or a signal exit while the interpreter shuts its workers down."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The interpreter's last collection would walk every object of the run (about 0.1 s on a small job); frozen,
    # they are freed without it. Exit handlers and flushing still run as usual.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry_point()
