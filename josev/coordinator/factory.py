"""Build the coordinator service from the station configuration (``[[evse]]`` and ``[coordinator]``).

```toml
[coordinator]
heartbeat_s = 0.2
free_charging = false
local_auth_list = ["04A2B3C4D5"]
meter_loss = "stop"          # stop | continue | fault
station_limit_a = 63         # default: [station] max_current_a
ev_adapt_s = 5               # time an EV may take to follow a lower duty cycle (load balancing counts it)
slac_init_timeout_s = 50
slac_retries = 1
v2g_retries = 3              # new V2G sessions after abnormal ends (FAILED, timeout, TCP lost) per plug-in
t_step_ef_s = 4
stop_timeout_s = 6
fault_retry_s = 10
preauth_timeout_s = 60
has_lock = false
power_delivery_timeout_s = 1.5   # HlcPowerDelivery waits this long for the contactor
ac_max_discharge_current_a = 16  # AC EVSEs: ISO 15118-20 AC BPT discharge per phase (omit: no discharge)

[coordinator.dc]             # every [[evse]] with kind = "dc"; ratings come from the [[evse]] table
min_voltage_v = 150
max_discharge_current_a = 80  # BPT (omit: the EVSEs cannot discharge)
max_discharge_power_w = 20000
cable_check_voltage_v = 500
ev_ready_timeout_s = 8        # a CableCheck at pilot B waits this long for C (SECC: Ongoing)
cable_check_timeout_s = 20
welding_voltage_v = 60
welding_timeout_s = 5
publish_hz = 20
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from josev.config import JosevConfig
from josev.coordinator.config import DcConfig, EvseConfig
from josev.coordinator.service import CoordinatorService, StationConfig


class DcSection(BaseModel):
    """The ``[coordinator.dc]`` section (keys of :class:`~josev.coordinator.config.DcConfig` except the
    ratings, which come from each ``[[evse]]``)."""

    model_config = ConfigDict(extra="forbid")

    min_voltage_v: float = Field(150.0, ge=0)
    min_current_a: float = Field(0.0, ge=0)
    max_discharge_current_a: float | None = Field(None, gt=0)
    max_discharge_power_w: float | None = Field(None, gt=0)
    has_imd: bool = True
    cable_check_voltage_v: float = Field(500.0, gt=0)
    cable_check_current_a: float = Field(1.0, gt=0)
    ev_ready_timeout_s: float = Field(8.0, gt=0, le=8.0)
    cable_check_timeout_s: float = Field(20.0, gt=0)
    precharge_current_a: float = Field(2.0, gt=0)
    ramp_down_timeout_s: float = Field(1.0, gt=0)
    zero_current_a: float = Field(1.0, gt=0)
    welding_voltage_v: float = Field(60.0, gt=0)
    welding_timeout_s: float = Field(5.0, gt=0)
    over_voltage_margin_v: float = Field(10.0, ge=0)
    publish_hz: float = Field(20.0, gt=0, le=100)


class CoordinatorSection(BaseModel):
    """The ``[coordinator]`` section."""

    model_config = ConfigDict(extra="forbid")

    heartbeat_s: float = Field(0.2, gt=0)
    free_charging: bool = False
    local_auth_list: list[str] = Field(default_factory=list)
    meter_loss: Literal["stop", "continue", "fault"] = "stop"
    station_limit_a: float | None = Field(None, ge=0)
    ev_adapt_s: float = Field(5.0, gt=0, le=10)
    """Time an EV may take to follow a lower duty cycle (IEC 61851-1: 5 s); load balancing counts it."""
    slac_init_timeout_s: float = Field(50.0, gt=0)
    slac_retries: int = Field(1, ge=0)
    v2g_retries: int = Field(3, ge=0)
    """New V2G sessions accepted on one plug-in after one ended abnormally (see EvseConfig.v2g_retries)."""
    t_step_ef_s: float = Field(4.0, ge=4.0)
    stop_timeout_s: float = Field(6.0, gt=0)
    fault_retry_s: float = Field(10.0, gt=0)
    preauth_timeout_s: float = Field(60.0, gt=0)
    has_lock: bool = False
    power_delivery_timeout_s: float = Field(1.5, gt=0)
    ac_max_discharge_current_a: float | None = Field(None, gt=0)
    """AC EVSEs: discharge current per phase for ISO 15118-20 AC BPT (omit: AC EVSEs cannot discharge)."""
    dc: DcSection = Field(default_factory=DcSection)


def evse_configs(cfg: JosevConfig, section: CoordinatorSection) -> list[EvseConfig]:
    """One EvseConfig per ``[[evse]]`` table."""
    out = []
    for e in cfg.evse:
        out.append(
            EvseConfig(
                evse=e.id,
                evse_max_a=e.max_current_a,
                connector_max_a=min(c.max_current_a for c in e.connectors),
                phases=e.phases,
                hlc_offered=e.hlc and e.plc_interface is not None,
                basic_fallback=e.fallback_to_basic,
                slac_retries=section.slac_retries,
                v2g_retries=section.v2g_retries,
                slac_init_timeout_s=section.slac_init_timeout_s,
                t_step_ef_s=section.t_step_ef_s,
                stop_timeout_s=section.stop_timeout_s,
                fault_retry_s=section.fault_retry_s,
                preauth_timeout_s=section.preauth_timeout_s,
                free_charging=section.free_charging,
                meter_loss=section.meter_loss,
                has_lock=section.has_lock,
                ac_max_discharge_a=section.ac_max_discharge_current_a if e.kind == "ac" else None,
                connectors=tuple(c.id for c in e.connectors),
                power_delivery_timeout_s=section.power_delivery_timeout_s,
                dc=DcConfig(
                    max_voltage_v=e.max_voltage_v,
                    max_current_a=e.max_current_a,
                    max_power_w=e.max_power_w,
                    **section.dc.model_dump(),
                )
                if e.kind == "dc"
                else None,
            )
        )
    return out


def from_config(cfg: JosevConfig) -> CoordinatorService:
    """The coordinator service of a station configuration."""
    section = CoordinatorSection.model_validate(cfg.coordinator)
    limit = section.station_limit_a if section.station_limit_a is not None else cfg.station.max_current_a
    return CoordinatorService(
        evse_configs(cfg, section),
        StationConfig(limit, section.heartbeat_s, frozenset(section.local_auth_list), section.ev_adapt_s),
    )
