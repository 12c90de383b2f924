"""``[station] scheduling`` (issue 22, charge loop under hostile load): ``josev run`` gives the charging path a
real-time policy, or says clearly why it cannot.

The real ``josev run`` on the sim board (system and coordinator in the main process, the HAL and OCPP each in a
process of their own, the private mosquitto), with ``scheduling = "rr"``: the policy of every process is read back (``os.sched_getscheduler``) while it runs. The
launcher's loop thread and the HAL's process are SCHED_RR at the configured priority (with SCHED_RESET_ON_FORK),
mosquitto too; OCPP's process (not on the charging path) stays normal; the SIGXCPU guard's limit is set. Without
CAP_SYS_NICE (its bounding set trimmed, RLIMIT_RTPRIO 0) the station starts all the same, with a warning naming the
setting, the error and what it needs, and every process normal. Started as root with ``[station] user``, the
launcher and mosquitto stay real-time after the switch, and the HAL's own process gets it through RLIMIT_RTPRIO (or
both processes say why not). The guard itself: a real-time loop that spins is
put back to the normal policy by the kernel's SIGXCPU (a child process, bounded by a timeout).

Before the setting, ``scheduling`` was an unknown key of ``[station]`` (refused) and every process ran normal.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from josev.broker import free_port
from josev.cli.systemd import render_config
from josev.services.privileges import caps_of, proc_status
from josev.services.scheduling import current
from tests.conftest import ROOT
from tests.product.test_privileges import readable_python, service_user, workdir

__all__ = ["service_user", "workdir"]  # fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a real-time policy)")

PRIORITY = 7


def write_config(d: Path) -> Path:
    cfg = d / "station.toml"
    text = render_config("all-in-one").replace(
        "[station]\n", f'[station]\nscheduling = "rr"\nrealtime_priority = {PRIORITY}\n', 1
    )
    assert 'scheduling = "rr"' in text
    cfg.write_text(
        text
        + textwrap.dedent(
            f"""
            [ocpp]
            csms_url = "ws://127.0.0.1:{free_port()}/ocpp"
            database = "{d / "ocpp.sqlite"}"
            workdir = "{d / "ocpp"}"

            [services.hal]
            process = "separate"

            [services.ocpp]
            process = "separate"
            """
        )
    )
    return cfg


@contextlib.contextmanager
def station(
    cfg: Path, d: Path, prefix: list[str], wrap: Callable[[list[str]], list[str]] = lambda c: c
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``josev run`` until its READY=1 (sd_notify); SIGTERM at the end."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(d / "notify.sock"))
    os.chmod(d / "notify.sock", 0o777)  # READY=1 comes after the switch to the service user
    sock.settimeout(0.2)
    env = dict(
        os.environ,
        NOTIFY_SOCKET=str(d / "notify.sock"),
        JOSEV_BROKER__PORT="0",
        JOSEV_BROKER__DIRECTORY=str(d / "broker"),
    )
    log = d / "stderr.txt"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            wrap([*prefix, sys.executable, "-m", "josev", "run", "--config", str(cfg)]),
            cwd=ROOT,
            env=env,
            stderr=err,
            start_new_session=True,
        )
    try:
        got: list[str] = []
        deadline = time.monotonic() + 40
        # josev run's own READY=1 comes with its STATUS= (mosquitto, when built with systemd, sends a bare one)
        while (
            not any(x.startswith("STATUS=serving") for x in got)
            and time.monotonic() < deadline
            and proc.poll() is None
        ):
            with contextlib.suppress(TimeoutError):
                got.extend(sock.recv(4096).decode().split("\n"))
        assert "READY=1" in got and any(x.startswith("STATUS=serving") for x in got), (
            f"josev run not ready ({proc.poll()}):\n{log.read_text()[-3000:]}"
        )
        yield proc, log
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        sock.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def children(pid: int) -> dict[int, str]:
    """Every process below ``pid`` with its command line."""
    parent: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    below, todo = [], [pid]
    while todo:
        top = todo.pop()
        kids = [c for c, pp in parent.items() if pp == top]
        below += kids
        todo += kids
    out = {}
    for c in below:
        with contextlib.suppress(OSError):
            out[c] = Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def find(procs: dict[int, str], needle: str) -> int:
    pids = [p for p, cmd in procs.items() if needle in cmd]
    assert len(pids) == 1, (needle, procs)
    return pids[0]


def until_child(pid: int, needle: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while True:
        procs = children(pid)
        if any(needle in c for c in procs.values()):
            return find(procs, needle)
        assert time.monotonic() < deadline, (needle, procs)
        time.sleep(0.2)


def rttime_limit(pid: int) -> str:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if "realtime timeout" in x)
    return line.split()[3]


def test_josev_run_gives_the_charging_path_its_realtime_policy(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    with station(cfg, tmp_path, []) as (proc, log):
        hal = until_child(proc.pid, "--service hal")
        ocpp = until_child(proc.pid, "--service ocpp")
        mosquitto = until_child(proc.pid, "mosquitto")
        time.sleep(1.0)  # the children are up (READY covers the main process's services only)
        assert current(proc.pid) == ("rr", PRIORITY)
        assert (
            os.sched_getscheduler(proc.pid) & os.SCHED_RESET_ON_FORK
        )  # its threads and children start normal
        assert (
            rttime_limit(proc.pid) == "1000000"
        )  # the SIGXCPU guard: 1 s of real-time CPU without a wait (ready)
        for tid in Path(f"/proc/{proc.pid}/task").iterdir():
            if int(tid.name) != proc.pid:
                assert current(int(tid.name))[0] == "normal", tid  # helper threads
        assert current(mosquitto) == ("rr", PRIORITY)
        assert current(ocpp) == ("normal", 0)
        deadline = time.monotonic() + 20  # the HAL's process sets its own once it has started
        while current(hal) != ("rr", PRIORITY) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert current(hal) == ("rr", PRIORITY)
        err = log.read_text()
    assert (
        f"scheduling: rr priority {PRIORITY} for the event loop of system, coordinator (threads and child"
        " processes start normal; back to normal after 1 s of real-time CPU without a wait, 10 s while starting)"
    ) in err, err
    assert "Traceback" not in err


CAP_SYS_RESOURCE = 24


@pytest.mark.skipif(shutil.which("useradd") is None, reason="needs useradd")
def test_a_root_launcher_that_switches_user_hands_its_service_processes_the_rtprio_limit(
    service_user: pwd.struct_passwd, workdir: Path
) -> None:
    """Started as root with ``[station] user``: the launcher and mosquitto are SCHED_RR, set while root. The HAL's
    own process (the service user, no capability) sets SCHED_RR itself through the RLIMIT_RTPRIO the launcher
    raised while root; where root lacks CAP_SYS_RESOURCE (this development container) the limit cannot be raised,
    and the launcher says so, naming the services, the user and what to do instead."""
    cfg = write_config(workdir)
    text = cfg.read_text().replace("[station]\n", f'[station]\nuser = "{service_user.pw_name}"\n', 1)
    cfg.write_text(text.split("\n[ocpp]")[0] + '\n[services.hal]\nprocess = "separate"\n')
    can_raise = CAP_SYS_RESOURCE in caps_of(proc_status()["CapEff"])
    with station(cfg, workdir, [], lambda c: readable_python(c, workdir)) as (proc, log):
        launcher = proc.pid  # unshare and sh exec into josev run
        hal = until_child(proc.pid, "--service hal")
        mosquitto = until_child(proc.pid, "mosquitto")
        want = ("rr", PRIORITY) if can_raise else ("normal", 0)
        deadline = time.monotonic() + 30  # the HAL's process has applied its setting when it is ready
        while "service hal ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert current(hal) == want, log.read_text()[-3000:]
        for pid in (launcher, hal, mosquitto):
            uids = {int(x) for x in proc_status(pid)["Uid"].split()}
            assert uids == {service_user.pw_uid}, (pid, uids)
        assert current(launcher) == ("rr", PRIORITY)
        assert current(mosquitto) == ("rr", PRIORITY)
        err = log.read_text()
    assert f"running as user {service_user.pw_name}" in err, err[-3000:]
    refused = (
        f"[station] scheduling = 'rr': the processes of hal (user {service_user.pw_name}) cannot set real-time"
        f" scheduling: raising RLIMIT_RTPRIO to {PRIORITY} failed (not allowed to raise maximum limit: needs"
        " CAP_SYS_RESOURCE); run them in the main process or under systemd (LimitRTPRIO=, docs/deployment.md)"
    )
    if can_raise:
        assert refused not in err and "cannot give" not in err, err[-3000:]
    else:
        assert refused in err, err[-3000:]
        # the HAL's own process, trying all the same, says it too (and runs normal)
        assert "cannot give this process real-time scheduling (Operation not permitted)" in err, err[-3000:]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_without_the_privilege_the_station_runs_normal_with_a_clear_warning(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        render_config("all-in-one").replace(
            "[station]\n", f'[station]\nscheduling = "fifo"\nrealtime_priority = {PRIORITY}\n', 1
        )
    )
    no_nice = ["prlimit", "--rtprio=0", "setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"]
    with station(cfg, tmp_path, no_nice) as (proc, log):
        assert current(proc.pid) == ("normal", 0)
        assert current(until_child(proc.pid, "mosquitto")) == ("normal", 0)
        err = log.read_text()
    assert (
        "[station] scheduling = 'fifo': cannot give this process real-time scheduling (Operation not permitted);"
        f" it needs root, CAP_SYS_NICE or RLIMIT_RTPRIO >= {PRIORITY} (systemd: LimitRTPRIO={PRIORITY} and"
        " RestrictRealtime=no, as `josev systemd install --realtime` writes; docs/deployment.md). Running with the"
        " normal policy: the charge loop shares the cores with everything else"
    ) in err, err
    assert "WARNING" in err.split("cannot give this process real-time scheduling")[0].rsplit("\n", 1)[-1]


SPIN = """
import os, sys, time
from josev.services import scheduling
done = scheduling.apply("rr", 1, services=["secc"])
assert not done.warning, done.message
scheduling.guard(0.2)
t0 = time.monotonic()
while os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK != os.SCHED_OTHER and time.monotonic() - t0 < 3:
    pass
print(f"{scheduling.current()[0]} {time.monotonic() - t0:.2f}")
"""


def test_a_spinning_realtime_loop_falls_back_to_normal() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SPIN], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    policy, seconds = out.stdout.split()
    assert policy == "normal", out
    assert 0.15 < float(seconds) < 2.0, out  # after ~0.2 s of spinning (waits for a core count too)
    assert "a real-time thread ran 0.2 s without waiting" in out.stderr, out.stderr
    assert "this process is back to the normal policy until it restarts" in out.stderr, out.stderr
