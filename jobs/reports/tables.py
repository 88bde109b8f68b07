"""Writing result tables: CSV for tools, aligned text for the terminal, Markdown for people."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any


def cell(value: Any) -> str:
    """Exact money stays exact (Decimal without trailing zeros); floats get 2 decimals; null is empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if text != "-0" else "0"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([cell(row[c]) for c in columns] for row in rows)


def text_table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """Numbers right-aligned, text left-aligned."""
    cells = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row, texts in zip(rows, cells, strict=True):
        lines.append("  ".join(v.rjust(w) if isinstance(row[c], int | float | Decimal) else v.ljust(w)
                               for c, v, w in zip(columns, texts, widths, strict=True)))
    return "\n".join(lines)


def markdown_table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
