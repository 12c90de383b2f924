"""The bus: typed messages over MQTT 5 on a local mosquitto."""

from josev.bus.admission import BusStats
from josev.bus.client import Bus
from josev.bus.service import Service, ServiceRunner
from josev.bus.settings import BusSettings

__all__ = ["Bus", "BusSettings", "BusStats", "Service", "ServiceRunner"]
