"""``tokcount report``: what the logged traffic cost, at the price in force on each record's UTC day.

Per record: ``(billed_input - cached) * input + cached * cached_input + output_tokens * output``,
where ``billed_input`` is the logged input when the record has usage, else our count (the cost is
then input-only). Batch API records use the batch prices. A record with tokens but no price in
force (unknown model, no timestamp, a day before the model's first entry) is ``unpriced``: counted,
never costed as zero. Money is DECIMAL(38,18) per token and summed exactly in DuckDB, so the total
equals the sum of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.reports.charts import stacked_by_day, top_bars
from jobs.reports.dataset import DayRange, fetch_dicts, group_columns, open_rows, quoted
from jobs.reports.html import render_report
from jobs.reports.pricing import PriceBook, load_prices, price_key
from jobs.reports.tables import text_table, write_csv
from tokcount_core import default_registry

REPORT_COLUMNS = ["records", "input_tokens", "logged_input_tokens", "cached_tokens", "output_tokens", "cost_usd",
                  "unpriced_records", "input_only_records"]
COUNT_COLUMNS = ("records", "unpriced_records", "input_only_records")  # 0 in the total of no rows, not null
CHARTS = ("tokens_per_day.png", "cost_per_day.png", "top_tenants.png")

# Each record priced by an as-of join: the latest entry for its price key whose `from` is on or before its day.
PRICED = """
CREATE VIEW priced AS
WITH r AS (
  SELECT *, coalesce(logged_input_tokens, input_tokens) AS billed_input,
         CASE WHEN logged_input_tokens IS NULL THEN 0 ELSE coalesce(cached_tokens, 0) END AS billed_cached,
         coalesce(output_tokens, 0) AS billed_output, TRY_CAST({day} AS DATE) AS priced_day
  FROM rows LEFT JOIN price_keys USING (model)
)
SELECT r.*, p.price_from,
  CASE WHEN r.billed_input IS NULL OR p.price_from IS NULL THEN NULL
       WHEN coalesce(r.batch, FALSE) THEN (r.billed_input - r.billed_cached) * p.batch_input
            + r.billed_cached * p.batch_cached_input + r.billed_output * p.batch_output
       ELSE (r.billed_input - r.billed_cached) * p.input + r.billed_cached * p.cached_input
            + r.billed_output * p.output END AS cost
FROM r ASOF LEFT JOIN prices p ON r.price_key = p.price_model AND r.priced_day >= p.price_from
"""

GROUPED = """
SELECT {by},
  count(*) AS records,
  sum(input_tokens) AS input_tokens,
  sum(logged_input_tokens) AS logged_input_tokens,
  sum(billed_cached) AS cached_tokens,
  sum(output_tokens) AS output_tokens,
  sum(cost) AS cost_usd,
  count(*) FILTER (billed_input IS NOT NULL AND cost IS NULL) AS unpriced_records,
  count(*) FILTER (cost IS NOT NULL AND logged_input_tokens IS NULL) AS input_only_records
FROM priced GROUP BY ALL ORDER BY {by}
"""


@dataclass
class CostReport:
    by: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Any]
    prices: PriceBook
    days: DayRange
    out: Path
    charts: list[Path]

    @property
    def columns(self) -> list[str]:
        return [*self.by, *REPORT_COLUMNS]

    @property
    def empty_note(self) -> str | None:
        """What to say instead of a table when nothing is in range (the nightly run on a quiet day)."""
        return None if self.rows else f"no records in range ({self.days})"


def run_report(output: str, pricing: str, by: str = "model,day", since: date | None = None,
               until: date | None = None, out: str | None = None) -> CostReport:
    days = DayRange(since, until)
    prices = load_prices(pricing)
    con, columns = open_rows(output, days)
    names = group_columns(by, columns, output)
    registry = default_registry()
    models = [m for (m,) in con.execute("SELECT DISTINCT model FROM rows WHERE model IS NOT NULL").fetchall()]
    keys = pa.table({"model": pa.array(models, pa.string()),
                     "price_key": pa.array([price_key(m, prices.models, registry) for m in models], pa.string())})
    con.register("price_keys", keys)
    con.register("prices", prices.table())
    con.execute(PRICED.format(day='"day"' if "day" in columns else "NULL"))
    rows = fetch_dicts(con, GROUPED.format(by=quoted(names)))
    total = {**{n: "total" for n in names[:1]}, **{n: None for n in names[1:]},
             **{c: _sum((r[c] for r in rows), 0 if c in COUNT_COLUMNS else None) for c in REPORT_COLUMNS}}
    target = Path(out) if out else Path(output) / "_reports" / "cost"
    target.mkdir(parents=True, exist_ok=True)
    write_csv(target / "report.csv", [*names, *REPORT_COLUMNS], rows)
    pq.write_table(con.sql(GROUPED.format(by=quoted(names))).to_arrow_table(), target / "report.parquet")
    charts = _charts(con, columns, target)
    report = CostReport(names, rows, total, prices, days, target, charts)
    (target / "report.html").write_text(render_report(report, output))
    return report


def _charts(con: Any, columns: list[str], target: Path) -> list[Path]:
    """The charts there is data for; an earlier report's charts in ``target`` are removed, so a quiet
    day's report directory holds no chart of another day."""
    for name in CHARTS:
        (target / name).unlink(missing_ok=True)
    made = []
    if "day" in columns:
        daily = fetch_dicts(con, "SELECT day, model, sum(coalesce(billed_input, 0) + billed_output) AS tokens, "
                              "sum(cost) AS cost FROM priced WHERE day IS NOT NULL GROUP BY ALL")
        if daily:
            stacked_by_day(daily, "tokens", target / "tokens_per_day.png", "Tokens per day (billed input + output)",
                           "tokens")
            stacked_by_day(daily, "cost", target / "cost_per_day.png", "Cost per day (USD)", "USD")
            made += [target / "tokens_per_day.png", target / "cost_per_day.png"]
    if "tenant" in columns:
        tenants = fetch_dicts(con, "SELECT coalesce(tenant, '(none)') AS tenant, sum(cost) AS cost FROM priced "
                                "GROUP BY ALL HAVING sum(cost) IS NOT NULL ORDER BY cost DESC LIMIT 10")
        if tenants:
            top_bars(tenants, "tenant", "cost", target / "top_tenants.png", "Top tenants by cost", "USD")
            made.append(target / "top_tenants.png")
    return made


def _sum(values: Any, empty: int | None) -> Any:
    present = [v for v in values if v is not None]
    return sum(present, Decimal(0) if present and isinstance(present[0], Decimal) else 0) if present else empty


def print_report(report: CostReport) -> None:
    print(text_table(report.columns, [*report.rows, report.total]) if report.rows
          else f"{text_table(report.columns, [])}\n{report.empty_note}")
    print(f"\nwrote {report.out}/report.csv, report.parquet, report.html and {len(report.charts)} chart(s)")
