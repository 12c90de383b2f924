"""How a service reaches the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from josev.api.base import TOOLS, VIEWERS

PayloadFormat = Literal["json", "cbor"]

TOOL_USERS = TOOLS | VIEWERS
"""Users of tools (CLI, benchmarks, tests, the read-only live view) that may hold several connections at once. They connect to the
broker's *tools* listener (``port + 1``, ``<socket>-tools``), where the client id is theirs to choose (it must
start with :data:`CLIENT_ID_PREFIX`); every other user is a service and connects to the *services* listener,
where the broker replaces the client id by the user name, so no credential can take over another service's
session."""

CLIENT_ID_PREFIX = "josev-"
"""Every client id must start with this (mosquitto ``clientid_prefixes``); a service name never does (service
names have no ``-``), so a tool's chosen id can never be a service's."""


def tools_socket(socket: Path) -> Path:
    """The tools listener's unix socket next to the services' one (``x.sock`` -> ``x-tools.sock``)."""
    return socket.with_name(f"{socket.stem}-tools{socket.suffix}")


class BusSettings(BaseModel):
    """Connection settings of one bus client (one per service)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Broker host (ignored when ``socket`` is set)."""
    port: int = Field(1883, ge=1, le=65535)
    """Broker TCP port."""
    socket: Path | None = None
    """Unix socket of the broker's services listener; preferred over TCP when set."""
    tools_port: int | None = Field(None, ge=1, le=65535)
    """TCP port of the tools listener (users in :data:`TOOL_USERS`); default ``port + 1``."""
    tools_socket: Path | None = None
    """Unix socket of the tools listener, used when ``socket`` is set; default derived from it
    (:func:`tools_socket`)."""
    username: str | None = None
    """MQTT user name; by default the service name."""
    password: SecretStr | None = None
    """MQTT password of this service."""
    credentials_file: Path | None = None
    """A ``service:password`` file (mode 0600) written by ``josev broker config``; read when no password is set."""
    payload_format: PayloadFormat = "json"
    """Encoding of published payloads; receivers accept both."""
    keepalive_s: int = Field(10, ge=2, le=3600)
    """MQTT keep-alive; the broker publishes the last will after 1.5 x this without traffic."""
    session_expiry_s: int = Field(120, ge=0)
    """How long the broker keeps the session (subscriptions, queued QoS 1 messages) across a disconnect."""
    reconnect_min_s: float = Field(0.1, gt=0)
    """First reconnect delay; doubled up to ``reconnect_max_s``."""
    reconnect_max_s: float = Field(5.0, gt=0)
    """Longest reconnect delay."""
    max_payload: int = Field(256 * 1024, ge=1024)
    """Received payloads larger than this are dropped unread and counted (the broker's own limit,
    ``max_packet_size``, is the same by default)."""
    max_rate: float = Field(2000.0, gt=0)
    """Messages per second accepted from one publishing service (token bucket, burst ``2 x``); the rest are
    dropped and counted, so a flooding credential cannot starve the event loop."""
    receive_buffer: int = Field(64 * 1024, ge=4096)
    """Socket receive buffer (bytes): bounds how much a flood can queue ahead of a legitimate message."""
    max_command_rate: float = Field(1000.0, gt=0)
    """Commands per second accepted from one caller (burst ``2 x``); the rest are dropped unanswered."""

    @model_validator(mode="after")
    def _delays(self) -> BusSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def endpoint(self, user: str) -> tuple[str, int, Path | None]:
        """``(host, port, socket)`` of the listener ``user`` connects to (tools or services)."""
        if user not in TOOL_USERS:
            return self.host, self.port, self.socket
        port = self.tools_port or self.port + 1
        sock = (self.tools_socket or tools_socket(self.socket)) if self.socket else None
        return self.host, port, sock

    def password_for(self, user: str) -> str | None:
        """The password to use for ``user``: explicit, else from the credentials file."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.credentials_file is None:
            return None
        for line in self.credentials_file.read_text().splitlines():
            name, _, secret = line.partition(":")
            if name == user:
                return secret
        raise KeyError(f"no credentials for {user!r} in {self.credentials_file}")
