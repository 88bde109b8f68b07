"""The evidence ledger: ``python -m tests.core.ledger`` writes tests/data/reference/ledger.json.

For each rule of ``tokcount_core.rules.RULES`` it switches the rule off (or to each alternative:
the other side of an era boundary, the other candidate values of a model-table field) through the
registry, recounts the reference cases whose count used the rule, and records: the cases it decides
(the count differs), the apps whose cases it makes exact (``supports``: exact with the rule, not
without), the apps whose cases it makes inexact (``contradicts``), and for an era boundary the
recording day of the last case showing the old behaviour and of the first showing the new. The
policy (``meets_policy``) is checked over this file by tests/core/test_ledger.py, which also fails
when the file is stale (``inputs_digest``). It also writes docs/rules.md, the ledger as a table.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.core.reference import CASE_FILES, DATA, api_of, load, recorded, source_of
from tests.core.test_reference import OUTLIERS
from tokcount_core import count
from tokcount_core.models import FAMILIES
from tokcount_core.rules import MODEL_FIELDS, RULES, Rule, digest, switched

LEDGER = DATA / "ledger.json"
DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"  # the ledger as a table, for people
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


def count_case(case: dict[str, Any]) -> Any:
    return count(case["request"], api=api_of(case), as_of=recorded(case))


def _side(rule: Rule, day: str | None) -> str:
    assert rule.era is not None
    return "old" if day is not None and day <= rule.era.known_until.isoformat() else "new"


def rule_entry(rule: Rule, cases: list[dict[str, Any]], base: list[Any], users: list[int],
               noise: frozenset[str]) -> dict[str, Any]:
    """One rule's evidence over the cases that used it (``users``: their indices)."""
    decided: set[int] = set()
    # side ("all", "old", "new") -> app -> case indices: a case counts once, however many alternatives decide it
    supports: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    contradicts: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    days: dict[str, list[str]] = defaultdict(list)  # side -> recording days of supporting cases
    for alt in alternatives(rule):
        with switched(rule.id, alt):
            for i in users:
                case, on = cases[i], base[i]
                off = count_case(case)
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
                    supports[side][app].add(i)
                elif off.input_tokens == want:
                    contradicts[side][app].add(i)
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
        sup = {app: len(ids) for app, ids in sorted(supports[side].items())}
        con = {app: len(ids) for app, ids in sorted(contradicts[side].items())}
        entry[f"{prefix}supports"], entry[f"{prefix}contradicts"] = sup, con
        entry[f"{prefix}contradicting_apps"] = contradicting_apps(sup, con)
        entry[f"{prefix}meets_policy"] = meets_policy(sup, con)
    if rule.era:
        entry["last_old"] = max(days["old"], default=None)
        entry["first_new"] = min(days["new"], default=None)
    return entry


def counted_cases() -> tuple[list[dict[str, Any]], list[Any], dict[str, list[int]]]:
    """Every reference case, its count as the rules stand, and per rule id the indices of the cases
    whose count used it (tests/core/holdout.py starts from the same)."""
    cases = [c for name in CASE_FILES for c in load(name)]
    base = [count_case(c) for c in cases]
    users: dict[str, list[int]] = defaultdict(list)
    for i, result in enumerate(base):
        for rule_id in result.rules:
            users[rule_id].append(i)
    return cases, base, users


def noise_ids() -> frozenset[str]:
    """Recordings known not to be what the request cost (test_reference's noise and server-state outliers)."""
    return frozenset(OUTLIERS["noise"]) | frozenset(OUTLIERS["cases4"]) | frozenset(OUTLIERS["new_apps"])


def build() -> dict[str, Any]:
    cases, base, users = counted_cases()
    noise = noise_ids()
    rules = {rule_id: rule_entry(rule, cases, base, users[rule_id], noise) for rule_id, rule in RULES.items()}
    return {"digest": inputs_digest(), "regenerate": REGENERATE, "policy": {"min_apps": MIN_APPS,
            "min_cases": MIN_CASES, "contradicting_apps": 0}, "rules": rules}


def _scope(rule: Rule) -> str:
    models = list(rule.models)
    shown = ", ".join(models[:3]) + (f" +{len(models) - 3}" if len(models) > 3 else "")
    return "; ".join([", ".join(rule.apis) or "all APIs", shown or "all models"])


def _apps_cases(by_app: dict[str, int]) -> str:
    return f"{len(by_app)} / {sum(by_app.values())}" if by_app else "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _side_label(prefix: str) -> str:
    return f"{prefix[:-1]} " if prefix else ""


def _doc_row(rule_id: str, entry: dict[str, Any]) -> str:
    rule = RULES[rule_id]
    if rule.era is None:
        verified, sides = _yes(rule.verified), [""]
        era = ""
    else:
        verified, sides = f"old {_yes(rule.verified)}, new {_yes(rule.era.new_verified)}", ["old_", "new_"]
        era = f"{entry['last_old'] or '-'} / {entry['first_new'] or '-'}"
    support = ", ".join(f"{_side_label(p)}{_apps_cases(entry[f'{p}supports'])}" for p in sides)
    against = ", ".join(f"{_side_label(p)}{_apps_cases(entry[f'{p}contradicts'])}" for p in sides)
    meets = ", ".join(f"{_side_label(p)}{_yes(entry[f'{p}meets_policy'])}" for p in sides)
    return (f"| `{rule_id}` | {_scope(rule)} | {verified} | {support} | {against} | {meets} | "
            f"{entry['decided']} | {entry['uses']} ({entry['uses_exact']}) | {era} |")


def rules_markdown(ledger: dict[str, Any]) -> str:
    """docs/rules.md: one row per rule of the ledger (the staleness test compares the file with this)."""
    head = ["# The rulebook and its evidence", "",
            f"Generated by `{REGENERATE}` from `tests/data/reference/ledger.json`; do not edit. A rule counts",
            f"unflagged only where at least {MIN_APPS} apps and {MIN_CASES} cases support it and no app contradicts",
            "it (tests/core/test_ledger.py); otherwise the counts that use it are flagged `unverified_rule`.",
            "*for* / *against*: apps / reference cases the rule makes exact / inexact when switched off (or to",
            "its alternative); *decided*: cases whose count it changes; *used (exact)*: cases whose count used it",
            "and how many of those are exact; an era rule's evidence is given per side of its boundary, and",
            "*era* is the recording day of the last case showing the old behaviour / the first showing the new.",
            "", "| rule | scope | verified | for | against | meets policy | decided | used (exact) | era |",
            "| --- | --- | --- | --- | --- | --- | ---: | ---: | --- |"]
    return "\n".join([*head, *(_doc_row(rid, e) for rid, e in ledger["rules"].items()), ""])


def main() -> None:
    ledger = build()
    LEDGER.write_text(json.dumps(ledger, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(rules_markdown(ledger), encoding="utf-8")
    for rule_id, entry in ledger["rules"].items():
        ok = all(v for k, v in entry.items() if k.endswith("meets_policy"))
        print(f"{rule_id:55} uses {entry['uses']:5} decided {entry['decided']:5} "
              f"{'verified' if entry['verified'] else 'flagged ':8} {'meets' if ok else 'FAILS'}")


if __name__ == "__main__":
    main()
