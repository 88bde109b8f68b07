"""``_manifest.json``: what was counted, from which exact inputs, with which versions.

Totals are summed from the shard markers, not from this run's work, so a resumed run reports the
same records and tokens as an uninterrupted one; only the ``run`` section differs.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict
from typing import Any

from jobs.config import JobConfig
from jobs.job.output import ShardStats, add_stats
from jobs.readers.files import Shard
from tokcount_core import RULES_VERSION


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("tokcount", "ray", "tiktoken", "pyarrow", "pydantic", "orjson"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def build_manifest(config: JobConfig, fmt: str, output_uri: str, shards: list[Shard],
                   markers: dict[str, dict[str, Any]], run: dict[str, Any],
                   orphans: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``orphans``: markers of results in OUTPUT whose input is gone; listed apart, not in the totals."""
    totals = ShardStats()
    inputs = []
    for shard in shards:
        marker = markers[shard.uri]
        add_stats(totals, ShardStats(**marker["stats"]))
        inputs.append({"uri": shard.uri, "size": shard.size, "sha256": marker["sha256"],
                       "bytes_read": marker["bytes_read"], "outputs": marker["outputs"],
                       "records": marker["stats"]["records"], "skipped": marker.get("skipped", 0)})
    return {
        "tokcount_manifest": 1,
        "output": output_uri,
        "format": fmt,
        "config": config.model_dump(mode="json"),
        "config_fingerprint": marker_fingerprint(markers),
        "rules_version": RULES_VERSION,
        "versions": versions(),
        "inputs": inputs,
        "totals": {**asdict(totals), "errors": dict(sorted(totals.errors.items())),
                   "error_records": sum(totals.errors.values())},
        "orphans": [{"uri": m["input"]["uri"], "sha256": m["sha256"], "outputs": m["outputs"],
                     "records": m["stats"]["records"]} for m in orphans or []],
        "run": run,
    }


def marker_fingerprint(markers: dict[str, dict[str, Any]]) -> str | None:
    fingerprints = {m["config"] for m in markers.values()}
    return fingerprints.pop() if len(fingerprints) == 1 else None
