"""Header comparison: case-insensitive names, volatile headers ignored unless compared."""

from __future__ import annotations

import re

from shadowdiff.compare.model import Difference
from shadowdiff.http1 import HeaderPairs
from shadowdiff.rules.model import EndpointRule

# Headers that differ between any two answers of the same build, or only carry framing.
VOLATILE = frozenset(
    {
        "date",
        "server",
        "age",
        "expires",
        "last-modified",
        "etag",
        "via",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "x-request-id",
        "x-trace-id",
        "x-correlation-id",
        "x-amzn-trace-id",
        "x-amzn-requestid",
        "traceparent",
        "tracestate",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-cloud-trace-context",
        "x-runtime",
        "x-response-time",
        "cf-ray",
        "x-cache",
        "x-served-by",
    }
)
_COOKIE_DATES = re.compile(r";\s*(expires|max-age)=[^;]*", re.IGNORECASE)


def header_values(headers: HeaderPairs) -> dict[str, str]:
    """Lower-cased name -> its values joined; Set-Cookie sorted, expiry removed."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        key = name.lower()
        if key == "set-cookie":
            value = _COOKIE_DATES.sub("", value)
        grouped.setdefault(key, []).append(value.strip())
    return {k: "\n".join(sorted(v) if k == "set-cookie" else v) for k, v in grouped.items()}


def diff_headers(
    baseline: HeaderPairs, candidate: HeaderPairs, rule: EndpointRule
) -> list[Difference]:
    old, new = header_values(baseline), header_values(candidate)
    ignored = (VOLATILE | rule.header_ignore) - rule.header_compare
    if "content-length" not in rule.header_compare:
        # equal bodies: framing only; different bodies: the body differences say what changed
        ignored |= {"content-length"}
    names = sorted((old.keys() | new.keys()) - ignored)
    return [
        Difference(f"headers.{name}", "header_changed", old.get(name), new.get(name))
        for name in names
        if old.get(name) != new.get(name)
    ]
