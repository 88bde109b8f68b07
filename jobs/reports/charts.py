"""The reports' charts (matplotlib, Agg: no display needed). Each takes plain rows and writes a PNG."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CLASS_COLOURS = {"exact": "#9e9e9e", "explained": "#1f77b4", "unexplained": "#d62728"}


def delta_strip_chart(points: list[dict[str, Any]], path: Path) -> None:
    """logged - counted per record, one strip per model, coloured by class (symlog: 0 stays visible)."""
    models = sorted({p["model"] or "(none)" for p in points})
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * max(len(models), 1)), dpi=110)
    jitter = random.Random(0)  # fixed jitter: the same output draws the same chart
    for cls, colour in CLASS_COLOURS.items():
        chosen = [p for p in points if p["class"] == cls]
        ys = [models.index(p["model"] or "(none)") + jitter.uniform(-0.25, 0.25) for p in chosen]
        ax.scatter([p["delta"] for p in chosen], ys, s=14, alpha=0.7, color=colour,
                   label=f"{cls} ({len(chosen)})")
    ax.set_xscale("symlog", linthresh=1)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_yticks(range(len(models)), models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.set_xlabel("logged input tokens - counted input tokens (symlog)")
    ax.set_title("Logged vs counted input tokens per record")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def stacked_by_day(rows: list[dict[str, Any]], value: str, path: Path, title: str, ylabel: str) -> None:
    """``rows`` of (day, model, value): one bar per day, stacked by model, largest first. A model's colour
    follows from its name's place among the models, so charts drawn from the same rows agree."""
    days = sorted({r["day"] for r in rows})
    by_model: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        by_model[r["model"] or "(none)"][r["day"]] = float(r[value] or 0)
    palette = plt.get_cmap("tab20")
    colours = {model: palette(i % 20) for i, model in enumerate(sorted(by_model))}
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    bottom = [0.0] * len(days)
    for model in sorted(by_model, key=lambda m: -sum(by_model[m].values())):
        heights = [by_model[model].get(d, 0.0) for d in days]
        ax.bar(days, heights, bottom=bottom, label=model, color=colours[model])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def top_bars(rows: list[dict[str, Any]], label: str, value: str, path: Path, title: str, xlabel: str) -> None:
    """Horizontal bars, largest on top."""
    rows = sorted(rows, key=lambda r: float(r[value] or 0))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.4 * max(len(rows), 1)), dpi=110)
    ax.barh([str(r[label]) for r in rows], [float(r[value] or 0) for r in rows], color="#1f77b4")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
