"""`mommi study inspect`: what studies are under these paths, and what is wrong with them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mommi.cli import exit_codes
from mommi.study import load_studies


def register(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser(
        "study",
        help="study input: find and check four-view studies",
        description="Commands about study input (DICOM, or PNG/PGM with a JSON sidecar).",
    )
    sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND")
    sub.required = True
    inspect = sub.add_parser(
        "inspect",
        help="list the studies under the paths, their views, geometry, warnings and errors",
        description="Find the studies under the given files and folders and print, per study, "
        "the views found, image size, pixel spacing (and the tag it came from), photometric "
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


def _spacing_text(view: dict[str, Any]) -> tuple[str, str]:
    spacing = view["pixel_spacing"]
    if spacing is None:
        return "unknown", "-"
    value = f"{spacing['row_mm']:.4g}"
    if abs(spacing["row_mm"] - spacing["col_mm"]) > 1e-9:
        value += f"x{spacing['col_mm']:.4g}"
    return value, spacing["source"]


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for number, study in enumerate(report["studies"], start=1):
        date = study["study_date"] or "date unknown"
        lines.append(f"Study {number}: {study['study_uid']}  (patient {study['patient_key']}, {date})")
        header = f"  {'view':<6} {'size (cols x rows)':<18} {'spacing mm':<11} {'spacing from':<40} "
        header += f"{'photometric':<12} {'intent':<17} file"
        lines.append(header)
        for label, view in study["views"].items():
            spacing, source = _spacing_text(view)
            size = f"{view['cols']} x {view['rows']}"
            lines.append(
                f"  {label:<6} {size:<18} {spacing:<11} {source:<40} "
                f"{view['photometric_interpretation']:<12} {view['presentation_intent']:<17} {view['path']}"
            )
        if study["missing_views"]:
            lines.append(f"  missing views: {', '.join(study['missing_views'])}")
        for item in study["set_aside"]:
            lines.append(f"  set aside: {item['label']} {item['path']}: {item['reason']}")
        image_warnings = [
            f"{label}: {w}" for label, view in study["views"].items() for w in view["warnings"]
        ]
        warnings = [w for w in study["warnings"] if not w.endswith(" is missing")] + image_warnings
        if warnings:
            lines.append("  warnings:")
            lines += [f"    - {w}" for w in warnings]
        if study["errors"]:
            lines.append("  errors:")
            lines += [f"    - {e['path']}: {e['reason']}" for e in study["errors"]]
        lines.append("")
    if report["errors"]:
        lines.append("Files that belong to no study:")
        lines += [f"  - {e['path']}: {e['reason']}" for e in report["errors"]]
        lines.append("")
    counts = report["counts"]
    lines.append(
        f"{counts['studies']} stud{'y' if counts['studies'] == 1 else 'ies'}, "
        f"{counts['views']} views, {counts['set_aside']} set aside, {counts['errors']} file errors, "
        f"{counts['ignored']} non-image files ignored"
    )
    return "\n".join(lines)


def run_inspect(args: argparse.Namespace) -> int:
    def progress(done: int, total: int, path: Path) -> None:
        if sys.stderr.isatty() and not args.json:
            print(f"\rreading {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    collection = load_studies(
        args.paths, keep_pixels=False, allow_for_processing=args.allow_for_processing, progress=progress
    )
    report = collection.summary()
    report["counts"] = {
        "studies": len(collection.studies),
        "views": sum(len(s.images) for s in collection.studies),
        "set_aside": sum(len(s.set_aside) for s in collection.studies),
        "errors": len(collection.errors) + sum(len(s.errors) for s in collection.studies),
        "ignored": len(collection.ignored),
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    if not any(s.images for s in collection.studies):
        return exit_codes.NOTHING_FOUND
    return exit_codes.PROBLEMS if report["counts"]["errors"] else exit_codes.OK
