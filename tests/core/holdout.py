"""Leave-one-app-out over the whole rulebook: how exact the rules are on an app whose cases did not choose them.

``python -m tests.core.holdout [--worst 5]``. Every rule of ``tokcount_core.rules.RULES`` with an
alternative is a choice the cases make: a rule on or off, a model-table value or another candidate, an
era boundary (a recording day; before it the old behaviour). Each setting is counted on the cases whose
count used the rule, with every other rule as registered (as the ledger does). Then, for each app
(source), each rule takes the setting that makes more of the OTHER apps' cases exact (recordings known
not to be what the request cost left out); on a tie the rule's null setting: off, no boundary (always
today's behaviour), the value most families have; so a rule that only this app supports is not kept. The
app's cases whose count used a rule whose setting changed are recounted with all its settings at once,
through the registry's switches, and its held-out exact rate is printed next to its in-sample rate. An
app far below its in-sample rate carries a rule only it confirms.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from tests.core.ledger import alternatives, count_case, counted_cases, noise_ids
from tests.core.reference import recorded, source_of
from tokcount_core.models import FAMILIES
from tokcount_core.rules import REASONING_ONLY_FIELDS, RULES, Rule, switched

AS_REGISTERED = None  # the setting a rule has in RULES (on, its own value, its own boundary)


@dataclass
class Choice:
    """One rule's settings and, per setting, which of the cases using the rule it makes exact."""

    rule: Rule
    users: list[int]
    exact: dict[Any, dict[int, bool]]  # setting -> case index -> exact (AS_REGISTERED included)
    null: Any  # the setting a tie falls back to

    def pick(self, score: Callable[[dict[int, bool]], int]) -> Any:
        """The setting scoring highest; on a tie the null one, else the registered one, else the first."""
        best = max(score(hits) for hits in self.exact.values())
        tied = [s for s, hits in self.exact.items() if score(hits) == best]
        return next((s for s in (self.null, AS_REGISTERED) if s in tied), tied[0])


@dataclass
class EraChoice:
    """An era rule's boundary: each using case counted both ways; a boundary b puts a case dated on or
    before b on the old side, every other (later or undated) case on the new one."""

    rule: Rule
    users: list[int]
    old: dict[int, bool]
    new: dict[int, bool]
    days: dict[int, str | None]

    def side(self, i: int, boundary: str | None) -> str:
        day = self.days[i]
        return "old" if boundary is not None and day is not None and day <= boundary else "new"

    def registered_side(self, i: int) -> str:
        assert self.rule.era is not None
        return self.side(i, self.rule.era.known_until.isoformat())

    def pick(self, others: Callable[[int], bool]) -> str | None:
        """The earliest boundary (None: none at all) making the most of the other apps' cases exact:
        moving it past a day gains that day's cases exact when old less those exact when new."""
        gain: Counter[str] = Counter()
        for i in self.users:
            if others(i) and self.days[i] is not None:
                gain[self.days[i]] += self.old[i] - self.new[i]
        best, boundary, running = 0, None, 0
        for day in sorted(gain):
            running += gain[day]
            if running > best:
                best, boundary = running, day
        return boundary


def _usual(field: str) -> Any:
    """The value most families have for a model-table field (among reasoning families for their fields)."""
    values = Counter(getattr(s, field) for s in FAMILIES.values()
                     if field not in REASONING_ONLY_FIELDS or s.reasoning)
    return values.most_common(1)[0][0]


def _null(rule: Rule) -> Any:
    if rule.alternative == "off":
        return False
    usual = _usual(rule.id.split(".")[1])
    own = getattr(FAMILIES[rule.models[0]], rule.id.split(".")[1])
    return AS_REGISTERED if usual == own else usual


def _exact_with(cases: list[dict[str, Any]], indices: list[int], switches: dict[str, Any]) -> dict[int, bool]:
    with ExitStack() as stack:
        for rule_id, setting in switches.items():
            stack.enter_context(switched(rule_id, setting))
        return {i: count_case(cases[i]).input_tokens == cases[i]["expected_input_tokens"] for i in indices}


