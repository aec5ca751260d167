"""``python -m mommi_reader [STUDY_OR_FOLDER] [options]``: the reader without the `mommi` command."""

from __future__ import annotations

import sys

from mommi.cli.reader_cmd import main

if __name__ == "__main__":
    sys.exit(main())
