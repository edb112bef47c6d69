"""Rule values. JSONPath expressions stay strings here; compare/ compiles them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from shadowdiff.traffic.templating import EndpointTemplater

ASSERTION_CHECKS = ("exists", "type", "min_length", "max_length", "matches", "equals")
NOISE_RELATIVE, NOISE_ABSOLUTE = 0.2, 0.0003  # Diffy's noise margins: 20 %, 0.03 %
JSON_TYPES = ("integer", "number", "string", "boolean", "null", "array", "object")


@dataclass(frozen=True, slots=True)
class Assertion:
    """One check on the candidate alone: `{path, <check>: expected}` or `{status: N}`."""

    check: str
    expected: Any
    path: str | None = None
    where: str = ""

    def describe(self) -> str:
        if self.check == "status":
            return f"status: {self.expected}"
        return f"{self.path} {self.check}: {self.expected!r}"


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """Everything the rules say about one endpoint, with `defaults` merged in."""

    match: str
    ignore: tuple[str, ...] = ()
    header_ignore: frozenset[str] = frozenset()
    header_compare: frozenset[str] = frozenset()
    unordered: tuple[str, ...] = ()
    array_keys: tuple[tuple[str, str], ...] = ()
    tolerance: tuple[tuple[str, float], ...] = ()
    assertions: tuple[Assertion, ...] = ()
    max_diff_rate: float | None = None
    replay: bool | None = None  # false: held back, never sent (None: as the defaults say)
    noise: tuple[float, float] | None = None  # Diffy's (relative, absolute) margins for noise
    redact_headers: tuple[str, ...] = ()  # defaults only: more headers to redact before storing
    redact_paths: tuple[str, ...] = ()  # defaults only: JSONPaths to redact before storing
    where: str = ""
    pattern: re.Pattern[str] = field(default=re.compile(".*"), compare=False)

    @property
    def replays(self) -> bool:
        return self.replay is not False

    @property
    def method(self) -> str:
        return self.match.split(" ", 1)[0]

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and bool(self.pattern.fullmatch(path))

    def merged_into(self, base: EndpointRule, inherit_rate: bool = False) -> EndpointRule:
        """This rule over `base` (the defaults): lists add up. `max_diff_rate` stays the
        endpoint's own (None when unset): the gate takes it, else `--max-diff-rate`, else the
        defaults' value (`RuleSet.thresholds`). Defaults merged into defaults inherit it."""
        rate = self.max_diff_rate
        if rate is None and inherit_rate:
            rate = base.max_diff_rate
        return replace(
            self,
            ignore=base.ignore + self.ignore,
            header_ignore=base.header_ignore | self.header_ignore,
            header_compare=base.header_compare | self.header_compare,
            unordered=base.unordered + self.unordered,
            array_keys=base.array_keys + self.array_keys,
            tolerance=base.tolerance + self.tolerance,
            assertions=base.assertions + self.assertions,
            max_diff_rate=rate,
            replay=base.replay if self.replay is None else self.replay,
            noise=base.noise if self.noise is None else self.noise,
            redact_headers=base.redact_headers + self.redact_headers,
            redact_paths=base.redact_paths + self.redact_paths,
        )


_PARAM = re.compile(r"\{[^{}/]+\}")


def compile_template(path: str) -> re.Pattern[str]:
    """`/api/users/{id}` -> a regex: `{x}` is one segment, `**` the rest (possibly empty).

    A trailing slash is optional on both sides: `/api/users/` and `/api/users` are one path.
    """
    parts = []
    for segment in path.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:/.*)?")
        elif segment:
            literals = _PARAM.split(segment)  # `{id}.json`: a parameter inside a segment
            parts.append("/" + "[^/]+".join(re.escape(text) for text in literals))
    pattern = "".join(parts)
    return re.compile(pattern if pattern.endswith("(?:/.*)?") else pattern + "/?")


def specificity(match: str) -> tuple[int, ...]:
    """Sort key: at the first segment where two templates differ, a literal beats a segment
    with a parameter in it (`{id}.json`), that beats `{x}`, `{x}` beats the end of a template
    and the end beats `**` (which may match nothing):
    `/a/b` and `/a/{x}` come before `/a`, and `/a` before `/a/**`."""
    method, _, path = match.partition(" ")
    ranks = [_rank(segment) for segment in path.strip("/").split("/")]
    return (*ranks, 3, 1 if method == "*" else 0)


def _rank(segment: str) -> int:
    if segment == "**":
        return 4
    if _PARAM.fullmatch(segment):
        return 2
    return 1 if _PARAM.search(segment) else 0  # `{id}.json` beats `{x}`, loses to a literal


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Endpoint rules in match order (most specific first) plus the defaults."""

    endpoints: tuple[EndpointRule, ...] = ()
    defaults: EndpointRule = EndpointRule(match="* /**")
    # names the endpoints of requests no rule matches, learning from them (run state)
    templater: EndpointTemplater | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.templater is None:
            object.__setattr__(self, "templater", EndpointTemplater())

    def resolve(self, method: str, path: str) -> EndpointRule:
        """The rule for a request; unmatched requests get the defaults under an endpoint
        inferred from the traffic (`GET /api/users/{id}` for `/api/users/17` and `/42`:
        traffic/templating.py). A rule's match always wins.

        A query string is never part of the match (nor of the endpoint name).
        """
        path = path.partition("?")[0] or "/"
        for rule in self.endpoints:
            if rule.matches(method, path):
                return rule
        return replace(self.defaults, match=self._name(method, path), where="")

    def learn(self, method: str, path: str) -> None:
        """See a request before naming any (a recording's first pass), so that endpoints
        folded by cardinality get one name from the first exchange on."""
        path = path.partition("?")[0] or "/"
        if self.templater is not None and not any(r.matches(method, path) for r in self.endpoints):
            self.templater.observe(method, path)

    def _name(self, method: str, path: str) -> str:
        if self.templater is None:
            return f"{method.upper()} {path}"
        self.templater.observe(method, path)
        return self.templater.template(method, path)

    def noise_thresholds(self) -> dict[str, list[float]]:
        """(relative, absolute) noise margins per endpoint match that sets them, plus `*`
        for the defaults (when they set them)."""
        margins = {r.match: list(r.noise) for r in self.endpoints if r.noise is not None}
        if self.defaults.noise is not None:
            margins["*"] = list(self.defaults.noise)
        return margins

    def thresholds(self) -> dict[str, float]:
        """max_diff_rate per endpoint match, plus `*` for the default."""
        rates = {r.match: r.max_diff_rate for r in self.endpoints if r.max_diff_rate is not None}
        return {**rates, "*": self.defaults.max_diff_rate or 0.0}
