"""The coverage map: ``python -m tests.core.coverage_map`` writes tokcount_core/data/coverage.json.

For every reference case (the ``cases*`` files and the ``unknowable*`` ones: an exact count there is
evidence too) it takes the request's features as the counter sees them (``explain=True``
lists them, tokcount_core/coverage.py defines them) and records, per model class, API and feature,
how many cases the rules count exactly, from how many apps, out of how many cases; families pool
their evidence by model class (``coverage.model_class``). The counter flags
a request using a feature short of ``coverage.MIN_CASES`` exact cases from ``coverage.MIN_APPS`` apps.
tests/core/test_coverage.py fails when the file is not what this script would write.

``--holdout FILE`` prints, for FILE's cases, the flags a map built without FILE (and its ``unknowable``
companion, the same apps) would raise: the effect on apps the map never saw (a map built from every
file covers each case by itself).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

from tests.core.reference import CASE_FILES, UNKNOWABLE_FILES, api_of, load, recorded, source_of
from tests.core.report import exact, silent
from tokcount_core import count
from tokcount_core.coverage import MAP_PATH, MIN_APPS, MIN_CASES, CoverageMap, model_class
from tokcount_core.models import ModelSpec
from tokcount_core.registry import default_registry

REGENERATE = "python -m tests.core.coverage_map"
FILES = CASE_FILES + UNKNOWABLE_FILES
Observed = list[tuple[dict[str, Any], Any, ModelSpec]]  # (case, result with features, its model's spec)


def observe(cases: list[dict[str, Any]]) -> Observed:
    registry = default_registry()
    rows = []
    for case in cases:
        result = count(case["request"], api=api_of(case), as_of=recorded(case), explain=True)
        if result.error_code:  # an unknowable case may name a model only its URL resolved: no features
            continue
        rows.append((case, result, registry.resolve(result.model)[0]))
    return rows


def build(rows: Observed) -> dict[str, Any]:
    exact_apps: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    exact_cases: dict[tuple[str, str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    families: dict[str, set[str]] = defaultdict(set)
    for case, result, spec in rows:
        group = model_class(spec)
        families[group].add(spec.family)
        for feature in result.features:
            key = (group, result.api, feature)
            seen[key] += 1
            if exact(case, result):
                exact_cases[key] += 1
                exact_apps[key].add(source_of(case))
    table: dict[str, dict[str, dict[str, list[int]]]] = {}
    for key in sorted(seen):
        group, api, feature = key
        table.setdefault(group, {}).setdefault(api, {})[feature] = [exact_cases[key], len(exact_apps[key]),
                                                                     seen[key]]
    return {"regenerate": REGENERATE, "files": list(FILES),
            "fields": "model class -> api -> feature -> [exact cases, apps with an exact case, cases]",
            "thin": f"fewer than {MIN_CASES} exact cases or fewer than {MIN_APPS} apps",
            "models": {group: sorted(names) for group, names in sorted(families.items())}, "map": table}


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


def holdout(name: str) -> None:
    """The flags FILE's cases get from a map built without FILE, against the map built from all files."""
    rows = {file: observe(load(file)) for file in FILES}
    unseen = {name, name.replace("cases", "unknowable")}
    without = CoverageMap.from_data(build([r for file, rs in rows.items() if file not in unseen for r in rs]))
    shipped = CoverageMap.from_data(build([r for rs in rows.values() for r in rs]))
    for label, cmap in (("all files", shipped), (f"without {name}", without)):
        flagged_exact = flagged_wrong = silent_before = silent_after = 0
        for case, result, spec in rows[name]:
            other = set(result.estimate_reasons) - {"outside_evidence"}
            thin = cmap.thin(model_class(spec), result.api, result.features)
            if exact(case, result):
                flagged_exact += bool(thin) and not other
            elif silent(case, result.model_copy(update={"estimated": bool(other)})):
                silent_before += 1
                silent_after += not thin
                flagged_wrong += bool(thin)
        print(f"{name}, map from {label}: newly flagged exact {flagged_exact}, unflagged wrong "
              f"{silent_before} -> {silent_after} of {len(rows[name])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdout", choices=CASE_FILES, help="report the flags a map built without this file raises")
    args = ap.parse_args()
    if args.holdout:
        holdout(args.holdout)
        return
    MAP_PATH.write_text(render(build([r for name in FILES for r in observe(load(name))])), encoding="utf-8")
    print(f"wrote {MAP_PATH}")


if __name__ == "__main__":
    main()
