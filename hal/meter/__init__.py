"""Energy meters over Modbus RTU (RS-485): register maps as data files, a pymodbus-based driver."""

from hal.meter.modbus import ModbusMeter
from hal.meter.regmap import RegisterMap, available_maps, load_map

__all__ = ["ModbusMeter", "RegisterMap", "available_maps", "load_map"]
