"""Simulators of what surrounds a charging station, for the reference station (``josev station --sim``), the
demo, ``josev station-sim`` and the tests; the station's own services never need them on a real board:

* :mod:`josev.sim.board`: the simulated car's pilot and plug on the HAL simulator board (``SimEvBridge``) and a
  SLAC stand-in that takes the link as matched (``SlacLinkUp``);
* :mod:`josev.sim.supply`: the DC power module and authorization stand-in of the SECC (``[secc] sim_supply``);
* :mod:`josev.sim.coordinator`: a coordinator stand-in for the SECC alone (``josev station --stack lite``);
* :mod:`josev.sim.csms`: an OCPP 2.0.1 CSMS stand-in on loopback;
* :mod:`josev.sim.modem` (sans-IO), :mod:`josev.sim.modem_shell` (raw sockets), :mod:`josev.sim.modem_loopback`
  (in-process, virtual clock): the HomePlug Green PHY modem emulator.

The board simulator itself is :mod:`hal.sim` (``hal`` imports nothing from ``josev``); the EV simulator is
:mod:`josev.ev`. :mod:`josev.services.builder` adds these stand-ins to a station built from its configuration.
"""
