"""The bus: typed messages over MQTT 5 on a local mosquitto."""

from josev.bus.client import Bus, BusStats
from josev.bus.service import Service, ServiceRunner
from josev.bus.settings import BusSettings

__all__ = ["Bus", "BusSettings", "BusStats", "Service", "ServiceRunner"]
