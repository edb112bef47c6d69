"""Rules against a stored run: `rules suggest` (noise evidence -> rule edits, with a preview
of what they hide) and `rules check --run` (rules that matched nothing, ignores that hid
nothing, endpoints with traffic but no rule)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from shadowdiff.compare.headers import VOLATILE, header_values
from shadowdiff.compare.model import compared_count
from shadowdiff.compare.noise import margins_for
from shadowdiff.compare.normalize import canonical, compiled
from shadowdiff.errors import InputError
from shadowdiff.exchange import Request, Response
from shadowdiff.http1 import DecodeError, HttpParseError
from shadowdiff.recompare import FETCH, learn_requests, recompared, request_lines
from shadowdiff.rules import RuleSet, load_rules
from shadowdiff.rules.edit import edit_rules
from shadowdiff.rules.model import EndpointRule
from shadowdiff.rules.suggest import (
    ARRAY_KEYS,
    UNORDERED,
    EndpointFacts,
    Refusal,
    Suggestion,
    signal_fields,
    suggest,
    under,
)
from shadowdiff.store.noise import run_noise
from shadowdiff.store.query import RunInfo, field_counts, find_run, verdict_counts

LINT_SAMPLE = 200  # exchanges per rule read to tell whether an ignore hides anything


@dataclass(frozen=True, slots=True)
class Preview:
    """What the edited rules change in the run: differences hidden, on how many endpoints,
    and the signal differences they would hide (none, by construction: checked)."""

    hidden: int
    endpoints: int
    lost_signal: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Advice:
    run: str
    suggestions: list[Suggestion]
    refusals: list[Refusal]
    edits: dict[Path, tuple[str, str]]
    preview: Preview | None


def suggest_rules(db: Database, run_name: str | None, rules_dir: Path, write: bool) -> Advice:
    run = find_run(db, run_name)
    rules = load_rules(rules_dir)
    noise = run_noise(db, run.id)
    if not noise:
        raise InputError(
            f"--run {run.name}: no noise evidence in this store yet "
            "(replay with --noise first; later runs read the evidence of earlier ones)"
        )
    fields, verdicts = field_counts(db, run.id), verdict_counts(db, run.id)
    suggestions: list[Suggestion] = []
    refusals: list[Refusal] = []
    signal: set[tuple[str, str, str]] = set()
    margins = rules.noise_thresholds()
    for endpoint, evidence in noise.items():
        if endpoint not in verdicts:
            continue
        facts = EndpointFacts(
            endpoint,
            compared_count(verdicts[endpoint]),
            fields.get(endpoint, []),
            evidence,
            margins_for(margins, endpoint),
            _rule_of(rules, endpoint),
        )
        found, refused = suggest(facts)
        suggestions += found
        refusals += refused
        signal |= {(endpoint, path, kind) for path, kind in signal_fields(facts)}
    reordered = [(s.endpoint, s.path) for s in suggestions if s.action in (UNORDERED, ARRAY_KEYS)]
    # aligning an array changes what its elements are compared with: the check that no
    # signal is hidden covers the fields outside the arrays the suggestions align
    signal = {
        (e, p, k) for e, p, k in signal if not any(e == r and under(p, a) for r, a in reordered)
    }
    edits = edit_rules(rules_dir, rules, suggestions, run.name)
    preview = _preview(db, run, rules_dir, edits, signal) if edits else None
    if write:
        for path, (_, after) in edits.items():
            path.write_text(after, encoding="utf-8")
    return Advice(run.name, suggestions, refusals, edits, preview)


def _rule_of(rules: RuleSet, endpoint: str) -> EndpointRule | None:
    return next((rule for rule in rules.endpoints if rule.match == endpoint), None)


def _preview(
    db: Database,
    run: RunInfo,
    rules_dir: Path,
    edits: dict[Path, tuple[str, str]],
    signal: set[tuple[str, str, str]],
) -> Preview:
    """Judge the run again under the edited rules (a copy of the directory), without
    storing anything: what they hide, and that no signal difference is among it."""
    with tempfile.TemporaryDirectory(prefix="shadowdiff-rules-") as scratch:
        copy = Path(scratch)
        for path in [*rules_dir.glob("*.yaml"), *rules_dir.glob("*.yml")]:
            shutil.copy(path, copy / path.name)
        for path, (_, after) in edits.items():
            (copy / path.name).write_text(after, encoding="utf-8")
        rules = load_rules(copy)
    learn_requests(db, run.id, rules)
    hidden: Counter[str] = Counter()
    still: set[tuple[str, str, str]] = set()
    for endpoint, before, result in recompared(db, run.id, rules):
        differences = result.comparison.differences
        hidden[endpoint] += max(0, before - len(differences))
        still |= {(endpoint, d.field, d.kind) for d in differences}
    lost = sorted(f"{e}: {k} at {p}" for e, p, k in signal - still)
    return Preview(sum(hidden.values()), sum(1 for n in hidden.values() if n), lost)


# -- rules check --run ---------------------------------------------------------------------


def lint_rules(db: Database, run_name: str | None, rules: RuleSet) -> tuple[RunInfo, list[str]]:
    """Warnings about the rules, from the traffic of a run, as `file:line: message`."""
    run = find_run(db, run_name)
    learn_requests(db, run.id, rules)
    matched: Counter[str] = Counter()
    unruled: Counter[str] = Counter()
    for method, path in request_lines(db, run.id):
        rule = rules.resolve(method, path)
        (matched if rule.where else unruled)[rule.match] += 1
    warnings = [
        f"{rule.where}: {rule.match} matched no exchange of run {run.name}"
        for rule in rules.endpoints
        if not matched[rule.match]
    ]
    warnings += _idle_ignores(db, run, rules)
    warnings += [
        f"{endpoint}: {count} exchange(s) of run {run.name}, no rule (the defaults apply)"
        for endpoint, count in sorted(unruled.items(), key=lambda item: (-item[1], item[0]))
    ]
    return run, warnings


def _idle_ignores(db: Database, run: RunInfo, rules: RuleSet) -> list[str]:
    """Ignores (JSONPaths and headers) under which baseline and candidate never differed
    in the sampled exchanges of their rule: they hide nothing in this run."""
    samples: dict[str, list[tuple[Response, Response]]] = defaultdict(list)
    for request, baseline, candidate in _pairs(db, run.id):
        rule = rules.resolve(request.method, request.path)
        pairs = samples[rule.match if rule.where else "*"]
        if len(pairs) < LINT_SAMPLE:
            pairs.append((baseline, candidate))
    warnings = []
    everything = [pair for pairs in samples.values() for pair in pairs]
    checks = [(r, samples.get(r.match, []), _own(r, rules.defaults)) for r in rules.endpoints]
    checks.append((rules.defaults, everything, _own(rules.defaults, EndpointRule("* /**"))))
    for rule, pairs, (paths, headers) in checks:
        where, seen = rule.where or "defaults", f"{len(pairs)} exchange(s) of run {run.name}"
        warnings += [
            f"{where}: headers.ignore {name} is ignored anyway (a volatile header)"
            for name in headers
            if name in VOLATILE
        ]
        if not pairs:
            continue
        warnings += [
            f"{where}: ignore {path} hid nothing in {seen}"
            for path in paths
            if not any(_differs_at(path, *pair) for pair in pairs)
        ]
        warnings += [
            f"{where}: headers.ignore {name} hid nothing in {seen}"
            for name in headers
            if name not in VOLATILE and not any(_header_differs(name, *pair) for pair in pairs)
        ]
    return warnings


def _own(rule: EndpointRule, defaults: EndpointRule) -> tuple[list[str], list[str]]:
    """The JSONPath ignores and header ignores a rule adds to its defaults."""
    paths = [path for path in rule.ignore if path not in set(defaults.ignore)]
    return paths, sorted(rule.header_ignore - defaults.header_ignore)


def _header_differs(name: str, baseline: Response, candidate: Response) -> bool:
    return header_values(baseline.headers).get(name) != header_values(candidate.headers).get(name)


def _pairs(db: Database, run_id: int) -> Iterator[tuple[Request, Response, Response]]:
    sql = """SELECT request, baseline, candidate FROM exchanges WHERE run_id = ?
             AND baseline IS NOT NULL AND candidate IS NOT NULL ORDER BY id"""
    cursor = db.execute(sql, [run_id])
    while rows := cursor.fetchmany(FETCH):
        for request, baseline, candidate in rows:
            try:
                parsed = Request.parse(bytes(request))
                yield parsed, Response.parse(bytes(baseline)), Response.parse(bytes(candidate))
            except HttpParseError:
                continue


def _differs_at(path: str, baseline: Response, candidate: Response) -> bool:
    return _values_at(path, baseline) != _values_at(path, candidate)


def _values_at(path: str, response: Response) -> list[str]:
    try:
        body: Any = json.loads(response.content) if response.is_json else None
    except (ValueError, DecodeError):
        return []
    if body is None:
        return []
    return [canonical(match.value) for match in compiled(path).find(body)]
