"""`mommi reader`: the stand-alone desktop reader (PyQt5, the `reader` extra).

PyQt5 is imported only inside the handler so that the engine and the rest of
the command line work without it; without PyQt5 the command says how to install
it and exits with the usage code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mommi.cli import exit_codes

MISSING_PYQT = (
    "mommi reader: the desktop reader needs PyQt5, which is not installed.\n"
    "Install it with:  pip install -e \".[reader]\"   (or: pip install 'PyQt5>=5.15')"
)


def register(commands: argparse._SubParsersAction) -> None:
    reader = commands.add_parser(
        "reader",
        help="open the desktop reader: four-view hanging, overlays, keyboard review, worklist",
        description="The stand-alone MommiSlicer reader (PyQt5). Opens a study, or a folder of studies as a "
        "worklist, analyses it in the background and lets you accept, reject, correct and add findings; every "
        "decision is saved to the review database at once. Research software: not for clinical use.",
        epilog=exit_codes.EPILOG,
    )
    add_arguments(reader)
    reader.set_defaults(handler=run_reader)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "study",
        type=Path,
        nargs="?",
        default=None,
        metavar="STUDY_OR_FOLDER",
        help="a study (folder or files) or a folder of studies to open as a worklist",
    )
    parser.add_argument(
        "--reader",
        default=None,
        metavar="NAME",
        help="who is reading (recorded with every decision; default: the remembered name, else the login name)",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="PATH|URL",
        help="review database: a SQLite file or a team's postgresql://user@host/db (default: MOMMI_REVIEW_DB, "
        "the settings file, or the user data folder)",
    )
    parser.add_argument(
        "--zoo",
        type=Path,
        default=None,
        metavar="DIR",
        help="zoo folder or manifest for this run (default: Settings > Model zoo, else MOMMI_MODEL_ZOO, "
        "else the checkout's)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default=None,
        help="auto: CUDA when ONNX Runtime really gets it, else CPU (default: the remembered choice)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep analysis results under DIR (default: the remembered location, normally a per-user cache)",
    )


def run_reader(args: argparse.Namespace) -> int:
    try:
        import PyQt5.QtWidgets  # noqa: F401 - only to find out whether the reader can run
    except ImportError:
        print(MISSING_PYQT, file=sys.stderr)
        return exit_codes.USAGE
    if args.study is not None and not args.study.exists():
        print(f"mommi reader: {args.study}: no such file or folder", file=sys.stderr)
        return exit_codes.USAGE
    from mommi_reader.app import run
    from mommi_reader.main_window import ReaderOptions

    return run(
        ReaderOptions(
            path=args.study, reader=args.reader, db=args.db, zoo=args.zoo, device=args.device, results=args.results
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mommi_reader``: the same options without the `mommi` command."""
    parser = argparse.ArgumentParser(prog="mommi-reader", description="MommiSlicer desktop reader (research use only)")
    add_arguments(parser)
    return run_reader(parser.parse_args(argv))
