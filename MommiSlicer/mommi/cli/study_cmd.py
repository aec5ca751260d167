"""`mommi study inspect`: what studies are under these paths, and what is wrong with them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mommi.cli import exit_codes
from mommi.study import load_studies
from mommi.study.report import inspection_report, render_inspection


def register(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser(
        "study",
        help="study input: find and check four-view studies",
        description="Commands about study input (DICOM, or PNG/PGM/JPEG with a JSON sidecar; the public datasets "
        "CBIS-DDSM, INbreast, VinDr-Mammo, CMMD and CDD-CESM as they are distributed).",
    )
    sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND")
    sub.required = True
    inspect = sub.add_parser(
        "inspect",
        help="list the studies under the paths, their views, geometry, warnings and errors",
        description="Find the studies under the given files and folders and print, per study, "
        "the dataset profile used (if any), the views found, image size, pixel spacing (and the tag it came "
        "from), photometric "
        "interpretation, presentation intent, warnings and per-file errors. Every pixel is "
        "decoded, so a file that inspects cleanly will load for analysis.",
        epilog="exit codes: 0 all files read; 1 studies found but some files had errors; "
        "2 usage error; 3 no usable study found",
    )
    inspect.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files and/or folders")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument(
        "--allow-for-processing",
        action="store_true",
        help="use FOR PROCESSING images as views (they are set aside by default)",
    )
    inspect.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    def progress(done: int, total: int, path: Path) -> None:
        if sys.stderr.isatty() and not args.json:
            print(f"\rreading {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    collection = load_studies(
        args.paths, keep_pixels=False, allow_for_processing=args.allow_for_processing, progress=progress
    )
    report = inspection_report(collection)
    print(json.dumps(report, indent=2) if args.json else render_inspection(report))
    if not any(s.images for s in collection.studies):
        return exit_codes.NOTHING_FOUND
    return exit_codes.PROBLEMS if report["counts"]["errors"] else exit_codes.OK
