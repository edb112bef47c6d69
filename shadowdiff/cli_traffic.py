"""The traffic flags of `replay` and `tee`, with GoReplay's names and semantics: several
targets with `|N` / `|N%`, filters, rewrites, limiters, middleware, split output, the
safe-method policy and `--exit-after`. They reach the command as one `traffic:
TrafficOptions` (and the targets, parsed, in it)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import click

from shadowdiff.replay.plan import parse_target
from shadowdiff.traffic.rates import parse_duration, split_rate
from shadowdiff.traffic.shaping import parse_shaping
from shadowdiff.traffic.stages import TrafficOptions

log = logging.getLogger(__name__)

# (flag, keyword of parse_shaping, help): each may be repeated unless it is a limiter
SHAPING_FLAGS = (
    ("--http-allow-url", "allow_url", "Replay only requests whose path+query match (regex)."),
    ("--http-disallow-url", "disallow_url", "Do not replay requests whose path+query match."),
    ("--http-allow-method", "allow_method", "Replay only these methods."),
    ("--http-allow-header", "allow_header", "'Name: regex': replay only requests matching."),
    ("--http-disallow-header", "disallow_header", "'Name: regex': drop requests matching."),
    ("--http-basic-auth-filter", "basic_auth_filter", "Regex on decoded Basic credentials."),
    ("--http-rewrite-url", "rewrite_url", "'regex:replacement' ($1 for groups)."),
    ("--http-rewrite-header", "rewrite_header", "'Name: regex,replacement'."),
    ("--http-set-header", "set_header", "'Name: value': set or overwrite a header."),
    ("--http-set-param", "set_param", "'name=value': set or overwrite a query parameter."),
)
LIMITERS = (
    ("--http-header-limiter", "header_limiter", "'Name: N%': keep N% of header values."),
    ("--http-param-limiter", "param_limiter", "'name: N%': keep N% of parameter values."),
)


def traffic_options(command: Callable[..., None]) -> Any:
    """Add the traffic flags; the command receives `traffic: TrafficOptions`."""

    @functools.wraps(command)
    def with_traffic(**values: Any) -> None:
        shaping = parse_shaping(
            **{key: values.pop(key) for _, key, _ in SHAPING_FLAGS + LIMITERS},
        )
        targets = tuple(
            (parse_target(url), rate)
            for url, rate in (split_rate(value, "--target") for value in values.pop("targets"))
        )
        exit_after = values.pop("exit_after")
        traffic = TrafficOptions(
            targets=targets,
            split_output=values.pop("split_output"),
            shaping=shaping,
            middleware=values.pop("middleware"),
            track_response=values.pop("track_response"),
            prettify=values.pop("prettify_http"),
            exit_after=parse_duration(exit_after, "--exit-after") if exit_after else None,
        )
        if traffic.track_response and not traffic.middleware:
            log.warning("--track-response: no --middleware to send the answers to (no effect)")
        command(traffic=traffic, **values)

    options: list[Callable[[Any], Any]] = [
        click.option(
            "--target",
            "targets",
            multiple=True,
            required=True,
            help="Candidate base URL, e.g. http://staging:8080 (repeatable: each request goes "
            "to every target, each its own run NAME@host:port); 'URL|N' caps it at N "
            "requests/s, 'URL|N%' samples N%.",
        ),
        click.option(
            "--split-output",
            is_flag=True,
            help="With several targets: each request to one of them in turn (GoReplay).",
        ),
        click.option(
            "--middleware",
            default=None,
            help="GoReplay middleware command ('CMD ARGS', split on spaces): gets every "
            "request and recorded response as hex lines; what it echoes goes on.",
        ),
        click.option(
            "--track-response",
            is_flag=True,
            help="Also send each candidate answer to the middleware (type 3, same id).",
        ),
        click.option(
            "--prettify-http",
            is_flag=True,
            help="De-chunk and decompress bodies before the middleware (GoReplay).",
        ),
        click.option("--exit-after", default=None, help="Stop after this long (30s, 5m, 1h30m)."),
    ]
    options += [
        click.option(flag, key, multiple=True, metavar="VALUE", help=text)
        for flag, key, text in SHAPING_FLAGS
    ]
    options += [
        click.option(flag, key, default=None, metavar="VALUE", help=text)
        for flag, key, text in LIMITERS
    ]
    for option in reversed(options):
        with_traffic = option(with_traffic)
    return with_traffic
