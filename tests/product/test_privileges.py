"""Issue 22, "on disk and privileges": a station started as root outside systemd runs as the configured user.

``josev run`` as root inside a station network namespace (sim HAL, coordinator, SECC and system in the main
process; SLAC and OCPP each in a process of their own; the private mosquitto), ``[station] user`` = a user
this test creates. Every process of the station is read from ``/proc/<pid>/status``: Uid/Gid are the user's,
no capability is left except CAP_NET_RAW (bit 13) in SLAC's process, mosquitto runs as the user. State that
existed root-owned before (the PKI, an OCPP database file 0600) was handed over; what is written after the
switch (pcapng, SQLite, broker persistence) belongs to the user. Then a car charges: SLAC matches through the
PLC modem emulator (SLAC's socket works after the switch) and an ISO 15118-2 session finishes.

Before the fix every one of these processes ran as root with every capability (and ``[station] user`` was an
unknown key). The failure case: a user that does not exist is refused with the key, the line and nothing started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev import netlab, pki
from josev.api.base import ServiceStatus
from josev.api.hal import SimCarControl
from josev.api.slac import SlacState
from josev.bus import Bus
from josev.bus.settings import BusSettings
from josev.reexec import module_command
from josev.services.privileges import CAP_NET_RAW, caps_of, proc_status
from josev.v2g.codec import exi_available
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None, reason="needs root and useradd"),
]

SERVICES = ("system", "hal", "coordinator", "slac", "secc", "ocpp")


@pytest.fixture
def service_user() -> Iterator[pwd.struct_passwd]:
    name = f"jvt{os.getpid() % 100000}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the service user can reach (pytest's tmp_path sits under a root-only 0700 folder)."""
    d = Path(tempfile.mkdtemp(prefix="josev-priv-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def write_config(d: Path, user: str, iface: str = "plc1") -> Path:
    cfg = d / "station.toml"
    cfg.write_text(
        f"""
[station]
id = "CS-PRIV"
user = "{user}"

[[evse]]
id = 1
kind = "ac"
plc_interface = "{iface}"

[broker]
directory = "{d / "broker"}"
port = 0

[hal]
board = "sim"

[coordinator]
free_charging = true
slac_init_timeout_s = 20

[slac.timings]
TT_EVSE_SLAC_init = 20.0

[secc]
tls = "both"
pki_dir = "{d / "pki"}"
v2g_log_dir = "{d / "v2g"}"

[ocpp]
csms_url = "ws://127.0.0.1:9/ocpp"
database = "{d / "ocpp" / "ocpp.sqlite"}"
workdir = "{d / "ocpp"}"

[services.slac]
process = "separate"

[services.ocpp]
process = "separate"
"""
    )
    return cfg


def readable_python(cmd: list[str], scratch: Path) -> list[str]:
    """``cmd`` in a mount namespace of its own where the service user can reach this interpreter: a Python
    under a 0700 folder (here: pyenv in /root) is bind-mounted into a 0755 tmpfs laid over that folder."""
    base = Path(sys.base_prefix).resolve()
    closed = next(
        (p for p in reversed(base.parents) if p != Path("/") and not p.stat().st_mode & 0o001), None
    )
    if closed is None:
        return cmd
    inner = base.relative_to(closed).parts[0]
    keep = scratch / "python-mount"
    keep.mkdir()
    script = (
        f"mount --bind {closed / inner} {keep} && mount -t tmpfs -o mode=0755 tmpfs {closed}"
        f' && mkdir {closed / inner} && mount --bind {keep} {closed / inner} && exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def identity_of(pid: int) -> dict[str, Any]:
    st = proc_status(pid)
    return {
        "uid": {int(x) for x in st["Uid"].split()},
        "gid": {int(x) for x in st["Gid"].split()},
        "eff": caps_of(st["CapEff"]),
        "prm": caps_of(st["CapPrm"]),
        "amb": caps_of(st.get("CapAmb", "0")),
    }


async def connect(d: Path, deadline: float, log: Path) -> Bus:
    while True:
        try:  # until the broker listens and the credentials are readable
            bus = Bus(
                "cli",
                BusSettings(
                    socket=d / "broker" / "mosquitto.sock", credentials_file=d / "broker" / "credentials"
                ),
            )
            await bus.connect(timeout=1)
            return bus
        except (ConnectionError, OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"the station's broker did not come up: {tail(log)}"
        await asyncio.sleep(0.2)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def until(cond: Any, what: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {tail(log)}"
        await asyncio.sleep(0.1)


@pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built")
async def test_root_station_runs_as_the_configured_user(
    service_user: pwd.struct_passwd, workdir: Path
) -> None:
    from josev.demo import _emulator

    uid, gid = service_user.pw_uid, service_user.pw_gid
    pki.create(workdir / "pki", ("iso2",))  # root-owned from before, keys 0600
    (workdir / "ocpp").mkdir()
    (workdir / "v2g").mkdir(mode=0o700)  # root's, from before
    db = workdir / "ocpp" / "ocpp.sqlite"
    db.touch(mode=0o600)  # an empty SQLite database, root's
    cfg = write_config(workdir, service_user.pw_name)
    log = workdir / "station.log"
    with netlab.lab(f"jp{os.getpid() % 10000}") as lab:
        st, plc, ev = lab.netns("st"), lab.netns("plc"), lab.netns("ev")
        lab.veth(st, "plc1", plc, "s1")
        lab.veth(plc, "e1", ev, "eth0")
        emu = _emulator(plc, 1)
        with log.open("wb") as err:
            proc = subprocess.Popen(
                readable_python(
                    st.exec_args([*module_command("josev"), "run", "--config", str(cfg)]), workdir
                ),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        bus: Bus | None = None
        try:
            bus = await connect(workdir, time.monotonic() + 30, log)
            status: dict[str, ServiceStatus] = {}
            slac: list[SlacState] = []

            def on_status(topic: str, obj: Any, msg: Any) -> None:
                if obj:
                    status[topic.split("/")[2]] = ServiceStatus.model_validate(obj)

            bus.subscribe_raw("josev/v1/+/status", on_status)
            bus.subscribe(SlacState, lambda m, e: slac.append(m))
            await until(
                lambda: all(s in status and status[s].state == "ready" for s in SERVICES if s != "ocpp"),
                "every service ready",
                30,
                log,
            )
            await until(lambda: "ocpp" in status, "the OCPP process", 20, log)

            procs = {p: cmdline(p) for p in descendants(proc.pid)}
            seen = {"launcher": identity_of(proc.pid)}
            for p, cmd in procs.items():
                if "mosquitto" in cmd:
                    seen["mosquitto"] = identity_of(p)
                elif "--service slac" in cmd:
                    seen["slac"] = identity_of(p)
                elif "--service ocpp" in cmd:
                    seen["ocpp"] = identity_of(p)
            assert set(seen) == {"launcher", "mosquitto", "slac", "ocpp"}, procs
            for name, who in seen.items():
                assert who["uid"] == {uid} and who["gid"] == {gid}, (name, who)
            assert seen["slac"]["eff"] == {CAP_NET_RAW} == seen["slac"]["prm"], seen["slac"]
            for name in ("launcher", "mosquitto", "ocpp"):
                assert seen[name]["eff"] == frozenset(), (name, seen[name])
            # the launcher may hand CAP_NET_RAW to a restarted SLAC process, nothing else
            assert seen["launcher"]["prm"] <= {CAP_NET_RAW} and not seen["ocpp"]["prm"], seen
            assert not seen["mosquitto"]["prm"], seen["mosquitto"]

            # a car charges: SLAC matches through the emulator, an ISO 15118-2 session finishes
            await bus.request(SimCarControl(action="plug", auto_ready=True, hlc_current_a=16.0), 1)
            car_cmd = [
                *module_command("josev"), "ev", "--iface", "eth0", "--protocol", "iso2-ac", "--slac", "on",
                "--json", "--loops", "3", "--loop-interval", "0.1", "--pki", str(workdir / "pki"),
                "--station-tls", "both",
            ]  # fmt: skip
            car = await asyncio.create_subprocess_exec(
                *ev.exec_args(car_cmd),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, errout = await asyncio.wait_for(car.communicate(), 90)
            lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
            assert car.returncode == 0 and lines, (out, errout.decode()[-2000:], log.read_text()[-3000:])
            result = json.loads(lines[-1])["results"][-1]
            assert result["outcome"] == "finished", result
            assert any(s.status == "matched" for s in slac), [s.status for s in slac]
            await bus.request(SimCarControl(action="unplug"), 1)
            await asyncio.sleep(1.0)  # the pcapng of the session is written when it ends
            # the same processes, still the user (nothing was restarted as root)
            assert identity_of(proc.pid)["uid"] == {uid}
        finally:
            if bus is not None:
                await bus.close(publish_status=False)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    rc = proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    rc = proc.wait()
            else:
                rc = proc.returncode
            emu.kill()
            emu.wait()
    text = log.read_text()
    assert rc == 0, text[-3000:]
    assert f"running as user {service_user.pw_name}" in text, text[-3000:]

    def owner(p: Path) -> int:
        return p.stat().st_uid

    assert owner(db) == uid  # root's file from before, handed over at start
    assert db.stat().st_size > 0  # and written by OCPP after the switch
    keys = [p for p in (workdir / "pki").rglob("*") if p.is_file()]
    assert keys and all(owner(p) == uid for p in keys)
    pcaps = list((workdir / "v2g").glob("*.pcapng"))
    assert pcaps and all(owner(p) == uid and p.stat().st_mode & 0o077 == 0 for p in pcaps), pcaps
    assert owner(workdir / "broker" / "credentials") == uid
    assert all(owner(p) == uid for p in (workdir / "broker" / "data").iterdir())


def test_an_unknown_user_is_refused(workdir: Path) -> None:
    (workdir / "pki").mkdir()
    (workdir / "v2g").mkdir()
    cfg = write_config(workdir, "no-such-josev-user")
    out = subprocess.run(
        [*module_command("josev"), "run", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert (
        f"{cfg}:4: station.user: no user 'no-such-josev-user' on this system: create it"
        " (useradd --system --no-create-home no-such-josev-user)" in out.stderr
    ), out.stderr
    assert "nothing started" in out.stderr
    assert not (workdir / "broker").exists()  # no broker was started, nothing written
