"""Compatibility with GoReplay: its command lines, read without running anything."""
