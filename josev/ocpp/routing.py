"""The one routing table: CSMS-initiated action -> handler ``(station, payload, now) -> response | Deferred``.

Handlers run inside the receive loop and never block: anything slow (unlocking, downloads, uploads) is a
:class:`~josev.ocpp.core.Deferred` or an :class:`~josev.ocpp.effects.StartJob` effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from josev.ocpp import (
    authorization,
    availability,
    certificates,
    datatransfer,
    display,
    firmware,
    localauthlist,
    logs,
    monitoring,
    provisioning,
    reservation,
    security,
    tariffcost,
    transactions,
)
from josev.ocpp.smartcharging import messages as smartcharging

if TYPE_CHECKING:
    from josev.ocpp.core import Deferred, Station

Handler = Callable[["Station", dict[str, Any], float], "dict[str, Any] | Deferred"]

TABLE: dict[str, Handler] = {
    # B provisioning
    "GetVariables": provisioning.get_variables,
    "SetVariables": provisioning.set_variables,
    "GetBaseReport": provisioning.get_base_report,
    "GetReport": provisioning.get_report,
    "SetNetworkProfile": security.set_network_profile,
    "Reset": provisioning.reset,
    # C authorization
    "ClearCache": authorization.clear_cache,
    # D local authorization list
    "SendLocalList": localauthlist.send_local_list,
    "GetLocalListVersion": localauthlist.get_local_list_version,
    # E transactions
    "GetTransactionStatus": transactions.get_transaction_status,
    # F remote control
    "RequestStartTransaction": authorization.request_start,
    "RequestStopTransaction": authorization.request_stop,
    "TriggerMessage": provisioning.trigger_message,
    "UnlockConnector": availability.unlock_connector,
    # G availability
    "ChangeAvailability": availability.change_availability,
    # H reservation
    "ReserveNow": reservation.reserve_now,
    "CancelReservation": reservation.cancel_reservation,
    # I tariff and cost
    "CostUpdated": tariffcost.cost_updated,
    # K smart charging
    "SetChargingProfile": smartcharging.set_charging_profile,
    "ClearChargingProfile": smartcharging.clear_charging_profile,
    "GetChargingProfiles": smartcharging.get_charging_profiles,
    "GetCompositeSchedule": smartcharging.get_composite_schedule,
    # L firmware
    "UpdateFirmware": firmware.update_firmware,
    # M certificates
    "InstallCertificate": security.install_certificate,
    "GetInstalledCertificateIds": security.get_installed_certificate_ids,
    "DeleteCertificate": security.delete_certificate,
    # A02/A03 station certificates, M ISO 15118 certificates
    "CertificateSigned": certificates.certificate_signed,
    # N diagnostics
    "GetLog": logs.get_log,
    "CustomerInformation": datatransfer.customer_information,
    # N monitoring
    "SetVariableMonitoring": monitoring.set_variable_monitoring,
    "ClearVariableMonitoring": monitoring.clear_variable_monitoring,
    "SetMonitoringBase": monitoring.set_monitoring_base,
    "SetMonitoringLevel": monitoring.set_monitoring_level,
    "GetMonitoringReport": monitoring.get_monitoring_report,
    # O display messages
    "SetDisplayMessage": display.set_display_message,
    "GetDisplayMessages": display.get_display_messages,
    "ClearDisplayMessage": display.clear_display_message,
    # P data transfer
    "DataTransfer": datatransfer.data_transfer,
}


def describe() -> str:
    """The routing table as printable text."""
    return "\n".join(
        f"{a:28} -> {h.__module__.rsplit('.', 1)[-1]}.{h.__name__}" for a, h in sorted(TABLE.items())
    )
