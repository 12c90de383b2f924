"""The thread that makes the OCPP store's commits survive a power cut, off the event loop.

The store commits on the loop thread with ``synchronous=NORMAL`` in WAL mode: a commit is a ``write()`` of its
WAL frames into the page cache (microseconds), which a ``kill -9`` of the process does not lose (the kernel
holds the data). What a power cut would still lose is made durable here: the loop asks for a sync
(:meth:`WalSync.request`, a ticket), this thread ``fsync``s the ``-wal`` file (and the directory when the WAL
file is new) and resolves the ticket; the shell awaits it (:meth:`WalSync.wait`) before anything leaves for the
CSMS.
A power cut can thus only lose what nobody outside has seen: the same as a cut a few milliseconds earlier.

Checkpoints (copying the WAL back into the database, two more fsyncs) run here too, on a connection of this
thread, in SQLite's PASSIVE mode (they never block the loop's readers or writer) once the WAL file passes
:data:`CHECKPOINT_BYTES`; the loop's connection has automatic checkpoints off. After a complete checkpoint
this thread also commits the write that starts the WAL over (a one-row table), so the WAL header's fsync that
SQLite does then is not the loop's either (unless the loop commits in those few milliseconds: it then waits
for the lock, or starts the WAL over itself)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

CHECKPOINT_BYTES = 4 * 1024 * 1024
"""WAL file size past which this thread checkpoints (SQLite's default automatic checkpoint: 1000 pages)."""
IDLE_CHECK_S = 5.0
"""How often an idle sync thread looks at the WAL's size."""

_RESTART_TABLE = (
    "CREATE TABLE IF NOT EXISTS walsync_restart (id INTEGER PRIMARY KEY, frames INTEGER NOT NULL)"
)
"""One row, rewritten after each complete checkpoint (see :meth:`WalSync._maybe_checkpoint`)."""


class WalSync:
    """One thread making the commits of one WAL-mode database durable (``fsync`` of ``<path>-wal``)."""

    def __init__(
        self,
        path: str,
        fsync: Callable[[int], None] = os.fsync,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> None:
        self.path = path
        self.wal = path + "-wal"
        self._fsync = fsync
        self._checkpoint_bytes = checkpoint_bytes
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0
        self._closing = False
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._wal_id: tuple[int, int] | None = None
        self._ckpt: sqlite3.Connection | None = None
        self.errors = 0
        """Failed syncs (logged; the waiters are released all the same)."""
        self._thread: threading.Thread | None = None
        """Started by the first request (a store only read never starts one)."""

    # -- the loop's side -------------------------------------------------------------------------------
    def request(self) -> int:
        """Ask for everything committed so far to be synced; returns the ticket to wait for. Never blocks."""
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self.path}: the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ocpp-store-sync", daemon=True)
                self._thread.start()
            self._requested += 1
            self._cond.notify()
            return self._requested

    def done(self, ticket: int) -> bool:
        """True once ``ticket``'s sync has completed."""
        with self._cond:
            return self._done >= ticket

    async def wait(self, ticket: int) -> None:
        """Return once ``ticket``'s sync has completed (at once, without yielding, when it already has)."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._done >= ticket:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((ticket, loop, fut))
        await fut

    def wait_blocking(self, ticket: int, timeout: float | None = None) -> bool:
        """Block the calling thread until ``ticket``'s sync has completed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= ticket, timeout)

    def close(self) -> None:
        """Stop the thread once the syncs requested so far are done (blocks for them)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    # -- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    asked = self._cond.wait_for(
                        lambda: self._requested > self._done or self._closing, IDLE_CHECK_S
                    )
                    if asked and self._requested == self._done:
                        return  # closing, nothing left
                    target = self._requested
                if not asked:  # nothing asked for a while: a WAL grown meanwhile is checkpointed all the same
                    self._maybe_checkpoint()
                    continue
                try:
                    self._sync()
                except OSError as exc:
                    self.errors += 1
                    log.error(
                        "OCPP store %s: fsync failed (%s): a power cut may lose recent writes", self.wal, exc
                    )
                self._release(target)
                self._maybe_checkpoint()
        finally:
            if self._ckpt is not None:
                self._ckpt.close()

    def _sync(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: every commit is in the (synced) database file already
        try:
            info = os.fstat(fd)
            self._fsync(fd)
        finally:
            os.close(fd)
        ident = (info.st_dev, info.st_ino)
        if ident != self._wal_id:  # a new WAL file: its directory entry must survive too
            dfd = os.open(os.path.dirname(os.path.abspath(self.wal)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._wal_id = ident

    def _release(self, target: int) -> None:
        with self._cond:
            self._done = target
            ready = [w for w in self._waiters if w[0] <= target]
            self._waiters = [w for w in self._waiters if w[0] > target]
            self._cond.notify_all()
        for _, loop, fut in ready:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, fut)

    def _maybe_checkpoint(self) -> None:
        try:
            if os.path.getsize(self.wal) < self._checkpoint_bytes:
                return
            db = self._ckpt
            if db is None:
                db = self._ckpt = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA synchronous=NORMAL")  # its one write: the WAL header sync only
                db.execute("PRAGMA journal_size_limit=0")
                db.execute(_RESTART_TABLE)
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            log.debug("OCPP store checkpoint: %d of %d frames (busy %d)", copied, frames, busy)
            if not busy and frames and copied == frames:
                # all copied back: the next commit starts the WAL over, which syncs the new WAL header (SQLite
                # needs that order). Commit here, so that sync is this thread's, not the loop's
                db.execute("INSERT OR REPLACE INTO walsync_restart VALUES (1, ?)", (frames,))
        except (OSError, sqlite3.Error) as exc:
            log.warning("OCPP store %s: checkpoint failed: %s", self.path, exc)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
