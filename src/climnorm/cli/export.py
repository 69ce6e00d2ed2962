"""The `climnorm export` subcommand: a thin call into `climnorm.outputs.export` (one store per chain and product)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from climnorm.cli.common import EXIT_OK, console, local_output_dir

if TYPE_CHECKING:
    T_Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def cmd_export(args: argparse.Namespace) -> int:
    """`climnorm export OUTPUT_DIR`: every chain's normals of each product as one store, one line per store."""
    from climnorm.outputs.export import export

    out = console()
    with out.status(f"writing one {args.format} store per chain and product of {args.output_dir}"):
        written = export(args.output_dir, format=args.format, out_dir=args.out_dir, products=args.product)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    out.print(f"{len(written)} store(s) written", highlight=False)
    return EXIT_OK


def add_export_command(sub: T_Subcommands) -> None:
    text = "one store per chain and product: the normals of every target along target_year (docs/normals.md)"
    p = sub.add_parser("export", help=text, description=text + ". Zarr v3 needs the export extra.")
    p.add_argument("output_dir", type=local_output_dir, metavar="OUTPUT_DIR", help="a run's output folder")
    p.add_argument("--format", choices=["zarr", "netcdf"], default="zarr", help="Zarr v3 (default) or NetCDF-4")
    p.add_argument("-o", "--out-dir", type=Path, help="where the stores go (default: OUTPUT_DIR/export)")
    p.add_argument("--product", nargs="+", metavar="PRODUCT", help="only these products (or indicators, by their id)")
    p.set_defaults(func=cmd_export)
