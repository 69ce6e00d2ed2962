"""The picture subcommands of `climnorm`: `plot map|cycle|change|counties` and `report` (matplotlib: the ``plot``
extra; counties: the ``zonal`` extra too)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from climnorm.cli import zonal as _cli_zonal
from climnorm.cli.common import EXIT_OK, console, local_output_dir, workers

if TYPE_CHECKING:
    from climnorm.pictures.normals import Selection

    T_Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def selection_from(args: argparse.Namespace) -> Selection:
    """The normals the picture options ask for (--target and --statistic only where the picture has them)."""
    from climnorm.pictures.normals import Selection

    return Selection(
        args.variable,
        args.region,
        scenarios=args.scenario or (),
        target=getattr(args, "target", None),
        window_years=args.window_years,
        model=args.model,
        statistic=getattr(args, "statistic", None),
        product=getattr(args, "product", None) or "daily",
        change=getattr(args, "change", False),
    )


def cmd_plot(args: argparse.Namespace) -> int:
    """`climnorm plot map|cycle|change|counties`: one picture (matplotlib imported only in climnorm.pictures)."""
    from climnorm.pictures import counties
    from climnorm.pictures import plots as plot

    options: dict[str, object] = {"size": args.size, "dpi": args.dpi}
    if args.kind in ("map", "counties"):
        options.update(day=args.day, season=args.season)
    if args.kind == "counties":
        options.update(_cli_zonal.counties_options(args))
        draw = counties.plot_counties
    elif args.kind == "map":
        options.update(outlines=args.outlines)
        draw = plot.plot_map
    elif args.kind == "cycle":
        options.update(targets=args.targets)
        draw = plot.plot_cycle
    else:
        options.update(workers=args.workers)
        draw = plot.plot_change
    out = args.output or Path(f"{args.variable}_{args.region}_{args.kind}.png")
    path = draw(args.output_dir, out, selection_from(args), **options)
    console().print(f"wrote {path}", highlight=False)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from climnorm.pictures.report import write_report

    out = console()
    with out.status(f"reading the normals listed in {args.output_dir}/manifest.sqlite"):
        path = write_report(args.output_dir, args.output, workers=args.workers)
    out.print(f"wrote {path} ({path.stat().st_size / 2**10:,.0f} KiB): open it in a browser", highlight=False)
    return EXIT_OK


def _pixels(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT in pixels, e.g. 900x600") from None
    if width < 100 or height < 100:
        raise argparse.ArgumentTypeError("width and height must be at least 100 pixels")
    return width, height


def add_picture_commands(sub: T_Subcommands) -> None:
    """`plot map|cycle|change` and `report` (need the plot extra: pip install 'climnorm[plot]')."""
    p = sub.add_parser("plot", help="pictures of the normals in OUTPUT_DIR: map, cycle, change (needs the plot extra)")
    psub = p.add_subparsers(dest="kind", required=True, metavar="PICTURE")
    helps = {
        "map": "map of one normal: a day (--day) or a season's mean (--season; default the annual mean)",
        "cycle": "seasonal cycle: region-mean normal against day of year for several target years",
        "change": "change signal: region-mean annual normal against target year, one line per scenario",
        "counties": "choropleth of one county (or polygon) normal with state outlines (needs the zonal extra)",
    }
    for kind, text in helps.items():
        more = "" if kind in ("map", "counties") else ". Region means: cos(latitude)-weighted, missing cells skipped."
        k = psub.add_parser(kind, help=text, description=text + more)
        k.add_argument("output_dir", type=local_output_dir, metavar="OUTPUT_DIR", help="a run's output folder")
        k.add_argument("--variable", required=True, help="e.g. tas, pr")
        k.add_argument("--region", required=True, help="region key, e.g. CONUS")
        if kind in ("map", "counties"):
            k.add_argument("--scenario", help="needed when several scenarios have the target")
            k.add_argument("--target", type=int, help="target year (default: the latest)")
            when = k.add_mutually_exclusive_group()
            when.add_argument("--day", type=int, help="day slot of the year, 1-based (196 = 15 Jul in noleap)")
            when.add_argument("--season", choices=["DJF", "MAM", "JJA", "SON", "annual"], help="mean of a season")
            _cli_zonal.add_outline_options(k, when, kind)
        else:
            k.add_argument("--scenario", nargs="+", metavar="SCENARIO", help="only these scenarios (default: all)")
        if kind == "cycle":
            k.add_argument(
                "--targets", nargs="+", type=int, metavar="YEAR", help="target years (default: first and last of each)"
            )
        if kind == "change":
            k.add_argument("--workers", type=workers, default=1, help="processes reading the normals")
        if kind != "cycle":
            k.add_argument(
                "--product", help="a product (monthly, seasonal, annual...) or an indicator's id (default: daily)"
            )
        k.add_argument("--window-years", type=int, help="when OUTPUT_DIR holds normals of several window lengths")
        k.add_argument(
            "--model", help="a model (or 'MODEL VARIANT', or 'ensemble') when OUTPUT_DIR holds several members"
        )
        if kind != "change":
            k.add_argument("--statistic", help="of an ensemble output: mean (default), median, p10, ...")
        if kind in ("map", "change", "counties"):
            k.add_argument(
                "--change", action="store_true",
                help="the change against the changes: baseline (a map of the ensemble's: with the IPCC AR6 hatching; "
                "by target year: each member's, their mean and range; per county: from the counties' own normals)",
            )  # fmt: skip
        k.add_argument("-o", "--output", type=Path, help=f"image file (default: VARIABLE_REGION_{kind}.png)")
        width, height = size = (900, 600) if kind in ("map", "counties") else (900, 550)
        k.add_argument("--size", type=_pixels, default=size, metavar="WxH", help=f"pixels (default {width}x{height})")
        k.add_argument("--dpi", type=int, default=100, help="dots per inch: sets the size of the text (default 100)")
        k.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="one self-contained HTML report of OUTPUT_DIR (needs the plot extra)")
    p.add_argument("output_dir", type=local_output_dir, metavar="OUTPUT_DIR")
    p.add_argument("-o", "--output", type=Path, help="HTML file (default: OUTPUT_DIR/report.html)")
    p.add_argument("--workers", type=workers, default=1, help="processes reading the normals")
    p.set_defaults(func=cmd_report)
