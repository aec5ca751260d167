"""Child processes that die with their parent.

A batch's worker processes and a study's decode processes must not outlive the command that
started them: killed with SIGKILL, a parent cannot clean up, so each child asks the Linux kernel
to kill it when its parent goes (prctl PR_SET_PDEATHSIG). Elsewhere this is a no-op and the pool's
own shutdown is all there is. Written with ctypes because the standard library exposes no prctl.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask to receive SIGKILL when the parent process ends; True where the platform supports it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    # the parent may have died between fork and prctl: then we are already an orphan
    return os.getppid() != 1
