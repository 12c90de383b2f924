"""The station's private MQTT broker (mosquitto): configuration and a runner."""

from josev.broker.config import BrokerFiles, write_config
from josev.broker.run import BrokerError, PrivateBroker, find_mosquitto, free_port, free_port_pair

__all__ = [
    "BrokerError",
    "BrokerFiles",
    "PrivateBroker",
    "find_mosquitto",
    "free_port",
    "free_port_pair",
    "write_config",
]
