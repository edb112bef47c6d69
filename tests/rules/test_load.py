"""Loading rules/*.yaml: the values it builds, and every problem as `file:line: message`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shadowdiff.errors import InputError, RulesError
from shadowdiff.rules import Assertion, RuleSet, load_rules

REPO_RULES = Path(__file__).parents[2] / "rules"

USERS = """\
# Accounts team.
endpoints:
  # Profiles: request ids are per request.
  - match: GET /api/users/{id}
    ignore:
      - $.request_id          # uuid4 per call
      - "$.items[*].updated_at"
    headers: {ignore: [X-Trace-Id], compare: [Content-Type]}
    unordered: [$.roles]
    array_keys: {$.items: id}
    tolerance: {$.balance: 0.001, "$.items[*].price": 1}
    assert:
      - {path: $.email, exists: true}
      - {path: $.roles, min_length: 1}
      - {path: $.id, type: integer}
      - {path: $.name, matches: '^[A-Z]', max_length: 40}
      - {path: $.ratio, equals: 1.5}
      - {status: [200, 304]}
    max_diff_rate: 0.01

  - match: get /api/users/me   # a literal beats {id}
"""

DEFAULTS = """\
# Service-wide settings.
defaults:
  headers: {ignore: [Date, Server]}
  ignore: [$.trace]
  assert:
    - {status: 200}
  max_diff_rate: 0.0
endpoints:
  - match: '* /api/health'
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the only line of `path` that holds `needle`."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines}"
    return lines[0]


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(directory)
    assert str(caught.value) == caught.value.problems[0]
    return caught.value.problems


def only_problem(directory: Path) -> str:
    problems = problems_of(directory)
    assert len(problems) == 1, problems
    return problems[0]


# --- what a valid directory gives --------------------------------------------------------------


def test_a_realistic_rules_directory(tmp_path: Path) -> None:
    write(tmp_path, "users.yaml", USERS)
    write(tmp_path, "defaults.yml", DEFAULTS)
    write(tmp_path, "README.md", "not rules: ignored")
    rules = load_rules(tmp_path)

    assert [r.match for r in rules.endpoints] == [
        "GET /api/users/me",
        "GET /api/users/{id}",
        "* /api/health",
    ]
    users = rules.resolve("GET", "/api/users/7")
    assert users.where == f"{tmp_path / 'users.yaml'}:4"
    assert users.ignore == ("$.trace", "$.request_id", "$.items[*].updated_at")
    assert users.header_ignore == {"date", "server", "x-trace-id"}
    assert users.header_compare == {"content-type"}
    assert users.unordered == ("$.roles",)
    assert users.array_keys == (("$.items", "id"),)
    assert users.tolerance == (("$.balance", 0.001), ("$.items[*].price", 1.0))
    assert [(a.check, a.path, a.expected) for a in users.assertions] == [
        ("status", None, [200]),  # from defaults, first
        ("exists", "$.email", True),
        ("min_length", "$.roles", 1),
        ("type", "$.id", "integer"),
        ("max_length", "$.name", 40),
        ("matches", "$.name", "^[A-Z]"),
        ("equals", "$.ratio", 1.5),
        ("status", None, [200, 304]),
    ]
    assert [a.where.rpartition(":")[2] for a in users.assertions[1:]] == [
        "13",
        "14",
        "15",
        "16",
        "16",
        "17",
        "18",
    ]
    assert users.max_diff_rate == 0.01

    me = rules.resolve("GET", "/api/users/me")
    assert me.match == "GET /api/users/me"
    assert me.where == f"{tmp_path / 'users.yaml'}:21"
    assert me.max_diff_rate is None  # the defaults' value applies through thresholds()
    assert me.ignore == ("$.trace",)

    assert rules.resolve("HEAD", "/api/health").match == "* /api/health"
    unmatched = rules.resolve("GET", "/api/other")
    assert unmatched.match == "GET /api/other"
    assert unmatched.header_ignore == {"date", "server"}
    # only endpoints that set their own rate; the rest take --max-diff-rate, else `*`
    assert rules.thresholds() == {"GET /api/users/{id}": 0.01, "*": 0.0}


