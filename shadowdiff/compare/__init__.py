"""Comparison: normalise by rules, diff structurally, check assertions, decide a verdict."""

from shadowdiff.compare.model import AssertionResult, Comparison, Difference
from shadowdiff.compare.verdict import compare_responses

__all__ = ["AssertionResult", "Comparison", "Difference", "compare_responses"]
