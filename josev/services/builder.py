"""The one station builder: the services of a station configuration, for every entry point.

``josev run`` (:mod:`josev.launcher`), ``josev demo`` (:mod:`josev.demo.station`), ``josev station --sim``
(:mod:`josev.secc.refstation`) and ``josev station-sim`` (:mod:`josev.cli.station_sim`) all call
:func:`build_station` with a :class:`~josev.config.JosevConfig`. Each service comes from its registry factory
(:mod:`josev.services.registry`), so the same configuration gives the same services with the same settings
wherever it runs. What differs between the entry points is only the stand-ins they ask for (:class:`StandIns`),
for what lies outside a simulated station:

* ``csms``: an OCPP 2.0.1 CSMS on loopback (:class:`josev.sim.csms.CsmsSim`); the ``[ocpp]`` table's
  ``csms_url`` is pointed at it;
* ``car``: the simulated car's pilot and plug on the HAL simulator board for the HLC EVSEs
  (:class:`josev.sim.board.SimEvBridge`), for an EV on the network that cannot reach the bus;
* ``slac_link_up``: SLAC replaced by a link that counts as matched (:class:`josev.sim.board.SlacLinkUp`);
* ``coordinator``: HAL and coordinator replaced by a coordinator stand-in
  (:class:`josev.sim.coordinator.SimCoordinator`): the SECC alone with its simulated supply.

Test tooling that is not station configuration (:class:`Tools`: the scripted station behaviour of ``josev
station --scenario``) is handed to the SECC's factory.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev.config import SERVICE_NAMES, JosevConfig
from josev.services import registry

if TYPE_CHECKING:
    from josev.bus.service import Service
    from josev.sim.csms import CsmsSim


class BuildError(ValueError):
    """A service cannot be built from the configuration; the message names the service and the problem."""

    def __init__(self, service: str, problem: str) -> None:
        super().__init__(f"service {service}: {problem}")
        self.service = service


@dataclass(frozen=True)
class CsmsStandIn:
    """The CSMS stand-in's options."""

    pki_dir: Path | None = None
    """A ``josev pki create`` folder: the stand-in authorizes its contracts and answers certificate requests
    (``iso2``, ``iso20-p521``, ``iso20-ed448`` profiles present there)."""
    charging_limit_w: float | None = None
    """Install a TxDefaultProfile of this many W at boot."""


@dataclass(frozen=True)
class StandIns:
    """What the station's surroundings are played by (see the module doc)."""

    csms: CsmsStandIn | None = None
    car: bool = False
    slac_link_up: bool = False
    coordinator: bool = False


@dataclass(frozen=True)
class Tools:
    """Test tooling handed to the SECC (not station configuration)."""

    scenario: Any = None
    """A :class:`josev.secc.scenario.ScenarioRunner` (``josev station --scenario``)."""


