"""`mommi pacs find`: mammography studies on a PACS (DICOMweb, or DIMSE C-FIND for a dimse:// node)."""

from __future__ import annotations

import argparse
import json
import sys

from mommi.cli import exit_codes
from mommi.cli.arg_types import iso_date


def register(commands: argparse._SubParsersAction) -> None:
    pacs = commands.add_parser(
        "pacs",
        help="studies on a PACS (DICOMweb or DIMSE); analyse one with: mommi analyze URL/studies/UID --out DIR "
        "[--send]",
        description="Query a PACS over DICOMweb or DIMSE (dimse://AET@host:port[?move=PORT]). DICOMweb credentials: "
        "MOMMI_PACS_TOKEN (bearer) or MOMMI_PACS_USER and MOMMI_PACS_PASSWORD (basic), or the 'pacs' key of the "
        "settings file; never on the command line. TLS certificates are verified (a site CA bundle: "
        "MOMMI_PACS_CA_BUNDLE). DIMSE: our AE title is MOMMI_PACS_AET (default MOMMISLICER).",
    )
    sub = pacs.add_subparsers(dest="pacs_command", metavar="SUBCOMMAND")
    sub.required = True
    find = sub.add_parser(
        "find",
        help="list the mammography studies (ModalitiesInStudy=MG) on a PACS",
        epilog="exit codes: 0 listed (possibly none); 1 the server could not be queried; 2 usage",
    )
    find.add_argument(
        "url",
        help="the DICOMweb base URL (http://pacs:8042/dicom-web) or a DIMSE node "
        "(dimse://AET@host:port; our AE title: MOMMI_PACS_AET, default MOMMISLICER; add ?move=PORT where the PACS "
        "allows only C-MOVE: the listed studies' addresses keep it)",
    )
    find.add_argument("--patient", default=None, help="only this Patient ID")
    find.add_argument("--since", type=iso_date, default=None, help="only studies on or after this date (YYYY-MM-DD)")
    find.add_argument("--accession", default=None, help="only this accession number")
    find.add_argument("--json", action="store_true")
    find.set_defaults(handler=run_find)


def run_find(args: argparse.Namespace) -> int:
    from mommi.pacs import source
    from mommi.pacs.dicomweb import PacsError

    if not source.is_server_url(args.url):
        print(
            f"mommi pacs find: {args.url!r} is neither a DICOMweb base URL (http:// or https://) nor a DIMSE node "
            "(dimse://AET@host:port)",
            file=sys.stderr,
        )
        return exit_codes.USAGE
    try:
        studies = source.find(args.url, args.patient, args.since, args.accession)
    except PacsError as exc:
        print(f"mommi pacs find: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    if args.json:
        print(json.dumps([s.to_dict() for s in studies], indent=1))
        return exit_codes.OK
    print(f"{len(studies)} mammography studies on {args.url}")
    for s in studies:
        print(
            f"  {s.study_date or '-':<8}  {s.patient_id or '-':<16} {s.accession or '-':<12} "
            f"{s.instances if s.instances is not None else '?':>3} images  {s.description or ''}"
        )
        print(f"    mommi analyze {source.study_url(args.url, s.study_uid)} --out DIR")
    return exit_codes.OK
