"""Writing the V2G log's pcapng files off the event loop, within a bounded folder.

:class:`PcapngWriter` owns one daemon thread and a bounded queue. :meth:`PcapngWriter.submit` (called on the
event loop when a session ends) only enqueues the session's messages; the thread rebuilds the packets, writes
the file (0600, in a 0700 folder: the logs may hold decrypted TLS traffic) and then deletes the oldest
``v2g-*.pcapng`` files until at most ``max_files`` files and ``max_bytes`` bytes remain. When the queue is
full (a peer opening connections faster than files can be written) the file is dropped and counted instead
of blocking the caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from josev.observability.packets import Endpoint
from josev.observability.pcapng import V2gMessage, v2g_capture, write_file

log = logging.getLogger("josev.observability")

PATTERN = "v2g-*.pcapng"


@dataclass(frozen=True, slots=True)
class _Job:
    path: Path
    messages: list[V2gMessage]
    ev: Endpoint
    secc: Endpoint
    ev_sdp_port: int | None
    interface: str
    close: bool


class PcapngWriter:
    """A writer thread for per-session pcapng files (see the module docstring)."""

    def __init__(
        self, directory: Path, *, max_files: int = 200, max_bytes: int = 64 << 20, queue_size: int = 32
    ):
        self.directory = directory
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.written = 0
        self.dropped = 0
        self.deleted = 0
        self.failed = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(
        self,
        path: Path,
        messages: list[V2gMessage],
        ev: Endpoint,
        secc: Endpoint,
        ev_sdp_port: int | None,
        interface: str,
        *,
        close: bool = True,
    ) -> bool:
        """Queue one file; False (and counted in ``dropped``) when the queue is full. Never blocks."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="v2g-pcapng", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(_Job(path, messages, ev, secc, ev_sdp_port, interface, close))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until the queue is empty and the last file written; False on timeout."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        if self._thread is None:
            return True
        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued and stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._write(job)
            except Exception:  # a bad file must not stop the writer
                self.failed += 1
                log.exception("V2G log: writing %s failed", job.path if job else "?")
            finally:
                self._queue.task_done()

    def _write(self, job: _Job) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        packets = v2g_capture(job.messages, job.ev, job.secc, close=job.close, ev_sdp_port=job.ev_sdp_port)
        if not packets:
            return
        write_file(job.path, packets, interface_name=job.interface)
        self.written += 1
        self.rotate()

    def rotate(self) -> None:
        """Delete the oldest log files beyond ``max_files`` / ``max_bytes``."""
        files: list[tuple[float, int, Path]] = []
        for p in self.directory.glob(PATTERN):
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        files.sort()
        total = sum(f[1] for f in files)
        while files and (len(files) > self.max_files or total > self.max_bytes):
            _, size, p = files.pop(0)
            with contextlib.suppress(OSError):
                os.unlink(p)
                self.deleted += 1
            total -= size
