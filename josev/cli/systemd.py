"""``josev systemd install``: write the systemd units (and an example station configuration) for a deployment.

Two modes:

* ``all-in-one``: ``josev.service`` runs ``josev run`` (broker and every service in one process tree, the
  smallest footprint); ``josev.target`` wants it.
* ``per-service``: ``josev-broker.service`` (mosquitto with the configuration ``josev broker config`` writes)
  and one ``josev-<service>.service`` per service (``josev run --service <name>``), grouped by ``josev.target``.

The unit templates are package data (``josev/data/systemd``); ``@JOSEV@`` and ``@MOSQUITTO@`` are replaced by
the absolute paths of the executables. Nothing is enabled or started: the command prints the ``systemctl``
lines to run.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import typer

from josev.config import SERVICE_NAMES

Mode = Literal["all-in-one", "per-service"]
MODES: tuple[Mode, ...] = ("all-in-one", "per-service")
UNIT_DIR = Path("lib/systemd/system")
SYSUSERS_DIR = Path("lib/sysusers.d")
TMPFILES_DIR = Path("lib/tmpfiles.d")
CONFIG_MODE = 0o640
"""station.toml holds the OCPP password: readable by root and the josev group only."""
TMPFILES = (
    "# tmpfiles.d(5) entry for josev (installed by `josev systemd install`): the station configuration holds\n"
    "# secrets (OCPP password); only root and the josev group may read it.\n"
    "z /etc/josev/station.toml 0640 root josev -\n"
)
CONFIG = Path("etc/josev/station.toml")
CHARGING_NICE = -10
"""``Nice=`` of the units on the charging path (broker, HAL, coordinator, SLAC, SECC, and the all-in-one unit): the
scheduler runs them ahead of OCPP, the system service and anything else on the board, so a busy board (a log
upload, a hostile peer's connections being torn down) does not stretch the charge loop's response times.
``bench/hostile_load.py`` with ``JOSEV_BENCH_PRIORITY=board`` measures the station run this way. Not
``CPUSchedulingPolicy=`` by default: the units keep ``RestrictRealtime=yes``; ``josev systemd install --realtime``
lets the station's ``[station] scheduling = "rr"`` give the charging path a real-time policy (:func:`realtime_unit`,
:mod:`josev.services.scheduling`)."""
CHARGING_UNITS = (
    "josev.service",
    "josev-broker.service",
    "josev-hal.service",
    "josev-coordinator.service",
    "josev-slac.service",
    "josev-secc.service",
)
"""Units that carry ``Nice=`` :data:`CHARGING_NICE` (the templates say so; a test checks)."""


def realtime_unit(name: str, text: str, priority: int) -> str:
    """``text`` of unit ``name`` for a real-time charging path (unchanged for a unit not on it)."""
    if name not in CHARGING_UNITS:
        return text  # OCPP, system: behind the charging path, RestrictRealtime=yes
    lines = ["RestrictRealtime=no"]
    if name == "josev-broker.service":
        lines += [
            "CPUSchedulingPolicy=rr",
            f"CPUSchedulingPriority={priority}",
            "CPUSchedulingResetOnFork=yes",
        ]
    else:
        lines.append(f"LimitRTPRIO={priority}")
    out = text.replace("\nRestrictRealtime=yes\n", "\n" + "\n".join(lines) + "\n")
    assert out != text, f"{name}: no RestrictRealtime=yes line"
    return out


def realtime_config(text: str, priority: int) -> str:
    """The example configuration with ``scheduling = "rr"`` at ``priority``."""
    out = text.replace('# scheduling = "rr"  ', 'scheduling = "rr"    ').replace(
        "# realtime_priority = 10", f"realtime_priority = {priority}  "
    )
    assert out != text
    return out


app = typer.Typer(help="systemd units for a josev station.", no_args_is_help=True)


class InstallError(RuntimeError):
    """The units cannot be written (bad option, missing executable, unwritable prefix)."""


def templates() -> Traversable:
    """The folder of unit templates shipped in the package."""
    return resources.files("josev").joinpath("data", "systemd")


def unit_names(mode: Mode, services: list[str]) -> list[str]:
    """Units of a deployment, the target last."""
    if mode == "all-in-one":
        return ["josev.service", "josev.target"]
    return ["josev-broker.service", *(f"josev-{s}.service" for s in services), "josev.target"]


def render_unit(name: str, *, josev_bin: str, mosquitto: str, wants: list[str]) -> str:
    """A unit template with its placeholders filled in."""
    text = templates().joinpath(name).read_text()
    return (
        text.replace("@JOSEV@", josev_bin)
        .replace("@MOSQUITTO@", mosquitto)
        .replace("@WANTS@", " ".join(wants))
    )


def render_config(mode: Mode) -> str:
    """The example station configuration for ``mode``."""
    note = (
        "josev.service starts and manages the broker itself"
        if mode == "all-in-one"
        else "josev-broker.service runs the broker; the services only connect to it"
    )
    text = templates().joinpath("station.toml").read_text()
    return text.replace("@BROKER_MANAGE@", "true" if mode == "all-in-one" else "false").replace(
        "@MODE_NOTE@", note
    )


def default_josev_bin() -> str:
    """The ``josev`` executable of this installation: the one beside this interpreter (a venv or a board
    install, whatever PATH says), else the one on PATH."""
    beside = Path(sys.executable).with_name("josev")
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("josev") or str(beside)
    return str(Path(found).absolute())


def default_mosquitto() -> str:
    """The mosquitto executable (where Debian and Yocto put it when not on PATH)."""
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def install(
    prefix: Path,
    mode: Mode,
    *,
    josev_bin: str | None = None,
    mosquitto: str | None = None,
    services: list[str] | None = None,
    unit_dir: Path = UNIT_DIR,
    force_config: bool = False,
    realtime: int | None = None,
) -> list[Path]:
    """Write the units, the sysusers.d entry and (unless present) the station configuration under ``prefix``;
    ``realtime``: the real-time priority the charging path may use (:func:`realtime_unit`, :func:`realtime_config`)."""
    if realtime is not None and not 1 <= realtime <= 49:
        raise InstallError(
            f"--realtime {realtime}: a real-time priority is 1..49 (below the kernel's interrupt threads)"
        )
    if mode not in MODES:
        raise InstallError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    services = list(services or SERVICE_NAMES)
    unknown = sorted(set(services) - set(SERVICE_NAMES))
    if unknown or not services:
        raise InstallError(f"unknown service(s) {unknown}; known: {', '.join(SERVICE_NAMES)}")
    josev_bin = josev_bin or default_josev_bin()
    mosquitto = mosquitto or default_mosquitto()
    for what, path in (("josev", josev_bin), ("mosquitto", mosquitto)):
        if not path.startswith("/"):
            raise InstallError(f"the {what} executable must be an absolute path, got {path!r}")
    names = unit_names(mode, services)
    written: list[Path] = []
    try:
        units = prefix / unit_dir
        units.mkdir(parents=True, exist_ok=True)
        for name in names:
            text = render_unit(name, josev_bin=josev_bin, mosquitto=mosquitto, wants=names[:-1])
            if realtime is not None:
                text = realtime_unit(name, text, realtime)
            (units / name).write_text(text)
            written.append(units / name)
        sysusers = prefix / SYSUSERS_DIR
        sysusers.mkdir(parents=True, exist_ok=True)
        (sysusers / "josev.conf").write_text(templates().joinpath("josev.sysusers").read_text())
        written.append(sysusers / "josev.conf")
        tmpfiles = prefix / TMPFILES_DIR
        tmpfiles.mkdir(parents=True, exist_ok=True)
        (tmpfiles / "josev.conf").write_text(TMPFILES)
        written.append(tmpfiles / "josev.conf")
        cfg = prefix / CONFIG
        if force_config or not cfg.exists():
            cfg.parent.mkdir(parents=True, exist_ok=True)
            text = render_config(mode)
            write_private(cfg, text if realtime is None else realtime_config(text, realtime))
            written.append(cfg)
    except OSError as exc:
        raise InstallError(f"cannot write under {prefix}: {exc.strerror or exc}") from exc
    return written


def write_private(path: Path, text: str) -> None:
    """Write ``path`` 0640 from the start (never world-readable, not even for a moment), group ``josev`` when
    that group exists already (else tmpfiles.d sets it at boot, after systemd-sysusers created it)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, CONFIG_MODE)
    try:
        os.fchmod(fd, CONFIG_MODE)  # whatever the umask
        with contextlib.suppress(KeyError, PermissionError):
            os.fchown(fd, -1, grp.getgrnam("josev").gr_gid)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