@dataclass
class StationBuild:
    """What :func:`build_station` made: the services in start order, the configuration they were built from
    (with the stand-in CSMS's URL), the CSMS stand-in (start it before the services, close it after)."""

    config: JosevConfig
    services: list[Service]
    csms: CsmsSim | None = None
    stand_ins: list[str] = field(default_factory=list)
    """Names of the services in :attr:`services` that are stand-ins (``slac`` for the link-up, ``coordinator``,
    ``simev`` for the car)."""

    def service(self, name: str) -> Any:
        """The service called ``name`` (KeyError when there is none)."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def left_out(cfg: JosevConfig) -> set[str]:
    """Services the configuration leaves nothing to do: SLAC and SECC without a PLC interface (basic charging
    only), OCPP without an ``[ocpp]`` table (no CSMS). :func:`josev.configcheck.notes` says why."""
    from josev.configcheck import has_csms, hlc_evses

    out = set()
    if not hlc_evses(cfg):
        out |= {"slac", "secc"}
    if not has_csms(cfg):
        out.add("ocpp")
    return out


def service_names(cfg: JosevConfig) -> list[str]:
    """The services the configuration runs, in start order: enabled ones that have something to do."""
    out = left_out(cfg)
    return [n for n in SERVICE_NAMES if cfg.service(n).enabled and n not in out]


def with_csms_url(cfg: JosevConfig, url: str) -> JosevConfig:
    """``cfg`` with ``[ocpp] csms_url = url`` (ValueError when it has no ``[ocpp]`` table)."""
    if not cfg.ocpp:
        raise ValueError("the CSMS stand-in needs an [ocpp] table (database, workdir) to point at it")
    return cfg.model_copy(update={"ocpp": {**cfg.ocpp, "csms_url": url}})


def _csms(options: CsmsStandIn) -> CsmsSim:
    from josev.sim.csms import CsmsSim

    pki: Any = None
    pki20: tuple[Any, ...] = ()
    if options.pki_dir is not None:
        from josev.pki import load_pki

        root = options.pki_dir
        pki = load_pki(root / "iso2")
        pki20 = tuple(load_pki(root / p) for p in ("iso20-p521", "iso20-ed448") if (root / p).is_dir())
    return CsmsSim(port=free_port(), pki=pki, pki20=pki20, charging_limit_w=options.charging_limit_w)


def build_service(name: str, cfg: JosevConfig, tools: Tools | None = None) -> Service:
    """Service ``name`` from its registry factory (the SECC with the ``tools``)."""
    if name == "secc" and tools is not None and tools.scenario is not None:
        from josev.secc.service import from_config

        return from_config(cfg, scenario=tools.scenario)
    return registry.build(name, cfg)


def build_station(
    cfg: JosevConfig,
    names: list[str] | None = None,
    *,
    stand_ins: StandIns | None = None,
    tools: Tools | None = None,
) -> StationBuild:
    """The services of ``cfg`` (``names``: only those, in that order; default :func:`service_names`), with the
    asked-for stand-ins. A bad section raises :class:`BuildError` naming the service; a service that is not
    installed :class:`~josev.services.registry.UnknownService`."""
    stand = stand_ins or StandIns()
    csms = None
    if stand.csms is not None:
        csms = _csms(stand.csms)
        cfg = with_csms_url(cfg, csms.url)
    wanted = list(names) if names is not None else service_names(cfg)
    hlc = [e.id for e in cfg.evse if e.hlc and e.plc_interface]
    replaced: list[str] = []
    if stand.coordinator:
        wanted = [n for n in wanted if n not in ("hal", "coordinator")]
    services: list[Service] = []
    for name in wanted:
        if name == "slac" and stand.slac_link_up:
            from josev.sim.board import SlacLinkUp

            ifaces = {e.plc_interface or "" for e in cfg.evse if e.id in hlc}
            services.append(SlacLinkUp(hlc, next(iter(ifaces)) if len(ifaces) == 1 else ""))
            replaced.append("slac")
            continue
        try:
            services.append(build_service(name, cfg, tools))
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise BuildError(name, " ".join(str(exc).split())) from exc
    if stand.coordinator:
        from josev.sim.coordinator import SimCoordinator

        services.append(SimCoordinator(hlc))  # pilot for SLAC, acks for the SECC's commands
        replaced.append("coordinator")
    if stand.car:
        from hal.sim import SimBoard
        from josev.sim.board import SimEvBridge

        hal = next((s for s in services if s.name == "hal"), None)
        board = getattr(hal, "board", None)
        if not isinstance(board, SimBoard):
            raise ValueError('the simulated car needs the HAL service with [hal] board = "sim"')
        secc = next((s for s in services if s.name == "secc"), None)
        services.append(SimEvBridge(board, hlc, wait_for=getattr(secc, "ready", None)))
        replaced.append("simev")
    return StationBuild(cfg, services, csms, replaced)


def settings_of(svc: Any) -> dict[str, Any]:
    """What a service was built with, as plain data (for comparing two builds): its class and the public,
    non-runtime attributes it keeps (configuration dataclasses and pydantic models expanded)."""
    plain = _plain(svc, 0, set())
    return {
        **(plain if isinstance(plain, dict) else {}),
        "class": f"{type(svc).__module__}.{type(svc).__qualname__}",
    }


_SKIP = {
    "ready",
    "clock",
    "watchdog",
    "board",
    "stop",
    "core",
    "cores",
    "driver",
    "dc",
    "balancer",
    "hal",
    "smart",
}
"""Runtime attributes (events, clocks, live state, back references): only their class is compared."""


def _plain(obj: Any, depth: int, seen: set[int]) -> Any:
    import dataclasses
    import enum

    from pydantic import BaseModel

    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, Path | enum.Enum):
        return str(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name), depth + 1, seen) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [_plain(x, depth + 1, seen) for x in obj]
        return sorted(items, key=repr) if isinstance(obj, set | frozenset) else items
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1, seen) for k, v in obj.items()}
    if callable(obj) or depth > 3 or id(obj) in seen or not hasattr(obj, "__dict__"):
        return type(obj).__qualname__
    seen.add(id(obj))
    out: dict[str, Any] = {"class": type(obj).__qualname__}
    for key, value in vars(obj).items():
        if key.startswith("_"):
            continue
        if key == "cores" and isinstance(
            value, dict
        ):  # the coordinator's state machines: their EVSE settings
            out["evse_configs"] = _plain(
                {k: getattr(c, "cfg", None) for k, c in value.items()}, depth + 1, seen
            )
        out[key] = type(value).__qualname__ if key in _SKIP else _plain(value, depth + 1, seen)
    return out