def test_loaded_values_are_plain_python_values(tmp_path: Path) -> None:
    """ruamel's round-trip types (ScalarFloat, LiteralScalarString...) must not leak out:
    `equals` compares the type too, and a JSON body holds plain floats and strings."""
    write(
        tmp_path,
        "r.yaml",
        """\
        endpoints:
          - match: GET /a
            assert:
              - {path: $.f, equals: 1.5}
              - {path: $.n, equals: 1_000}
              - {path: $.h, equals: 0x1F}
              - path: $.s
                equals: |
                  two
                  lines
              - {path: $.o, equals: {a: [1.5, x]}}
              - {path: $.b, equals: true}
        """,
    )
    expected = [a.expected for a in load_rules(tmp_path).endpoints[0].assertions]
    assert expected == [1.5, 1000, 31, "two\nlines\n", {"a": [1.5, "x"]}, True]
    assert [type(e) for e in expected] == [float, int, int, str, dict, bool]
    assert type(expected[4]["a"][0]) is float


def test_an_empty_directory_or_empty_files_give_no_rules(tmp_path: Path) -> None:
    assert load_rules(tmp_path) == RuleSet()
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "comments.yaml", "# nothing yet\n")
    write(tmp_path, "none.yaml", "endpoints: []\n")
    assert load_rules(tmp_path) == RuleSet()


def test_defaults_from_several_files_add_up(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "defaults: {ignore: [$.a], max_diff_rate: 0.1}\n")
    write(tmp_path, "b.yaml", "defaults: {ignore: [$.b], headers: {ignore: [ETag]}}\n")
    defaults = load_rules(tmp_path).defaults
    assert defaults.ignore == ("$.a", "$.b")
    assert defaults.header_ignore == {"etag"}
    assert defaults.max_diff_rate == 0.1


def test_a_single_string_is_a_one_item_list(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "endpoints:\n  - {match: GET /a, ignore: $.x, unordered: $.y}\n")
    rule = load_rules(tmp_path).endpoints[0]
    assert (rule.ignore, rule.unordered) == (("$.x",), ("$.y",))


def test_one_assertion_may_hold_several_checks(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        "endpoints:\n  - {match: GET /a, assert: [{path: $.t, type: string, min_length: 2}]}\n",
    )
    checks = load_rules(tmp_path).endpoints[0].assertions
    assert checks == (
        Assertion("type", "string", "$.t", checks[0].where),
        Assertion("min_length", 2, "$.t", checks[0].where),
    )


def test_the_repository_rules_load_cleanly() -> None:
    rules = load_rules(REPO_RULES)
    assert rules.endpoints
    assert all(rule.where.startswith(str(REPO_RULES)) for rule in rules.endpoints)
    assert rules.resolve("GET", "/api/users/3").match == "GET /api/users/{id}"
    assert rules.resolve("GET", "/api/orders/3").ignore[-1] == "$.items[*].updated_at"
    assert "x-request-id" in rules.resolve("GET", "/api/unknown").header_ignore


