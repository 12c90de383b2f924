"""The OCPP store's fsyncs run off the event loop (issue 13), and nothing reaches the CSMS before it is synced.

The real test runs a station process under an ``LD_PRELOAD`` shim that makes every ``fsync``/``fdatasync`` of
the process sleep ``SLOW_MS`` while a flag file exists (a slow eMMC, deterministic), with a real SQLite file
and a real websocket CSMS: the loop keeps serving a 5 ms timer while the TransactionEvent's commit is synced,
and the CSMS gets the event only after an fsync of the WAL that ended after the input. (Before the fix the
commit's fsync ran on the loop: the timer was late by the whole fsync.) The unit tests check the sync
thread's logic with a delay injected into its fsync.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from josev.ocpp.store import Store
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import (
    Proc,
    _write_cfg,
    assert_once_in_order,
    assert_retransmissions_identical,
    tx_events,
)

ROOT = Path(__file__).resolve().parents[2]
SLOW_MS = 400
LAG_LIMIT_MS = 200.0
"""Far above a loaded machine's timer lag here, far below one slow fsync on the loop."""

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void note(const char *what, int fd) {
    const char *log = getenv("SLOW_FSYNC_LOG");
    if (!log) return;
    char link[64], path[512], line[700];
    struct timespec now;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int len = snprintf(line, sizeof line, "%s %ld.%09ld %s\n", what, (long)now.tv_sec, now.tv_nsec, path);
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (out >= 0) { if (write(out, line, len) < 0) {} close(out); }
}

