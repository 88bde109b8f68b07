"""``report.html``: one self-contained file (charts inlined as data URLs) that opens offline."""

from __future__ import annotations

import base64
import html
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.reports.cost import CostReport

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
.kpis { display: flex; gap: 1rem; margin: 1.2rem 0; flex-wrap: wrap; }
.kpi { background: #f4f6f8; border-radius: 6px; padding: .6rem 1rem; min-width: 10rem; }
.kpi b { display: block; font-size: 1.3rem; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e3e3e3; }
th { background: #fafafa; text-align: left; position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #999; }
img { max-width: 100%; margin: .5rem 0 1.5rem; } .note { color: #555; font-size: 13px; }
.empty { font-size: 1.1rem; font-weight: 600; }
"""


def money(value: Decimal | None) -> str:
    """Nothing priced in the group shows as a dash; its unpriced_records column says why."""
    return "–" if value is None else f"${value:,.4f}"


def _cell(column: str, value: Any) -> str:
    if column == "cost_usd":
        return f'<td class="n">{money(value)}</td>'
    if isinstance(value, int | Decimal):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def render_report(report: CostReport, output: str) -> str:
    total = report.total
    period = str(report.days)
    kpis = [("cost", money(total["cost_usd"])), ("records", f"{total['records']:,}"),
            ("input tokens (billed)", f"{(total['logged_input_tokens'] or 0):,} logged"),
            ("output tokens", f"{(total['output_tokens'] or 0):,}"),
            ("unpriced records", f"{total['unpriced_records']:,}")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in report.columns)
    body = "".join(f"<tr>{''.join(_cell(c, row[c]) for c in report.columns)}</tr>" for row in report.rows)
    body += f"<tr class='total'>{''.join(_cell(c, total[c]) for c in report.columns)}</tr>"
    empty = f'<p class="empty">{html.escape(report.empty_note)}</p>' if report.empty_note else ""
    charts = "".join(
        f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in report.charts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tokcount cost report</title><style>{STYLE}</style></head>
<body>
<h1>Cost report</h1>
<p class="sub">{html.escape(output)} · {html.escape(period)} · prices from {html.escape(report.prices.source)}</p>
<div class="kpis">{''.join(f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in kpis)}</div>
{charts}
<h2>By {html.escape(', '.join(report.by))}</h2>
{empty}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p class="note">Each record is priced at the list price in force on its UTC day: (billed input − cached) × input +
cached × cached input + output × output, per 1M tokens; billed input is the logged usage, or our count when the
record has none (<i>input_only_records</i>: output unknown). Batch API records use batch prices.
<i>unpriced_records</i> have tokens but no price in force (unknown model, no timestamp, or before the model's
first price) and are not in the cost. Costs are summed exactly; the total is the sum of the rows.</p>
</body></html>
"""
