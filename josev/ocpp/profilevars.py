"""Device-model variables of the OCA profiles beyond Core: Local Authorization List (LocalAuthListCtrlr),
Reservation (ReservationCtrlr), Advanced User Interface (DisplayMessageCtrlr, TariffCostCtrlr) and Advanced
Device Management (MonitoringCtrlr)."""

from __future__ import annotations

from josev.ocpp.devmodel import VarDef

RO = "ReadOnly"
MESSAGE_FORMATS = ("ASCII", "HTML", "URI", "UTF8")
MESSAGE_PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
SUPPORTED_FORMATS = ("ASCII", "UTF8", "URI")
"""What the station's display shows (HTML is refused with ``UnsupportedMessageFormat``)."""
LOCAL_LIST_MAX_ENTRIES = 10000
LOCAL_LIST_MAX_BYTES = 2_000_000
DISPLAY_MAX_MESSAGES = 50
MONITORS_MAX = 200


def _i(component: str, variable: str, default: int, **kw: object) -> VarDef:
    return VarDef(component, variable, "integer", default=str(default), **kw)  # type: ignore[arg-type]


def _b(component: str, variable: str, default: bool, **kw: object) -> VarDef:
    return VarDef(component, variable, "boolean", default="true" if default else "false", **kw)  # type: ignore[arg-type]


def profile_variables() -> list[VarDef]:
    """Every variable of the four profiles (station-wide components)."""
    return [
        # D local authorization list
        _b("LocalAuthListCtrlr", "Enabled", False),
        _b("LocalAuthListCtrlr", "Available", True, mutability=RO),
        _i("LocalAuthListCtrlr", "Entries", 0, mutability=RO, max=LOCAL_LIST_MAX_ENTRIES),
        _i("LocalAuthListCtrlr", "ItemsPerMessage", 250, mutability=RO),
        _i("LocalAuthListCtrlr", "BytesPerMessage", 65000, mutability=RO),
        _i("LocalAuthListCtrlr", "Storage", 0, mutability=RO, unit="B", max=LOCAL_LIST_MAX_BYTES),
        _b("LocalAuthListCtrlr", "DisablePostAuthorize", False),
        # H reservation
        _b("ReservationCtrlr", "Enabled", True),
        _b("ReservationCtrlr", "Available", True, mutability=RO),
        _b("ReservationCtrlr", "NonEvseSpecific", True),
        # O display messages
        _b("DisplayMessageCtrlr", "Enabled", True),
        _b("DisplayMessageCtrlr", "Available", True, mutability=RO),
        _i("DisplayMessageCtrlr", "DisplayMessages", DISPLAY_MAX_MESSAGES, mutability=RO),
        VarDef(
            "DisplayMessageCtrlr",
            "SupportedFormats",
            "MemberList",
            RO,
            ",".join(SUPPORTED_FORMATS),
            values_list=MESSAGE_FORMATS,
        ),
        VarDef(
            "DisplayMessageCtrlr",
            "SupportedPriorities",
            "MemberList",
            RO,
            ",".join(MESSAGE_PRIORITIES),
            values_list=MESSAGE_PRIORITIES,
        ),
        _i("DisplayMessageCtrlr", "PersonalMessageSize", 255, mutability=RO),
        # I tariff and cost
        _b("TariffCostCtrlr", "Enabled", True, v_instance="Tariff"),
        _b("TariffCostCtrlr", "Enabled", True, v_instance="Cost"),
        _b("TariffCostCtrlr", "Available", True, mutability=RO, v_instance="Tariff"),
        _b("TariffCostCtrlr", "Available", True, mutability=RO, v_instance="Cost"),
        VarDef(
            "TariffCostCtrlr",
            "TariffFallbackMessage",
            "string",
            default="Tariff: see the operator's app",
            max_len=255,
        ),
        VarDef(
            "TariffCostCtrlr",
            "TotalCostFallbackMessage",
            "string",
            default="The total cost will be shown in the operator's app",
            max_len=255,
        ),
        VarDef("TariffCostCtrlr", "Currency", "string", default="EUR", max_len=3),
        # N monitoring
        _b("MonitoringCtrlr", "Enabled", True),
        _b("MonitoringCtrlr", "Available", True, mutability=RO),
        _i("MonitoringCtrlr", "ItemsPerMessage", 20, v_instance="SetVariableMonitoring", mutability=RO),
        _i("MonitoringCtrlr", "ItemsPerMessage", 20, v_instance="ClearVariableMonitoring", mutability=RO),
        _i("MonitoringCtrlr", "BytesPerMessage", 65000, v_instance="SetVariableMonitoring", mutability=RO),
        _i("MonitoringCtrlr", "BytesPerMessage", 65000, v_instance="ClearVariableMonitoring", mutability=RO),
        _i("MonitoringCtrlr", "OfflineQueuingSeverity", 2, min=0, max=9),
        VarDef(
            "MonitoringCtrlr",
            "ActiveMonitoringBase",
            "OptionList",
            RO,
            "All",
            values_list=("All", "FactoryDefault", "HardWiredOnly"),
        ),
        _i("MonitoringCtrlr", "ActiveMonitoringLevel", 9, mutability=RO, min=0, max=9),
    ]


def evse_variables(evse: int) -> list[VarDef]:
    """Measured variables of one EVSE that monitors may watch (besides EVSE.Power and the availability states):
    the meter's voltage and current and the EVSE's Problem flag (any fault)."""
    return [
        VarDef("EVSE", "Voltage", "decimal", RO, "0", evse=evse, unit="V", monitorable=True),
        VarDef("EVSE", "Current", "decimal", RO, "0", evse=evse, unit="A", monitorable=True),
        VarDef("EVSE", "Problem", "boolean", RO, "false", evse=evse, monitorable=True),
    ]
