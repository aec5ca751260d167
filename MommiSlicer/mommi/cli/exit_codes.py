"""Exit codes of the `mommi` command; documented in the README and in --help."""

OK = 0  #: everything asked for worked
PROBLEMS = 1  #: it ran, but something needs attention (bad files, broken set-up)
USAGE = 2  #: the command line was wrong (argparse's own code)
NOTHING_FOUND = 3  #: no usable study under the given paths
INTERNAL = 70  #: a bug in MommiSlicer (EX_SOFTWARE); please report it
INTERRUPTED = 130  #: stopped with Ctrl+C
BROKEN_PIPE = 141  #: whatever read the output stopped reading (``mommi ... | head``): 128 + SIGPIPE, as a shell says

EPILOG = (
    "exit codes: 0 ok; 1 ran but found problems (bad files, broken set-up); 2 usage error; "
    "3 no usable study found; 70 internal error; 130 interrupted; 141 the output's reader went away"
)
