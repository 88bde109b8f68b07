"""Run the counter over the reference cases: ``python -m tests.core.report [--file F] [--failures GROUP]``."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Any

from tests.core.reference import api_of, group, load, recorded, source_of
from tokcount_core import count

Rows = list[tuple[dict[str, Any], Any]]


def evaluate(cases: list[dict]) -> Rows:
    return [(case, count(case["request"], api=api_of(case), as_of=recorded(case))) for case in cases]


def by_key(rows: Rows, key: Any) -> dict[str, Rows]:
    grouped: dict[str, Rows] = defaultdict(list)
    for case, result in rows:
        grouped[key(case)].append((case, result))
    return grouped


def exact(case: dict[str, Any], result: Any) -> bool:
    return result.input_tokens == case["expected_input_tokens"]


def silent(case: dict[str, Any], result: Any) -> bool:
    """Unflagged and wrong: the one outcome the counter promises never to give."""
    return not exact(case, result) and not result.estimated and not result.error_code


def besides_coverage(result: Any) -> list[str]:
    """A count's estimate reasons other than ``outside_evidence``: tests of one rule's flag on a made-up
    request check that rule, whatever the coverage map says of the request's other features."""
    return [reason for reason in result.estimate_reasons if reason != "outside_evidence"]


def rates(rows: Rows) -> tuple[float, float]:
    """(exact, unflagged-and-wrong) shares of ``rows``."""
    n = len(rows)
    return sum(exact(c, r) for c, r in rows) / n, sum(silent(c, r) for c, r in rows) / n


def table(grouped: dict[str, Rows], title: str = "group") -> str:
    lines = [f"{title:44} {'cases':>6} {'exact':>6} {'rate':>7} {'silent':>7} {'flagged':>8}"]
    everything: Rows = []
    for name in sorted(grouped):
        rows = grouped[name]
        everything.extend(rows)
        flagged = sum(1 for _, r in rows if r.estimated or r.error_code)
        hit, wrong = rates(rows)
        lines.append(f"{name:44} {len(rows):6} {round(hit * len(rows)):6} {hit:7.1%} {wrong:7.1%} {flagged:8}")
    hit, wrong = rates(everything)
    lines.append(f"{'all':44} {len(everything):6} {round(hit * len(everything)):6} {hit:7.1%} {wrong:7.1%}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default="cases.jsonl.gz")
    ap.add_argument("--by", choices=("group", "source"), default="group")
    ap.add_argument("--failures", default=None, help="a group or source whose misses to list")
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    rows = evaluate(load(args.file))
    grouped = by_key(rows, group if args.by == "group" else source_of)
    print(table(grouped, args.by))
    if args.failures:
        diffs: Counter = Counter()
        shown = 0
        for case, result in grouped.get(args.failures, []):
            if (args.model and case["model"] != args.model) or exact(case, result):
                continue
            d = None if result.input_tokens is None else result.input_tokens - case["expected_input_tokens"]
            diffs[(case["model"], d)] += 1
            if shown < args.limit:
                shown += 1
                print(case["id"], case["model"], recorded(case), "got", result.input_tokens, "want",
                      case["expected_input_tokens"], result.error_message or "")
        print(diffs.most_common(40))


if __name__ == "__main__":
    main()
