"""Rules: what rules/*.yaml say about each endpoint (loaded, validated, matched)."""

from shadowdiff.rules.load import load_rules
from shadowdiff.rules.model import Assertion, EndpointRule, RuleSet

__all__ = ["Assertion", "EndpointRule", "RuleSet", "load_rules"]
