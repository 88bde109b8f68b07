"""``tokcount audit``: is the gateway's logged usage right? Every compared record falls in one class.

- ``exact``: the logged input equals our count;
- ``explained``: it differs and the count is flagged ``estimated`` (hidden context such as a hosted
  tool's results or ``previous_response_id``: the reasons say which);
- ``unexplained``: it differs and nothing explains it: the actionable anomalies;
- ``not_compared``: a lossy log (``log_loss``: the logged body is not the one sent), an error row, or no
  logged usage; broken down by that reason.

``--by rule`` (an output counted with ``--rules``) groups by the ids of the rules the counts used: a
record is counted under each of its rules, so the unexplained deltas point at the rules they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.reports.charts import delta_strip_chart
from jobs.reports.dataset import ReportError, fetch_dicts, group_columns, open_rows, quoted
from jobs.reports.tables import markdown_table, text_table, write_csv

AUDIT_COLUMNS = ["records", "compared", "exact", "explained", "unexplained", "exact_pct", "counted_input_tokens",
                 "logged_input_tokens", "delta_sum", "abs_delta_p50", "abs_delta_p95", "abs_delta_max"]
NO_RECORDS = "no records in OUTPUT"
WORST_COLUMNS = ["record_id", "source_file", "source_row", "model", "counted", "logged", "delta", "delta_pct"]

# Why a record is not compared; ``{loss}`` is the log_loss column (NULL in outputs written before it existed).
CLASSIFIED = """
CREATE VIEW audited AS SELECT *,
  CASE WHEN not_compared_reason IS NOT NULL THEN 'not_compared'
       WHEN delta = 0 THEN 'exact'
       WHEN estimated THEN 'explained'
       ELSE 'unexplained' END AS class
FROM (SELECT *,
  CASE WHEN {loss} IS NOT NULL THEN {loss}
       WHEN error_code IS NOT NULL THEN 'error: ' || error_code
       WHEN logged_input_tokens IS NULL THEN 'no logged usage'
       WHEN input_tokens IS NULL THEN 'not counted' END AS not_compared_reason
  FROM rows)
"""

# Token sums and |delta| statistics are over compared records, so delta_sum = logged - counted.
# Percentiles interpolate linearly between ranks (quantile_cont, like numpy's default).
STATS = """
  count(*) AS records,
  count(*) FILTER (class <> 'not_compared') AS compared,
  count(*) FILTER (class = 'exact') AS exact,
  count(*) FILTER (class = 'explained') AS explained,
  count(*) FILTER (class = 'unexplained') AS unexplained,
  round(100.0 * count(*) FILTER (class = 'exact') / nullif(count(*) FILTER (class <> 'not_compared'), 0), 2)
    AS exact_pct,
  sum(input_tokens) FILTER (class <> 'not_compared') AS counted_input_tokens,
  sum(logged_input_tokens) FILTER (class <> 'not_compared') AS logged_input_tokens,
  sum(delta) FILTER (class <> 'not_compared') AS delta_sum,
  quantile_cont(abs(delta), 0.5) FILTER (class <> 'not_compared') AS abs_delta_p50,
  quantile_cont(abs(delta), 0.95) FILTER (class <> 'not_compared') AS abs_delta_p95,
  max(abs(delta)) FILTER (class <> 'not_compared') AS abs_delta_max
"""
GROUPED = f"SELECT {{by}}, {STATS} FROM {{source}} GROUP BY ALL ORDER BY {{by}}"
TOTALS = f"SELECT {STATS} FROM audited"

# ``--by rule``: one row per rule a record's count used (a null rule for an error row or a count that used none).
BY_RULE = """
CREATE VIEW audited_rules AS SELECT * EXCLUDE (rules),
  unnest(CASE WHEN len(rules) > 0 THEN rules ELSE [NULL::VARCHAR] END) AS rule
FROM audited
"""
RULE = "rule"

WORST = """
SELECT record_id, source_file, source_row, model, input_tokens AS counted, logged_input_tokens AS logged, delta,
       round(delta_pct, 2) AS delta_pct
