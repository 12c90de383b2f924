"""Configuration of the OCPP client (the ``[ocpp]`` table of the station configuration)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OcppConfig(BaseModel):
    """Settings the OCPP client needs before the device model exists."""

    model_config = ConfigDict(extra="forbid")

    identity: str = Field(min_length=1, max_length=48)
    """Charging-station identity, appended to the CSMS URL (``<csms_url>/<identity>``)."""
    csms_url: str
    """CSMS endpoint without the identity: ``ws://`` (profile 1) or ``wss://`` (profiles 2 and 3)."""
    security_profile: Literal[1, 2, 3] = 1
    """Initial security profile of the first network profile (slot 1)."""
    basic_auth_password: str | None = None
    """Initial BasicAuthPassword (16-40 characters, used verbatim; see docs/ocpp.md on 40-hex keys)."""
    password_encoding: Literal["text", "hex"] = "text"
    """``hex``: a 40-hex-digit password is sent as the 20 raw bytes it encodes (legacy OCPP 1.6 CSMS)."""
    csms_root_certificates: list[Path] = Field(default_factory=list)
    """PEM files trusted as CSMS roots in addition to the installed CSMSRootCertificate ones."""
    database: Path = Path("/var/lib/josev/ocpp.sqlite")
    """SQLite file: device model, queue, security log, certificates."""
    workdir: Path = Path("/var/lib/josev/ocpp")
    """Directory for firmware downloads."""
    key_dir: Path | None = None
    """Folder (mode 0700) of the station's own keys (0600) and certificates: the ChargingStationCertificate
    of security profile 3 and the SECC's V2G certificate. Default: ``<workdir>/keys``."""
    diagnostics_log: Path | None = None
    """File uploaded by GetLog DiagnosticsLog."""
    evses: dict[int, int] = Field(default_factory=lambda: {1: 1})
    """EVSE id -> number of connectors."""
    model: str = "josev"
    vendor: str = "josev"
    serial_number: str | None = None
    firmware_version: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    """Initial device-model values by key, e.g. ``"OCPPCommCtrlr/HeartbeatInterval" = "60"``."""
    firmware_install_command: list[str] | None = None
    reboot_command: list[str] | None = None
    """Run after an accepted station Reset or a firmware activation, once every queued message is persisted, e.g.
    ``["systemctl", "restart", "josev.target"]`` or ``["systemctl", "reboot"]``; the reason (``RemoteReset``,
    ``FirmwareUpdate`` ...) is in ``JOSEV_REBOOT_REASON``. Without it, or when it fails, the OCPP client
    restarts in-process from its persistent state."""
    """Command run with the verified firmware path appended; exit 0 = Installed, 100 = InstallRebooting."""
    durable: bool = True
    """Survive power loss: the store's thread fsyncs every commit and nothing is sent to the CSMS before
    (:mod:`josev.ocpp.walsync`); else commits survive process kills only."""

    @model_validator(mode="after")
    def _check_password(self) -> OcppConfig:
        if self.password_encoding == "hex" and self.basic_auth_password is not None:
            try:
                bytes.fromhex(self.basic_auth_password)
            except ValueError:
                raise ValueError("password_encoding = 'hex' needs an even number of hex digits") from None
        return self
