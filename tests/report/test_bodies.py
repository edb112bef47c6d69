"""Messages made readable (pure): JSON lines with their paths, marking, excerpts, text and
binary bodies."""

from __future__ import annotations

import gzip
import itertools
import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.compare.diff import format_path
from shadowdiff.compare.model import Difference
from shadowdiff.report.bodies import (
    CONTEXT,
    HEAD_LINES,
    MAX_LINE,
    MAX_LINES,
    MAX_TEXT,
    Line,
    excerpt,
    is_marked,
    json_lines,
    keyed_names,
    show_body,
    show_request,
    show_response,
)
from shadowdiff.testing import make_request, make_response

NOTHING: frozenset[str] = frozenset()


def paths_of(value: Any, keys: frozenset[str] = NOTHING) -> dict[str, frozenset[str]]:
    """line text (stripped) -> the paths it answers to."""
    return {text.strip(): paths for paths, text in json_lines(value, keys)}


# json_lines


def test_json_lines_is_pretty_json_with_a_path_per_line() -> None:
    value = {"id": 3, "tags": ["a", "b"], "meta": {"at": None}, "empty": {}, "none": []}
    pairs = json_lines(value)
    assert "\n".join(text for _, text in pairs) == json.dumps(value, indent=2)
    assert [sorted(paths) for paths, _ in pairs] == [
        ["$"],
        ["$.id"],
        ["$.tags"],
        ["$.tags[0]"],
        ["$.tags[1]"],
        ["$.tags"],
        ["$.meta"],
        ["$.meta.at"],
        ["$.meta"],
        ["$.empty"],
        ["$.none"],
        ["$"],
    ]


def test_json_lines_scalars_and_top_level_arrays() -> None:
    assert json_lines(5) == [(frozenset({"$"}), "5")]
    assert json_lines([]) == [(frozenset({"$"}), "[]")]
    assert [sorted(p) for p, _ in json_lines([{"a": 1}])] == [
        ["$"],
        ["$[0]"],
        ["$[0].a"],
        ["$[0]"],
        ["$"],
    ]


def test_json_lines_keeps_unicode_readable() -> None:
    value = {"emoji": "🦊", "rtl": "שלום עולם", "cjk": "漢字かな"}
    texts = [text for _, text in json_lines(value)]
    assert '  "emoji": "🦊",' in texts
    assert '  "rtl": "שלום עולם",' in texts
    assert '  "cjk": "漢字かな"' in texts


def test_keys_that_are_no_identifiers_use_the_differs_bracket_notation() -> None:
    value = {"a b": 1, "it's": 2, "9lives": 3, "ünï": 4, "ok_1": 5}
    found = {p for paths, _ in json_lines(value) for p in paths}
    for key in value:
        assert format_path((key,)) in found


def test_keyed_aliases_only_for_the_keys_asked_for() -> None:
    value = {"items": [{"id": 3, "sku": "ab-1", "price": 2}, {"price": 9}]}
    plain = paths_of(value)
    assert plain['"price": 2'] == {"$.items[0].price"}
    keyed = paths_of(value, frozenset({"id", "sku"}))
    assert keyed['"price": 2'] == {
        "$.items[0].price",
        "$.items[id=3].price",
        "$.items[sku=ab-1].price",
    }
    # an element without the key answers to its index only
    assert keyed['"price": 9'] == {"$.items[1].price"}
    assert "$.items[id=3].id" in keyed['"id": 3,']


def test_keyed_aliases_of_nested_arrays_multiply() -> None:
    value = {"o": [{"id": 1, "lines": [{"id": 7, "n": 0}]}]}
    paths = paths_of(value, frozenset({"id"}))['"n": 0']
    assert paths == {
        "$.o[0].lines[0].n",
        "$.o[0].lines[id=7].n",
        "$.o[id=1].lines[0].n",
        "$.o[id=1].lines[id=7].n",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        # keys starting with NUL are the differ's own marker for keyed elements
        | st.dictionaries(
            st.text(max_size=4).filter(lambda k: k[:1] != "\x00"), children, max_size=3
        )
    ),
    max_leaves=12,
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


@given(json_values)
def test_every_leaf_the_differ_can_name_has_a_line(value: Any) -> None:
    pairs = json_lines(value)
    assert json.loads("\n".join(text for _, text in pairs)) == value
    found = {p for paths, _ in pairs for p in paths}
    for leaf in _leaves(value):
        assert format_path(leaf) in found


# is_marked and keyed_names


