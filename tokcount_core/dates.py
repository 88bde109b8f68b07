"""A request's UTC day, from whatever its log holds: the one reading of a timestamp that the
rendering eras (``count(as_of=...)``), day partitions and effective-dated prices all share, so a
record never falls on one day for its count and another for its price."""

from __future__ import annotations

from datetime import UTC, date, datetime

_EPOCH_MS = 1e11  # a larger epoch is in milliseconds (1e11 seconds is the year 5138)


def utc_date(value: date | datetime | str | float | None) -> date | None:
    """ISO 8601 (``Z``, an offset, or naive = UTC), a date, or Unix epoch seconds or milliseconds
    (a number or its digits); a text that only starts with a date gives that date; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        return _epoch(value)
    text = str(value).strip().strip('"')
    try:
        return _epoch(float(text))
    except ValueError:
        pass
    try:
        return utc_date(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _epoch(seconds: float) -> date | None:
    try:
        return datetime.fromtimestamp(seconds / 1000 if seconds > _EPOCH_MS else seconds, UTC).date()
    except (OverflowError, OSError, ValueError):
        return None
