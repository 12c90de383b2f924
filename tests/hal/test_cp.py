"""Control-pilot classification: bands, gaps, hysteresis, debounce, diode check; proximity coding."""

from __future__ import annotations

import pytest

from hal.cp import BANDS, CpClassifier, nominal_state, pp_ampacity
from hal.types import CpState

NOMINAL = {CpState.A: 12.0, CpState.B: 9.0, CpState.C: 6.0, CpState.D: 3.0, CpState.E: 0.0, CpState.F: -12.0}


@pytest.mark.parametrize(
    ("volts", "state"),
    [
        (14.0, CpState.A),
        (12.0, CpState.A),
        (11.0, CpState.A),
        (10.5, None),
        (10.0, CpState.B),
        (8.0, CpState.B),
        (7.5, None),
        (6.0, CpState.C),
        (4.5, None),
        (3.0, CpState.D),
        (1.5, None),
        (0.0, CpState.E),
        (-5.0, None),
        (-12.0, CpState.F),
        (-14.0, CpState.F),
    ],
)
def test_nominal_bands(volts: float, state: CpState | None) -> None:
    assert nominal_state(volts) == state


@pytest.mark.parametrize("prev", list(CpState))
@pytest.mark.parametrize("new", list(CpState))
def test_every_state_change_with_debounce(prev: CpState, new: CpState) -> None:
    cls = CpClassifier(hysteresis_v=0.5, debounce=2)
    assert cls.feed(NOMINAL[prev]).state is prev
    first = cls.feed(NOMINAL[new]).state
    assert first is prev  # one sample is not enough (unless nothing changed)
    assert cls.feed(NOMINAL[new]).state is new


@pytest.mark.parametrize("state", [CpState.A, CpState.B, CpState.C, CpState.D])
def test_hysteresis_holds_state_in_the_gap(state: CpState) -> None:
    lo, hi = BANDS[state]
    cls = CpClassifier(hysteresis_v=0.4, debounce=1)
    cls.feed((lo + hi) / 2)
    # just outside the band (within hysteresis) on either side: state kept
    assert cls.feed(lo - 0.3).state is state
    if state is not CpState.A:
        assert cls.feed(hi + 0.3).state is state
    # in the gap beyond hysteresis: still kept (ambiguous), no flapping
    assert cls.feed(lo - 0.6).state is state


def test_noise_at_band_edge_does_not_flap() -> None:
    cls = CpClassifier(hysteresis_v=0.5, debounce=1)
    cls.feed(9.0)
    seen = {cls.feed(v).state for v in [10.2, 10.4, 10.0, 10.45, 9.9, 10.3]}
    assert seen == {CpState.B}
    assert cls.feed(11.2).state is CpState.A
    seen = {cls.feed(v).state for v in [10.8, 10.6, 10.9, 11.0]}
    assert seen == {CpState.A}


def test_diode_check_only_with_pwm_and_vehicle() -> None:
    cls = CpClassifier(debounce=1)
    assert not cls.feed(9.0, -12.0, pwm=True).diode_fault
    assert cls.feed(9.0, -9.0, pwm=True).diode_fault
    assert not cls.feed(9.0, None, pwm=False).diode_fault
    assert not cls.feed(12.0, -3.0, pwm=True).diode_fault  # state A: nothing to check


def test_classifier_arguments() -> None:
    with pytest.raises(ValueError):
        CpClassifier(hysteresis_v=0.8)
    with pytest.raises(ValueError):
        CpClassifier(debounce=0)


@pytest.mark.parametrize(
    ("ohms", "amps"),
    [
        (None, None),
        (50.0, None),
        (100.0, 63.0),
        (220.0, 32.0),
        (680.0, 20.0),
        (1500.0, 13.0),
        (3000.0, None),
        (150.0, None),
    ],
)
def test_pp_coding(ohms: float | None, amps: float | None) -> None:
    assert pp_ampacity(ohms) == amps
