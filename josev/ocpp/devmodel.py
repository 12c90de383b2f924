"""The OCPP 2.0.1 device model: components, variables, their characteristics and values, persisted in SQLite.

Only the ``Actual`` attribute is implemented (the Core profile needs no other); values are strings as on the
wire. Value precedence at start-up: built-in default < configuration < value persisted by an earlier run
(i.e. set by the CSMS or by the station itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ocpp.v201.enums import IdTokenEnumType, MeasurandEnumType  # type: ignore[import-untyped]

from josev.ocpp.store import Store

DATA_TYPES = (
    "string",
    "decimal",
    "integer",
    "dateTime",
    "boolean",
    "OptionList",
    "SequenceList",
    "MemberList",
)
MEASURANDS: tuple[str, ...] = tuple(m.value for m in MeasurandEnumType)
"""Every OCPP 2.0.1 measurand (from the ``ocpp`` package's enums)."""
TOKEN_TYPES: tuple[str, ...] = tuple(t.value for t in IdTokenEnumType)
"""Every OCPP 2.0.1 IdTokenEnumType value."""
TX_POINTS = (
    "ParkingBayOccupancy",
    "EVConnected",
    "Authorized",
    "DataSigned",
    "PowerPathClosed",
    "EnergyTransfer",
)
AVAILABILITY = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")


@dataclass(frozen=True, slots=True)
class VarDef:
    """One variable of one component, with its characteristics."""

    component: str
    variable: str
    data_type: str
    mutability: str = "ReadWrite"
    default: str = ""
    c_instance: str | None = None
    v_instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    values_list: tuple[str, ...] | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    reboot_required: bool = False
    max_len: int | None = None
    constant: bool = False
    monitorable: bool = False
    """A measured or state value the station updates itself; SetVariableMonitoring may watch it."""

    @property
    def key(self) -> str:
        """Stable identifier used for persistence and configuration overrides."""
        return make_key(
            self.component, self.variable, self.c_instance, self.v_instance, self.evse, self.connector
        )

    def component_json(self) -> dict[str, Any]:
        """The ComponentType of this variable."""
        out: dict[str, Any] = {"name": self.component}
        if self.c_instance is not None:
            out["instance"] = self.c_instance
        if self.evse is not None:
            out["evse"] = {"id": self.evse}
            if self.connector is not None:
                out["evse"]["connectorId"] = self.connector
        return out

    def variable_json(self) -> dict[str, Any]:
        """The VariableType of this variable."""
        out: dict[str, Any] = {"name": self.variable}
        if self.v_instance is not None:
            out["instance"] = self.v_instance
        return out

    def characteristics_json(self) -> dict[str, Any]:
        """The VariableCharacteristicsType of this variable."""
        out: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": self.monitorable}
        if self.unit:
            out["unit"] = self.unit
        if self.min is not None:
            out["minLimit"] = self.min
        if self.max is not None:
            out["maxLimit"] = self.max
        if self.values_list:
            out["valuesList"] = ",".join(self.values_list)[:1000]
        return out


def make_key(
    component: str,
    variable: str,
    c_instance: str | None = None,
    v_instance: str | None = None,
    evse: int | None = None,
    connector: int | None = None,
) -> str:
    """``Component[inst]@evse.conn/Variable[inst]`` - the persisted key of a variable."""
    c = component + (f"[{c_instance}]" if c_instance else "")
    if evse is not None:
        c += f"@{evse}" + (f".{connector}" if connector is not None else "")
    return c + "/" + variable + (f"[{v_instance}]" if v_instance else "")


def _i(component: str, variable: str, default: int, **kw: Any) -> VarDef:
    return VarDef(component, variable, "integer", default=str(default), **kw)


def _b(component: str, variable: str, default: bool, **kw: Any) -> VarDef:
    return VarDef(component, variable, "boolean", default="true" if default else "false", **kw)


def core_variables(evses: dict[int, int], model: str = "josev", vendor: str = "josev") -> list[VarDef]:
    """Every variable of the Core profile (and the reliability ones) for ``evses`` (EVSE id -> connectors)."""
    ro, wo, s = "ReadOnly", "WriteOnly", "s"
    meas = MEASURANDS
    defs = [
        _i("OCPPCommCtrlr", "ActiveNetworkProfile", 1, mutability=ro),
        VarDef(
            "OCPPCommCtrlr",
            "FileTransferProtocols",
            "MemberList",
            ro,
            "HTTP,HTTPS",
            values_list=("FTP", "FTPS", "HTTP", "HTTPS", "SFTP"),
        ),
        _i("OCPPCommCtrlr", "HeartbeatInterval", 240, unit=s, min=1),
        _i("OCPPCommCtrlr", "MessageTimeout", 30, v_instance="Default", unit=s, min=1, max=3600),
        _i("OCPPCommCtrlr", "MessageAttempts", 3, v_instance="TransactionEvent", min=0, max=100),
        _i("OCPPCommCtrlr", "MessageAttemptInterval", 10, v_instance="TransactionEvent", unit=s, min=0),
        VarDef(
            "OCPPCommCtrlr",
            "NetworkConfigurationPriority",
            "SequenceList",
            default="1",
            values_list=tuple(str(i) for i in range(0, 10)),
            reboot_required=True,
        ),
        _i("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", 3, min=1),
        _i("OCPPCommCtrlr", "OfflineThreshold", 60, unit=s, min=0),
        _b("OCPPCommCtrlr", "QueueAllMessages", False),
        _i("OCPPCommCtrlr", "ResetRetries", 2, min=0),
        _i("OCPPCommCtrlr", "RetryBackOffRandomRange", 10, unit=s, min=0),
        _i("OCPPCommCtrlr", "RetryBackOffRepeatTimes", 5, min=0),
        _i("OCPPCommCtrlr", "RetryBackOffWaitMinimum", 5, unit=s, min=0),
        _b("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", True),
        _i("OCPPCommCtrlr", "WebSocketPingInterval", 30, unit=s, min=0),
        _b("OCPPCommCtrlr", "Enabled", True, mutability=ro),
        _i("TxCtrlr", "EVConnectionTimeOut", 60, unit=s, min=0),
        _b("TxCtrlr", "StopTxOnEVSideDisconnect", True),
        _b("TxCtrlr", "StopTxOnInvalidId", True),
        _b("TxCtrlr", "TxBeforeAcceptedEnabled", False),
        VarDef("TxCtrlr", "TxStartPoint", "MemberList", default="PowerPathClosed", values_list=TX_POINTS),
        VarDef(
            "TxCtrlr", "TxStopPoint", "MemberList", default="EVConnected,Authorized", values_list=TX_POINTS
        ),
        _i("TxCtrlr", "MaxEnergyOnInvalidId", 0, unit="Wh", min=0),
        _i("DeviceDataCtrlr", "ItemsPerMessage", 20, v_instance="GetReport", mutability=ro),
        _i("DeviceDataCtrlr", "ItemsPerMessage", 20, v_instance="GetVariables", mutability=ro),
        _i("DeviceDataCtrlr", "ItemsPerMessage", 20, v_instance="SetVariables", mutability=ro),
        _i("DeviceDataCtrlr", "BytesPerMessage", 65000, v_instance="GetReport", mutability=ro),
        _i("DeviceDataCtrlr", "BytesPerMessage", 65000, v_instance="GetVariables", mutability=ro),
        _i("DeviceDataCtrlr", "BytesPerMessage", 65000, v_instance="SetVariables", mutability=ro),
        VarDef("ClockCtrlr", "DateTime", "dateTime", ro),
        VarDef(
            "ClockCtrlr",
            "TimeSource",
            "SequenceList",
            default="Heartbeat",
            values_list=("Heartbeat", "NTP", "GPS", "RealTimeClock", "MobileNetwork", "RadioTimeTransmitter"),
        ),
        VarDef("SecurityCtrlr", "OrganizationName", "string", default="josev", max_len=64),
        _i("SecurityCtrlr", "CertificateEntries", 0, mutability=ro),
        _i("SecurityCtrlr", "SecurityProfile", 1, mutability=ro),
        VarDef("SecurityCtrlr", "BasicAuthPassword", "string", wo, max_len=40),
        VarDef("SecurityCtrlr", "Identity", "string", ro, max_len=48),
        _i("SecurityCtrlr", "MaxCertificateChainSize", 5600, mutability=ro),
        _i("SecurityCtrlr", "SecurityLogEntries", 1000, mutability=ro),
        _i("SecurityCtrlr", "CertSigningWaitMinimum", 30, unit=s, min=0),
        _i("SecurityCtrlr", "CertSigningRepeatTimes", 3, min=0),
        _b("ISO15118Ctrlr", "PnCEnabled", False),
        _b("ISO15118Ctrlr", "ContractValidationOffline", False),
        _b("ISO15118Ctrlr", "CentralContractValidationAllowed", True),
        _b("ISO15118Ctrlr", "V2GCertificateInstallationEnabled", True),
        _b("ISO15118Ctrlr", "ContractCertificateInstallationEnabled", True),
        VarDef("ISO15118Ctrlr", "SeccId", "string", default="", max_len=64),
        VarDef("ISO15118Ctrlr", "CountryName", "string", default="", max_len=2),
        VarDef("ISO15118Ctrlr", "OrganizationName", "string", default="", max_len=64),
        _b("SampledDataCtrlr", "Enabled", True),
        VarDef(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            "MemberList",
            default="Energy.Active.Import.Register",
            values_list=meas,
        ),
        _i("SampledDataCtrlr", "TxEndedInterval", 0, unit=s, min=0),
        VarDef(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            "MemberList",
            default="Energy.Active.Import.Register",
            values_list=meas,
        ),
        VarDef(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "MemberList",
            default="Energy.Active.Import.Register,Power.Active.Import",
            values_list=meas,
        ),
        _i("SampledDataCtrlr", "TxUpdatedInterval", 60, unit=s, min=0),
        _b("AlignedDataCtrlr", "Enabled", True),
        _i("AlignedDataCtrlr", "Interval", 900, unit=s, min=0),
        VarDef(
            "AlignedDataCtrlr",
            "Measurands",
            "MemberList",
            default="Energy.Active.Import.Register",
            values_list=meas,
        ),
        _b("AlignedDataCtrlr", "SendDuringIdle", False),
        _i("AlignedDataCtrlr", "TxEndedInterval", 0, unit=s, min=0),
        VarDef(
            "AlignedDataCtrlr",
            "TxEndedMeasurands",
            "MemberList",
            default="Energy.Active.Import.Register",
            values_list=meas,
        ),
        _b("AuthCtrlr", "Enabled", True),
        _b("AuthCtrlr", "AuthorizeRemoteStart", True),
        _b("AuthCtrlr", "LocalAuthorizeOffline", True),
        _b("AuthCtrlr", "LocalPreAuthorize", False),
        VarDef("AuthCtrlr", "MasterPassGroupId", "string", default="", max_len=36),
        _b("AuthCtrlr", "OfflineTxForUnknownIdEnabled", False),
        _b("AuthCtrlr", "DisableRemoteAuthorization", False),
        _b("AuthCacheCtrlr", "Enabled", True),
        _b("AuthCacheCtrlr", "Available", True, mutability=ro),
        _i("AuthCacheCtrlr", "LifeTime", 86400, unit=s, min=0),
        _i("AuthCacheCtrlr", "Storage", 1000, mutability=ro),
        VarDef(
            "AuthCacheCtrlr",
            "Policy",
            "OptionList",
            default="LRU",
            values_list=("LRU", "LFU", "FIFO", "CUSTOM"),
        ),
        VarDef(
            "ChargingStation", "AvailabilityState", "OptionList", ro, "Available", values_list=AVAILABILITY
        ),
        _b("ChargingStation", "Available", True, mutability=ro),
        _i("ChargingStation", "SupplyPhases", 3, mutability=ro),
        VarDef("ChargingStation", "Model", "string", ro, model, constant=True),
        VarDef("ChargingStation", "VendorName", "string", ro, vendor, constant=True),
        VarDef(
            "CustomizationCtrlr", "CustomImplementationEnabled", "boolean", ro, "false", v_instance="josev"
        ),
    ]
    from josev.ocpp.profilevars import evse_variables, profile_variables

    defs += profile_variables()
    for evse, connectors in sorted(evses.items()):
        defs += evse_variables(evse)
        defs += [
            VarDef(
                "EVSE",
                "AvailabilityState",
                "OptionList",
                ro,
                "Available",
                evse=evse,
                values_list=AVAILABILITY,
                monitorable=True,
            ),
            _b("EVSE", "Available", True, mutability=ro, evse=evse),
            VarDef("EVSE", "Power", "decimal", ro, "0", evse=evse, unit="W", max=22000, monitorable=True),
            _i("EVSE", "SupplyPhases", 3, mutability=ro, evse=evse),
        ]
        for conn in range(1, connectors + 1):
            defs += [
                VarDef(
                    "Connector",
                    "AvailabilityState",
                    "OptionList",
                    ro,
                    "Available",
                    evse=evse,
                    connector=conn,
                    values_list=AVAILABILITY,
                    monitorable=True,
                ),
                _b("Connector", "Available", True, mutability=ro, evse=evse, connector=conn),
                VarDef("Connector", "ConnectorType", "string", ro, "cType2", evse=evse, connector=conn),
                _i("Connector", "SupplyPhases", 3, mutability=ro, evse=evse, connector=conn),
            ]
    from josev.ocpp.smartcharging.messages import variables as smart_charging_variables

    return defs + smart_charging_variables()


class DeviceModel:
    """Values of the device model, backed by :class:`Store`."""

    def __init__(self, store: Store, defs: Iterable[VarDef], initial: dict[str, str] | None = None) -> None:
        self.store = store
        self.defs: dict[str, VarDef] = {d.key: d for d in defs}
        self.validators: dict[str, Callable[[str], str | None]] = {}
        """Extra checks by key: return an error text to reject a SetVariables value."""
        persisted = store.variables()
        self._values: dict[str, str] = {}
        for key, d in self.defs.items():
            value = d.default
            if initial and key in initial:
                value = initial[key]
            if key in persisted and not d.constant:
                value = persisted[key]
            self._values[key] = value
        unknown = set(initial or {}) - set(self.defs)
        if unknown:
            raise ValueError(f"unknown device-model variables in configuration: {sorted(unknown)}")

    # -- typed access by key -------------------------------------------------------------------------
    def get(
        self,
        component: str,
        variable: str,
        v_instance: str | None = None,
        evse: int | None = None,
        connector: int | None = None,
    ) -> str:
        """The Actual value of a variable (KeyError if the model has no such variable)."""
        return self._values[make_key(component, variable, None, v_instance, evse, connector)]

    def get_int(self, component: str, variable: str, v_instance: str | None = None) -> int:
        """An integer variable."""
        return int(float(self.get(component, variable, v_instance)))

    def get_bool(self, component: str, variable: str) -> bool:
        """A boolean variable."""
        return self.get(component, variable) == "true"

    def get_list(self, component: str, variable: str) -> list[str]:
        """A list (MemberList / SequenceList) variable."""
        return [x for x in self.get(component, variable).split(",") if x]

    def put(
        self,
        component: str,
        variable: str,
        value: str,
        v_instance: str | None = None,
        evse: int | None = None,
        connector: int | None = None,
    ) -> None:
        """Set a value from inside the station (no mutability check); persisted."""
        key = make_key(component, variable, None, v_instance, evse, connector)
        if key not in self.defs:
            raise KeyError(key)
        self._values[key] = value
        self.store.set_variable(key, value)

    def value(self, key: str) -> str:
        """A value by key."""
        return self._values[key]

    def set_live(self, key: str, value: str) -> bool:
        """Update a measured value (not persisted: the station measures it again after a restart); returns
        whether it changed."""
        if self._values.get(key) == value:
            return False
        self._values[key] = value
        return True

    # -- CSMS access ---------------------------------------------------------------------------------
    def find(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[VarDef | None, str]:
        """The definition addressed by a ComponentType/VariableType pair, or the reason it is unknown."""
        evse = component.get("evse") or {}
        key = make_key(
            component.get("name", ""),
            variable.get("name", ""),
            component.get("instance"),
            variable.get("instance"),
            evse.get("id"),
            evse.get("connectorId"),
        )
        d = self.defs.get(key)
        if d is not None:
            return d, ""
        comp_known = any(
            x.component == component.get("name")
            and x.c_instance == component.get("instance")
            and x.evse == evse.get("id")
            and x.connector == evse.get("connectorId")
            for x in self.defs.values()
        )
        return None, "UnknownVariable" if comp_known else "UnknownComponent"

    def check(self, d: VarDef, value: str) -> str | None:
        """Why ``value`` is not acceptable for ``d`` (None if it is)."""
        if len(value) > 1000:
            return "value longer than 1000 characters"
        t = d.data_type
        try:
            if t == "integer":
                number: float = int(value)
            elif t == "decimal":
                number = float(value)
            else:
                number = 0.0
        except ValueError:
            return f"not a {t}"
        if t in ("integer", "decimal"):
            if d.min is not None and number < d.min:
                return f"below minimum {d.min:g}"
            if d.max is not None and number > d.max:
                return f"above maximum {d.max:g}"
        if t == "boolean" and value not in ("true", "false"):
            return "not true/false"
        if t == "OptionList" and d.values_list and value not in d.values_list:
            return "not in valuesList"
        if t in ("MemberList", "SequenceList") and d.values_list:
            items = value.split(",") if value else []
            if any(x not in d.values_list for x in items):
                return "member not in valuesList"
            if len(set(items)) != len(items):
                return "duplicate member"
        if d.max_len is not None and len(value) > d.max_len:
            return f"longer than {d.max_len}"
        extra = self.validators.get(d.key)
        return extra(value) if extra else None

    def set_from_csms(self, d: VarDef, value: str) -> tuple[str, str]:
        """Apply a SetVariables item; returns (SetVariableStatus, reasonCode)."""
        if d.mutability == "ReadOnly":
            return "Rejected", "ReadOnly"
        problem = self.check(d, value)
        if problem is not None:
            return "Rejected", "InvalidValue"
        self._values[d.key] = value
        self.store.set_variable(d.key, value)
        return ("RebootRequired" if d.reboot_required else "Accepted"), ""

    def report_item(self, d: VarDef) -> dict[str, Any]:
        """One ReportDataType entry for NotifyReport."""
        attr: dict[str, Any] = {
            "type": "Actual",
            "mutability": d.mutability,
            "persistent": True,
            "constant": d.constant,
        }
        if d.mutability != "WriteOnly":
            attr["value"] = self._values[d.key][:2500]
        return {
            "component": d.component_json(),
            "variable": d.variable_json(),
            "variableAttribute": [attr],
            "variableCharacteristics": d.characteristics_json(),
        }