@pytest.mark.parametrize(
    ("path", "differing", "marked"),
    [
        ("$.a", {"$.a"}, True),
        ("$.a.b", {"$.a"}, True),  # inside a differing object
        ("$.a[3]", {"$.a"}, True),  # inside a differing array
        ("$.ab", {"$.a"}, False),  # a sibling sharing a prefix
        ("$.a", {"$.a.b"}, False),  # the parent of a differing path
        ("$", {"$.a"}, False),
        ("$.x", {"$"}, True),  # the whole body differs
        ("$.a", set(), False),
        ("$.items[id=3].price", {"$.items[id=3]"}, True),
    ],
)
def test_is_marked(path: str, differing: set[str], marked: bool) -> None:
    assert is_marked(frozenset({path}), frozenset(differing)) is marked


def test_a_line_is_marked_when_any_of_its_aliases_differs() -> None:
    assert is_marked(frozenset({"$.items[0].p", "$.items[id=3].p"}), frozenset({"$.items[id=3]"}))


def test_keyed_names() -> None:
    paths = frozenset({"$.items[id=3].price", "$.o[sku=a-b].l[line_no=2]", "$.x[0]", "status"})
    assert keyed_names(paths) == {"id", "sku", "line_no"}


# excerpt


def numbered(count: int, marked: set[int] = set()) -> list[Line]:  # noqa: B006
    return [Line(str(i), i in marked) for i in range(count)]


def shown_numbers(lines: list[Line]) -> list[int | None]:
    return [None if line.gap else int(line.text) for line in lines]


def test_a_short_message_is_shown_whole() -> None:
    lines = numbered(MAX_LINES, {5})
    assert excerpt(lines) == lines


def test_excerpt_keeps_the_head_and_a_window_around_each_marked_line() -> None:
    lines = numbered(1000, {500, 800})
    shown = excerpt(lines)
    head = list(range(HEAD_LINES))
    first = list(range(500 - CONTEXT, 500 + CONTEXT + 1))
    second = list(range(800 - CONTEXT, 800 + CONTEXT + 1))
    assert shown_numbers(shown) == [*head, None, *first, None, *second, None]
    assert [line.marked for line in shown if line.text in ("500", "800")] == [True, True]
    assert all(line.text == "…" for line in shown if line.gap)


def test_windows_that_touch_merge_and_the_last_line_needs_no_gap_after_it() -> None:
    lines = numbered(400, {300, 304, 399})
    numbers = shown_numbers(excerpt(lines))
    assert numbers[-1] == 399
    assert numbers[HEAD_LINES + 1 :] == [*range(297, 308), None, *range(396, 400)]


def test_a_marked_line_inside_the_head_needs_no_window_of_its_own() -> None:
    numbers = shown_numbers(excerpt(numbered(300, {2})))
    assert numbers == [*range(HEAD_LINES), None]


def test_excerpt_of_a_message_marked_everywhere_stays_bounded() -> None:
    shown = excerpt(numbered(5000, set(range(0, 5000, 2))))
    assert len([line for line in shown if not line.gap]) == MAX_LINES
    assert shown[-1].gap


def test_unmarked_long_message_shows_its_head() -> None:
    assert shown_numbers(excerpt(numbered(500))) == [*range(HEAD_LINES), None]


# show_response / show_body


def test_no_response() -> None:
    shown = show_response(None, NOTHING)
    assert (shown.head, shown.body, shown.note) == ([], [], "no response")


def test_status_header_and_json_lines_are_marked() -> None:
    raw = make_response(
        500, json={"id": 1, "name": "x"}, headers=[("X-Thing", "1")], reason="Oops"
    ).to_bytes()
    shown = show_response(raw, frozenset({"status", "headers.content-type", "$.name"}))
    assert shown.head[0] == Line("HTTP/1.1 500 Oops", True)
    assert Line("Content-Type: application/json", True) in shown.head
    assert Line("X-Thing: 1", False) in shown.head
    assert [line.text for line in shown.body if line.marked] == ['  "name": "x"']
    assert shown.note == "JSON, 19 bytes"


def test_differences_found_through_array_keys_mark_their_lines() -> None:
    raw = make_response(json={"items": [{"id": 9, "p": 1}, {"id": 3, "p": 2}]}).to_bytes()
    shown = show_response(raw, frozenset({"$.items[id=3].p"}))
    assert [line.text.strip() for line in shown.body if line.marked] == ['"p": 2']


