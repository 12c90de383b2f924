"""Driver for the chargebyte Charge Control C: sysfs PWM, IIO ADC and GPIO character-device lines."""

from hal.ccc.board import CccBoard
from hal.ccc.config import CccChannelConfig, CccConfig
from hal.ccc.gpio import GpioBackend, GpiodBackend, MemoryGpio

__all__ = ["CccBoard", "CccChannelConfig", "CccConfig", "GpioBackend", "GpiodBackend", "MemoryGpio"]
