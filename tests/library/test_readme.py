"""Every example of the README's "As a library" section runs, and prints what the README says it prints."""

from __future__ import annotations

import re

import pytest

from tests.jobs.conftest import REPO

EXAMPLE = re.compile(r"<!-- library: (\w+) -->\n```python\n(.*?)```\nprints\n```\n(.*?)```", re.S)
EXAMPLES = {name: (code, printed) for name, code, printed in EXAMPLE.findall((REPO / "README.md").read_text())}


def test_the_section_has_one_example_per_host():
    assert list(EXAMPLES) == ["arrow", "pandas", "polars", "ray", "datasets", "duckdb"]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_prints_what_the_readme_shows(name, request, monkeypatch, capsys):
    if name == "ray":
        request.getfixturevalue("ray_session")  # the session's local Ray, as ray.init() would give
    monkeypatch.chdir(REPO)
    code, printed = EXAMPLES[name]
    exec(compile(code, f"README.md:{name}", "exec"), {"__name__": f"readme_{name}"})
    assert capsys.readouterr().out.splitlines()[-1] == printed.strip()