# --- problems, each with its file and line ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        (
            """\
            endpoints:
              - match: GET /a
                colour: red
            """,
            "colour",
            "unknown key 'colour' (allowed: array_keys, assert, headers, ignore, match, "
            "max_diff_rate, noise, replay, tolerance, unordered)",
        ),
        (
            """\
            endpoints: []
            rules: []
            """,
            "rules",
            "unknown key 'rules' (allowed: defaults, endpoints)",
        ),
        (
            """\
            defaults:
              max_diff_rate: 0
              match: GET /x
            """,
            "match",
            "unknown key 'match' (allowed: array_keys, assert, headers, ignore, max_diff_rate, "
            "noise, redact, replay, tolerance, unordered)",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                headers:
                  ignore: [X-A]
                  keep: [X-B]
            """,
            "keep",
            "unknown key 'keep' (allowed: compare, ignore)",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                ignore:
                  - $.ok
                  - "$.items["
            """,
            "items[",
            "invalid JSONPath '$.items[': ",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                unordered: [roles]
            """,
            "roles",
            "JSONPath 'roles' must start with '$'",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                ignore: 5
            """,
            "ignore",
            "ignore must be a list of strings",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                ignore: [$.a, [$.b]]
            """,
            "ignore",
            "ignore must be a list of strings",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                tolerance:
                  $.balance: 0.1
                  $.total: -1
            """,
            "total",
            "tolerance $.total: must be a number >= 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                tolerance:
                  $.total: lots
            """,
            "total",
            "tolerance $.total: must be a number >= 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                tolerance:
                  $.total: true
            """,
            "total",
            "tolerance $.total: must be a number >= 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                tolerance: [$.total]
            """,
            "tolerance",
            "tolerance must be a mapping of JSONPath: value",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                array_keys:
                  "$.items[": id
            """,
            "items[",
            "array_keys $.items[: invalid JSONPath '$.items[': ",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                array_keys:
                  $.items: 5
            """,
            "items",
            "array_keys $.items: the key must be a field name",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                headers: [Date]
            """,
            "headers",
            "headers must be a mapping",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                max_diff_rate: 1.5
            """,
            "max_diff_rate",
            "max_diff_rate must be a number from 0 to 1",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                max_diff_rate: "0.1"
            """,
            "max_diff_rate",
            "max_diff_rate must be a number from 0 to 1",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {status: 200}
                  - {path: $.name, matches: '(unclosed'}
            """,
            "unclosed",
            "invalid regex '(unclosed': missing ), unterminated subpattern at position 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.n, matches: 5}
            """,
            "matches",
            "matches must be a regex string, not 5",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.id, type: int}
            """,
            "type: int",
            "type must be one of integer, number, string, boolean, null, array, object",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.roles, min_length: -1}
            """,
            "min_length",
            "min_length must be a whole number >= 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.roles, max_length: 1.5}
            """,
            "max_length",
            "max_length must be a whole number >= 0",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.email, exists: yes}
            """,
            "exists",
            "exists must be true or false",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {status: 99}
            """,
            "99",
            "status must be an HTTP status code or a list of them",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {status: [200, "ok"]}
            """,
            "ok",
            "status must be an HTTP status code or a list of them",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.email, frobnicate: true}
            """,
            "frobnicate",
            "an assertion is {status: N} or {path, one of: exists, type, min_length, max_length, "
            "matches, equals}; unknown key(s): frobnicate",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: $.email}
            """,
            "email",
            "an assertion is {status: N} or {path, one of: exists, type, min_length, max_length, "
            "matches, equals}",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - {path: email, exists: true}
            """,
            "email",
            "JSONPath 'email' must start with '$'",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert:
                  - exists
            """,
            "exists",
            "an assertion must be a mapping",
        ),
        (
            """\
            endpoints:
              - match: GET /a
                assert: {status: 200}
            """,
            "assert",
            "assert must be a list",
        ),
        (
            """\
            endpoints:
              - match: GET? /a
            """,
            "GET?",
            "match 'GET? /a' must be 'METHOD /path/{param}/**'",
        ),
        (
            """\
            endpoints:
              - match: /api/users
            """,
            "users",
            "match '/api/users' must be 'METHOD /path/{param}/**'",
        ),
        (
            """\
            endpoints:
              - match: GET /api/search?q={q}
            """,
            "search",
            "match 'GET /api/search?q={q}': the query string is not part of a match",
        ),
        (
            """\
            endpoints:
              - match: GET /a
              - ignore: [$.x]
            """,
            "ignore",
            "endpoint without 'match'",
        ),
        (
            """\
            endpoints:
              - match: GET /a
              - GET /b
            """,
            "GET /b",
            "an endpoint must be a mapping with 'match'",
        ),
        (
            """\
            # comment
            endpoints:
              match: GET /a
            """,
            "endpoints",
            "endpoints must be a list",
        ),
    ],
    ids=lambda value: value if len(value) < 20 else None,
)
def test_each_problem_names_its_file_and_line(
    tmp_path: Path, text: str, needle: str, message: str
) -> None:
    path = write(tmp_path, "rules.yaml", text)
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{path}:{line_of(path, needle)}: {message}")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.yaml",
        """\
        # Three mistakes, one per endpoint.
        endpoints:
          - match: GET /a
            ignore: [nope]

          - match: GET /b
            colour: red

          - match: GET /c
            max_diff_rate: 7
        """,
    )
    other = write(tmp_path, "other.yaml", "endpoints:\n  - match: N0PE /d\n")
    assert problems_of(tmp_path) == [
        f"{path}:4: JSONPath 'nope' must start with '$'",
        f"{path}:7: unknown key 'colour' (allowed: array_keys, assert, headers, ignore, match, "
        "max_diff_rate, noise, replay, tolerance, unordered)",
        f"{path}:10: max_diff_rate must be a number from 0 to 1",
        f"{other}:2: match 'N0PE /d' must be 'METHOD /path/{{param}}/**'",
    ]


