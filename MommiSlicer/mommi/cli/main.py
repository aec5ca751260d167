"""Entry point of the `mommi` console command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from mommi import __version__
from mommi.errors import MommiError
from mommi.cli import (
    analyze_cmd,
    benchmark_cmd,
    data_cmd,
    eval_cmd,
    exit_codes,
    feedback_cmd,
    info_cmd,
    malignancy_cmd,
    pacs_cmd,
    reader_cmd,
    study_cmd,
    train_cmd,
    zoo_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mommi",
        description="MommiSlicer: multi-view mammography mass detection (MommiNet-v2). "
        "Research software, not for clinical use.",
        epilog=exit_codes.EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"mommislicer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    info_cmd.register(commands)
    study_cmd.register(commands)
    analyze_cmd.register(commands)
    pacs_cmd.register(commands)
    feedback_cmd.register(commands)
    reader_cmd.register(commands)
    data_cmd.register(commands)
    eval_cmd.register(commands)
    benchmark_cmd.register(commands)
    malignancy_cmd.register(commands)
    train_cmd.register(commands)
    zoo_cmd.register(commands)
    return parser


def _quiet_invalid_uids() -> None:
    """pydicom warns (twice: a warning and a log line) for every non-conformant UID it reads; public
    datasets replace UIDs by hashes in every file (VinDr-Mammo), which would bury a batch's output. The
    command line owns its process, so it silences those; the result says once, in words, what follows
    from such UIDs (no DICOM output can reference the file). --debug shows them again."""
    warnings.filterwarnings("ignore", message="Invalid value for VR UI")
    logger = logging.getLogger("pydicom")
    if not any(isinstance(f, _NoInvalidUid) for f in logger.filters):
        logger.addFilter(_NoInvalidUid())


class _NoInvalidUid(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Invalid value for VR UI" not in record.getMessage()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.debug:
        _quiet_invalid_uids()
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        # the reader of our output went away (`mommi study inspect | head`): nothing of ours failed. Python's
        # documented recipe: point stdout at devnull so that the flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.BROKEN_PIPE
    except MommiError as exc:  # the engine's own refusals, whichever command met them: the cause in words
        if args.debug:
            raise
        print(f"mommi {args.command}: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    except Exception as exc:  # last line of defence: a message, not a traceback
        if args.debug:
            raise
        print(
            f"mommi: internal error ({type(exc).__name__}: {exc}). Run again with --debug and report the output.",
            file=sys.stderr,
        )
        return exit_codes.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
