"""The command line that runs a josev module in a new process, from a Python install or a frozen bundle.

A normal install re-runs the interpreter: ``python -m MODULE``. In a self-contained bundle (PyInstaller sets
``sys.frozen``) ``sys.executable`` is the bundle's own program, which has no ``-m``: it takes
``--run-module MODULE`` instead (see ``scripts/bundle/josev_main.py``).
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

RUN_MODULE = "--run-module"


def module_command(module: str) -> list[str]:
    """argv prefix running ``module`` as ``__main__`` (append its arguments)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, RUN_MODULE, module]
    return [sys.executable, "-m", module]


_PR_SET_PDEATHSIG = 1


def die_with_parent(then: Callable[[], None] | None = None) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGTERM when the thread that started it dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``): a broker or a service process must not outlive a launcher killed with
    SIGKILL (an orphaned HAL would keep the hardware while a restarted station starts a second one). Call it
    from the thread that lives as long as the child should (the event loop's). ``then`` runs after it in the
    child (e.g. handing on a capability). Resolved here, in the parent, so the child only makes system calls.
    None where the platform has no ``prctl``."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the children are stopped by the launcher only
        return then
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    sig = int(signal.SIGTERM)

    def preexec() -> None:
        if then is not None:
            then()
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec
