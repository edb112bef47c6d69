"""Project errors. The CLI maps each class to an exit code (DESIGN.md)."""

from __future__ import annotations


class ShadowdiffError(Exception):
    """A problem the user can fix; printed as one line, never a traceback."""

    exit_code = 2


class InputError(ShadowdiffError):
    """Bad input: a missing or unreadable file, a malformed URL, a bad flag value."""


class RulesError(ShadowdiffError):
    """Invalid rule files. Carries every problem as `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid rules")
        self.problems = problems


class EnvironmentProblem(ShadowdiffError):
    """The environment is not usable: target unreachable at start, tool missing."""

    exit_code = 3
