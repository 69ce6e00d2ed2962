"""The `climnorm zonal` subcommand and the polygon options of `climnorm plot counties|map`: thin calls into
`climnorm.zonal` and `climnorm.pictures` (the zonal extra is imported only when a command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from climnorm.cli.common import EXIT_OK, console, local_output_dir
from climnorm.errors import ZonalError

if TYPE_CHECKING:
    from climnorm.zonal.table import ZonalRequest

    T_Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

OUTLINES = ("states", "counties", "none")


def _polygon_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--polygons FILE --id FIELD [--name FIELD] [--state FIELD] (default: the built-in U.S. counties)."""
    p.add_argument("--polygons", type=Path, metavar="FILE", help="vector file (GeoPackage, shapefile, GeoJSON, zip)")
    p.add_argument("--id", dest="id_field", metavar="FIELD", help="with --polygons: the field of unique ids")
    p.add_argument("--name", dest="name_field", metavar="FIELD", help="with --polygons: the field of names")
    p.add_argument("--state", dest="state_field", metavar="FIELD", help="with --polygons: the field of states")


def add_zonal_command(sub: T_Subcommands) -> None:
    text = "tables of the normals per polygon (U.S. counties by default), Parquet or CSV (needs the zonal extra)"
    p = sub.add_parser("zonal", help=text, description=text + ". Without --polygons: the built-in county set.")
    p.add_argument("output_dir", type=local_output_dir, metavar="OUTPUT_DIR", help="a run's output folder")
    _polygon_options(p.add_argument_group("polygons (default: the built-in U.S. counties, FIPS ids)"))
    for option, what in (("variable", "e.g. tas pr"), ("region", "e.g. CONUS AK"), ("product", "e.g. daily")):
        p.add_argument(f"--{option}", nargs="+", action="extend", metavar=option.upper(), help=f"only these: {what}")
    p.add_argument("--scenario", nargs="+", action="extend", metavar="SCENARIO", help="only these scenarios")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="TABLE", help="TABLE.parquet or TABLE.csv[.gz]")
    p.add_argument("--no-cache", action="store_true", help="do not keep the weights in OUTPUT_DIR/zonal-cache")
    p.set_defaults(func=cmd_zonal)


def request_from(args: argparse.Namespace, **filters: Any) -> ZonalRequest:
    """The zonal request the polygon options ask for; a field without --polygons (or the reverse) is an error."""
    fields = {"--id": args.id_field, "--name": args.name_field, "--state": args.state_field}
    if args.polygons is None and any(fields.values()):
        given = ", ".join(k for k, v in fields.items() if v)
        what = "names a field" if given.count(",") == 0 else "name fields"
        raise ZonalError(f"{given} {what} of a polygon file: give the file with --polygons FILE")
    if args.polygons is not None and not args.id_field:
        raise ZonalError(f"--polygons {args.polygons}: say which field holds each polygon's unique id with --id FIELD")
    from climnorm.zonal.table import ZonalRequest  # raises ZonalExtraMissing (exit 2) without the zonal extra

    return ZonalRequest(args.polygons, args.id_field, args.name_field, args.state_field, **filters)


def cmd_zonal(args: argparse.Namespace) -> int:
    """`climnorm zonal`: the table of every matching output, one line saying what was written."""
    request = request_from(
        args, variables=args.variable, regions=args.region, products=args.product, scenarios=args.scenario,
        cache=not args.no_cache,
    )  # fmt: skip
    from climnorm.zonal.export import write_zonal_table

    out = console()
    with out.status(f"aggregating the normals of {args.output_dir} to polygons"):
        written = write_zonal_table(args.output_dir, args.output, request)
    out.print(written.summary(), highlight=False)
    return EXIT_OK


def add_outline_options(k: argparse.ArgumentParser, when: argparse._MutuallyExclusiveGroup, kind: str) -> None:
    """`plot counties`: --month and the polygon options; `plot map`: --outlines."""
    if kind == "counties":
        when.add_argument("--month", type=int, choices=range(1, 13), metavar="M", help="mean of a month (1-12)")
        _polygon_options(k.add_argument_group("polygons (default: the built-in U.S. counties)"))
        return
    k.add_argument(
        "--outlines",
        choices=OUTLINES,
        default=None,
        help="state or county (and state) outlines over the map, from the zonal extra's county set "
        "(default: states when the zonal extra is installed)",
    )


def counties_options(args: argparse.Namespace) -> dict[str, Any]:
    """The choropleth's own options: month and polygons."""
    return {"month": args.month, "request": request_from(args)}
