"""Software board and software EV behind the HAL interfaces, deterministic under a fake clock."""

from hal.sim.board import SimBoard, SimChannel
from hal.sim.clock import Clock, FakeClock, MonotonicClock
from hal.sim.ev import SimEv

__all__ = ["Clock", "FakeClock", "MonotonicClock", "SimBoard", "SimChannel", "SimEv"]
