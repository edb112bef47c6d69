"""Replay: send recorded requests to a target with httpx, compare, store."""