def test_a_problem_in_a_multiline_list_points_at_the_item(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        """\
        endpoints:
          - match: GET /a
            ignore:
              - $.a

              # a comment between items
              - $.b[
              - $.c
        """,
    )
    assert only_problem(tmp_path).startswith(f"{path}:7: invalid JSONPath '$.b['")


def test_a_duplicate_match_across_files_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "# users\nendpoints:\n  - match: GET /api/users/{id}\n")
    second = write(
        tmp_path,
        "b.yaml",
        """\
        endpoints:
          - match: GET /api/orders/{id}

          - match: get /api/users/{id}
        """,
    )
    assert only_problem(tmp_path) == (
        f"{second}:4: duplicate match 'GET /api/users/{{id}}'"
        f" (same as 'GET /api/users/{{id}}' at {first}:3)"
    )


@pytest.mark.parametrize(
    "again", ["GET /api/users/{user_id}", "GET /api/users/{id}/", "GET /api/users/{id}"]
)
def test_a_duplicate_is_a_template_matching_the_same_requests(tmp_path: Path, again: str) -> None:
    path = write(
        tmp_path,
        "r.yaml",
        f"""\
        endpoints:
          - match: GET /api/users/{{id}}
          - match: '* /api/users/{{id}}'  # another method: no duplicate
          - match: {again}
        """,
    )
    assert only_problem(tmp_path) == (
        f"{path}:4: duplicate match {again!r} (same as 'GET /api/users/{{id}}' at {path}:2)"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "endpoints:\n  - match: GET /a\n    ignore: [$.a\n  - match: GET /b\n",
            4,
            "invalid YAML: expected ',' or ']', but got ':'",
        ),
        ("endpoints:\n  - match: GET /a\n   ignore: [$.a]\n", 3, "invalid YAML: "),
        ("endpoints:\n  - match: GET /a\n\tignore: []\n", 3, "invalid YAML: "),
        (
            "endpoints:\n  - match: GET /a\n    ignore: [$.a]\n    ignore: [$.b]\n",
            4,
            'invalid YAML: found duplicate key "ignore"',
        ),
        ("endpoints:\n  - match: 'GET /a\n", 3, "invalid YAML: "),
    ],
)
def test_yaml_syntax_errors_name_the_line_the_parser_stopped_at(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    assert only_problem(tmp_path).startswith(f"{path}:{line}: {message}")


@pytest.mark.parametrize("text", ["- GET /a\n", "just text\n", "42\n"])
def test_a_file_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "r.yaml", text)
    assert only_problem(tmp_path) == (f"{path}:1: a rules file must be a mapping with 'endpoints'")


def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("endpoints: []  # caf\xe9\n".encode("latin-1"))
    assert only_problem(tmp_path).startswith(f"{path}:1: cannot read: ")


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        load_rules(tmp_path / "nowhere")
    write(tmp_path, "file.yaml", "")
    with pytest.raises(InputError):
        load_rules(tmp_path / "file.yaml")


def test_noise_margins_per_endpoint_and_in_the_defaults(tmp_path: Path) -> None:
    write(
        tmp_path,
        "noise.yaml",
        """\
        defaults:
          noise: {relative: 0.5}
        endpoints:
          - match: GET /a
            noise: {relative: 0.1, absolute: 0.01}
          - match: GET /b
        """,
    )
    rules = load_rules(tmp_path)
    assert rules.resolve("GET", "/a").noise == (0.1, 0.01)
    assert rules.resolve("GET", "/b").noise == (0.5, 0.0003)  # the defaults', Diffy's absolute
    assert rules.noise_thresholds() == {
        "GET /a": [0.1, 0.01],
        "GET /b": [0.5, 0.0003],
        "*": [0.5, 0.0003],
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{relative: 2}", "noise relative must be a number from 0 to 1"),
        ("{absolute: yes}", "noise absolute must be a number from 0 to 1"),
        ("{ratio: 0.1}", "unknown key 'ratio' (allowed: absolute, relative)"),
        ("0.2", "noise must be a mapping"),
    ],
)
def test_a_bad_noise_margin_is_one_line(tmp_path: Path, value: str, message: str) -> None:
    path = write(tmp_path, "bad.yaml", f"endpoints:\n  - match: GET /a\n    noise: {value}\n")
    assert only_problem(tmp_path) == f"{path}:3: {message}"
