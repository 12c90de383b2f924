"""Real-time scheduling of the charging path (``[station] scheduling``, issue 22).

On a board the charge loop must answer within the ISO 15118 timeouts whatever else the board does (a log upload,
a hostile peer's connections being torn down). ``Nice=-10`` puts the charging path ahead of the rest but still
shares the cores fairly; ``scheduling = "rr"`` (or ``"fifo"``) gives the event loop of each process that runs a
charging service (:data:`CHARGING_SERVICES`) and the managed broker (every SECC <-> coordinator <-> HAL message
passes it) a real-time policy at ``realtime_priority``: the kernel runs them before any normal process.

What keeps a real-time Python loop from starving the board:

* ``SCHED_RESET_ON_FORK``: only the event loop thread that set it is real-time. Threads (pcapng and report
  writers, ``asyncio.to_thread``) and child processes (an OCPP process, an upload helper) start at the normal
  policy; a charging service's own process sets its policy itself (:func:`apply` in that process).
* ``RLIMIT_RTTIME`` (:data:`RT_CPU_LIMIT_S`; :data:`STARTUP_RT_CPU_LIMIT_S` until the services are ready): when
  a real-time thread has run that long without once waiting (a loop that spins), the kernel sends SIGXCPU; the handler (:func:`_on_sigxcpu`) puts the whole process back
  to the normal policy and logs an error. The station keeps running, only without the real-time priority.
* the kernel's own real-time throttling (``/proc/sys/kernel/sched_rt_runtime_us``, 95 % by default) leaves
  normal processes some time on every core even then.

Setting a real-time policy needs root, CAP_SYS_NICE or ``RLIMIT_RTPRIO`` (systemd's ``LimitRTPRIO=``) at
least the priority; :func:`apply` falls back to the normal policy with a warning saying so. When ``josev run``
is started as root it raises ``RLIMIT_RTPRIO`` to the priority before switching to the service user, so its
charging-service child processes (``process = "separate"``) can set theirs after the switch (root without
CAP_SYS_RESOURCE cannot: the launcher warns).
"""

from __future__ import annotations

import logging
import os
import resource
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

Policy = Literal["normal", "rr", "fifo"]
POLICIES: dict[Policy, int] = {"normal": os.SCHED_OTHER, "rr": os.SCHED_RR, "fifo": os.SCHED_FIFO}
NAMES = {v: k for k, v in POLICIES.items()}
CHARGING_SERVICES = frozenset({"hal", "coordinator", "slac", "secc"})
"""Services on the charging path: a process running any of them gets the configured policy."""
DEFAULT_PRIORITY = 10
"""Default ``realtime_priority``: below the kernel's threaded interrupt handlers (``SCHED_FIFO`` 50), so a network
card's interrupt thread still preempts the station, and above every normal process."""
RT_CPU_LIMIT_S = 1.0
"""``RLIMIT_RTTIME`` soft limit: CPU seconds a real-time thread may run without once blocking before the process
falls back to the normal policy. The station's loop waits on epoll between bursts of work that take milliseconds
(docs/performance.md); a second without waiting is a loop that spins."""
STARTUP_RT_CPU_LIMIT_S = 10.0
"""The same while the services start (TLS contexts, the codec, lazy imports: bursts of a few hundred ms on a
2-core x86, ten times that on the i.MX6ULL); :func:`steady` tightens it to :data:`RT_CPU_LIMIT_S` once they
are ready."""