def test_a_json_body_that_is_not_json_is_text() -> None:
    response = make_response(body=b"oops, <b>not</b> json", content_type="application/json")
    lines, note = show_body(response, frozenset({"body"}))
    assert lines == [Line("oops, <b>not</b> json", True)]
    assert note == "text, 21 bytes"


def test_hostile_text_is_kept_as_text_for_the_template_to_escape() -> None:
    body = '<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n"></pre><script>'
    lines, note = show_body(make_response(body=body.encode(), content_type="text/html"), NOTHING)
    assert [line.text for line in lines] == body.splitlines()
    assert note.startswith("text, ")


def test_unicode_text_and_json() -> None:
    text = "🦊 שלום 漢字"
    lines, _ = show_body(make_response(body=text.encode(), content_type="text/plain"), NOTHING)
    assert lines == [Line(text)]
    lines, _ = show_body(make_response(json={"t": text}), NOTHING)
    assert '  "t": "🦊 שלום 漢字"' in [line.text for line in lines]


def test_empty_body() -> None:
    assert show_body(make_response(204), NOTHING) == ([], "empty body")


def test_binary_bodies_are_shown_as_hex() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    lines, note = show_body(make_response(body=data, content_type="image/png"), frozenset({"body"}))
    assert note == f"binary, {len(data):,} bytes (first 256 in hex)"
    assert len(lines) == 1 and lines[0].marked
    assert lines[0].text.startswith("8950 4e47 0d0a 1a0a 0000")
    assert "\x00" not in lines[0].text


def test_undeclared_gzip_is_binary_even_with_a_json_content_type() -> None:
    packed = gzip.compress(json.dumps({"a": list(range(100))}).encode(), mtime=0)
    for content_type in ("application/json", None):
        lines, note = show_body(make_response(body=packed, content_type=content_type), NOTHING)
        assert note.startswith("binary, ")
        assert lines[0].text.startswith("1f8b")


def test_declared_gzip_is_decoded() -> None:
    packed = gzip.compress(b'{"a": 1}')
    response = make_response(
        body=packed, content_type="application/json", headers=[("Content-Encoding", "gzip")]
    )
    lines, note = show_body(response, frozenset({"$.a"}))
    assert [line.text for line in lines if line.marked] == ['  "a": 1']
    assert note == "JSON, 8 bytes"


def test_gzip_declared_but_broken_says_so_and_shows_hex() -> None:
    response = make_response(
        body=b"\x00\x01not gzip", content_type="text/plain", headers=[("Content-Encoding", "gzip")]
    )
    lines, note = show_body(response, NOTHING)
    assert note.startswith("cannot decode: ")
    assert lines[0].text.startswith("0001")


def test_mostly_invalid_utf8_without_nul_is_binary() -> None:
    data = bytes(range(128, 256)) * 3
    _, note = show_body(make_response(body=data, content_type="text/plain"), NOTHING)
    assert note.startswith("binary, ")


def test_latin1_text_with_few_odd_bytes_is_text() -> None:
    data = ("plain words " * 40).encode() + "caf\xe9".encode("latin-1")
    lines, note = show_body(make_response(body=data, content_type="text/plain"), NOTHING)
    assert note.startswith("text, ") and lines[0].text.endswith("caf\ufffd")


def test_an_unparseable_response_is_shown_as_text_with_a_note() -> None:
    shown = show_response(b"garbage that is no HTTP\r\n\r\n", NOTHING)
    assert shown.note.startswith("unreadable response: ")
    assert shown.body[0].text.startswith("garbage")


def test_a_200_kb_json_body_is_cut_to_an_excerpt_around_its_difference() -> None:
    items = [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(4500)]
    value = {"items": items}
    response = make_response(json=value)
    assert len(response.body) > 200_000
    shown = show_response(response.to_bytes(), frozenset({"$.items[3000].price"}))
    assert shown.note == f"JSON, {len(response.body):,} bytes, excerpt"
    assert len(shown.body) <= MAX_LINES
    assert [line.text.strip() for line in shown.body if line.marked] == ['"price": 4500.0']
    assert sum(len(line.text) for line in shown.body) < 2_000


def test_a_long_json_string_is_clipped() -> None:
    raw = make_response(json={"blob": "x" * 200_000, "n": 1}).to_bytes()
    shown = show_response(raw, frozenset({"$.blob"}))
    blob = next(line for line in shown.body if line.marked)
    assert blob.text.startswith('  "blob": "xxx')
    assert len(blob.text) < MAX_LINE + 40
    assert blob.text.endswith("(200,013 characters)")


