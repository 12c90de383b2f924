"""``josev run``: the production launcher.

The main process starts the managed broker (unless ``[broker] manage = false``), runs every enabled service
whose ``process`` is ``main`` in-process, and starts one child process per service configured
``process = "separate"`` (``josev run --config F --service NAME``), restarting a child that dies. SIGTERM or
SIGINT stops everything cleanly: services get their stop event (EVSEs to the safe state, queues flushed),
children get SIGTERM, then the broker stops.
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
from josev import logs, sdnotify
from josev.broker import BrokerError, PrivateBroker
from josev.bus.service import Service, ServiceRunner
from josev.bus.settings import BusSettings
from josev.config import SERVICE_NAMES, JosevConfig
from josev.reexec import module_command
from josev.services import registry

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
    enabled = [n for n in SERVICE_NAMES if cfg.service(n).enabled]
    return (
        [n for n in enabled if cfg.service(n).process == "main"],
        [n for n in enabled if cfg.service(n).process == "separate"],
    )


def build_services(cfg: JosevConfig, names: list[str]) -> list[Service]:
    """Instantiate the named services (clear error when one is missing)."""
    out = []
    for name in names:
        try:
            out.append(registry.build(name, cfg))
        except registry.UnknownService as exc:
            raise LaunchError(str(exc)) from exc
    return out


async def _child(name: str, config_path: Path, env: dict[str, str], stop: asyncio.Event) -> None:
    """Run ``josev run --service NAME`` and restart it when it dies (back-off up to 10 s)."""
    delay = 0.5
    while not stop.is_set():
        proc = await asyncio.create_subprocess_exec(
            *module_command("josev"), "run", "--config", str(config_path), "--service", name, env=env
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
    services = build_services(cfg, in_process)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    broker: PrivateBroker | None = None
    if cfg.broker.manage and not only:
        try:
            broker = PrivateBroker(
                cfg.broker.directory,
                port=cfg.broker.port or None,
                unix_socket=cfg.broker.socket or False,
            )
            broker.start()
        except (BrokerError, OSError) as exc:
            raise LaunchError(f"cannot start the broker: {exc}") from exc
        log.info("broker on 127.0.0.1:%s (%s)", broker.port, broker.directory)

    def settings_for(name: str) -> BusSettings:
        if broker is not None:
            extra: dict[str, object] = {"payload_format": cfg.broker.payload_format}
            if cfg.broker.socket:
                extra["socket"] = str(cfg.broker.socket)
            return broker.settings(name, **extra)
        return cfg.broker.bus_settings(name)

    children: list[asyncio.Task[None]] = []
    if separate:
        if config_path is None:
            raise LaunchError("separate service processes need the configuration file")
        env = dict(os.environ)
        if broker is not None:
            env["JOSEV_BROKER__PORT"] = str(broker.port)
        children = [asyncio.create_task(_child(n, config_path, env, stop)) for n in separate]
    runner = ServiceRunner(services, settings_for)
    watch_ready = asyncio.create_task(_signal_ready(runner, ready, [s.name for s in services]))
    watchdog = asyncio.create_task(sdnotify.watchdog_loop())
    try:
        await runner.run(stop)
    finally:
        sdnotify.notify("STOPPING=1")
        watch_ready.cancel()
        watchdog.cancel()
        stop.set()
        if children:
            await asyncio.gather(*children, return_exceptions=True)
        if broker is not None:
            broker.stop()
    return 1 if runner.failed else 0


async def _signal_ready(runner: ServiceRunner, ready: asyncio.Event | None, names: list[str]) -> None:
    await runner.ready.wait()
    sdnotify.notify(
        "READY=1", f"STATUS=serving: {', '.join(names) or 'broker only'}", f"MAINPID={os.getpid()}"
    )
    if ready is not None:
        ready.set()


def run_from_cli(config_path: Path, only: list[str]) -> int:
    """Entry of ``josev run``."""
    try:
        cfg = config_mod.load(config_path)
    except config_mod.ConfigError as exc:
        print(exc.explain(), file=sys.stderr)
        return 2
    per_service = {n: c.log_level for n, c in cfg.services.items() if c.log_level}
    logs.setup(
        cfg.logging.level, json_lines=cfg.logging.json_lines, file=cfg.logging.file, per_service=per_service
    )
    try:
        return asyncio.run(run_station(cfg, config_path=config_path, only=only))
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
