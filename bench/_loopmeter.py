"""Run a module (``python bench/_loopmeter.py OUT MODULE ARGS...``) measuring its asyncio event loop: for every
loop iteration, how long the callbacks ran (from the end of the selector's wait to the end of the iteration:
the time a ready socket, e.g. a charging car's request, may wait behind other work), and every garbage
collection's pause. At exit (SIGTERM included, through the module's own shutdown) ``OUT`` gets JSON:
``busy`` [[monotonic end, wall ms, CPU ms of the loop's thread], ...] (iterations over 1 ms wall; the
difference is time the process waited for a core), ``gc`` [[monotonic end, generation, ms], ...] and a
full collection timed with and without the objects frozen at start (:func:`gc.freeze`), and the scheduling policy at
exit. Started real-time (``JOSEV_BENCH_PRIORITY=realtime``), the module gets the ``RLIMIT_RTTIME``/SIGXCPU guard of
``josev run`` (:mod:`josev.services.scheduling`; the startup limit, the steady one after :data:`STEADY_AFTER_S`): a
policy still real-time at exit shows the guard never tripped."""

from __future__ import annotations

import asyncio.base_events
import atexit
import gc
import json
import os
import runpy
import selectors
import sys
import time
from typing import Any

STEADY_AFTER_S = 8.0
"""When the station counts as started (``josev run`` tightens the real-time guard at READY)."""


def main() -> None:
    out, module, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    busy: list[tuple[float, float, float]] = []
    pauses: list[tuple[float, int, float]] = []
    selected = [0.0, 0.0]
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if phase == "start":
            gc_start[0] = now
        else:
            pauses.append((now, int(info["generation"]), (now - gc_start[0]) * 1e3))

    gc.callbacks.append(on_gc)
    select = selectors.EpollSelector.select

    def timed_select(self: selectors.EpollSelector, timeout: float | None = None) -> Any:
        ready = select(self, timeout)
        selected[0] = time.monotonic()
        selected[1] = time.thread_time()
        return ready

    run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

    realtime = os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO)
    started = time.monotonic()
    steady = [not realtime]
    if (
        realtime
    ):  # JOSEV_BENCH_PRIORITY=realtime: the SIGXCPU guard josev run sets (josev.services.scheduling)
        from josev.services import scheduling

        scheduling.guard(scheduling.STARTUP_RT_CPU_LIMIT_S)

    def timed_run_once(self: asyncio.base_events.BaseEventLoop) -> None:
        run_once(self)
        now = time.monotonic()
        if not steady[0] and now - started > STEADY_AFTER_S:  # started: the limit josev run has once ready
            steady[0] = True
            scheduling.steady()
        if selected[0] and (now - selected[0]) > 0.001:
            busy.append((now, (now - selected[0]) * 1e3, (time.thread_time() - selected[1]) * 1e3))

    selectors.EpollSelector.select = timed_select  # type: ignore[method-assign,assignment]
    asyncio.base_events.BaseEventLoop._run_once = timed_run_once  # type: ignore[attr-defined]

    def dump() -> None:
        gc.callbacks.remove(on_gc)
        frozen = gc.get_freeze_count()
        t = time.perf_counter()
        gc.collect()
        with_freeze = (time.perf_counter() - t) * 1e3
        gc.unfreeze()
        t = time.perf_counter()
        gc.collect()
        without = (time.perf_counter() - t) * 1e3
        with open(out, "w") as fh:
            policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
            json.dump(
                {
                    "busy": busy,
                    "gc": pauses,
                    "frozen": frozen,
                    "full_ms": [with_freeze, without],
                    # still real-time at the end: the guard never tripped (falling back to normal is for good)
                    "policy": {os.SCHED_RR: "rr", os.SCHED_FIFO: "fifo"}.get(policy, "normal"),
                    "realtime": realtime,
                },
                fh,
            )

    atexit.register(dump)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
