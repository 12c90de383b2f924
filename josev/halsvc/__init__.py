"""The HAL bus service: publishes the board's state, executes commands, and holds the safe state when the
coordinator goes silent."""

from josev.halsvc.service import HalService, HalServiceConfig

__all__ = ["HalService", "HalServiceConfig"]
