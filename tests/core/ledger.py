"""The evidence ledger: ``python -m tests.core.ledger`` writes tests/data/reference/ledger.json.

For each rule of ``tokcount_core.rules.RULES`` it switches the rule off (or to each alternative:
the other side of an era boundary, the other candidate values of a model-table field) through the
registry, recounts the reference cases whose count used the rule, and records: the cases it decides
(the count differs), the apps whose cases it makes exact (``supports``: exact with the rule, not
without), the apps whose cases it makes inexact (``contradicts``), and for an era boundary the
recording day of the last case showing the old behaviour and of the first showing the new. The
policy (``meets_policy``) is checked over this file by tests/core/test_ledger.py, which also fails
when the file is stale (``inputs_digest``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from typing import Any

from tests.core.reference import CASE_FILES, DATA, api_of, load, recorded, source_of
from tests.core.test_reference import OUTLIERS
from tokcount_core import count
from tokcount_core.models import FAMILIES
from tokcount_core.rules import MODEL_FIELDS, RULES, Rule, digest, switched

LEDGER = DATA / "ledger.json"
REGENERATE = "python -m tests.core.ledger"
MIN_APPS, MIN_CASES = 3, 10


def inputs_digest() -> str:
    """What the ledger was computed from: the rules' definitions, RULES_VERSION and the case files."""
    files = [hashlib.sha256((DATA / name).read_bytes()).hexdigest() for name in CASE_FILES]
    return hashlib.sha256(json.dumps([digest(), files]).encode()).hexdigest()


def contradicting_apps(supports: dict[str, int], contradicts: dict[str, int]) -> list[str]:
    """Apps whose cases the rule makes inexact more often than exact: one stray recording among an
    app's hundreds does not make it contradict a rule (its count is listed all the same)."""
    return sorted(app for app, n in contradicts.items() if n >= supports.get(app, 0))


def meets_policy(supports: dict[str, int], contradicts: dict[str, int]) -> bool:
    """A rule counts unflagged only where at least 3 apps and 10 cases support it and no app contradicts it."""
    return (len(supports) >= MIN_APPS and sum(supports.values()) >= MIN_CASES
            and not contradicting_apps(supports, contradicts))


def alternatives(rule: Rule) -> list[Any]:
    if rule.alternative == "off":
        return [False]
    if rule.alternative == "eras":
        return ["old", "new"]
    if rule.alternative == "values":
        field = rule.id.split(".")[1]
        own = getattr(FAMILIES[rule.models[0]], field)
        return [v for v in MODEL_FIELDS[field] if v != own]
    return []  # a flag-only rule: the site has no other rendering


def _evidence(case: dict[str, Any], result: Any, rule_id: str, noise: frozenset[str]) -> bool:
    """Whether a case can speak for or against a rule: not a recording known not to be what the request
    cost (test_reference's noise and server-state outliers), and not an estimate for a reason other than
    this rule (hidden context, or another unverified rule that may be what its count misses). A coverage
    flag (``outside_evidence``) is no such reason: the map is itself built from these counts."""
    if case["id"] in noise:
        return False
    return (set(result.estimate_reasons) <= {"unverified_rule", "outside_evidence"}
            and set(result.unverified_rules) <= {rule_id})


def _count(case: dict[str, Any]) -> Any:
    return count(case["request"], api=api_of(case), as_of=recorded(case))


def _side(rule: Rule, day: str | None) -> str:
    assert rule.era is not None
    return "old" if day is not None and day <= rule.era.known_until.isoformat() else "new"


def rule_entry(rule: Rule, cases: list[dict[str, Any]], base: list[Any], users: list[int],
               noise: frozenset[str]) -> dict[str, Any]:
    """One rule's evidence over the cases that used it (``users``: their indices)."""
    decided: set[int] = set()
    supports: dict[str, Counter] = defaultdict(Counter)  # side ("all", "old", "new") -> app -> cases
    contradicts: dict[str, Counter] = defaultdict(Counter)
    days: dict[str, list[str]] = defaultdict(list)  # side -> recording days of supporting cases
    for alt in alternatives(rule):
        with switched(rule.id, alt):
            for i in users:
                case, on = cases[i], base[i]
                off = _count(case)
                if off.input_tokens == on.input_tokens:
                    continue
                decided.add(i)
                want = case["expected_input_tokens"]
                app, day = source_of(case), recorded(case)
                # Era rules: switching to "new" tests the old side, switching to "old" the new side.
                side = ("old" if alt == "new" else "new") if rule.era else "all"
                if on.input_tokens == want and day and case["id"] not in noise:
                    days[side].append(day)  # the behaviour shows, whatever else the count flags
                if not _evidence(case, on, rule.id, noise):
                    continue
                if on.input_tokens == want:
                    supports[side][app] += 1
                elif off.input_tokens == want:
                    contradicts[side][app] += 1
    sides = ("old", "new") if rule.era else ("all",)
    entry: dict[str, Any] = {
        "statement": rule.statement, "verified": rule.verified,
        "uses": len(users), "uses_exact": sum(base[i].input_tokens == cases[i]["expected_input_tokens"]
                                               for i in users),
        "apps_using": len({source_of(cases[i]) for i in users}),
        "alternatives": [str(a) for a in alternatives(rule)],
        "decided": len(decided), "decided_cases": sorted(cases[i]["id"] for i in decided),
    }
    for side in sides:
        prefix = "" if side == "all" else f"{side}_"
        entry[f"{prefix}supports"] = dict(sorted(supports[side].items()))
        entry[f"{prefix}contradicts"] = dict(sorted(contradicts[side].items()))
        entry[f"{prefix}contradicting_apps"] = contradicting_apps(supports[side], contradicts[side])
        entry[f"{prefix}meets_policy"] = meets_policy(supports[side], contradicts[side])
    if rule.era:
        entry["last_old"] = max(days["old"], default=None)
        entry["first_new"] = min(days["new"], default=None)
    return entry


def build() -> dict[str, Any]:
    cases = [c for name in CASE_FILES for c in load(name)]
    base = [_count(c) for c in cases]
    users: dict[str, list[int]] = defaultdict(list)
    for i, result in enumerate(base):
        for rule_id in result.rules:
            users[rule_id].append(i)
    noise = frozenset(OUTLIERS["noise"]) | frozenset(OUTLIERS["cases4"]) | frozenset(OUTLIERS["new_apps"])
    rules = {rule_id: rule_entry(rule, cases, base, users[rule_id], noise) for rule_id, rule in RULES.items()}
    return {"digest": inputs_digest(), "regenerate": REGENERATE, "policy": {"min_apps": MIN_APPS,
            "min_cases": MIN_CASES, "contradicting_apps": 0}, "rules": rules}


def main() -> None:
    ledger = build()
    LEDGER.write_text(json.dumps(ledger, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    for rule_id, entry in ledger["rules"].items():
        ok = all(v for k, v in entry.items() if k.endswith("meets_policy"))
        print(f"{rule_id:55} uses {entry['uses']:5} decided {entry['decided']:5} "
              f"{'verified' if entry['verified'] else 'flagged ':8} {'meets' if ok else 'FAILS'}")


if __name__ == "__main__":
    main()
