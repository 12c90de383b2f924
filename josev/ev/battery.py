"""The simulated EV battery and behaviour knobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Battery:
    """A simple battery: state of charge moves with the energy delivered."""

    capacity_wh: float = 60_000.0
    soc: float = 30.0
    target_soc: float = 80.0
    voltage: float = 400.0
    max_voltage: float = 450.0
    max_current: float = 125.0
    max_power: float = 50_000.0
    ac_max_current: float = 16.0
    ac_max_voltage: float = 400.0

    def charge(self, power_w: float, seconds: float) -> None:
        """Add ``power_w`` for ``seconds``."""
        self.soc = min(100.0, self.soc + power_w * seconds / 3600.0 / self.capacity_wh * 100.0)

    @property
    def energy_request_wh(self) -> float:
        """Energy still wanted up to the target SoC."""
        return max(0.0, (self.target_soc - self.soc) / 100.0 * self.capacity_wh)

    @property
    def full(self) -> bool:
        """Target reached."""
        return self.soc >= self.target_soc


@dataclass(slots=True)
class Behaviour:
    """How the simulated EV behaves.

    ``loops`` charge-loop requests before stopping (0: until the battery is full); ``pause_after`` /
    ``renegotiate_after`` loops trigger a pause (ISO 15118-2) or an EV-initiated renegotiation;
    ``seconds_per_loop`` is the simulated time each loop represents for the battery.
    """

    evcc_id: str = "020000000001"
    loops: int = 5
    pause_after: int | None = None
    renegotiate_after: int | None = None
    seconds_per_loop: float = 60.0
    precharge_tolerance_v: float = 20.0
    max_ongoing: int = 120
    #: Pause before repeating a request (Ongoing / PreCharge loops), like a real EV; charge loops are not paced.
    repeat_interval_s: float = 0.05
    #: Pause before each charge-loop request (CurrentDemand / ChargingStatus / ChargeLoop); 0: as fast as possible.
    loop_interval_s: float = 0.0
    offer: tuple[str, ...] = ()