log = logging.getLogger("josev.scheduling")
_limit = [RT_CPU_LIMIT_S]
"""The limit :func:`guard` set (for the log line)."""


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did."""

    policy: Policy
    """The policy this process runs with now."""
    priority: int
    message: str
    """One line for the log (empty: nothing to say)."""
    warning: bool = False
    """The configured policy could not be applied (the message says why)."""


def current(pid: int = 0) -> tuple[Policy | str, int]:
    """(policy name, real-time priority) of a process or thread (0: the calling thread)."""
    pol = os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK
    return NAMES.get(pol, str(pol)), os.sched_getparam(pid).sched_priority


def threads(pid: int | str = "self") -> list[int]:
    """Thread ids of a process."""
    try:
        return sorted(int(t.name) for t in Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []


def wants_realtime(services: Iterable[str]) -> bool:
    """Whether a process running ``services`` is on the charging path."""
    return bool(CHARGING_SERVICES & set(services))


def _limit_hint(priority: int) -> str:
    return (
        f"needs root, CAP_SYS_NICE or RLIMIT_RTPRIO >= {priority} (systemd: LimitRTPRIO={priority} and"
        " RestrictRealtime=no, as `josev systemd install --realtime` writes; docs/deployment.md)"
    )


def apply(policy: Policy, priority: int, *, services: Iterable[str]) -> Applied:
    """Give this process's calling thread ``policy`` at ``priority`` when it runs a charging service (else: the normal policy, also dropping one inherited), with ``SCHED_RESET_ON_FORK`` and the
    ``RLIMIT_RTTIME`` guard. Never raises for a missing privilege: the result says so (``warning``)."""
    services = list(services)
    if policy == "normal" or not wants_realtime(services):
        pol, _ = current()
        if pol in ("rr", "fifo"):
            demote()
            return Applied(
                "normal", 0, f"scheduling: normal (dropped an inherited {pol}; not on the charging path)"
            )
        return Applied("normal", 0, "")  # nothing to say
    try:
        os.sched_setscheduler(0, POLICIES[policy] | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError as exc:
        return Applied(
            "normal",
            0,
            f"[station] scheduling = {policy!r}: cannot give this process real-time scheduling"
            f" ({exc.strerror or exc}); it {_limit_hint(priority)}. Running with the normal policy: the charge"
            " loop shares the cores with everything else",
            warning=True,
        )
    guard(STARTUP_RT_CPU_LIMIT_S)
    return Applied(
        policy,
        priority,
        f"scheduling: {policy} priority {priority} for the event loop of {', '.join(services)}"
        f" (threads and child processes start normal; back to normal after {RT_CPU_LIMIT_S:.0f} s of real-time"
        f" CPU without a wait, {STARTUP_RT_CPU_LIMIT_S:.0f} s while starting)",
    )


def apply_to(pid: int, policy: Policy, priority: int) -> str | None:
    """Give every thread of another process (the managed broker) ``policy``; None when done, else why not."""
    if policy == "normal":
        return None
    for tid in threads(pid):
        try:  # mosquitto does not fork: no SCHED_RESET_ON_FORK needed; no RLIMIT_RTTIME (started before it)
            os.sched_setscheduler(tid, POLICIES[policy], os.sched_param(priority))
        except ProcessLookupError:
            continue
        except OSError as exc:
            return f"cannot give process {pid} real-time scheduling ({exc.strerror or exc}); it {_limit_hint(priority)}"
    return None


def allow(priority: int) -> None:
    """Raise ``RLIMIT_RTPRIO`` to ``priority`` (while root, before switching user): the station's processes may then
    set a real-time policy up to it after the switch, as systemd's ``LimitRTPRIO=`` allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    if soft == resource.RLIM_INFINITY or soft >= priority:
        return
    if hard != resource.RLIM_INFINITY and hard < priority:
        hard = priority
    resource.setrlimit(resource.RLIMIT_RTPRIO, (priority, hard))


def guard(limit_s: float = RT_CPU_LIMIT_S) -> None:
    """Install the SIGXCPU handler, then set the ``RLIMIT_RTTIME`` soft limit (kept under the hard limit)."""
    _limit[0] = limit_s
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    _, hard = resource.getrlimit(resource.RLIMIT_RTTIME)
    soft = int(limit_s * 1e6)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_RTTIME, (soft, hard))


def steady() -> None:
    """The services are ready: a real-time thread now falls back after :data:`RT_CPU_LIMIT_S` (no-op when this
    process is not real-time)."""
    if current()[0] in ("rr", "fifo"):
        guard(RT_CPU_LIMIT_S)


def demote() -> None:
    """Every thread of this process back to the normal policy (an unprivileged process may always do this)."""
    for tid in threads():
        try:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            continue


def _on_sigxcpu(signum: int, frame: FrameType | None) -> None:
    demote()
    log.error(
        "scheduling: a real-time thread ran %.1f s without waiting (a loop that spins?); this process is back to"
        " the normal policy until it restarts",
        _limit[0],
    )
