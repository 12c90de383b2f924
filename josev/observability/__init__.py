"""Observability: the V2G message log (exported as pcapng for Wireshark) and the one-screen station status."""
