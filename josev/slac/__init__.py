"""ISO 15118-3 SLAC: frame codec, sans-IO EVSE and EV cores, modem supervision, raw-socket shell.

See docs/slac.md. Entry points: :class:`josev.slac.evse.EvseSlac`, :class:`josev.slac.ev.EvSlac`,
:class:`josev.slac.service.SlacService`; the modem emulator is :class:`josev.sim.modem.PlcEmulator`.
"""
