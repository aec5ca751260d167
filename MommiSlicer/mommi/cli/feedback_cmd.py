"""`mommi feedback export|stats`: readers' decisions out of the review store, for retraining."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from mommi.cli import exit_codes
from mommi.cli.arg_types import iso_time


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        metavar="PATH|URL",
        help="review database: a SQLite file, or a team's postgresql://user@host/db (password from PGPASSWORD "
        "or ~/.pgpass); default: MOMMI_REVIEW_DB, then the settings file, then the user data folder",
    )


def register(commands: argparse._SubParsersAction) -> None:
    feedback = commands.add_parser(
        "feedback",
        help="export and count readers' review decisions",
        description="Readers' review decisions, out of the review store.",
    )
    sub = feedback.add_subparsers(dest="feedback_command", metavar="SUBCOMMAND")
    sub.required = True
    export = sub.add_parser(
        "export",
        help="write a de-identified feedback batch (folder or zip) for retraining",
        description="Write the reviewed studies matching the filters as a feedback batch: manifest.json (counts, "
        "model versions, SHA-256 of every file), images de-identified by DICOM PS3.15's basic profile, COCO-style "
        "annotations with the model's output and the reader's answer side by side, and a flat CSV. Written to a "
        "temporary place and moved into place at the end; the same filters on the same store give the same files.",
        epilog="exit codes: 0 written; 1 nothing matched or a source image could not be read; 2 usage",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="the batch folder (or DIR.zip)")
    export.add_argument("--since", type=iso_time, default=None, help="only decisions at or after this time (ISO 8601)")
    export.add_argument("--until", type=iso_time, default=None, help="only decisions at or before this time (ISO 8601)")
    export.add_argument("--reader", default=None, help="only this reader's decisions")
    export.add_argument("--status", choices=("unread", "in progress", "done"), default=None)
    export.add_argument("--zip", action="store_true", help="write one zip file instead of a folder")
    export.add_argument(
        "--include-comments",
        action="store_true",
        help="also export the readers' free-text comments as written (they may name the patient: left out by default)",
    )
    _add_store(export)
    export.set_defaults(handler=run_export)

    stats = sub.add_parser(
        "stats",
        help="counts of reviewed studies, decisions and readers",
        description="Counts in the review store: studies by status, findings by decision, events by reader.",
    )
    stats.add_argument("--json", action="store_true")
    _add_store(stats)
    stats.set_defaults(handler=run_stats)


def _store(args: argparse.Namespace):  # noqa: ANN202 - ReviewStore, imported lazily
    from mommi.feedback.store import default_store_location, open_store

    return open_store(default_store_location(args.db))


def run_export(args: argparse.Namespace) -> int:
    from mommi.feedback.export import ExportError, ExportFilters, export_batch
    from mommi.feedback.store import ReviewStoreError

    filters = ExportFilters(args.since, args.until, args.reader, args.status)
    try:
        with _store(args) as store:
            if args.include_comments:
                print(
                    "mommi feedback export: --include-comments: the readers' free-text comments are exported as "
                    "written and are NOT de-identified; check them before the batch leaves the site",
                    file=sys.stderr,
                )
            result = export_batch(store, args.out, filters, as_zip=args.zip, include_comments=args.include_comments)
    except (ExportError, ReviewStoreError) as exc:
        print(f"mommi feedback export: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    except OSError as exc:  # a full disk or an unwritable target: the staging folder is already removed
        print(
            f"mommi feedback export: cannot write the batch {args.out}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
            + "; nothing was exported",
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    counts = result.counts
    print(
        f"batch {result.batch_id}: {counts['studies']} studies, {counts['images']} images, findings "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts["findings"].items())) or "none")
        + f" -> {result.path}"
    )
    if counts["burned_in_flagged"]:
        print(
            f"  {len(counts['burned_in_flagged'])} images may carry burned-in annotation: check them before "
            "sharing (listed in manifest.json)"
        )
    return exit_codes.OK if counts["studies"] else exit_codes.PROBLEMS


def run_stats(args: argparse.Namespace) -> int:
    from mommi.feedback.state import state_of
    from mommi.feedback.store import ReviewStoreError

    try:
        with _store(args) as store:
            statuses: Counter[str] = Counter()
            decisions: Counter[str] = Counter()
            readers: Counter[str] = Counter()
            for study in store.studies():
                events = store.events(study.study_uid)
                state = state_of(store, study.study_uid, events)
                statuses[state.status] += 1
                decisions.update(f.decision if f.origin == "model" else "added" for f in state.findings.values())
                readers.update(e.reader for e in events)
            path = store.display_location
    except ReviewStoreError as exc:
        print(f"mommi feedback stats: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    report: dict[str, Any] = {
        "store": str(path),
        "studies": dict(statuses),
        "findings": dict(decisions),
        "events_by_reader": dict(readers),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"review store {path}")
        for key in ("studies", "findings", "events_by_reader"):
            print(
                f"  {key.replace('_', ' ')}: "
                + (", ".join(f"{k} {v}" for k, v in sorted(report[key].items())) or "none")
            )
    return exit_codes.OK