def test_a_huge_header_is_clipped() -> None:
    raw = make_response(json={}, headers=[("Set-Cookie", "c=" + "v" * 50_000)]).to_bytes()
    assert all(len(line.text) < MAX_LINE + 40 for line in show_response(raw, NOTHING).head)


def test_json_nested_too_deep_to_walk_is_shown_as_text() -> None:
    for depth in (990, 5_000):
        body = b"[" * depth + b"]" * depth
        response = make_response(body=body, content_type="application/json")
        lines, note = show_body(response, NOTHING)
        assert lines and note.startswith(("JSON", "text"))


def test_a_large_text_body_is_cut() -> None:
    body = "\n".join(f"line {i}" for i in range(50_000)).encode()
    lines, note = show_body(make_response(body=body, content_type="text/plain"), NOTHING)
    assert note == f"text, {len(body):,} bytes (first {MAX_TEXT:,} shown)"
    assert sum(len(line.text) for line in lines) <= MAX_TEXT


def test_the_differences_of_a_real_diff_mark_their_lines() -> None:
    """Paths as the differ writes them find their lines."""
    value = {"a b": {"c": [1, {"d": 2}]}}
    path = format_path(("a b", "c", 1, "d"))
    difference = Difference(path, "value_changed", 2, 3)
    lines, _ = show_body(make_response(json=value), frozenset({difference.path}))
    assert [line.text.strip() for line in lines if line.marked] == ['"d": 2']


# show_request


def test_show_request_head_and_body() -> None:
    raw = make_request("POST", "/api/cart", json={"sku": "<b>"}).to_bytes()
    head, body = show_request(raw)
    assert head[0] == "POST /api/cart HTTP/1.1"
    assert "Content-Type: application/json" in head
    assert body == '{"sku":"<b>"}'


def test_show_request_without_body_binary_and_long_bodies() -> None:
    assert show_request(make_request().to_bytes())[1] == ""
    binary = make_request("POST", "/u", body=b"\x00\x01" * 100).to_bytes()
    assert show_request(binary)[1] == "<binary body, 200 bytes>"
    long = make_request("POST", "/u", body=b"a" * (MAX_TEXT + 5)).to_bytes()
    text = show_request(long)[1]
    assert text == "a" * MAX_TEXT + "…"


paths = st.lists(
    st.sampled_from([".a", ".b", "[0]", "[1]", "[id=3]", "['x.y']"]), min_size=0, max_size=4
).map(lambda steps: "$" + "".join(steps))


@given(st.frozensets(paths, max_size=3), st.frozensets(paths, max_size=6))
def test_is_marked_means_equal_to_or_inside_a_differing_path(
    line: frozenset[str], differing: frozenset[str]
) -> None:
    inside = any(p == d or p.startswith((d + ".", d + "[")) for p in line for d in differing)
    assert is_marked(line, differing) is inside


def test_thousands_of_differences_cost_little_per_line() -> None:
    """Each line looks up its own ancestors; it does not scan every differing path."""
    value = {"items": [{"id": i, "p": i} for i in range(5000)]}
    differing = frozenset(f"$.items[{i}].p" for i in range(5000))
    started = time.perf_counter()
    lines, note = show_body(make_response(json=value), differing)
    assert time.perf_counter() - started < 5  # a scan of every path took minutes
    assert note.endswith(", excerpt")
    assert len([line for line in lines if not line.gap]) == MAX_LINES


@given(st.lists(st.booleans(), max_size=600))
def test_excerpt_is_an_ordered_selection_with_single_gaps(marks: list[bool]) -> None:
    lines = [Line(str(i), m) for i, m in enumerate(marks)]
    shown = excerpt(lines)
    numbers = [int(line.text) for line in shown if not line.gap]
    assert numbers == sorted(set(numbers))
    assert len(numbers) <= MAX_LINES
    assert all(not (a.gap and b.gap) for a, b in itertools.pairwise(shown))
    if len(lines) <= MAX_LINES:
        assert shown == lines
    else:
        marked = [i for i, m in enumerate(marks) if m]
        kept = set(numbers)
        if len(kept) < MAX_LINES:  # nothing cut for the limit: every marked line is there
            assert set(marked) <= kept
        for a, b in itertools.pairwise(shown):  # a gap stands for lines left out
            if not a.gap and not b.gap:
                assert int(b.text) == int(a.text) + 1
