"""The station's private MQTT broker (mosquitto): configuration and a runner."""

from josev.broker.config import BrokerFiles, write_config
from josev.broker.run import BrokerError, PrivateBroker, find_mosquitto, free_port

__all__ = ["BrokerError", "BrokerFiles", "PrivateBroker", "find_mosquitto", "free_port", "write_config"]