def choices(cases: list[dict[str, Any]], base_exact: list[bool],
            users: dict[str, list[int]]) -> list[Choice | EraChoice]:
    """Every rule with an alternative that some case used, each setting counted on its users."""
    out: list[Choice | EraChoice] = []
    for rule_id, rule in RULES.items():
        mine, alts = users.get(rule_id, []), alternatives(rule)
        if not mine or not alts:
            continue
        if rule.era is not None:
            out.append(EraChoice(rule, mine, _exact_with(cases, mine, {rule_id: "old"}),
                                 _exact_with(cases, mine, {rule_id: "new"}), {i: recorded(cases[i]) for i in mine}))
            continue
        exact = {AS_REGISTERED: {i: base_exact[i] for i in mine}}
        exact.update({alt: _exact_with(cases, mine, {rule_id: alt}) for alt in alts})
        out.append(Choice(rule, mine, exact, _null(rule)))
    return out


@dataclass
class HeldOut:
    app: str
    cases: int
    in_sample: float
    held_out: float
    changed: list[str]  # the settings that differ from the registry's, among the rules this app's counts used

    @property
    def drop(self) -> float:
        return self.held_out - self.in_sample


def hold_out(app: str, cases: list[dict[str, Any]], base: list[Any], base_exact: list[bool],
             rulebook: list[Choice | EraChoice], noise: frozenset[str]) -> HeldOut:
    """The app's exact rate with every rule chosen on the other apps' cases."""
    mine = [i for i, c in enumerate(cases) if source_of(c) == app]

    def others(i: int) -> bool:
        return source_of(cases[i]) != app and cases[i]["id"] not in noise

    settings: dict[str, Any] = {}  # rule id -> chosen setting, where it differs from the registry's
    boundaries: dict[str, EraChoice] = {}  # era rule id -> its choice, where the boundary moved
    chosen: dict[str, str | None] = {}
    for choice in rulebook:
        rule_id = choice.rule.id
        if isinstance(choice, EraChoice):
            chosen[rule_id] = choice.pick(others)
            boundaries[rule_id] = choice
        else:
            pick = choice.pick(lambda hits: sum(ok for i, ok in hits.items() if others(i)))
            if pick is not AS_REGISTERED:
                settings[rule_id] = pick
    exact = {i: base_exact[i] for i in mine}
    changed: set[str] = set()
    for i in mine:
        switches = {r: s for r, s in settings.items() if r in base[i].rules}
        for rule_id, choice in boundaries.items():
            if rule_id in base[i].rules and choice.side(i, chosen[rule_id]) != choice.registered_side(i):
                switches[rule_id] = choice.side(i, chosen[rule_id])
        if switches:
            changed.update(_label(r, chosen[r] if r in boundaries else settings[r], r in boundaries) for r in switches)
            # Every changed setting at once: switching one rule may lead the count through another.
            exact[i] = _exact_with(cases, [i], {**settings, **switches})[i]
    return HeldOut(app, len(mine), sum(base_exact[i] for i in mine) / len(mine),
                   sum(exact.values()) / len(mine), sorted(changed))


def _label(rule_id: str, setting: Any, era: bool) -> str:
    if era:
        return f"{rule_id} boundary {setting or 'none'}"
    return f"{rule_id}={setting}"


def run() -> list[HeldOut]:
    cases, base, users = counted_cases()
    base_exact = [r.input_tokens == c["expected_input_tokens"] for c, r in zip(cases, base, strict=True)]
    rulebook = choices(cases, base_exact, users)
    noise = noise_ids()
    apps = sorted({source_of(c) for c in cases})
    return sorted((hold_out(app, cases, base, base_exact, rulebook, noise) for app in apps),
                  key=lambda h: (h.drop, h.app))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worst", type=int, default=5)
    args = ap.parse_args()
    rows = run()
    print(f"{'source':44} {'cases':>6} {'in-sample':>10} {'held-out':>9}  settings that differ")
    for h in rows:
        print(f"{h.app:44} {h.cases:6} {h.in_sample:10.1%} {h.held_out:9.1%}  {', '.join(h.changed) or '-'}")
    print(f"worst {args.worst} by held-out - in-sample:")
    for h in rows[: args.worst]:
        print(f"  {h.app}: {h.in_sample:.1%} -> {h.held_out:.1%} ({h.drop:+.1%}, {h.cases} cases)")


if __name__ == "__main__":
    main()
