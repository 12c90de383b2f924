"""A V2G session that ends abnormally (``HlcFailed``) ends the HLC part, not the plug-in: the EVSE stays in HLC
(pilot 5 %, output off, contactor open) for the EV's next V2G session, up to ``v2g_retries`` times; a DC EVSE
never falls back to basic charging."""

from __future__ import annotations

import pytest

from hal.types import CpState, PilotMode
from josev.coordinator.dc import Dp
from josev.coordinator.states import In, St
from josev.coordinator.table import TABLE, Choice
from tests.coordinator.dc_helpers import check_dc_invariants, dc_core, to_phase
from tests.coordinator.helpers import reach


def test_table_says_hlc_failed_keeps_hlc_while_retries_remain() -> None:
    rule = TABLE[(St.HLC, In.HLC_FAILED)]
    assert isinstance(rule.next, Choice) and rule.next.guard == "v2g_retry" and rule.next.then is St.HLC
    rule = TABLE[(St.HLC_CHARGING, In.HLC_FAILED)]
    assert isinstance(rule.next, Choice) and rule.next.guard == "dc"


@pytest.mark.parametrize("fallback", [True, False])
def test_ac_hlc_failures_retry_then_give_up(fallback: bool) -> None:
    c, t = reach(St.HLC, basic_fallback=fallback, free_charging=True)
    sid = c.session.id if c.session else None
    for n in range(c.cfg.v2g_retries):
        t += 1.0
        c.hlc_failed(t, "FAILED")
        assert c.state is St.HLC, n
        assert c.pilot.mode is PilotMode.PWM and c.pilot.duty_percent == 5.0
        assert c.session is not None and c.session.id == sid and c.session.stop_reason is None
        assert c.session.v2g_failures == n + 1 and not c.session.hlc_failed
    t += 1.0
    c.hlc_failed(t, "sequence_timeout")
    assert c.state is (St.EF_PAUSE if fallback else St.FINISHED)
    assert c.session is not None and c.session.hlc_failed
    assert c.session.stop_reason == (None if fallback else "hlc_failed")


def test_dc_hlc_failure_at_precharge_shuts_the_output_and_accepts_a_new_cable_check() -> None:
    c = dc_core()
    t = to_phase(c, Dp.PRECHARGE)
    sid = c.session.id if c.session else None
    assert c.contactor_closed and c.dc_targets.enabled
    t += 0.1
    outs = c.hlc_failed(t, "FAILED")
    check_dc_invariants(c, outs)
    assert c.state is St.HLC and c.dc.phase is Dp.STOPPING and not c.dc_targets.enabled
    c.dc_measurement(380.0, 0.0, 10e6, t + 0.05)  # current at zero: open
    assert c.dc.phase is Dp.WELDING and not c.contactor_closed
    c.contactor_feedback(False, t + 0.1)
    c.dc_measurement(20.0, 0.0, None, t + 0.5)  # output voltage below 60 V
    assert c.dc.phase is Dp.OFF and c.state is St.HLC
    assert c.session is not None and c.session.id == sid and c.session.v2g_failures == 1
    # the EV's next V2G session: a new cable check, precharge and power delivery on the same plug-in
    t += 1.0
    c.cable_check(t)
    c.contactor_feedback(True, t)
    c.dc_measurement(450.0, 0.0, 10e6, t + 0.5)
    assert c.dc.phase is Dp.CHECKED
    c.ev_target("precharge", 380.0, 2.0, t + 0.6)
    c.dc_measurement(380.0, 0.0, 10e6, t + 0.7)
    c.hlc_power(True, t + 0.8)
    assert c.state is St.HLC_CHARGING and c.dc.phase is Dp.CHARGING


def test_dc_hlc_failure_while_charging_ramps_down_then_opens_and_stays_in_hlc() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CHARGING)
    c.dc_measurement(400.0, 100.0, 10e6, t)
    before = c.state
    assert before is St.HLC_CHARGING and c.contactor_closed
    outs = c.hlc_failed(t + 0.1, "connection_lost")
    check_dc_invariants(c, outs)
    after: St = c.state
    assert after is St.HLC and c.dc.phase is Dp.STOPPING
    assert c.contactor_closed and not c.dc_targets.enabled  # output off first, contactor still closed
    c.poll(t + 0.1 + c.dccfg.ramp_down_timeout_s)  # even if the current does not fall: open after the timeout
    assert not c.contactor_closed and c.dc.phase is Dp.WELDING
    assert c.session is not None and c.session.stop_reason is None and c.session.v2g_failures == 1


def test_dc_never_falls_back_to_basic_charging() -> None:
    c = dc_core({"basic_fallback": True, "v2g_retries": 0})
    t = to_phase(c, Dp.CHECKED)
    c.hlc_failed(t + 0.1, "FAILED")
    assert c.state is St.FINISHED
    assert c.session is not None and c.session.stop_reason == "hlc_failed"
    c.cp(CpState.C, t + 5.0)
    assert c.state is St.FINISHED and not c.contactor_closed


def test_v2g_retries_comes_from_the_coordinator_section() -> None:
    from josev.config import EvseConfig as EvseSection
    from josev.config import JosevConfig
    from josev.coordinator.factory import CoordinatorSection, evse_configs

    cfg = JosevConfig(
        evse=[EvseSection(id=1, kind="dc", plc_interface="eth1")], coordinator={"v2g_retries": 1}
    )
    (e,) = evse_configs(cfg, CoordinatorSection.model_validate(cfg.coordinator))
    assert e.v2g_retries == 1 and e.dc is not None
    assert CoordinatorSection().v2g_retries == 3
    with pytest.raises(ValueError, match="v2g_retries"):
        CoordinatorSection.model_validate({"v2g_retries": -1})
