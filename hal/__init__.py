"""Hardware abstraction layer of the josev station: pilot, proximity, contactors, lock, RCD, meter.

``hal`` imports nothing from ``josev``.
"""
