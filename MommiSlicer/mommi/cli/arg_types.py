"""Argument types shared by the commands: a bad value is a usage error (exit 2) naming the option,
never a late failure deep in an analysis (a NaN threshold used to fail every study of a batch)."""

from __future__ import annotations

import argparse
import math
import os


def probability(text: str) -> float:
    """A finite number within 0..1 (detection scores are probabilities)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a score within 0..1")
    return value


def positive_share(text: str) -> float:
    """A finite number within (0, 1]: a share that must be reached (0 would be reached by anything)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share above 0 and at most 1")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def capped_workers(requested: int) -> tuple[int, str | None]:
    """Worker processes limited to the cores this process may use: each worker holds its own ONNX
    Runtime sessions (hundreds of MB), so more workers than cores only add memory. Returns the count
    and, when capped, a note for the user."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if requested <= cores:
        return requested, None
    return cores, f"--workers {requested} capped to the {cores} CPU cores available"


def iso_time(text: str) -> str:
    """An ISO-8601 time in the review store's stored form (UTC, fixed width, so that it compares as text);
    a time without an offset is UTC. A typo such as "last week" would otherwise filter out everything."""
    from datetime import datetime

    from mommi.feedback.store import utc_timestamp

    try:
        return utc_timestamp(datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time (e.g. 2026-11-30 or 2026-11-30T14:00+01:00)"
        ) from None


def iso_date(text: str) -> str:
    """A calendar date as YYYY-MM-DD (or YYYYMMDD)."""
    from datetime import date

    try:
        return date.fromisoformat(text if "-" in text else f"{text[:4]}-{text[4:6]}-{text[6:]}").isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