static void slow(int fd) {
    const char *flag = getenv("SLOW_FSYNC_FLAG");
    if (!flag || access(flag, F_OK) != 0) return;
    long ms = atol(getenv("SLOW_FSYNC_MS") ? getenv("SLOW_FSYNC_MS") : "200");
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    note("begin", fd);
    nanosleep(&d, NULL);
    note("end", fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow(fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow(fd);
    return real(fd);
}
"""


def read_log(log: Path) -> list[tuple[str, float, str]]:
    """The shim's log: (begin|end, CLOCK_MONOTONIC time, file) of every slowed fsync."""
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        what, t, path = line.split(" ", 2)
        out.append((what, float(t), path))
    return out


def build_shim(tmp: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler (cc) is needed: scripts/setup.sh installs gcc"
    src, lib = tmp / "slow_fsync.c", tmp / "slow_fsync.so"
    src.write_text(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(src), "-ldl"], check=True)
    return lib


async def test_slow_fsync_does_not_stall_the_loop_and_sends_only_synced(
    tmp_path: Path, csms: ScriptedCsms
) -> None:
    lib = build_shim(tmp_path)
    received: list[tuple[float, dict[str, Any]]] = []
    answer = csms.responders["TransactionEvent"]

    def on_tx(p: dict[str, Any]) -> Any:
        received.append((time.monotonic(), p))
        return answer(p)

    csms.responders["TransactionEvent"] = on_tx
    db = tmp_path / "slow.sqlite"
    cfg = {
        "identity": "CS-SLOW",
        "csms_url": csms.url,
        "database": str(db),
        "workdir": str(tmp_path / "work"),
        "evses": {"1": 1},
        "variables": {
            "OCPPCommCtrlr/RetryBackOffWaitMinimum": "0",
            "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
            "OCPPCommCtrlr/WebSocketPingInterval": "0",
            "SampledDataCtrlr/TxUpdatedInterval": "0",
            "AlignedDataCtrlr/Interval": "0",
        },
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    flag, log = tmp_path / "slow-disk", tmp_path / "fsyncs.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LD_PRELOAD": str(lib),
        "SLOW_FSYNC_FLAG": str(flag),
        "SLOW_FSYNC_LOG": str(log),
        "SLOW_FSYNC_MS": str(SLOW_MS),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.ocpp.slow_disk_proc",
        str(tmp_path / "cfg.json"),
        str(flag),
        cwd=str(ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    fsyncs = [t for what, t, path in read_log(log) if what == "end" and path == f"{db}-wal"]
    assert fsyncs, "the disk was never slow: the shim did not take (LD_PRELOAD)"

    changed = [(t, p) for t, p in received if p.get("triggerReason") == "ChargingStateChanged"]
    assert len(changed) == 1, [p.get("triggerReason") for _, p in received]
    t_recv, event = changed[0]
    assert event["eventType"] == "Updated"
    assert event["seqNo"] == 1  # after Started's 0
    assert event["transactionInfo"]["chargingState"] == "Charging"
    # the event left only after an fsync of the WAL that ended after the input: it was on disk first
    assert any(result["t_feed"] < t <= t_recv for t in fsyncs), (result["t_feed"], t_recv, fsyncs)
    assert t_recv - result["t_feed"] >= SLOW_MS / 1000
    # ... and meanwhile the loop served its 5 ms timer
    lags = result["lags_ms"]
    assert len(lags) > 100
    assert max(lags) < LAG_LIMIT_MS, sorted(lags)[-5:]


async def test_kill9_while_the_fsync_is_pending_loses_nothing(
    tmp_path: Path, csms: ScriptedCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, events are accepted without waiting for the disk; a kill -9 while their fsync is still pending
    (the disk takes 2 s; the shim's log shows it begun, not ended) loses none of them (the kernel has them): after the restart every TransactionEvent
    reaches the CSMS once, in order, with its own seqNo, none reused."""
    lib = build_shim(tmp_path)
    flag, log = tmp_path / "slow-disk", tmp_path / "fsyncs.log"
    cfg = _write_cfg(tmp_path, csms.url)
    monkeypatch.setenv("LD_PRELOAD", str(lib))
    monkeypatch.setenv("SLOW_FSYNC_FLAG", str(flag))
    monkeypatch.setenv("SLOW_FSYNC_LOG", str(log))
    monkeypatch.setenv("SLOW_FSYNC_MS", "2000")
    proc = Proc(cfg)
    await proc.start()
    monkeypatch.delenv("LD_PRELOAD")
    try:
        await csms.wait_for("StatusNotification", timeout=10)
        await proc.cmd("meter 1 100")
        await proc.cmd("plug 1 1")
        await proc.cmd("token 1 TAG1")
        await csms.wait_for("TransactionEvent")
        await csms.stop()
        await asyncio.sleep(0.1)
        flag.touch()  # the disk turns slow: every fsync takes 2 s from now on
        t0 = time.monotonic()
        await proc.cmd("charge 1 Charging")
        await proc.cmd("meter 1 900")
        await proc.cmd("charge 1 SuspendedEV")
        accepted = time.monotonic() - t0
        await proc.kill9()
        flag.unlink()
        wal = str(tmp_path / "kill.sqlite-wal")
        slowed = [(what, path) for what, _, path in read_log(log)]
        assert ("begin", wal) in slowed and ("end", wal) not in slowed  # killed with the WAL's fsync pending
        assert accepted < 1.5, f"the inputs waited for the disk ({accepted:.2f} s)"
        assert len(tx_events(csms)) == 1
        await csms.start()
        proc2 = Proc(cfg)
        await proc2.start()
        try:
            await csms.wait_for("BootNotification", count=2, timeout=10)
            await proc2.cmd("meter 1 2500")
            await proc2.cmd("token 1 TAG1")  # the same card ends the transaction
            await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=10)
        finally:
            await proc2.close()
    finally:
        await proc.close()
    evs = tx_events(csms)
    assert_retransmissions_identical(csms)
    assert_once_in_order(evs)
    assert [e["triggerReason"] for e in evs[1:3]] == ["ChargingStateChanged", "ChargingStateChanged"]
    assert [e["transactionInfo"]["chargingState"] for e in evs[1:3]] == ["Charging", "SuspendedEV"]
    assert [bool(e.get("offline")) for e in evs[:3]] == [False, True, True]
    assert evs[-1]["meterValue"][0]["sampledValue"][0]["value"] == 2500.0


# -- the sync thread's logic (a delay injected into its fsync) ------------------------------------------------


def _slow_store(path: Path, delay: float, calls: list[float]) -> Store:
    store = Store(path)
    assert store._sync is not None

    def slow_fsync(fd: int) -> None:
        time.sleep(delay)
        os.fsync(fd)
        calls.append(time.monotonic())

    store._sync._fsync = slow_fsync
    return store


async def test_synced_waits_for_the_fsync_while_the_loop_runs(tmp_path: Path) -> None:
    calls: list[float] = []
    store = _slow_store(tmp_path / "s.sqlite", 0.2, calls)
    try:
        lags: list[float] = []
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        async def timer() -> None:
            while not done.is_set():
                due = loop.time() + 0.005
                await asyncio.sleep(0.005)
                lags.append(loop.time() - due)

        ticking = asyncio.create_task(timer())
        t0 = time.monotonic()
        store.enqueue("TransactionEvent", {"seqNo": 7}, 1.0)
        assert time.monotonic() - t0 < 0.1  # the commit itself does not wait for the disk
        await store.synced()
        elapsed = time.monotonic() - t0
        done.set()
        await ticking
        assert len(calls) == 1 and calls[0] - t0 >= 0.2
        assert elapsed >= 0.2
        assert len(lags) >= 20  # the timer ran all along
        assert max(lags) < 0.1
        # nothing written since: synced() returns without yielding to the loop and without a new fsync
        coro = store.synced()
        with pytest.raises(StopIteration):
            coro.send(None)
        assert len(calls) == 1
    finally:
        store.close()


async def test_waiters_released_in_order_and_one_fsync_covers_many(tmp_path: Path) -> None:
    calls: list[float] = []
    store = _slow_store(tmp_path / "s.sqlite", 0.1, calls)
    try:
        order: list[int] = []

        async def send(i: int) -> None:
            store.enqueue("TransactionEvent", {"seqNo": i}, 1.0)
            await store.synced()
            order.append(i)

        await asyncio.gather(*(send(i) for i in range(10)))
        assert order == list(range(10))
        assert len(calls) <= 3  # requests made during an fsync share the next one
        assert [m.payload["seqNo"] for m in store.queued()] == list(range(10))
    finally:
        store.close()


async def test_a_dequeue_alone_holds_nothing_back(tmp_path: Path) -> None:
    """Delivered messages leave the queue without an fsync of their own (at-least-once: after a power cut one
    may be sent again); the next write's sync covers them."""
    calls: list[float] = []
    store = _slow_store(tmp_path / "s.sqlite", 0.0, calls)
    try:
        first = store.enqueue("TransactionEvent", {"seqNo": 0}, 1.0)
        store.enqueue("TransactionEvent", {"seqNo": 1}, 1.0)
        await store.synced()
        assert len(calls) == 1
        store.dequeue(first)
        store.sync_soon()
        coro = store.synced()
        with pytest.raises(StopIteration):  # returns at once: nothing to wait for
            coro.send(None)
        store.put("tx:1", {"seq": 2})
        await store.synced()
        assert len(calls) == 2
        assert [m.payload["seqNo"] for m in store.queued()] == [1]
    finally:
        store.close()


def test_close_syncs_what_is_committed(tmp_path: Path) -> None:
    calls: list[float] = []
    store = _slow_store(tmp_path / "s.sqlite", 0.0, calls)
    store.put("tx:1", {"id": "T1", "seq": 3})
    store.close()
    assert len(calls) == 1
    reopened = Store(tmp_path / "s.sqlite")
    try:
        assert reopened.get("tx:1") == {"id": "T1", "seq": 3}
    finally:
        reopened.close()


async def test_memory_and_non_durable_stores_have_no_sync_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for store in (Store(":memory:"), Store(tmp_path / "n.sqlite", durable=False)):
        assert store._sync is None
        store.put("k", 1)
        await store.synced()
        assert store.wait_synced(0)
        store.close()
    # the scratch store left no file behind (it used to create ":memory:" and ":memory:.key" in the cwd)
    assert sorted(os.listdir(tmp_path)) == ["n.sqlite", "n.sqlite.key"]
