"""The night/day composite on a DC EVSE (sans-IO, fake clock): the OCPP limit of each period, applied as the
coordinator's ``ocpp`` limit, caps the DC power and so the current target the car gets during CurrentDemand -
20 kW before 06:00, 10 kW after (the limit reaches the DC core as AC-equivalent amps, 3 x 230 V)."""

from __future__ import annotations

from josev.coordinator.dc import Dp
from josev.ocpp.smartcharging import composite as C
from tests.coordinator.dc_helpers import check_dc_invariants, dc_core, to_phase

NIGHT_DAY = C.Installed(
    0,
    {
        "id": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 20000.0},
                    {"startPeriod": 21600, "limit": 10000.0},
                ],
            }
        ],
    },
)
INFO = C.EvseInfo(phases=3, voltage_v=230.0, max_a=None)  # the coordinator applies the hardware limits itself


def test_dc_current_target_follows_the_schedule_at_the_boundary() -> None:
    c = dc_core(max_power_w=50000.0)
    t = to_phase(c, Dp.CHARGING)
    boundary = C.ts("2026-01-05T06:00:00Z")
    # before the boundary: 20 kW -> 28.9 A AC-equivalent -> 28.9 x 690 = 19941 W at the DC output
    amps, _ = C.limit_at([NIGHT_DAY], 1, boundary - 1, "A", INFO)
    assert amps == 28.9
    c.set_limit("ocpp", amps, t)
    c.ev_target("charge", 400.0, 100.0, t)  # the EV asks 40 kW
    assert abs(c.balanced_power_w() - 19941.0) < 0.01
    targets = c.dc_targets
    assert targets.enabled and targets.power_limit_achieved
    assert abs(targets.current_a - 19941.0 / 400.0) < 0.01  # 49.85 A
    # the composite says when the next change is due
    assert C.next_change([NIGHT_DAY], boundary - 1) == boundary
    amps, _ = C.limit_at([NIGHT_DAY], 1, boundary, "A", INFO)
    assert amps == 14.4  # 10 kW / 690 V
    c.set_limit("ocpp", amps, t + 1)
    c.ev_target("charge", 400.0, 100.0, t + 1)
    assert abs(c.dc_targets.current_a - 14.4 * 690 / 400.0) < 0.01  # 24.84 A
    check_dc_invariants(c)
