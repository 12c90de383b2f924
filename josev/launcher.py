"""``josev run``: the production launcher.

The main process starts the managed broker (unless ``[broker] manage = false``), runs every enabled service
whose ``process`` is ``main`` in-process, and starts one child process per service configured
``process = "separate"`` (``josev run --config F --service NAME``), restarting a child that dies. SIGTERM or
SIGINT stops everything cleanly, in dependency order (:data:`josev.services.registry.STOP_ORDER`): each stage's
services get their stop event (children SIGTERM) and the next stage waits until they have finished (the
coordinator's last session events reach a still-running OCPP, which flushes before closing its database; the HAL
stops last), then the broker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from josev import config as config_mod
from josev import logs, sdnotify, tomllines
from josev.broker import BrokerError, PrivateBroker
from josev.bus.client import Bus
from josev.bus.service import Service, ServiceRunner
from josev.bus.settings import BusSettings
from josev.config import SERVICE_NAMES, JosevConfig
from josev.reexec import die_with_parent, module_command
from josev.services import builder, privileges, registry, scheduling
from josev.services.privileges import CAP_NET_RAW, Identity, PrivilegeError

STAGE_TIMEOUT_S = 12.0
"""How long one stop stage may take before the next one starts anyway."""

log = logging.getLogger("josev.launcher")


class LaunchError(RuntimeError):
    """The station cannot start (bad configuration, missing service, broker failure)."""


def plan(cfg: JosevConfig, only: list[str]) -> tuple[list[str], list[str]]:
    """(services to run in this process, services to start as separate processes)."""
    if only:
        unknown = sorted(set(only) - set(SERVICE_NAMES))
        if unknown:
            raise LaunchError(f"unknown service(s) {unknown}; known: {list(SERVICE_NAMES)}")
        return list(only), []
    enabled = builder.service_names(cfg)
    return (
        [n for n in enabled if cfg.service(n).process == "main"],
        [n for n in enabled if cfg.service(n).process == "separate"],
    )


left_out = builder.left_out


def build_services(cfg: JosevConfig, names: list[str]) -> list[Service]:
    """Instantiate the named services with the one station builder (clear error when one is missing or its
    section is wrong)."""
    try:
        return builder.build_station(cfg, names).services
    except (registry.UnknownService, builder.BuildError) as exc:
        raise LaunchError(str(exc)) from exc


class _Staged:
    """A service that stops on its stage's event instead of the station's (see :func:`_stop_in_order`)."""

    def __init__(self, svc: Service, stage_stop: asyncio.Event) -> None:
        self.svc = svc
        self.name = svc.name
        self.stage_stop = stage_stop
        self.done = asyncio.Event()
        if hasattr(svc, "reports_ready"):
            self.reports_ready = svc.reports_ready

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        try:
            await self.svc.run(bus, self.stage_stop)
        finally:
            if self.stage_stop.is_set():
                self.done.set()


async def _stop_in_order(
    stop: asyncio.Event, stages: dict[str, asyncio.Event], finished: dict[str, asyncio.Event]
) -> None:
    """When ``stop`` is set, stop the services stage by stage (each waits for the previous one)."""
    await stop.wait()
    by_stage: dict[int, list[str]] = {}
    for name in stages:
        by_stage.setdefault(registry.stop_stage(name), []).append(name)
    for stage in sorted(by_stage):
        names = by_stage[stage]
        for name in names:
            stages[name].set()
        try:
            async with asyncio.timeout(STAGE_TIMEOUT_S):
                for name in names:
                    await finished[name].wait()
        except TimeoutError:
            log.error("stopping %s took longer than %.0f s; going on", names, STAGE_TIMEOUT_S)


def state_paths(cfg: JosevConfig, services: list[str], broker: bool) -> list[tuple[str, Path, bool]]:
    """What the services (and a managed broker) write or must read after the switch to the service user:
    ``(configuration key, path, is a directory)``."""
    out: list[tuple[str, Path, bool]] = []
    if broker:
        out.append(("broker.directory", cfg.broker.directory, True))
    if cfg.logging.file is not None:
        out.append(("logging.file", cfg.logging.file, False))
    if "ocpp" in services:
        from josev.ocpp.service import config_from_station

        occ = config_from_station(cfg)
        out += [("ocpp.database", occ.database, False), ("ocpp.workdir", occ.workdir, True)]
        if occ.key_dir is not None:
            out.append(("ocpp.key_dir", occ.key_dir, True))
        if occ.diagnostics_log is not None:
            out.append(("ocpp.diagnostics_log", occ.diagnostics_log, False))
    if "secc" in services:
        from josev.secc.settings import SeccOptions

        opts = SeccOptions.model_validate(cfg.secc)
        if opts.pki_dir:
            out.append(("secc.pki_dir", Path(opts.pki_dir), True))
        if opts.v2g_log_dir:
            out.append(("secc.v2g_log_dir", Path(opts.v2g_log_dir), True))
        if opts.tls_keylog:
            out.append(("secc.tls_keylog", Path(opts.tls_keylog), False))
    return out


def _identity(cfg: JosevConfig) -> Identity | None:
    """Who the services run as (None: stay who we are); warns when a root station stays root by default."""
    identity = privileges.resolve(cfg.station.user, cfg.station.group)
    if identity is None and os.geteuid() == 0 and cfg.station.user is None:
        log.warning(
            "running every service as root: no user %r here; set [station] user (see docs/security.md)",
            privileges.DEFAULT_USER,
        )
    return identity


def _check_socket_dir(folder: Path, identity: Identity) -> None:
    """mosquitto creates its unix socket after switching to the service user: its folder must let it."""
    try:
        st = folder.stat()
    except OSError as exc:
        raise LaunchError(f"broker.socket: cannot use folder {folder}: {exc.strerror}") from exc
    if st.st_uid != identity.uid and not st.st_mode & 0o002:
        raise LaunchError(
            f"broker.socket: mosquitto (as user {identity.user}) cannot create its socket in {folder}: give"
            " the folder to that user, or leave the key out (the socket then lives in broker.directory)"
        )


def _schedule(
    cfg: JosevConfig,
    in_process: list[str],
    separate: list[str],
    broker: PrivateBroker | None,
    identity: Identity | None,
) -> None:
    """``[station] scheduling``: this process (when it runs a charging service) and the managed broker (when
    any service of the station is one) get the real-time policy, or a warning saying why not. A root launcher
    that switches to the service user first raises ``RLIMIT_RTPRIO``, so its charging-service child processes
    can set theirs after the switch (or warns that they cannot)."""
    policy, priority = cfg.station.scheduling, cfg.station.realtime_priority
    done = scheduling.apply(policy, priority, services=in_process)
    if done.message:
        (log.warning if done.warning else log.info)("%s", done.message)
    children = sorted(scheduling.CHARGING_SERVICES & set(separate))
    if policy != "normal" and identity is not None and children:
        try:
            scheduling.allow(priority)
        except (OSError, ValueError) as exc:
            log.warning(
                "[station] scheduling = %r: the processes of %s (user %s) cannot set real-time scheduling: raising"
                " RLIMIT_RTPRIO to %d failed (%s: needs CAP_SYS_RESOURCE); run them in the main process or under"
                " systemd (LimitRTPRIO=, docs/deployment.md)",
                policy,
                ", ".join(children),
                identity.user,
                priority,
                exc,
            )
    charging = scheduling.wants_realtime([*in_process, *separate])
    if (
        broker is not None
        and broker.proc is not None
        and charging
        and policy != "normal"
        and not done.warning
    ):
        problem = scheduling.apply_to(broker.proc.pid, policy, priority)
        if problem:
            log.warning("[station] scheduling = %r: the broker: %s", policy, problem)


def _drop(identity: Identity | None, in_process: list[str], separate: list[str]) -> None:
    """Switch this process to the service user: CAP_NET_RAW stays effective only where SLAC runs, and
    permitted (for the SLAC child alone) when SLAC is a child process. Not switching (``identity`` None):
    nothing changes; root stays root on purpose (warned about), and a process that is not root keeps what it
    was given (systemd's ``AmbientCapabilities`` per unit, or the SLAC child's CAP_NET_RAW from a launcher
    that switched)."""
    if identity is None:
        return
    keep = frozenset({CAP_NET_RAW}) if "slac" in in_process else frozenset()
    pass_on = frozenset({CAP_NET_RAW}) if "slac" in separate else frozenset()
    log.info("privileges: %s", privileges.drop_to(identity, keep=keep, pass_on=pass_on))


async def _child(
    name: str, config_path: Path, env: dict[str, str], stop: asyncio.Event, done: asyncio.Event | None = None
) -> None:
    try:
        await _run_child(name, config_path, env, stop)
    finally:
        if done is not None:
            done.set()


async def _run_child(name: str, config_path: Path, env: dict[str, str], stop: asyncio.Event) -> None:
    """Run ``josev run --service NAME`` and restart it when it dies (back-off up to 10 s)."""
    delay = 0.5
    while not stop.is_set():
        proc = await asyncio.create_subprocess_exec(
            *module_command("josev"),
            *("run", "--config", str(config_path), "--service", name),
            env=env,
            # SLAC's process alone gets CAP_NET_RAW (ambient, from a launcher that switched user); every
            # service process gets SIGTERM when the launcher dies, also by SIGKILL (no orphan keeps the HAL)
            preexec_fn=die_with_parent(
                _pass_net_raw
                if name == "slac" and os.geteuid() != 0 and CAP_NET_RAW in privileges.permitted()
                else None
            ),
        )
        waiter = asyncio.ensure_future(proc.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            stopper.cancel()
            return
        stopper.cancel()
        log.error("service process %s exited with %s; restarting in %.1f s", name, proc.returncode, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def run_station(
    cfg: JosevConfig,
    *,
    config_path: Path | None = None,
    only: list[str] | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Run the station until ``stop`` (or SIGTERM/SIGINT); returns the exit code."""
    only = only or []
    in_process, separate = plan(cfg, only)
    stop = stop or asyncio.Event()
    stages = {name: asyncio.Event() for name in [*in_process, *separate]}
    staged = [_Staged(svc, stages[svc.name]) for svc in build_services(cfg, in_process)]
    finished = {s.name: s.done for s in staged}
    finished.update({name: asyncio.Event() for name in separate})
    services: list[Service] = list(staged)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    identity = _identity(cfg)
    managed = cfg.broker.manage and not only
    paths = state_paths(cfg, [*in_process, *separate], managed)
    if identity is not None:
        try:
            privileges.give_state(identity, [p for p in paths if p[0] != "broker.directory"])
        except OSError as exc:
            raise LaunchError(f"cannot give the station's state to user {identity.user}: {exc}") from exc
    if identity is not None and managed and cfg.broker.socket is not None:
        _check_socket_dir(cfg.broker.socket.parent, identity)
    broker: PrivateBroker | None = None
    if managed:
        try:
            broker = PrivateBroker(
                cfg.broker.directory,
                port=cfg.broker.port or None,
                # The services connect over a unix socket: its buffers do not autotune like TCP's (to ~1 MB), so
                # a flood from one bus credential queues little ahead of the HAL's replies (docs/security.md).
                unix_socket=cfg.broker.socket or len(str(cfg.broker.directory)) < 80,
                run_as=identity.user if identity is not None else None,  # mosquitto switches user itself
            )
            if identity is not None:  # the credentials the services read, the persistence mosquitto writes
                privileges.give_state(identity, [("broker.directory", broker.directory, True)])
            broker.start()
            if identity is not None:  # mosquitto made its sockets as root: the services must connect
                for sock in (broker.files.socket, broker.files.tools_socket):
                    if sock is not None and sock.exists():
                        os.chown(sock, identity.uid, identity.gid)
        except (BrokerError, OSError) as exc:
            raise LaunchError(f"cannot start the broker: {exc}") from exc
        log.info("broker on 127.0.0.1:%s (%s)", broker.port, broker.directory)
    _schedule(cfg, in_process, separate, broker, identity)
    try:
        _drop(identity, in_process, separate)
    except OSError as exc:
        if broker is not None:
            broker.stop()
        raise LaunchError(f"cannot switch to the service user: {exc}") from exc
    problems = privileges.check_access(paths) + privileges.check_code()
    if problems:
        if broker is not None:
            broker.stop()
        raise LaunchError("; ".join(problems))

    def settings_for(name: str) -> BusSettings:
        if broker is not None:
            extra: dict[str, object] = {"payload_format": cfg.broker.payload_format}
            if broker.files.socket is not None:
                extra["socket"] = str(broker.files.socket)
            return broker.settings(name, **extra)
        return cfg.broker.bus_settings(name)

    children: list[asyncio.Task[None]] = []
    if separate:
        if config_path is None:
            raise LaunchError("separate service processes need the configuration file")
        env = dict(os.environ)
        if broker is not None:
            env["JOSEV_BROKER__PORT"] = str(broker.port)
            if broker.files.socket is not None:
                env["JOSEV_BROKER__SOCKET"] = str(broker.files.socket)
        children = [
            asyncio.create_task(_child(n, config_path, env, stages[n], finished[n])) for n in separate
        ]
    stopper = asyncio.create_task(_stop_in_order(stop, stages, finished))
    runner = ServiceRunner(services, settings_for)
    watch_ready = asyncio.create_task(_signal_ready(runner, ready, [s.name for s in services]))
    watchdog = asyncio.create_task(sdnotify.watchdog_loop())
    all_stopped = asyncio.Event()

    async def until_all_stopped() -> None:
        await stop.wait()
        sdnotify.notify("STOPPING=1")
        await stopper
        all_stopped.set()

    waiter = asyncio.create_task(until_all_stopped())
    try:
        await runner.run(all_stopped)
    finally:
        watch_ready.cancel()
        watchdog.cancel()
        stop.set()
        for s in stages.values():
            s.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(stopper, waiter, return_exceptions=True), STAGE_TIMEOUT_S)
        if children:
            await asyncio.gather(*children, return_exceptions=True)
        if broker is not None:
            broker.stop()
    return 1 if runner.failed else 0