FROM audited WHERE class = 'unexplained' ORDER BY abs(delta) DESC, record_id LIMIT {top}
"""

REASONS = """
SELECT reason, count(*) AS records, sum(delta) AS delta_sum
FROM (SELECT unnest(estimate_reasons) AS reason, delta FROM audited WHERE class = 'explained')
GROUP BY reason ORDER BY records DESC, reason
"""


NOT_COMPARED = """
SELECT not_compared_reason AS reason, count(*) AS records FROM audited WHERE class = 'not_compared'
GROUP BY reason ORDER BY records DESC, reason
"""
NOT_COMPARED_COLUMNS = ["reason", "records"]


@dataclass
class AuditResult:
    by: list[str]
    groups: list[dict[str, Any]]
    totals: dict[str, Any]  # over records, whatever the grouping (``--by rule`` counts a record once per rule)
    worst: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    out: Path
    not_compared: list[dict[str, Any]]  # records per reason (a log_loss code, an error code, no logged usage)

    @property
    def columns(self) -> list[str]:
        return [*self.by, *AUDIT_COLUMNS]


def run_audit(output: str, by: str = "model", top: int = 20, out: str | None = None) -> AuditResult:
    con, columns = open_rows(output)
    if RULE in (c.strip() for c in by.split(",")) and "rules" not in columns:
        raise ReportError(f"--by rule: {output} has no 'rules' column; count it with --rules (output.rules: true)")
    names = group_columns(by, [*columns, RULE] if "rules" in columns else columns, output)
    con.execute(CLASSIFIED.format(loss="log_loss" if "log_loss" in columns else "NULL::VARCHAR"))
    source = "audited"
    if RULE in names:
        con.execute(BY_RULE)
        source = "audited_rules"
    groups = fetch_dicts(con, GROUPED.format(by=quoted(names), source=source))
    totals = fetch_dicts(con, TOTALS)[0]
    worst = fetch_dicts(con, WORST.format(top=int(top)))
    reasons = fetch_dicts(con, REASONS)
    points = fetch_dicts(con, "SELECT model, delta, class FROM audited WHERE class <> 'not_compared'")
    target = Path(out) if out else Path(output) / "_reports" / "audit"
    target.mkdir(parents=True, exist_ok=True)
    result = AuditResult(names, groups, totals, worst, reasons, target, fetch_dicts(con, NOT_COMPARED))
    write_csv(target / "audit.csv", result.columns, groups)
    write_csv(target / "audit_worst.csv", WORST_COLUMNS, worst)
    delta_strip_chart(points, target / "audit_delta.png")
    (target / "audit.md").write_text(summary_markdown(result, output))
    return result



def summary_markdown(result: AuditResult, output: str) -> str:
    """The one-minute read: how much is exact, what explains the rest, which records to look at."""
    if not result.groups:
        return f"# Usage audit of `{output}`\n\nNo records in `{output}`.\n"
    total = {k: result.totals[k] or 0 for k in ("records", "compared", "exact", "explained", "unexplained")}
    exact_pct = 100 * total["exact"] / total["compared"] if total["compared"] else 0.0
    lines = [f"# Usage audit of `{output}`", "",
             f"{total['records']:,} records, {total['compared']:,} with logged usage compared: "
             f"**{total['exact']:,} exact ({exact_pct:.1f}%)**, {total['explained']:,} explained, "
             f"**{total['unexplained']:,} unexplained**.", "",
             markdown_table(result.columns, result.groups), ""]
    if RULE in result.by:
        lines += ["A record is counted under every rule its count used.", ""]
    if result.reasons:
        lines += ["## Explained differences (the count is flagged estimated)", "",
                  markdown_table(["reason", "records", "delta_sum"], result.reasons), ""]
    if result.not_compared:
        lines += ["## Not compared, by reason", "",
                  "A lossy log's reason is its `log_loss` code (the README's \"Where your logs are\").", "",
                  markdown_table(NOT_COMPARED_COLUMNS, result.not_compared), ""]
    if result.worst:
        lines += ["## Unexplained: look at these first", "",
                  markdown_table(WORST_COLUMNS, result.worst), "",
                  f"Open one with `tokcount explain {output} --record RECORD_ID`.", ""]
    else:
        lines += ["No unexplained differences.", ""]
    lines += ["![delta per model](audit_delta.png)", ""]
    return "\n".join(lines)


def print_audit(result: AuditResult) -> None:
    print(text_table(result.columns, result.groups) if result.groups
          else f"{text_table(result.columns, [])}\n{NO_RECORDS}")
    if result.not_compared:
        print("\nnot compared: " + ", ".join(f"{r['reason']} {r['records']:,}" for r in result.not_compared))
    print(f"\nwrote {result.out}/audit.csv, audit_worst.csv ({len(result.worst)} unexplained), audit_delta.png, "
          "audit.md")
