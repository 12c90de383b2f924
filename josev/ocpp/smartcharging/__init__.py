"""OCPP 2.0.1 Smart Charging (K): charging profiles, their validation, the composite schedule per EVSE.

* :mod:`.profiles` - ChargingProfile validation (K01) and the installed-profile set (pure data, no I/O).
* :mod:`.composite` - evaluation of profiles (absolute / relative / recurring, stack levels) and the composite
  schedule per EVSE: min(ChargingStationMaxProfile, TxProfile or TxDefaultProfile, local limits, hardware
  limit), in A or W. Sans-IO: every function takes the station time as an argument.
* :mod:`.messages` - the CSMS messages (SetChargingProfile, ClearChargingProfile, GetChargingProfiles,
  GetCompositeSchedule), NotifyChargingLimit / ClearedChargingLimit, persistence in the OCPP store and the
  limit the station must apply now (a ``charging_limit`` station request).
"""
