"""``josev config check`` and the start of ``josev run``: every section of the station configuration, checked
before anything starts, each error with its key and line.

:mod:`josev.config` validates the sections the launcher needs (``[station]``, ``[[evse]]``, ``[services.*]``,
``[broker]``, ``[logging]``) and unknown sections. Here the service sections are validated with the models
their services use (``[hal]`` with ``[hal.ccc]`` and ``[[hal.meters]]``, ``[coordinator]``, ``[slac]``,
``[secc]``, ``[ocpp]``), and what no single section can see is cross-checked:

- the CSMS URL's scheme against the security profile (``ws://`` with profile 1, ``wss://`` with 2; never
  ``http(s)://``), the Basic-auth password's length (16-40 characters, OCPP 2.0.1 passwordString);
- files that must exist (CSMS root certificates, the SECC's PKI folder, meter register maps, the log
  file's folder);
- a Charge Control C channel for every EVSE, meters only on EVSEs that exist.

What is not an error but changes what runs is a note: no PLC interface (SLAC and SECC off, basic charging
only), no ``[ocpp]`` table (OCPP off).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError

from josev import config as config_mod
from josev import tomllines
from josev.config import ConfigError, JosevConfig, Problem

PASSWORD_CHARS = re.compile(r"[A-Za-z0-9*\-_=:+|@.]+")
"""OCPP 2.0.1 passwordString characters."""
PASSWORD_MIN = 16
PASSWORD_MAX = 40
"""OCPP 2.0.1 BasicAuthPassword: passwordString[16..40]."""


@dataclass
class Report:
    """A configuration that passed: the validated data and notes about what will not run."""

    config: JosevConfig
    notes: list[str] = field(default_factory=list)


def hlc_evses(cfg: JosevConfig) -> list[int]:
    """EVSEs with high-level communication: ``hlc`` and a ``plc_interface``."""
    return [e.id for e in cfg.evse if e.hlc and e.plc_interface]


def has_csms(cfg: JosevConfig) -> bool:
    """Whether the configuration has an ``[ocpp]`` table (without one the station runs standalone)."""
    return bool(cfg.ocpp)


class _Checker:
    def __init__(self, data: dict[str, Any], lines: dict[tomllines.Path_, int]) -> None:
        self.data = data
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, loc: tuple[str | int, ...], msg: str) -> None:
        self.problems.append(
            Problem(config_mod.location(loc, self.data), msg, tomllines.line_of(self.lines, loc))
        )

    def model(self, section: tuple[str | int, ...], model: type[BaseModel], value: Any) -> Any:
        """Validate ``value`` (the table at ``section``) with ``model``; None when invalid."""
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            for e in exc.errors():
                loc = (*section, *e["loc"])
                self.add(loc, self._message(e, model, section))
            return None

    def _message(self, err: Any, model: type[BaseModel], section: tuple[str | int, ...]) -> str:
        if err.get("type") == "literal_error" and (*section, *err["loc"]) == ("hal", "board"):
            return f"unknown board {err.get('input')!r}; known: 'sim' (simulator), 'ccc' (Charge Control C)"
        return config_mod.message(err, model)

    # --- the sections -------------------------------------------------------------------------------------

    def hal(self, cfg: JosevConfig | None) -> None:
        from hal.ccc import CccChannelConfig
        from hal.meter import available_maps
        from josev.halsvc.factory import HalSection

        section = self.model(("hal",), HalSection, self.data.get("hal", {}))
        raw_channels = self.data.get("hal", {}).get("ccc", {}).get("channels", [])
        known = [f.name for f in dataclasses.fields(CccChannelConfig)]
        adapter = TypeAdapter(CccChannelConfig)
        if isinstance(raw_channels, list):
            for i, ch in enumerate(raw_channels):
                if not isinstance(ch, dict):
                    continue
                for key in ch:
                    if key not in known:
                        close = difflib.get_close_matches(key, known, n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
                        self.add(("hal", "ccc", "channels", i, key), f"unknown key {key!r}{hint}")
                try:
                    adapter.validate_python({k: v for k, v in ch.items() if k in known})
                except ValidationError as exc:
                    for e in exc.errors():
                        self.add(("hal", "ccc", "channels", i, *e["loc"]), str(e["msg"]))
        if section is None:
            return
        for i, m in enumerate(section.meters):
            if Path(m.model).suffix:
                if not Path(m.model).is_file():
                    self.add(("hal", "meters", i, "model"), f"register map file {m.model} does not exist")
            elif m.model.lower().replace("-", "") not in available_maps():
                self.add(
                    ("hal", "meters", i, "model"),
                    f"unknown meter model {m.model!r}; known: {', '.join(available_maps())} or a JSON file",
                )
        if cfg is None:
            return
        ids = {e.id for e in cfg.evse}
        for i, m in enumerate(section.meters):
            if m.evse not in ids:
                self.add(
                    ("hal", "meters", i, "evse"),
                    f"no EVSE {m.evse} (the [[evse]] ids are {', '.join(map(str, sorted(ids)))})",
                )
        if section.board == "ccc":
            n = len(section.ccc.channels)
            if not section.ccc.root.is_dir():
                self.add(("hal", "ccc", "root"), f"folder {section.ccc.root} does not exist")
            for i, ev in enumerate(cfg.evse):
                index = ev.board_channel if ev.board_channel is not None else ev.id - 1
                if index >= n:
                    where: tuple[str | int, ...] = (
                        ("evse", i, "board_channel") if ev.board_channel is not None else ("hal", "ccc")
                    )
                    if where == ("hal", "ccc") and ("hal", "ccc") not in self.lines:
                        where = ("hal", "board")
                    self.add(
                        where,
                        f"EVSE {ev.id} uses Charge Control C channel {index}, but [[hal.ccc.channels]] "
                        f"configures {n} channel(s): add one per EVSE",
                    )

    def coordinator(self) -> None:
        from josev.coordinator.factory import CoordinatorSection

        self.model(("coordinator",), CoordinatorSection, self.data.get("coordinator", {}))

    def slac(self) -> None:
        from josev.slac.service import SlacSection
        from josev.slac.timers import SlacTimings

        section = self.model(("slac",), SlacSection, self.data.get("slac", {}))
        if section is None:
            return
        known = [f.name for f in dataclasses.fields(SlacTimings)]
        for key in section.timings:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.add(("slac", "timings", key), f"unknown SLAC timing {key!r}{hint}")

    def secc(self) -> None:
        from josev.secc.settings import SeccOptions

        opts = self.model(("secc",), SeccOptions, self.data.get("secc", {}))
        if opts is None:
            return
        if opts.tls != "off":
            if not opts.pki_dir:
                self.add(("secc", "tls"), "TLS needs pki_dir (a folder made by `josev pki create`)")
            elif not Path(opts.pki_dir).is_dir():
                self.add(("secc", "pki_dir"), f"folder {opts.pki_dir} does not exist")
        if opts.v2g_log_dir and not Path(opts.v2g_log_dir).is_dir():
            self.add(("secc", "v2g_log_dir"), f"folder {opts.v2g_log_dir} does not exist")

    def ocpp(self, cfg: JosevConfig | None) -> None:
        from josev.ocpp.config import OcppConfig

        table = self.data.get("ocpp")
        if not table:
            return
        if not isinstance(table, dict):
            return
        typo = difflib.get_close_matches("csms_url", [k for k in table if k != "csms_url"], n=1)
        if "csms_url" not in table and not typo:  # a misspelt csms_url is reported as an unknown key
            self.add(
                ("ocpp",), "csms_url is missing (ws://host/path or wss://host/path, without the identity)"
            )
        base: dict[str, Any] = {"identity": cfg.station.id if cfg else "x", "csms_url": "ws://x"}
        occ = self.model(("ocpp",), OcppConfig, {**base, **table})
        if occ is None:  # still cross-check what is valid
            try:
                occ = OcppConfig.model_validate(
                    {**base, **{k: v for k, v in table.items() if k in OcppConfig.model_fields}}
                )
            except ValidationError:
                return
        pw = occ.basic_auth_password
        if pw is not None and not PASSWORD_MIN <= len(pw) <= PASSWORD_MAX:
            self.add(
                ("ocpp", "basic_auth_password"),
                f"OCPP requires {PASSWORD_MIN}-{PASSWORD_MAX} characters, this one has {len(pw)}",
            )
        elif pw is not None and occ.password_encoding == "text" and not PASSWORD_CHARS.fullmatch(pw):
            bad = sorted({c for c in pw if not PASSWORD_CHARS.fullmatch(c)})
            self.add(
                ("ocpp", "basic_auth_password"),
                f"OCPP passwordString allows only A-Z a-z 0-9 *-_=:+|@. (found {' '.join(map(repr, bad))})",
            )
        for i, cert in enumerate(occ.csms_root_certificates):
            if not cert.is_file():
                self.add(("ocpp", "csms_root_certificates", i), f"certificate file {cert} does not exist")
        if occ.diagnostics_log is not None and not occ.diagnostics_log.parent.is_dir():
            self.add(("ocpp", "diagnostics_log"), f"folder {occ.diagnostics_log.parent} does not exist")
        if "csms_url" in table:
            self._csms_url(occ.csms_url, occ.security_profile)

    def _csms_url(self, csms_url: str, profile: int) -> None:
        url = urlsplit(csms_url)
        scheme = url.scheme.lower()
        if scheme not in ("ws", "wss"):
            self.add(
                ("ocpp", "csms_url"),
                f"the CSMS URL must start with ws:// (security profile 1) or wss:// (profiles 2 and 3), "
                f"not {scheme + '://' if scheme else 'nothing'}",
            )
        elif not url.hostname:
            self.add(("ocpp", "csms_url"), f"no host in {csms_url!r}")
        elif scheme == "ws" and profile != 1:
            self.add(
                ("ocpp", "csms_url"),
                f"ws:// is unencrypted: security profile {profile} needs wss:// "
                "(or set security_profile = 1)",
            )

    def logging(self, cfg: JosevConfig) -> None:
        f = cfg.logging.file
        if f is not None and not f.parent.is_dir():
            self.add(("logging", "file"), f"folder {f.parent} does not exist")


def notes(cfg: JosevConfig) -> list[str]:
    """What the configuration leaves out on purpose, as an operator should read it at start."""
    out = []
    if not hlc_evses(cfg):
        off = [n for n in ("slac", "secc") if cfg.service(n).enabled]
        if off:
            out.append(
                "no EVSE has a plc_interface (with hlc = true): basic PWM charging only, "
                f"{' and '.join(n.upper() for n in off)} off"
            )
    if not has_csms(cfg) and cfg.service("ocpp").enabled:
        out.append("no [ocpp] table: no CSMS, OCPP off (the station charges standalone)")
    url = str(cfg.ocpp.get("csms_url", ""))
    if url.lower().startswith("wss://") and cfg.ocpp.get("security_profile", 1) == 1:
        out.append(
            "[ocpp] wss:// with security_profile = 1: set security_profile = 2 so that the station "
            "never falls back to an unencrypted ws:// profile"
        )
    pw = cfg.ocpp.get("basic_auth_password") if has_csms(cfg) else None
    if has_csms(cfg) and pw is None and cfg.ocpp.get("security_profile", 1) in (1, 2):
        out.append("[ocpp] has no basic_auth_password: the CSMS must accept the station without Basic auth")
    return out


def check(
    data: dict[str, Any],
    path: Path | None = None,
    lines: dict[tomllines.Path_, int] | None = None,
    services: list[str] | None = None,
) -> Report:
    """Validate every section of ``data`` (with ``services``: the core sections and only those services'
    sections, as a process running just them needs); ConfigError lists every problem with its key and line."""
    lines = lines or {}
    checker = _Checker(data, lines)
    cfg: JosevConfig | None = None
    try:
        cfg = config_mod.parse(data, path, lines)
    except ConfigError as exc:
        checker.problems.extend(exc.problems)
        # Unknown sections should not hide the cross-checks of the known ones.
        known = {k: v for k, v in data.items() if k in JosevConfig.model_fields}
        try:
            cfg = config_mod.parse(known, path, lines)
        except ConfigError:
            cfg = None
    for name in ("hal", "coordinator", "slac", "secc", "ocpp"):
        if name in data and not isinstance(data[name], dict):
            checker.add((name,), f"[{name}] must be a table")
            data = {k: v for k, v in data.items() if k != name}
            checker.data = data
    wanted = set(services) if services is not None else {"hal", "coordinator", "slac", "secc", "ocpp"}
    wanted &= set(data)  # an absent section is its defaults, which are valid (and its model is not imported)
    if "hal" in wanted:
        checker.hal(cfg)
    if "coordinator" in wanted:
        checker.coordinator()
    if "slac" in wanted:
        checker.slac()
    if "secc" in wanted:
        checker.secc()
    if "ocpp" in wanted:
        checker.ocpp(cfg)
    if cfg is not None:
        checker.logging(cfg)
    if checker.problems or cfg is None:
        raise ConfigError(path, _sorted(checker.problems))
    return Report(cfg, notes(cfg))


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def check_file(path: Path, services: list[str] | None = None) -> Report:
    """Read and check a configuration file (see :func:`check` for ``services``)."""
    data, lines = config_mod.read(path)
    return check(data, path, lines, services)
