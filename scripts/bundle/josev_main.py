"""Entry point of the self-contained josev bundle (PyInstaller): ``josev ARGS`` runs the CLI, and
``josev --run-module MODULE ARGS`` runs MODULE as ``__main__`` - what ``python -m MODULE`` does for an
installed josev (josev.reexec.module_command builds either command line)."""

from __future__ import annotations

import runpy
import sys

from josev.reexec import RUN_MODULE


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == RUN_MODULE:
        module = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    from josev.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
