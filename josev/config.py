"""The station configuration: one TOML file, validated by pydantic-settings, with environment overrides.

Environment variables override the file: ``JOSEV_<SECTION>__<FIELD>`` (e.g. ``JOSEV_BROKER__PORT=1884``,
``JOSEV_LOGGING__LEVEL=debug``). ``josev config check FILE`` explains every error with its location.
Service-specific sections (``[hal]``, ``[slac]``, ``[secc]``, ``[ocpp]``, ...) are validated by the service that
owns them; here they are kept as tables.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from josev import tomllines
from josev.bus.settings import BusSettings

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
ProcessMode = Literal["main", "separate"]

SERVICE_NAMES = ("system", "hal", "coordinator", "slac", "secc", "ocpp")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationConfig(_Strict):
    """Identity of the charging station."""

    id: str = Field("josev-station", min_length=1, max_length=48, pattern=r"^[A-Za-z0-9*\-_=:+|@.]+$")
    """Station identity: also the OCPP identity, so restricted to the characters OCPP allows."""
    vendor: str = Field("josev", max_length=50)
    """Vendor name (OCPP BootNotification)."""
    model: str = Field("josev-sim", max_length=20)
    """Model name (OCPP BootNotification)."""
    serial_number: str | None = Field(None, max_length=25)
    """Serial number, if any."""
    max_current_a: float = Field(32.0, gt=0, le=1000)
    """Station-wide current limit per phase shared by all EVSEs (load balancing)."""
    user: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$")
    """User the services and the broker run as when ``josev run`` is started as root (outside systemd): it
    must exist. Unset: ``josev`` when that user exists, else everything stays root (with a warning);
    ``"root"``: stay root on purpose. Only SLAC's process keeps a capability (CAP_NET_RAW); see
    docs/security.md."""
    group: str | None = Field(None, min_length=1, max_length=32)
    """Primary group of the services (default: the user's own); supplementary groups come from /etc/group
    (e.g. ``dialout`` for serial meters, ``gpio`` for the board's lines)."""
    scheduling: Literal["normal", "rr", "fifo"] = "normal"
    """Scheduling policy of the charging path: the event loop of every ``josev run`` process that runs the HAL,
    the coordinator, SLAC or the SECC, and the managed broker. ``"rr"`` (recommended) or ``"fifo"``: real-time
    (SCHED_RR/SCHED_FIFO at ``realtime_priority``), ahead of every normal process of the board; needs root,
    CAP_SYS_NICE or ``LimitRTPRIO=`` (else a warning and the normal policy). See docs/deployment.md and
    :mod:`josev.services.scheduling`."""
    realtime_priority: int = Field(10, ge=1, le=49)
    """Real-time priority with ``scheduling = "rr"``/``"fifo"``: 1..49, below the kernel's interrupt threads (50)."""


class ConnectorConfig(_Strict):
    """One connector of an EVSE."""

    id: int = Field(1, ge=1)
    """Connector id, starting at 1 within its EVSE."""
    type: Literal["cType2", "sType2", "cCCS2", "cCCS1", "cType1", "cChaoJi", "Other"] = "cType2"
    """Connector type in OCPP 2.0.1 terms."""
    max_current_a: float = Field(32.0, gt=0, le=1000)
    """Rating of the connector."""


class EvseConfig(_Strict):
    """One EVSE (charging point) of the station."""

    id: int = Field(ge=1)
    """EVSE id, starting at 1."""
    kind: Literal["ac", "dc"] = "ac"
    """AC or DC charging."""
    phases: Literal[1, 3] = 3
    """Number of AC phases (AC only)."""
    max_current_a: float = Field(32.0, gt=0, le=1000)
    """Rating of the EVSE."""
    max_voltage_v: float = Field(400.0, gt=0, le=1500)
    """Maximum voltage (DC: of the power supply; AC: nominal phase-to-phase)."""
    max_power_w: float = Field(22000.0, gt=0)
    """Maximum power."""
    plc_interface: str | None = None
    """Network interface of the PLC modem (SLAC, SDP, V2GTP); None for basic (PWM-only) charging."""
    hlc: bool = True
    """Offer ISO 15118 / DIN high-level communication (5 % duty cycle)."""
    fallback_to_basic: bool = True
    """Fall back to basic PWM charging when high-level communication fails."""
    board_channel: int | None = Field(None, ge=0)
    """Which channel of the board's I/O this EVSE uses (0-based); default: the EVSE's position (id - 1)."""
    connectors: list[ConnectorConfig] = Field(default_factory=lambda: [ConnectorConfig()])
    """Connectors of this EVSE."""

    @field_validator("connectors")
    @classmethod
    def _unique_connectors(cls, v: list[ConnectorConfig]) -> list[ConnectorConfig]:
        ids = [c.id for c in v]
        if not v:
            raise ValueError("an EVSE needs at least one connector")
        if len(set(ids)) != len(ids):
            raise ValueError(f"connector ids must be unique, got {ids}")
        return v


class ServiceConfig(_Strict):
    """How one service runs."""

    enabled: bool = True
    """Run this service."""
    process: ProcessMode = "main"
    """``main``: inside the main process; ``separate``: its own process (``josev run --service NAME``)."""
    log_level: LogLevel | None = None
    """Overrides the global log level for this service."""


class BrokerConfig(_Strict):
    """The local mosquitto broker."""

    manage: bool = True
    """Start a private mosquitto with a generated configuration; false to use an external one."""
    host: str = "127.0.0.1"
    """Host of the broker (localhost only, for a managed one)."""
    port: int | None = Field(1883, ge=0, le=65535)
    """TCP port; 0 picks a free one; None disables the TCP listener (unix socket only)."""
    socket: Path | None = None
    """Unix socket of the broker; services prefer it when set."""
    directory: Path = Path("/var/lib/josev/broker")
    """Where the generated broker configuration, credentials and persistence live."""
    payload_format: Literal["json", "cbor"] = "json"
    """Payload encoding on the bus."""

    @model_validator(mode="after")
    def _listener(self) -> BrokerConfig:
        if self.port is None and self.socket is None:
            raise ValueError("the broker needs a TCP port or a unix socket")
        return self

    def bus_settings(self, service: str) -> BusSettings:
        """Bus settings of ``service``, using the credentials file of the managed broker."""
        return BusSettings(
            host=self.host,
            port=self.port or 1883,
            socket=self.socket,
            credentials_file=self.directory / "credentials",
            payload_format=self.payload_format,
        )


class LoggingConfig(_Strict):
    """Logging of all services."""

    level: LogLevel = "info"
    """Global log level."""
    json_lines: bool = False
    """Write JSON lines (one object per record) instead of text."""
    file: Path | None = None
    """Also write to this file."""


class JosevConfig(BaseSettings):
    """The whole station configuration."""

    model_config = SettingsConfigDict(
        env_prefix="JOSEV_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    station: StationConfig = Field(default_factory=StationConfig)
    """The station."""
    evse: list[EvseConfig] = Field(default_factory=lambda: [EvseConfig(id=1)])
    """The EVSEs (``[[evse]]`` tables)."""
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    """Per service: ``[services.<name>]``."""
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    """The bus broker."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Logging."""
    hal: dict[str, Any] = Field(default_factory=dict)
    """HAL options (board driver etc.), validated by the HAL service."""
    coordinator: dict[str, Any] = Field(default_factory=dict)
    """Coordinator options, validated by the coordinator."""
    slac: dict[str, Any] = Field(default_factory=dict)
    """SLAC options, validated by the SLAC service."""
    secc: dict[str, Any] = Field(default_factory=dict)
    """SECC options, validated by the SECC service."""
    ocpp: dict[str, Any] = Field(default_factory=dict)
    """OCPP options (CSMS, security profile, ...), validated by the OCPP service."""

    @field_validator("evse")
    @classmethod
    def _unique_evses(cls, v: list[EvseConfig]) -> list[EvseConfig]:
        ids = [e.id for e in v]
        if len(set(ids)) != len(ids):
            raise ValueError(f"EVSE ids must be unique, got {ids}")
        if sorted(ids) != list(range(1, len(ids) + 1)):
            raise ValueError(f"EVSE ids must be 1..N without gaps, got {ids}")
        channels = [e.board_channel if e.board_channel is not None else e.id - 1 for e in v]
        if len(set(channels)) != len(channels):
            raise ValueError(f"two EVSEs share a board channel: {channels}")
        return v

    @field_validator("services")
    @classmethod
    def _known_services(cls, v: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        unknown = sorted(set(v) - set(SERVICE_NAMES))
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {list(SERVICE_NAMES)}")
        return v

    def service(self, name: str) -> ServiceConfig:
        """The configuration of service ``name`` (defaults when not configured)."""
        return self.services.get(name, ServiceConfig())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides what the file says.
        return env_settings, init_settings


class Problem(NamedTuple):
    """One configuration error: where (``ocpp.csms_url``), what, and the line of the file (None: not in it)."""

    loc: str
    msg: str
    line: int | None = None


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; ``problems`` lists every :class:`Problem`."""

    def __init__(self, path: Path | None, problems: list[Problem] | list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = [p if isinstance(p, Problem) else Problem(*p) for p in problems]
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem: ``FILE:LINE: key: message`` (the line when the key is in the file)."""
        where = str(self.path) if self.path else "configuration"
        return [
            f"{where}:{p.line}: {p.loc}: {p.msg}" if p.line else f"{where}: {p.loc}: {p.msg}"
            for p in self.problems
        ]

    def explain(self) -> str:
        """One line per problem with the key and its line, then how many there are."""
        where = str(self.path) if self.path else "configuration"
        return "\n".join([*self.lines(), f"{where}: {len(self.problems)} problem(s)"])


def _location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            ident = (
                node[part].get("id")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{part}]" + (f"(id={ident})" if ident is not None else "")
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "<file>"


def location(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """The key path of ``loc`` as a person reads it: ``evse[1](id=2).phases``."""
    return _location(loc, data)


def message(err: Any, model: type[BaseModel] | None = None) -> str:
    """A pydantic error's message, clearer for unknown keys (with the closest known one) and choices."""
    kind = err.get("type")
    if kind == "extra_forbidden" and err.get("loc"):
        key = str(err["loc"][-1])
        if model is JosevConfig and len(err["loc"]) == 1:
            sections = ", ".join(f"[{k}]" for k in JosevConfig.model_fields)
            return f"unknown section [{key}]; known: {sections}"
        known = sorted(_fields_at(model, tuple(err["loc"][:-1]))) if model is not None else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(known)}" if known else "")
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return "required key is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> set[str]:
    """Field names of the (nested) model at ``loc`` under ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return set()
        current = _model_of(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return set(fields) if fields else set()


def _model_of(annotation: Any) -> Any:
    """The BaseModel inside ``X``, ``list[X]``, ``dict[str, X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def parse(
    data: dict[str, Any], path: Path | None = None, lines: dict[tomllines.Path_, int] | None = None
) -> JosevConfig:
    """Validate configuration data (as read from TOML); ``lines`` (:func:`josev.tomllines.key_lines`) adds
    the line of each offending key."""
    try:
        return JosevConfig(**data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            services = data.get("services")
            if loc == ("services",) and isinstance(services, dict):
                # One error per unknown service, at its own table.
                unknown = sorted(set(services) - set(SERVICE_NAMES))
                if unknown:
                    problems += [
                        Problem(
                            f"services.{name}",
                            f"unknown service {name!r}; known: {', '.join(SERVICE_NAMES)}",
                            tomllines.line_of(lines or {}, ("services", name)),
                        )
                        for name in unknown
                    ]
                    continue
            problems.append(
                Problem(_location(loc, data), message(e, JosevConfig), tomllines.line_of(lines or {}, loc))
            )
        raise ConfigError(path, problems) from None


def read(path: Path) -> tuple[dict[str, Any], dict[tomllines.Path_, int]]:
    """The TOML data of ``path`` and the line of each key (ConfigError when unreadable or not TOML)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(path, [Problem("<file>", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(
            path, [Problem("<file>", f"not valid TOML: {exc}", int(m.group(1)) if m else None)]
        ) from None
    return data, tomllines.key_lines(text)


def load(path: Path | None) -> JosevConfig:
    """Read and validate a TOML configuration file (None: defaults plus environment)."""
    if path is None:
        return parse({})
    data, lines = read(path)
    return parse(data, path, lines)
