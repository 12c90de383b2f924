"""SQLite persistence of the OCPP client: device-model values, station state, the outgoing message queue
(transaction messages and security events), the security log, the authorization cache and certificates.

WAL journal; every write is its own committed transaction, so a ``kill -9`` loses nothing that a method
returned from (a commit is in the kernel's page cache when it returns). No write waits for the disk on the
caller's thread (the OCPP client's event loop, shared with the SECC): with ``durable=True`` (default) a thread
of its own (:mod:`josev.ocpp.walsync`) ``fsync``s the commits, and :meth:`Store.synced` (awaited by the
client before any frame leaves for the CSMS) returns once everything committed so far survives a power cut.
Where the file cannot be in WAL mode, or with ``durable=False``, commits are ``synchronous=FULL`` / ``NORMAL``
on the caller's thread as before.

On disk: the database (and SQLite's ``-wal`` / ``-shm`` files, which take its mode) is created 0600 and
tightened to 0600 if found looser. Secret device-model values (:data:`SECRET_VARIABLES`, the BasicAuthPassword
the CSMS sets) are stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with a key kept in a separate 0600
file beside the database (``<database>.key``), and ``secure_delete`` overwrites freed pages, so a copy of the
database alone does not reveal them. Whoever can read both files (root, the service user) can decrypt: the
key file is no hardware key store.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from josev.ocpp.walsync import WalSync

log = logging.getLogger(__name__)

SECRET_VARIABLES = frozenset({"SecurityCtrlr/BasicAuthPassword"})
"""Device-model values stored encrypted."""
_ENC = "enc:v1:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS variables (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS security_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    type TEXT NOT NULL,
    tech_info TEXT
);
CREATE TABLE IF NOT EXISTS auth_cache (
    token TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    stored REAL NOT NULL,
    expires REAL
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT NOT NULL,
    issuer_name_hash TEXT NOT NULL,
    issuer_key_hash TEXT NOT NULL,
    hash_algorithm TEXT NOT NULL,
    type TEXT NOT NULL,
    pem TEXT NOT NULL,
    PRIMARY KEY (serial, issuer_name_hash, issuer_key_hash, hash_algorithm)
);
"""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A persisted outgoing CALL."""

    id: int
    action: str
    payload: dict[str, Any]
    attempts: int


class Store:
    """One SQLite file holding everything the OCPP client must not forget."""

    def __init__(self, path: str | Path, durable: bool = True) -> None:
        self.path = str(path)
        self.durable = durable
        memory = self.path == ":memory:"  # a scratch store (e.g. `josev ocpp` tools): no files at all
        if not memory:
            _private_file(Path(self.path))
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA secure_delete=ON")
        mode = str(self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        self._sync: WalSync | None = None
        self._changes = 0
        """``total_changes`` of the connection at the last sync request."""
        self._only_dequeued = -1
        """``total_changes`` after dequeues that followed the last request (and nothing else)."""
        self._ticket = 0
        """The ticket that covers every write but dequeues."""
        if durable and mode == "wal":
            # commits write the WAL only; the sync thread fsyncs it and checkpoints it (see walsync)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            # after a checkpoint the first commit shrinks the WAL file back: its size tells the sync thread
            # when the next checkpoint is due
            self._db.execute("PRAGMA journal_size_limit=0")
            self._sync = WalSync(self.path)
        else:
            if durable and not memory:
                log.warning("%s: journal mode %s, not WAL: every commit waits for the disk", self.path, mode)
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._fernet = Fernet(Fernet.generate_key() if memory else _secret_key(Path(self.path + ".key")))
        self._encrypt_plain_secrets()

    def _encrypt_plain_secrets(self) -> None:
        """Secrets written in clear by an older version: encrypt them now (freed pages are overwritten)."""
        rows = self._db.execute("SELECT key, value FROM variables").fetchall()
        plain = [(k, v) for k, v in rows if k in SECRET_VARIABLES and not v.startswith(_ENC)]
        for key, value in plain:
            self.set_variable(key, value)
        if plain:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for functional blocks that keep their own tables (e.g. the local list)."""
        return self._db

    def close(self) -> None:
        """Close the database (after syncing what is committed, when durable)."""
        if self._sync is not None:
            self.wait_synced()
            self._sync.close()
            self._sync = None
        self._db.close()

    # -- durability ------------------------------------------------------------------------------------
    def sync_ticket(self) -> int:
        """Ask for every write committed so far to be made power-cut durable (never blocks); returns the
        ticket :meth:`synced` waits for (0: nothing to wait for). Dequeues alone ask for no sync
        (:meth:`dequeue`): the next one covers them."""
        if self._sync is None:
            return 0
        changes = self._db.total_changes
        # something besides dequeues was written since the last request
        if changes not in (self._changes, self._only_dequeued):
            self._changes = changes
            self._ticket = self._sync.request()
        return self._ticket

    def sync_soon(self) -> None:
        """Have every write committed so far made power-cut durable, without waiting for it."""
        self.sync_ticket()

    async def synced(self) -> None:
        """Return once every write committed so far survives a power cut. Returns at once, without yielding
        to the loop, when nothing was written since the last sync."""
        ticket = self.sync_ticket()
        if ticket and self._sync is not None:
            await self._sync.wait(ticket)

    def wait_synced(self, timeout: float | None = None) -> bool:
        """:meth:`synced` for a caller without a loop (blocks); False on timeout."""
        ticket = self.sync_ticket()
        return not ticket or self._sync is None or self._sync.wait_blocking(ticket, timeout)

    # -- key/value state ------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key``."""
        row = self._db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store a JSON value (``None`` deletes)."""
        if value is None:
            self._db.execute("DELETE FROM kv WHERE key=?", (key,))
        else:
            self._db.execute("INSERT OR REPLACE INTO kv VALUES (?,?)", (key, json.dumps(value)))

    def next_counter(self, key: str) -> int:
        """Atomically increment and return an integer counter."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            value = int(self.get(key, 0)) + 1
            self.put(key, value)
        return value

    # -- device model values -------------------------------------------------------------------------
    def variables(self) -> dict[str, str]:
        """All persisted device-model values (secrets decrypted; one that cannot be is left out)."""
        out: dict[str, str] = {}
        for key, value in self._db.execute("SELECT key, value FROM variables").fetchall():
            if value.startswith(_ENC):
                try:
                    value = self._fernet.decrypt(value[len(_ENC) :].encode()).decode()
                except InvalidToken:
                    log.error("%s: stored value cannot be decrypted with %s.key; ignored", key, self.path)
                    continue
            out[key] = value
        return out

    def set_variable(self, key: str, value: str) -> None:
        """Persist one device-model value (secrets encrypted)."""
        if key in SECRET_VARIABLES:
            value = _ENC + self._fernet.encrypt(value.encode()).decode()
        self._db.execute("INSERT OR REPLACE INTO variables VALUES (?,?)", (key, value))

    # -- message queue -------------------------------------------------------------------------------
    def enqueue(self, action: str, payload: dict[str, Any], now: float) -> int:
        """Append a CALL to the persistent queue; returns its id."""
        cur = self._db.execute(
            "INSERT INTO queue (action, payload, created) VALUES (?,?,?)",
            (action, json.dumps(payload, separators=(",", ":")), now),
        )
        return int(cur.lastrowid or 0)

    def enqueue_and_put(self, action: str, payload: dict[str, Any], now: float, key: str, value: Any) -> None:
        """Append a CALL and update a state value in one transaction (e.g. a TransactionEvent and its seqNo)."""
        with self._db:
            self._db.execute("BEGIN")
            self.enqueue(action, payload, now)
            self.put(key, value)

    def enqueue_many(self, items: list[tuple[str, dict[str, Any]]], now: float) -> None:
        """Append several CALLs in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO queue (action, payload, created) VALUES (?,?,?)",
                [(a, json.dumps(p, separators=(",", ":")), now) for a, p in items],
            )

    def head(self) -> QueuedMessage | None:
        """The oldest queued CALL."""
        row = self._db.execute(
            "SELECT id, action, payload, attempts FROM queue ORDER BY id LIMIT 1"
        ).fetchone()
        return None if row is None else QueuedMessage(row[0], row[1], json.loads(row[2]), row[3])

    def queue_length(self) -> int:
        """Number of queued CALLs."""
        return int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def queued(self) -> list[QueuedMessage]:
        """Every queued CALL, oldest first."""
        rows = self._db.execute("SELECT id, action, payload, attempts FROM queue ORDER BY id").fetchall()
        return [QueuedMessage(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def set_attempts(self, msg_id: int, attempts: int) -> None:
        """Record delivery attempts of a queued CALL."""
        self._db.execute("UPDATE queue SET attempts=? WHERE id=?", (attempts, msg_id))

    def dequeue(self, msg_id: int) -> None:
        """Remove a delivered (or abandoned) CALL.

        Asks for no sync of its own (the next one covers it; a dequeue alone does not hold back the next frame
        nor keep the disk busy): after a power cut before then the message may be sent again, which is the
        at-least-once contract anyway (the CSMS deduplicates by seqNo)."""
        if self._sync is not None:
            before = self._db.total_changes
            self._db.execute("DELETE FROM queue WHERE id=?", (msg_id,))
            if before in (self._changes, self._only_dequeued):  # every other write has its ticket already
                self._only_dequeued = self._db.total_changes
            return
        if self.durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("DELETE FROM queue WHERE id=?", (msg_id,))
        if self.durable:
            self._db.execute("PRAGMA synchronous=FULL")

    # -- security log --------------------------------------------------------------------------------
    def log_security(self, timestamp: str, type_: str, tech_info: str | None, keep: int) -> None:
        """Append to the rolling security log, keeping the newest ``keep`` entries."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO security_log (timestamp, type, tech_info) VALUES (?,?,?)",
                (timestamp, type_, tech_info),
            )
            self._db.execute(
                "DELETE FROM security_log WHERE id <= (SELECT MAX(id) FROM security_log) - ?", (keep,)
            )

    def security_log(self) -> list[tuple[str, str, str | None]]:
        """The security log, oldest first."""
        return [
            tuple(r)
            for r in self._db.execute("SELECT timestamp, type, tech_info FROM security_log ORDER BY id")
        ]

    # -- authorization cache -------------------------------------------------------------------------
    def cache_put(
        self, token: str, info: dict[str, Any], now: float, expires: float | None, max_entries: int
    ) -> None:
        """Store an IdTokenInfo; evicts the oldest entries beyond ``max_entries``."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO auth_cache VALUES (?,?,?,?)", (token, json.dumps(info), now, expires)
            )
            self._db.execute(
                "DELETE FROM auth_cache WHERE token NOT IN (SELECT token FROM auth_cache ORDER BY stored DESC LIMIT ?)",
                (max_entries,),
            )

    def cache_get(self, token: str, now: float) -> dict[str, Any] | None:
        """A cached IdTokenInfo, unless expired."""
        row = self._db.execute("SELECT info, expires FROM auth_cache WHERE token=?", (token,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= now:
            self._db.execute("DELETE FROM auth_cache WHERE token=?", (token,))
            return None
        return dict(json.loads(row[0]))

    def cache_clear(self) -> None:
        """Empty the authorization cache."""
        self._db.execute("DELETE FROM auth_cache")

    # -- certificates --------------------------------------------------------------------------------
    def cert_put(self, hash_data: dict[str, str], type_: str, pem: str) -> None:
        """Store an installed certificate."""
        self._db.execute(
            "INSERT OR REPLACE INTO certificates VALUES (?,?,?,?,?,?)",
            (
                hash_data["serialNumber"],
                hash_data["issuerNameHash"],
                hash_data["issuerKeyHash"],
                hash_data["hashAlgorithm"],
                type_,
                pem,
            ),
        )

    def certs(self) -> list[tuple[dict[str, str], str, str]]:
        """Installed certificates as (certificateHashData, type, pem)."""
        out = []
        for serial, inh, ikh, alg, type_, pem in self._db.execute("SELECT * FROM certificates"):
            out.append(
                (
                    {
                        "hashAlgorithm": alg,
                        "issuerNameHash": inh,
                        "issuerKeyHash": ikh,
                        "serialNumber": serial,
                    },
                    type_,
                    pem,
                )
            )
        return out

    def cert_delete(self, hash_data: dict[str, str]) -> bool:
        """Delete a certificate by hash data (serial compared case-insensitively); True if found."""
        cur = self._db.execute(
            "DELETE FROM certificates WHERE lower(serial)=lower(?) AND lower(issuer_name_hash)=lower(?) "
            "AND lower(issuer_key_hash)=lower(?) AND hash_algorithm=?",
            (
                hash_data["serialNumber"],
                hash_data["issuerNameHash"],
                hash_data["issuerKeyHash"],
                hash_data["hashAlgorithm"],
            ),
        )
        return cur.rowcount > 0


def _private_file(path: Path) -> None:
    """Create ``path`` 0600 (owner only) if absent; tighten it to 0600 if group or others may read it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, 0o600)
            log.warning("%s was mode %03o; now 0600", path, mode)
    finally:
        os.close(fd)


def _secret_key(path: Path) -> bytes:
    """The key that encrypts secret values: read from ``path`` (0600), created there on first use."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        _private_file(path)
        key = path.read_bytes().strip()
        Fernet(key)  # ValueError names a damaged key file
        return key
    key = Fernet.generate_key()
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key
