"""Helpers for product tests that run the real ``josev run``: CSMS stand-ins on a background event loop and
a station process whose stderr is collected."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from josev.sim.csms import CsmsSim
from tests.conftest import ROOT


class CsmsThread:
    """``n`` :class:`CsmsSim` on loopback, served by an event loop in a thread."""

    def __init__(self, n: int = 1) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sims = [CsmsSim() for _ in range(n)]
        for sim in self.sims:
            asyncio.run_coroutine_threadsafe(sim.start(), self.loop).result(10)

    def close(self) -> None:
        for sim in self.sims:
            asyncio.run_coroutine_threadsafe(sim.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Station:
    """``josev run --config FILE`` with stderr in a file."""

    def __init__(self, cfg: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("w") as errf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
                cwd=ROOT,
                env=dict(os.environ, **(env or {})),
                stdout=subprocess.DEVNULL,
                stderr=errf,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, cond: Callable[[], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            if self.proc.poll() is not None:
                return cond()
            time.sleep(0.1)
        return False

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()
