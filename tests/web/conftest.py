"""Fixtures of the live-view tests: the network-namespace lab from tests/util/netns.py."""

from tests.util.netns import netns_lab

__all__ = ["netns_lab"]
