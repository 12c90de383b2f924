"""The command line that runs a josev module in a new process, from a Python install or a frozen bundle.

A normal install re-runs the interpreter: ``python -m MODULE``. In a self-contained bundle (PyInstaller sets
``sys.frozen``) ``sys.executable`` is the bundle's own program, which has no ``-m``: it takes
``--run-module MODULE`` instead (see ``scripts/bundle/josev_main.py``).
"""

from __future__ import annotations

import sys

RUN_MODULE = "--run-module"


def module_command(module: str) -> list[str]:
    """argv prefix running ``module`` as ``__main__`` (append its arguments)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, RUN_MODULE, module]
    return [sys.executable, "-m", module]
