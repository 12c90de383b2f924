"""``josev`` loads a command group only when it is used: ``josev run`` (and each service process it or systemd
starts) must not pay for the PKI, SLAC, EV and EXI tools."""

from __future__ import annotations

import subprocess
import sys

from josev.cli import COMMANDS, load_command

HEAVY = ("josev.pki", "josev.sim.modem", "josev.ev", "josev.demo", "cryptography.x509", "josev.secc")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('LOADED:', *(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED:"), out.stdout
    return set(last.split()[1:])


def test_importing_the_cli_loads_no_tool() -> None:
    assert _loaded_after("import josev.cli") == set()


def test_run_help_loads_no_tool() -> None:
    code = "from josev.cli import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == set()


def test_every_lazy_command_loads_with_its_name() -> None:
    for name in COMMANDS:
        cmd = load_command(name)
        assert cmd is not None and cmd.name == name, name
    assert load_command("nosuch") is None


def test_groups_stay_groups() -> None:
    """A group with one command is still a group: `josev api asyncapi`, `josev config check`."""
    import click

    for name in ("api", "config"):
        assert isinstance(load_command(name), click.Group), name
