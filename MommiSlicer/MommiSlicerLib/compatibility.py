"""Which Slicer can run MommiSlicer, said when the module loads instead of failing at install time.

The engine needs Python >= 3.10 (pydicom 3 and highdicom >= 0.23 do); Slicer 5.8 ships Python 3.9
and Slicer 5.10 the first Python 3.12, so Slicer 5.10 is the oldest Slicer whose Python can install
the engine's packages. This file is imported by the module before anything else of ours, so it
must itself run on Slicer 5.8's Python 3.9 (the test parses it as 3.9): no 3.10-only syntax.
"""

from __future__ import annotations

#: the oldest Slicer (major, minor) the module supports
MIN_SLICER = (5, 10)
#: the oldest Python the engine's packages install on
MIN_PYTHON = (3, 10)


def unsupported_reason(slicer_version: tuple[int, int], python_version: tuple[int, int]) -> str | None:
    """One sentence for the user when this Slicer or its Python is too old (None: supported)."""
    if tuple(slicer_version) < MIN_SLICER or tuple(python_version) < MIN_PYTHON:
        return (
            f"MommiSlicer needs 3D Slicer {MIN_SLICER[0]}.{MIN_SLICER[1]} or newer (Python "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer); this is Slicer {slicer_version[0]}.{slicer_version[1]} "
            f"with Python {python_version[0]}.{python_version[1]}, whose Python cannot install the packages "
            "the analysis needs (pydicom 3, highdicom). Please install a newer Slicer."
        )
    return None
