"""josev: an open embedded EV charging-station stack (SLAC, SECC, OCPP 2.0.1, HAL) for Linux boards."""

__version__ = "0.1.0"