@app.command("install")
def install_cmd(
    prefix: Path = typer.Option(
        Path("/"), "--prefix", help="Root to install into (e.g. a staging directory)."
    ),
    mode: str = typer.Option("all-in-one", "--mode", help="all-in-one (one process) or per-service."),
    josev_bin: str | None = typer.Option(
        None, "--josev-bin", help="Absolute path of josev (default: this one)."
    ),
    mosquitto: str | None = typer.Option(None, "--mosquitto", help="Absolute path of mosquitto."),
    service: list[str] = typer.Option([], "--service", help="per-service: only these services (repeatable)."),
    force_config: bool = typer.Option(False, "--force-config", help="Overwrite an existing station.toml."),
    realtime: int | None = typer.Option(
        None,
        "--realtime",
        help='Let the charging path run real-time at this priority (1..49; LimitRTPRIO=, and scheduling = "rr"'
        " in a new station.toml).",
    ),
) -> None:
    """Write the systemd units, the josev user (sysusers.d) and /etc/josev/station.toml if absent."""
    if mode not in MODES:
        typer.echo(f"error: unknown mode {mode!r}; use one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    try:
        written = install(
            prefix,
            mode,
            josev_bin=josev_bin,
            mosquitto=mosquitto,
            services=service or None,
            force_config=force_config,
            realtime=realtime,
        )
    except InstallError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"wrote {path}")
    used = josev_bin or default_josev_bin()
    if not Path(used).exists():
        typer.echo(
            f"warning: {used} does not exist here (fine for a staging prefix; else pass --josev-bin)",
            err=True,
        )
    cfg_written = any(p.name == "station.toml" for p in written)
    if realtime is not None and not cfg_written:
        typer.echo(
            f'note: {prefix / CONFIG} was kept: set [station] scheduling = "rr" and realtime_priority = {realtime}'
            " there for the real-time policy",
            err=True,
        )
    typer.echo(
        "then: systemd-sysusers && systemd-tmpfiles --create josev.conf && systemctl daemon-reload"
        " && systemctl enable --now josev.target"
    )


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="Unit name, e.g. josev-secc.service or josev.target."),
    mode: str = typer.Option("per-service", "--mode", help="Deployment mode (for josev.target)."),
    josev_bin: str | None = typer.Option(None, "--josev-bin", help="Absolute path of josev."),
    mosquitto: str | None = typer.Option(None, "--mosquitto", help="Absolute path of mosquitto."),
) -> None:
    """Print one unit as `install` would write it."""
    if mode not in MODES:
        typer.echo(f"error: unknown mode {mode!r}; use one of {', '.join(MODES)}", err=True)
        raise typer.Exit(2)
    names = unit_names(mode, list(SERVICE_NAMES))
    if not templates().joinpath(name).is_file() or not name.startswith("josev"):
        typer.echo(f"error: no unit {name!r}; units: {', '.join(names)}", err=True)
        raise typer.Exit(2)
    typer.echo(
        render_unit(
            name,
            josev_bin=josev_bin or default_josev_bin(),
            mosquitto=mosquitto or default_mosquitto(),
            wants=names[:-1],
        ),
        nl=False,
    )
