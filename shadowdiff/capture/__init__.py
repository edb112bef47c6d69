"""Capture: packets (tshark via pyshark) -> TCP byte streams -> HTTP exchanges."""
