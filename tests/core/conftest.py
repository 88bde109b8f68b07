"""Shows the reference exact-match table in every test run's summary, not only under ``-s``."""

from __future__ import annotations

import pytest

REPORT_KEY = pytest.StashKey[list[str]]()


@pytest.fixture()
def report_lines(request: pytest.FixtureRequest) -> list[str]:
    return request.config.stash.setdefault(REPORT_KEY, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(REPORT_KEY, [])
    if lines:
        terminalreporter.section("reference cases: exact-match rate per group")
        for line in lines:
            terminalreporter.write_line(line)
