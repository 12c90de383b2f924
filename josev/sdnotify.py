"""systemd service notifications (sd_notify protocol): READY, STOPPING, STATUS and the watchdog.

A no-op unless systemd set ``NOTIFY_SOCKET``. The watchdog is pinged from the asyncio loop itself, so a
blocked event loop stops the pings and systemd restarts the unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr.startswith("@"):  # abstract namespace
        return "\0" + addr[1:]
    return addr


def notify(*fields: str) -> bool:
    """Send ``KEY=VALUE`` fields to systemd; False when not under systemd (or sending failed)."""
    addr = _address()
    if addr is None:
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto("\n".join(fields).encode(), addr)
        return True
    return False


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd asked for (seconds), or None when there is no watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(int(usec) / 2e6, 0.05)
    except ValueError:
        return None


async def watchdog_loop() -> None:
    """Ping the systemd watchdog until cancelled (returns at once when there is none)."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
