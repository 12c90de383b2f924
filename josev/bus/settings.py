"""How a service reaches the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

PayloadFormat = Literal["json", "cbor"]


class BusSettings(BaseModel):
    """Connection settings of one bus client (one per service)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Broker host (ignored when ``socket`` is set)."""
    port: int = Field(1883, ge=1, le=65535)
    """Broker TCP port."""
    socket: Path | None = None
    """Unix socket of the broker; preferred over TCP when set."""
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

    @model_validator(mode="after")
    def _delays(self) -> BusSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

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
