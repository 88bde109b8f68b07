"""Run the counter over the reference cases: ``python -m tests.core.report [--failures GROUP]``."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from tests.core.reference import api_of, group, load, recorded
from tokcount_core import count


def evaluate(cases: list[dict]) -> dict[str, list[tuple[dict, object]]]:
    by_group: dict[str, list[tuple[dict, object]]] = defaultdict(list)
    for case in cases:
        result = count(case["request"], api=api_of(case), as_of=recorded(case))
        by_group[group(case)].append((case, result))
    return by_group


def table(by_group: dict[str, list[tuple[dict, object]]]) -> str:
    lines = [f"{'group':28} {'cases':>6} {'exact':>6} {'rate':>7} {'flagged':>8}"]
    total = exact = 0
    for name in sorted(by_group):
        rows = by_group[name]
        hits = sum(1 for c, r in rows if r.input_tokens == c["expected_input_tokens"])
        flagged = sum(1 for _, r in rows if r.estimated or r.error_code)
        total += len(rows)
        exact += hits
        lines.append(f"{name:28} {len(rows):6} {hits:6} {hits / len(rows):7.1%} {flagged:8}")
    lines.append(f"{'all':28} {total:6} {exact:6} {exact / total:7.1%}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--failures", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    by_group = evaluate(load("cases.jsonl.gz"))
    print(table(by_group))
    if args.failures:
        diffs = Counter()
        shown = 0
        for case, result in by_group.get(args.failures, []):
            if args.model and case["model"] != args.model:
                continue
            if result.input_tokens != case["expected_input_tokens"]:
                d = None if result.input_tokens is None else result.input_tokens - case["expected_input_tokens"]
                diffs[(case["model"], d)] += 1
                if shown < args.limit:
                    shown += 1
                    print(case["id"], case["model"], recorded(case), "got", result.input_tokens, "want",
                          case["expected_input_tokens"], result.error_message or "")
        print(diffs.most_common(40))


if __name__ == "__main__":
    main()