async def _signal_ready(runner: ServiceRunner, ready: asyncio.Event | None, names: list[str]) -> None:
    await runner.ready.wait()
    scheduling.steady()
    sdnotify.notify(
        "READY=1", f"STATUS=serving: {', '.join(names) or 'broker only'}", f"MAINPID={os.getpid()}"
    )
    if ready is not None:
        ready.set()


def _pass_net_raw() -> None:
    privileges.pass_on_to_child(frozenset({CAP_NET_RAW}))


def run_from_cli(config_path: Path, only: list[str]) -> int:
    """Entry of ``josev run``: the configuration is checked first (every section, as ``josev config check``;
    a process started with ``--service`` checks the core sections and its services' own); a bad one is
    refused with one line per error and exit code 2. Unreadable bus credentials are refused the same way."""
    from josev.configcheck import check_file

    try:
        report = check_file(config_path, only or None)  # a service process checks its own sections
        cfg, notes = report.config, ([] if only else report.notes)
    except config_mod.ConfigError as exc:
        print(exc.explain(), file=sys.stderr)
        print("josev run: configuration refused; nothing started", file=sys.stderr)
        return 2
    per_service = {n: c.log_level for n, c in cfg.services.items() if c.log_level}
    logs.setup(
        cfg.logging.level, json_lines=cfg.logging.json_lines, file=cfg.logging.file, per_service=per_service
    )
    for note in notes:
        log.info("note: %s", note)
    if only or not cfg.broker.manage:  # the credentials file must already be there
        from josev.cli.busopts import credentials_problem

        problem = credentials_problem(
            cfg.broker.bus_settings(only[0] if only else "system"),
            only[0] if only else "system",
            "start the station (or `josev broker config`) first, or set [broker] directory.",
        )
        if problem:
            print(f"josev run: {problem}", file=sys.stderr)
            return 2
    try:
        return asyncio.run(run_station(cfg, config_path=config_path, only=only))
    except PrivilegeError as exc:
        lines = config_mod.read(config_path)[1] if config_path.exists() else {}
        key = exc.key or "station.user"
        line = tomllines.line_of(lines, tuple(key.split(".")))
        print(
            config_mod.ConfigError(config_path, [config_mod.Problem(key, str(exc), line)]).explain(),
            file=sys.stderr,
        )
        print("josev run: configuration refused; nothing started", file=sys.stderr)
        return 2
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
