"""Leave-one-source-out: how exact the rules are on an app whose cases did not choose them.

``python -m tests.core.holdout [--worst 5]``. The fitted fields of the model table (tools
preamble, priming, per-call and per-assistant surcharges, the Responses call discount and offset,
how reasoning Chat lays out tools and a system message) are the choices the data makes. For each
choice, every candidate value is counted on the cases of the families it touches; then, for each
source, each choice takes the candidate that is exact most often on the OTHER sources (on a tie,
the value most models have), and that source is counted with those picks (each choice's effect is
measured with the others at their table value). A source whose held-out rate is far below its
in-sample rate carries a rule that only it confirms.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any

from tests.core.reference import CASE_FILES, api_of, load, recorded, source_of
from tokcount_core import count
from tokcount_core.models import FAMILIES
from tokcount_core.registry import Registry, default_registry
from tokcount_core.rules import MODEL_FIELDS, REASONING_ONLY_FIELDS


@dataclass(frozen=True)
class Choice:
    family: str
    field: str
    value: Any


def _registry(choice: Choice) -> Registry:
    base = default_registry()
    families = {**FAMILIES, choice.family: replace(FAMILIES[choice.family], **{choice.field: choice.value})}
    return Registry(families=families, aliases=base.aliases)


def _usual(field: str, reasoning: bool) -> Any:
    """The value most families of the same kind (reasoning or not) have: the prior a tie falls back to."""
    values = Counter(getattr(s, field) for s in FAMILIES.values() if s.reasoning == reasoning)
    return values.most_common(1)[0][0]


def _family_of(case: dict[str, Any]) -> str | None:
    model = case["request"].get("model") if isinstance(case["request"].get("model"), str) else case["model"]
    try:
        return default_registry().resolve(model, None)[0].family
    except LookupError:
        return None


def _exact(case: dict[str, Any], registry: Registry | None = None) -> bool:
    result = count(case["request"], api=api_of(case), as_of=recorded(case), registry=registry)
    return result.input_tokens == case["expected_input_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worst", type=int, default=5)
    args = ap.parse_args()
    cases = [c for name in CASE_FILES for c in load(name)]
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        family = _family_of(case)
        if family in FAMILIES:
            by_family[family].append(i)
    baseline = [_exact(c) for c in cases]
    # hits[(family, field)][value] = {case index: exact?} over that family's cases
    hits: dict[tuple[str, str], dict[Any, dict[int, bool]]] = {}
    for family, indices in by_family.items():
        spec = FAMILIES[family]
        for field, values in MODEL_FIELDS.items():
            current = getattr(spec, field)
            options = {current, *values} if field not in REASONING_ONLY_FIELDS or spec.reasoning else {current}
            if len(options) < 2:
                continue
            table = {current: {i: baseline[i] for i in indices}}
            for value in options - {current}:
                registry = _registry(Choice(family, field, value))
                table[value] = {i: _exact(cases[i], registry) for i in indices}
            hits[(family, field)] = table
    sources = sorted({source_of(c) for c in cases})
    rows = []
    for source in sources:
        mine = {i for i, c in enumerate(cases) if source_of(c) == source}
        flips: dict[int, bool] = {}
        changed = []
        for (family, field), table in hits.items():
            current = getattr(FAMILIES[family], field)
            prior = _usual(field, FAMILIES[family].reasoning)
            # The value exact most often on the other sources; on a tie the usual value, so a value
            # that only this source supports is not kept.
            pick = max(table, key=lambda v: (sum(ok for i, ok in table[v].items() if i not in mine), v == prior))
            if pick != current and any(i in mine for i in table[pick]):
                changed.append(f"{family}.{field}={pick!r}")
                flips.update({i: ok for i, ok in table[pick].items() if i in mine})
        in_sample = sum(baseline[i] for i in mine) / len(mine)
        held_out = sum(flips.get(i, baseline[i]) for i in mine) / len(mine)
        rows.append((held_out - in_sample, source, len(mine), in_sample, held_out, changed))
    print(f"{'source':44} {'cases':>6} {'in-sample':>10} {'held-out':>9}  choices that differ")
    for _, source, n, ins, out, changed in sorted(rows):
        print(f"{source:44} {n:6} {ins:10.1%} {out:9.1%}  {', '.join(changed) or '-'}")
    print(f"worst {args.worst} by held-out - in-sample:")
    for drop, source, n, ins, out, _ in sorted(rows)[: args.worst]:
        print(f"  {source}: {ins:.1%} -> {out:.1%} ({drop:+.1%}, {n} cases)")


if __name__ == "__main__":
    main()
