"""Leave-one-app-out (tests/core/holdout.py) on the real cases: a rule, or an era boundary, whose evidence
is one app's alone is not kept when that app is held out, and that app's cases are recounted without it;
a rule several apps show is kept whichever of them is held out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.core.holdout import HeldOut, choices, hold_out
from tests.core.ledger import LEDGER, counted_cases, noise_ids


@pytest.fixture(scope="module")
def counted() -> tuple[list[dict[str, Any]], list[Any], dict[str, list[int]], list[bool]]:
    cases, base, users = counted_cases()
    exact = [r.input_tokens == c["expected_input_tokens"] for c, r in zip(cases, base, strict=True)]
    return cases, base, users, exact


def _held_out(counted: tuple, rule_ids: list[str], app: str) -> HeldOut:
    cases, base, users, exact = counted
    rulebook = choices(cases, exact, {r: users[r] for r in rule_ids})
    return hold_out(app, cases, base, exact, rulebook, noise_ids())


def _ledger(rule_id: str) -> dict[str, Any]:
    return json.loads(LEDGER.read_text(encoding="utf-8"))["rules"][rule_id]


def test_an_era_boundary_only_one_app_shows_goes_when_that_app_is_held_out(counted):
    rule_id = "chat.response_format.block_era"
    (alone,) = _ledger(rule_id)["old_supports"]  # one app shows the old behaviour
    held = _held_out(counted, [rule_id], alone)
    assert held.changed == [f"{rule_id} boundary none"]
    assert held.held_out < held.in_sample


def test_a_rule_only_one_app_shows_is_off_when_that_app_is_held_out(counted):
    rule_id = "chat.function_result.answers_call"
    entry = _ledger(rule_id)
    (alone,) = entry["supports"]
    assert entry["apps_using"] == 1  # no other app's count uses it, exact or not
    held = _held_out(counted, [rule_id], alone)
    assert held.changed == [f"{rule_id}=False"]
    assert held.held_out < held.in_sample


def test_a_rule_several_apps_show_stays_whichever_is_held_out(counted):
    rule_id = "tool_choice.none_surcharge"
    apps = _ledger(rule_id)["supports"]
    assert len(apps) >= 3
    for app in apps:
        held = _held_out(counted, [rule_id], app)
        assert held.changed == [] and held.held_out == held.in_sample, app
